//! The one epoch-operator frame: every stateful operator of the engine (aggregate, join,
//! upsert, sink) is a plain state struct driven by [`render`].
//!
//! The frame does the epoch bookkeeping once:
//! - updates are stashed by their own epoch (a message's capability can be earlier);
//! - the broadcast event-time maxima are folded into one [`Clock`] per watermark the state
//!   follows (an aggregate has one, a shared join one per stream, an upsert none);
//! - every epoch the inputs' frontier has passed is handed to [`EpochState::apply`] in time
//!   order, with each clock's watermark before and after the epoch's own event times count;
//! - the capability follows the frontier, held back where the state says its effects are not
//!   done yet ([`Settle::hold`]: a sink's unflushed epoch), and [`EpochState::finish`] runs once
//!   when every input is complete.
//!
//! A state struct holds no timely types, so it is tested alone (feed it epochs, read what it
//! emits) and its state can be serialized.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use timely::dataflow::channels::pact::{ParallelizationContract, Pipeline};
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;
use timely::progress::frontier::MutableAntichain;

/// What a state struct sees of time at one epoch.
#[derive(Clone, Copy, Debug)]
pub struct Watermarks<'a> {
    /// Each clock's watermark before the epoch's own event times count: rows of windows that
    /// end at or before it are late.
    pub before: &'a [Option<i64>],
    /// After they count: windows that end at or before it are final.
    pub after: &'a [Option<i64>],
}

/// Where an operator's effects stand after an activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settle {
    /// The earliest epoch whose effects the state has not completed (a sink's unflushed
    /// changes): the operator's capability stays there.
    pub hold: Option<u64>,
    /// Activate the operator again after this long (a sink's next timed flush).
    pub wake_after: Option<Duration>,
}

/// One operator's state, driven epoch by epoch by [`render`].
pub trait EpochState: 'static {
    /// The updates it reads.
    type In;
    /// The updates it emits (at the epoch being applied).
    type Out;
    /// Everything `apply` changes, none of the plan: what a snapshot keeps. Serialized by
    /// reference ([`Driver::snapshot`]), so taking one copies nothing first.
    type Data: Serialize + DeserializeOwned;

    fn data(&self) -> &Self::Data;

    /// Replaces the state's data with a snapshot's (on a state built from the same plan).
    fn restore(&mut self, data: Self::Data);

    /// This worker's data (worker `worker` of `peers`) from the snapshots of every worker of a
    /// run with another worker count: their entries together, keeping the keys that the
    /// operator's exchange routes to this worker.
    fn merge(&self, parts: Vec<Self::Data>, worker: usize, peers: usize) -> Self::Data;

    /// Applies `newer`, read from an incremental snapshot, onto `data`, read from the snapshot
    /// it is relative to: each [`DeltaMap`](super::delta_map::DeltaMap) absorbs its delta,
    /// every other field takes the newer value.
    fn absorb(&self, data: &mut Self::Data, newer: Self::Data);

    /// One complete epoch's updates, in epoch order; `out` receives its output updates.
    fn apply(
        &mut self,
        epoch: u64,
        updates: &mut Vec<(Self::In, isize)>,
        watermarks: Watermarks<'_>,
        out: &mut Vec<(Self::Out, isize)>,
    );

    /// Every input is complete (called once, after the last epoch); `out` is emitted at the
    /// operator's last time.
    fn finish(&mut self, _out: &mut Vec<(Self::Out, isize)>) {}

    /// A snapshot of [`EpochState::data`] for checkpoint `seq` was just taken (before any
    /// later epoch is applied).
    fn snapshot_taken(&mut self, _seq: u64) {}

    /// A whole snapshot of the state just took `bytes`: its size, measured (for the metrics).
    fn state_measured(&mut self, _bytes: usize) {}

    /// Called at the end of every activation (`done`: after [`EpochState::finish`]).
    fn settle(&mut self, _done: bool) -> Settle {
        Settle::default()
    }
}

/// Updates stashed by their own epoch until it is complete.
pub struct Stash<D> {
    by_epoch: BTreeMap<u64, Vec<(D, isize)>>,
    /// Emptied lists kept for the next epochs: an epoch's list holds a whole batch of rows, and
    /// a new one each epoch would grow through fresh pages. Two at most (the epoch being filled
    /// and the next), so a burst of open epochs does not leave its lists behind for good.
    spare: Vec<Vec<(D, isize)>>,
}

impl<D> Default for Stash<D> {
    fn default() -> Self {
        Stash {
            by_epoch: BTreeMap::new(),
            spare: Vec::new(),
        }
    }
}

impl<D> Stash<D> {
    /// Stashes updates by their own time.
    pub fn add(&mut self, batch: &mut Vec<(D, u64, isize)>) {
        // A batch's updates usually share one time: look its list up once per run of a time.
        let mut updates = batch.drain(..).peekable();
        while let Some((d, t, r)) = updates.next() {
            let list = self
                .by_epoch
                .entry(t)
                .or_insert_with(|| self.spare.pop().unwrap_or_default());
            list.push((d, r));
            while let Some((d, _, r)) = updates.next_if(|(_, next, _)| *next == t) {
                list.push((d, r));
            }
        }
    }

    /// The stashed epochs before `frontier` (`None`: all).
    fn ready(&self, frontier: Option<u64>, out: &mut Vec<u64>) {
        out.extend(
            self.by_epoch
                .keys()
                .copied()
                .take_while(|e| frontier.is_none_or(|f| *e < f)),
        );
    }

    fn take(&mut self, epoch: u64) -> Vec<(D, isize)> {
        self.by_epoch.remove(&epoch).unwrap_or_default()
    }

    fn recycle(&mut self, mut list: Vec<(D, isize)>) {
        const KEEP: usize = 2;
        if self.spare.len() < KEEP && list.capacity() > 0 {
            list.clear();
            self.spare.push(list);
        }
    }
}

/// The global watermark lanes of each source of the plan, by source index.
pub type ExpectedLanes = std::sync::Arc<std::sync::OnceLock<Vec<Vec<u64>>>>;

/// One watermark: the largest event time seen in completed epochs (over all workers, from the
/// broadcast maxima) minus the lateness; or, when epochs carry lanes (`batch * lanes + lane`,
/// one lane per Kafka partition or per source), the smallest over the lanes that are not idle
/// of each lane's largest event time, minus the lateness.
pub struct Clock {
    lateness: i64,
    /// Lanes per epoch (1: one lane).
    lane_count: u64,
    /// A lane whose newest batch is this much older (in the batches' wall-clock numbers) than
    /// the newest batch of any lane is idle and does not hold the watermark back.
    idle: u64,
    /// Every lane of every source, by source (set once the sources are open), and the sources
    /// whose rows reach this clock: a lane of theirs not heard from yet holds the watermark
    /// back until the idle timeout has passed since the first batch.
    expected: ExpectedLanes,
    sources: Vec<usize>,
    data: ClockData,
    /// Restored from a checkpoint and no batch of this run folded yet: the lanes' idle time
    /// starts again at this run's first batch (see [`Clock::restore`]).
    restarted: bool,
}

/// What a clock's epochs change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockData {
    maxima: BTreeMap<u64, i64>,
    /// Per lane: the largest event time of its closed epochs, and its newest batch number.
    lanes: BTreeMap<u64, (i64, u64)>,
    /// The watermark's base so far; it never goes back.
    base: Option<i64>,
    /// Closed epochs' maxima not folded yet: `(epoch, max)`.
    held: Vec<(u64, i64)>,
    /// The frontier at which an empty epoch was last added to fold held maxima (once per
    /// frontier).
    synthetic_after: u64,
    first_batch: Option<u64>,
}

impl ClockData {
    /// The data without the maxima of epochs from `epoch` on.
    fn cut(&self, epoch: u64) -> ClockData {
        let mut d = self.clone();
        d.maxima.retain(|e, _| *e < epoch);
        d.synthetic_after = d.synthetic_after.min(epoch);
        d
    }
}

impl Clock {
    pub fn new(
        lateness: i64,
        lanes: u64,
        idle_ms: u64,
        expected: ExpectedLanes,
        sources: Vec<usize>,
    ) -> Self {
        Clock {
            lateness,
            lane_count: lanes.max(1),
            idle: idle_ms,
            expected,
            sources,
            data: ClockData::default(),
            restarted: false,
        }
    }

    /// A clock of one lane, for tests and single-lane plans.
    pub fn single(lateness: i64) -> Self {
        Clock::new(lateness, 1, u64::MAX, ExpectedLanes::default(), Vec::new())
    }

    /// Records the largest event time of `epoch` at one worker.
    pub fn add_max(&mut self, epoch: u64, max: i64) {
        let e = self.data.maxima.entry(epoch).or_insert(max);
        *e = (*e).max(max);
    }

    /// The complete epochs with maxima, and (with lanes) an empty epoch just before the
    /// frontier that folds held maxima of a batch no later epoch will fold (the stream paused
    /// after it), so that windows still close. `floor`: the operator's capability.
    fn ready(&mut self, frontier: Option<u64>, floor: u64, out: &mut Vec<u64>) {
        out.extend(
            self.data
                .maxima
                .keys()
                .copied()
                .take_while(|e| frontier.is_none_or(|f| *e < f)),
        );
        if let Some(f) = frontier.filter(|f| *f > self.data.synthetic_after) {
            let last = f - 1;
            if last >= floor
                && self
                    .data
                    .held
                    .iter()
                    .any(|(e, _)| e / self.lane_count < last / self.lane_count)
            {
                out.push(last);
                self.data.synthetic_after = f;
            }
        }
    }

    /// Called before an epoch is processed: folds the held maxima of earlier batches.
    pub fn begin(&mut self, epoch: u64) {
        if self.lane_count > 1 {
            self.fold(epoch / self.lane_count);
        }
    }

    /// Folds an epoch's event times into the watermark. With lanes, the maxima of a batch's
    /// epochs (one per partition) are held until an epoch of a later batch begins: the
    /// partitions of one batch do not make each other late.
    pub fn close(&mut self, epoch: u64) {
        let Some(m) = self.data.maxima.remove(&epoch) else {
            return;
        };
        if m == i64::MIN {
            // Rows without an event time (a dimension's side of a join).
            return;
        }
        self.data.held.push((epoch, m));
        if self.lane_count == 1 {
            self.fold(u64::MAX);
        }
    }

    /// Folds the held maxima of batches before `batch` into the lanes and the base.
    fn fold(&mut self, batch: u64) {
        let lane_count = self.lane_count;
        if self.restarted {
            let first_here = self
                .data
                .held
                .iter()
                .map(|&(epoch, _)| epoch / lane_count)
                .filter(|&b| b < batch)
                .min();
            if let Some(f) = first_here {
                // Every lane was last heard of at the restart, and one not heard of yet waits
                // the idle timeout from there.
                for lane in self.data.lanes.values_mut() {
                    lane.1 = lane.1.max(f);
                }
                self.data.first_batch = None;
                self.restarted = false;
            }
        }
        let mut folded = false;
        let lanes = &mut self.data.lanes;
        let first = &mut self.data.first_batch;
        self.data.held.retain(|&(epoch, m)| {
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
        let newest = self.data.lanes.values().map(|(_, b)| *b).max().unwrap_or(0);
        let idle = if lane_count > 1 { self.idle } else { u64::MAX };
        // A lane not heard from yet waits like one whose last batch was the first batch.
        let unheard = lane_count > 1
            && self.expected.get().is_some_and(|all| {
                self.sources
                    .iter()
                    .filter_map(|s| all.get(*s))
                    .flatten()
                    .any(|l| !self.data.lanes.contains_key(l))
                    && self.data.first_batch.is_some_and(|f| newest - f <= idle)
            });
        if unheard {
            return;
        }
        let slowest = self
            .data
            .lanes
            .values()
            .filter(|(_, b)| newest - *b <= idle)
            .map(|(m, _)| *m)
            .min();
        if let Some(s) = slowest {
            self.data.base = Some(self.data.base.map_or(s, |b| b.max(s)));
        }
    }

    pub fn data(&self) -> &ClockData {
        &self.data
    }

    /// Replaces the clock's data with a snapshot's. Batch numbers are wall-clock times, so a
    /// lane's last batch before the checkpoint is as old as the time the job was down: every
    /// lane would look idle to the first partition heard from after a restart, which would
    /// move the watermark alone and make the other partitions' rows late. So the restarted
    /// run gives every lane the idle timeout again, counted from its own first batch.
    pub fn restore(&mut self, data: ClockData) {
        self.data = data;
        self.restarted = true;
    }

    /// The watermark: its base minus the lateness.
    pub fn watermark(&self) -> Option<i64> {
        self.data.base.map(|m| m - self.lateness)
    }
}

/// The clock index that marks a checkpoint request in an operator's maxima stream:
/// `(CHECKPOINT, epoch, checkpoint number)` asks for a snapshot after every epoch before
/// `epoch`. Requests come broadcast on the maxima input, so an operator's frontier cannot pass
/// `epoch` before it has seen the request.
pub const CHECKPOINT: u32 = u32::MAX;

/// The format version of [`Driver::snapshot`] (2: incremental snapshots).
pub const SNAPSHOT_VERSION: u32 = 2;

/// At most this many incremental snapshots follow a whole one; the next is whole again.
const MAX_CHAIN: usize = 20;

/// One snapshot of an operator: whole, or incremental (only the state that changed since the
/// snapshot of checkpoint `prev`, which must be restored first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The checkpoint this one is relative to (`None`: a whole snapshot).
    pub prev: Option<u64>,
    /// The checkpoint of the whole snapshot its chain starts at (its own number when whole).
    pub base: u64,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// How long taking it stopped the operator (µs; not stored).
    #[serde(skip)]
    pub took_us: u64,
}

/// Which checkpoints are known to be complete (an incremental snapshot is only taken relative
/// to one of them).
pub type Completed = std::rc::Rc<dyn Fn(u64) -> bool>;

/// The snapshots since the last whole one, to decide when the next is whole again.
#[derive(Default)]
struct Chain {
    /// The checkpoint of the last snapshot taken (`None`: the next one is whole).
    last: Option<u64>,
    base: u64,
    len: usize,
    whole_bytes: usize,
    delta_bytes: usize,
}

/// Why a snapshot could not be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("operator state: {0}")]
    Encoding(#[from] bincode::Error),
    #[error("operator state of format version {0}; this build reads version {SNAPSHOT_VERSION}")]
    Version(u32),
    #[error("operator state with {clocks} watermark clock(s) where the plan has {expected}")]
    Shape { clocks: usize, expected: usize },
    #[error("an incremental operator snapshot without the snapshot it is relative to")]
    Chain,
}

/// The earliest epoch that may still receive input on either input (None: both complete).
fn frontier(a: &MutableAntichain<u64>, b: &MutableAntichain<u64>) -> Option<u64> {
    match (
        a.frontier().as_option().copied(),
        b.frontier().as_option().copied(),
    ) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The frame without timely: stash, clocks and the epoch loop. [`render`] drives it from an
/// operator; tests drive it directly with epochs and frontiers of their choosing.
pub struct Driver<S: EpochState> {
    pub state: S,
    stash: Stash<S::In>,
    clocks: Vec<Clock>,
    finished: bool,
    ready: Vec<u64>,
    before: Vec<Option<i64>>,
    after: Vec<Option<i64>>,
    /// Checkpoints asked for and not taken yet: epoch -> checkpoint number.
    requested: BTreeMap<u64, u64>,
    /// Snapshots taken: `(checkpoint number, epoch, snapshot)`, for the frame to hand on.
    taken: Vec<(u64, u64, Result<Snapshot, SnapshotError>)>,
    chain: Chain,
    completed: Option<Completed>,
    /// When the state's size is next measured without a checkpoint (`None`: it is not).
    measure_at: Option<Instant>,
}

/// The least time between two measurements of a state's size without checkpoints.
const MEASURE_EVERY: Duration = Duration::from_secs(10);

/// A measurement may take at most this share of an operator's time: after one that took `d`,
/// the next waits at least `d * MEASURE_SPACING` (and [`MEASURE_EVERY`]).
const MEASURE_SPACING: u32 = 100;

impl<S: EpochState> Driver<S> {
    pub fn new(state: S, clocks: Vec<Clock>) -> Self {
        Driver {
            state,
            stash: Stash::default(),
            clocks,
            finished: false,
            ready: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            requested: BTreeMap::new(),
            taken: Vec::new(),
            chain: Chain::default(),
            completed: None,
            measure_at: None,
        }
    }

    /// Measures the state's size now and then though the job takes no checkpoint (whose whole
    /// snapshots measure it otherwise): see [`Driver::measure_if_due`].
    pub fn measure_size(&mut self) {
        self.measure_at = Some(Instant::now());
    }

    /// If a measurement is due, the size of a whole snapshot of the state now, counted as it is
    /// serialized without being kept: [`MEASURE_EVERY`] at most, and with at most 1% of the
    /// operator's time ([`MEASURE_SPACING`]); a large state is measured less often.
    pub fn measure_if_due(&mut self) -> Option<usize> {
        let started = Instant::now();
        if self.finished || self.measure_at.is_none_or(|at| started < at) {
            return None;
        }
        let clocks: Vec<ClockData> = self.clocks.iter().map(|c| c.data().cut(u64::MAX)).collect();
        let none: Option<u64> = None;
        let bytes = bincode::serialized_size(&(SNAPSHOT_VERSION, none, clocks, self.state.data()));
        let took = started.elapsed();
        self.measure_at = Some(Instant::now() + MEASURE_EVERY.max(took * MEASURE_SPACING));
        let bytes = bytes.ok()? as usize;
        self.state.state_measured(bytes);
        Some(bytes)
    }

    /// Lets snapshots be incremental: relative to the previous one, once `completed` says its
    /// checkpoint is complete (without it every snapshot is whole).
    pub fn incremental(&mut self, completed: Completed) {
        self.completed = Some(completed);
    }

    /// Asks for a snapshot after every epoch before `epoch` and none after (checkpoint
    /// number `seq`); it is taken once the frontier has passed `epoch`'s predecessors, before
    /// any later epoch is applied ([`Driver::take_snapshots`]).
    pub fn request_snapshot(&mut self, epoch: u64, seq: u64) {
        self.requested.insert(epoch, seq);
    }

    /// The snapshots taken since the last call: `(checkpoint number, epoch, snapshot)`.
    pub fn take_snapshots(&mut self) -> Vec<(u64, u64, Result<Snapshot, SnapshotError>)> {
        std::mem::take(&mut self.taken)
    }

    /// Takes the requested snapshots of epochs at or before `upto` (every epoch before is
    /// applied, none after).
    fn snapshot_requested(&mut self, upto: Option<u64>) {
        while let Some((&epoch, &seq)) = self.requested.first_key_value() {
            if upto.is_some_and(|u| epoch > u) {
                break;
            }
            self.requested.pop_first();
            let snap = self.take_snapshot(seq, epoch);
            self.taken.push((seq, epoch, snap));
            self.state.snapshot_taken(seq);
        }
    }

    /// Checkpoint `seq`'s snapshot as of `epoch`: incremental when the previous snapshot's
    /// checkpoint is complete and the chain since the last whole one is short (at most
    /// [`MAX_CHAIN`] snapshots, holding fewer bytes than the whole one), whole otherwise.
    fn take_snapshot(&mut self, seq: u64, epoch: u64) -> Result<Snapshot, SnapshotError> {
        let started = std::time::Instant::now();
        let c = &self.chain;
        let prev = c.last.filter(|&last| {
            c.len < MAX_CHAIN
                && c.delta_bytes < c.whole_bytes
                && self.completed.as_ref().is_some_and(|done| done(last))
        });
        let bytes = match prev {
            Some(_) => super::delta_map::serialize_changes(|| self.snapshot_at(epoch, prev)),
            None => self.snapshot_at(epoch, None),
        };
        let c = &mut self.chain;
        match &bytes {
            // The maps serialized before the error sealed their generation: their changes
            // would be missing from the next delta, so the next snapshot is whole.
            Err(_) => c.last = None,
            Ok(b) => {
                c.last = Some(seq);
                if prev.is_some() {
                    c.len += 1;
                    c.delta_bytes += b.len();
                } else {
                    *c = Chain {
                        last: Some(seq),
                        base: seq,
                        len: 0,
                        whole_bytes: b.len(),
                        delta_bytes: 0,
                    };
                }
            }
        }
        if let (None, Ok(b)) = (prev, &bytes) {
            self.state.state_measured(b.len());
        }
        Ok(Snapshot {
            prev,
            base: self.chain.base,
            bytes: bytes?,
            took_us: started.elapsed().as_micros() as u64,
        })
    }

    /// A snapshot of the operator after the epochs it has applied: every clock's data and the
    /// state's, in bincode with a format version first. The stashed updates of later epochs are
    /// not in it: a job restarted from it reads them again from its sources' positions.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        self.snapshot_at(u64::MAX, None)
    }

    /// A snapshot as of `epoch`: maxima already heard of epochs from `epoch` on are left out,
    /// since a job restarted from it reads those epochs' rows again (perhaps in other epochs)
    /// and must not see their event times early.
    fn snapshot_at(&self, epoch: u64, prev: Option<u64>) -> Result<Vec<u8>, SnapshotError> {
        let clocks: Vec<ClockData> = self.clocks.iter().map(|c| c.data().cut(epoch)).collect();
        // One pass (`bincode::serialize` walks the state twice: once to size the buffer).
        let mut out = Vec::new();
        bincode::serialize_into(
            &mut out,
            &(SNAPSHOT_VERSION, prev, clocks, self.state.data()),
        )?;
        Ok(out)
    }

    /// Restores a [`Driver::snapshot`] into a driver built from the same plan.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.restore_chain(&[bytes], None)
    }

    /// Restores a chain of snapshots, whole first, then each incremental one relative to the
    /// one before it. `from` is the checkpoint of the last and of the first: the next snapshot
    /// may be relative to the last.
    pub fn restore_chain(
        &mut self,
        chain: &[impl AsRef<[u8]>],
        from: Option<(u64, u64)>,
    ) -> Result<(), SnapshotError> {
        let (clocks, data) = self.decode_chain(chain)?;
        for (c, d) in self.clocks.iter_mut().zip(clocks) {
            c.restore(d);
        }
        self.state.restore(data);
        let lens: Vec<usize> = chain.iter().map(|b| b.as_ref().len()).collect();
        self.chain = Chain {
            last: from.map(|f| f.0),
            base: from.map_or(0, |f| f.1),
            len: lens.len().saturating_sub(1),
            whole_bytes: lens.first().copied().unwrap_or(0),
            delta_bytes: lens.iter().skip(1).sum(),
        };
        Ok(())
    }

    /// Restores worker `worker` of `peers` from the snapshots of every worker of a run with
    /// another worker count ([`EpochState::merge`]). The clocks are the same on every worker
    /// (they read the broadcast maxima): the first snapshot's are taken.
    pub fn restore_merged(
        &mut self,
        parts: &[Vec<u8>],
        worker: usize,
        peers: usize,
    ) -> Result<(), SnapshotError> {
        let chains: Vec<[&[u8]; 1]> = parts.iter().map(|p| [p.as_slice()]).collect();
        self.restore_merged_chains(&chains, worker, peers)
    }

    /// [`Driver::restore_merged`] from each worker's chain of snapshots
    /// ([`Driver::restore_chain`]).
    pub fn restore_merged_chains<C: AsRef<[B]>, B: AsRef<[u8]>>(
        &mut self,
        parts: &[C],
        worker: usize,
        peers: usize,
    ) -> Result<(), SnapshotError> {
        let mut datas = Vec::with_capacity(parts.len());
        let mut first = None;
        for chain in parts {
            let (clocks, data) = self.decode_chain(chain.as_ref())?;
            first.get_or_insert(clocks);
            datas.push(data);
        }
        for (c, d) in self.clocks.iter_mut().zip(first.unwrap_or_default()) {
            c.restore(d);
        }
        let data = self.state.merge(datas, worker, peers);
        self.state.restore(data);
        // The merged state belongs to no earlier snapshot: the next one is whole.
        self.chain = Chain::default();
        Ok(())
    }

    /// The clocks of the chain's last snapshot and the state of all of them together.
    fn decode_chain(
        &self,
        chain: &[impl AsRef<[u8]>],
    ) -> Result<(Vec<ClockData>, S::Data), SnapshotError> {
        let mut acc: Option<(Vec<ClockData>, S::Data)> = None;
        for bytes in chain {
            let (prev, clocks, data) = self.decode(bytes.as_ref())?;
            acc = Some(match (acc, prev) {
                (None, None) => (clocks, data),
                (None, Some(_)) => return Err(SnapshotError::Chain),
                (Some((_, mut whole)), _) => {
                    self.state.absorb(&mut whole, data);
                    (clocks, whole)
                }
            });
        }
        acc.ok_or(SnapshotError::Chain)
    }

    #[allow(clippy::type_complexity)]
    fn decode(
        &self,
        bytes: &[u8],
    ) -> Result<(Option<u64>, Vec<ClockData>, S::Data), SnapshotError> {
        let version: u32 = bincode::deserialize(bytes)?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        let (_, prev, clocks, data): (u32, Option<u64>, Vec<ClockData>, S::Data) =
            bincode::deserialize(bytes)?;
        if clocks.len() != self.clocks.len() {
            return Err(SnapshotError::Shape {
                clocks: clocks.len(),
                expected: self.clocks.len(),
            });
        }
        Ok((prev, clocks, data))
    }

    /// Stashes `(data, epoch, diff)` updates.
    pub fn add_updates(&mut self, batch: &mut Vec<(S::In, u64, isize)>) {
        self.stash.add(batch);
    }

    /// Records `(clock, epoch, largest event time)` from the maxima broadcast.
    pub fn add_maxima(&mut self, batch: &mut Vec<(u32, u64, i64)>) {
        for (clock, epoch, max) in batch.drain(..) {
            if clock == CHECKPOINT {
                self.request_snapshot(epoch, max as u64);
            } else {
                self.clocks[clock as usize].add_max(epoch, max);
            }
        }
    }

    /// Applies every epoch before `frontier` (`None`: every input is complete, then
    /// [`EpochState::finish`]), calling `emit(epoch, output)` for each epoch with output and
    /// `emit(None, output)` for the output of `finish`. `floor` is the operator's capability.
    pub fn step(
        &mut self,
        frontier: Option<u64>,
        floor: u64,
        out: &mut Vec<(S::Out, isize)>,
        mut emit: impl FnMut(Option<u64>, &mut Vec<(S::Out, isize)>),
    ) -> Settle {
        if self.finished {
            return self.state.settle(true);
        }
        let mut ready = std::mem::take(&mut self.ready);
        self.stash.ready(frontier, &mut ready);
        for c in &mut self.clocks {
            c.ready(frontier, floor, &mut ready);
        }
        ready.sort_unstable();
        ready.dedup();
        for &epoch in &ready {
            self.snapshot_requested(Some(epoch));
            self.before.clear();
            self.after.clear();
            for c in &mut self.clocks {
                c.begin(epoch);
                self.before.push(c.watermark());
                c.close(epoch);
                self.after.push(c.watermark());
            }
            let mut updates = self.stash.take(epoch);
            let watermarks = Watermarks {
                before: &self.before,
                after: &self.after,
            };
            self.state.apply(epoch, &mut updates, watermarks, out);
            self.stash.recycle(updates);
            if !out.is_empty() {
                emit(Some(epoch), out);
                out.clear();
            }
        }
        ready.clear();
        self.ready = ready;
        // Every epoch before the frontier is applied now.
        self.snapshot_requested(frontier);
        if frontier.is_none() {
            self.finished = true;
            self.state.finish(out);
            if !out.is_empty() {
                emit(None, out);
                out.clear();
            }
        }
        self.state.settle(self.finished)
    }
}

/// Renders `state` as a timely operator over `data` (exchanged by `pact`) and the maxima of its
/// clocks (`(clock, epoch, max)`, broadcast; `None` when it follows no watermark).
///
/// Whether there are maxima (and so which operators are built) must follow from the plan
/// alone, never from what one worker has (a sink's connection): every worker builds the same
/// dataflow, or the workers' channels do not meet and the job hangs.
#[allow(clippy::too_many_arguments)]
pub fn render<'s, S, P>(
    name: &str,
    id: String,
    data: StreamVec<'s, u64, (S::In, u64, isize)>,
    pact: P,
    maxima: Option<StreamVec<'s, u64, (u32, u64, i64)>>,
    clocks: Vec<Clock>,
    state: S,
    persist: &Persist<'s>,
) -> StreamVec<'s, u64, (S::Out, u64, isize)>
where
    S::In: Clone + 'static,
    S::Out: Clone + 'static,
    S: EpochState,
    P: ParallelizationContract<u64, Vec<(S::In, u64, isize)>>,
{
    use timely::dataflow::operators::Concat;
    let scope = data.scope();
    let maxima = match (maxima, persist.requests.clone()) {
        (Some(m), Some(r)) => Some(m.concat(r)),
        (m, r) => m.or(r),
    };
    let maxima =
        maxima.unwrap_or_else(|| timely::dataflow::operators::generic::operator::empty(scope));
    let parts = persist.parts.clone();
    let measured = persist
        .metrics
        .clone()
        .map(|m| (m, tally_connectors::metrics::Gauges::holder()));
    let restore = parts.as_ref().and_then(|p| p.register(&id));
    // The name says how the rows reach the operator, for `tally explain` and timely's logs.
    let name = if std::any::type_name::<P>() != std::any::type_name::<Pipeline>() {
        format!("{name} (rows exchanged between workers)")
    } else {
        format!("{name} (rows pipelined, not exchanged)")
    };
    data.binary_frontier(maxima, pact, Pipeline, &name, move |cap, info| {
        let activator = scope.activator_for(info.address.clone());
        let mut held: Option<Capability<u64>> = Some(cap);
        let mut driver = Driver::new(state, clocks);
        if parts.is_none() && measured.is_some() {
            driver.measure_size();
        }
        if let Some(parts) = parts.as_ref() {
            let parts = parts.clone();
            driver.incremental(std::rc::Rc::new(move |seq| parts.is_complete(seq)));
        }
        if let (Some(restore), Some(parts)) = (restore, parts.as_ref()) {
            let done = match &restore {
                crate::checkpoint::Restore::Own { chain, seq, base } => {
                    driver.restore_chain(chain, Some((*seq, *base)))
                }
                crate::checkpoint::Restore::Merge {
                    parts,
                    worker,
                    peers,
                } => driver.restore_merged_chains(parts, *worker, *peers),
            };
            if let Err(e) = done {
                parts.fail(format!(
                    "cannot restore operator {id} from the checkpoint: {e}"
                ));
            }
        }
        let mut out = Vec::new();
        move |(input, input_frontier), (maxes, maxima_frontier), output| {
            input.for_each(|_cap, batch| driver.add_updates(batch));
            maxes.for_each(|_cap, batch| driver.add_maxima(batch));
            let Some(cap) = held.as_mut() else { return };
            let f = frontier(input_frontier, maxima_frontier);
            let settle = driver.step(f, *cap.time(), &mut out, |epoch, out| {
                let at = epoch.unwrap_or(*cap.time());
                let at = cap.delayed(&at);
                let mut session = output.session(&at);
                for (d, r) in out.drain(..) {
                    session.give((d, *at.time(), r));
                }
            });
            if let Some(parts) = parts.as_ref() {
                for (seq, epoch, snap) in driver.take_snapshots() {
                    if let (Some((m, holder)), Ok(s)) = (measured.as_ref(), snap.as_ref()) {
                        if s.prev.is_none() {
                            m.state_bytes_by_operator
                                .set(&id, *holder, s.bytes.len() as i64);
                        }
                    }
                    parts.deposit(seq, epoch, &id, snap.map_err(|e| e.to_string()));
                }
            } else if let (Some((m, holder)), Some(bytes)) =
                (measured.as_ref(), driver.measure_if_due())
            {
                m.state_bytes_by_operator.set(&id, *holder, bytes as i64);
            }
            if let Some(wait) = settle.wake_after {
                activator.activate_after(wait);
            }
            let target = match (f, settle.hold) {
                (Some(f), Some(h)) => Some(f.min(h)),
                (f, h) => f.or(h),
            };
            match target {
                Some(t) if *cap.time() < t => cap.downgrade(&t),
                Some(_) => {}
                None => held = None,
            }
        }
    })
}

/// An operator's part in checkpoints: the broadcast checkpoint requests it reads with its
/// maxima, and where its snapshots go (both `None` when the job does not checkpoint).
#[derive(Clone, Default)]
pub struct Persist<'s> {
    pub requests: Option<StreamVec<'s, u64, (u32, u64, i64)>>,
    pub parts: Option<std::sync::Arc<crate::checkpoint::Parts>>,
    /// Where each operator's state size is shown: measured by its whole snapshots, or without
    /// checkpoints (`parts` is `None`) now and then by [`Driver::measure_if_due`].
    pub metrics: Option<std::sync::Arc<tally_connectors::Metrics>>,
}

/// Each `(epoch, max)` of one clock's maxima stream, tagged with the clock's index.
pub fn tag_maxima<'s>(
    maxima: StreamVec<'s, u64, (u64, i64)>,
    clock: u32,
) -> StreamVec<'s, u64, (u32, u64, i64)> {
    use timely::dataflow::operators::vec::Map as _;
    maxima.map(move |(epoch, max)| (clock, epoch, max))
}

#[cfg(test)]
mod clock_tests {
    use super::*;

    /// Closes `lane`'s batch `b` (wall-clock ms) with largest event time `max`, and begins the
    /// next batch.
    fn batch(c: &mut Clock, b: u64, lane: u64, max: i64) {
        c.add_max(b * 4 + lane, max);
        c.close(b * 4 + lane);
        c.begin((b + 1) * 4);
    }

    #[test]
    fn a_restored_clock_gives_every_lane_the_idle_timeout_again() {
        let new = || Clock::new(5_000, 4, 10_000, ExpectedLanes::default(), Vec::new());
        let mut c = new();
        // Both lanes' batch 1000 closes, then the next batch begins.
        for (lane, max) in [(0, 100_000), (1, 90_000)] {
            c.add_max(1_000 * 4 + lane, max);
            c.close(1_000 * 4 + lane);
        }
        c.begin(1_001 * 4);
        assert_eq!(c.watermark(), Some(85_000));
        // Restarted 19 s later: lane 0 is heard from first, far ahead in event time.
        let mut r = new();
        r.restore(c.data().clone());
        batch(&mut r, 20_000, 0, 200_000);
        // Lane 1 is not idle yet (it was, by the batch numbers of the run that died).
        assert_eq!(r.watermark(), Some(85_000));
        // Silent for the idle timeout since the restart, it stops holding the watermark.
        batch(&mut r, 31_000, 0, 210_000);
        assert_eq!(r.watermark(), Some(205_000));
        // Without a restore the same gap makes lane 1 idle at once.
        batch(&mut c, 20_000, 0, 200_000);
        assert_eq!(c.watermark(), Some(195_000));
    }
}
