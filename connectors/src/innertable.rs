//! `__innertable(ms)`: one empty row every `ms` milliseconds, from worker 0, for trying
//! functions without any source.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_sql::Row;

use crate::{now_ms, ConnectorError, Metrics, Poll, Source, WorkerInfo};

pub struct InnerTable {
    interval: Duration,
    next: Instant,
    active: bool,
    metrics: Arc<Metrics>,
}

impl InnerTable {
    pub fn new(interval_ms: u64, worker: WorkerInfo, metrics: Arc<Metrics>) -> Self {
        InnerTable {
            interval: Duration::from_millis(interval_ms.max(1)),
            next: Instant::now(),
            active: worker.index == 0,
            metrics,
        }
    }
}

impl Source for InnerTable {
    /// Ticks of the wall clock: after a restart they go on from now; nothing to keep.
    fn position(&self) -> crate::Position {
        crate::Position::Epoch
    }

    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        if !self.active {
            return Ok(Poll::Done);
        }
        if Instant::now() < self.next {
            return Ok(Poll::Idle);
        }
        self.next += self.interval;
        out.push(Vec::new());
        self.metrics
            .rows_in
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Poll::Batch { epoch: now_ms() })
    }

    fn next_epoch(&self) -> u64 {
        now_ms()
    }
}
