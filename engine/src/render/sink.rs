//! Sinks: a result table kept by key on the worker that writes it, flushed as upserts and
//! deletes every `flush.ms` and when the input ends.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

use tally_connectors::{open_sink, Change, Sink};
use tally_sql::plan::SinkPlan;
use tally_sql::Row;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::{Capability, Operator, Probe};
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use super::{hash_values, Rows, Shared};

/// The content of a result table and what changed since the last flush.
pub struct Table {
    key: Option<Vec<usize>>,
    /// The hidden window-start column of `SinkPlan::version`.
    version: Option<usize>,
    /// Keyed tables: key -> row. Whole-row tables: row -> multiplicity (key = row).
    rows: BTreeMap<Row, (Row, i64)>,
    /// For each key changed since the last flush, the row the sink last saw.
    before: HashMap<Row, Option<(Row, i64)>>,
}

impl Table {
    pub fn new(key: Option<Vec<usize>>, version: Option<usize>) -> Self {
        Table {
            key,
            version,
            rows: BTreeMap::new(),
            before: HashMap::default(),
        }
    }

    fn key_of(&self, row: &Row) -> Row {
        match &self.key {
            Some(cols) => cols.iter().map(|&i| row[i].clone()).collect(),
            None => row.clone(),
        }
    }

    fn remember(&mut self, key: &Row) {
        if !self.before.contains_key(key) {
            let prior = self.rows.get(key).cloned();
            self.before.insert(key.clone(), prior);
        }
    }

    /// Applies one epoch's consolidated updates: retractions first, then additions.
    pub fn apply(&mut self, mut updates: Vec<(Row, i64)>) {
        updates.sort_by_key(|(_, d)| *d > 0);
        for (row, diff) in updates {
            let key = self.key_of(&row);
            self.remember(&key);
            if self.key.is_none() {
                let entry = self.rows.entry(key.clone()).or_insert((row, 0));
                entry.1 += diff;
                if entry.1 <= 0 {
                    self.rows.remove(&key);
                }
            } else if diff > 0 {
                let older = |v: usize| {
                    self.rows
                        .get(&key)
                        .is_some_and(|(cur, _)| cur.get(v) > row.get(v))
                };
                if !self.version.is_some_and(older) {
                    self.rows.insert(key, (row, 1));
                }
            } else if self.rows.get(&key).is_some_and(|(r, _)| *r == row) {
                self.rows.remove(&key);
            }
        }
    }

    fn visible(&self, row: &Row) -> Row {
        match self.version {
            Some(v) => row[..v].to_vec(),
            None => row.clone(),
        }
    }

    /// The changes since the last flush, in key order; resets them.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut keys: Vec<(Row, Option<(Row, i64)>)> = self.before.drain().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut changes = Vec::new();
        for (key, before) in keys {
            let now = self.rows.get(&key);
            match (before, now) {
                (None, None) => {}
                (Some((old, n)), None) => {
                    changes.extend(std::iter::repeat_n(Change::Delete(old), n as usize))
                }
                (None, Some((new, n))) => changes.extend(std::iter::repeat_n(
                    Change::Insert(new.clone()),
                    *n as usize,
                )),
                (Some((old, n)), Some((new, m))) => {
                    if self.key.is_none() {
                        if *m > n {
                            changes.extend(std::iter::repeat_n(
                                Change::Insert(new.clone()),
                                (*m - n) as usize,
                            ));
                        } else if n > *m {
                            changes.extend(std::iter::repeat_n(
                                Change::Delete(old),
                                (n - *m) as usize,
                            ));
                        }
                    } else if old != *new {
                        changes.push(Change::Update(new.clone()));
                    }
                }
            }
        }
        if self.version.is_some() {
            for c in &mut changes {
                let (Change::Insert(r) | Change::Update(r) | Change::Delete(r)) = c;
                *r = self.visible(r);
            }
        }
        changes
    }

    pub fn len(&self) -> usize {
        self.rows.values().map(|(_, n)| *n as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows in key order, each as often as it occurs (without the hidden column).
    pub fn rows(&self) -> Vec<Row> {
        self.rows
            .values()
            .flat_map(|(r, n)| std::iter::repeat_n(self.visible(r), *n as usize))
            .collect()
    }
}

/// Sums the diffs of equal rows, keeping the rows in the order they first came: rows of one key
/// that came in one epoch (a keyed stream, `WITH col AS KEY`) are applied in arrival order, so
/// the last one wins.
fn consolidate_in_order(updates: &mut Vec<(Row, i64)>) {
    let mut first: HashMap<Row, usize> = HashMap::default();
    let mut out: Vec<(Row, i64)> = Vec::with_capacity(updates.len());
    for (row, diff) in updates.drain(..) {
        match first.get(&row) {
            Some(&i) => out[i].1 += diff,
            None => {
                first.insert(row.clone(), out.len());
                out.push((row, diff));
            }
        }
    }
    out.retain(|(_, d)| *d != 0);
    *updates = out;
}

/// Applies one flush, retrying with back-off while the server is unavailable: the worker (and
/// with it every source, through the progress the sink holds back) waits; nothing is dropped.
/// Each flush is idempotent (upserts and deletes by key), so repeating one is safe.
fn flush_with_retry(
    sink: &mut dyn Sink,
    table: &str,
    changes: &[Change],
    rows: &[Row],
) -> Result<(), tally_connectors::ConnectorError> {
    use backon::{BlockingRetryable, ExponentialBuilder};
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times();
    (|| sink.flush(changes, rows))
        .retry(policy)
        .sleep(std::thread::sleep)
        .when(|e| e.is_retryable())
        .notify(|e, wait| {
            tracing::warn!("sink {table}: {e}; retrying in {wait:?} (the job waits)");
        })
        .call()
}

pub fn render<'s>(
    scope: Scope<'s, u64>,
    rows: Rows<'s>,
    plan: &SinkPlan,
    shared: &Shared,
    probes: &Probes,
) {
    let plan = plan.clone();
    let shared = shared.clone();
    // Server sinks are written by the worker that owns each key; file-like ones by worker 0.
    let partitioned = plan.config.partitioned();
    let route_key = plan.key.clone();
    let to_writer = ExchangePact::new(move |(row, _, _): &(Row, u64, isize)| {
        if !partitioned {
            return 0u64;
        }
        match &route_key {
            Some(cols) => {
                let k: Row = cols.iter().map(|&i| row[i].clone()).collect();
                hash_values(&k)
            }
            None => hash_values(row),
        }
    });
    // The rows reaching the sink: the worker loop paces its sources on this.
    let out: StreamVec<'s, u64, ()> = rows
        .inner
        .probe_with(&probes.pace)
        .unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            to_writer,
            "Sink",
            move |cap, info| {
                let activator = scope.activator_for(info.address.clone());
                // Held at the earliest epoch whose effects are not yet written, so that the
                // `applied` probe tells sources what the sinks have applied.
                let mut held: Option<Capability<u64>> = Some(cap);
                let mut stash: BTreeMap<u64, Vec<(Row, i64)>> = BTreeMap::new();
                let mut table = Table::new(plan.key.clone(), plan.version);
                let mut sink: Option<Box<dyn Sink>> = None;
                let flush_every = Duration::from_millis(plan.options.flush_ms.max(1));
                let mut last_flush = Instant::now();
                let mut dirty = false;
                let mut unflushed: Option<u64> = None;
                let writer = partitioned || shared.worker.index == 0;
                let visible_width = plan.version.unwrap_or(plan.schema.len());
                let key_cols: Option<Vec<usize>> = plan
                    .key
                    .as_ref()
                    .map(|k| k.iter().copied().filter(|&i| i < visible_width).collect());
                if writer {
                    // Opened at the start, so a wrong setting or an unreachable server is
                    // reported before any row is read.
                    match open_sink(&plan.table, &plan.config, &plan.schema, key_cols.as_deref()) {
                        Ok(s) => sink = Some(s),
                        Err(e) => shared.fail(format!("sink {}: {e}", plan.table)),
                    }
                }

                move |(input, frontier), _output| {
                    // Updates are grouped by their own time: a message's capability can be earlier.
                    input.for_each(|_cap, batch| {
                        for (r, t, d) in batch.drain(..) {
                            stash.entry(t).or_default().push((r, d as i64));
                        }
                    });
                    let limit = frontier.frontier().as_option().copied();
                    while let Some((&epoch, _)) = stash.first_key_value() {
                        if limit.is_some_and(|f| epoch >= f) {
                            break;
                        }
                        let mut updates = stash.pop_first().expect("non-empty").1;
                        consolidate_in_order(&mut updates);
                        if !updates.is_empty() {
                            table.apply(updates);
                            dirty = true;
                            unflushed.get_or_insert(epoch);
                        }
                    }
                    let finished = limit.is_none();
                    if let Some(s) = sink.as_mut().filter(|_| writer) {
                        if (dirty || (finished && !s.written()))
                            && (finished || last_flush.elapsed() >= flush_every)
                        {
                            let changes = table.take_changes();
                            let rows = if s.needs_table() {
                                table.rows()
                            } else {
                                Vec::new()
                            };
                            match flush_with_retry(&mut **s, &plan.table, &changes, &rows) {
                                Ok(()) => {
                                    shared.metrics.result_rows.fetch_add(
                                        changes.len() as u64,
                                        std::sync::atomic::Ordering::Relaxed,
                                    );
                                }
                                Err(e) => shared.fail(format!("sink {}: {e}", plan.table)),
                            }
                            dirty = false;
                            unflushed = None;
                            last_flush = Instant::now();
                        }
                    } else {
                        dirty = false;
                        unflushed = None;
                    }
                    if dirty {
                        activator.activate_after(flush_every.saturating_sub(last_flush.elapsed()));
                    }
                    let target = match (limit, unflushed) {
                        (Some(f), Some(u)) => Some(f.min(u)),
                        (Some(f), None) => Some(f),
                        (None, Some(u)) => Some(u),
                        (None, None) => None,
                    };
                    match (target, held.as_mut()) {
                        (Some(f), Some(cap)) if *cap.time() < f => cap.downgrade(&f),
                        (None, _) => held = None,
                        _ => {}
                    }
                }
            },
        );
    out.probe_with(&probes.applied);
}

/// The probes the worker loop reads.
#[derive(Clone)]
pub struct Probes {
    /// Rows that reached the sinks: sources run at most a few epochs ahead of it.
    pub pace: ProbeHandle<u64>,
    /// Epochs whose effects every sink has written.
    pub applied: ProbeHandle<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_sql::Value;

    fn r(k: &str, v: i64) -> Row {
        vec![Value::str(k), Value::Int(v)]
    }

    #[test]
    fn keyed_table_reports_upserts_once_per_flush() {
        let mut t = Table::new(Some(vec![0]), None);
        t.apply(vec![(r("a", 1), 1), (r("b", 1), 1)]);
        t.apply(vec![(r("a", 1), -1), (r("a", 2), 1)]);
        assert_eq!(
            t.take_changes(),
            vec![Change::Insert(r("a", 2)), Change::Insert(r("b", 1))]
        );
        t.apply(vec![(r("a", 2), -1), (r("a", 3), 1)]);
        t.apply(vec![(r("b", 1), -1)]);
        assert_eq!(
            t.take_changes(),
            vec![Change::Update(r("a", 3)), Change::Delete(r("b", 1))]
        );
        // A change that is undone within one flush is not reported.
        t.apply(vec![(r("a", 3), -1), (r("a", 4), 1)]);
        t.apply(vec![(r("a", 4), -1), (r("a", 3), 1)]);
        assert_eq!(t.take_changes(), vec![]);
        assert_eq!(t.rows(), vec![r("a", 3)]);
    }

    #[test]
    fn whole_row_tables_are_multisets() {
        let mut t = Table::new(None, None);
        t.apply(vec![(r("a", 1), 2)]);
        assert_eq!(t.take_changes().len(), 2);
        t.apply(vec![(r("a", 1), -1)]);
        assert_eq!(t.take_changes(), vec![Change::Delete(r("a", 1))]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_versioned_table_keeps_the_newest_window() {
        let w =
            |k: &str, v: i64, window: i64| vec![Value::str(k), Value::Int(v), Value::Int(window)];
        let mut t = Table::new(Some(vec![0]), Some(2));
        t.apply(vec![(w("x", 1, 0), 1)]);
        t.apply(vec![(w("x", 5, 60), 1)]);
        // A revision of the older window does not replace the newer one.
        t.apply(vec![(w("x", 1, 0), -1), (w("x", 2, 0), 1)]);
        assert_eq!(t.rows(), vec![r("x", 5)]);
        assert_eq!(t.take_changes(), vec![Change::Insert(r("x", 5))]);
    }
}
