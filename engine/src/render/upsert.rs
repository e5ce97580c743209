//! `Node::Upsert`: a dimension's rows as a table by key; a new row for a key replaces the old
//! one (`-old +new`).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use differential_dataflow::AsCollection;
use tally_sql::Row;
use timely::dataflow::channels::pact::Exchange as ExchangePact;
use timely::dataflow::operators::{Capability, Operator};

use super::{hash_values, Rows};

pub fn render(rows: Rows<'_>, key: Vec<usize>) -> Rows<'_> {
    let route_key = key.clone();
    let by_key = ExchangePact::new(move |(row, _, _): &(Row, u64, isize)| {
        let k: Row = route_key.iter().map(|&i| row[i].clone()).collect();
        hash_values(&k)
    });
    rows.inner
        .unary_frontier(by_key, "Upsert", move |cap, _info| {
            let mut held: Option<Capability<u64>> = Some(cap);
            let mut stash: BTreeMap<u64, Vec<(Row, isize)>> = BTreeMap::new();
            let mut table: HashMap<Row, Row> = HashMap::default();
            move |(input, frontier), output| {
                input.for_each(|_cap, batch| {
                    for (row, t, d) in batch.drain(..) {
                        stash.entry(t).or_default().push((row, d));
                    }
                });
                let limit = frontier.frontier().as_option().copied();
                let Some(cap) = held.as_mut() else { return };
                while let Some((&epoch, _)) = stash.first_key_value() {
                    if limit.is_some_and(|f| epoch >= f) {
                        break;
                    }
                    let updates = stash.pop_first().expect("non-empty").1;
                    let at = cap.delayed(&epoch);
                    let mut session = output.session(&at);
                    for (row, diff) in updates {
                        let k: Row = key.iter().map(|&i| row[i].clone()).collect();
                        if diff > 0 {
                            if let Some(old) = table.insert(k, row.clone()) {
                                if old == row {
                                    continue;
                                }
                                session.give((old, epoch, -1));
                            }
                            session.give((row, epoch, 1));
                        } else if table.get(&k) == Some(&row) {
                            table.remove(&k);
                            session.give((row, epoch, -1));
                        }
                    }
                }
                match limit {
                    Some(f) if *cap.time() < f => cap.downgrade(&f),
                    Some(_) => {}
                    None => held = None,
                }
            }
        })
        .as_collection()
}
