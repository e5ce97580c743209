//! `Node::Aggregate`: GROUP BY with aggregates, optionally in event-time windows.
//!
//! Rows are prepared where they are (group key, pane start, aggregate arguments), exchanged by
//! the hash of the group key, and folded into per-group panes of accumulators by
//! [`AggregateState`] in the epoch-operator frame ([`super::epoch_op`]). A pane is one aggr
//! window; ACCU and SW values are read from the panes they span when a row is emitted, so an
//! input row is touched once, not once per window it falls in. The state works epoch by epoch
//! once the epoch is complete, so the result does not depend on how rows were spread over
//! workers. The watermark is the largest event time seen in earlier epochs (over all workers:
//! each worker broadcasts the largest event time of each of its batches) minus the lateness.

use std::collections::{BTreeMap, BTreeSet};

/// hashbrown's map with FxHash, for `entry_ref`: a group is found (or made) with one hash of
/// its key, and no copy of the key when it is there already.
type HashMap<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

use std::sync::Arc;

use differential_dataflow::AsCollection;
use smallvec::SmallVec;
use tally_connectors::Metrics;
use tally_sql::catalog::Emit;
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::{AggCall, AggregatePlan, WindowMod, WindowPlan};
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;

use super::delta_map::{Absorb, DeltaBTree, DeltaMap};
use super::epoch_op::{self, EpochState, Watermarks};
use super::{hash_values, Rows, Shared, WatermarkFeed};
use crate::accum::{merged_value, Acc};

/// One aggr window of one group.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pane {
    accs: Vec<Acc>,
    /// Net number of input rows; the pane has an output row while it is above zero.
    rows: i64,
    /// The output row last emitted for this pane.
    emitted: Option<Row>,
    /// The pane's window is final.
    closed: bool,
}

impl Pane {
    /// The pane's window is final: no row changes it any more, and only the ACCU and SW
    /// windows that span it read it from now on. Its plain aggregates' values (a countd's
    /// distinct set: the bulk of a pane) and its last emitted row are freed, so a pane kept
    /// for an hour-long ACCU window costs its counters, not its sets.
    fn close(&mut self, aggs: &[AggCall]) {
        self.closed = true;
        self.emitted = None;
        for (acc, call) in self.accs.iter_mut().zip(aggs) {
            if call.window == WindowMod::Aggr {
                acc.release();
            }
        }
    }
}

/// The windows of a windowed aggregate, in ms.
#[derive(Clone, Copy)]
struct Spec {
    size: i64,
    /// How long after a window's end in event time its rows still count (ms).
    lateness: i64,
    accu: Option<i64>,
    sw: Option<i64>,
}

impl Spec {
    fn new(w: &WindowPlan) -> Spec {
        Spec {
            size: w.size_ms as i64,
            lateness: w.lateness_ms as i64,
            accu: w.accu_ms.map(|a| a as i64),
            sw: w.sw_ms.map(|s| s as i64),
        }
    }

    /// The first pane start covered by the `modifier` window of the aggr window at `start`.
    fn span_start(&self, modifier: WindowMod, start: i64) -> i64 {
        let end = start + self.size;
        match (modifier, self.accu, self.sw) {
            (WindowMod::Accu, Some(c), _) => (end - 1).div_euclid(c) * c,
            (WindowMod::Sw, _, Some(s)) => end - s,
            _ => start,
        }
    }

    /// The last pane start whose ACCU or SW span covers the pane at `start`.
    fn last_covering(&self, start: i64) -> i64 {
        let mut last = start;
        if let Some(s) = self.sw {
            last = last.max(start + s - self.size);
        }
        if let Some(c) = self.accu {
            last = last.max(start.div_euclid(c) * c + c - self.size);
        }
        last
    }

    /// When the pane at `start` can be freed: the end of the last window that spans it.
    fn retain_until(&self, start: i64) -> i64 {
        self.last_covering(start) + self.size
    }
}

/// A prepared row: group key, pane start (when windowed), arguments. Held inline for up to
/// four values, so the rows that cross from the worker that read them to the worker that owns
/// their group travel in the exchange's batches by value: no allocation per row on one thread
/// and free on another (which cost q1 at -w 2 a sixth of its time in the allocator).
pub type Prepared = SmallVec<[Value; 4]>;

/// [`render`]'s preparation of a row with checked evaluation: a row whose key, time or
/// argument fails is counted as bad and skipped.
fn prepare_checked(
    exprs: &[ScalarExpr],
    nkeys: usize,
    window: Option<&WindowPlan>,
    row: &Row,
    query: &str,
    metrics: &tally_connectors::Metrics,
) -> Option<(Prepared, i64)> {
    let mut out = Prepared::from_vec(super::try_eval_all(exprs, row, query, metrics)?);
    let mut event_time = 0;
    if let Some(w) = window {
        let (t, start) = super::pane_of(&out[nkeys], w.size_ms, row, query, metrics)?;
        event_time = t;
        out[nkeys] = Value::Int(start);
    }
    Some((out, event_time))
}
type Groups = DeltaMap<Row, Panes>;
/// A group's panes by start: a delta of the group holds only its panes that changed.
type Panes = DeltaBTree<i64, Pane>;

impl Absorb for Pane {
    fn absorb(&mut self, newer: Pane) {
        *self = newer;
    }
}

/// The output row of the pane at `start` of the group `key`.
fn output_row(key: &Row, start: i64, panes: &Panes, spec: Option<Spec>, aggs: &[AggCall]) -> Row {
    let pane = &panes[&start];
    let mut r = key.clone();
    if spec.is_some() {
        r.push(Value::Int(start));
    }
    for (i, call) in aggs.iter().enumerate() {
        let v = match (call.window, spec) {
            (WindowMod::Aggr, _) | (_, None) => pane.accs[i].value(call),
            (m, Some(spec)) => {
                let from = spec.span_start(m, start);
                merged_value(panes.range(from..=start).map(|(_, p)| &p.accs[i]), call)
            }
        };
        r.push(v);
    }
    r
}

pub fn render<'s>(
    rows: Rows<'s>,
    watermark_rows: Option<Rows<'s>>,
    plan: &AggregatePlan,
    label: &str,
    shared: &Shared,
    sources: Vec<usize>,
    (id, persist): (String, &epoch_op::Persist<'s>),
) -> (Rows<'s>, Option<WatermarkFeed<'s>>) {
    let keys = plan.keys.clone();
    let window = plan.window.clone();
    // One argument slot per distinct argument, as the plan numbers them.
    let arg_exprs: Vec<Option<ScalarExpr>> = plan.args.iter().cloned().map(Some).collect();
    let nkeys = keys.len();
    let metrics = shared.metrics.clone();
    let query = label.to_string();
    // An EXECUTE in a key or argument can fail a row: those rows are evaluated with checks.
    let can_fail = keys.iter().any(ScalarExpr::can_fail)
        || arg_exprs.iter().flatten().any(ScalarExpr::can_fail)
        || window.as_ref().is_some_and(|w| w.time.can_fail());
    // Keys, then the event time when windowed, then the arguments.
    let checked: Vec<ScalarExpr> = if can_fail {
        let mut exprs = keys.clone();
        exprs.extend(window.as_ref().map(|w| w.time.clone()));
        exprs.extend(
            arg_exprs
                .iter()
                .map(|a| a.clone().unwrap_or(ScalarExpr::lit(true))),
        );
        exprs
    } else {
        Vec::new()
    };

    // A key or argument that is a plain column no later key or argument reads takes the value
    // out of the row instead of copying it (the row is dropped right after).
    let movable: Vec<Option<usize>> = {
        let exprs: Vec<&ScalarExpr> = keys.iter().chain(arg_exprs.iter().flatten()).collect();
        exprs
            .iter()
            .enumerate()
            .map(|(j, e)| match e {
                ScalarExpr::Column(i)
                    if !exprs[j + 1..].iter().any(|l| l.columns().contains(i)) =>
                {
                    Some(*i)
                }
                _ => None,
            })
            .collect()
    };
    // Group key, pane start, arguments; and the event time for the watermark.
    let prepare = move |mut row: Row| -> Option<(Prepared, i64)> {
        if can_fail {
            return prepare_checked(&checked, nkeys, window.as_ref(), &row, &query, &metrics);
        }
        // The event time first, while the row is whole.
        let mut pane = None;
        let mut event_time = 0;
        if let Some(w) = &window {
            let (t, start) = super::pane_of(&w.time.eval(&row), w.size_ms, &row, &query, &metrics)?;
            event_time = t;
            pane = Some(Value::Int(start));
        }
        let mut out = Prepared::new();
        let mut moves = movable.iter();
        let mut value = |e: &ScalarExpr, row: &mut Row| match moves.next() {
            Some(Some(i)) => std::mem::take(&mut row[*i]),
            _ => e.eval(row),
        };
        for k in &keys {
            let v = value(k, &mut row);
            out.push(v);
        }
        out.extend(pane);
        for a in &arg_exprs {
            let v = match a {
                Some(e) => value(e, &mut row),
                None => Value::Bool(true),
            };
            out.push(v);
        }
        Some((out, event_time))
    };

    // The watermark comes from the rows before a WHERE when there is one, else from the
    // prepared rows, found in the same pass.
    let (prepared, maxima) = match (watermark_rows, &plan.window) {
        (Some(before), Some(w)) => {
            let time = w.time.clone();
            let maxima =
                super::event_time_maxima(before.inner, move |row: &Row| match time.eval(row) {
                    Value::Int(t) => t,
                    _ => i64::MIN,
                });
            (
                rows.flat_map(move |row| prepare(row).map(|p| p.0)).inner,
                Some(maxima),
            )
        }
        (_, Some(_)) => {
            let (prepared, maxima) = super::map_with_maxima(rows, prepare);
            (prepared, Some(maxima))
        }
        (_, None) => (
            rows.flat_map(move |row| prepare(row).map(|p| p.0)).inner,
            None,
        ),
    };

    // What a sink of this query needs to follow its watermark, and the aggregate's clock.
    let (feed, maxima, clocks) = match (&plan.window, maxima) {
        (Some(w), Some(maxima)) => (
            Some(WatermarkFeed {
                maxima: maxima.clone(),
                lateness: w.lateness_ms as i64,
                sources: sources.clone(),
            }),
            Some(epoch_op::tag_maxima(maxima, 0)),
            vec![shared.clock(w.lateness_ms as i64, sources)],
        ),
        _ => (None, None, Vec::new()),
    };
    let state = AggregateState::new(plan, label, shared.metrics.clone());
    // All panes of a group meet at one worker: exchange by the group key alone.
    let by_key =
        ExchangePact::new(move |(row, _, _): &(Prepared, u64, isize)| hash_values(&row[..nkeys]));
    let rows = epoch_op::render(
        "Aggregate",
        id,
        prepared,
        by_key,
        maxima,
        clocks,
        state,
        persist,
    );
    (rows.as_collection(), feed)
}

/// The aggregate operator's state: per group, its panes of accumulators; which panes close and
/// which are freed when. Its one clock is the query's watermark.
///
/// Per epoch:
/// 1. A row whose pane ends at or before the watermark (before the epoch's own event times
///    count) is late: counted and dropped.
/// 2. In `changes` mode, every output row affected in the epoch (its pane, and the later open
///    windows of the group whose ACCU / SW span covers the pane) is emitted as `-old +new`.
/// 3. Panes whose end the watermark (after the epoch) has passed are final: in `final` mode
///    their rows are emitted now, and a final row is never retracted.
/// 4. A pane's state is freed once the last window that spans it is final.
///
/// When every input is complete, every window is final (`final` mode emits what is left).
pub struct AggregateState {
    nkeys: usize,
    spec: Option<Spec>,
    emit: Emit,
    aggs: Vec<AggCall>,
    /// For each aggregate, the argument slot of the prepared row it reads (`AggCall::slot`).
    arg_slots: Vec<usize>,
    /// Where the arguments start in a prepared row (after the key and the pane start).
    args_at: usize,
    label: String,
    metrics: Arc<Metrics>,
    /// This operator's number in the per-query gauges.
    holder: usize,
    data: AggregateData,
}

/// What an aggregate's epochs change: its groups' panes and when they close and go.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct AggregateData {
    groups: Groups,
    /// Panes to close, by pane start; panes to free, by the time they can go. Not in a
    /// snapshot: made again from the panes when one is restored ([`AggregateState::index`]).
    #[serde(skip)]
    to_close: BTreeMap<i64, Vec<Row>>,
    #[serde(skip)]
    to_free: BTreeMap<i64, Vec<(Row, i64)>>,
}

impl AggregateState {
    pub fn new(plan: &AggregatePlan, label: &str, metrics: Arc<Metrics>) -> Self {
        let nkeys = plan.keys.len();
        AggregateState {
            nkeys,
            spec: plan.window.as_ref().map(Spec::new),
            emit: plan.emit,
            aggs: plan.aggs.clone(),
            arg_slots: plan.aggs.iter().map(|a| a.slot).collect(),
            args_at: nkeys + plan.window.is_some() as usize,
            label: label.to_string(),
            metrics,
            holder: tally_connectors::metrics::Gauges::holder(),
            data: AggregateData::default(),
        }
    }

    /// The panes with state, over all groups.
    pub fn pane_count(&self) -> usize {
        self.data.groups.values().map(Panes::len).sum()
    }

    /// Makes the panes to close and to free again from the groups' panes (after a restore).
    fn index(&mut self) {
        let AggregateData {
            groups,
            to_close,
            to_free,
        } = &mut self.data;
        to_close.clear();
        to_free.clear();
        let Some(spec) = self.spec else { return };
        for (key, panes) in groups.iter() {
            for (&start, pane) in panes.iter() {
                if !pane.closed {
                    to_close.entry(start).or_default().push(key.clone());
                }
                to_free
                    .entry(spec.retain_until(start))
                    .or_default()
                    .push((key.clone(), start));
            }
        }
    }

    /// The pane start of a prepared row (0 without windows).
    fn start_of(&self, row: &Prepared) -> i64 {
        match (self.spec, row.get(self.nkeys)) {
            (Some(_), Some(Value::Int(s))) => *s,
            _ => 0,
        }
    }

    /// Folds one prepared update into its pane; `false` when it is late.
    fn fold(&mut self, row: &Prepared, diff: isize, watermark: Option<i64>) -> bool {
        let start = self.start_of(row);
        if let (Some(spec), Some(wm)) = (self.spec, watermark) {
            if start + spec.size <= wm {
                return false;
            }
        }
        let key = &row[..self.nkeys];
        let panes = self.data.groups.get_or_default(key);
        if !panes.contains_key(&start) {
            if let Some(spec) = self.spec {
                self.data
                    .to_close
                    .entry(start)
                    .or_default()
                    .push(key.to_vec());
                self.data
                    .to_free
                    .entry(spec.retain_until(start))
                    .or_default()
                    .push((key.to_vec(), start));
            }
            // Sized like the group's previous pane: its distinct sets grow to about the same
            // size, without rehashing on the way.
            let accs = match panes.range(..start).next_back() {
                Some((_, prev)) => prev
                    .accs
                    .iter()
                    .zip(&self.aggs)
                    .map(|(a, call)| Acc::like(a, call))
                    .collect(),
                None => self.aggs.iter().map(Acc::new).collect(),
            };
            let pane = Pane {
                accs,
                rows: 0,
                emitted: None,
                closed: false,
            };
            panes.insert(start, pane);
        }
        let pane = panes.get_mut(&start).expect("inserted above");
        pane.rows += diff as i64;
        let args = &row[self.args_at..];
        for (acc, &slot) in pane.accs.iter_mut().zip(&self.arg_slots) {
            acc.update(&args[slot], diff as i64);
        }
        true
    }

    /// `changes` mode: emits `-old +new` for the touched panes of `key` and the open windows
    /// whose ACCU / SW span covers them.
    fn emit_changes(&mut self, key: &Row, starts: &BTreeSet<i64>, out: &mut Vec<(Row, isize)>) {
        let (spec, aggs) = (self.spec, &self.aggs);
        let Some(panes) = self.data.groups.get_mut(key) else {
            return;
        };
        let mut affected: BTreeSet<i64> = BTreeSet::new();
        for &s in starts {
            let last = spec.map_or(s, |sp| sp.last_covering(s));
            affected.extend(
                panes
                    .range(s..=last)
                    .filter(|(_, p)| !p.closed)
                    .map(|(t, _)| *t),
            );
        }
        for start in affected {
            let now = (panes[&start].rows > 0).then(|| output_row(key, start, panes, spec, aggs));
            let pane = panes.get_mut(&start).expect("affected pane");
            if now != pane.emitted {
                if let Some(old) = pane.emitted.take() {
                    out.push((old, -1));
                }
                if let Some(new) = &now {
                    out.push((new.clone(), 1));
                }
                pane.emitted = now;
            }
        }
        if spec.is_none() && panes.values().all(|p| p.rows <= 0) {
            self.data.groups.remove(key);
        }
    }

    /// Closes the panes the watermark has passed (`final` mode emits them) and frees the panes
    /// no open window spans any more.
    fn advance(&mut self, wm: i64, out: &mut Vec<(Row, isize)>) {
        let Some(spec) = self.spec else { return };
        let aggs = &self.aggs;
        while let Some((&start, _)) = self.data.to_close.first_key_value() {
            if start + spec.size > wm {
                break;
            }
            let (_, keys) = self.data.to_close.pop_first().expect("non-empty");
            for key in keys {
                let Some(panes) = self.data.groups.get_mut(&key) else {
                    continue;
                };
                if self.emit == Emit::Final && panes[&start].rows > 0 {
                    out.push((output_row(&key, start, panes, Some(spec), aggs), 1));
                }
                if let Some(p) = panes.get_mut(&start) {
                    p.close(aggs);
                }
            }
        }
        while let Some((&until, _)) = self.data.to_free.first_key_value() {
            if until > wm {
                break;
            }
            for (key, start) in self.data.to_free.pop_first().expect("non-empty").1 {
                if let Some(panes) = self.data.groups.get_mut(&key) {
                    panes.remove(&start);
                    if panes.is_empty() {
                        self.data.groups.remove(&key);
                    }
                }
            }
        }
        self.metrics
            .watermark_ms
            .store(wm, std::sync::atomic::Ordering::Relaxed);
    }
}

impl EpochState for AggregateState {
    type In = Prepared;
    type Out = Row;
    type Data = AggregateData;

    fn data(&self) -> &AggregateData {
        &self.data
    }

    fn restore(&mut self, data: AggregateData) {
        self.data = data;
        self.index();
    }

    fn merge(&self, parts: Vec<AggregateData>, worker: usize, peers: usize) -> AggregateData {
        let mine = |key: &Row| super::owns(key, worker, peers);
        let mut out = AggregateData::default();
        for p in parts {
            out.groups
                .extend(p.groups.into_iter().filter(|(k, _)| mine(k)));
        }
        out
    }

    fn state_measured(&mut self, bytes: usize) {
        self.metrics
            .state_bytes_by_query
            .set(&self.label, self.holder, bytes as i64);
    }

    fn absorb(&self, data: &mut AggregateData, newer: AggregateData) {
        data.groups.absorb(newer.groups);
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(Prepared, isize)>,
        watermarks: Watermarks<'_>,
        out: &mut Vec<(Row, isize)>,
    ) {
        let watermark = watermarks.before.first().copied().flatten();
        // Only `changes` emits per touched pane; `final` waits for the watermark.
        let mut touched: HashMap<Row, BTreeSet<i64>> = HashMap::default();
        let read = updates.len() as u64;
        let out_before = out.len();
        let mut late = 0u64;
        // A row whose window ended (in event time: at or before the watermark plus the
        // lateness) but is not yet final is late and corrects its window.
        let ended = match (self.spec, watermark) {
            (Some(spec), Some(wm)) => Some((spec.size, wm.saturating_add(spec.lateness))),
            _ => None,
        };
        let mut corrected = 0u64;
        for (row, diff) in updates.drain(..) {
            if !self.fold(&row, diff, watermark) {
                late += diff.max(0) as u64;
                continue;
            }
            if let Some((size, max)) = ended {
                if self.start_of(&row) + size <= max {
                    corrected += diff.max(0) as u64;
                }
            }
            if self.emit == Emit::Changes {
                let start = self.start_of(&row);
                touched
                    .entry_ref(&row[..self.nkeys])
                    .or_default()
                    .insert(start);
            }
        }
        if late > 0 {
            self.metrics.late(&self.label, late);
        }
        if corrected > 0 {
            self.metrics
                .late_corrected_by_query
                .add(&self.label, corrected);
        }
        if read > 0 {
            self.metrics.rows_in_by_query.add(&self.label, read);
        }
        for (key, starts) in touched {
            self.emit_changes(&key, &starts, out);
        }
        if let Some(wm) = watermarks.after.first().copied().flatten() {
            self.advance(wm, out);
        }
        let groups = self.data.groups.len() as i64;
        let m = &self.metrics;
        m.groups_by_query.set(&self.label, self.holder, groups);
        if out.len() > out_before {
            m.rows_out_by_query
                .add(&self.label, (out.len() - out_before) as u64);
        }
        if self.spec.is_some() {
            // Panes not yet final, one per group and window start: a walk over the window
            // starts still open (a few), not over the panes.
            let open: usize = self.data.to_close.values().map(Vec::len).sum();
            m.open_windows_by_query
                .set(&self.label, self.holder, open as i64);
        }
    }

    fn finish(&mut self, out: &mut Vec<(Row, isize)>) {
        // Every window is final.
        if self.emit == Emit::Final {
            let mut keys: Vec<&Row> = self.data.groups.keys().collect();
            keys.sort();
            for key in keys {
                let panes = self.data.groups.get(key).expect("a key of the map");
                for (&start, pane) in panes.iter() {
                    if !pane.closed && pane.rows > 0 {
                        out.push((output_row(key, start, panes, self.spec, &self.aggs), 1));
                    }
                }
            }
        }
        self.data.groups.clear();
        self.data.to_close.clear();
        self.data.to_free.clear();
    }
}
