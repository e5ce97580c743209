//! Redis: a sink that keeps a result table in hashes, and a dimension source that reads hashes.
//!
//! Sink layouts (`table.redis.*`):
//! - `key` (or nothing): one hash per row, named by the key template (default
//!   `<table>:<key values joined by ':'>`); its fields are the columns the name does not use.
//!   A delete removes the hash; TTL is set when a hash is created.
//! - `hash` (+ optional `field`): one hash for the table. With a field template each row is one
//!   field (its value the one remaining column, or a JSON object of them); without, the columns
//!   are the fields (a one-row table such as `pv`, `uv`).
//!
//! Each flush is one MULTI/EXEC pipeline. A connection error drops the connection; the caller
//! retries the same flush (all commands are idempotent) on a new one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::{Client, Connection, RedisError};
use tally_sql::catalog::{RedisTarget, Secret};
use tally_sql::{Row, Schema, Value};

use crate::format::parse_value;
use crate::polled::{PolledTable, TableReader};
use crate::{Change, ConnectorError, Metrics, Sink, Source, Template, WorkerInfo};

fn classify(e: RedisError) -> ConnectorError {
    // The error text never holds the URL (and so never its password).
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        ConnectorError::Unavailable(format!("redis: {e}"))
    } else {
        ConnectorError::Other(format!("redis: {e}"))
    }
}

fn client(url: &Secret) -> Result<Client, ConnectorError> {
    Client::open(url.expose()).map_err(|_| {
        ConnectorError::Other(
            "table.redis.url is not a valid redis:// URL (not shown: it may hold a password)"
                .to_string(),
        )
    })
}

fn connect(client: &Client) -> Result<Connection, ConnectorError> {
    client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(classify)
}

fn cell(v: &Value) -> String {
    v.to_string()
}

enum Layout {
    PerRow { key: Template },
    Table { name: String, field: Template },
    Columns { name: String },
}

pub struct RedisSink {
    client: Client,
    conn: Option<Connection>,
    layout: Layout,
    schema: Schema,
    /// Columns written as fields (per-row and columns layouts) or as the value.
    value_cols: Vec<usize>,
    ttl: Option<u64>,
}

impl RedisSink {
    pub fn open(
        table: &str,
        url: &Secret,
        target: &RedisTarget,
        ttl: Option<u64>,
        schema: &Schema,
        key: Option<&[usize]>,
    ) -> Result<Self, ConnectorError> {
        let bad = |e: String| ConnectorError::Other(format!("table {table}: {e}"));
        let key_cols: Vec<usize> =
            key.map_or_else(|| (0..schema.len()).collect(), <[usize]>::to_vec);
        let layout = match target {
            RedisTarget::Key(None) => Layout::PerRow {
                key: Template::joined(table, &key_cols),
            },
            RedisTarget::Key(Some(t)) => Layout::PerRow {
                key: Template::parse(t, schema).map_err(bad)?,
            },
            RedisTarget::Hash {
                name,
                field: Some(f),
            } => Layout::Table {
                name: name.clone(),
                field: Template::parse(f, schema).map_err(bad)?,
            },
            RedisTarget::Hash { name, field: None } => Layout::Columns { name: name.clone() },
        };
        let used: &[usize] = match &layout {
            Layout::PerRow { key } => key.columns(),
            Layout::Table { field, .. } => field.columns(),
            Layout::Columns { .. } => &[],
        };
        let value_cols: Vec<usize> = (0..schema.len()).filter(|i| !used.contains(i)).collect();
        if value_cols.is_empty() {
            return Err(bad(
                "every column is in the redis key, so nothing is left to write as a value"
                    .to_string(),
            ));
        }
        let client = client(url)?;
        // Reached once at the start, so a wrong address fails the job at once.
        let conn = connect(&client)?;
        Ok(RedisSink {
            client,
            conn: Some(conn),
            layout,
            schema: schema.clone(),
            value_cols,
            ttl,
        })
    }

    fn pipeline(&self, changes: &[Change]) -> redis::Pipeline {
        let mut p = redis::pipe();
        p.atomic();
        for change in changes {
            let (row, upsert) = match change {
                Change::Insert(r) | Change::Update(r) => (r, true),
                Change::Delete(r) => (r, false),
            };
            match &self.layout {
                Layout::PerRow { key } => {
                    let name = key.render(row);
                    if !upsert {
                        p.del(&name).ignore();
                        continue;
                    }
                    // One HSET of the non-NULL fields and one HDEL of the NULL ones, built in
                    // place (no intermediate lists).
                    let nulls = self
                        .value_cols
                        .iter()
                        .filter(|&&i| row[i].is_null())
                        .count();
                    if nulls < self.value_cols.len() {
                        let cmd = p.cmd("HSET").arg(&name);
                        for &i in self.value_cols.iter().filter(|&&i| !row[i].is_null()) {
                            cmd.arg(self.schema.fields[i].name.as_str())
                                .arg(cell(&row[i]));
                        }
                        cmd.ignore();
                    }
                    if nulls > 0 {
                        let cmd = p.cmd("HDEL").arg(&name);
                        for &i in self.value_cols.iter().filter(|&&i| row[i].is_null()) {
                            cmd.arg(self.schema.fields[i].name.as_str());
                        }
                        cmd.ignore();
                    }
                    if let Some(ttl) = self.ttl {
                        // Only a hash without a time to live gets one: set when it is created
                        // (also when it expired and a later change created it again).
                        p.cmd("EXPIRE").arg(&name).arg(ttl).arg("NX").ignore();
                    }
                }
                Layout::Table { name, field } => {
                    let f = field.render(row);
                    if !upsert {
                        p.hdel(name, f).ignore();
                        continue;
                    }
                    if self.value_cols.len() == 1 {
                        match &row[self.value_cols[0]] {
                            Value::Null => p.hdel(name, f).ignore(),
                            v => p.hset(name, f, cell(v)).ignore(),
                        };
                    } else {
                        let value = crate::json_object(&self.schema, row, &self.value_cols);
                        p.hset(name, f, value).ignore();
                    }
                }
                Layout::Columns { name } => {
                    let fields: Vec<&str> = self
                        .value_cols
                        .iter()
                        .map(|&i| self.schema.fields[i].name.as_str())
                        .collect();
                    if !upsert {
                        p.hdel(name, fields).ignore();
                        continue;
                    }
                    let (set, unset): (Vec<usize>, Vec<usize>) =
                        self.value_cols.iter().partition(|&&i| !row[i].is_null());
                    let pairs: Vec<(&str, String)> = set
                        .iter()
                        .map(|&i| (self.schema.fields[i].name.as_str(), cell(&row[i])))
                        .collect();
                    if !pairs.is_empty() {
                        p.hset_multiple(name, &pairs).ignore();
                    }
                    let gone: Vec<&str> = unset
                        .iter()
                        .map(|&i| self.schema.fields[i].name.as_str())
                        .collect();
                    if !gone.is_empty() {
                        p.hdel(name, gone).ignore();
                    }
                }
            }
        }
        if let (Some(ttl), Layout::Table { name, .. } | Layout::Columns { name }) =
            (self.ttl, &self.layout)
        {
            // Only when the hash has no time to live yet: set once, when it is created.
            p.cmd("EXPIRE").arg(name).arg(ttl).arg("NX").ignore();
        }
        p
    }
}

impl Sink for RedisSink {
    fn flush(&mut self, changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let pipe = self.pipeline(changes);
        if self.conn.is_none() {
            self.conn = Some(connect(&self.client)?);
        }
        let conn = self.conn.as_mut().expect("connected");
        pipe.query::<()>(conn).map_err(|e| {
            let e = classify(e);
            if e.is_retryable() {
                self.conn = None;
            }
            e
        })
    }
}

/// A dimension kept in hashes: every hash whose name matches the key template is a row; the
/// columns in the name come from it, the others from the hash's fields.
pub struct RedisReader {
    table: String,
    client: Client,
    conn: Option<Connection>,
    pattern: String,
    name: regex::Regex,
    /// For each column: the capture group of the key name that holds it, if any.
    from_key: Vec<Option<usize>>,
    schema: Schema,
    metrics: Arc<Metrics>,
}

/// Opens a Redis dimension, re-read every `poll_ms` by worker 0.
pub fn open_dimension(
    table: &str,
    url: &Secret,
    key: &str,
    schema: &Schema,
    worker: WorkerInfo,
    poll_ms: u64,
    metrics: Arc<Metrics>,
) -> Result<Box<dyn Source>, ConnectorError> {
    if worker.index != 0 {
        return Ok(Box::new(PolledTable::idle()));
    }
    let reader = RedisReader::open(table, url, key, schema, metrics.clone())?;
    Ok(Box::new(PolledTable::new(
        table,
        Box::new(reader),
        poll_ms,
        metrics,
    )))
}

impl RedisReader {
    pub fn open(
        table: &str,
        url: &Secret,
        key: &str,
        schema: &Schema,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConnectorError> {
        let template = Template::parse(key, schema)
            .map_err(|e| ConnectorError::Other(format!("table {table}: {e}")))?;
        let mut pattern = String::new();
        let mut re = String::from("^");
        let mut from_key = vec![None; schema.len()];
        for (group, part) in template.parts().into_iter().enumerate() {
            match part {
                Err(col) => {
                    pattern.push('*');
                    re.push_str("(.*?)");
                    from_key[col] = Some(group);
                }
                Ok(text) => {
                    for c in text.chars() {
                        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                            pattern.push('\\');
                        }
                        pattern.push(c);
                    }
                    re.push('(');
                    re.push_str(&regex::escape(text));
                    re.push(')');
                }
            }
        }
        re.push('$');
        let name = regex::Regex::new(&re)
            .map_err(|e| ConnectorError::Other(format!("table {table}: {e}")))?;
        let client = client(url)?;
        let conn = Some(connect(&client)?);
        Ok(RedisReader {
            table: table.to_string(),
            client,
            conn,
            pattern,
            name,
            from_key,
            schema: schema.clone(),
            metrics,
        })
    }

    fn read_rows(&mut self) -> Result<Vec<Row>, ConnectorError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.client)?);
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&self.pattern)
                .arg("COUNT")
                .arg(1000)
                .query(conn)
                .map_err(classify)?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        let mut p = redis::pipe();
        for k in &keys {
            p.hgetall(k);
        }
        let hashes: Vec<HashMap<String, String>> = p.query(conn).map_err(classify)?;
        let mut rows = Vec::new();
        'keys: for (k, fields) in keys.iter().zip(hashes) {
            let Some(caps) = self.name.captures(k) else {
                continue;
            };
            let mut row = Vec::with_capacity(self.schema.len());
            for (i, f) in self.schema.fields.iter().enumerate() {
                let text = match self.from_key[i] {
                    Some(g) => caps.get(g + 1).map(|m| m.as_str()),
                    None => fields.get(&f.name).map(String::as_str),
                };
                match text {
                    None => row.push(Value::Null),
                    Some(t) => match parse_value(t, &f.ty) {
                        Some(v) => row.push(v),
                        None => {
                            self.metrics.bad_row(
                                &self.table,
                                &format!("field {} is not a valid {}", f.name, f.ty),
                                k,
                            );
                            continue 'keys;
                        }
                    },
                }
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

impl TableReader for RedisReader {
    fn read(&mut self) -> Result<Vec<Row>, ConnectorError> {
        self.read_rows().inspect_err(|e| {
            if e.is_retryable() {
                self.conn = None;
            }
        })
    }
}
