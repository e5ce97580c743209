//! Counters a running job shows on its progress line, shared by the workers of one process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Labels of a metric: `(name, value)` pairs.
pub type Labels = Vec<(String, String)>;

/// Histograms by label set, each with [`flush_buckets`].
pub type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// Buckets for a sink's flush: 0.5 ms to about 2 min, each 4 times the one before.
fn flush_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 4.0, 10))
}

/// Process-wide job counters.
#[derive(Debug)]
pub struct Metrics {
    pub rows_in: AtomicU64,
    pub bad_rows: AtomicU64,
    pub late_rows: AtomicU64,
    pub result_rows: AtomicU64,
    /// Times a dimension followed in a binlog had to read its whole table again (DDL, an
    /// unknown event, a purged position, a value it could not convert).
    pub dimension_rereads: AtomicU64,
    /// The smallest watermark over the windowed queries, epoch ms (`i64::MIN`: none yet).
    pub watermark_ms: AtomicI64,
    /// When the last checkpoint completed, epoch ms (0: none yet).
    pub last_checkpoint_ms: AtomicU64,
    pub failed_checkpoints: AtomicU64,
    pub completed_checkpoints: AtomicU64,
    /// The last complete checkpoint: its size, how long it took from request to manifest, and
    /// the longest time serializing it stopped one worker's operators.
    pub checkpoint_bytes: AtomicU64,
    pub checkpoint_duration_ms: AtomicU64,
    pub checkpoint_stall_ms: AtomicU64,
    /// The job's name: the `job` label of its metrics.
    pub job: OnceLock<String>,
    /// How long each sink's flushes took (retries included), by job and sink.
    pub flush_seconds: Histograms,
    /// Flushes a sink tried again after a retryable error, by sink.
    pub sink_retries: Labelled,
    /// The job's dataflow is built and its sources connected, on some worker.
    pub ready: std::sync::atomic::AtomicBool,
    /// Workers whose dataflow is built and whose sources are open; the sources they opened
    /// (one per worker and table); of those, the ones that have read what was there when the
    /// job started (they once had nothing more to read right then, or were done). `/readyz`
    /// answers ready once every worker started and every source caught up.
    pub workers_started: AtomicU64,
    pub sources_expected: AtomicU64,
    pub sources_caught_up: AtomicU64,
    /// The same counts by what they belong to (for `/metrics`): late rows by query, malformed
    /// records by table, result changes written by sink; rows (and deletes) fed into the
    /// dataflow by source table and by worker.
    pub late_by_query: Labelled,
    /// Updates each query's aggregate read, by query.
    pub rows_in_by_query: Labelled,
    /// Each query's groups held now, by query (summed over the workers' operators).
    pub groups_by_query: Gauges,
    /// Rows that came after their window's end in event time but within the lateness, and
    /// revised it, by query.
    pub late_corrected_by_query: Labelled,
    /// Updates each query's aggregate emitted (`-old +new` counts two), by query.
    pub rows_out_by_query: Labelled,
    /// Each windowed query's windows not yet final, one per group and window, by query.
    pub open_windows_by_query: Gauges,
    /// Each query's aggregate state in bytes, as its last whole snapshot measured it (with
    /// checkpoints), by query.
    pub state_bytes_by_query: Gauges,
    /// Every stateful operator's state in bytes (its checkpoint id: `node1`, `node3:join`,
    /// `sink0`), as its last whole snapshot measured it, summed over workers.
    pub state_bytes_by_operator: Gauges,
    /// Result changes written as upserts (inserts and updates) and as deletes, by sink.
    pub upserts_by_sink: Labelled,
    pub deletes_by_sink: Labelled,
    /// Errors a sink's flushes met (each retry's cause, and a fatal one), by sink.
    pub sink_errors: Labelled,
    /// The epoch each worker's sinks have written everything before (the dataflow's frontier
    /// at its end), by worker.
    pub frontier_by_worker: Gauges,
    /// Per source partition: rows, bytes, position, end and committed offset.
    pub partitions: Partitions,
    pub read_by_source: Labelled,
    /// Bytes each source read (file lines with their newlines, Kafka record payloads), by
    /// source table.
    pub bytes_by_source: Labelled,
    pub read_by_worker: Labelled,
    pub bad_by_table: Labelled,
    pub written_by_sink: Labelled,
}

/// What a source has done with one partition (a Kafka topic's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    /// Rows parsed from its records, and the bytes of those records' payloads.
    pub rows: u64,
    pub bytes: u64,
    /// Malformed records counted and skipped.
    pub bad: u64,
    /// The offset of the next record to read (-1: none read yet).
    pub position: i64,
    /// The partition's end at the broker, as the client last heard (-1: not yet).
    pub high: i64,
    /// The offset last committed for the group (-1: none yet).
    pub committed: i64,
}

impl Default for PartitionStats {
    fn default() -> Self {
        PartitionStats {
            rows: 0,
            bytes: 0,
            bad: 0,
            position: -1,
            high: -1,
            committed: -1,
        }
    }
}

impl PartitionStats {
    /// Records at the broker not read yet, once the end and a position are known.
    pub fn lag(&self) -> Option<i64> {
        let at = if self.position >= 0 {
            self.position
        } else {
            self.committed
        };
        (self.high >= 0 && at >= 0).then(|| (self.high - at).max(0))
    }
}

/// [`PartitionStats`] by source table and partition; updated once per poll or commit.
#[derive(Debug, Default)]
pub struct Partitions(Mutex<BTreeMap<(String, i32), PartitionStats>>);

impl Partitions {
    pub fn update(&self, source: &str, partition: i32, f: impl FnOnce(&mut PartitionStats)) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(&(source.to_string(), partition)) {
            Some(s) => f(s),
            None => {
                let mut s = PartitionStats::default();
                f(&mut s);
                m.insert((source.to_string(), partition), s);
            }
        }
    }

    pub fn snapshot(&self) -> Vec<((String, i32), PartitionStats)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Gauges by one label's value, each the sum of what several holders (an operator on each
/// worker) set; set once per epoch, never per row.
#[derive(Debug, Default)]
pub struct Gauges(Mutex<BTreeMap<(String, usize), i64>>);

/// Numbers the holders of [`Gauges`].
static HOLDERS: AtomicU64 = AtomicU64::new(0);

impl Gauges {
    /// A number for a new holder.
    pub fn holder() -> usize {
        HOLDERS.fetch_add(1, Ordering::Relaxed) as usize
    }

    pub fn set(&self, label: &str, holder: usize, v: i64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(&(label.to_string(), holder)) {
            Some(c) => *c = v,
            None => {
                m.insert((label.to_string(), holder), v);
            }
        }
    }

    /// Every label's sum over its holders, in label order.
    pub fn snapshot(&self) -> Vec<(String, i64)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(String, i64)> = Vec::new();
        for ((label, _), v) in m.iter() {
            match out.last_mut() {
                Some((l, sum)) if l == label => *sum += v,
                _ => out.push((label.clone(), *v)),
            }
        }
        out
    }
}

/// Counters by one label's value; added to once per batch or flush, never per row.
#[derive(Debug, Default)]
pub struct Labelled(Mutex<BTreeMap<String, u64>>);

impl Labelled {
    pub fn add(&self, label: &str, n: u64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(label) {
            Some(c) => *c += n,
            None => {
                m.insert(label.to_string(), n);
            }
        }
    }

    /// Every label's count, in label order.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            rows_in: AtomicU64::new(0),
            bad_rows: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            result_rows: AtomicU64::new(0),
            dimension_rereads: AtomicU64::new(0),
            watermark_ms: AtomicI64::new(i64::MIN),
            last_checkpoint_ms: AtomicU64::new(0),
            failed_checkpoints: AtomicU64::new(0),
            completed_checkpoints: AtomicU64::new(0),
            checkpoint_bytes: AtomicU64::new(0),
            checkpoint_duration_ms: AtomicU64::new(0),
            checkpoint_stall_ms: AtomicU64::new(0),
            job: OnceLock::new(),
            flush_seconds: Family::new_with_constructor(flush_buckets),
            sink_retries: Labelled::default(),
            ready: std::sync::atomic::AtomicBool::new(false),
            workers_started: AtomicU64::new(0),
            sources_expected: AtomicU64::new(0),
            sources_caught_up: AtomicU64::new(0),
            late_by_query: Labelled::default(),
            rows_in_by_query: Labelled::default(),
            groups_by_query: Gauges::default(),
            rows_out_by_query: Labelled::default(),
            late_corrected_by_query: Labelled::default(),
            open_windows_by_query: Gauges::default(),
            state_bytes_by_query: Gauges::default(),
            state_bytes_by_operator: Gauges::default(),
            upserts_by_sink: Labelled::default(),
            deletes_by_sink: Labelled::default(),
            sink_errors: Labelled::default(),
            frontier_by_worker: Gauges::default(),
            partitions: Partitions::default(),
            read_by_source: Labelled::default(),
            bytes_by_source: Labelled::default(),
            read_by_worker: Labelled::default(),
            bad_by_table: Labelled::default(),
            written_by_sink: Labelled::default(),
        }
    }
}

impl Metrics {
    /// Counts a malformed record and logs a sample: the first ten, then one in ten thousand.
    pub fn bad_row(&self, table: &str, reason: &str, record: &str) {
        let n = self.bad_rows.fetch_add(1, Ordering::Relaxed) + 1;
        self.bad_by_table.add(table, 1);
        if n <= 10 || n.is_multiple_of(10_000) {
            let shown: String = record.chars().take(200).collect();
            tracing::warn!(
                table,
                bad_rows = n,
                "skipped a malformed record ({reason}): {shown:?}"
            );
        }
    }

    /// Counts late rows and logs a sample.
    pub fn late(&self, query: &str, n: u64) {
        let before = self.late_rows.fetch_add(n, Ordering::Relaxed);
        self.late_by_query.add(query, n);
        if before < 10 || (before + n) / 10_000 != before / 10_000 {
            tracing::warn!(
                query,
                late_rows = before + n,
                "dropped {n} row(s) whose window was already final"
            );
        }
    }

    /// A flush of `sink` that took `seconds`.
    pub fn flushed(&self, sink: &str, seconds: f64) {
        let job = self.job.get().map_or("job", String::as_str);
        let labels = vec![
            ("job".to_string(), job.to_string()),
            ("sink".to_string(), sink.to_string()),
        ];
        self.flush_seconds.get_or_create(&labels).observe(seconds);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
