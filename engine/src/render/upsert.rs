//! `Node::Upsert`: a dimension's rows as a table by key; a new row for a key replaces the old
//! one (`-old +new`).

use rustc_hash::FxHashMap as HashMap;

use differential_dataflow::AsCollection;
use tally_sql::Row;
use timely::dataflow::channels::pact::Exchange as ExchangePact;

use super::epoch_op::{self, EpochState, Watermarks};
use super::{hash_values, Rows};

pub fn render(rows: Rows<'_>, key: Vec<usize>) -> Rows<'_> {
    let route_key = key.clone();
    let by_key = ExchangePact::new(move |(row, _, _): &(Row, u64, isize)| {
        let k: Row = route_key.iter().map(|&i| row[i].clone()).collect();
        hash_values(&k)
    });
    let state = UpsertState::new(key);
    epoch_op::render("Upsert", rows.inner, by_key, None, Vec::new(), state).as_collection()
}

/// The upserted table: key -> the row it holds now.
pub struct UpsertState {
    key: Vec<usize>,
    table: HashMap<Row, Row>,
}

impl UpsertState {
    pub fn new(key: Vec<usize>) -> Self {
        UpsertState {
            key,
            table: HashMap::default(),
        }
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
    type Data = HashMap<Row, Row>;

    fn data(&self) -> &HashMap<Row, Row> {
        &self.table
    }

    fn restore(&mut self, table: HashMap<Row, Row>) {
        self.table = table;
    }

    fn apply(
        &mut self,
        _epoch: u64,
        updates: &mut Vec<(Row, isize)>,
        _watermarks: Watermarks<'_>,
        out: &mut Vec<(Row, isize)>,
    ) {
        for (row, diff) in updates.drain(..) {
            let k: Row = self.key.iter().map(|&i| row[i].clone()).collect();
            if diff > 0 {
                if let Some(old) = self.table.insert(k, row.clone()) {
                    if old == row {
                        continue;
                    }
                    out.push((old, -1));
                }
                out.push((row, 1));
            } else if self.table.get(&k) == Some(&row) {
                self.table.remove(&k);
                out.push((row, -1));
            }
        }
    }
}
