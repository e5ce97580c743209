//! `Node::Aggregate`: GROUP BY with aggregates, optionally in event-time windows.
//!
//! Rows are prepared where they are (group key, pane start, aggregate arguments), exchanged by
//! the hash of the group key, and folded into per-group panes of accumulators. A pane is one aggr
//! window; ACCU and SW values are read from the panes they span when a row is emitted, so an
//! input row is touched once, not once per window it falls in. The operator works epoch by
//! epoch once the epoch is complete, so the result does not depend on how rows were spread over
//! workers:
//!
//! 1. The watermark is the largest event time seen in earlier epochs (over all workers: each
//!    worker broadcasts the largest event time of each of its batches) minus the lateness.
//! 2. A row whose pane ends at or before the watermark is late: counted and dropped.
//! 3. In `changes` mode, every output row affected in the epoch (its pane, and the later open
//!    windows of the group whose ACCU / SW span covers the pane) is emitted as `-old +new`.
//! 4. Panes whose end the watermark has passed are final: in `final` mode their rows are emitted
//!    now. A final row is never retracted, so sinks and downstream queries see it frozen.
//! 5. A pane's state is freed once the last window that spans it is final.

use std::collections::{BTreeMap, BTreeSet};

/// hashbrown's map with FxHash, for `entry_ref`: a group is found (or made) with one hash of
/// its key, and no copy of the key when it is there already.
type HashMap<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

use differential_dataflow::AsCollection;
use smallvec::SmallVec;
use tally_sql::catalog::Emit;
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::{AggCall, AggregatePlan, WindowMod, WindowPlan};
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::{Capability, Operator};

use super::epochs::Epochs;
use super::{hash_values, Rows, Shared, WatermarkFeed};
use crate::accum::{merged_value, Acc};

/// One aggr window of one group.
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
    accu: Option<i64>,
    sw: Option<i64>,
}

impl Spec {
    fn new(w: &WindowPlan) -> Spec {
        Spec {
            size: w.size_ms as i64,
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
type Prepared = SmallVec<[Value; 4]>;

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
        match out[nkeys] {
            Value::Int(t) => {
                event_time = t;
                let size = w.size_ms as i64;
                out[nkeys] = Value::Int(t.div_euclid(size) * size);
            }
            _ => {
                metrics.bad_row(
                    query,
                    "its COORDINATE BY value is NULL",
                    &format!("{row:?}"),
                );
                return None;
            }
        }
    }
    Some((out, event_time))
}
type Groups = HashMap<Row, BTreeMap<i64, Pane>>;

/// The output row of the pane at `start` of the group `key`.
fn output_row(
    key: &Row,
    start: i64,
    panes: &BTreeMap<i64, Pane>,
    spec: Option<Spec>,
    aggs: &[AggCall],
) -> Row {
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
) -> (Rows<'s>, Option<WatermarkFeed<'s>>) {
    let keys = plan.keys.clone();
    let window = plan.window.clone();
    // One argument slot per distinct argument, as the plan numbers them.
    let arg_exprs: Vec<Option<ScalarExpr>> = plan.args.iter().cloned().map(Some).collect();
    let arg_slots: Vec<usize> = plan.aggs.iter().map(|a| a.slot).collect();
    let nkeys = keys.len();
    let windowed = window.is_some();
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
            match w.time.eval(&row) {
                Value::Int(t) => {
                    event_time = t;
                    let size = w.size_ms as i64;
                    pane = Some(Value::Int(t.div_euclid(size) * size));
                }
                _ => {
                    metrics.bad_row(
                        &query,
                        "its COORDINATE BY value is NULL",
                        &format!("{row:?}"),
                    );
                    return None;
                }
            }
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
                maxima,
            )
        }
        _ => super::map_with_maxima(rows, prepare),
    };

    // What a sink of this query needs to follow its watermark.
    let feed = plan.window.as_ref().map(|w| WatermarkFeed {
        maxima: maxima.clone(),
        lateness: w.lateness_ms as i64,
        sources: sources.clone(),
    });
    let label = label.to_string();
    let metrics = shared.metrics.clone();
    let spec = plan.window.as_ref().map(Spec::new);
    let lateness = plan.window.as_ref().map_or(0, |w| w.lateness_ms as i64);
    let emit = plan.emit;
    let aggs = plan.aggs.clone();
    let (lanes, idle_ms) = (shared.lanes, shared.idle_ms);
    let expected = shared.expected_lanes.clone();
    // All panes of a group meet at one worker: exchange by the group key alone.
    let by_key =
        ExchangePact::new(move |(row, _, _): &(Prepared, u64, isize)| hash_values(&row[..nkeys]));
    let args_at = nkeys + windowed as usize;
    let rows = prepared
        .binary_frontier(maxima, by_key, Pipeline, "Aggregate", move |cap, _info| {
            let mut held: Option<Capability<u64>> = Some(cap);
            let mut epochs: Epochs<Prepared> =
                Epochs::new(lanes, idle_ms, expected.clone(), sources.clone());
            let mut groups: Groups = HashMap::default();
            // Panes to close, by pane start; panes to free, by the time they can go.
            let mut to_close: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
            let mut to_free: BTreeMap<i64, Vec<(Row, i64)>> = BTreeMap::new();

            move |(data, data_frontier), (maxes, max_frontier), output| {
                data.for_each(|_cap, batch| epochs.add_updates(batch));
                maxes.for_each(|_cap, batch| epochs.add_maxima(batch));
                let frontier = Epochs::<Prepared>::frontier(data_frontier, max_frontier);
                let Some(cap) = held.as_mut() else { return };
                let ready = epochs.ready(frontier, *cap.time());

                for epoch in ready {
                    epochs.begin(epoch);
                    let watermark = epochs.watermark(lateness);
                    // Only `changes` emits per touched pane; `final` waits for the watermark.
                    let mut touched: HashMap<Row, BTreeSet<i64>> = HashMap::default();
                    let mut late = 0u64;
                    let mut updates = epochs.take(epoch);
                    for (row, diff) in updates.drain(..) {
                        let start = match (spec, &row.get(nkeys)) {
                            (Some(_), Some(Value::Int(s))) => *s,
                            _ => 0,
                        };
                        if let (Some(spec), Some(wm)) = (spec, watermark) {
                            if start + spec.size <= wm {
                                late += diff.max(0) as u64;
                                continue;
                            }
                        }
                        let key = &row[..nkeys];
                        let panes = groups.entry_ref(key).or_default();
                        if !panes.contains_key(&start) {
                            if let Some(spec) = spec {
                                to_close.entry(start).or_default().push(key.to_vec());
                                to_free
                                    .entry(spec.retain_until(start))
                                    .or_default()
                                    .push((key.to_vec(), start));
                            }
                            // Sized like the group's previous pane: its distinct sets grow
                            // to about the same size, without rehashing on the way.
                            let accs = match panes.range(..start).next_back() {
                                Some((_, prev)) => prev
                                    .accs
                                    .iter()
                                    .zip(&aggs)
                                    .map(|(a, call)| Acc::like(a, call))
                                    .collect(),
                                None => aggs.iter().map(Acc::new).collect(),
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
                        let args = &row[args_at..];
                        for (acc, &slot) in pane.accs.iter_mut().zip(&arg_slots) {
                            acc.update(&args[slot], diff as i64);
                        }
                        if emit == Emit::Changes {
                            touched.entry_ref(key).or_default().insert(start);
                        }
                    }
                    epochs.recycle(updates);
                    if late > 0 {
                        metrics.late(&label, late);
                    }
                    epochs.close(epoch);
                    let at = cap.delayed(&epoch);
                    let mut session = output.session(&at);
                    if emit == Emit::Changes {
                        for (key, starts) in touched {
                            let Some(panes) = groups.get_mut(&key) else {
                                continue;
                            };
                            // The touched panes and the open windows whose ACCU / SW span them.
                            let mut affected: BTreeSet<i64> = BTreeSet::new();
                            for &s in &starts {
                                let last = spec.map_or(s, |sp| sp.last_covering(s));
                                affected.extend(
                                    panes
                                        .range(s..=last)
                                        .filter(|(_, p)| !p.closed)
                                        .map(|(t, _)| *t),
                                );
                            }
                            for start in affected {
                                let now = (panes[&start].rows > 0)
                                    .then(|| output_row(&key, start, panes, spec, &aggs));
                                let pane = panes.get_mut(&start).expect("affected pane");
                                if now != pane.emitted {
                                    if let Some(old) = pane.emitted.take() {
                                        session.give((old, epoch, -1));
                                    }
                                    if let Some(new) = &now {
                                        session.give((new.clone(), epoch, 1));
                                    }
                                    pane.emitted = now;
                                }
                            }
                            if spec.is_none() && panes.values().all(|p| p.rows <= 0) {
                                groups.remove(&key);
                            }
                        }
                    }
                    // Panes the watermark has passed are final; then free what no open window
                    // spans any more.
                    if let (Some(spec), Some(wm)) = (spec, epochs.watermark(lateness)) {
                        while let Some((&start, _)) = to_close.first_key_value() {
                            if start + spec.size > wm {
                                break;
                            }
                            let (_, keys) = to_close.pop_first().expect("non-empty");
                            for key in keys {
                                let Some(panes) = groups.get_mut(&key) else {
                                    continue;
                                };
                                if emit == Emit::Final && panes[&start].rows > 0 {
                                    let row = output_row(&key, start, panes, Some(spec), &aggs);
                                    session.give((row, epoch, 1));
                                }
                                if let Some(p) = panes.get_mut(&start) {
                                    p.close(&aggs);
                                }
                            }
                        }
                        while let Some((&until, _)) = to_free.first_key_value() {
                            if until > wm {
                                break;
                            }
                            for (key, start) in to_free.pop_first().expect("non-empty").1 {
                                if let Some(panes) = groups.get_mut(&key) {
                                    panes.remove(&start);
                                    if panes.is_empty() {
                                        groups.remove(&key);
                                    }
                                }
                            }
                        }
                        metrics
                            .watermark_ms
                            .store(wm, std::sync::atomic::Ordering::Relaxed);
                    }
                }

                match frontier {
                    Some(f) => {
                        if *cap.time() < f {
                            cap.downgrade(&f);
                        }
                    }
                    None => {
                        // Input complete: every window is final.
                        if emit == Emit::Final {
                            let t = *cap.time();
                            let mut session = output.session(&*cap);
                            let mut keys: Vec<&Row> = groups.keys().collect();
                            keys.sort();
                            for key in keys {
                                let panes = &groups[key];
                                for (&start, pane) in panes {
                                    if !pane.closed && pane.rows > 0 {
                                        let row = output_row(key, start, panes, spec, &aggs);
                                        session.give((row, t, 1));
                                    }
                                }
                            }
                        }
                        groups.clear();
                        epochs.clear();
                        to_close.clear();
                        to_free.clear();
                        held = None;
                    }
                }
            }
        })
        .as_collection();
    (rows, feed)
}
