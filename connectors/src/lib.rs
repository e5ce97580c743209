//! tally's sources and sinks.
//!
//! A [`Source`] is opened once per worker and hands that worker its share of the table's rows in
//! numbered batches (epochs). Bounded sources number their batches by position in the input
//! (chunk `c` of a file, block `b` of the generator), so every worker count sees the same
//! batches and the results do not depend on `-w`. Live sources (a followed file,
//! `__innertable`) number batches by wall-clock milliseconds.
//!
//! A [`Sink`] receives the changes of a result table once per flush, already reduced to upserts
//! and deletes by key, plus a view of the whole table for sinks that rewrite it.

pub mod file;
pub mod format;
pub mod generator;
pub mod innertable;
pub mod metrics;
pub mod sinks;

use std::time::{SystemTime, UNIX_EPOCH};

pub use metrics::Metrics;
use tally_sql::catalog::{SinkConfig, SourceConfig};
use tally_sql::{Row, Schema};

/// Rows per batch for bounded sources unless the job says otherwise (`chunk.rows`).
pub const DEFAULT_CHUNK_ROWS: usize = 8192;

/// What one call of [`Source::poll`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Rows were appended to the buffer; they all belong to this epoch.
    Batch { epoch: u64 },
    /// Nothing right now; poll again later.
    Idle,
    /// This worker's share of the source is exhausted.
    Done,
}

/// One worker's reader of one table.
pub trait Source: Send {
    /// Appends the next batch of rows to `out`.
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError>;
    /// A lower bound on the epoch of every batch this source will still produce.
    fn next_epoch(&self) -> u64;
}

/// Which worker a source or sink is opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Global worker index (process * threads + thread).
    pub index: usize,
    /// Total workers over all processes.
    pub peers: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl ConnectorError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ConnectorError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Opens `worker`'s share of a source.
///
/// A `dimension` source delivers the table as it stands when the job starts in epoch 0 (a
/// bounded file whole, a followed file's current content), and later changes after that.
pub fn open_source(
    table: &str,
    config: &SourceConfig,
    schema: &Schema,
    worker: WorkerInfo,
    chunk_rows: usize,
    dimension: bool,
    metrics: std::sync::Arc<Metrics>,
) -> Result<Box<dyn Source>, ConnectorError> {
    let chunk_rows = if dimension { usize::MAX } else { chunk_rows };
    Ok(match config {
        SourceConfig::File {
            path,
            format,
            follow,
        } => {
            let parser =
                format::RecordParser::new(table, format.clone(), schema.clone(), metrics.clone());
            if *follow {
                Box::new(file::FollowSource::open(
                    path, parser, worker, dimension, metrics,
                )?)
            } else {
                Box::new(file::FileSource::open(
                    path, parser, worker, chunk_rows, metrics,
                )?)
            }
        }
        SourceConfig::Generator { rows, rate, seed } => Box::new(generator::GeneratorSource::new(
            *seed, *rows, *rate, worker, chunk_rows, metrics,
        )),
        SourceConfig::InnerTable { interval_ms } => {
            Box::new(innertable::InnerTable::new(*interval_ms, worker, metrics))
        }
    })
}

/// One upsert or delete of a result table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A row whose key was not in the table.
    Insert(Row),
    /// A row replacing the row with the same key.
    Update(Row),
    /// The row with this key left the table.
    Delete(Row),
}

/// A result table's writer. Opened on the worker that writes the table.
pub trait Sink: Send {
    /// Applies one flush: the changes in order, and the table as it stands after them (sorted
    /// by key) when [`Sink::needs_table`] says so (empty otherwise).
    fn flush(&mut self, changes: &[Change], table: &[Row]) -> Result<(), ConnectorError>;

    /// Whether `flush` needs the whole table (a sink that rewrites it), not just the changes.
    fn needs_table(&self) -> bool {
        false
    }
}

/// Opens a sink for a result table with the given columns.
pub fn open_sink(
    table: &str,
    config: &SinkConfig,
    schema: &Schema,
) -> Result<Box<dyn Sink>, ConnectorError> {
    Ok(match config {
        SinkConfig::Stdout => Box::new(sinks::StdoutSink::new(table)),
        SinkConfig::Csv { path, mode } => Box::new(sinks::CsvSink::open(path, *mode, schema)?),
    })
}

/// Milliseconds since the Unix epoch: the epoch numbers of live sources.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
