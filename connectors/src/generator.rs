//! The seeded EasyCount click-event generator of benchmarks.md.
//!
//! Events `(appId STRING, qq STRING, dTime BIGINT)`: 100 apps with weight 1/(i+1), users drawn
//! uniformly from 200,000, event time rising by 0..=20 ms per event, 1% of events late by up to
//! 20 s. Block `b` of `block_rows` events belongs to worker `b % peers` and is epoch `b`; the
//! event times come from one sequential stream that every worker steps through, and the other
//! fields from a stream seeded per block, so the rows are the same at any worker count.

use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tally_sql::{Row, Value};

use crate::{ConnectorError, Metrics, Poll, Source, WorkerInfo};

pub const APPS: usize = 100;
pub const USERS: usize = 200_000;
/// The first event time: 2023-11-14T22:13:20Z.
pub const START_MS: i64 = 1_700_000_000_000;
const MAX_STEP_MS: u64 = 20;
const LATE_SHARE: f64 = 0.01;
const MAX_LATE_MS: i64 = 20_000;

struct Dictionary {
    apps: Vec<Value>,
    users: Vec<Value>,
    /// Cumulative app weights, normalised to end at 1.
    cdf: Vec<f64>,
}

fn dictionary() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| {
        let weights: Vec<f64> = (0..APPS).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Dictionary {
            apps: (0..APPS).map(|i| Value::from(format!("app{i}"))).collect(),
            users: (0..USERS)
                .map(|i| Value::from((100_000 + i).to_string()))
                .collect(),
            cdf,
        }
    })
}

/// One worker's share of the generated events.
pub struct GeneratorSource {
    seed: u64,
    blocks: Blocks,
    time_rng: ChaCha8Rng,
    /// Event time of the first event of the next block.
    time: i64,
    metrics: Arc<Metrics>,
}

/// How a generated table's rows are cut into blocks and dealt to the workers: block `b` holds
/// rows `[b * rows, (b + 1) * rows)`, is epoch `b` and belongs to worker `b % peers`, so a
/// table is the same at any worker count. With a rate, block `b` is due `b * rows / rate`
/// seconds after the start.
pub(crate) struct Blocks {
    total: Option<u64>,
    rate: Option<f64>,
    worker: WorkerInfo,
    pub(crate) rows: u64,
    /// The next block to make or skip.
    pub(crate) next: u64,
    started: Instant,
}

impl Blocks {
    pub(crate) fn new(
        total: Option<u64>,
        rate: Option<f64>,
        worker: WorkerInfo,
        chunk_rows: usize,
    ) -> Self {
        let rows = match rate {
            Some(r) => ((r / 20.0) as u64).clamp(1, chunk_rows.max(1) as u64),
            None => chunk_rows.max(1) as u64,
        };
        Blocks {
            total,
            rate,
            worker,
            rows,
            next: 0,
            started: Instant::now(),
        }
    }

    pub(crate) fn rows_in(&self, b: u64) -> u64 {
        match self.total {
            None => self.rows,
            Some(t) => t.saturating_sub(b * self.rows).min(self.rows),
        }
    }

    fn exhausted(&self) -> bool {
        self.rows_in(self.next) == 0
    }

    /// Whether the next block is this worker's.
    fn mine(&self) -> bool {
        self.next % self.worker.peers as u64 == self.worker.index as u64
    }

    /// Whether the next block may be made now (always, without a rate).
    fn due(&self) -> bool {
        self.rate.is_none_or(|rate| {
            self.started.elapsed() >= Duration::from_secs_f64((self.next * self.rows) as f64 / rate)
        })
    }

    /// The epoch of this worker's next block.
    pub(crate) fn next_epoch(&self) -> u64 {
        let peers = self.worker.peers as u64;
        let me = self.worker.index as u64;
        self.next + (me + peers - self.next % peers) % peers
    }

    /// This worker's next block when it is due now (skipping the other workers' blocks);
    /// otherwise what to poll again for: `Done` past the last block, `Idle` before it is due.
    pub(crate) fn due_block(&mut self) -> Result<u64, Poll> {
        loop {
            if self.exhausted() {
                return Err(Poll::Done);
            }
            if !self.mine() {
                self.next += 1;
                continue;
            }
            if !self.due() {
                return Err(Poll::Idle);
            }
            return Ok(self.next);
        }
    }

    /// Goes on from the source epoch `epoch` after a restore: the blocks before it are in the
    /// restored state.
    pub(crate) fn resume(&mut self, epoch: u64) {
        self.next = self.next.max(epoch);
        self.repace();
    }

    /// Paces on from the next block after a restore, as if the blocks before had been made.
    fn repace(&mut self) {
        if let Some(rate) = self.rate {
            let done = Duration::from_secs_f64((self.next * self.rows) as f64 / rate);
            self.started = Instant::now().checked_sub(done).unwrap_or(self.started);
        }
    }
}

impl GeneratorSource {
    pub fn new(
        seed: u64,
        total: Option<u64>,
        rate: Option<f64>,
        worker: WorkerInfo,
        chunk_rows: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        GeneratorSource {
            seed,
            blocks: Blocks::new(total, rate, worker, chunk_rows),
            time_rng: ChaCha8Rng::seed_from_u64(seed),
            time: START_MS,
            metrics,
        }
    }

    /// Produces (or, with `out` = None, only steps the clock through) the next block.
    fn block(&mut self, out: Option<&mut Vec<Row>>) -> u64 {
        let n = self.blocks.rows_in(self.blocks.next);
        match out {
            None => {
                for _ in 0..n {
                    self.time += self.time_rng.random_range(0..=MAX_STEP_MS) as i64;
                }
            }
            Some(out) => {
                let dict = dictionary();
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed ^ self.blocks.next.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                out.reserve(n as usize);
                for _ in 0..n {
                    self.time += self.time_rng.random_range(0..=MAX_STEP_MS) as i64;
                    let u: f64 = rng.random();
                    let app = dict.cdf.partition_point(|c| *c < u).min(APPS - 1);
                    let user = rng.random_range(0..USERS);
                    let mut t = self.time;
                    if rng.random::<f64>() < LATE_SHARE {
                        t -= rng.random_range(0..=MAX_LATE_MS);
                    }
                    out.push(vec![
                        dict.apps[app].clone(),
                        dict.users[user].clone(),
                        Value::Int(t),
                    ]);
                }
            }
        }
        self.blocks.next += 1;
        n
    }
}

impl Source for GeneratorSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        loop {
            if self.blocks.exhausted() {
                return Ok(Poll::Done);
            }
            if !self.blocks.mine() {
                self.block(None);
                continue;
            }
            if !self.blocks.due() {
                return Ok(Poll::Idle);
            }
            let epoch = self.blocks.next;
            let n = self.block(Some(out));
            self.metrics
                .rows_in
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            return Ok(Poll::Batch { epoch });
        }
    }

    fn next_epoch(&self) -> u64 {
        self.blocks.next_epoch()
    }

    fn position(&self) -> crate::Position {
        crate::Position::Epoch
    }

    /// Steps the event-time clock through the blocks before `epoch` (they are in the restored
    /// state), as a worker steps through the blocks of others, and paces on from there.
    fn resume(&mut self, epoch: u64, _positions: &[crate::Position]) -> Result<(), ConnectorError> {
        while self.blocks.next < epoch && !self.blocks.exhausted() {
            self.block(None);
        }
        self.blocks.repace();
        Ok(())
    }
}

/// Writes `rows` generated events as delimited text, one per line, so other engines can read
/// the very same rows.
pub fn write_delimited(
    seed: u64,
    rows: u64,
    splitter: &str,
    mut w: impl Write,
) -> std::io::Result<()> {
    let mut source = GeneratorSource::new(
        seed,
        Some(rows),
        None,
        WorkerInfo { index: 0, peers: 1 },
        crate::DEFAULT_CHUNK_ROWS,
        Arc::new(Metrics::default()),
    );
    let mut batch = Vec::new();
    while let Ok(Poll::Batch { .. }) = source.poll(&mut batch) {
        for row in batch.drain(..) {
            writeln!(w, "{}{splitter}{}{splitter}{}", row[0], row[1], row[2])?;
        }
    }
    w.flush()
}

/// Flink's `datagen` source: row `i` of the table is the same at any worker count. Its blocks
/// of rows are dealt to the workers in turn (block `b` is epoch `b`); a column is a sequence
/// (`start + i`) or random values, drawn from a generator seeded by the block.
pub struct DatagenSource {
    fields: Vec<tally_sql::catalog::DatagenField>,
    blocks: Blocks,
    metrics: Arc<Metrics>,
}

impl DatagenSource {
    pub fn new(
        fields: Vec<tally_sql::catalog::DatagenField>,
        total: Option<u64>,
        rate: Option<f64>,
        worker: WorkerInfo,
        chunk_rows: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        DatagenSource {
            fields,
            blocks: Blocks::new(total, rate, worker, chunk_rows),
            metrics,
        }
    }

    fn make(&self, out: &mut Vec<Row>) -> u64 {
        use tally_sql::catalog::DatagenField as F;
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let b = self.blocks.next;
        let n = self.blocks.rows_in(b);
        let first = b * self.blocks.rows;
        let mut rng = ChaCha8Rng::seed_from_u64(b.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        out.reserve(n as usize);
        for i in first..first + n {
            let row = self
                .fields
                .iter()
                .map(|f| match f {
                    F::Sequence { start, .. } => Value::Int(start.saturating_add(i as i64)),
                    F::RandomInt { min, max } => Value::Int(rng.random_range(*min..=*max)),
                    F::RandomDouble { min, max } => Value::Double(rng.random_range(*min..*max)),
                    F::RandomString { length } => {
                        let s: String = (0..*length)
                            .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
                            .collect();
                        Value::from(s)
                    }
                    F::RandomBool => Value::Bool(rng.random()),
                })
                .collect();
            out.push(row);
        }
        n
    }
}

impl Source for DatagenSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        let epoch = match self.blocks.due_block() {
            Ok(block) => block,
            Err(poll) => return Ok(poll),
        };
        let n = self.make(out);
        self.blocks.next += 1;
        self.metrics
            .rows_in
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(Poll::Batch { epoch })
    }

    fn next_epoch(&self) -> u64 {
        self.blocks.next_epoch()
    }

    fn position(&self) -> crate::Position {
        crate::Position::Epoch
    }

    /// Skips the blocks before `epoch` (they are in the restored state) and paces on.
    fn resume(&mut self, epoch: u64, _positions: &[crate::Position]) -> Result<(), ConnectorError> {
        self.blocks.resume(epoch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(peers: usize, rows: u64, chunk: usize) -> Vec<(u64, Row)> {
        let mut all = Vec::new();
        for index in 0..peers {
            let mut s = GeneratorSource::new(
                7,
                Some(rows),
                None,
                WorkerInfo { index, peers },
                chunk,
                Arc::new(Metrics::default()),
            );
            let mut buf = Vec::new();
            while let Poll::Batch { epoch } = s.poll(&mut buf).unwrap() {
                all.extend(buf.drain(..).map(|r| (epoch, r)));
            }
        }
        all.sort_by_key(|(epoch, _)| *epoch);
        all
    }

    #[test]
    fn same_rows_at_any_worker_count() {
        let one = collect(1, 10_000, 1000);
        let three = collect(3, 10_000, 1000);
        assert_eq!(one.len(), 10_000);
        assert_eq!(one, three);
    }

    #[test]
    fn shape_of_the_workload() {
        let rows = collect(1, 100_000, 8192);
        let late = rows.windows(2).filter(|w| w[1].1[2] < w[0].1[2]).count();
        assert!(
            late > 500 && late < 2000,
            "about 1% out of order, got {late}"
        );
        let app0 = rows.iter().filter(|r| r.1[0] == Value::str("app0")).count();
        let app99 = rows
            .iter()
            .filter(|r| r.1[0] == Value::str("app99"))
            .count();
        assert!(app0 > 50 * app99, "skewed apps: {app0} vs {app99}");
    }
}
