//! A changing table read whole, again and again (a dimension in MySQL, PostgreSQL or Redis):
//! the first read is the table as it stands when the job starts (epoch 0); each later read sends
//! only the rows that appeared and the rows that left.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_sql::Row;

use crate::{now_ms, ConnectorError, Metrics, Poll, Source};

/// Reads the whole table, as typed rows.
pub trait TableReader: Send {
    fn read(&mut self) -> Result<Vec<Row>, ConnectorError>;
}

pub struct PolledTable {
    table: String,
    reader: Option<Box<dyn TableReader>>,
    every: Duration,
    next: Instant,
    /// The rows of the last read, with their multiplicities.
    current: HashMap<Row, usize>,
    first: bool,
    deletes: Vec<Row>,
    metrics: Option<Arc<Metrics>>,
    failing: bool,
}

impl PolledTable {
    pub fn new(
        table: &str,
        reader: Box<dyn TableReader>,
        poll_ms: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        PolledTable {
            table: table.to_string(),
            reader: Some(reader),
            every: Duration::from_millis(poll_ms.max(1)),
            next: Instant::now(),
            current: HashMap::new(),
            first: true,
            deletes: Vec::new(),
            metrics: Some(metrics),
            failing: false,
        }
    }

    /// A worker's share when another worker reads the table.
    pub fn idle() -> Self {
        PolledTable {
            table: String::new(),
            reader: None,
            every: Duration::from_secs(1),
            next: Instant::now(),
            current: HashMap::new(),
            first: false,
            deletes: Vec::new(),
            metrics: None,
            failing: false,
        }
    }
}

impl Source for PolledTable {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(Poll::Done);
        };
        if Instant::now() < self.next {
            return Ok(Poll::Idle);
        }
        self.next = Instant::now() + self.every;
        let rows = match reader.read() {
            Ok(r) => r,
            // The rows as the job starts are needed; later a failed read keeps the last rows.
            Err(e) if self.first || !e.is_retryable() => {
                return Err(ConnectorError::Other(format!("table {}: {e}", self.table)))
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(
                        "dimension {}: {e}; keeping its last rows and retrying every {:?}",
                        self.table,
                        self.every
                    );
                }
                self.failing = true;
                return Ok(Poll::Idle);
            }
        };
        if self.failing {
            tracing::info!("dimension {}: read again", self.table);
            self.failing = false;
        }
        let mut fresh: HashMap<Row, usize> = HashMap::new();
        for row in rows {
            *fresh.entry(row).or_default() += 1;
        }
        let before = out.len();
        for (row, &n) in &fresh {
            let had = self.current.get(row).copied().unwrap_or(0);
            out.extend(std::iter::repeat_n(row.clone(), n.saturating_sub(had)));
        }
        for (row, &n) in &self.current {
            let left = fresh.get(row).copied().unwrap_or(0);
            self.deletes
                .extend(std::iter::repeat_n(row.clone(), n.saturating_sub(left)));
        }
        self.current = fresh;
        let epoch = if self.first { 0 } else { now_ms() };
        let changed = self.first || out.len() > before || !self.deletes.is_empty();
        self.first = false;
        if let Some(m) = &self.metrics {
            m.rows_in.fetch_add(
                (out.len() - before) as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Ok(if changed {
            Poll::Batch { epoch }
        } else {
            Poll::Idle
        })
    }

    fn next_epoch(&self) -> u64 {
        if self.first {
            0
        } else {
            now_ms()
        }
    }

    fn take_deletes(&mut self, out: &mut Vec<Row>) {
        out.append(&mut self.deletes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_sql::Value;

    struct Script(Vec<Vec<Row>>);

    impl TableReader for Script {
        fn read(&mut self) -> Result<Vec<Row>, ConnectorError> {
            if self.0.is_empty() {
                return Err(ConnectorError::Unavailable("gone".into()));
            }
            Ok(self.0.remove(0))
        }
    }

    fn rows(rows: &[(&str, i64)]) -> Vec<Row> {
        rows.iter()
            .map(|(k, v)| vec![Value::str(k), Value::Int(*v)])
            .collect()
    }

    #[test]
    fn a_polled_table_sends_only_differences() {
        let reads = vec![
            rows(&[("a", 1), ("b", 2)]),
            rows(&[("a", 1), ("b", 3)]),
            rows(&[("b", 3)]),
        ];
        let mut t = PolledTable::new("dim", Box::new(Script(reads)), 1, Arc::default());
        let mut out = Vec::new();
        let mut del = Vec::new();
        assert_eq!(t.poll(&mut out).unwrap(), Poll::Batch { epoch: 0 });
        assert_eq!(out.len(), 2);
        out.clear();
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(t.poll(&mut out).unwrap(), Poll::Batch { .. }));
        t.take_deletes(&mut del);
        assert_eq!(out, rows(&[("b", 3)]));
        assert_eq!(del, rows(&[("b", 2)]));
        out.clear();
        del.clear();
        std::thread::sleep(Duration::from_millis(2));
        t.poll(&mut out).unwrap();
        t.take_deletes(&mut del);
        assert!(out.is_empty());
        assert_eq!(del, rows(&[("a", 1)]));
        // A read that fails keeps the last rows and the job going.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(t.poll(&mut out).unwrap(), Poll::Idle);
    }
}
