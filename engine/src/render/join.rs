//! `Node::LeftJoin`: a stream joined with a dimension, NULLs where nothing matches.
//!
//! Both sides are exchanged by the hash of the join key. The operator keeps the dimension's
//! rows by key and the stream rows that a dimension change may still revise: when the query
//! reading the join is windowed, until the row's window is final (the watermark is computed as
//! in the aggregate operator, from the same rows, so both agree on what is final); otherwise for
//! the life of the job. Epoch by epoch: dimension changes first (each kept stream row of a
//! changed key is emitted again: `-old +new`), then the epoch's stream rows.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use differential_dataflow::AsCollection;
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::JoinPlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::{Exchange as ExchangePact, Pipeline};
use timely::dataflow::operators::{Capability, Concat, Operator};

use super::epochs::Epochs;
use super::{hash_values, Rows, Shared};

/// Which input an update came from, with the data the operator needs.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
enum Side {
    /// A stream row, its key, its event time and the end of its window (i64::MAX: kept for
    /// ever; the event time is then unused).
    Stream(Row, Row, i64, i64),
    Dim(Row, Row),
}

fn key_of(exprs: &[ScalarExpr], row: &Row) -> Row {
    exprs.iter().map(|e| e.eval(row)).collect()
}

/// The joined rows of one stream row against the dimension rows of its key.
fn joined(
    stream: &Row,
    dims: Option<&HashMap<Row, i64>>,
    residual: &Option<ScalarExpr>,
    dim_width: usize,
) -> Vec<(Row, i64)> {
    let mut out = Vec::new();
    if let Some(dims) = dims {
        for (d, n) in dims {
            let mut r = stream.clone();
            r.extend(d.iter().cloned());
            if residual.as_ref().is_none_or(|p| p.eval(&r).is_true()) {
                out.push((r, *n));
            }
        }
    }
    if out.is_empty() {
        let mut r = stream.clone();
        r.extend(std::iter::repeat_n(Value::Null, dim_width));
        out.push((r, 1));
    }
    out
}

pub fn render<'s>(
    stream: Rows<'s>,
    dim: Rows<'s>,
    plan: &JoinPlan,
    label: &str,
    shared: &Shared,
    sources: Vec<usize>,
) -> Rows<'s> {
    let stream_key = plan.stream_key.clone();
    let dim_key = plan.dim_key.clone();
    let retain = plan.retain.clone();
    let metrics = shared.metrics.clone();
    let query = label.to_string();
    // Tag each side's rows with their key (and a stream row's window end).
    let tagged_stream = stream.flat_map(move |row| {
        let key = key_of(&stream_key, &row);
        let (time, until) = match &retain {
            None => (i64::MIN, i64::MAX),
            Some(r) => match r.time.eval(&row) {
                Value::Int(t) => {
                    let size = r.size_ms as i64;
                    (t, t.div_euclid(size) * size + size)
                }
                _ => {
                    metrics.bad_row(
                        &query,
                        "its COORDINATE BY value is NULL",
                        &format!("{row:?}"),
                    );
                    return None;
                }
            },
        };
        Some(Side::Stream(row, key, time, until))
    });
    let tagged_dim = dim.map(move |row| {
        let key = key_of(&dim_key, &row);
        Side::Dim(row, key)
    });
    // The watermark of the stream side, as the aggregate reading this join computes it.
    let maxima = super::event_time_maxima(tagged_stream.inner.clone(), |s: &Side| match s {
        Side::Stream(_, _, time, _) => *time,
        Side::Dim(..) => i64::MIN,
    });
    let lateness = plan.retain.as_ref().map_or(0, |r| r.lateness_ms as i64);
    let (lanes, idle_ms) = (shared.lanes, shared.idle_ms);
    let expected = shared.expected_lanes.clone();
    let residual = plan.residual.clone();
    let dim_width = plan.dim_width;
    let by_key = ExchangePact::new(|(side, _, _): &(Side, u64, isize)| match side {
        Side::Stream(_, k, _, _) | Side::Dim(_, k) => hash_values(k),
    });
    tagged_stream
        .inner
        .concat(tagged_dim.inner)
        .binary_frontier(maxima, by_key, Pipeline, "LeftJoin", move |cap, _info| {
            let mut held: Option<Capability<u64>> = Some(cap);
            let mut epochs: Epochs<Side> =
                Epochs::new(lanes, idle_ms, expected.clone(), sources.clone());
            let mut dims: HashMap<Row, HashMap<Row, i64>> = HashMap::default();
            // Kept stream rows by key: row -> (multiplicity, window end).
            let mut kept: HashMap<Row, HashMap<Row, (i64, i64)>> = HashMap::default();
            let mut expiry: BTreeMap<i64, Vec<(Row, Row)>> = BTreeMap::new();
            move |(data, data_frontier), (maxes, max_frontier), output| {
                data.for_each(|_cap, batch| epochs.add_updates(batch));
                maxes.for_each(|_cap, batch| epochs.add_maxima(batch));
                let frontier = Epochs::<Side>::frontier(data_frontier, max_frontier);
                let Some(cap) = held.as_mut() else { return };
                let ready = epochs.ready(frontier, *cap.time());
                for epoch in ready {
                    epochs.begin(epoch);
                    let watermark = epochs.watermark(lateness);
                    let updates = epochs.take(epoch);
                    let at = cap.delayed(&epoch);
                    let mut session = output.session(&at);
                    // Dimension changes, grouped by key.
                    let mut changed: HashMap<Row, Vec<(Row, i64)>> = HashMap::default();
                    let mut stream_rows = Vec::new();
                    for (side, diff) in updates {
                        match side {
                            Side::Dim(row, key) => {
                                changed.entry(key).or_default().push((row, diff as i64))
                            }
                            Side::Stream(row, key, _, until) => {
                                stream_rows.push((row, key, until, diff as i64))
                            }
                        }
                    }
                    for (key, changes) in changed {
                        let rows = kept.get(&key);
                        if let Some(rows) = rows {
                            for (row, (n, _)) in rows {
                                for (out, m) in joined(row, dims.get(&key), &residual, dim_width) {
                                    session.give((out, epoch, -(n * m) as isize));
                                }
                            }
                        }
                        let entry = dims.entry(key.clone()).or_default();
                        for (row, diff) in changes {
                            let c = entry.entry(row.clone()).or_insert(0);
                            *c += diff;
                            if *c == 0 {
                                entry.remove(&row);
                            }
                        }
                        if entry.is_empty() {
                            dims.remove(&key);
                        }
                        if let Some(rows) = kept.get(&key) {
                            for (row, (n, _)) in rows {
                                for (out, m) in joined(row, dims.get(&key), &residual, dim_width) {
                                    session.give((out, epoch, (n * m) as isize));
                                }
                            }
                        }
                    }
                    for (row, key, until, diff) in stream_rows {
                        for (out, m) in joined(&row, dims.get(&key), &residual, dim_width) {
                            session.give((out, epoch, (diff * m) as isize));
                        }
                        // Keep the row while its window is open.
                        if watermark.is_none_or(|wm| until > wm) {
                            let rows = kept.entry(key.clone()).or_default();
                            let e = rows.entry(row.clone()).or_insert((0, until));
                            e.0 += diff;
                            if e.0 == 0 {
                                rows.remove(&row);
                            } else if until != i64::MAX {
                                expiry.entry(until).or_default().push((key, row));
                            }
                        }
                    }
                    epochs.close(epoch);
                    if let Some(wm) = epochs.watermark(lateness) {
                        while let Some((&until, _)) = expiry.first_key_value() {
                            if until > wm {
                                break;
                            }
                            for (key, row) in expiry.pop_first().expect("non-empty").1 {
                                if let Some(rows) = kept.get_mut(&key) {
                                    rows.remove(&row);
                                    if rows.is_empty() {
                                        kept.remove(&key);
                                    }
                                }
                            }
                        }
                    }
                }
                match frontier {
                    Some(f) if *cap.time() < f => cap.downgrade(&f),
                    Some(_) => {}
                    None => {
                        dims.clear();
                        epochs.clear();
                        kept.clear();
                        expiry.clear();
                        held = None;
                    }
                }
            }
        })
        .as_collection()
}
