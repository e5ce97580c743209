//! `Node::LeftJoin`: a stream joined with a dimension, NULLs where nothing matches.
//!
//! Every join of one dimension on one key runs in one operator: the dimension's rows are kept
//! once by key and shared by the streams (queries) that join it. The streams and the dimension
//! are exchanged by the hash of the join key. For each stream the operator keeps the rows that
//! a dimension change may still revise: when the query reading that join is windowed, until
//! the row's window is final (the watermark is computed as in the aggregate operator, from the
//! same rows, so both agree on what is final); otherwise for the life of the job. Epoch by
//! epoch: dimension changes first (each kept stream row of a changed key is emitted again:
//! `-old +new`), then the epoch's stream rows.
//!
//! Keys and the residual predicate that hold an EXECUTE are evaluated with checks, as a map or
//! an aggregate does: a row whose evaluation fails (a loop past `execute.max.iterations`) is
//! counted as a bad row, sampled in the log and skipped, rather than joined as if its key or
//! predicate were NULL.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use super::delta_map::DeltaMap;

use std::sync::Arc;

use differential_dataflow::{AsCollection, VecCollection};
use tally_connectors::Metrics;
use tally_sql::expr::{EvalError, ScalarExpr};
use tally_sql::plan::JoinPlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::vec::Map as _;
use timely::dataflow::operators::Concatenate;
use timely::dataflow::StreamVec;

use super::epoch_op::{self, EpochState, Watermarks};
use super::{hash_values, Rows, Shared};

/// Which input an update came from, with the data the operator needs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// A row of stream `idx`, its key, its event time and the end of its window (i64::MAX:
    /// kept for ever; the event time is then unused).
    Stream(u32, Row, Row, i64, i64),
    Dim(Row, Row),
}

/// One stream of a shared join operator: its rows, its join, and what its watermark needs.
pub struct Member<'s> {
    pub stream: Rows<'s>,
    pub plan: JoinPlan,
    pub label: String,
    /// The sources whose rows reach the stream (for the watermark's lanes).
    pub sources: Vec<usize>,
}

/// What the join keeps for one stream.
pub struct Kept {
    residual: Option<ScalarExpr>,
    /// Whether the residual has an EXECUTE (and is evaluated with checks).
    residual_can_fail: bool,
    /// The query reading the join, for bad rows.
    label: String,
    dim_width: usize,
    /// A lookup join: no row for a stream row nothing matches.
    inner: bool,
}

/// The rows the join keeps for one stream.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct KeptRows {
    /// Kept rows by key: row -> (multiplicity, window end).
    rows: DeltaMap<Row, HashMap<Row, (i64, i64)>>,
    /// Kept rows by window end. Not in a snapshot: made again from `rows` when one is restored.
    #[serde(skip)]
    expiry: BTreeMap<i64, Vec<(Row, Row)>>,
}

impl KeptRows {
    /// Makes `expiry` again from the kept rows.
    fn index(&mut self) {
        self.expiry.clear();
        for (key, rows) in self.rows.iter() {
            for (row, &(_, until)) in rows {
                if until != i64::MAX {
                    self.expiry
                        .entry(until)
                        .or_default()
                        .push((key.clone(), row.clone()));
                }
            }
        }
    }
}

/// What a join's epochs change: the dimension by key, and each stream's kept rows.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct JoinData {
    dims: DeltaMap<Row, HashMap<Row, i64>>,
    kept: Vec<KeptRows>,
}

/// A row's join key; `None` (the row counted as bad) when an EXECUTE in it fails.
pub(super) fn key_of(
    exprs: &[ScalarExpr],
    can_fail: bool,
    row: &Row,
    label: &str,
    metrics: &Metrics,
) -> Option<Row> {
    if can_fail {
        super::try_eval_all(exprs, row, label, metrics)
    } else {
        Some(exprs.iter().map(|e| e.eval(row)).collect())
    }
}

/// The joined rows of one stream row against the dimension rows of its key. An error (the
/// residual failed for some dimension row) means the stream row gives no output at all; the
/// result depends only on the row and the dimension, so retracting what it gave before is
/// computing it again.
fn joined(
    stream: &Row,
    dims: Option<&HashMap<Row, i64>>,
    s: &Kept,
) -> Result<Vec<(Row, i64)>, EvalError> {
    let mut out = Vec::with_capacity(dims.map_or(1, |d| d.len().max(1)));
    if let Some(dims) = dims {
        for (d, n) in dims {
            // Sized for both sides at once: a clone of the stream row then extended would be
            // reallocated.
            let mut r = Vec::with_capacity(stream.len() + d.len());
            r.extend_from_slice(stream);
            r.extend(d.iter().cloned());
            let keep = match &s.residual {
                None => true,
                Some(p) if s.residual_can_fail => p.try_eval(&r)?.is_true(),
                Some(p) => p.eval(&r).is_true(),
            };
            if keep {
                out.push((r, *n));
            }
        }
    }
    if out.is_empty() && !s.inner {
        let mut r = Vec::with_capacity(stream.len() + s.dim_width);
        r.extend_from_slice(stream);
        r.extend(std::iter::repeat_n(Value::Null, s.dim_width));
        out.push((r, 1));
    }
    Ok(out)
}

/// Renders the joins of one dimension (`dim`, keyed by `dim_key`): one output per member, in
/// order.
pub fn render_group<'s>(
    dim: Rows<'s>,
    dim_key: Vec<ScalarExpr>,
    members: Vec<Member<'s>>,
    shared: &Shared,
    persist: (String, &epoch_op::Persist<'s>),
) -> Vec<Rows<'s>> {
    let count = members.len();
    let scope = dim.inner.scope();
    let mut tagged = Vec::with_capacity(count + 1);
    let mut maxima = Vec::with_capacity(count);
    let mut kept_init = Vec::with_capacity(count);
    for (idx, m) in members.into_iter().enumerate() {
        let idx32 = idx as u32;
        let stream_key = m.plan.stream_key.clone();
        let key_can_fail = stream_key.iter().any(ScalarExpr::can_fail);
        let retain = m.plan.retain.clone();
        let time_can_fail = retain.as_ref().is_some_and(|r| r.time.can_fail());
        let metrics = shared.metrics.clone();
        let query = m.label.clone();
        // Tag each stream row with its key (and its window end).
        let tagged_stream = m.stream.flat_map(move |row| {
            let key = key_of(&stream_key, key_can_fail, &row, &query, &metrics)?;
            let (time, until) = match &retain {
                None => (i64::MIN, i64::MAX),
                Some(r) => {
                    let t = if time_can_fail {
                        let checked = super::try_eval_all(
                            std::slice::from_ref(&r.time),
                            &row,
                            &query,
                            &metrics,
                        )?;
                        checked.into_iter().next().unwrap_or(Value::Null)
                    } else {
                        r.time.eval(&row)
                    };
                    let (t, start) = super::pane_of(&t, r.size_ms, &row, &query, &metrics)?;
                    (t, start + r.size_ms as i64)
                }
            };
            Some(Side::Stream(idx32, row, key, time, until))
        });
        // The watermark of this stream, as the aggregate reading its join computes it.
        maxima.push(
            super::event_time_maxima(tagged_stream.inner.clone(), |s: &Side| match s {
                Side::Stream(_, _, _, time, _) => *time,
                Side::Dim(..) => i64::MIN,
            })
            .map(move |(epoch, max)| (idx32, epoch, max)),
        );
        tagged.push(tagged_stream.inner);
        kept_init.push((
            m.plan.residual.clone(),
            m.plan.dim_width,
            m.plan.retain.as_ref().map_or(0, |r| r.lateness_ms as i64),
            m.sources,
            m.label,
            m.plan.inner,
        ));
    }
    let dim_can_fail = dim_key.iter().any(ScalarExpr::can_fail);
    let dim_label = format!(
        "the dimension of {}",
        kept_init.first().map_or("a join", |k| k.4.as_str())
    );
    let metrics = shared.metrics.clone();
    let tagged_dim = dim.flat_map(move |row| {
        let key = key_of(&dim_key, dim_can_fail, &row, &dim_label, &metrics)?;
        Some(Side::Dim(row, key))
    });
    tagged.push(tagged_dim.inner);
    let updates = scope.concatenate(tagged);
    let maxima = scope.concatenate(maxima);
    // One stream's rows come out as they are; several streams' carry their stream's index and
    // each query reads its own.
    if count == 1 {
        return vec![operator(
            updates,
            maxima,
            kept_init,
            shared,
            persist,
            |_, row| row,
        )];
    }
    let joined_rows = operator(updates, maxima, kept_init, shared, persist, |idx, row| {
        (idx, row)
    });
    (0..count as u32)
        .map(|i| {
            joined_rows
                .clone()
                .flat_map(move |(j, row)| (j == i).then_some(row))
        })
        .collect()
}

/// What the operator is built from for each stream: residual, dimension width, lateness,
/// upstream sources, the query's label and whether it is a lookup join.
type KeptInit = (Option<ScalarExpr>, usize, i64, Vec<usize>, String, bool);

/// The join operator: `updates` (every stream's rows and the dimension's), `maxima` (each
/// stream's event-time maxima, by stream index); `wrap` makes an output record of a joined row
/// and its stream's index.
fn operator<'s, D>(
    updates: StreamVec<'s, u64, (Side, u64, isize)>,
    maxima: StreamVec<'s, u64, (u32, u64, i64)>,
    kept_init: Vec<KeptInit>,
    shared: &Shared,
    (id, persist): (String, &epoch_op::Persist<'s>),
    wrap: fn(u32, Row) -> D,
) -> VecCollection<'s, u64, D, isize>
where
    D: Clone + 'static,
{
    let by_key = ExchangePact::new(|(side, _, _): &(Side, u64, isize)| match side {
        Side::Stream(_, _, k, _, _) | Side::Dim(_, k) => hash_values(k),
    });
    let clocks = kept_init
        .iter()
        .map(|(_, _, lateness, sources, _, _)| shared.clock(*lateness, sources.clone()))
        .collect();
    let streams = kept_init
        .into_iter()
        .map(|(residual, dim_width, _, _, label, inner)| {
            Kept::new(residual, dim_width, label).inner(inner)
        })
        .collect();
    let state = JoinState::new(streams, wrap, shared.metrics.clone());
    epoch_op::render(
        "LeftJoin",
        id,
        updates,
        by_key,
        Some(maxima),
        clocks,
        state,
        persist,
    )
    .as_collection()
}

/// The shared join operator's state: the dimension's rows by key, once, and for each stream
/// the rows a dimension change may still revise. Clock `i` is stream `i`'s watermark.
///
/// Per epoch: dimension changes first (each kept stream row of a changed key is emitted again
/// as `-old +new`, for every stream), then the epoch's stream rows are joined and kept while
/// their window is open; rows whose window the watermark has passed are forgotten.
pub struct JoinState<D> {
    streams: Vec<Kept>,
    data: JoinData,
    wrap: fn(u32, Row) -> D,
    metrics: Arc<Metrics>,
}

impl Kept {
    pub fn new(residual: Option<ScalarExpr>, dim_width: usize, label: String) -> Self {
        Kept {
            residual_can_fail: residual.as_ref().is_some_and(ScalarExpr::can_fail),
            residual,
            label,
            dim_width,
            inner: false,
        }
    }

    /// A lookup join's stream: a row nothing matches gives no output.
    pub fn inner(mut self, inner: bool) -> Self {
        self.inner = inner;
        self
    }
}

impl<D> JoinState<D> {
    pub fn new(streams: Vec<Kept>, wrap: fn(u32, Row) -> D, metrics: Arc<Metrics>) -> Self {
        JoinState {
            data: JoinData {
                dims: DeltaMap::default(),
                kept: streams.iter().map(|_| KeptRows::default()).collect(),
            },
            streams,
            wrap,
            metrics,
        }
    }

    /// Stream rows kept, over all streams (for tests and measurements).
    pub fn kept_rows(&self) -> usize {
        self.data
            .kept
            .iter()
            .map(|s| s.rows.values().map(HashMap::len).sum::<usize>())
            .sum()
    }

    /// One key's dimension changes: what the kept stream rows of the key joined to is retracted
    /// and joined again.
    fn dimension_changed(&mut self, key: Row, changes: Vec<(Row, i64)>, out: &mut Vec<(D, isize)>) {
        let wrap = self.wrap;
        // Retract what every stream's kept rows of the key joined to (nothing for a row whose
        // residual failed), remembering which rows failed.
        let mut failed_before = Vec::new();
        let JoinData { dims, kept } = &mut self.data;
        for (idx, (s, k)) in self.streams.iter().zip(kept.iter()).enumerate() {
            let Some(rows) = k.rows.get(&key) else {
                continue;
            };
            for (row, (n, _)) in rows {
                let Ok(joined_rows) = joined(row, dims.get(&key), s) else {
                    failed_before.push((idx, row.clone()));
                    continue;
                };
                for (r, m) in joined_rows {
                    out.push((wrap(idx as u32, r), -(n * m) as isize));
                }
            }
        }
        let entry = dims.get_or_default(&key);
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
        for (idx, (s, k)) in self.streams.iter().zip(kept.iter()).enumerate() {
            let Some(rows) = k.rows.get(&key) else {
                continue;
            };
            for (row, (n, _)) in rows {
                match joined(row, dims.get(&key), s) {
                    Ok(joined_rows) => {
                        for (r, m) in joined_rows {
                            out.push((wrap(idx as u32, r), (n * m) as isize));
                        }
                    }
                    // Counted once: when the change makes a good row fail.
                    Err(e) if !failed_before.contains(&(idx, row.clone())) => {
                        self.metrics
                            .bad_row(&s.label, &e.to_string(), &format!("{row:?}"))
                    }
                    Err(_) => {}
                }
            }
        }
    }
}

impl<D: 'static> EpochState for JoinState<D> {
    type In = Side;
    type Out = D;
    type Data = JoinData;

    fn data(&self) -> &JoinData {
        &self.data
    }

    fn restore(&mut self, data: JoinData) {
        self.data = data;
        for k in &mut self.data.kept {
            k.index();
        }
    }

    fn absorb(&self, data: &mut JoinData, newer: JoinData) {
        data.dims.absorb(newer.dims);
        if data.kept.len() < newer.kept.len() {
            data.kept.resize_with(newer.kept.len(), KeptRows::default);
        }
        for (into, from) in data.kept.iter_mut().zip(newer.kept) {
            into.rows.absorb(from.rows);
        }
    }

    fn merge(&self, parts: Vec<JoinData>, worker: usize, peers: usize) -> JoinData {
        let mine = |key: &Row| super::owns(key, worker, peers);
        let mut out = JoinData::default();
        for p in parts {
            out.dims.extend(p.dims.into_iter().filter(|(k, _)| mine(k)));
            if out.kept.len() < p.kept.len() {
                out.kept.resize_with(p.kept.len(), KeptRows::default);
            }
            for (into, from) in out.kept.iter_mut().zip(p.kept) {
                into.rows
                    .extend(from.rows.into_iter().filter(|(k, _)| mine(k)));
            }
        }
        out
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(Side, isize)>,
        watermarks: Watermarks<'_>,
        out: &mut Vec<(D, isize)>,
    ) {
        let wrap = self.wrap;
        // Dimension changes, grouped by key.
        let mut changed: HashMap<Row, Vec<(Row, i64)>> = HashMap::default();
        let mut stream_rows = Vec::with_capacity(updates.len());
        for (side, diff) in updates.drain(..) {
            match side {
                // A NULL in a key equals nothing: such a dimension row never matches.
                Side::Dim(_, key) if key.iter().any(Value::is_null) => {}
                Side::Dim(row, key) => changed.entry(key).or_default().push((row, diff as i64)),
                Side::Stream(idx, row, key, _, until) => {
                    stream_rows.push((idx, row, key, until, diff as i64))
                }
            }
        }
        for (key, changes) in changed {
            self.dimension_changed(key, changes, out);
        }
        for (idx, row, key, until, diff) in stream_rows {
            let s = &self.streams[idx as usize];
            let k = &mut self.data.kept[idx as usize];
            match joined(&row, self.data.dims.get(&key), s) {
                Ok(joined_rows) => {
                    for (r, m) in joined_rows {
                        out.push((wrap(idx, r), (diff * m) as isize));
                    }
                }
                // A retraction of a bad row takes back nothing and is not counted again. The
                // row is still kept: a dimension change may mend it.
                Err(e) if diff > 0 => {
                    self.metrics
                        .bad_row(&s.label, &e.to_string(), &format!("{row:?}"))
                }
                Err(_) => {}
            }
            // Keep the row while its window is open.
            let before = watermarks.before.get(idx as usize).copied().flatten();
            if before.is_none_or(|wm| until > wm) {
                let rows = k.rows.get_or_default(&key);
                let e = rows.entry(row.clone()).or_insert((0, until));
                e.0 += diff;
                if e.0 == 0 {
                    rows.remove(&row);
                } else if until != i64::MAX {
                    k.expiry.entry(until).or_default().push((key, row));
                }
            }
        }
        for (s, wm) in self.data.kept.iter_mut().zip(watermarks.after) {
            let Some(wm) = *wm else { continue };
            while let Some((&until, _)) = s.expiry.first_key_value() {
                if until > wm {
                    break;
                }
                for (key, row) in s.expiry.pop_first().expect("non-empty").1 {
                    if let Some(rows) = s.rows.get_mut(&key) {
                        rows.remove(&row);
                        if rows.is_empty() {
                            s.rows.remove(&key);
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self, _out: &mut Vec<(D, isize)>) {
        self.data.dims.clear();
        for s in &mut self.data.kept {
            s.rows.clear();
            s.expiry.clear();
        }
    }
}
