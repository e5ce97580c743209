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
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod metrics;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod nexmark;
pub mod polled;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sinks;
pub mod sqldb;

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

    /// The watermark lane of the last batch (below the plan's lane count; 0: the source has no
    /// partitions of its own).
    fn lane(&self) -> u64 {
        0
    }

    /// Every lane this source's table has, on all workers (the partitions of a Kafka topic):
    /// the watermark waits for each of them until it has been idle for the idle timeout.
    fn lanes(&self) -> Vec<u64> {
        Vec::new()
    }

    /// Moves rows that left the table since the last batch into `out` (sources of changing
    /// tables: a dimension re-read from a database). Called after each `Batch`; they belong to
    /// its epoch.
    fn take_deletes(&mut self, _out: &mut Vec<Row>) {}

    /// Every sink has applied the effects of all epochs before `frontier` (`None`: of every
    /// epoch): a source can acknowledge them upstream (commit Kafka offsets). Not called when
    /// the job checkpoints: then [`Source::checkpointed`] acknowledges.
    fn applied(&mut self, _frontier: Option<u64>) {}

    /// Where this worker's share stands after every batch handed out so far: what a checkpoint
    /// keeps for it. Called after each batch while the job checkpoints, so it must be cheap.
    fn position(&self) -> Position {
        Position::Reread
    }

    /// Continues after a checkpoint instead of from the start: every batch before the source
    /// epoch `epoch` is in the restored state. `positions` are every worker's positions of this
    /// source in the checkpoint (another worker count may have written them).
    fn resume(&mut self, _epoch: u64, _positions: &[Position]) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// A checkpoint holding these positions (every worker's) is complete: a source can show
    /// the progress upstream (commit Kafka offsets to the consumer group).
    fn checkpointed(&mut self, _positions: &[Position]) {}
}

/// A source's place in its input, as a checkpoint keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Position {
    /// Batches numbered by their place in the input (a file's chunks, the generator's blocks):
    /// the checkpoint's epoch says where to go on.
    Epoch,
    /// Kafka: per partition, the offset the job started reading it at and the next offset.
    Offsets(std::collections::BTreeMap<i32, (i64, i64)>),
    /// A followed file: its identity (device, inode) and the byte offset of its next line.
    File {
        identity: Option<(u64, u64)>,
        offset: u64,
    },
    /// Read again from the start on restart (a table polled from a database or Redis, or
    /// followed in a binlog): the source's own position is nothing.
    Reread,
    /// A source read again on restart, with the rows it had delivered (net) before the
    /// checkpoint: its first batch after the restart is delivered as the difference to them.
    Table(Vec<(Row, i64)>),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Epoch => write!(f, "at the checkpoint's epoch"),
            Position::Offsets(o) => {
                let parts: Vec<String> = o
                    .iter()
                    .map(|(p, (_, next))| format!("partition {p} at offset {next}"))
                    .collect();
                write!(f, "{}", parts.join(", "))
            }
            Position::File { offset, .. } => write!(f, "byte {offset}"),
            Position::Reread => write!(f, "read again on restart"),
            Position::Table(rows) => write!(f, "{} rows, read again on restart", rows.len()),
        }
    }
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
    /// The server is unreachable or dropped the connection: the same request may succeed once
    /// it is back, so the caller retries with back-off.
    #[error("{0}")]
    Unavailable(String),
}

impl ConnectorError {
    /// Whether retrying the same request later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectorError::Unavailable(_))
    }

    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ConnectorError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// How a worker reads its share of the sources of a job.
#[derive(Clone, Debug)]
pub struct Reading {
    pub worker: WorkerInfo,
    /// Rows per batch of bounded sources.
    pub chunk_rows: usize,
    /// The job's idle timeout: how long a source waits for a silent partition.
    pub idle_ms: u64,
    pub metrics: std::sync::Arc<Metrics>,
}

/// Opens a worker's share of a source.
///
/// A `dimension` source delivers the table as it stands when the job starts in epoch 0 (a
/// bounded file whole, a followed file's current content), and later changes after that.
pub fn open_source(
    table: &str,
    config: &SourceConfig,
    schema: &Schema,
    dimension: bool,
    reading: &Reading,
) -> Result<Box<dyn Source>, ConnectorError> {
    let worker = reading.worker;
    let metrics = reading.metrics.clone();
    let idle_ms = reading.idle_ms;
    let chunk_rows = if dimension {
        usize::MAX
    } else {
        reading.chunk_rows
    };
    let unavailable = |ty: &str, feature: &str| {
        ConnectorError::Other(format!(
            "table {table}: this build of tally has no {ty} connector (cargo feature `{feature}`)"
        ))
    };
    let _ = &unavailable;
    Ok(match config {
        #[cfg(feature = "kafka")]
        SourceConfig::Kafka(k) => {
            let parser =
                format::RecordParser::new(table, k.format.clone(), schema.clone(), metrics.clone());
            Box::new(kafka::KafkaSource::open(
                k,
                parser,
                worker,
                chunk_rows,
                std::time::Duration::from_millis(idle_ms),
            )?)
        }
        #[cfg(not(feature = "kafka"))]
        SourceConfig::Kafka(_) => return Err(unavailable("kafka", "kafka")),
        SourceConfig::Database {
            db,
            poll_ms,
            changes,
        } => sqldb::open_dimension(table, db, schema, worker, *poll_ms, *changes, metrics)?,
        #[cfg(feature = "redis")]
        SourceConfig::Redis { url, key, poll_ms } => {
            redis::open_dimension(table, url, key, schema, worker, *poll_ms, metrics)?
        }
        #[cfg(not(feature = "redis"))]
        SourceConfig::Redis { .. } => return Err(unavailable("redis", "redis")),
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
        SourceConfig::Datagen { rows, rate, fields } => Box::new(generator::DatagenSource::new(
            fields.clone(),
            *rows,
            *rate,
            worker,
            chunk_rows,
            metrics,
        )),
        SourceConfig::Nexmark(config) => Box::new(nexmark::NexmarkSource::new(
            config, schema, worker, chunk_rows, metrics,
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

    /// False while a sink that writes its table whole (a CSV file) has not written it yet: it
    /// is flushed at the end even when empty.
    fn written(&self) -> bool {
        true
    }

    /// Whether writing a key's current row (or deleting it) again is harmless: true for sinks
    /// that upsert and delete by key (servers). A job restarted from a checkpoint writes again
    /// every key such a sink wrote since, from its write-ahead log.
    fn upserts_by_key(&self) -> bool {
        true
    }

    /// How far the sink's output stands (a change log's length in bytes), for a checkpoint.
    fn mark(&self) -> Option<u64> {
        None
    }

    /// Goes on from a checkpoint's [`Sink::mark`] (a change log cut back to it) instead of
    /// starting its output anew.
    fn resume(&mut self, _mark: Option<u64>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Opens a sink for a result table with the given columns, whose rows are identified by the
/// columns `key` (`None`: the whole row).
pub fn open_sink(
    table: &str,
    config: &SinkConfig,
    schema: &Schema,
    key: Option<&[usize]>,
) -> Result<Box<dyn Sink>, ConnectorError> {
    let unavailable = |ty: &str| {
        ConnectorError::Other(format!(
            "table {table}: this build of tally has no {ty} connector (cargo feature `{ty}`)"
        ))
    };
    let _ = &unavailable;
    Ok(match config {
        SinkConfig::Stdout => Box::new(sinks::StdoutSink::new(table)),
        SinkConfig::Blackhole => Box::new(sinks::BlackholeSink),
        SinkConfig::Csv { path, mode } => Box::new(sinks::CsvSink::open(path, *mode, schema)?),
        #[cfg(feature = "redis")]
        SinkConfig::Redis { url, target, ttl } => Box::new(redis::RedisSink::open(
            table, url, target, *ttl, schema, key,
        )?),
        #[cfg(not(feature = "redis"))]
        SinkConfig::Redis { .. } => return Err(unavailable("redis")),
        SinkConfig::Database(db) => sqldb::open_sink(table, db, schema, key)?,
        #[cfg(feature = "kafka")]
        SinkConfig::Kafka {
            brokers,
            topic,
            properties,
        } => Box::new(kafka::KafkaSink::open(
            brokers, topic, properties, schema, key,
        )?),
        #[cfg(not(feature = "kafka"))]
        SinkConfig::Kafka { .. } => return Err(unavailable("kafka")),
    })
}

/// `{column}` placeholders of a key or field template, resolved against a row's columns.
#[derive(Clone, Debug)]
pub struct Template {
    /// Literal text and column indexes, in order.
    parts: Vec<TemplatePart>,
    columns: Vec<usize>,
}

#[derive(Clone, Debug)]
enum TemplatePart {
    Text(String),
    Column(usize),
}

impl Template {
    /// Parses `template`; every placeholder must name a column of `schema`.
    pub fn parse(template: &str, schema: &Schema) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut columns = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            if start > 0 {
                parts.push(TemplatePart::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 1..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`{{` without a closing `}}` in `{template}`"))?;
            let name = &after[..end];
            let i = schema.index_of(name).ok_or_else(|| {
                format!(
                    "the template `{template}` names `{name}`, which is not a column; columns: {}",
                    schema.names().join(", ")
                )
            })?;
            parts.push(TemplatePart::Column(i));
            columns.push(i);
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_string()));
        }
        Ok(Template { parts, columns })
    }

    /// The template that joins `prefix` and the columns `cols` with `:`.
    pub fn joined(prefix: &str, cols: &[usize]) -> Template {
        let mut parts = vec![TemplatePart::Text(prefix.to_string())];
        for &c in cols {
            parts.push(TemplatePart::Text(":".into()));
            parts.push(TemplatePart::Column(c));
        }
        Template {
            parts,
            columns: cols.to_vec(),
        }
    }

    /// The parts in order: literal text, or a column index.
    pub fn parts(&self) -> Vec<Result<&str, usize>> {
        self.parts
            .iter()
            .map(|p| match p {
                TemplatePart::Text(t) => Ok(t.as_str()),
                TemplatePart::Column(c) => Err(*c),
            })
            .collect()
    }

    /// The columns the template uses.
    pub fn columns(&self) -> &[usize] {
        &self.columns
    }

    pub fn render(&self, row: &Row) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Column(i) => {
                    if !row[*i].is_null() {
                        out.push_str(&row[*i].to_string())
                    }
                }
            }
        }
        out
    }
}

/// Milliseconds since the Unix epoch: the epoch numbers of live sources.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Some columns of a row as a JSON object keyed by column name.
pub fn json_object(schema: &Schema, row: &Row, cols: &[usize]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = cols
        .iter()
        .map(|&i| (schema.fields[i].name.clone(), row[i].to_json()))
        .collect();
    serde_json::Value::Object(map).to_string()
}
