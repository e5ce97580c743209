//! Operator tests: each state struct of the epoch-operator frame, fed seeded random updates in
//! random epoch splits and arrival orders, against a plain in-memory model written from the
//! semantics (../shared/spec/semantics.md), not from the operator; and the frame itself inside
//! a real timely dataflow at two workers against differential's own `count` and `distinct`.
//!
//! The cases cover retractions, rows late inside and past the lateness bound, NULL keys and
//! values, empty epochs, and several epochs closed by one frontier step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use tally_connectors::Metrics;
use tally_engine::render::aggregate::{AggregateState, Prepared};
use tally_engine::render::epoch_op::{Clock, Driver};
use tally_engine::render::join::{JoinState, Kept, Side};
use tally_engine::render::stream_join::{JoinInput, StreamJoinState};
use tally_engine::render::top_n::{sort_key, Ranked, TopNState};
use tally_engine::render::upsert::UpsertState;
use tally_sql::ast::WindowMod;
use tally_sql::catalog::Emit;
use tally_sql::expr::{BinOp, ScalarExpr};
use tally_sql::plan::{AggCall, AggFunc, AggregatePlan, WindowPlan};
use tally_sql::{DataType, Row, Value};

const SIZE: i64 = 30;
const ACCU: i64 = 90;
const SW: i64 = 60;

/// One input update of the aggregate tests: group key, event time, value.
#[derive(Clone, Debug)]
struct Update {
    key: Value,
    time: i64,
    value: Value,
    diff: isize,
}

/// Random epochs: event times drift forward with jitter (so some rows are late), keys and
/// values include NULL, a fifth of the updates retract an earlier row, some epochs are empty.
fn random_epochs(rng: &mut ChaCha8Rng, epochs: usize) -> Vec<Vec<Update>> {
    let keys = [
        Value::Null,
        Value::str("a"),
        Value::str("b"),
        Value::str("c"),
    ];
    let mut inserted: Vec<Update> = Vec::new();
    let mut out = Vec::with_capacity(epochs);
    for e in 0..epochs {
        let mut epoch = Vec::new();
        if rng.random_bool(0.15) {
            out.push(epoch);
            continue;
        }
        for _ in 0..rng.random_range(1..12) {
            if !inserted.is_empty() && rng.random_bool(0.2) {
                let i = rng.random_range(0..inserted.len());
                let mut u = inserted.swap_remove(i);
                u.diff = -1;
                epoch.push(u);
                continue;
            }
            let value = match rng.random_range(0..6) {
                0 => Value::Null,
                v => Value::Int(v),
            };
            let u = Update {
                key: keys[rng.random_range(0..keys.len())].clone(),
                time: (e as i64 * 12 + rng.random_range(-70..30)).max(0),
                value,
                diff: 1,
            };
            inserted.push(u.clone());
            epoch.push(u);
        }
        out.push(epoch);
    }
    out
}

fn call(func: AggFunc, arg: bool, window: WindowMod) -> AggCall {
    AggCall {
        func,
        arg: arg.then_some(ScalarExpr::Column(1)),
        arg_type: DataType::Int,
        result_type: DataType::Int,
        window,
        slot: arg as usize,
    }
}

/// count(*), count(v), countd(v), sum(v), max(v), and when windowed count(v ACCU),
/// countd(v SW), sum(v ACCU). Argument slots: 0 for count(*), 1 for v.
fn calls(windowed: bool) -> Vec<AggCall> {
    let mut calls = vec![
        call(AggFunc::Count, false, WindowMod::Aggr),
        call(AggFunc::Count, true, WindowMod::Aggr),
        call(AggFunc::CountDistinct, true, WindowMod::Aggr),
        call(AggFunc::Sum, true, WindowMod::Aggr),
        call(AggFunc::Max, true, WindowMod::Aggr),
    ];
    if windowed {
        calls.push(call(AggFunc::Count, true, WindowMod::Accu));
        calls.push(call(AggFunc::CountDistinct, true, WindowMod::Sw));
        calls.push(call(AggFunc::Sum, true, WindowMod::Accu));
    }
    calls
}

fn plan(windowed: bool, lateness: i64, emit: Emit) -> AggregatePlan {
    AggregatePlan {
        input: 0,
        watermark_from: None,
        keys: vec![ScalarExpr::Column(0)],
        window: windowed.then(|| WindowPlan {
            time: ScalarExpr::Column(2),
            size_ms: SIZE as u64,
            accu_ms: Some(ACCU as u64),
            sw_ms: Some(SW as u64),
            lateness_ms: lateness as u64,
        }),
        aggs: calls(windowed),
        args: vec![ScalarExpr::lit(true), ScalarExpr::Column(1)],
        emit,
    }
}

fn pane_start(t: i64) -> i64 {
    t.div_euclid(SIZE) * SIZE
}

/// The prepared row the aggregate reads: key, pane start when windowed, then the argument
/// slots (count(*)'s `true`, then v).
fn prepared(u: &Update, windowed: bool) -> Prepared {
    let mut p = Prepared::new();
    p.push(u.key.clone());
    if windowed {
        p.push(Value::Int(pane_start(u.time)));
    }
    p.push(Value::Bool(true));
    p.push(u.value.clone());
    p
}

/// The model: which updates the semantics accept, and the result table they make.
struct AggregateModel {
    windowed: bool,
    /// Per epoch: the watermark before and after the epoch's own event times.
    watermarks: Vec<(Option<i64>, Option<i64>)>,
    /// Accepted updates per epoch.
    accepted: Vec<Vec<Update>>,
    late: u64,
}

impl AggregateModel {
    fn new(epochs: &[Vec<Update>], windowed: bool, lateness: i64) -> Self {
        let mut max: Option<i64> = None;
        let mut watermarks = Vec::new();
        let mut accepted = Vec::new();
        let mut late = 0;
        for epoch in epochs {
            let before = max.map(|m| m - lateness);
            // The watermark counts every row's event time (late ones too).
            for u in epoch.iter().filter(|u| u.diff > 0) {
                max = Some(max.map_or(u.time, |m| m.max(u.time)));
            }
            let after = max.map(|m| m - lateness);
            let mut kept = Vec::new();
            for u in epoch {
                // A row is late when its window ends at or before the watermark.
                if windowed && before.is_some_and(|wm| pane_start(u.time) + SIZE <= wm) {
                    late += u.diff.max(0) as u64;
                } else {
                    kept.push(u.clone());
                }
            }
            watermarks.push((before, if windowed { after } else { None }));
            accepted.push(kept);
        }
        AggregateModel {
            windowed,
            watermarks,
            accepted,
            late,
        }
    }

    /// The result table after the epochs before `through`: one row per group and pane with
    /// rows, ACCU and SW values over the panes their window spans.
    fn table(&self, through: usize) -> BTreeMap<Row, isize> {
        let updates: Vec<&Update> = self.accepted[..through].iter().flatten().collect();
        let start_of = |u: &Update| if self.windowed { pane_start(u.time) } else { 0 };
        let mut panes: BTreeSet<(Value, i64)> = BTreeSet::new();
        for u in &updates {
            panes.insert((u.key.clone(), start_of(u)));
        }
        let calls = calls(self.windowed);
        let mut out = BTreeMap::new();
        for (key, start) in panes {
            let of_pane: Vec<&&Update> = updates
                .iter()
                .filter(|u| u.key == key && start_of(u) == start)
                .collect();
            let rows: isize = of_pane.iter().map(|u| u.diff).sum();
            if rows <= 0 {
                continue;
            }
            let mut row = vec![key.clone()];
            if self.windowed {
                row.push(Value::Int(start));
            }
            for c in &calls {
                let end = start + SIZE;
                let from = match c.window {
                    WindowMod::Aggr => start,
                    WindowMod::Accu => (end - 1).div_euclid(ACCU) * ACCU,
                    WindowMod::Sw => end - SW,
                };
                let span: Vec<&&Update> = updates
                    .iter()
                    .filter(|u| u.key == key && (from..=start).contains(&start_of(u)))
                    .collect();
                row.push(aggregate(c, &span));
            }
            out.insert(row, 1);
        }
        out
    }

    /// The panes the operator still holds after the epochs before `through`: those that got an
    /// accepted update and whose last spanning window is not final yet.
    fn live_panes(&self, through: usize) -> usize {
        let wm = self.watermarks[..through]
            .iter()
            .rev()
            .find_map(|(_, after)| *after);
        let mut panes: BTreeSet<(Value, i64)> = BTreeSet::new();
        for u in self.accepted[..through].iter().flatten() {
            let start = if self.windowed { pane_start(u.time) } else { 0 };
            panes.insert((u.key.clone(), start));
        }
        if !self.windowed {
            // A group without windows goes when its rows do.
            return panes
                .iter()
                .filter(|(k, _)| {
                    let rows: isize = self.accepted[..through]
                        .iter()
                        .flatten()
                        .filter(|u| u.key == *k)
                        .map(|u| u.diff)
                        .sum();
                    rows > 0
                })
                .count();
        }
        panes
            .iter()
            .filter(|(_, start)| {
                // The last window spanning the pane: its own, the SW windows up to sw later,
                // the ACCU windows up to the end of its accumulation period.
                let last = (start + SW - SIZE).max(start.div_euclid(ACCU) * ACCU + ACCU - SIZE);
                wm.is_none_or(|wm| last + SIZE > wm)
            })
            .count()
    }
}

/// One aggregate over updates, as Hive defines it (NULLs ignored; sum and max of nothing are
/// NULL; count(*) counts rows).
fn aggregate(c: &AggCall, updates: &[&&Update]) -> Value {
    let mut values: BTreeMap<i64, isize> = BTreeMap::new();
    let mut rows = 0;
    for u in updates {
        rows += u.diff;
        if let Value::Int(v) = u.value {
            *values.entry(v).or_default() += u.diff;
        }
    }
    values.retain(|_, n| *n != 0);
    match (c.func, c.arg.is_some()) {
        (AggFunc::Count, false) => Value::Int(rows as i64),
        (AggFunc::Count, true) => Value::Int(values.values().sum::<isize>() as i64),
        (AggFunc::CountDistinct, _) => Value::Int(values.len() as i64),
        (AggFunc::Sum, _) if values.is_empty() => Value::Null,
        (AggFunc::Sum, _) => Value::Int(values.iter().map(|(v, n)| v * *n as i64).sum()),
        (AggFunc::Max, _) => values
            .keys()
            .next_back()
            .map_or(Value::Null, |v| Value::Int(*v)),
        (f, _) => unreachable!("not in the test: {f:?}"),
    }
}

fn consolidate(log: &[(Row, isize)]) -> BTreeMap<Row, isize> {
    let mut out = BTreeMap::new();
    for (row, diff) in log {
        *out.entry(row.clone()).or_insert(0) += diff;
    }
    out.retain(|_, d| *d != 0);
    out
}

/// Drives an aggregate through the frame's [`Driver`]: each epoch's updates shuffled and
/// split into several batches, some handed over before earlier epochs are closed, and the
/// frontier advanced by one to four epochs at a time. Returns the output log, and checks the
/// model after every step.
fn run_aggregate(seed: u64, windowed: bool, emit: Emit) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = rng.random_range(1..40);
    let epochs = random_epochs(&mut rng, count);
    let lateness = [0, 15, 40][rng.random_range(0..3)];
    let model = AggregateModel::new(&epochs, windowed, lateness);
    let plan = plan(windowed, lateness, emit);
    let metrics = Arc::new(Metrics::default());
    let state = AggregateState::new(&plan, "q", metrics.clone());
    let clocks = if windowed {
        vec![Clock::single(lateness)]
    } else {
        Vec::new()
    };
    let mut driver = Driver::new(state, clocks);
    let mut log: Vec<(Row, isize)> = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut closed = 0;
    while closed < epochs.len() {
        // Hand over the updates of the next few epochs, in pieces, in random order.
        let feed_to = (closed + rng.random_range(1..5)).min(epochs.len());
        while fed < feed_to {
            let mut updates: Vec<(Prepared, u64, isize)> = epochs[fed]
                .iter()
                .map(|u| (prepared(u, windowed), fed as u64, u.diff))
                .collect();
            updates.shuffle(&mut rng);
            for chunk in updates.chunks(3) {
                driver.add_updates(&mut chunk.to_vec());
            }
            if windowed {
                if let Some(max) = epochs[fed]
                    .iter()
                    .filter(|u| u.diff > 0)
                    .map(|u| u.time)
                    .max()
                {
                    // Two workers' maxima: the clock takes the larger.
                    driver.add_maxima(&mut vec![(0, fed as u64, max - 1), (0, fed as u64, max)]);
                }
            }
            fed += 1;
        }
        let to = rng.random_range(closed + 1..=fed);
        let frontier = (to < epochs.len()).then_some(to as u64);
        driver.step(frontier, closed as u64, &mut out, |_, o| log.append(o));
        closed = to;
        if emit == Emit::Changes && frontier.is_some() {
            assert_eq!(
                consolidate(&log),
                model.table(closed),
                "seed {seed}: the result after {closed} epochs (lateness {lateness})"
            );
            assert_eq!(
                driver.state.pane_count(),
                model.live_panes(closed),
                "seed {seed}: panes held after {closed} epochs"
            );
        }
    }
    driver.step(None, closed as u64, &mut out, |_, o| log.append(o));
    let want = model.table(epochs.len());
    assert_eq!(consolidate(&log), want, "seed {seed}: the final result");
    if emit == Emit::Final {
        // Each row once, never retracted.
        let mut once: Vec<Row> = log.iter().map(|(r, _)| r.clone()).collect();
        assert!(log.iter().all(|(_, d)| *d == 1), "seed {seed}: {log:?}");
        once.sort();
        assert_eq!(
            once,
            want.keys().cloned().collect::<Vec<_>>(),
            "seed {seed}"
        );
    }
    assert_eq!(
        metrics.late_rows.load(Ordering::Relaxed),
        model.late,
        "seed {seed}: late rows"
    );
    assert_eq!(driver.state.pane_count(), 0, "seed {seed}: state left");
}

#[test]
fn windowed_aggregate_in_changes_mode_equals_the_model() {
    for seed in 0..300 {
        run_aggregate(seed, true, Emit::Changes);
    }
}

#[test]
fn windowed_aggregate_in_final_mode_equals_the_model() {
    for seed in 0..300 {
        run_aggregate(seed, true, Emit::Final);
    }
}

#[test]
fn aggregate_without_windows_equals_the_model() {
    for seed in 0..200 {
        run_aggregate(seed, false, Emit::Changes);
        run_aggregate(seed, false, Emit::Final);
    }
}

#[test]
fn a_late_row_past_the_bound_is_dropped_and_one_inside_is_counted() {
    // Window 30 ms, lateness 15: after event time 100 the watermark is 85, so the window
    // [30, 60) is final and [60, 90) is still open.
    let plan = plan(true, 15, Emit::Changes);
    let metrics = Arc::new(Metrics::default());
    let mut driver = Driver::new(
        AggregateState::new(&plan, "q", metrics.clone()),
        vec![Clock::single(15)],
    );
    let row = |t: i64, v: i64| Update {
        key: Value::str("a"),
        time: t,
        value: Value::Int(v),
        diff: 1,
    };
    driver.add_updates(&mut vec![(prepared(&row(100, 1), true), 0, 1)]);
    driver.add_maxima(&mut vec![(0, 0, 100)]);
    let mut log = Vec::new();
    let mut out = Vec::new();
    driver.step(Some(1), 0, &mut out, |_, o| log.append(o));
    driver.add_updates(&mut vec![
        (prepared(&row(45, 7), true), 1, 1),
        (prepared(&row(70, 3), true), 1, 1),
    ]);
    driver.step(Some(2), 1, &mut out, |_, o| log.append(o));
    let r = |start: i64, v: i64, sw_countd: i64| {
        vec![
            Value::str("a"),
            Value::Int(start),
            Value::Int(1),
            Value::Int(1),
            Value::Int(1),
            Value::Int(v),
            Value::Int(v),
            Value::Int(1),
            Value::Int(sw_countd),
            Value::Int(v),
        ]
    };
    // Epoch 0: the row at 100 (pane 90, whose ACCU period starts at 90). Epoch 1: the row at
    // 70 (pane 60, ACCU period [0, 90)), which also revises pane 90's SW window [60, 120): two
    // distinct values now. The row at 45 is dropped.
    assert_eq!(
        log,
        vec![
            (r(90, 1, 1), 1),
            (r(60, 3, 1), 1),
            (r(90, 1, 1), -1),
            (r(90, 1, 2), 1)
        ]
    );
    assert_eq!(metrics.late_rows.load(Ordering::Relaxed), 1);
}

// ---------------------------------------------------------------------------------------------
// Join

/// A stream row of the join tests: key, event time, payload.
fn stream_row(key: &Value, time: i64, n: i64) -> Row {
    vec![key.clone(), Value::Int(time), Value::Int(n)]
}

/// The left join's model: each stream update joins the dimension as it stands at the last
/// epoch the row is kept in (its window's end passed by the watermark at the end of that
/// epoch), or at its own epoch when it is not kept at all; dimension changes of an epoch come
/// before its stream rows.
fn join_model(
    stream: &[Vec<(Row, isize)>],
    dims: &[Vec<(Row, isize)>],
    retain: Option<(i64, i64)>,
) -> BTreeMap<Row, isize> {
    let epochs = stream.len();
    // The dimension after each epoch's changes.
    let mut dim_at: Vec<BTreeMap<Row, isize>> = Vec::new();
    let mut current: BTreeMap<Row, isize> = BTreeMap::new();
    for changes in dims {
        for (r, d) in changes {
            *current.entry(r.clone()).or_default() += d;
        }
        current.retain(|_, d| *d != 0);
        dim_at.push(current.clone());
    }
    // Watermarks before and after each epoch.
    let mut max: Option<i64> = None;
    let mut wms = Vec::new();
    for rows in stream {
        let before = max;
        for (r, d) in rows {
            if *d > 0 {
                let Value::Int(t) = r[1] else { unreachable!() };
                max = Some(max.map_or(t, |m| m.max(t)));
            }
        }
        wms.push((before, max));
    }
    let lateness = retain.map_or(0, |r| r.1);
    let wm = |m: Option<i64>| m.map(|m| m - lateness);
    let mut out = BTreeMap::new();
    for (e, rows) in stream.iter().enumerate() {
        for (r, d) in rows {
            let Value::Int(t) = r[1] else { unreachable!() };
            let at = match retain {
                None => epochs - 1,
                Some((size, _)) => {
                    let until = t.div_euclid(size) * size + size;
                    if wm(wms[e].0).is_some_and(|w| until <= w) {
                        e
                    } else {
                        (e..epochs)
                            .find(|x| wm(wms[*x].1).is_some_and(|w| until <= w))
                            .unwrap_or(epochs - 1)
                    }
                }
            };
            let matches: Vec<(&Row, &isize)> = dim_at[at]
                .iter()
                .filter(|(dr, _)| dr[0] == r[0] && !r[0].is_null())
                .collect();
            if matches.is_empty() {
                let mut j = r.clone();
                j.extend([Value::Null, Value::Null]);
                *out.entry(j).or_insert(0) += d;
            }
            for (dr, n) in matches {
                let mut j = r.clone();
                j.extend(dr.iter().cloned());
                *out.entry(j).or_insert(0) += d * n;
            }
        }
    }
    out.retain(|_, d| *d != 0);
    out
}

fn run_join(seed: u64, retain: Option<(i64, i64)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let epochs = rng.random_range(1..30);
    let keys = [
        Value::Null,
        Value::str("a"),
        Value::str("b"),
        Value::str("c"),
    ];
    let mut stream: Vec<Vec<(Row, isize)>> = Vec::new();
    let mut dims: Vec<Vec<(Row, isize)>> = Vec::new();
    let mut live_stream: Vec<Row> = Vec::new();
    let mut live_dims: Vec<Row> = Vec::new();
    for e in 0..epochs {
        let mut s = Vec::new();
        let mut d = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            if !live_stream.is_empty() && rng.random_bool(0.2) {
                let i = rng.random_range(0..live_stream.len());
                s.push((live_stream.swap_remove(i), -1));
            } else {
                let key = &keys[rng.random_range(0..keys.len())];
                let t = (e as i64 * 10 + rng.random_range(-40..20)).max(0);
                let r = stream_row(key, t, rng.random_range(0..1000));
                live_stream.push(r.clone());
                s.push((r, 1));
            }
        }
        for _ in 0..rng.random_range(0..3) {
            if !live_dims.is_empty() && rng.random_bool(0.4) {
                let i = rng.random_range(0..live_dims.len());
                d.push((live_dims.swap_remove(i), -1));
            } else {
                let key = keys[rng.random_range(0..keys.len())].clone();
                let r = vec![key, Value::Int(rng.random_range(0..5))];
                live_dims.push(r.clone());
                d.push((r, 1));
            }
        }
        stream.push(s);
        dims.push(d);
    }
    let metrics = Arc::new(Metrics::default());
    let state = JoinState::new(vec![Kept::new(None, 2, "q".into())], |_, r| r, metrics);
    let clock = Clock::single(retain.map_or(0, |r| r.1));
    let mut driver = Driver::new(state, vec![clock]);
    let mut log: Vec<(Row, isize)> = Vec::new();
    let mut out = Vec::new();
    let mut closed = 0;
    for e in 0..epochs {
        let mut updates: Vec<(Side, u64, isize)> = Vec::new();
        for (r, d) in &stream[e] {
            let Value::Int(t) = r[1] else { unreachable!() };
            let until = retain.map_or(i64::MAX, |(size, _)| t.div_euclid(size) * size + size);
            updates.push((
                Side::Stream(0, r.clone(), vec![r[0].clone()], t, until),
                e as u64,
                *d,
            ));
        }
        for (r, d) in &dims[e] {
            updates.push((Side::Dim(r.clone(), vec![r[0].clone()]), e as u64, *d));
        }
        updates.shuffle(&mut rng);
        driver.add_updates(&mut updates);
        if let Some(max) = stream[e]
            .iter()
            .filter(|(_, d)| *d > 0)
            .map(|(r, _)| match r[1] {
                Value::Int(t) => t,
                _ => unreachable!(),
            })
            .max()
        {
            driver.add_maxima(&mut vec![(0, e as u64, max)]);
        }
        if rng.random_bool(0.6) || e + 1 == epochs {
            let frontier = (e + 1 < epochs).then_some(e as u64 + 1);
            driver.step(frontier, closed, &mut out, |_, o| log.append(o));
            closed = e as u64 + 1;
        }
    }
    driver.step(None, closed, &mut out, |_, o| log.append(o));
    assert_eq!(
        consolidate(&log),
        join_model(&stream, &dims, retain),
        "seed {seed}, retain {retain:?}"
    );
    assert_eq!(driver.state.kept_rows(), 0, "seed {seed}: state left");
}

#[test]
fn join_without_retention_equals_the_model() {
    for seed in 0..300 {
        run_join(seed, None);
    }
}

#[test]
fn join_with_windowed_retention_equals_the_model() {
    for seed in 0..300 {
        run_join(seed, Some((20, [0, 10][seed as usize % 2])));
    }
}

#[test]
fn join_frees_rows_whose_window_is_final() {
    let metrics = Arc::new(Metrics::default());
    let state = JoinState::new(vec![Kept::new(None, 2, "q".into())], |_, r| r, metrics);
    let mut driver = Driver::new(state, vec![Clock::single(0)]);
    let key = vec![Value::str("a")];
    let mut updates = vec![
        (
            Side::Stream(0, stream_row(&key[0], 5, 1), key.clone(), 5, 20),
            0,
            1,
        ),
        (
            Side::Stream(0, stream_row(&key[0], 25, 2), key.clone(), 25, 40),
            0,
            1,
        ),
    ];
    driver.add_updates(&mut updates);
    driver.add_maxima(&mut vec![(0, 0, 25)]);
    let (mut out, mut log) = (Vec::new(), Vec::new());
    driver.step(Some(1), 0, &mut out, |_, o| log.append(o));
    // The watermark is 25: the row of window [0, 20) is forgotten, the other kept.
    assert_eq!(driver.state.kept_rows(), 1);
    driver.add_updates(&mut vec![(
        Side::Dim(vec![key[0].clone(), Value::Int(9)], key.clone()),
        1,
        1,
    )]);
    driver.step(Some(2), 1, &mut out, |_, o| log.append(o));
    let j = |t: i64, n: i64, d: Value| {
        let mut r = stream_row(&key[0], t, n);
        r.extend([d.clone(), d]);
        r
    };
    let mut joined = j(25, 2, Value::str("a"));
    joined[4] = Value::Int(9);
    assert_eq!(
        log,
        vec![
            (j(5, 1, Value::Null), 1),
            (j(25, 2, Value::Null), 1),
            (j(25, 2, Value::Null), -1),
            (joined, 1),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Upsert

/// A change log epoch as a binlog or a polled table delivers it: for each key a run of
/// inserts, updates (`-old +new`) and deletes, applied to `model`, then the epoch's updates in a
/// random order (a source may hand over a transaction's inserts before its deletes).
fn changelog_epoch(rng: &mut ChaCha8Rng, model: &mut BTreeMap<Value, Row>) -> Vec<(Row, isize)> {
    let keys = [
        Value::Null,
        Value::str("a"),
        Value::str("b"),
        Value::str("c"),
    ];
    let mut updates = Vec::new();
    for _ in 0..rng.random_range(0..8) {
        let key = keys[rng.random_range(0..keys.len())].clone();
        let new = vec![key.clone(), Value::Int(rng.random_range(0..3))];
        match (model.get(&key).cloned(), rng.random_range(0..3)) {
            (Some(old), 0) => {
                model.remove(&key);
                updates.push((old, -1));
            }
            (Some(old), _) => {
                if old != new {
                    updates.push((old, -1));
                    updates.push((new.clone(), 1));
                    model.insert(key, new);
                }
            }
            (None, _) => {
                updates.push((new.clone(), 1));
                model.insert(key, new);
            }
        }
    }
    updates.shuffle(rng);
    updates
}

#[test]
fn upsert_applies_a_change_log_epoch_whatever_the_order_of_its_updates() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..500 {
        let mut driver = Driver::new(UpsertState::new(vec![0], None), Vec::new());
        let mut model: BTreeMap<Value, Row> = BTreeMap::new();
        let mut log = Vec::new();
        let mut out = Vec::new();
        let epochs = rng.random_range(1..20);
        for e in 0..epochs {
            let before: BTreeMap<Row, isize> = model.values().map(|r| (r.clone(), 1)).collect();
            let mut updates: Vec<(Row, u64, isize)> = changelog_epoch(&mut rng, &mut model)
                .into_iter()
                .map(|(r, d)| (r, e, d))
                .collect();
            driver.add_updates(&mut updates);
            let mut epoch_log = Vec::new();
            driver.step(Some(e + 1), e, &mut out, |_, o| epoch_log.append(o));
            assert_eq!(
                driver.state.rows(),
                model.values().cloned().collect::<Vec<_>>()
            );
            // The epoch's output is exactly the table's change: -old +new per changed key.
            let mut change = consolidate(&epoch_log);
            for (r, d) in &before {
                *change.entry(r.clone()).or_default() += d;
            }
            change.retain(|_, d| *d != 0);
            let after: BTreeMap<Row, isize> = model.values().map(|r| (r.clone(), 1)).collect();
            assert_eq!(change, after);
            assert!(epoch_log.iter().all(|(_, d)| d.abs() == 1), "{epoch_log:?}");
            log.append(&mut epoch_log);
        }
        let want: BTreeMap<Row, isize> = model.values().map(|r| (r.clone(), 1)).collect();
        assert_eq!(consolidate(&log), want);
    }
}

#[test]
fn upsert_of_whole_rows_keeps_the_latest_row_of_each_key() {
    // A keyed file or topic: every record a whole row, no deletes; a key moves to another value
    // and back within one epoch. The latest record of a key wins, whatever came before.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..300 {
        let mut driver = Driver::new(UpsertState::new(vec![0], None), Vec::new());
        let mut model: BTreeMap<Value, Row> = BTreeMap::new();
        let (mut out, mut log) = (Vec::new(), Vec::new());
        for e in 0..rng.random_range(1..10u64) {
            let mut updates = Vec::new();
            for _ in 0..rng.random_range(0..12) {
                let key = [Value::str("a"), Value::str("b")][rng.random_range(0..2)].clone();
                let row = vec![key.clone(), Value::Int(rng.random_range(0..3))];
                model.insert(key, row.clone());
                updates.push((row, e, 1));
            }
            driver.add_updates(&mut updates);
            driver.step(Some(e + 1), e, &mut out, |_, o| log.append(o));
            let want: BTreeMap<Row, isize> = model.values().map(|r| (r.clone(), 1)).collect();
            assert_eq!(consolidate(&log), want);
        }
    }
}

#[test]
fn a_flipped_and_restored_row_within_one_epoch_stays() {
    // A binlog transaction updates k: v1 -> v2 -> v1, delivered inserts first.
    let mut driver = Driver::new(UpsertState::new(vec![0], None), Vec::new());
    let row = |v: i64| vec![Value::str("k"), Value::Int(v)];
    let (mut out, mut log) = (Vec::new(), Vec::new());
    driver.add_updates(&mut vec![(row(1), 0, 1)]);
    driver.step(Some(1), 0, &mut out, |_, o| log.append(o));
    driver.add_updates(&mut vec![
        (row(2), 1, 1),
        (row(1), 1, 1),
        (row(1), 1, -1),
        (row(2), 1, -1),
    ]);
    driver.step(Some(2), 1, &mut out, |_, o| log.append(o));
    assert_eq!(driver.state.rows(), vec![row(1)]);
    assert_eq!(log, vec![(row(1), 1)]);
}

#[test]
fn with_a_version_column_the_newest_row_of_a_key_wins_in_any_order() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let row =
        |k: &str, version: i64, v: i64| vec![Value::str(k), Value::Int(version), Value::Int(v)];
    for _ in 0..200 {
        // Versions 0..6 of keys a and b, each once, dealt to three epochs in random order.
        let mut rows: Vec<Row> = Vec::new();
        for k in ["a", "b"] {
            for version in 0..6 {
                rows.push(row(k, version, rng.random_range(0..100)));
            }
        }
        rows.shuffle(&mut rng);
        let mut driver = Driver::new(UpsertState::new(vec![0], Some(1)), Vec::new());
        let (mut out, mut log) = (Vec::new(), Vec::new());
        for (e, chunk) in rows.chunks(4).enumerate() {
            let mut updates: Vec<(Row, u64, isize)> =
                chunk.iter().map(|r| (r.clone(), e as u64, 1)).collect();
            driver.add_updates(&mut updates);
            driver.step(Some(e as u64 + 1), e as u64, &mut out, |_, o| log.append(o));
        }
        let newest = |k: &str| {
            rows.iter()
                .find(|r| r[0] == Value::str(k) && r[1] == Value::Int(5))
                .cloned()
                .unwrap()
        };
        assert_eq!(driver.state.rows(), vec![newest("a"), newest("b")]);
        let want: BTreeMap<Row, isize> = [(newest("a"), 1), (newest("b"), 1)].into();
        assert_eq!(consolidate(&log), want);
    }
}

#[test]
fn with_source_positions_the_latest_row_of_a_key_in_its_source_wins_in_any_arrival_order() {
    // A dimension file read in chunks by several workers: one epoch holds rows of many chunks,
    // delivered in any order. Each row carries (its chunk, its place in the chunk); the
    // latest in the file wins, and a version column still comes first.
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for versioned in [false, true] {
        for _ in 0..300 {
            let mut file: Vec<Row> = Vec::new();
            for _ in 0..rng.random_range(1..25) {
                let key =
                    [Value::str("a"), Value::str("b"), Value::Null][rng.random_range(0..3)].clone();
                file.push(vec![
                    key.clone(),
                    Value::Int(rng.random_range(0..4)),
                    Value::Int(rng.random_range(0..100)),
                ]);
            }
            let chunk = rng.random_range(1..5);
            let mut fed: Vec<(Row, u64, isize)> = file
                .iter()
                .enumerate()
                .map(|(line, r)| {
                    let mut r = r.clone();
                    r.extend([
                        Value::Int((line / chunk) as i64),
                        Value::Int((line % chunk) as i64),
                    ]);
                    (r, 0, 1)
                })
                .collect();
            fed.shuffle(&mut rng);
            let version = versioned.then_some(1);
            let state = UpsertState::new(vec![0], version).positioned(Some(3));
            let mut driver = Driver::new(state, Vec::new());
            let (mut out, mut log) = (Vec::new(), Vec::new());
            driver.add_updates(&mut fed);
            driver.step(Some(1), 0, &mut out, |_, o| log.append(o));
            // The model: per key, the greatest (version, line).
            let mut model: BTreeMap<Value, (Option<Value>, usize, Row)> = BTreeMap::new();
            for (line, r) in file.iter().enumerate() {
                let rank = (version.map(|v| r[v].clone()), line, r.clone());
                let slot = model.entry(r[0].clone()).or_insert_with(|| rank.clone());
                if (&rank.0, rank.1) > (&slot.0, slot.1) {
                    *slot = rank;
                }
            }
            let want: Vec<Row> = model.into_values().map(|(_, _, r)| r).collect();
            assert_eq!(
                driver.state.rows(),
                want,
                "file {file:?}, chunks of {chunk}"
            );
            let want: BTreeMap<Row, isize> = want.into_iter().map(|r| (r, 1)).collect();
            assert_eq!(consolidate(&log), want);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The frame in a real dataflow

/// The aggregate rendered through `epoch_op::render` in a two-worker timely dataflow, against
/// differential's own `count` (rows per group and pane) and `distinct` + `count` (distinct
/// values) over the updates the semantics accept: the change log of every epoch must agree.
/// A dataflow's output log by epoch, consolidated.
fn by_epoch(log: &[(Row, u64, isize)]) -> BTreeMap<(u64, Row), isize> {
    let mut m: BTreeMap<(u64, Row), isize> = BTreeMap::new();
    for (r, t, d) in log {
        *m.entry((*t, r.clone())).or_default() += d;
    }
    m.retain(|_, d| *d != 0);
    m
}

#[test]
fn the_frame_at_two_workers_equals_differential_count_and_distinct() {
    use differential_dataflow::input::Input;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::vec::{Broadcast, Input as _};
    use timely::dataflow::operators::{Inspect, Probe};

    for seed in 0..6u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
        let epochs = random_epochs(&mut rng, 25);
        let lateness = 15;
        let model = AggregateModel::new(&epochs, true, lateness);
        let epochs = Arc::new(epochs);
        let accepted = Arc::new(model.accepted.clone());
        let ours: Arc<Mutex<Vec<(Row, u64, isize)>>> = Arc::default();
        let theirs: Arc<Mutex<Vec<(Row, u64, isize)>>> = Arc::default();
        let (o, t) = (ours.clone(), theirs.clone());
        timely::execute(timely::Config::process(2), move |worker| {
            let index = worker.index();
            let (o, t) = (o.clone(), t.clone());
            let probe = timely::dataflow::ProbeHandle::new();
            let (mut rows, mut maxima, mut reference) = worker.dataflow::<u64, _, _>(|scope| {
                let (rows_in, rows) = scope.new_input::<(Prepared, u64, isize)>();
                let (maxima_in, maxima) = scope.new_input::<(u32, u64, i64)>();
                // count(*) and countd(v) only, each its own argument slot.
                let aggs = vec![
                    call(AggFunc::Count, false, WindowMod::Aggr),
                    call(AggFunc::CountDistinct, true, WindowMod::Aggr),
                ];
                let mut plan = plan(true, lateness, Emit::Changes);
                plan.aggs = aggs;
                let state = AggregateState::new(&plan, "q", Arc::new(Metrics::default()));
                let by_key = Exchange::new(|(r, _, _): &(Prepared, u64, isize)| {
                    tally_engine::render::hash_values(&r[..1])
                });
                let out = tally_engine::render::epoch_op::render(
                    "Aggregate",
                    "node0:aggregate".into(),
                    rows,
                    by_key,
                    Some(maxima.broadcast()),
                    vec![Clock::single(lateness)],
                    state,
                    &Default::default(),
                );
                out.inspect(move |x| o.lock().unwrap().push(x.clone()))
                    .probe_with(&probe);
                // The reference over the accepted updates.
                let (ref_in, accepted) = scope.new_collection::<(Value, i64, Value), isize>();
                let counts = accepted
                    .clone()
                    .map(|(k, p, _)| (k, p))
                    .count()
                    .map(|((k, p), n)| ((k, p), Value::Int(n as i64)));
                let distinct = accepted
                    .clone()
                    .filter(|(_, _, v)| !v.is_null())
                    .distinct()
                    .map(|(k, p, _)| (k, p))
                    .count()
                    .map(|((k, p), n)| ((k, p), Value::Int(n as i64)));
                let zero = accepted
                    .map(|(k, p, _)| ((k, p), ()))
                    .distinct()
                    .antijoin(distinct.clone().map(|(kp, _)| kp))
                    .map(|(kp, ())| (kp, Value::Int(0)));
                counts
                    .join(distinct.concat(zero))
                    .map(|((k, p), (n, d))| vec![k, Value::Int(p), n, d])
                    .inner
                    .inspect(move |x| t.lock().unwrap().push(x.clone()))
                    .probe_with(&probe);
                (rows_in, maxima_in, ref_in)
            });
            for (e, updates) in epochs.iter().enumerate() {
                let e = e as u64;
                // Each worker reads every other update, as sources deal rows to workers.
                for (i, u) in updates.iter().enumerate() {
                    if i % 2 == index {
                        rows.send((prepared(u, true), e, u.diff));
                    }
                }
                let mine = updates
                    .iter()
                    .enumerate()
                    .filter(|(i, u)| i % 2 == index && u.diff > 0);
                if let Some(max) = mine.map(|(_, u)| u.time).max() {
                    maxima.send((0, e, max));
                }
                if index == 0 {
                    for u in &accepted[e as usize] {
                        reference
                            .update((u.key.clone(), pane_start(u.time), u.value.clone()), u.diff);
                    }
                }
                rows.advance_to(e + 1);
                maxima.advance_to(e + 1);
                reference.advance_to(e + 1);
                reference.flush();
                worker.step_while(|| probe.less_than(&(e + 1)));
            }
        })
        .expect("the dataflow ran");
        // Both logs by epoch, consolidated; the reference's final windows are the operator's.
        let ours = by_epoch(&ours.lock().unwrap());
        let theirs = by_epoch(&theirs.lock().unwrap());
        assert_eq!(ours, theirs, "seed {seed}");
        assert!(!ours.is_empty(), "seed {seed}: nothing was computed");
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// One epoch of input for [`run_restarting`]: updates and `(clock, max)` maxima.
type EpochInput<I> = (Vec<(I, isize)>, Vec<(u32, i64)>);

/// One epoch's updates and maxima, borrowed.
type EpochSlices<'a, I> = (&'a [(I, isize)], &'a [(u32, i64)]);

/// Feeds epoch `e` of `last` to `driver` and steps it past `e`, adding its output to `log`.
fn feed<S>(
    driver: &mut Driver<S>,
    e: u64,
    (updates, maxima): EpochSlices<'_, S::In>,
    last: u64,
    out: &mut Vec<(Row, isize)>,
    log: &mut BTreeMap<(u64, Row), isize>,
) where
    S: tally_engine::render::epoch_op::EpochState<Out = Row>,
    S::In: Clone,
{
    let mut batch: Vec<(S::In, u64, isize)> =
        updates.iter().map(|(d, r)| (d.clone(), e, *r)).collect();
    driver.add_updates(&mut batch);
    let mut m: Vec<(u32, u64, i64)> = maxima.iter().map(|(c, m)| (*c, e, *m)).collect();
    driver.add_maxima(&mut m);
    let frontier = (e + 1 < last).then_some(e + 1);
    driver.step(frontier, e, out, |at, o| {
        let at = at.unwrap_or(e);
        for (r, d) in o.drain(..) {
            *log.entry((at, r)).or_default() += d;
        }
    });
}

/// Runs epochs through a driver one at a time and returns the output by epoch, consolidated.
/// With `restart_at = Some(k)`, the driver is snapshotted after epoch `k - 1`, dropped, and a
/// new one made by `make` restores the snapshot and goes on from epoch `k`.
fn run_restarting<S>(
    make: &dyn Fn() -> Driver<S>,
    epochs: &[EpochInput<S::In>],
    restart_at: Option<usize>,
) -> BTreeMap<(u64, Row), isize>
where
    S: tally_engine::render::epoch_op::EpochState<Out = Row>,
    S::In: Clone,
{
    let mut driver = make();
    let mut log: BTreeMap<(u64, Row), isize> = BTreeMap::new();
    let mut out = Vec::new();
    let last = epochs.len() as u64;
    for (e, (updates, maxima)) in epochs.iter().enumerate() {
        if restart_at == Some(e) {
            let bytes = driver.snapshot().expect("a snapshot");
            driver = make();
            driver.restore(&bytes).expect("restored");
        }
        let e = e as u64;
        feed(&mut driver, e, (updates, maxima), last, &mut out, &mut log);
    }
    log.retain(|_, d| *d != 0);
    log
}

/// Runs epochs through a driver that takes an incremental snapshot before each epoch `k` of
/// `at` (checkpoints 1, 2, ...; every one counts as complete); where `at` says so, the driver is
/// dropped there and a new one restores the chain of snapshots from the last whole one and
/// goes on (taking later snapshots relative to the restored one). Returns the output by epoch,
/// consolidated, and how many snapshots were incremental.
fn run_chained<S>(
    make: &dyn Fn() -> Driver<S>,
    epochs: &[EpochInput<S::In>],
    at: &BTreeMap<usize, bool>,
) -> (BTreeMap<(u64, Row), isize>, usize)
where
    S: tally_engine::render::epoch_op::EpochState<Out = Row>,
    S::In: Clone,
{
    use tally_engine::render::epoch_op::Snapshot;
    let incremental = |d: &mut Driver<S>| d.incremental(std::rc::Rc::new(|_| true));
    let mut driver = make();
    incremental(&mut driver);
    let mut taken: BTreeMap<u64, Snapshot> = BTreeMap::new();
    let mut deltas = 0;
    let mut log: BTreeMap<(u64, Row), isize> = BTreeMap::new();
    let mut out = Vec::new();
    let last = epochs.len() as u64;
    for (e, (updates, maxima)) in epochs.iter().enumerate() {
        let e = e as u64;
        if let Some(&restart) = at.get(&(e as usize)) {
            let seq = taken.len() as u64 + 1;
            driver.request_snapshot(e, seq);
            // Every epoch before `e` is applied: only the snapshot is taken.
            driver.step(Some(e), e, &mut out, |_, o| {
                assert!(o.is_empty(), "no output without a new epoch")
            });
            let mut snaps = driver.take_snapshots();
            assert_eq!(snaps.len(), 1, "one snapshot at {e}");
            let (got, epoch, snap) = snaps.pop().unwrap();
            assert_eq!((got, epoch), (seq, e));
            let snap = snap.expect("a snapshot");
            if let Some(prev) = snap.prev {
                assert_eq!(prev, seq - 1, "relative to the snapshot before");
                deltas += 1;
            }
            taken.insert(seq, snap);
            if restart {
                let mut chain = vec![taken[&seq].bytes.clone()];
                let mut at_seq = seq;
                while let Some(prev) = taken[&at_seq].prev {
                    chain.push(taken[&prev].bytes.clone());
                    at_seq = prev;
                }
                chain.reverse();
                driver = make();
                incremental(&mut driver);
                driver
                    .restore_chain(&chain, Some((seq, at_seq)))
                    .expect("restored");
            }
        }
        feed(&mut driver, e, (updates, maxima), last, &mut out, &mut log);
    }
    log.retain(|_, d| *d != 0);
    (log, deltas)
}

/// Random checkpoint epochs in `1..count`, each a restart or not.
fn random_checkpoints(rng: &mut ChaCha8Rng, count: usize) -> BTreeMap<usize, bool> {
    let mut at = BTreeMap::new();
    for k in 1..count {
        if rng.random_bool(0.4) {
            at.insert(k, rng.random_bool(0.3));
        }
    }
    at
}

#[test]
fn every_state_restored_from_a_chain_of_incremental_snapshots_goes_on_as_if_never_stopped() {
    let keys = [Value::Null, Value::str("a"), Value::str("b")];
    let (mut snapshots, mut deltas) = (0, 0);
    for seed in 0..100u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(13000 + seed);
        let count = rng.random_range(2..30);
        let epochs = random_epochs(&mut rng, count);
        let lateness = [0, 15, 40][rng.random_range(0..3)];
        let emit = [Emit::Changes, Emit::Final][seed as usize % 2];
        let input = windowed_input(&epochs);
        let windowed = plan(true, lateness, emit);
        let make = || {
            let state = AggregateState::new(&windowed, "q", Arc::new(Metrics::default()));
            Driver::new(state, vec![Clock::single(lateness)])
        };
        let at = random_checkpoints(&mut rng, count);
        let (log, d) = run_chained(&make, &input, &at);
        assert_eq!(
            log,
            run_restarting(&make, &input, None),
            "aggregate, seed {seed}, checkpoints {at:?}"
        );
        let (join_input, upsert_input) = join_and_upsert_epochs(&mut rng, &keys, count);
        let (join_log, dj) = run_chained(&make_join, &join_input, &at);
        assert_eq!(
            join_log,
            run_restarting(&make_join, &join_input, None),
            "join, seed {seed}, checkpoints {at:?}"
        );
        let (upsert_log, du) = run_chained(&make_upsert, &upsert_input, &at);
        assert_eq!(
            upsert_log,
            run_restarting(&make_upsert, &upsert_input, None),
            "upsert, seed {seed}, checkpoints {at:?}"
        );
        snapshots += 3 * at.len();
        deltas += d + dj + du;
    }
    // The chains really are incremental (a snapshot is whole when the state was empty before,
    // or the chain's snapshots outgrew the whole one).
    assert!(
        deltas * 2 > snapshots,
        "{deltas} of {snapshots} incremental"
    );
}

/// Random epochs as the windowed aggregate's prepared updates, with each epoch's largest event
/// time as clock 0's maxima.
fn windowed_input(epochs: &[Vec<Update>]) -> Vec<EpochInput<Prepared>> {
    epochs
        .iter()
        .map(|updates| {
            let rows = updates
                .iter()
                .map(|u| (prepared(u, true), u.diff))
                .collect();
            let max = updates.iter().filter(|u| u.diff > 0).map(|u| u.time).max();
            (rows, max.map(|m| (0, m)).into_iter().collect())
        })
        .collect()
}

#[test]
fn an_aggregate_restored_from_a_snapshot_goes_on_as_if_never_stopped() {
    for seed in 0..100u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(5000 + seed);
        let count = rng.random_range(2..30);
        let epochs = random_epochs(&mut rng, count);
        let lateness = [0, 15, 40][rng.random_range(0..3)];
        let emit = if seed % 2 == 0 {
            Emit::Changes
        } else {
            Emit::Final
        };
        let input = windowed_input(&epochs);
        let plan = plan(true, lateness, emit);
        let make = || {
            let state = AggregateState::new(&plan, "q", Arc::new(Metrics::default()));
            Driver::new(state, vec![Clock::single(lateness)])
        };
        let whole = run_restarting(&make, &input, None);
        let k = rng.random_range(1..count);
        assert_eq!(
            run_restarting(&make, &input, Some(k)),
            whole,
            "seed {seed}, restart at {k}"
        );
    }
}

/// Random epochs of stream rows and dimension changes for a join (with their maxima), and the
/// same dimension changes for an upsert.
fn join_and_upsert_epochs(
    rng: &mut ChaCha8Rng,
    keys: &[Value],
    count: usize,
) -> (Vec<EpochInput<Side>>, Vec<EpochInput<Row>>) {
    let mut join_input: Vec<EpochInput<Side>> = Vec::new();
    let mut upsert_input: Vec<EpochInput<Row>> = Vec::new();
    let mut dims: BTreeMap<Value, Row> = BTreeMap::new();
    for e in 0..count {
        let mut updates = Vec::new();
        let mut max = None;
        for _ in 0..rng.random_range(0..5) {
            let key = keys[rng.random_range(0..keys.len())].clone();
            let t = (e as i64 * 10 + rng.random_range(-30..10)).max(0);
            max = Some(max.map_or(t, |m: i64| m.max(t)));
            let until = t.div_euclid(20) * 20 + 20;
            let row = stream_row(&key, t, rng.random_range(0..100));
            updates.push((Side::Stream(0, row, vec![key], t, until), 1));
        }
        let mut upserts = Vec::new();
        for _ in 0..rng.random_range(0..3) {
            let key = keys[rng.random_range(1..keys.len())].clone();
            let row = vec![key.clone(), Value::Int(rng.random_range(0..4))];
            if let Some(old) = dims.insert(key.clone(), row.clone()) {
                updates.push((Side::Dim(old.clone(), vec![key.clone()]), -1));
                upserts.push((old, -1));
            }
            updates.push((Side::Dim(row.clone(), vec![key]), 1));
            upserts.push((row, 1));
        }
        join_input.push((updates, max.map(|m| (0, m)).into_iter().collect()));
        upsert_input.push((upserts, Vec::new()));
    }
    (join_input, upsert_input)
}

fn make_join() -> Driver<JoinState<Row>> {
    let state = JoinState::new(
        vec![Kept::new(None, 2, "q".into())],
        |_, r| r,
        Arc::new(Metrics::default()),
    );
    Driver::new(state, vec![Clock::single(5)])
}

fn make_upsert() -> Driver<UpsertState> {
    Driver::new(UpsertState::new(vec![0], None), Vec::new())
}

#[test]
fn a_join_and_an_upsert_restored_from_a_snapshot_go_on_as_if_never_stopped() {
    let keys = [Value::Null, Value::str("a"), Value::str("b")];
    for seed in 0..100u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(7000 + seed);
        let count = rng.random_range(2..25);
        let (join_input, upsert_input) = join_and_upsert_epochs(&mut rng, &keys, count);
        let k = rng.random_range(1..count);
        let whole = run_restarting(&make_join, &join_input, None);
        assert_eq!(
            run_restarting(&make_join, &join_input, Some(k)),
            whole,
            "join, seed {seed}"
        );
        let whole = run_restarting(&make_upsert, &upsert_input, None);
        assert_eq!(
            run_restarting(&make_upsert, &upsert_input, Some(k)),
            whole,
            "upsert, seed {seed}"
        );
    }
}

/// Runs `epochs` on `from` workers (each key's updates on the worker that owns it, the maxima
/// on all), each asked for a checkpoint at epoch `k` with every epoch stashed and then applied
/// in one step; then restores the `from` snapshots, merged, on `to` workers, which go on from
/// `k` epoch by epoch. Returns the output of all of them, by epoch, consolidated.
fn run_rescaled<S>(
    make: &dyn Fn() -> Driver<S>,
    epochs: &[EpochInput<S::In>],
    key: fn(&S::In) -> Row,
    k: usize,
    (from, to): (usize, usize),
) -> BTreeMap<(u64, Row), isize>
where
    S: tally_engine::render::epoch_op::EpochState<Out = Row>,
    S::In: Clone,
{
    use tally_engine::render::owns;
    let mut log: BTreeMap<(u64, Row), isize> = BTreeMap::new();
    let mut out = Vec::new();
    let last = epochs.len() as u64;
    let mut snapshots = Vec::new();
    for w in 0..from {
        let mut d = make();
        d.request_snapshot(k as u64, 1);
        for (e, (updates, maxima)) in epochs.iter().enumerate() {
            let e = e as u64;
            let mut batch: Vec<(S::In, u64, isize)> = updates
                .iter()
                .filter(|(u, _)| owns(&key(u), w, from))
                .map(|(u, r)| (u.clone(), e, *r))
                .collect();
            d.add_updates(&mut batch);
            let mut m: Vec<(u32, u64, i64)> = maxima.iter().map(|(c, m)| (*c, e, *m)).collect();
            d.add_maxima(&mut m);
        }
        // Everything is applied at once, the checkpoint taken on the way at `k`.
        d.step(None, 0, &mut out, |at, o| match at {
            Some(at) if at < k as u64 => {
                for (r, diff) in o.drain(..) {
                    *log.entry((at, r)).or_default() += diff;
                }
            }
            _ => o.clear(),
        });
        let mut taken = d.take_snapshots();
        assert_eq!(taken.len(), 1, "one snapshot");
        let (seq, epoch, bytes) = taken.pop().unwrap();
        assert_eq!((seq, epoch), (1, k as u64));
        snapshots.push(bytes.expect("a snapshot").bytes);
    }
    for w in 0..to {
        let mut d = make();
        d.restore_merged(&snapshots, w, to).expect("restored");
        for (e, (updates, maxima)) in epochs.iter().enumerate().skip(k) {
            let e = e as u64;
            let mut batch: Vec<(S::In, u64, isize)> = updates
                .iter()
                .filter(|(u, _)| owns(&key(u), w, to))
                .map(|(u, r)| (u.clone(), e, *r))
                .collect();
            d.add_updates(&mut batch);
            let mut m: Vec<(u32, u64, i64)> = maxima.iter().map(|(c, m)| (*c, e, *m)).collect();
            d.add_maxima(&mut m);
            let frontier = (e + 1 < last).then_some(e + 1);
            d.step(frontier, e, &mut out, |at, o| {
                let at = at.unwrap_or(e);
                for (r, diff) in o.drain(..) {
                    *log.entry((at, r)).or_default() += diff;
                }
            });
        }
    }
    log.retain(|_, d| *d != 0);
    log
}

#[test]
fn an_aggregate_checkpointed_on_two_workers_goes_on_at_one_or_three() {
    for seed in 0..60u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9000 + seed);
        let count = rng.random_range(2..30);
        let epochs = random_epochs(&mut rng, count);
        let lateness = [0, 15, 40][rng.random_range(0..3)];
        let emit = if seed % 2 == 0 {
            Emit::Changes
        } else {
            Emit::Final
        };
        let input = windowed_input(&epochs);
        let plan = plan(true, lateness, emit);
        let make = || {
            let state = AggregateState::new(&plan, "q", Arc::new(Metrics::default()));
            Driver::new(state, vec![Clock::single(lateness)])
        };
        let whole = run_restarting(&make, &input, None);
        let k = rng.random_range(1..count);
        for to in [1, 2, 3] {
            assert_eq!(
                run_rescaled(&make, &input, |p: &Prepared| p[..1].to_vec(), k, (2, to)),
                whole,
                "seed {seed}, checkpoint at {k}, 2 -> {to} workers"
            );
        }
    }
}

#[test]
fn a_join_and_an_upsert_checkpointed_on_three_workers_go_on_at_two() {
    let keys = [
        Value::Null,
        Value::str("a"),
        Value::str("b"),
        Value::str("c"),
    ];
    for seed in 0..60u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(11000 + seed);
        let count = rng.random_range(2..25);
        let (join_input, upsert_input) = join_and_upsert_epochs(&mut rng, &keys, count);
        let k = rng.random_range(1..count);
        let side_key = |s: &Side| match s {
            Side::Stream(_, _, k, _, _) | Side::Dim(_, k) => k.clone(),
        };
        assert_eq!(
            run_rescaled(&make_join, &join_input, side_key, k, (3, 2)),
            run_restarting(&make_join, &join_input, None),
            "join, seed {seed}"
        );
        assert_eq!(
            run_rescaled(
                &make_upsert,
                &upsert_input,
                |r: &Row| r[..1].to_vec(),
                k,
                (3, 2)
            ),
            run_restarting(&make_upsert, &upsert_input, None),
            "upsert, seed {seed}"
        );
    }
}

#[test]
fn a_snapshot_of_another_shape_is_refused() {
    let plan = plan(true, 0, Emit::Changes);
    let state = || AggregateState::new(&plan, "q", Arc::new(Metrics::default()));
    let bytes = Driver::new(state(), vec![Clock::single(0)])
        .snapshot()
        .unwrap();
    let err = Driver::new(state(), Vec::new())
        .restore(&bytes)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "operator state with 1 watermark clock(s) where the plan has 0"
    );
    let err = Driver::new(state(), vec![Clock::single(0)])
        .restore(&bytes[..3])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "operator state: io error: unexpected end of file"
    );
}

#[test]
fn a_measured_state_size_is_its_whole_snapshots_size_at_most_every_ten_seconds() {
    let keys = [Value::Null, Value::str("a"), Value::str("b")];
    let mut rng = ChaCha8Rng::seed_from_u64(9100);
    let (join_input, upsert_input) = join_and_upsert_epochs(&mut rng, &keys, 12);
    fn check<S>(mut driver: Driver<S>, epochs: &[EpochInput<S::In>])
    where
        S: tally_engine::render::epoch_op::EpochState<Out = Row>,
        S::In: Clone,
    {
        let (mut out, mut log) = (Vec::new(), BTreeMap::new());
        let last = epochs.len() as u64;
        driver.measure_size();
        let mut sizes = Vec::new();
        for (e, (updates, maxima)) in epochs.iter().enumerate() {
            feed(
                &mut driver,
                e as u64,
                (updates, maxima),
                last,
                &mut out,
                &mut log,
            );
            if e + 1 == epochs.len() {
                // The last epoch finished the operator: nothing more to measure.
                assert_eq!(driver.measure_if_due(), None);
                break;
            }
            let whole = driver.snapshot().expect("a snapshot").len();
            // Due: measured as the whole snapshot is long. Then not again for a while.
            assert_eq!(driver.measure_if_due(), Some(whole), "after epoch {e}");
            assert_eq!(driver.measure_if_due(), None, "again after epoch {e}");
            sizes.push(whole);
            driver.measure_size();
        }
        // The states grow with the rows the test feeds: a size that never moved would be a
        // constant, not a measurement.
        assert!(sizes.first() < sizes.last(), "{sizes:?}");
    }
    check(make_join(), &join_input);
    check(make_upsert(), &upsert_input);
}

// ---------------------------------------------------------------------------------------------
// The regular join of two streams

/// Random epochs of a two-sided join's input: rows `[key, n]` on either side, inserted and
/// later retracted (a side that reads an aggregate revises its rows), NULL keys among them,
/// the same row more than once.
fn stream_join_epochs(rng: &mut ChaCha8Rng, count: usize) -> Vec<Vec<(JoinInput, isize)>> {
    let keys = [
        Value::Null,
        Value::str("a"),
        Value::str("b"),
        Value::str("c"),
    ];
    let mut held: Vec<(bool, Row)> = Vec::new();
    let mut epochs = Vec::new();
    for _ in 0..count {
        let mut updates = Vec::new();
        for _ in 0..rng.random_range(0..8) {
            if !held.is_empty() && rng.random_bool(0.25) {
                let (left, row) = held.swap_remove(rng.random_range(0..held.len()));
                let key = vec![row[0].clone()];
                let input = if left {
                    JoinInput::Left(row, key)
                } else {
                    JoinInput::Right(row, key)
                };
                updates.push((input, -1));
                continue;
            }
            let left = rng.random_bool(0.5);
            let key = keys[rng.random_range(0..keys.len())].clone();
            let row = vec![key.clone(), Value::Int(rng.random_range(0..6))];
            held.push((left, row.clone()));
            let input = if left {
                JoinInput::Left(row, vec![key])
            } else {
                JoinInput::Right(row, vec![key])
            };
            updates.push((input, 1));
        }
        epochs.push(updates);
    }
    epochs
}

/// A join input keyed by its first column, NULL keys left out (SQL's equality never holds for
/// them).
fn keyed(
    c: differential_dataflow::VecCollection<'_, u64, Row, isize>,
) -> differential_dataflow::VecCollection<'_, u64, (Value, Row), isize> {
    c.filter(|r| !r[0].is_null()).map(|r| (r[0].clone(), r))
}

/// The residual of the tests' joins: the left row's number is at most the right row's + 2.
fn join_residual() -> ScalarExpr {
    ScalarExpr::Binary {
        op: BinOp::LtEq,
        left: Box::new(ScalarExpr::Column(1)),
        right: Box::new(ScalarExpr::Binary {
            op: BinOp::Add,
            left: Box::new(ScalarExpr::Column(3)),
            right: Box::new(ScalarExpr::lit(2)),
        }),
    }
}

#[test]
fn the_stream_join_at_two_workers_equals_differentials_join() {
    use differential_dataflow::input::Input;
    use timely::dataflow::channels::pact::Exchange;
    use timely::dataflow::operators::vec::Input as _;
    use timely::dataflow::operators::{Inspect, Probe};

    for seed in 0..8u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9100 + seed);
        let epochs = Arc::new(stream_join_epochs(&mut rng, 30));
        let ours: Arc<Mutex<Vec<(Row, u64, isize)>>> = Arc::default();
        let theirs: Arc<Mutex<Vec<(Row, u64, isize)>>> = Arc::default();
        let (o, t) = (ours.clone(), theirs.clone());
        let input = epochs.clone();
        timely::execute(timely::Config::process(2), move |worker| {
            let index = worker.index();
            let (o, t) = (o.clone(), t.clone());
            let probe = timely::dataflow::ProbeHandle::new();
            let (mut rows, mut left_in, mut right_in) = worker.dataflow::<u64, _, _>(|scope| {
                let (rows_in, rows) = scope.new_input::<(JoinInput, u64, isize)>();
                let by_key = Exchange::new(|(i, _, _): &(JoinInput, u64, isize)| match i {
                    JoinInput::Left(_, k) | JoinInput::Right(_, k) => {
                        tally_engine::render::hash_values(k)
                    }
                });
                let state = StreamJoinState::new(
                    Some(join_residual()),
                    "q".into(),
                    Arc::new(Metrics::default()),
                );
                tally_engine::render::epoch_op::render(
                    "Join",
                    "node0:stream-join".into(),
                    rows,
                    by_key,
                    None,
                    Vec::new(),
                    state,
                    &Default::default(),
                )
                .inspect(move |x| o.lock().unwrap().push(x.clone()))
                .probe_with(&probe);
                // The reference: differential's join of the two collections by key (NULL keys
                // left out, as SQL's equality never holds for them), then the residual.
                let (left_in, left) = scope.new_collection::<Row, isize>();
                let (right_in, right) = scope.new_collection::<Row, isize>();
                let residual = join_residual();
                keyed(left)
                    .join(keyed(right))
                    .map(|(_, (l, r))| l.into_iter().chain(r).collect::<Row>())
                    .filter(move |row| residual.eval(row).is_true())
                    .inner
                    .inspect(move |x| t.lock().unwrap().push(x.clone()))
                    .probe_with(&probe);
                (rows_in, left_in, right_in)
            });
            for (e, updates) in input.iter().enumerate() {
                let e = e as u64;
                for (i, (u, d)) in updates.iter().enumerate() {
                    // Each worker reads every other update; the reference is fed once.
                    if i % 2 == index {
                        rows.send((u.clone(), e, *d));
                    }
                    if index == 0 {
                        match u {
                            JoinInput::Left(r, _) => left_in.update(r.clone(), *d),
                            JoinInput::Right(r, _) => right_in.update(r.clone(), *d),
                        }
                    }
                }
                rows.advance_to(e + 1);
                left_in.advance_to(e + 1);
                right_in.advance_to(e + 1);
                left_in.flush();
                right_in.flush();
                worker.step_while(|| probe.less_than(&(e + 1)));
            }
        })
        .expect("the dataflow ran");
        let ours = by_epoch(&ours.lock().unwrap());
        assert_eq!(ours, by_epoch(&theirs.lock().unwrap()), "seed {seed}");
        assert!(!ours.is_empty(), "seed {seed}: nothing was joined");
    }
}

fn make_stream_join() -> Driver<StreamJoinState> {
    let state = StreamJoinState::new(
        Some(join_residual()),
        "q".into(),
        Arc::new(Metrics::default()),
    );
    Driver::new(state, Vec::new())
}

#[test]
fn a_stream_join_restored_from_a_snapshot_goes_on_as_if_never_stopped() {
    for seed in 0..100u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9300 + seed);
        let count = rng.random_range(2..25);
        let input: Vec<EpochInput<JoinInput>> = stream_join_epochs(&mut rng, count)
            .into_iter()
            .map(|u| (u, Vec::new()))
            .collect();
        let k = rng.random_range(1..count);
        let whole = run_restarting(&make_stream_join, &input, None);
        assert_eq!(
            run_restarting(&make_stream_join, &input, Some(k)),
            whole,
            "seed {seed}"
        );
    }
}

#[test]
fn a_stream_join_keeps_each_distinct_row_once_and_forgets_retracted_ones() {
    let mut driver = make_stream_join();
    let a = |n: i64| vec![Value::str("a"), Value::Int(n)];
    let key = || vec![Value::str("a")];
    let mut out = Vec::new();
    let mut log = BTreeMap::new();
    let epoch = vec![
        (JoinInput::Left(a(1), key()), 1),
        (JoinInput::Left(a(1), key()), 1),
        (JoinInput::Right(a(5), key()), 1),
        (
            JoinInput::Left(vec![Value::Null, Value::Int(1)], vec![Value::Null]),
            1,
        ),
    ];
    feed(&mut driver, 0, (&epoch, &[]), 3, &mut out, &mut log);
    assert_eq!(driver.state.kept_rows(), (1, 1));
    // The pair twice (the left row came twice), and nothing for the NULL key.
    assert_eq!(
        log,
        BTreeMap::from([(
            (
                0,
                vec![Value::str("a"), 1.into(), Value::str("a"), 5.into()]
            ),
            2
        )])
    );
    let epoch = vec![
        (JoinInput::Left(a(1), key()), -2),
        (JoinInput::Right(a(5), key()), -1),
    ];
    feed(&mut driver, 1, (&epoch, &[]), 3, &mut out, &mut log);
    assert_eq!(driver.state.kept_rows(), (0, 0));
    log.retain(|_, d| *d != 0);
    let total: isize = log
        .iter()
        .filter(|((e, _), _)| *e == 1)
        .map(|(_, d)| d)
        .sum();
    assert_eq!(total, -2, "both pairs retracted: {log:?}");
}

#[test]
fn a_stream_join_checkpointed_on_three_workers_goes_on_at_two_or_one() {
    for seed in 0..60u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9500 + seed);
        let count = rng.random_range(2..25);
        let input: Vec<EpochInput<JoinInput>> = stream_join_epochs(&mut rng, count)
            .into_iter()
            .map(|u| (u, Vec::new()))
            .collect();
        let k = rng.random_range(1..count);
        let key = |i: &JoinInput| match i {
            JoinInput::Left(_, k) | JoinInput::Right(_, k) => k.clone(),
        };
        let whole = run_restarting(&make_stream_join, &input, None);
        for to in [2, 1] {
            assert_eq!(
                run_rescaled(&make_stream_join, &input, key, k, (3, to)),
                whole,
                "seed {seed}, 3 -> {to} workers"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Top-N

/// The ranked rows of every partition of `held` (rows `[partition, n, m]`, sorted by `n` DESC
/// then the row), the first `limit` of each: the model of what TopN's output adds up to.
fn top_n_model(held: &BTreeMap<Row, i64>, limit: usize) -> BTreeMap<Row, isize> {
    let mut by_partition: BTreeMap<Value, Vec<Row>> = BTreeMap::new();
    for (row, n) in held {
        for _ in 0..*n {
            by_partition
                .entry(row[0].clone())
                .or_default()
                .push(row.clone());
        }
    }
    let mut out = BTreeMap::new();
    for rows in by_partition.values_mut() {
        rows.sort_by(|a, b| b[1].cmp(&a[1]).then(a.cmp(b)));
        for (i, r) in rows.iter().take(limit).enumerate() {
            let mut ranked = r.clone();
            ranked.push(Value::Int(i as i64 + 1));
            *out.entry(ranked).or_insert(0) += 1;
        }
    }
    out
}

fn top_n_input(row: &Row) -> Ranked {
    Ranked {
        partition: vec![row[0].clone()],
        sort: sort_key(&row[1..2], &[(ScalarExpr::Column(1), true)]),
        row: row.clone(),
    }
}

/// Random epochs of rows `[partition, n, m]`, retracted later unless `append_only`.
fn top_n_epochs(rng: &mut ChaCha8Rng, count: usize, append_only: bool) -> Vec<Vec<(Row, isize)>> {
    let parts = [Value::Null, Value::str("a"), Value::str("b")];
    let mut held: Vec<Row> = Vec::new();
    (0..count)
        .map(|_| {
            let mut updates = Vec::new();
            for _ in 0..rng.random_range(0..7) {
                if !append_only && !held.is_empty() && rng.random_bool(0.3) {
                    let row = held.swap_remove(rng.random_range(0..held.len()));
                    updates.push((row, -1));
                    continue;
                }
                let row = vec![
                    parts[rng.random_range(0..parts.len())].clone(),
                    Value::Int(rng.random_range(0..8)),
                    Value::Int(rng.random_range(0..3)),
                ];
                held.push(row.clone());
                updates.push((row, 1));
            }
            updates
        })
        .collect()
}

fn run_top_n_against_the_model(append_only: bool) {
    for seed in 0..200u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9700 + seed);
        let limit = rng.random_range(1..4);
        let count = rng.random_range(1..30);
        let epochs = top_n_epochs(&mut rng, count, append_only);
        let mut driver = Driver::new(TopNState::new(limit as u64, append_only), Vec::new());
        let mut held: BTreeMap<Row, i64> = BTreeMap::new();
        let mut out = Vec::new();
        let mut log = BTreeMap::new();
        let mut expected: BTreeMap<(u64, Row), isize> = BTreeMap::new();
        for (e, updates) in epochs.iter().enumerate() {
            let before = top_n_model(&held, limit);
            for (row, d) in updates {
                *held.entry(row.clone()).or_insert(0) += *d as i64;
            }
            held.retain(|_, n| *n != 0);
            let after = top_n_model(&held, limit);
            for (r, n) in before {
                *expected.entry((e as u64, r)).or_insert(0) -= n;
            }
            for (r, n) in after {
                *expected.entry((e as u64, r)).or_insert(0) += n;
            }
            let input: Vec<(Ranked, isize)> =
                updates.iter().map(|(r, d)| (top_n_input(r), *d)).collect();
            feed(
                &mut driver,
                e as u64,
                (&input, &[]),
                count as u64,
                &mut out,
                &mut log,
            );
        }
        expected.retain(|_, d| *d != 0);
        log.retain(|_, d| *d != 0);
        assert_eq!(log, expected, "seed {seed}, limit {limit}");
        if append_only {
            let partitions = held.keys().map(|r| r[0].clone()).collect::<BTreeSet<_>>();
            assert!(
                driver.state.kept_rows() <= partitions.len() * limit,
                "seed {seed}: an append-only input keeps {limit} rows per partition, kept {}",
                driver.state.kept_rows()
            );
        }
    }
}

#[test]
fn top_n_with_retractions_equals_the_model() {
    run_top_n_against_the_model(false);
}

#[test]
fn top_n_of_an_append_only_input_equals_the_model_and_keeps_n_rows_per_partition() {
    run_top_n_against_the_model(true);
}

#[test]
fn top_n_restored_from_a_snapshot_or_on_other_worker_counts_goes_on_as_if_never_stopped() {
    for seed in 0..60u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(9900 + seed);
        let count = rng.random_range(2..25);
        let input: Vec<EpochInput<Ranked>> = top_n_epochs(&mut rng, count, false)
            .into_iter()
            .map(|u| {
                let u = u.iter().map(|(r, d)| (top_n_input(r), *d)).collect();
                (u, Vec::new())
            })
            .collect();
        let k = rng.random_range(1..count);
        let make = || Driver::new(TopNState::new(2, false), Vec::new());
        let whole = run_restarting(&make, &input, None);
        assert_eq!(run_restarting(&make, &input, Some(k)), whole, "seed {seed}");
        let key = |r: &Ranked| r.partition.clone();
        assert_eq!(
            run_rescaled(&make, &input, key, k, (3, 2)),
            whole,
            "seed {seed}, 3 -> 2 workers"
        );
    }
}
