//! `Node::TopN`: Flink's top-N and deduplication (`ROW_NUMBER() OVER (PARTITION BY ...
//! ORDER BY ...)` kept `<= N`).
//!
//! Rows are exchanged by the hash of their partition and kept per partition in sort order
//! (the ORDER BY values, DESC ones reversed, then the whole row: ties are broken the same way
//! on every run). After an epoch's changes to a partition, its first `limit` rows are compared
//! rank by rank with what they were before: each rank whose row changed retracts the old
//! ranked row and adds the new one. An input that never retracts (a stream) keeps only the
//! first `limit` rows of each partition: a row pushed out can never come back.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use rustc_hash::FxHashMap as HashMap;
use tally_sql::expr::ScalarExpr;
use tally_sql::plan::TopNPlan;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;

use super::delta_map::DeltaMap;
use super::epoch_op::{self, EpochState, Watermarks};
use super::{hash_values, Rows, Shared};

/// One ORDER BY value: ascending, or descending (its order reversed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SortValue {
    Asc(Value),
    Desc(Value),
}

impl Ord for SortValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortValue::Asc(a), SortValue::Asc(b)) => a.cmp(b),
            (SortValue::Desc(a), SortValue::Desc(b)) => b.cmp(a),
            (SortValue::Asc(_), SortValue::Desc(_)) => Ordering::Less,
            (SortValue::Desc(_), SortValue::Asc(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for SortValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A row of the input: its partition, its place in the sort order, the row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ranked {
    pub partition: Row,
    pub sort: Vec<SortValue>,
    pub row: Row,
}

pub fn render<'s>(
    rows: Rows<'s>,
    plan: &TopNPlan,
    label: &str,
    shared: &Shared,
    (id, persist): (String, &epoch_op::Persist<'s>),
) -> Rows<'s> {
    let order = plan.order.clone();
    let width = plan.partition.len();
    let exprs: Vec<ScalarExpr> = plan
        .partition
        .iter()
        .chain(order.iter().map(|(e, _)| e))
        .cloned()
        .collect();
    let can_fail = exprs.iter().any(ScalarExpr::can_fail);
    let metrics = shared.metrics.clone();
    let label = label.to_string();
    let ranked = rows.flat_map(move |row| {
        let values = super::join::key_of(&exprs, can_fail, &row, &label, &metrics)?;
        let (p, o) = values.split_at(width);
        Some(Ranked {
            partition: p.to_vec(),
            sort: sort_key(o, &order),
            row,
        })
    });
    let by_partition =
        ExchangePact::new(|(r, _, _): &(Ranked, u64, isize)| hash_values(&r.partition));
    let state = TopNState::new(plan.limit, plan.append_only);
    epoch_op::render(
        "TopN",
        id,
        ranked.inner,
        by_partition,
        None,
        Vec::new(),
        state,
        persist,
    )
    .as_collection()
}

/// The sort key of ORDER BY values `values`, as `order` has them (DESC or not).
pub fn sort_key(values: &[Value], order: &[(ScalarExpr, bool)]) -> Vec<SortValue> {
    values
        .iter()
        .zip(order)
        .map(|(v, (_, desc))| {
            if *desc {
                SortValue::Desc(v.clone())
            } else {
                SortValue::Asc(v.clone())
            }
        })
        .collect()
}

/// One partition's rows in sort order, each with its multiplicity.
type Partition = BTreeMap<(Vec<SortValue>, Row), i64>;

/// Every partition's rows (its first `limit` only, for an append-only input).
pub struct TopNState {
    limit: usize,
    append_only: bool,
    partitions: DeltaMap<Row, Partition>,
}

impl TopNState {
    pub fn new(limit: u64, append_only: bool) -> Self {
        TopNState {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            append_only,
            partitions: DeltaMap::default(),
        }
    }

    /// Rows kept over all partitions (distinct rows, for tests and measurements).
    pub fn kept_rows(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }
}

/// The first `limit` rows of a partition, a row of multiplicity `n` taking `n` ranks.
fn first(rows: Option<&Partition>, limit: usize) -> Vec<Row> {
    let mut out = Vec::new();
    let Some(rows) = rows else {
        return out;
    };
    'rows: for ((_, row), n) in rows {
        for _ in 0..*n {
            if out.len() == limit {
                break 'rows;
            }
            out.push(row.clone());
        }
    }
    out
}

/// `row` with its rank (from 1) as one more column.
fn ranked(row: &Row, rank: usize) -> Row {
    let mut r = Vec::with_capacity(row.len() + 1);
    r.extend_from_slice(row);
    r.push(Value::Int(rank as i64 + 1));
    r
}

impl EpochState for TopNState {
    type In = Ranked;
    type Out = Row;
    type Data = DeltaMap<Row, Partition>;

    fn data(&self) -> &Self::Data {
        &self.partitions
    }

    fn restore(&mut self, data: Self::Data) {
        self.partitions = data;
    }

    fn absorb(&self, data: &mut Self::Data, newer: Self::Data) {
        data.absorb(newer);
    }

    fn merge(&self, parts: Vec<Self::Data>, worker: usize, peers: usize) -> Self::Data {
        parts
            .into_iter()
            .flatten()
            .filter(|(k, _)| super::owns(k, worker, peers))
            .collect()
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(Ranked, isize)>,
        _watermarks: Watermarks<'_>,
        out: &mut Vec<(Row, isize)>,
    ) {
        let mut changes: HashMap<Row, HashMap<(Vec<SortValue>, Row), i64>> = HashMap::default();
        let mut order: Vec<Row> = Vec::new();
        for (r, diff) in updates.drain(..) {
            let part = changes.entry(r.partition.clone()).or_insert_with(|| {
                order.push(r.partition.clone());
                HashMap::default()
            });
            *part.entry((r.sort, r.row)).or_insert(0) += diff as i64;
        }
        for key in order {
            let part_changes = changes.remove(&key).expect("recorded");
            let before = first(self.partitions.get(&key), self.limit);
            let rows = self.partitions.get_or_default(&key);
            for (entry, diff) in part_changes {
                if diff == 0 {
                    continue;
                }
                let n = rows.entry(entry.clone()).or_insert(0);
                *n += diff;
                if *n == 0 {
                    rows.remove(&entry);
                }
            }
            if self.append_only {
                // Keep the first `limit` row instances: whatever sorts after can never rank.
                let mut seen = 0i64;
                let mut cut = None;
                for (entry, n) in rows.iter_mut() {
                    if seen + *n > self.limit as i64 {
                        *n = self.limit as i64 - seen;
                        cut = Some(entry.clone());
                        break;
                    }
                    seen += *n;
                }
                if let Some(cut) = cut {
                    let mut rest = rows.split_off(&cut);
                    if let Some((entry, n)) = rest.pop_first() {
                        if n > 0 {
                            rows.insert(entry, n);
                        }
                    }
                }
            }
            let empty = rows.is_empty();
            let after = first(self.partitions.get(&key), self.limit);
            if empty {
                self.partitions.remove(&key);
            }
            for i in 0..before.len().max(after.len()) {
                let (old, new) = (before.get(i), after.get(i));
                if old == new {
                    continue;
                }
                if let Some(old) = old {
                    out.push((ranked(old, i), -1));
                }
                if let Some(new) = new {
                    out.push((ranked(new, i), 1));
                }
            }
        }
    }
}
