//! Epoch-by-epoch bookkeeping shared by the operators that keep a watermark (the aggregate and
//! the join): updates stashed by their own epoch, the broadcast event-time maxima, which epochs
//! are complete, and the largest event time seen in completed epochs.

use std::collections::BTreeMap;

use timely::progress::frontier::MutableAntichain;

pub struct Epochs<D> {
    stash: BTreeMap<u64, Vec<(D, isize)>>,
    maxima: BTreeMap<u64, i64>,
    max_seen: Option<i64>,
}

impl<D> Default for Epochs<D> {
    fn default() -> Self {
        Epochs {
            stash: BTreeMap::new(),
            maxima: BTreeMap::new(),
            max_seen: None,
        }
    }
}

impl<D> Epochs<D> {
    /// Stashes updates by their own time (a message's capability can be earlier).
    pub fn add_updates(&mut self, batch: &mut Vec<(D, u64, isize)>) {
        for (d, t, r) in batch.drain(..) {
            self.stash.entry(t).or_default().push((d, r));
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
    pub fn ready(&self, frontier: Option<u64>) -> Vec<u64> {
        let mut epochs: Vec<u64> = self
            .stash
            .keys()
            .chain(self.maxima.keys())
            .copied()
            .filter(|e| frontier.is_none_or(|f| *e < f))
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        epochs
    }

    /// An epoch's updates; call [`Epochs::close`] once they are applied.
    pub fn take(&mut self, epoch: u64) -> Vec<(D, isize)> {
        self.stash.remove(&epoch).unwrap_or_default()
    }

    /// Folds an epoch's event times into the watermark.
    pub fn close(&mut self, epoch: u64) {
        if let Some(m) = self.maxima.remove(&epoch) {
            self.max_seen = Some(self.max_seen.map_or(m, |s| s.max(m)));
        }
    }

    /// The largest event time of the closed epochs minus the lateness.
    pub fn watermark(&self, lateness: i64) -> Option<i64> {
        self.max_seen.map(|m| m - lateness)
    }

    pub fn clear(&mut self) {
        self.stash.clear();
        self.maxima.clear();
    }
}
