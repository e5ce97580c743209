//! Sinks: a result table kept by key on the worker that writes it, flushed as upserts and
//! deletes every `flush.ms` and when the input ends.

pub mod wal;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::time::{Duration, Instant};

use tally_connectors::{open_sink, Change, Sink};
use tally_sql::plan::SinkPlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::Probe;
use timely::dataflow::ProbeHandle;

use super::delta_map::DeltaMap;
use super::epoch_op::{self, EpochState, Settle, Watermarks};
use super::{hash_values, Rows, Shared, WatermarkFeed};
use crate::results::Results;
use std::sync::Arc;

/// Which rows of a table become final when: see [`Table::forgetting_final_rows`].
#[derive(serde::Serialize, serde::Deserialize)]
struct Frozen {
    /// The window size (ms).
    size: i64,
    /// Keys by the end of their row's window. Not in a snapshot: made again from the rows when
    /// one is restored ([`Table::index`]).
    #[serde(skip)]
    by_end: BTreeMap<i64, Vec<Row>>,
    /// Final keys whose last change waits for a flush.
    deferred: Vec<Row>,
    /// The highest watermark rows were forgotten at: a key whose window ended at or before it
    /// and that the table no longer holds was final, and written, before it was forgotten.
    through: Option<i64>,
}

/// The content of a result table and what changed since the last flush.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Table {
    key: Option<Vec<usize>>,
    /// The hidden window-start column of `SinkPlan::version`.
    version: Option<usize>,
    /// `SinkPlan::frozen_after_ms`: keys by the end of their row's window, to forget rows
    /// whose window is final.
    frozen: Option<Frozen>,
    /// Keyed tables: key -> row. Whole-row tables: row -> multiplicity (key = row). Hashed:
    /// every result row is looked up a few times as it comes, while key order is needed only
    /// when a whole table is written ([`Table::rows`]).
    rows: DeltaMap<Row, (Row, i64)>,
    /// For each key changed since the last flush, the row the sink last saw.
    before: HashMap<Row, Option<(Row, i64)>>,
    /// Keys whose row at the server is not known (written after the checkpoint this table was
    /// restored from, by the run that crashed): the next flush writes them whatever they hold,
    /// with the last row written for each (to delete it by). Part of a snapshot: a checkpoint
    /// taken before they are written must still write them after a restart from it.
    forced: HashMap<Row, Row>,
}

impl Table {
    pub fn new(key: Option<Vec<usize>>, version: Option<usize>) -> Self {
        Table {
            key,
            version,
            frozen: None,
            rows: DeltaMap::default(),
            before: HashMap::default(),
            forced: HashMap::default(),
        }
    }

    /// The server may hold any of these rows (sink rows, as written): the next flush writes
    /// each of their keys again (its row now, or a delete).
    pub fn force(&mut self, written: Vec<Row>) {
        for row in written {
            let key = self.key_of(&row);
            self.forced.insert(key, row);
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
                let entry = self.rows.get_or_insert_with(key.clone(), || (row, 0));
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
                    if let (Some(frozen), Some(Value::Int(start))) =
                        (self.frozen.as_mut(), self.version.and_then(|v| row.get(v)))
                    {
                        if !self.rows.contains_key(&key) {
                            frozen
                                .by_end
                                .entry(start + frozen.size)
                                .or_default()
                                .push(key.clone());
                        }
                    }
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

    /// The changes since the last flush, in key order, as the sink writes them; resets them.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut changes = self.take_full_changes();
        self.hide_version(&mut changes);
        changes
    }

    /// Cuts the hidden version column off rows of [`Table::take_full_changes`].
    pub fn hide_version(&self, changes: &mut [Change]) {
        if let Some(v) = self.version {
            for c in changes {
                let (Change::Insert(r) | Change::Update(r) | Change::Delete(r)) = c;
                r.truncate(v);
            }
        }
    }

    /// Whether a forced key the table does not hold was forgotten as final (the server holds
    /// its final row, written before the table forgot it), judged by the row last written for
    /// it (with its hidden window-start column).
    fn forgotten_as_final(&self, written: &Row) -> bool {
        match (&self.frozen, self.version) {
            (Some(f), Some(v)) => match (f.through, written.get(v)) {
                (Some(through), Some(Value::Int(start))) => start + f.size <= through,
                _ => false,
            },
            _ => false,
        }
    }

    /// The changes since the last flush with the hidden version column (the write-ahead log
    /// keeps it: a restarted run reads a row's window from it); resets them.
    pub fn take_full_changes(&mut self) -> Vec<Change> {
        let mut keys: Vec<(Row, Option<(Row, i64)>)> = self.before.drain().collect();
        keys.retain(|(k, _)| !self.forced.contains_key(k));
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut changes = Vec::new();
        let mut forced: Vec<(Row, Row)> = self.forced.drain().collect();
        forced.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, written) in forced {
            match self.rows.get(&key) {
                Some((now, _)) => changes.push(Change::Update(now.clone())),
                // A final row the table forgot is on the server already, and the delete would
                // lose it for good: its window never changes again.
                None if self.forgotten_as_final(&written) => {}
                None => changes.push(Change::Delete(written)),
            }
        }
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
        changes
    }

    /// Forgets rows of windows whose end is at or before `watermark` (only those with no change
    /// waiting for a flush): they never change again. For tables made with
    /// [`Table::forgetting_final_rows`].
    pub fn forget_final(&mut self, watermark: i64) -> usize {
        let Some(Frozen {
            by_end,
            deferred,
            through,
            ..
        }) = self.frozen.as_mut()
        else {
            return 0;
        };
        *through = (*through).max(Some(watermark));
        let mut forgotten = 0;
        // Keys already final at an earlier call whose last change has been flushed since.
        let (before, forced) = (&self.before, &self.forced);
        let pending = |key: &Row| before.contains_key(key) || forced.contains_key(key);
        let rows = &mut self.rows;
        deferred.retain(|key| {
            if pending(key) {
                return true;
            }
            forgotten += rows.remove(key).is_some() as usize;
            false
        });
        while let Some((&end, _)) = by_end.first_key_value() {
            if end > watermark {
                break;
            }
            for key in by_end.pop_first().expect("non-empty").1 {
                if pending(&key) {
                    // Its last change is not written yet: forget it after the next flush.
                    deferred.push(key);
                } else if rows.remove(&key).is_some() {
                    forgotten += 1;
                }
            }
        }
        forgotten
    }

    /// Makes the keys by window end again from the rows (after a restore), leaving out the
    /// final keys that wait for a flush.
    pub fn index(&mut self) {
        let (Some(f), Some(v)) = (self.frozen.as_mut(), self.version) else {
            return;
        };
        f.by_end.clear();
        let deferred: std::collections::HashSet<&Row> = f.deferred.iter().collect();
        for (key, (row, _)) in self.rows.iter() {
            if let (Some(Value::Int(start)), false) = (row.get(v), deferred.contains(key)) {
                f.by_end
                    .entry(start + f.size)
                    .or_default()
                    .push(key.clone());
            }
        }
    }

    /// Applies `newer`, the table of an incremental snapshot after this one's.
    pub fn absorb(&mut self, newer: Table) {
        let Table {
            rows,
            key,
            version,
            frozen,
            before,
            forced,
        } = newer;
        self.rows.absorb(rows);
        self.key = key;
        self.version = version;
        self.frozen = frozen;
        self.before = before;
        self.forced = forced;
    }

    /// Makes the table forget rows whose window (of `size_ms`, read from the version column)
    /// is final; see [`Table::forget_final`].
    pub fn forgetting_final_rows(mut self, size_ms: u64) -> Self {
        if self.version.is_some() && self.key.is_some() {
            self.frozen = Some(Frozen {
                size: size_ms as i64,
                by_end: BTreeMap::new(),
                deferred: Vec::new(),
                through: None,
            });
        }
        self
    }

    /// The keys `mine` keeps of every worker's table (restored at another worker count).
    pub fn merged(
        key: Option<Vec<usize>>,
        version: Option<usize>,
        parts: Vec<Table>,
        mine: impl Fn(&Row) -> bool,
    ) -> Table {
        let mut table = Table::new(key, version);
        for t in parts {
            table
                .rows
                .extend(t.rows.into_iter().filter(|(k, _)| mine(k)));
            table
                .before
                .extend(t.before.into_iter().filter(|(k, _)| mine(k)));
            table
                .forced
                .extend(t.forced.into_iter().filter(|(k, _)| mine(k)));
            if let Some(f) = t.frozen {
                let into = table.frozen.get_or_insert_with(|| Frozen {
                    size: f.size,
                    by_end: BTreeMap::new(),
                    deferred: Vec::new(),
                    through: None,
                });
                // One watermark for the whole job: every worker's sink forgot up to about it.
                into.through = into.through.max(f.through);
                into.deferred
                    .extend(f.deferred.into_iter().filter(|k| mine(k)));
            }
        }
        table
    }

    pub fn len(&self) -> usize {
        self.rows.values().map(|(_, n)| *n as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row with its hidden column, each as often as it occurs, in no order.
    pub fn full_rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.rows
            .values()
            .flat_map(|(r, n)| std::iter::repeat_n(r.clone(), *n as usize))
    }

    /// The rows in key order, each as often as it occurs (without the hidden column).
    pub fn rows(&self) -> Vec<Row> {
        let mut by_key: Vec<(&Row, &(Row, i64))> = self.rows.iter().collect();
        by_key.sort_unstable_by(|a, b| a.0.cmp(b.0));
        by_key
            .into_iter()
            .flat_map(|(_, (r, n))| std::iter::repeat_n(self.visible(r), *n as usize))
            .collect()
    }
}

/// Sums the diffs of equal rows, keeping the rows in the order they first came: rows of one key
/// that came in one epoch (a keyed stream, `WITH col AS KEY`) are applied in arrival order, so
/// the last one wins.
fn consolidate_in_order(updates: &mut Vec<(Row, isize)>) -> Vec<(Row, i64)> {
    let mut first: HashMap<Row, usize> = HashMap::default();
    let mut out: Vec<(Row, i64)> = Vec::with_capacity(updates.len());
    for (row, diff) in updates.drain(..) {
        match first.get(&row) {
            Some(&i) => out[i].1 += diff as i64,
            None => {
                first.insert(row.clone(), out.len());
                out.push((row, diff as i64));
            }
        }
    }
    out.retain(|(_, d)| *d != 0);
    out
}

/// Applies one flush, retrying with back-off while the server is unavailable: the worker (and
/// with it every source, through the progress the sink holds back) waits; nothing is dropped.
/// Each flush is idempotent (upserts and deletes by key), so repeating one is safe.
fn flush_with_retry(
    sink: &mut dyn Sink,
    table: &str,
    changes: &[Change],
    rows: &[Row],
    metrics: &tally_connectors::Metrics,
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
            metrics.sink_retries.add(table, 1);
            metrics.sink_errors.add(table, 1);
            tracing::warn!("sink {table}: {e}; retrying in {wait:?} (the job waits)");
        })
        .call()
}

pub fn render<'s>(
    index: usize,
    rows: Rows<'s>,
    feed: Option<WatermarkFeed<'s>>,
    plan: &SinkPlan,
    shared: &Shared,
    probes: &Probes,
    persist: &epoch_op::Persist<'s>,
) {
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
    let writer = (partitioned || shared.worker.index == 0) && !shared.dry;
    let key_cols: Option<Vec<usize>> = plan.key.clone();
    let mut sink = None;
    if writer {
        // Opened while the dataflow is built, so a wrong setting or an unreachable server is
        // reported before any row is read.
        match open_sink(&plan.table, &plan.config, &plan.schema, key_cols.as_deref()) {
            Ok(s) => sink = Some(s),
            Err(e) => shared.fail(format!("sink {}: {e}", plan.table)),
        }
    }
    // A sink that forgets final rows follows its query's watermark; any other reads no maxima.
    // Decided from the plan alone: every worker must build the same operators.
    let (maxima, clocks) = match (plan.frozen_after_ms, feed) {
        (Some(_), Some(f)) => (
            Some(epoch_op::tag_maxima(f.maxima, 0)),
            vec![shared.clock(f.lateness, f.sources)],
        ),
        _ => (None, Vec::new()),
    };
    // `frozen_after_ms` is `None` for a sink that rewrites its whole table (CSV `final`).
    let mut table = Table::new(plan.key.clone(), plan.version);
    if let Some(size) = plan.frozen_after_ms.filter(|_| !clocks.is_empty()) {
        table = table.forgetting_final_rows(size);
    }
    // With checkpoints, a sink that upserts by key logs what it writes, and a run writes again
    // every key the logs say a crashed run may have written since the state it starts from.
    let id = format!("sink{index}");
    let mut wal = None;
    let mut forced = Vec::new();
    if let (Some(ck), Some(s)) = (shared.checkpoint.as_ref(), sink.as_ref()) {
        if s.upserts_by_key() {
            let root = ck.dir.join("sinks");
            wal = Some(wal::Wal::new(&root, &id, shared.worker.index, ck.segment));
            match wal::replay(&root, &id, ck.replay_from) {
                Ok(rows) => {
                    let (me, peers) = (shared.worker.index as u64, shared.worker.peers as u64);
                    let key_cols = plan.key.clone();
                    forced = rows
                        .into_iter()
                        .filter(|row| {
                            !partitioned
                                || match &key_cols {
                                    Some(cols) => {
                                        let k: Row = cols.iter().map(|&i| row[i].clone()).collect();
                                        hash_values(&k) % peers == me
                                    }
                                    None => hash_values(row) % peers == me,
                                }
                        })
                        .collect();
                }
                Err(e) => shared.fail(format!(
                    "sink {}: cannot read its write-ahead log under {}: {e}",
                    plan.table,
                    root.display()
                )),
            }
        }
    }
    let dirty = !forced.is_empty();
    table.force(forced.clone());
    let state = SinkState {
        partitioned,
        data: SinkData { table, mark: None },
        forced,
        wal,
        sink,
        name: plan.table.clone(),
        shared: shared.clone(),
        flush_every: Duration::from_millis(plan.options.flush_ms.max(1)),
        last_flush: Instant::now(),
        last_rewrite: Duration::ZERO,
        dirty,
        unflushed: None,
        watermark: None,
        view: shared.results.as_ref().map(|r| (r.clone(), index)),
    };
    // The rows reaching the sink: the worker loop paces its sources on this. The operator's
    // capability is held at the earliest epoch whose effects are not yet written, so that the
    // `applied` probe tells sources what the sinks have applied.
    let rows = rows.inner.probe_with(&probes.pace);
    epoch_op::render("Sink", id, rows, to_writer, maxima, clocks, state, persist)
        .probe_with(&probes.applied);
}

/// A sink's state: the result table, the connector it is flushed to (on the worker that writes
/// it), and when it was last flushed.
pub struct SinkState {
    /// Written by the worker of each key (servers), or by worker 0 (files).
    partitioned: bool,
    data: SinkData,
    /// Rows a crashed run may have written since the state this run starts from (from the
    /// write-ahead log): written again at the first flush.
    forced: Vec<Row>,
    wal: Option<wal::Wal>,
    /// `None` on a worker that does not write this sink (or when it could not be opened).
    sink: Option<Box<dyn Sink>>,
    name: String,
    shared: Shared,
    flush_every: Duration,
    last_flush: Instant,
    /// How long the last rewrite of a whole-table sink took (zero for others).
    last_rewrite: Duration,
    dirty: bool,
    /// The first epoch applied to the table since the last flush.
    unflushed: Option<u64>,
    /// The query's watermark over the epochs applied (a sink forgetting final rows).
    watermark: Option<i64>,
    /// With `--http`: the copy of the result the API serves, and this sink's place in it.
    view: Option<(Arc<Results>, usize)>,
}

/// What a sink's snapshot keeps: its table and how far its output stands.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SinkData {
    table: Table,
    /// [`Sink::mark`] after the last flush.
    mark: Option<u64>,
}

impl SinkState {
    /// Writes the changes since the last flush (`done`: the input is complete).
    fn flush(&mut self, done: bool) {
        let Some(s) = self.sink.as_mut() else { return };
        // A sink that rewrites the whole table (CSV `final`) waits ten times as long as its last
        // rewrite took, so rewriting a big table does not come to dominate the run.
        let every = self.flush_every.max(10 * self.last_rewrite);
        if !((self.dirty || (done && !s.written())) && (done || self.last_flush.elapsed() >= every))
        {
            return;
        }
        let started = Instant::now();
        let mut changes = self.data.table.take_full_changes();
        let rows = if s.needs_table() {
            self.data.table.rows()
        } else {
            Vec::new()
        };
        // The log first (with each row's window): a crash after the server has the rows must
        // find them in it.
        if let Some(w) = self.wal.as_mut() {
            let written: Vec<&Row> = changes
                .iter()
                .map(|(Change::Insert(r) | Change::Update(r) | Change::Delete(r))| r)
                .collect();
            if let Err(e) = w.append(&written) {
                self.shared.fail(format!(
                    "sink {}: cannot write its write-ahead log: {e}",
                    self.name
                ));
                return;
            }
        }
        // The API's copy of the result (`--http`) takes the flush as it is written.
        if let Some((r, i)) = &self.view {
            r.queries[*i].publish(&changes);
        }
        self.data.table.hide_version(&mut changes);
        match flush_with_retry(&mut **s, &self.name, &changes, &rows, &self.shared.metrics) {
            Ok(()) => {
                self.shared
                    .metrics
                    .flushed(&self.name, started.elapsed().as_secs_f64());
                self.data.mark = s.mark();
                self.shared
                    .metrics
                    .result_rows
                    .fetch_add(changes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.shared
                    .metrics
                    .written_by_sink
                    .add(&self.name, changes.len() as u64);
                let deletes = changes
                    .iter()
                    .filter(|c| matches!(c, Change::Delete(_)))
                    .count() as u64;
                let m = &self.shared.metrics;
                m.deletes_by_sink.add(&self.name, deletes);
                m.upserts_by_sink
                    .add(&self.name, changes.len() as u64 - deletes);
            }
            Err(e) => {
                self.shared.metrics.sink_errors.add(&self.name, 1);
                self.shared.fail(format!("sink {}: {e}", self.name))
            }
        }
        self.dirty = false;
        self.unflushed = None;
        self.last_flush = Instant::now();
        if s.needs_table() {
            self.last_rewrite = started.elapsed();
        }
    }
}

impl EpochState for SinkState {
    type In = Row;
    type Out = ();
    type Data = SinkData;

    fn data(&self) -> &SinkData {
        &self.data
    }

    /// The checkpoint's table, with the rows written since forced again; a change log is cut
    /// back to the checkpoint's length.
    fn restore(&mut self, data: SinkData) {
        self.data = data;
        self.data.table.index();
        self.data.table.force(self.forced.clone());
        if let (Some((r, i)), true) = (&self.view, self.sink.is_some()) {
            r.queries[*i].seed(self.data.table.full_rows());
        }
        self.dirty = true;
        if let Some(s) = self.sink.as_mut() {
            if let Err(e) = s.resume(self.data.mark) {
                self.shared.fail(format!("sink {}: {e}", self.name));
            }
        }
    }

    /// A partitioned sink's keys go to the workers that write them now; a sink written by one
    /// worker (a file) has all of them on worker 0.
    fn merge(&self, parts: Vec<SinkData>, worker: usize, peers: usize) -> SinkData {
        let partitioned = self.partitioned;
        let mine = |key: &Row| {
            if partitioned {
                super::owns(key, worker, peers)
            } else {
                worker == 0
            }
        };
        let mut mark = None;
        let tables: Vec<Table> = parts
            .into_iter()
            .map(|p| {
                mark = mark.or(p.mark);
                p.table
            })
            .collect();
        let table = Table::merged(
            self.data.table.key.clone(),
            self.data.table.version,
            tables,
            mine,
        );
        SinkData {
            table,
            mark: if worker == 0 || partitioned {
                mark
            } else {
                None
            },
        }
    }

    fn absorb(&self, data: &mut SinkData, newer: SinkData) {
        data.table.absorb(newer.table);
        data.mark = newer.mark;
    }

    fn snapshot_taken(&mut self, seq: u64) {
        if let Some(w) = self.wal.as_mut() {
            w.set_segment(seq);
        }
    }

    fn apply(
        &mut self,
        epoch: u64,
        updates: &mut Vec<(Row, isize)>,
        watermarks: Watermarks<'_>,
        _out: &mut Vec<((), isize)>,
    ) {
        if let Some(wm) = watermarks.after.first().copied().flatten() {
            self.watermark = Some(wm);
        }
        if self.sink.is_none() || updates.is_empty() {
            // A worker that does not write this sink reads nothing (every row is routed to
            // its writer).
            return;
        }
        let updates = consolidate_in_order(updates);
        if !updates.is_empty() {
            self.data.table.apply(updates);
            self.dirty = true;
            self.unflushed.get_or_insert(epoch);
        }
    }

    fn settle(&mut self, done: bool) -> Settle {
        if self.sink.is_none() {
            return Settle::default();
        }
        self.flush(done);
        // A window that ends at or before the watermark gets no more changes.
        if let Some(wm) = self.watermark {
            self.data.table.forget_final(wm);
        }
        let every = self.flush_every.max(10 * self.last_rewrite);
        Settle {
            hold: self.unflushed,
            wake_after: self
                .dirty
                .then(|| every.saturating_sub(self.last_flush.elapsed())),
        }
    }
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

    fn r(k: &str, v: i64) -> Row {
        vec![Value::str(k), Value::Int(v)]
    }

    /// A windowed result row: (app, window start, count), the start also in hidden column 3.
    fn w(app: &str, start: i64, n: i64) -> Row {
        vec![
            Value::str(app),
            Value::Int(start),
            Value::Int(n),
            Value::Int(start),
        ]
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
    fn rows_of_final_windows_are_forgotten_after_their_flush() {
        // (app, window start, count) with the window start also in the hidden column 3.
        let mut t = Table::new(Some(vec![0, 1]), Some(3)).forgetting_final_rows(60);
        t.apply(vec![(w("a", 0, 1), 1), (w("a", 60, 1), 1)]);
        // The window [0, 60) is final at 60, [60, 120) is not yet; nothing is flushed yet,
        // so nothing is forgotten.
        assert_eq!(t.forget_final(59), 0);
        assert_eq!(t.forget_final(60), 0);
        assert_eq!(t.take_changes().len(), 2);
        // After the flush the final row goes, the open one stays.
        assert_eq!(t.forget_final(60), 1);
        assert_eq!(t.len(), 1);
        // A row kept back by a pending change goes after the flush.
        t.apply(vec![(w("a", 60, 1), -1), (w("a", 60, 2), 1)]);
        assert_eq!(t.forget_final(500), 0);
        assert_eq!(
            t.take_changes(),
            vec![Change::Update(w("a", 60, 2)[..3].to_vec())]
        );
        assert_eq!(t.forget_final(500), 1);
        assert!(t.is_empty());
        // A table without the window in its key keeps its rows.
        let mut whole = Table::new(Some(vec![0]), Some(3)).forgetting_final_rows(60);
        let mut kept = Table::new(None, Some(3)).forgetting_final_rows(60);
        whole.apply(vec![(w("a", 0, 1), 1)]);
        kept.apply(vec![(w("a", 0, 1), 1)]);
        whole.take_changes();
        kept.take_changes();
        assert_eq!(kept.forget_final(1000), 0);
        assert_eq!(whole.forget_final(1000), 1);
    }

    #[test]
    fn forced_keys_are_written_again_whatever_they_hold() {
        // Restored from a checkpoint: a = 1, b = 1; the crashed run had written a = 5, b = 2
        // and c = 9 after it.
        let mut t = Table::new(Some(vec![0]), None);
        t.apply(vec![(r("a", 1), 1), (r("b", 1), 1)]);
        t.take_changes();
        t.force(vec![r("a", 5), r("b", 2), r("c", 9)]);
        // The restored run changes b back to what the crashed run had written.
        t.apply(vec![(r("b", 1), -1), (r("b", 2), 1)]);
        assert_eq!(
            t.take_changes(),
            vec![
                Change::Update(r("a", 1)),
                Change::Update(r("b", 2)),
                Change::Delete(r("c", 9)),
            ]
        );
        // Once written, a key is back to ordinary changes.
        t.apply(vec![(r("a", 1), -1), (r("a", 1), 1)]);
        assert_eq!(t.take_changes(), vec![]);
    }

    #[test]
    fn a_forced_key_forgotten_as_final_is_not_deleted() {
        // (app, window start, count, hidden window start); windows of 60.
        let mut t = Table::new(Some(vec![0, 1]), Some(3)).forgetting_final_rows(60);
        t.apply(vec![(w("a", 0, 3), 1), (w("a", 60, 1), 1)]);
        t.take_changes();
        // [0, 60) is final, written and forgotten; [60, 120) is open.
        assert_eq!(t.forget_final(60), 1);
        // The logs say a crashed run wrote both windows, and [120, 180), which the restored
        // state has not reached.
        t.force(vec![w("a", 0, 3), w("a", 60, 4), w("a", 120, 2)]);
        assert_eq!(
            t.take_full_changes(),
            vec![
                Change::Update(w("a", 60, 1)),
                Change::Delete(w("a", 120, 2))
            ]
        );
        // Restored at another worker count: the watermark it forgot at is kept.
        let mut t = Table::new(Some(vec![0, 1]), Some(3)).forgetting_final_rows(60);
        t.apply(vec![(w("a", 0, 3), 1)]);
        t.take_changes();
        t.forget_final(60);
        let mut merged = Table::merged(Some(vec![0, 1]), Some(3), vec![t], |_| true);
        merged.force(vec![w("a", 0, 3)]);
        assert_eq!(merged.take_changes(), vec![]);
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
