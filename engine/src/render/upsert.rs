//! `Node::Upsert`: a dimension's rows as a table by key; a new row for a key replaces the old
//! one (`-old +new`).
//!
//! Which row a key holds after an epoch does not depend on the order the epoch's updates
//! arrived in where the source defines one: the epoch's updates are consolidated first (a row
//! deleted and inserted again, or inserted and deleted, within one epoch is no change), then the
//! rows that left are removed, then the rows that arrived are applied. A change log (a binlog
//! transaction that flips a row and flips it back, an update as `-old +new`) comes out as its
//! net effect, whatever order its inserts and deletes were delivered in. When several rows of
//! one key arrive in one epoch, the one with the greatest version wins where the table names a
//! version column; otherwise the latest in its source, by the position the worker loop feeds
//! with each row ([`SourcePlan::positioned`](tally_sql::plan::SourcePlan::positioned)), so the
//! winner never depends on the order rows reach this worker in (from one worker or several).
//! Without positions (a state built alone), the last to arrive wins.

use rustc_hash::FxHashMap as HashMap;

use differential_dataflow::AsCollection;
use tally_sql::{Row, Value};
use timely::dataflow::channels::pact::Exchange as ExchangePact;

use super::delta_map::DeltaMap;
use super::epoch_op::{self, EpochState, Watermarks};
use super::{hash_values, Rows};

pub fn render<'s>(
    rows: Rows<'s>,
    key: Vec<usize>,
    version: Option<usize>,
    position: Option<usize>,
    (id, persist): (String, &epoch_op::Persist<'s>),
) -> Rows<'s> {
    let route_key = key.clone();
    let by_key = ExchangePact::new(move |(row, _, _): &(Row, u64, isize)| {
        let k: Row = route_key.iter().map(|&i| row[i].clone()).collect();
        hash_values(&k)
    });
    let state = UpsertState::new(key, version).positioned(position);
    epoch_op::render(
        "Upsert",
        id,
        rows.inner,
        by_key,
        None,
        Vec::new(),
        state,
        persist,
    )
    .as_collection()
}

/// The upserted table: key -> the row it holds now.
pub struct UpsertState {
    key: Vec<usize>,
    /// The version column: a row replaces the key's row only if its version is not smaller.
    version: Option<usize>,
    /// Where an input row's two position columns start (they are cut off before the row is
    /// kept): of several rows of one key in one epoch, the greatest position wins.
    position: Option<usize>,
    table: DeltaMap<Row, Row>,
}

/// Where a row stands among an epoch's arrivals: its position in its source, or (without
/// one) the place of its last arrival.
type Order = (i64, i64);

impl UpsertState {
    pub fn new(key: Vec<usize>, version: Option<usize>) -> Self {
        UpsertState {
            key,
            version,
            position: None,
            table: DeltaMap::default(),
        }
    }

    /// Input rows end with two position columns from `position` on.
    pub fn positioned(mut self, position: Option<usize>) -> Self {
        self.position = position;
        self
    }

    /// The row without its position columns, and where it stands (`n`: its place of arrival).
    fn order_of(&self, mut row: Row, n: usize) -> (Row, Order) {
        match self.position {
            Some(p) if row.len() >= p + 2 => {
                let at = |v: &Value| match v {
                    Value::Int(i) => *i,
                    _ => 0,
                };
                let order = (at(&row[p]), at(&row[p + 1]));
                row.truncate(p);
                (row, order)
            }
            _ => (row, (0, n as i64)),
        }
    }

    fn key_of(&self, row: &Row) -> Row {
        self.key.iter().map(|&i| row[i].clone()).collect()
    }

    /// Whether `row` replaces `current` (held from an earlier epoch) under the version column:
    /// a later row replaces an earlier one unless its version is smaller.
    fn replaces(&self, row: &Row, current: &Row) -> bool {
        self.version.is_none_or(|v| row.get(v) >= current.get(v))
    }

    /// Of two arrivals of one key in one epoch (`n`, `m`: where each stands), whether `row`
    /// wins over `other`: the greater version, then the later in the source.
    fn newer(&self, row: &Row, n: Order, other: &Row, m: Order) -> bool {
        let version = |r: &Row| self.version.and_then(|v| r.get(v).cloned());
        (version(row), n) > (version(other), m)
    }

    /// The rows held, in key order (for tests).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<(&Row, &Row)> = self.table.iter().collect();
        rows.sort();
        rows.into_iter().map(|(_, r)| r.clone()).collect()
    }
}

impl EpochState for UpsertState {
    type In = Row;
    type Out = Row;
    type Data = DeltaMap<Row, Row>;

    fn data(&self) -> &DeltaMap<Row, Row> {
        &self.table
    }

    fn restore(&mut self, table: DeltaMap<Row, Row>) {
        self.table = table;
    }

    fn absorb(&self, table: &mut DeltaMap<Row, Row>, newer: DeltaMap<Row, Row>) {
        table.absorb(newer);
    }

    fn merge(&self, parts: Vec<DeltaMap<Row, Row>>, worker: usize, peers: usize) -> Self::Data {
        parts
            .into_iter()
            .flatten()
            .filter(|(k, _)| super::owns(k, worker, peers))
            .collect()
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(Row, isize)>,
        _watermarks: Watermarks<'_>,
        out: &mut Vec<(Row, isize)>,
    ) {
        // Net changes, each row with where it stands (the latest of its arrivals).
        let mut at: HashMap<Row, usize> = HashMap::default();
        let mut net: Vec<(Row, isize, Order)> = Vec::with_capacity(updates.len());
        for (n, (row, diff)) in updates.drain(..).enumerate() {
            let (row, n) = self.order_of(row, n);
            match at.get(&row) {
                Some(&i) => {
                    net[i].1 += diff;
                    net[i].2 = net[i].2.max(n);
                }
                None => {
                    at.insert(row.clone(), net.len());
                    net.push((row, diff, n));
                }
            }
        }
        // The rows that left, then the rows that arrived.
        for (row, _, _) in net.iter().filter(|(_, d, _)| *d < 0) {
            let k = self.key_of(row);
            if self.table.get(&k) == Some(row) {
                self.table.remove(&k);
                out.push((row.clone(), -1));
            }
        }
        // Per key, the winner among the epoch's arrivals (the greatest version, then the latest
        // arrival), then one change per key.
        let mut winners: HashMap<Row, (Row, Order)> = HashMap::default();
        let mut order: Vec<Row> = Vec::new();
        for (row, _, n) in net.into_iter().filter(|(_, d, _)| *d > 0) {
            let k = self.key_of(&row);
            match winners.get(&k) {
                Some((w, m)) if !self.newer(&row, n, w, *m) => {}
                Some(_) => {
                    winners.insert(k, (row, n));
                }
                None => {
                    order.push(k.clone());
                    winners.insert(k, (row, n));
                }
            }
        }
        for k in order {
            let (row, _) = winners.remove(&k).expect("a winner per key");
            match self.table.get(&k) {
                Some(old) if *old == row => {}
                Some(old) if !self.replaces(&row, old) => {}
                Some(_) => {
                    let old = self.table.insert(k, row.clone()).expect("present");
                    out.push((old, -1));
                    out.push((row, 1));
                }
                None => {
                    self.table.insert(k, row.clone());
                    out.push((row, 1));
                }
            }
        }
    }
}
