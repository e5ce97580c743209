//! `Node::Aggregate`: GROUP BY with aggregates, optionally in tumbling event-time windows.
//!
//! Rows are prepared where they are (group key, window start, aggregate arguments), exchanged by
//! the hash of the group key, and folded into hash maps of accumulators. The operator works epoch
//! by epoch once the epoch is complete, so the result does not depend on how rows were spread
//! over workers:
//!
//! 1. The watermark is the largest event time seen in earlier epochs (over all workers: each
//!    worker broadcasts the largest event time of each of its batches) minus the lateness.
//! 2. A row whose window ends at or before the watermark is late: counted and dropped.
//! 3. Every group touched in the epoch is emitted as `-old +new` (changes) at that epoch.
//! 4. Windows whose end the watermark has passed become final: in `final` emit mode their rows
//!    are emitted now, and their state is freed. A final row is never retracted, so sinks and
//!    downstream queries see the window frozen.

use std::collections::{BTreeMap, HashMap, HashSet};

use differential_dataflow::{AsCollection, VecCollection};
use tally_sql::catalog::Emit;
use tally_sql::plan::AggregatePlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::{hash_values, Rows, Shared};
use crate::accum::Acc;

struct Group {
    accs: Vec<Acc>,
    /// Net number of input rows; the group exists while it is above zero.
    rows: i64,
    /// The output row last emitted for this group.
    emitted: Option<Row>,
}

type Prepared = (Row, i64);

/// A group's output row: its key (and window start) followed by the aggregate values.
fn output_row(key: &Row, g: &Group, aggs: &[tally_sql::plan::AggCall]) -> Row {
    let mut r = key.clone();
    r.extend(g.accs.iter().zip(aggs).map(|(a, c)| a.value(c)));
    r
}

pub fn render<'s>(rows: Rows<'s>, plan: &AggregatePlan, label: &str, shared: &Shared) -> Rows<'s> {
    let keys = plan.keys.clone();
    let window = plan.window.clone();
    let arg_exprs: Vec<_> = plan.aggs.iter().map(|a| a.arg.clone()).collect();
    let nkeys = keys.len() + window.is_some() as usize;
    let metrics = shared.metrics.clone();
    let query = label.to_string();

    // Group key, window start, arguments; and the event time for the watermark.
    let prepared: VecCollection<'s, u64, Prepared, isize> = rows.flat_map(move |row| {
        let mut out = Vec::with_capacity(nkeys + arg_exprs.len());
        out.extend(keys.iter().map(|k| k.eval(&row)));
        let mut event_time = 0;
        if let Some(w) = &window {
            match w.time.eval(&row) {
                Value::Int(t) => {
                    event_time = t;
                    let size = w.size_ms as i64;
                    out.push(Value::Int(t.div_euclid(size) * size));
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
        out.extend(arg_exprs.iter().map(|a| match a {
            Some(e) => e.eval(&row),
            None => Value::Bool(true),
        }));
        Some((out, event_time))
    });

    // The largest event time of each epoch at this worker, as `(epoch, max)`, sent to every
    // worker. Records carry their epoch in the data: a message's capability can be earlier.
    let maxima: StreamVec<'s, u64, (u64, i64)> = prepared
        .inner
        .clone()
        .unary(Pipeline, "EventTimeMax", |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut per_epoch: BTreeMap<u64, i64> = BTreeMap::new();
                    for ((_, t), epoch, d) in data.iter() {
                        if *d > 0 {
                            let m = per_epoch.entry(*epoch).or_insert(*t);
                            *m = (*m).max(*t);
                        }
                    }
                    for (epoch, m) in per_epoch {
                        output.session(&cap.delayed(&epoch, 0)).give((epoch, m));
                    }
                });
            }
        })
        .broadcast();

    let plan = plan.clone();
    let label = label.to_string();
    let metrics = shared.metrics.clone();
    let by_key = ExchangePact::new(move |((row, _), _, _): &(Prepared, u64, isize)| {
        hash_values(&row[..nkeys])
    });
    prepared
        .inner
        .binary_frontier(maxima, by_key, Pipeline, "Aggregate", move |cap, _info| {
            let mut held: Option<Capability<u64>> = Some(cap);
            let mut stash: BTreeMap<u64, Vec<(Prepared, u64, isize)>> = BTreeMap::new();
            let mut epoch_max: BTreeMap<u64, i64> = BTreeMap::new();
            let mut groups: HashMap<Row, Group> = HashMap::new();
            // Keys of the groups of each open window, by window start.
            let mut windows: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
            let mut max_seen: Option<i64> = None;
            let size = plan.window.as_ref().map(|w| w.size_ms as i64);
            let lateness = plan.window.as_ref().map_or(0, |w| w.lateness_ms as i64);
            let emit = plan.emit;
            let aggs = plan.aggs.clone();

            move |(data, data_frontier), (maxes, max_frontier), output| {
                // Updates are grouped by their own time: a message's capability can be earlier.
                data.for_each(|_cap, batch| {
                    for update in batch.drain(..) {
                        stash.entry(update.1).or_default().push(update);
                    }
                });
                maxes.for_each(|_cap, batch| {
                    for (epoch, m) in batch.drain(..) {
                        let e = epoch_max.entry(epoch).or_insert(m);
                        *e = (*e).max(m);
                    }
                });
                // The earliest epoch that may still receive input (None: input is complete).
                let frontier = match (
                    data_frontier.frontier().as_option().copied(),
                    max_frontier.frontier().as_option().copied(),
                ) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let ready = |e: u64| frontier.is_none_or(|f| e < f);
                let mut epochs: Vec<u64> = stash
                    .keys()
                    .chain(epoch_max.keys())
                    .copied()
                    .filter(|e| ready(*e))
                    .collect();
                epochs.sort_unstable();
                epochs.dedup();
                let Some(cap) = held.as_mut() else { return };

                for epoch in epochs {
                    let watermark = max_seen.map(|m| m - lateness);
                    let mut touched: HashSet<Row> = HashSet::new();
                    let mut late = 0u64;
                    for ((row, _), _, diff) in stash.remove(&epoch).unwrap_or_default() {
                        if let (Some(size), Some(wm)) = (size, watermark) {
                            let Value::Int(start) = row[nkeys - 1] else {
                                continue;
                            };
                            if start + size <= wm {
                                late += diff.max(0) as u64;
                                continue;
                            }
                        }
                        let key = &row[..nkeys];
                        let group = match groups.get_mut(key) {
                            Some(g) => g,
                            None => {
                                let key: Row = key.to_vec();
                                if let Some(Value::Int(start)) = size.and(key.last()) {
                                    windows.entry(*start).or_default().push(key.clone());
                                }
                                groups.entry(key).or_insert_with(|| Group {
                                    accs: aggs.iter().map(Acc::new).collect(),
                                    rows: 0,
                                    emitted: None,
                                })
                            }
                        };
                        group.rows += diff as i64;
                        for (acc, v) in group.accs.iter_mut().zip(&row[nkeys..]) {
                            acc.update(v, diff as i64);
                        }
                        if !touched.contains(key) {
                            touched.insert(key.to_vec());
                        }
                    }
                    if late > 0 {
                        metrics.late(&label, late);
                    }
                    if let Some(m) = epoch_max.remove(&epoch) {
                        max_seen = Some(max_seen.map_or(m, |s| s.max(m)));
                    }
                    let at = cap.delayed(&epoch);
                    let mut session = output.session(&at);
                    if emit == Emit::Changes {
                        for key in touched {
                            let Some(g) = groups.get_mut(&key) else {
                                continue;
                            };
                            let now = (g.rows > 0).then(|| output_row(&key, g, &aggs));
                            if now != g.emitted {
                                if let Some(old) = g.emitted.take() {
                                    session.give((old, epoch, -1));
                                }
                                if let Some(new) = &now {
                                    session.give((new.clone(), epoch, 1));
                                }
                                g.emitted = now;
                            }
                            if g.rows <= 0 && size.is_none() {
                                groups.remove(&key);
                            }
                        }
                    }
                    // Windows the watermark has passed are final.
                    if let (Some(size), Some(m)) = (size, max_seen) {
                        let wm = m - lateness;
                        while let Some((&start, _)) = windows.first_key_value() {
                            if start + size > wm {
                                break;
                            }
                            let (_, keys) = windows.pop_first().expect("non-empty");
                            for key in keys {
                                if let Some(g) = groups.remove(&key) {
                                    if emit == Emit::Final && g.rows > 0 {
                                        session.give((output_row(&key, &g, &aggs), epoch, 1));
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
                        // Input complete: every window is final, every group is final.
                        if emit == Emit::Final {
                            let t = *cap.time();
                            let mut session = output.session(&*cap);
                            for (key, g) in groups.drain() {
                                if g.rows > 0 {
                                    session.give((output_row(&key, &g, &aggs), t, 1));
                                }
                            }
                        }
                        groups.clear();
                        windows.clear();
                        held = None;
                    }
                }
            }
        })
        .as_collection()
}
