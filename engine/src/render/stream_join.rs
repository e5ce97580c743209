//! `Node::Join`: Flink's regular inner join of two streams (or query results) on equal keys.
//!
//! Both inputs are exchanged by the hash of the join key and kept by key, each row with its
//! multiplicity, for the life of the job (a regular join's state is not bounded by time). An
//! epoch's changes are joined as a delta join: the left changes against the right rows before
//! the epoch, then the right changes against the left rows after it (`ΔL ⋈ R + L' ⋈ ΔR`), so
//! the output is always the join of everything each side holds, whichever side a row arrives
//! on and whether it is an insert or a retraction. A row with a NULL in its key matches
//! nothing and is not kept. A residual that holds an EXECUTE is evaluated with checks: a pair
//! whose evaluation fails is counted as a bad row and gives no output, the same way each time
//! the pair is met.

use std::sync::Arc;

use differential_dataflow::AsCollection;
use rustc_hash::FxHashMap as HashMap;
use tally_connectors::Metrics;
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::StreamJoinPlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::Concat;

use super::delta_map::DeltaMap;
use super::epoch_op::{self, EpochState, Watermarks};
use super::join::key_of;
use super::{hash_values, Rows, Shared};

/// A row of one side with its join key.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum JoinInput {
    Left(Row, Row),
    Right(Row, Row),
}

pub fn render<'s>(
    left: Rows<'s>,
    right: Rows<'s>,
    plan: &StreamJoinPlan,
    label: &str,
    shared: &Shared,
    (id, persist): (String, &epoch_op::Persist<'s>),
) -> Rows<'s> {
    let tag = |rows: Rows<'s>, key: Vec<ScalarExpr>, left: bool| {
        let can_fail = key.iter().any(ScalarExpr::can_fail);
        let metrics = shared.metrics.clone();
        let label = label.to_string();
        rows.flat_map(move |row| {
            let k = key_of(&key, can_fail, &row, &label, &metrics)?;
            Some(if left {
                JoinInput::Left(row, k)
            } else {
                JoinInput::Right(row, k)
            })
        })
        .inner
    };
    let updates =
        tag(left, plan.left_key.clone(), true).concat(tag(right, plan.right_key.clone(), false));
    let by_key = ExchangePact::new(|(input, _, _): &(JoinInput, u64, isize)| match input {
        JoinInput::Left(_, k) | JoinInput::Right(_, k) => hash_values(k),
    });
    let state = StreamJoinState::new(
        plan.residual.clone(),
        label.to_string(),
        shared.metrics.clone(),
    );
    epoch_op::render(
        "Join",
        id,
        updates,
        by_key,
        None,
        Vec::new(),
        state,
        persist,
    )
    .as_collection()
}

/// One side's rows by key: row -> multiplicity.
type Side = DeltaMap<Row, HashMap<Row, i64>>;

/// Both sides' rows, by key.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct StreamJoinData {
    left: Side,
    right: Side,
}

/// The join's state: what each side holds, by key.
pub struct StreamJoinState {
    residual: Option<ScalarExpr>,
    residual_can_fail: bool,
    label: String,
    metrics: Arc<Metrics>,
    data: StreamJoinData,
}

impl StreamJoinState {
    pub fn new(residual: Option<ScalarExpr>, label: String, metrics: Arc<Metrics>) -> Self {
        StreamJoinState {
            residual_can_fail: residual.as_ref().is_some_and(ScalarExpr::can_fail),
            residual,
            label,
            metrics,
            data: StreamJoinData::default(),
        }
    }

    /// Rows kept on each side (distinct rows, for tests and measurements).
    pub fn kept_rows(&self) -> (usize, usize) {
        let count = |s: &Side| s.values().map(HashMap::len).sum();
        (count(&self.data.left), count(&self.data.right))
    }

    /// The joined row of `l` and `r` when the residual holds.
    fn pair(&self, l: &Row, r: &Row) -> Option<Row> {
        let mut row = Vec::with_capacity(l.len() + r.len());
        row.extend_from_slice(l);
        row.extend(r.iter().cloned());
        let keep = match &self.residual {
            None => true,
            Some(p) if self.residual_can_fail => match p.try_eval(&row) {
                Ok(v) => v.is_true(),
                Err(e) => {
                    self.metrics
                        .bad_row(&self.label, &e.to_string(), &format!("{row:?}"));
                    false
                }
            },
            Some(p) => p.eval(&row).is_true(),
        };
        keep.then_some(row)
    }
}

/// An epoch's changes of one side, consolidated, by key (keys with a NULL dropped).
fn changes_by_key(changes: HashMap<(Row, Row), i64>) -> HashMap<Row, Vec<(Row, i64)>> {
    let mut by_key: HashMap<Row, Vec<(Row, i64)>> = HashMap::default();
    for ((key, row), diff) in changes {
        if diff != 0 {
            by_key.entry(key).or_default().push((row, diff));
        }
    }
    by_key
}

/// Adds `changes` to one key's rows on `side`.
fn absorb_changes(side: &mut Side, key: &Row, changes: &[(Row, i64)]) {
    let rows = side.get_or_default(key);
    for (row, diff) in changes {
        let n = rows.entry(row.clone()).or_insert(0);
        *n += diff;
        if *n == 0 {
            rows.remove(row);
        }
    }
    if rows.is_empty() {
        side.remove(key);
    }
}

impl EpochState for StreamJoinState {
    type In = JoinInput;
    type Out = Row;
    type Data = StreamJoinData;

    fn data(&self) -> &StreamJoinData {
        &self.data
    }

    fn restore(&mut self, data: StreamJoinData) {
        self.data = data;
    }

    fn absorb(&self, data: &mut StreamJoinData, newer: StreamJoinData) {
        data.left.absorb(newer.left);
        data.right.absorb(newer.right);
    }

    fn merge(&self, parts: Vec<StreamJoinData>, worker: usize, peers: usize) -> StreamJoinData {
        let mut out = StreamJoinData::default();
        for part in parts {
            for (mine, theirs) in [(&mut out.left, part.left), (&mut out.right, part.right)] {
                for (k, rows) in theirs {
                    if super::owns(&k, worker, peers) {
                        mine.insert(k, rows);
                    }
                }
            }
        }
        out
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(JoinInput, isize)>,
        _watermarks: Watermarks<'_>,
        out: &mut Vec<(Row, isize)>,
    ) {
        let mut left: HashMap<(Row, Row), i64> = HashMap::default();
        let mut right: HashMap<(Row, Row), i64> = HashMap::default();
        for (input, diff) in updates.drain(..) {
            let (side, row, key) = match input {
                JoinInput::Left(row, key) => (&mut left, row, key),
                JoinInput::Right(row, key) => (&mut right, row, key),
            };
            if key.iter().any(Value::is_null) {
                continue;
            }
            *side.entry((key, row)).or_insert(0) += diff as i64;
        }
        let left = changes_by_key(left);
        let right = changes_by_key(right);
        // The left changes against the right rows before this epoch.
        for (key, changes) in &left {
            if let Some(rows) = self.data.right.get(key) {
                for (l, dl) in changes {
                    for (r, n) in rows {
                        if let Some(row) = self.pair(l, r) {
                            out.push((row, (dl * n) as isize));
                        }
                    }
                }
            }
        }
        let mut data = std::mem::take(&mut self.data);
        for (key, changes) in &left {
            absorb_changes(&mut data.left, key, changes);
        }
        // The right changes against the left rows after it.
        for (key, changes) in &right {
            if let Some(rows) = data.left.get(key) {
                for (r, dr) in changes {
                    for (l, n) in rows {
                        if let Some(row) = self.pair(l, r) {
                            out.push((row, (dr * n) as isize));
                        }
                    }
                }
            }
            absorb_changes(&mut data.right, key, changes);
        }
        self.data = data;
    }
}
