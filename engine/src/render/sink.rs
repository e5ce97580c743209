//! Sinks: a result table kept by key on the worker that writes it, flushed as upserts and
//! deletes every `flush.ms` and when the input ends.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

use differential_dataflow::consolidation::consolidate;
use tally_connectors::{open_sink, Change, Sink};
use tally_sql::plan::SinkPlan;
use tally_sql::Row;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::{Capability, Operator, Probe};
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use super::{Rows, Shared};

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

pub fn render<'s>(
    scope: Scope<'s, u64>,
    rows: Rows<'s>,
    plan: &SinkPlan,
    shared: &Shared,
    probe: &ProbeHandle<u64>,
) {
    let plan = plan.clone();
    let shared = shared.clone();
    let to_writer = ExchangePact::new(|_: &(Row, u64, isize)| 0u64);
    let out: StreamVec<'s, u64, ()> = rows
        .inner
        .unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            to_writer,
            "Sink",
            move |cap, info| {
                let activator = scope.activator_for(info.address.clone());
                let mut held: Option<Capability<u64>> = Some(cap);
                let mut stash: BTreeMap<u64, Vec<(Row, i64)>> = BTreeMap::new();
                let mut table = Table::new(plan.key.clone(), plan.version);
                let mut sink: Option<Box<dyn Sink>> = None;
                let flush_every = Duration::from_millis(plan.options.flush_ms.max(1));
                let mut last_flush = Instant::now();
                let mut dirty = false;
                let writer = shared.worker.index == 0;

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
                        consolidate(&mut updates);
                        if !updates.is_empty() {
                            table.apply(updates);
                            dirty = true;
                        }
                    }
                    let finished = limit.is_none();
                    if writer
                        && (dirty || (finished && sink.is_none()))
                        && (finished || last_flush.elapsed() >= flush_every)
                    {
                        let changes = table.take_changes();
                        let result = match sink.as_mut() {
                            Some(s) => Ok(s),
                            None => open_sink(&plan.table, &plan.config, &plan.schema)
                                .map(|s| sink.insert(s)),
                        };
                        let flushed = result.and_then(|s| {
                            let rows = if s.needs_table() {
                                table.rows()
                            } else {
                                Vec::new()
                            };
                            s.flush(&changes, &rows)
                        });
                        match flushed {
                            Ok(()) => {
                                shared.metrics.result_rows.fetch_add(
                                    changes.len() as u64,
                                    std::sync::atomic::Ordering::Relaxed,
                                );
                            }
                            Err(e) => shared.fail(format!("sink {}: {e}", plan.table)),
                        }
                        dirty = false;
                        last_flush = Instant::now();
                    }
                    if dirty {
                        activator.activate_after(flush_every.saturating_sub(last_flush.elapsed()));
                    }
                    match (limit, held.as_mut()) {
                        (Some(f), Some(cap)) if *cap.time() < f => cap.downgrade(&f),
                        (None, _) => held = None,
                        _ => {}
                    }
                }
            },
        );
    out.probe_with(probe);
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
