//! The oracle test: a from-scratch batch evaluator (plain Rust, no dataflow) computes the final
//! result tables for random inputs with out-of-order rows inside the lateness, rows far past
//! it and malformed records; tally's final output must equal it at -w 1 and -w 2.
//!
//! The lateness rule the oracle applies is the one semantics.md promises, at the granularity of
//! the input batch: the file is read in batches of `chunk.rows` lines; the watermark while a
//! batch is read is the largest event time of the earlier batches minus the lateness (for the
//! union of two streams, the smaller of the two streams' largest event times), and a row whose
//! window ends at or before it is late.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tally_engine::{run, RunOptions};
use tally_sql::job::Job;

const LATENESS_MS: i64 = 30_000;
const WINDOW_MS: i64 = 60_000;
const ACCU_MS: i64 = 300_000;
const SW_MS: i64 = 180_000;

#[derive(Clone, Debug)]
struct Event {
    k: String,
    u: String,
    v: Option<i64>,
    t: i64,
}

/// Lines of the input file: events and, now and then, a malformed record.
fn generate(seed: u64, n: usize) -> Vec<Result<Event, String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut clock: i64 = 1_700_000_000_000;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        clock += rng.random_range(0..400);
        if rng.random_bool(0.01) {
            out.push(Err(format!("garbage;{}", rng.random_range(0..10))));
            continue;
        }
        let t = if rng.random_bool(0.03) {
            // Far past the lateness: 2 to 10 minutes behind.
            clock - rng.random_range(120_000..600_000)
        } else if rng.random_bool(0.2) {
            // Out of order, inside the lateness.
            clock - rng.random_range(0..LATENESS_MS)
        } else {
            clock
        };
        out.push(Ok(Event {
            k: format!("k{}", rng.random_range(0..5)),
            u: format!("u{}", rng.random_range(0..40)),
            v: (!rng.random_bool(0.1)).then(|| rng.random_range(-50..1000)),
            t,
        }));
    }
    out
}

/// A changelog of the `regions` dimension (`k,region`), one line per stream line: mostly
/// repeats, now and then a key moving to another region; k4 only appears after a while.
fn regions(seed: u64, n: usize) -> Vec<(String, String)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xd1);
    let mut current: Vec<String> = (0..4).map(|i| format!("r{i}")).collect();
    (0..n)
        .map(|i| {
            let keys = if i < n / 3 { 4 } else { 5 };
            let k = rng.random_range(0..keys);
            if k == 4 && current.len() == 4 {
                current.push("r9".into());
            }
            if rng.random_bool(0.02) {
                current[k] = format!("r{}", rng.random_range(0..6));
            }
            (format!("k{k}"), current[k].clone())
        })
        .collect()
}

fn line(e: &Result<Event, String>) -> String {
    match e {
        Ok(e) => format!(
            "{};{};{};{}",
            e.k,
            e.u,
            e.v.map_or("\\N".to_string(), |v| v.to_string()),
            e.t
        ),
        Err(g) => g.clone(),
    }
}

#[derive(Default)]
struct WindowAgg {
    rows: i64,
    count_v: i64,
    sum_v: Option<i64>,
    min_v: Option<i64>,
    max_v: Option<i64>,
    users: BTreeSet<String>,
}

impl WindowAgg {
    fn add(&mut self, e: &Event) {
        self.rows += 1;
        if let Some(v) = e.v {
            self.count_v += 1;
            self.sum_v = Some(self.sum_v.unwrap_or(0) + v);
            self.min_v = Some(self.min_v.map_or(v, |m| m.min(v)));
            self.max_v = Some(self.max_v.map_or(v, |m| m.max(v)));
        }
        self.users.insert(e.u.clone());
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// The batch evaluator: returns the expected CSV files by name.
fn oracle(
    lines: &[Result<Event, String>],
    lines2: &[Result<Event, String>],
    dim: &[(String, String)],
    chunk: usize,
) -> BTreeMap<&'static str, String> {
    let mut windowed: BTreeMap<(String, i64), WindowAgg> = BTreeMap::new();
    let mut global: BTreeMap<String, WindowAgg> = BTreeMap::new();
    let mut minute_users: BTreeSet<(i64, String)> = BTreeSet::new();
    // Non-late rows per (k, pane), for the ACCU and SW windows.
    let mut panes: BTreeMap<(String, i64), Vec<Event>> = BTreeMap::new();
    let mut max_seen: Option<i64> = None;
    for batch in lines.chunks(chunk) {
        let watermark = max_seen.map(|m| m - LATENESS_MS);
        for e in batch.iter().flatten() {
            global.entry(e.k.clone()).or_default().add(e);
            let start = e.t.div_euclid(WINDOW_MS) * WINDOW_MS;
            if watermark.is_some_and(|wm| start + WINDOW_MS <= wm) {
                continue; // late
            }
            windowed.entry((e.k.clone(), start)).or_default().add(e);
            panes
                .entry((e.k.clone(), start))
                .or_default()
                .push(e.clone());
            minute_users.insert((start, e.u.clone()));
        }
        for e in batch.iter().flatten() {
            max_seen = Some(max_seen.map_or(e.t, |m| m.max(e.t)));
        }
    }
    let mut files = BTreeMap::new();
    let mut w = String::from("k,minute,rows,count_v,sum_v,min_v,max_v,users\n");
    for ((k, start), a) in &windowed {
        writeln!(
            w,
            "{k},{start},{},{},{},{},{},{}",
            a.rows,
            a.count_v,
            opt(a.sum_v),
            opt(a.min_v),
            opt(a.max_v),
            a.users.len()
        )
        .unwrap();
    }
    files.insert("windowed.csv", w);
    let mut g = String::from("k,rows,users,sum_v\n");
    for (k, a) in &global {
        writeln!(g, "{k},{},{},{}", a.rows, a.users.len(), opt(a.sum_v)).unwrap();
    }
    files.insert("global.csv", g);
    let mut per_minute: BTreeMap<i64, usize> = BTreeMap::new();
    for (m, _) in &minute_users {
        *per_minute.entry(*m).or_default() += 1;
    }
    let mut d = String::from("minute,users\n");
    for (m, n) in per_minute {
        writeln!(d, "{m},{n}").unwrap();
    }
    files.insert("distinct.csv", d);
    // count, count ACCU, countd ACCU, sum SW, countd SW, max SW per k and minute; and the
    // minute's own countd and max, which a closed pane stops holding while the ACCU and SW
    // windows that span it still read its counts.
    let span = |k: &str, from: i64, to: i64| -> WindowAgg {
        let mut a = WindowAgg::default();
        for ((_, _), rows) in panes.range((k.to_string(), from)..=(k.to_string(), to)) {
            rows.iter().for_each(|e| a.add(e));
        }
        a
    };
    let mut m = String::from("k,minute,n,n_accu,users_accu,sum_sw,users_sw,max_sw,users,max_v\n");
    for (k, start) in windowed.keys() {
        let end = start + WINDOW_MS;
        let accu = span(k, (end - 1).div_euclid(ACCU_MS) * ACCU_MS, *start);
        let sw = span(k, end - SW_MS, *start);
        let own = &windowed[&(k.clone(), *start)];
        writeln!(
            m,
            "{k},{start},{},{},{},{},{},{},{},{}",
            own.rows,
            accu.rows,
            accu.users.len(),
            opt(sw.sum_v),
            sw.users.len(),
            opt(sw.max_v),
            own.users.len(),
            opt(own.max_v)
        )
        .unwrap();
    }
    files.insert("mixed.csv", m.clone());
    files.insert("mixed_changes.csv", m);
    // avg, sum, min, max, countd_hllp and hllp over the ACCU and SW windows. The sketches are
    // built here from the users of each span, with tally's HyperLogLog (its estimate is tested
    // on its own): a span's sketch equals the merge of its panes' sketches exactly, so what is
    // checked is that tally merges the right panes.
    let avg = |a: &WindowAgg| match a.sum_v {
        Some(s) => {
            let x = s as f64 / a.count_v as f64;
            // As Java prints a double of this size (`12.0`, `12.5`).
            if x.fract() == 0.0 {
                format!("{x:.1}")
            } else {
                format!("{x}")
            }
        }
        None => String::new(),
    };
    let sketch = |a: &WindowAgg| {
        let mut s = tally_sql::hll::Sketch::default();
        for u in &a.users {
            s.insert(&tally_sql::Value::str(u));
        }
        s
    };
    let mut x = String::from(
        "k,minute,avg_accu,avg_sw,sum_accu,min_sw,max_accu,hllp_users_accu,hllp_users_sw,\
         sketch_accu,sketch_sw\n",
    );
    for (k, start) in windowed.keys() {
        let end = start + WINDOW_MS;
        let accu = span(k, (end - 1).div_euclid(ACCU_MS) * ACCU_MS, *start);
        let sw = span(k, end - SW_MS, *start);
        writeln!(
            x,
            "{k},{start},{},{},{},{},{},{},{},{},{}",
            avg(&accu),
            avg(&sw),
            opt(accu.sum_v),
            opt(sw.min_v),
            opt(accu.max_v),
            sketch(&accu).estimate(),
            sketch(&sw).estimate(),
            sketch(&accu).encode(),
            sketch(&sw).encode()
        )
        .unwrap();
    }
    files.insert("accu_sw.csv", x);

    // The join: stream rows take the dimension's value as it stands in their batch, and are
    // revised by later changes while their window is open.
    struct Joined {
        e: Event,
        start: i64,
        region: Option<String>,
        kept: bool,
    }
    let mut regions: BTreeMap<String, String> = BTreeMap::new();
    let mut joined: Vec<Joined> = Vec::new();
    let mut max_seen: Option<i64> = None;
    let batches = lines.len().div_ceil(chunk).max(dim.len().div_ceil(chunk));
    for b in 0..batches {
        let watermark = max_seen.map(|m| m - LATENESS_MS);
        for (k, r) in dim.iter().skip(b * chunk).take(chunk) {
            regions.insert(k.clone(), r.clone());
        }
        for j in joined.iter_mut().filter(|j| j.kept) {
            j.region = regions.get(&j.e.k).cloned();
        }
        for e in lines.iter().skip(b * chunk).take(chunk).flatten() {
            let start = e.t.div_euclid(WINDOW_MS) * WINDOW_MS;
            if watermark.is_some_and(|wm| start + WINDOW_MS <= wm) {
                continue;
            }
            joined.push(Joined {
                e: e.clone(),
                start,
                region: regions.get(&e.k).cloned(),
                kept: true,
            });
        }
        for e in lines.iter().skip(b * chunk).take(chunk).flatten() {
            max_seen = Some(max_seen.map_or(e.t, |m| m.max(e.t)));
        }
        if let Some(wm) = max_seen.map(|m| m - LATENESS_MS) {
            for j in joined.iter_mut() {
                if j.start + WINDOW_MS <= wm {
                    j.kept = false;
                }
            }
        }
    }
    let mut by_region: BTreeMap<(Option<String>, i64), WindowAgg> = BTreeMap::new();
    for j in &joined {
        by_region
            .entry((j.region.clone(), j.start))
            .or_default()
            .add(&j.e);
    }
    let mut r = String::from("region,minute,n,users\n");
    for ((region, start), a) in &by_region {
        writeln!(
            r,
            "{},{start},{},{}",
            region.clone().unwrap_or_default(),
            a.rows,
            a.users.len()
        )
        .unwrap();
    }
    files.insert("by_region.csv", r);

    // The union: batch b holds chunk b of both streams. Each stream keeps its own largest
    // event time; the watermark is the smaller of the two (none until both have rows).
    let mut united: BTreeMap<(String, i64), WindowAgg> = BTreeMap::new();
    let mut max_seen: [Option<i64>; 2] = [None, None];
    for b in 0..lines.len().max(lines2.len()).div_ceil(chunk) {
        let watermark = match max_seen {
            [Some(a), Some(c)] => Some(a.min(c) - LATENESS_MS),
            _ => None,
        };
        let batches: [Vec<&Event>; 2] =
            [&lines, &lines2].map(|l| l.iter().skip(b * chunk).take(chunk).flatten().collect());
        for e in batches.iter().flatten() {
            let start = e.t.div_euclid(WINDOW_MS) * WINDOW_MS;
            if watermark.is_none_or(|wm| start + WINDOW_MS > wm) {
                united.entry((e.k.clone(), start)).or_default().add(e);
            }
        }
        for (seen, batch) in max_seen.iter_mut().zip(&batches) {
            for e in batch {
                *seen = Some(seen.map_or(e.t, |m| m.max(e.t)));
            }
        }
    }
    let mut u = String::from("k,minute,n,sum_v\n");
    for ((k, start), a) in &united {
        writeln!(u, "{k},{start},{},{}", a.rows, opt(a.sum_v)).unwrap();
    }
    files.insert("united.csv", u);
    files
}

const JOB: &str = r#"[system]
lateness.seconds=30
chunk.rows=CHUNK
sql=INSERT INTO windowed SELECT k, AGGRTIME, count(1), count(v), sum(v), min(v), max(v), \
  countd(u) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS; \
INSERT INTO global SELECT k, count(*), count(DISTINCT u), sum(v) FROM src GROUP BY k; \
WITH (SELECT AGGRTIME m, u FROM src GROUP BY u COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS) tmp \
INSERT INTO distinct_users SELECT m, count(1) FROM tmp GROUP BY m; \
INSERT INTO mixed SELECT k, AGGRTIME, count(1), count(u ACCU), countd(u ACCU), sum(v SW), \
  countd(u SW), max(v SW), countd(u), max(v) FROM src GROUP BY k COORDINATE BY t \
  WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 300 SECONDS WITH SW INTERVAL 180 SECONDS; \
INSERT INTO mixed_changes SELECT k, AGGRTIME, count(1), count(u ACCU), countd(u ACCU), sum(v SW), \
  countd(u SW), max(v SW), countd(u), max(v) FROM src GROUP BY k COORDINATE BY t \
  WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 300 SECONDS WITH SW INTERVAL 180 SECONDS; \
INSERT INTO accu_sw SELECT k, AGGRTIME, avg(v ACCU), avg(v SW), sum(v ACCU), min(v SW), \
  max(v ACCU), countd_hllp(u ACCU), countd_hllp(u SW), hllp(u ACCU), hllp(u SW) FROM src \
  GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS \
  WITH ACCU INTERVAL 300 SECONDS WITH SW INTERVAL 180 SECONDS; \
INSERT INTO by_region SELECT region, AGGRTIME, count(1), countd(u) FROM src \
  LEFT JOIN regions ON src.k = regions.k GROUP BY regions.region \
  COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS; \
INSERT INTO united SELECT k, AGGRTIME, count(1), sum(v) FROM \
  (SELECT k, v, t FROM src UNION ALL SELECT k, v, t FROM src2) x \
  GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=k,string,:u,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=input.txt
table.field.splitter=;

[tabledesc-src2]
table.name=src2
table.fields=k,string,:u,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=input2.txt
table.field.splitter=;

[tabledesc-regions]
table.name=regions
table.fields=k,string,:region,string,
table.type=file
table.file.path=regions.csv
table.file.format=csv
table.field.key=k
table.file.replay=true

[tabledesc-by_region]
table.name=by_region
table.fields=region,string,:minute,bigint,:n,bigint,:users,bigint,
table.type=csv
table.csv.path=by_region.csv
table.emit=final

[tabledesc-united]
table.name=united
table.fields=k,string,:minute,bigint,:n,bigint,:sum_v,bigint,
table.type=csv
table.csv.path=united.csv

[tabledesc-windowed]
table.name=windowed
table.fields=k,string,:minute,bigint,:rows,bigint,:count_v,bigint,:sum_v,bigint,:min_v,bigint,:max_v,bigint,:users,bigint,
table.type=csv
table.csv.path=windowed.csv
table.emit=final

[tabledesc-global]
table.name=global
table.fields=k,string,:rows,bigint,:users,bigint,:sum_v,bigint,
table.type=csv
table.csv.path=global.csv

[tabledesc-mixed]
table.name=mixed
table.fields=k,string,:minute,bigint,:n,bigint,:n_accu,bigint,:users_accu,bigint,:sum_sw,bigint,:users_sw,bigint,:max_sw,bigint,:users,bigint,:max_v,bigint,
table.type=csv
table.csv.path=mixed.csv
table.emit=final

[tabledesc-mixed_changes]
table.name=mixed_changes
table.fields=k,string,:minute,bigint,:n,bigint,:n_accu,bigint,:users_accu,bigint,:sum_sw,bigint,:users_sw,bigint,:max_sw,bigint,:users,bigint,:max_v,bigint,
table.type=csv
table.csv.path=mixed_changes.csv
table.flush.ms=1

[tabledesc-accu_sw]
table.name=accu_sw
table.fields=k,string,:minute,bigint,:avg_accu,double,:avg_sw,double,:sum_accu,bigint,:min_sw,bigint,:max_accu,bigint,:hllp_users_accu,bigint,:hllp_users_sw,bigint,:sketch_accu,string,:sketch_sw,string,
table.type=csv
table.csv.path=accu_sw.csv

[tabledesc-distinct]
table.name=distinct_users
table.fields=minute,bigint,:users,bigint,
table.type=csv
table.csv.path=distinct.csv
table.flush.ms=1
"#;

struct Input {
    lines: Vec<Result<Event, String>>,
    lines2: Vec<Result<Event, String>>,
    dim: Vec<(String, String)>,
}

impl Input {
    fn new(seed: u64, n: usize) -> Input {
        Input {
            lines: generate(seed, n),
            lines2: generate(seed + 1000, n / 2),
            dim: regions(seed, n),
        }
    }

    fn expected(&self, chunk: usize) -> BTreeMap<&'static str, String> {
        oracle(&self.lines, &self.lines2, &self.dim, chunk)
    }
}

fn run_tally(dir: &Path, input: &Input, chunk: usize, workers: usize) {
    let lines = &input.lines;
    let text: String = lines.iter().map(|l| line(l) + "\n").collect();
    std::fs::write(dir.join("input.txt"), text).unwrap();
    let text2: String = input.lines2.iter().map(|l| line(l) + "\n").collect();
    std::fs::write(dir.join("input2.txt"), text2).unwrap();
    let dim: String = input
        .dim
        .iter()
        .map(|(k, r)| format!("{k},{r}\n"))
        .collect();
    std::fs::write(dir.join("regions.csv"), dim).unwrap();
    std::fs::write(dir.join("job.ec"), JOB.replace("CHUNK", &chunk.to_string())).unwrap();
    let job = Job::load(&dir.join("job.ec")).unwrap();
    let plan = tally_sql::planner::plan(&job).unwrap();
    let summary = run(
        plan,
        RunOptions {
            workers,
            progress_every: None,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let bad = lines
        .iter()
        .chain(&input.lines2)
        .filter(|l| l.is_err())
        .count() as u64;
    assert_eq!(summary.bad_rows, bad, "malformed records are counted");
}

#[test]
fn tally_matches_the_batch_oracle() {
    // Seed, events, chunk rows, and the lines of windowed.csv (header and one per key and
    // minute): the input spans many windows.
    for (seed, n, chunk, windowed_lines) in [
        (1, 2_000, 1, 37),
        (2, 3_000, 7, 59),
        (3, 5_000, 64, 92),
        (4, 4_000, 500, 82),
    ] {
        let input = Input::new(seed, n);
        let expected = input.expected(chunk);
        assert_eq!(
            expected["windowed.csv"].lines().count(),
            windowed_lines,
            "seed {seed}"
        );
        for workers in [1, 2] {
            let dir = tempfile::tempdir().unwrap();
            run_tally(dir.path(), &input, chunk, workers);
            // TALLY_KEEP_ORACLE keeps the run's folder, with the oracle's files beside
            // tally's, to look at; the comparison is made all the same.
            let path = if std::env::var_os("TALLY_KEEP_ORACLE").is_some() {
                let kept = dir.keep();
                eprintln!("kept {}", kept.display());
                for (file, want) in &expected {
                    std::fs::write(kept.join(format!("expected-{file}")), want).unwrap();
                }
                kept
            } else {
                dir.path().to_path_buf()
            };
            for (file, want) in &expected {
                let got = std::fs::read_to_string(path.join(file)).unwrap();
                assert_eq!(
                    &got, want,
                    "{file} differs (seed {seed}, chunk {chunk}, -w {workers})"
                );
            }
        }
    }
}

#[test]
fn late_rows_are_counted_not_applied() {
    // Batches of one row: the watermark moves with every row.
    let e = |t: i64| {
        Ok(Event {
            k: "a".into(),
            u: "x".into(),
            v: Some(1),
            t,
        })
    };
    let base = 1_700_000_040_000; // 40 s into a minute
    let input = Input {
        lines: vec![
            e(base),
            e(base + 120_000),
            e(base - 1_000),
            e(base + 121_000),
        ],
        lines2: vec![],
        dim: vec![("a".into(), "r1".into())],
    };
    let expected = input.expected(1);
    // The third row belongs to the first window, which closed when the second row arrived.
    assert!(expected["windowed.csv"].contains(",1,1,1,1,1,1\n"));
    let dir = tempfile::tempdir().unwrap();
    run_tally(dir.path(), &input, 1, 1);
    let got = std::fs::read_to_string(dir.path().join("windowed.csv")).unwrap();
    assert_eq!(got, expected["windowed.csv"]);
}

#[test]
fn countd_hllp_is_within_two_percent_of_countd() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nsql=INSERT INTO d SELECT AGGRTIME, countd(qq), countd_hllp(qq), countd(qq ACCU), \
         countd_hllp(qq ACCU) FROM src GROUP BY 1 COORDINATE BY dTime \
         WITH AGGR INTERVAL 600 SECONDS WITH ACCU INTERVAL 86400 SECONDS\n\
         [tabledesc-1]\ntable.name=src\ntable.type=generator\ntable.generator.rows=400000\n\
         [tabledesc-2]\ntable.name=d\ntable.fields=minute,bigint,:exact,bigint,:approx,bigint,\
         :exact_day,bigint,:approx_day,bigint,\ntable.type=csv\ntable.csv.path=d.csv\n",
    )
    .unwrap();
    let job = Job::load(&dir.path().join("job.ec")).unwrap();
    let plan = tally_sql::planner::plan(&job).unwrap();
    let opts = RunOptions {
        workers: 2,
        progress_every: None,
        ..RunOptions::default()
    };
    run(plan, opts).unwrap();
    let text = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    // The exact columns, from the generator's very events (at most 20 s late, under the 30 s
    // lateness: all count): distinct users per ten minutes, and since the start of the day.
    let mut events = Vec::new();
    tally_connectors::generator::write_delimited(42, 400_000, ";", &mut events).unwrap();
    let mut windows: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut all: Vec<(i64, String)> = Vec::new();
    for line in String::from_utf8(events).unwrap().lines() {
        let f: Vec<&str> = line.split(';').collect();
        let t: i64 = f[2].parse().unwrap();
        windows
            .entry(t - t.rem_euclid(600_000))
            .or_default()
            .insert(f[1].to_string());
        all.push((t, f[1].to_string()));
    }
    let expected: Vec<(i64, usize, usize)> = windows
        .iter()
        .map(|(&w, users)| {
            let end = w + 600_000;
            let day = (end - 1) - (end - 1).rem_euclid(86_400_000);
            let today: BTreeSet<&str> = all
                .iter()
                .filter(|(t, _)| *t >= day && *t < end)
                .map(|(_, u)| u.as_str())
                .collect();
            (w, users.len(), today.len())
        })
        .collect();
    let mut got = Vec::new();
    for line in text.lines().skip(1) {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        for (exact, approx) in [(v[1], v[2]), (v[3], v[4])] {
            let err = (approx - exact).abs() / exact;
            assert!(err < 0.02, "{line}: error {err}");
        }
        got.push((v[0] as i64, v[1] as usize, v[3] as usize));
    }
    assert_eq!(got, expected, "{text}");
}
