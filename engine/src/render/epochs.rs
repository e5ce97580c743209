//! Epoch-by-epoch bookkeeping shared by the operators that keep a watermark (the aggregate and
//! the join): updates stashed by their own epoch, the broadcast event-time maxima, which epochs
//! are complete, and the watermark's base: the largest event time seen in completed epochs, or,
//! when epochs carry lanes (`batch * lanes + lane`, one lane per Kafka partition), the smallest
//! over the lanes that are not idle of each lane's largest event time.

use std::collections::BTreeMap;

use timely::progress::frontier::MutableAntichain;

pub struct Epochs<D> {
    stash: BTreeMap<u64, Vec<(D, isize)>>,
    /// Emptied stash lists, kept for the next epochs ([`Epochs::recycle`]): an epoch's list
    /// holds a whole batch of rows, and a new one each epoch would grow through fresh pages.
    spare: Vec<Vec<(D, isize)>>,
    maxima: BTreeMap<u64, i64>,
    /// Lanes per epoch (1: one lane).
    lane_count: u64,
    /// A lane whose newest batch is this much older (in the batches' wall-clock numbers) than
    /// the newest batch of any lane is idle and does not hold the watermark back.
    idle: u64,
    /// Per lane: the largest event time of its closed epochs, and its newest batch number.
    lanes: BTreeMap<u64, (i64, u64)>,
    /// The watermark's base so far; it never goes back.
    base: Option<i64>,
    /// Closed epochs' maxima not folded yet: `(epoch, max)`.
    held: Vec<(u64, i64)>,
    /// The frontier at which an empty epoch was last added to fold held maxima (once per
    /// frontier).
    synthetic_after: u64,
    /// Every lane of every source, by source (set once the sources are open), and the sources
    /// whose rows reach this operator: a lane of theirs not heard from yet holds the watermark
    /// back until the idle timeout has passed since the first batch.
    expected: ExpectedLanes,
    sources: Vec<usize>,
    first_batch: Option<u64>,
}

/// The global watermark lanes of each source of the plan, by source index.
pub type ExpectedLanes = std::sync::Arc<std::sync::OnceLock<Vec<Vec<u64>>>>;

impl<D> Epochs<D> {
    pub fn new(lanes: u64, idle_ms: u64, expected: ExpectedLanes, sources: Vec<usize>) -> Self {
        Epochs {
            stash: BTreeMap::new(),
            spare: Vec::new(),
            maxima: BTreeMap::new(),
            lane_count: lanes.max(1),
            idle: idle_ms,
            lanes: BTreeMap::new(),
            base: None,
            held: Vec::new(),
            synthetic_after: 0,
            expected,
            sources,
            first_batch: None,
        }
    }

    /// Stashes updates by their own time (a message's capability can be earlier).
    pub fn add_updates(&mut self, batch: &mut Vec<(D, u64, isize)>) {
        // A batch's updates usually share one time: look its list up once per run of a time.
        let mut updates = batch.drain(..).peekable();
        while let Some((d, t, r)) = updates.next() {
            let list = self
                .stash
                .entry(t)
                .or_insert_with(|| self.spare.pop().unwrap_or_default());
            list.push((d, r));
            while let Some((d, _, r)) = updates.next_if(|(_, next, _)| *next == t) {
                list.push((d, r));
            }
        }
    }

    /// Records `(epoch, largest event time)` pairs from the maxima broadcast.
    pub fn add_maxima(&mut self, batch: &mut Vec<(u64, i64)>) {
        for (epoch, m) in batch.drain(..) {
            let e = self.maxima.entry(epoch).or_insert(m);
            *e = (*e).max(m);
        }
    }

    /// The earliest epoch that may still receive input on either input (None: both complete).
    pub fn frontier(a: &MutableAntichain<u64>, b: &MutableAntichain<u64>) -> Option<u64> {
        match (
            a.frontier().as_option().copied(),
            b.frontier().as_option().copied(),
        ) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// The complete epochs with anything to process, in order.
    /// `floor`: the operator's capability; an added empty epoch is never before it.
    pub fn ready(&mut self, frontier: Option<u64>, floor: u64) -> Vec<u64> {
        let mut epochs: Vec<u64> = self
            .stash
            .keys()
            .chain(self.maxima.keys())
            .copied()
            .filter(|e| frontier.is_none_or(|f| *e < f))
            .collect();
        // Held maxima of a batch that no later epoch will fold (the stream paused after it):
        // an empty epoch just before the frontier folds them, so that windows still close.
        if let Some(f) = frontier.filter(|f| *f > self.synthetic_after) {
            let last = f - 1;
            if last >= floor
                && self
                    .held
                    .iter()
                    .any(|(e, _)| e / self.lane_count < last / self.lane_count)
            {
                epochs.push(last);
                self.synthetic_after = f;
            }
        }
        epochs.sort_unstable();
        epochs.dedup();
        epochs
    }

    /// An epoch's updates; call [`Epochs::close`] once they are applied, and hand the emptied
    /// list back with [`Epochs::recycle`].
    pub fn take(&mut self, epoch: u64) -> Vec<(D, isize)> {
        self.stash.remove(&epoch).unwrap_or_default()
    }

    /// Keeps an emptied list of [`Epochs::take`] for a later epoch's updates: two at most (the
    /// epoch being filled and the next), so that a burst of open epochs does not leave its
    /// lists behind for good.
    pub fn recycle(&mut self, mut list: Vec<(D, isize)>) {
        const KEEP: usize = 2;
        if self.spare.len() < KEEP && list.capacity() > 0 {
            list.clear();
            self.spare.push(list);
        }
    }

    /// Folds an epoch's event times into the watermark. With lanes, the maxima of a batch's
    /// epochs (one per partition) are held until an epoch of a later batch begins: the
    /// partitions of one batch do not make each other late.
    pub fn close(&mut self, epoch: u64) {
        let Some(m) = self.maxima.remove(&epoch) else {
            return;
        };
        if m == i64::MIN {
            // Rows without an event time (a dimension's side of a join).
            return;
        }
        self.held.push((epoch, m));
        if self.lane_count == 1 {
            self.fold(u64::MAX);
        }
    }

    /// Called before an epoch is processed: folds the held maxima of earlier batches.
    pub fn begin(&mut self, epoch: u64) {
        if self.lane_count > 1 {
            self.fold(epoch / self.lane_count);
        }
    }

    /// Folds the held maxima of batches before `batch` into the lanes and the base.
    fn fold(&mut self, batch: u64) {
        let lane_count = self.lane_count;
        let mut folded = false;
        let lanes = &mut self.lanes;
        let first = &mut self.first_batch;
        self.held.retain(|&(epoch, m)| {
            let (lane, b) = (epoch % lane_count, epoch / lane_count);
            if b >= batch {
                return true;
            }
            *first = Some(first.map_or(b, |f: u64| f.min(b)));
            let entry = lanes.entry(lane).or_insert((m, b));
            entry.0 = entry.0.max(m);
            entry.1 = entry.1.max(b);
            folded = true;
            false
        });
        if !folded {
            return;
        }
        let newest = self.lanes.values().map(|(_, b)| *b).max().unwrap_or(0);
        let idle = if lane_count > 1 { self.idle } else { u64::MAX };
        // A lane not heard from yet waits like one whose last batch was the first batch.
        let unheard = lane_count > 1
            && self.expected.get().is_some_and(|all| {
                self.sources
                    .iter()
                    .filter_map(|s| all.get(*s))
                    .flatten()
                    .any(|l| !self.lanes.contains_key(l))
                    && self.first_batch.is_some_and(|f| newest - f <= idle)
            });
        if unheard {
            return;
        }
        let slowest = self
            .lanes
            .values()
            .filter(|(_, b)| newest - *b <= idle)
            .map(|(m, _)| *m)
            .min();
        if let Some(s) = slowest {
            self.base = Some(self.base.map_or(s, |b| b.max(s)));
        }
    }

    /// The watermark: its base (see the module) minus the lateness.
    pub fn watermark(&self, lateness: i64) -> Option<i64> {
        self.base.map(|m| m - lateness)
    }

    pub fn clear(&mut self) {
        self.stash.clear();
        self.maxima.clear();
    }
}
