//! Aggregate accumulators that take signed updates, so one operator serves append-only inputs
//! and inputs that retract (a query reading a windowed query, whose open windows are revised).

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use rust_decimal::Decimal;
use tally_sql::hll::Sketch;
use tally_sql::plan::{AggCall, AggFunc};
use tally_sql::{DataType, Value};

/// The running state of one aggregate of one group.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Acc {
    /// Rows (count(*)) or non-NULL values.
    Count(i64),
    /// Sum of integers and the number of non-NULL values.
    SumInt(i64, i64),
    SumDouble(f64, i64),
    SumDecimal(Decimal, i64),
    /// Distinct values with their multiplicity, ordered (min, max, sum/avg DISTINCT).
    Ordered(BTreeMap<Value, i64>),
    /// Distinct values with their multiplicity (countd).
    Distinct(HashMap<Value, i64>),
    /// A HyperLogLog sketch (countd_hllp, hllp); it only takes additions.
    Hll(Box<Sketch>),
}

impl Acc {
    pub fn new(call: &AggCall) -> Acc {
        match call.func {
            AggFunc::Count => Acc::Count(0),
            AggFunc::Sum | AggFunc::Avg => match call.arg_type {
                DataType::Int => Acc::SumInt(0, 0),
                DataType::Decimal { .. } => Acc::SumDecimal(Decimal::ZERO, 0),
                _ => Acc::SumDouble(0.0, 0),
            },
            AggFunc::Min
            | AggFunc::Max
            | AggFunc::SumDistinct
            | AggFunc::AvgDistinct
            | AggFunc::CollectSet
            | AggFunc::CollectList => Acc::Ordered(BTreeMap::new()),
            AggFunc::CountDistinct => Acc::Distinct(HashMap::default()),
            AggFunc::CountDistinctHll | AggFunc::HllSketch => Acc::Hll(Box::default()),
        }
    }

    /// A new accumulator for `call` whose distinct values are sized for as many as `prev` holds.
    pub fn like(prev: &Acc, call: &AggCall) -> Acc {
        match prev {
            Acc::Distinct(m) => Acc::Distinct(HashMap::with_capacity_and_hasher(
                m.len(),
                Default::default(),
            )),
            _ => Acc::new(call),
        }
    }

    /// Frees the values an accumulator holds (distinct sets, ordered values), keeping what
    /// costs no heap. For a closed pane's plain (non-ACCU, non-SW) aggregates: nothing reads
    /// them again, while the pane itself stays for the ACCU and SW windows that span it.
    pub fn release(&mut self) {
        match self {
            Acc::Distinct(m) => *m = HashMap::default(),
            Acc::Ordered(m) => *m = BTreeMap::new(),
            // Counters and sums hold no heap; a sketch's size is fixed.
            Acc::Count(_)
            | Acc::SumInt(..)
            | Acc::SumDouble(..)
            | Acc::SumDecimal(..)
            | Acc::Hll(_) => {}
        }
    }

    /// Adds `diff` copies of `v` (negative: removes them). `count(*)` passes `Value::Bool(true)`.
    pub fn update(&mut self, v: &Value, diff: i64) {
        if v.is_null() {
            return;
        }
        match self {
            Acc::Count(n) => *n += diff,
            Acc::SumInt(s, n) => {
                if let Value::Int(i) = v {
                    *s = s.wrapping_add(i.wrapping_mul(diff));
                    *n += diff;
                }
            }
            Acc::SumDouble(s, n) => {
                if let Some(d) = v.to_f64() {
                    *s += d * diff as f64;
                    *n += diff;
                }
            }
            Acc::SumDecimal(s, n) => {
                // Exact; past rust_decimal's 96 bits (about 7.9e28) the sum saturates.
                if let Value::Decimal(d) = v {
                    *s = s.saturating_add(d.saturating_mul(Decimal::from(diff)));
                    *n += diff;
                }
            }
            Acc::Ordered(m) => {
                let c = m.entry(v.clone()).or_insert(0);
                *c += diff;
                if *c == 0 {
                    m.remove(v);
                }
            }
            // The planner only lets sketches read inputs that never retract.
            Acc::Hll(sketch) => {
                if diff > 0 {
                    sketch.insert(v);
                }
            }
            Acc::Distinct(m) => {
                if let Some(c) = m.get_mut(v) {
                    *c += diff;
                    if *c == 0 {
                        m.remove(v);
                    }
                } else if diff != 0 {
                    m.insert(v.clone(), diff);
                }
            }
        }
    }

    /// The aggregate's current value.
    pub fn value(&self, call: &AggCall) -> Value {
        match (self, call.func) {
            (Acc::Count(n), _) => Value::Int(*n),
            (Acc::SumInt(_, 0) | Acc::SumDouble(_, 0) | Acc::SumDecimal(_, 0), _) => Value::Null,
            (Acc::SumInt(s, _), AggFunc::Sum) => Value::Int(*s),
            (Acc::SumInt(s, n), _) => Value::Double(*s as f64 / *n as f64),
            (Acc::SumDouble(s, _), AggFunc::Sum) => Value::Double(*s),
            (Acc::SumDouble(s, n), _) => Value::Double(*s / *n as f64),
            // Brought to the result's DECIMAL(p,s): a sum keeps its scale (NULL past the
            // precision), an average is rounded HALF_UP to its scale.
            (Acc::SumDecimal(s, _), AggFunc::Sum) => Value::Decimal(*s).cast(&call.result_type),
            (Acc::SumDecimal(s, n), _) => {
                s.checked_div(Decimal::from(*n)).map_or(Value::Null, |avg| {
                    Value::Decimal(avg).cast(&call.result_type)
                })
            }
            (Acc::Distinct(m), _) => Value::Int(m.len() as i64),
            (Acc::Hll(sketch), AggFunc::HllSketch) => Value::from(sketch.encode()),
            (Acc::Hll(sketch), _) => Value::Int(sketch.estimate() as i64),
            (Acc::Ordered(m), AggFunc::Min) => m.keys().next().cloned().unwrap_or_default(),
            (Acc::Ordered(m), AggFunc::Max) => m.keys().next_back().cloned().unwrap_or_default(),
            (Acc::Ordered(m), AggFunc::CollectSet) => Value::Array(m.keys().cloned().collect()),
            (Acc::Ordered(m), AggFunc::CollectList) => collect_list(m.iter().map(|(v, n)| (v, *n))),
            (Acc::Ordered(m), func) => {
                if m.is_empty() {
                    return Value::Null;
                }
                let mut acc = match call.arg_type {
                    DataType::Int => Acc::SumInt(0, 0),
                    DataType::Decimal { .. } => Acc::SumDecimal(Decimal::ZERO, 0),
                    _ => Acc::SumDouble(0.0, 0),
                };
                for v in m.keys() {
                    acc.update(v, 1);
                }
                let as_plain = AggCall {
                    func: if func == AggFunc::SumDistinct {
                        AggFunc::Sum
                    } else {
                        AggFunc::Avg
                    },
                    ..call.clone()
                };
                acc.value(&as_plain)
            }
        }
    }
}

/// The value of one aggregate over several panes (an ACCU or SW window), without copying the
/// panes' state.
pub fn merged_value<'a>(accs: impl Iterator<Item = &'a Acc>, call: &AggCall) -> Value {
    let accs: Vec<&Acc> = accs.collect();
    match accs.as_slice() {
        [] => Acc::new(call).value(call),
        [one] => one.value(call),
        many => match many[0] {
            Acc::Count(_) => Value::Int(
                many.iter()
                    .map(|a| if let Acc::Count(n) = a { *n } else { 0 })
                    .sum(),
            ),
            Acc::SumInt(..) | Acc::SumDouble(..) | Acc::SumDecimal(..) => {
                let mut total = Acc::new(call);
                for a in many {
                    match (&mut total, a) {
                        (Acc::SumInt(s, n), Acc::SumInt(x, m)) => {
                            *s = s.wrapping_add(*x);
                            *n += m;
                        }
                        (Acc::SumDouble(s, n), Acc::SumDouble(x, m)) => {
                            *s += x;
                            *n += m;
                        }
                        (Acc::SumDecimal(s, n), Acc::SumDecimal(x, m)) => {
                            *s = s.saturating_add(*x);
                            *n += m;
                        }
                        _ => {}
                    }
                }
                total.value(call)
            }
            Acc::Hll(_) => {
                let mut union = Sketch::default();
                for a in many {
                    if let Acc::Hll(s) = a {
                        union.merge(s);
                    }
                }
                Acc::Hll(Box::new(union)).value(call)
            }
            Acc::Distinct(_) => {
                let mut seen: FxHashSet<&Value> = FxHashSet::default();
                for a in many {
                    if let Acc::Distinct(m) = a {
                        seen.extend(m.keys());
                    }
                }
                Value::Int(seen.len() as i64)
            }
            Acc::Ordered(_) => {
                let maps = many.iter().filter_map(|a| match a {
                    Acc::Ordered(m) => Some(m),
                    _ => None,
                });
                match call.func {
                    AggFunc::Min => maps
                        .filter_map(|m| m.keys().next())
                        .min()
                        .cloned()
                        .unwrap_or_default(),
                    AggFunc::Max => maps
                        .filter_map(|m| m.keys().next_back())
                        .max()
                        .cloned()
                        .unwrap_or_default(),
                    AggFunc::CollectSet => {
                        let keys: std::collections::BTreeSet<&Value> =
                            maps.flat_map(|m| m.keys()).collect();
                        Value::Array(keys.into_iter().cloned().collect())
                    }
                    AggFunc::CollectList => {
                        let mut counts: BTreeMap<&Value, i64> = BTreeMap::new();
                        for (v, n) in maps.flatten() {
                            *counts.entry(v).or_default() += n;
                        }
                        collect_list(counts.into_iter())
                    }
                    _ => {
                        let mut union = Acc::Ordered(BTreeMap::new());
                        let keys: std::collections::BTreeSet<&Value> =
                            maps.flat_map(|m| m.keys()).collect();
                        for v in keys {
                            union.update(v, 1);
                        }
                        union.value(call)
                    }
                }
            }
        },
    }
}

/// Each value as many times as it was added, in value order.
fn collect_list<'a>(counts: impl Iterator<Item = (&'a Value, i64)>) -> Value {
    let mut out = Vec::new();
    for (v, n) in counts {
        out.extend(std::iter::repeat_n(v.clone(), n.max(0) as usize));
    }
    Value::array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: AggFunc, arg_type: DataType) -> AggCall {
        AggCall {
            func,
            arg: None,
            arg_type: arg_type.clone(),
            result_type: arg_type,
            window: tally_sql::plan::WindowMod::Aggr,
            slot: 0,
        }
    }

    #[test]
    fn merging_panes() {
        let c = call(AggFunc::CountDistinct, DataType::String);
        let mut a = Acc::new(&c);
        let mut b = Acc::new(&c);
        a.update(&Value::str("x"), 1);
        a.update(&Value::str("y"), 1);
        b.update(&Value::str("y"), 1);
        b.update(&Value::str("z"), 1);
        assert_eq!(merged_value([&a, &b].into_iter(), &c), Value::Int(3));
        let m = call(AggFunc::Min, DataType::Int);
        let (mut a, mut b) = (Acc::new(&m), Acc::new(&m));
        a.update(&Value::Int(5), 1);
        b.update(&Value::Int(3), 1);
        assert_eq!(merged_value([&a, &b].into_iter(), &m), Value::Int(3));
        let s = call(AggFunc::Avg, DataType::Int);
        let (mut a, mut b) = (Acc::new(&s), Acc::new(&s));
        a.update(&Value::Int(1), 1);
        b.update(&Value::Int(2), 1);
        b.update(&Value::Int(6), 1);
        assert_eq!(merged_value([&a, &b].into_iter(), &s), Value::Double(3.0));
        let sd = call(AggFunc::SumDistinct, DataType::Int);
        let (mut a, mut b) = (Acc::new(&sd), Acc::new(&sd));
        a.update(&Value::Int(2), 1);
        b.update(&Value::Int(2), 1);
        b.update(&Value::Int(7), 1);
        assert_eq!(merged_value([&a, &b].into_iter(), &sd), Value::Int(9));
    }

    #[test]
    fn retractions_undo_updates() {
        let c = call(AggFunc::CountDistinct, DataType::String);
        let mut a = Acc::new(&c);
        a.update(&Value::str("x"), 1);
        a.update(&Value::str("x"), 1);
        a.update(&Value::str("y"), 1);
        assert_eq!(a.value(&c), Value::Int(2));
        a.update(&Value::str("x"), -1);
        assert_eq!(a.value(&c), Value::Int(2));
        a.update(&Value::str("x"), -1);
        assert_eq!(a.value(&c), Value::Int(1));

        let m = call(AggFunc::Max, DataType::Int);
        let mut a = Acc::new(&m);
        a.update(&Value::Int(3), 1);
        a.update(&Value::Int(9), 1);
        a.update(&Value::Null, 1);
        assert_eq!(a.value(&m), Value::Int(9));
        a.update(&Value::Int(9), -1);
        assert_eq!(a.value(&m), Value::Int(3));

        let s = call(AggFunc::Avg, DataType::Int);
        let mut a = Acc::new(&s);
        assert_eq!(a.value(&s), Value::Null);
        a.update(&Value::Int(1), 1);
        a.update(&Value::Int(2), 1);
        assert_eq!(a.value(&s), Value::Double(1.5));

        let sd = call(AggFunc::SumDistinct, DataType::Int);
        let mut a = Acc::new(&sd);
        a.update(&Value::Int(2), 1);
        a.update(&Value::Int(2), 1);
        a.update(&Value::Int(5), 1);
        assert_eq!(a.value(&sd), Value::Int(7));
    }

    /// countd_hllp against the exact countd on one million distinct users (the generator's
    /// user ids are strings, so these are too), each pane of a window holding a quarter of them
    /// and one user in fifty coming back in the next pane: the sketch of the merged panes must
    /// estimate the exact count within 2% (its standard error at 2^14 registers is about 0.8%).
    /// The size is the spec's scale, not a sample: about 3 s in a debug build, most of it the
    /// exact accumulator's hash map.
    #[test]
    fn hll_estimates_a_million_distinct_values_within_two_percent() {
        const USERS: usize = 1_000_000;
        const PANES: usize = 4;
        let hll = call(AggFunc::CountDistinctHll, DataType::String);
        let exact = call(AggFunc::CountDistinct, DataType::String);
        let mut hll_panes: Vec<Acc> = (0..PANES).map(|_| Acc::new(&hll)).collect();
        let mut exact_panes: Vec<Acc> = (0..PANES).map(|_| Acc::new(&exact)).collect();
        for i in 0..USERS {
            let v = Value::from(format!("{}", 100_000_000 + i * 7919));
            let pane = i * PANES / USERS;
            let mut add = |p: usize| {
                hll_panes[p].update(&v, 1);
                exact_panes[p].update(&v, 1);
            };
            add(pane);
            // A few users come back in the next pane (the merge must not count them twice).
            if i % 50 == 0 {
                add((pane + 1) % PANES);
            }
        }
        let Value::Int(n) = merged_value(exact_panes.iter(), &exact) else {
            panic!("countd is a number")
        };
        assert_eq!(n, USERS as i64);
        let Value::Int(estimate) = merged_value(hll_panes.iter(), &hll) else {
            panic!("countd_hllp is a number")
        };
        let error = (estimate - n).abs() as f64 / n as f64;
        assert!(error < 0.02, "estimate {estimate} vs exact {n}: {error:.4}");
        // One pane alone: a quarter of the users plus the fifth of the previous pane's.
        let Value::Int(one) = hll_panes[1].value(&hll) else {
            panic!()
        };
        let Value::Int(exact_one) = exact_panes[1].value(&exact) else {
            panic!()
        };
        assert_eq!(exact_one, (USERS / PANES + USERS / PANES / 50) as i64);
        let error = (one - exact_one).abs() as f64 / exact_one as f64;
        assert!(error < 0.02, "one pane: {one} vs {exact_one}");
    }
}
