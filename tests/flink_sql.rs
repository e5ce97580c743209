//! Flink SQL jobs (`.sql`) as Flink writes them: a table's `WATERMARK`, the `TUMBLE` window
//! table function. Real `tally run` child processes; results against a plain model.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone};
use common::{csv_rows, ok, tally, Running};
use rand::Rng;

const TS: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// A Flink SQL job counting each app's clicks and users per minute of event time, in Beijing
/// time, from `clicks.csv` into the CSV table `out.csv`.
fn job(watermark: &str, follow: bool) -> String {
    format!(
        "-- Flink SQL: a watermarked table and a tumbling window TVF.
CREATE TABLE clicks (
  appId STRING,
  qq STRING,
  ts TIMESTAMP(3){watermark}
) WITH ('connector' = 'file', 'path' = 'clicks.csv', 'field.splitter' = ',', 'follow' = '{follow}');

CREATE TABLE per_minute (
  appId STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  pv BIGINT,
  uv BIGINT
) WITH ('connector' = 'csv', 'path' = 'out.csv', 'flush.ms' = '50');

SET 'timezone' = '+08:00';

INSERT INTO per_minute
SELECT appId, window_start, window_end, COUNT(qq) AS pv, COUNT(DISTINCT qq) AS uv
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY appId, window_start, window_end;
"
    )
}

const WATERMARK: &str = ",\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND";

#[test]
fn a_tumble_tvf_job_and_its_legacy_group_window_give_each_windows_counts_as_a_model_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.sql"), job(WATERMARK, false)).unwrap();
    let tz = FixedOffset::east_opt(8 * 3600).unwrap();
    let start = tz
        .with_ymd_and_hms(2026, 12, 6, 10, 0, 0)
        .unwrap()
        .timestamp_millis();
    // 3,000 clicks over about 12 minutes, each at most 4 s out of order: within the 5 s
    // delay, so none is late however the file is read.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(15);
    let mut lines = String::new();
    let mut model: BTreeMap<(String, i64), (u64, BTreeSet<String>)> = BTreeMap::new();
    for i in 0..3_000i64 {
        let ms = (start + i * 240 - rng.random_range(0..4_000)).max(start);
        let app = format!("app{}", rng.random_range(0..4));
        let user = format!("u{}", rng.random_range(0..40));
        let text = tz.timestamp_millis_opt(ms).unwrap().format(TS).to_string();
        lines.push_str(&format!("{app},{user},{text}\n"));
        let w = model.entry((app, ms - ms.rem_euclid(60_000))).or_default();
        w.0 += 1;
        w.1.insert(user);
    }
    std::fs::write(dir.path().join("clicks.csv"), lines).unwrap();
    ok(&tally(
        &["run", "job.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    let bound = |ms: i64| tz.timestamp_millis_opt(ms).unwrap().format(TS).to_string();
    let mut expected: Vec<String> = model
        .iter()
        .map(|((app, w), (pv, users))| {
            format!(
                "{app},{},{},{pv},{}",
                bound(*w),
                bound(w + 60_000),
                users.len()
            )
        })
        .collect();
    expected.sort();
    assert_eq!(
        expected.len(),
        4 * 12,
        "the model covers 12 minutes of 4 apps"
    );
    assert_eq!(csv_rows(&dir.path().join("out.csv")), expected);
    // Flink's legacy group window is the same query.
    let legacy = job(WATERMARK, false).replace(
        "SELECT appId, window_start, window_end, COUNT(qq) AS pv, COUNT(DISTINCT qq) AS uv
FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY appId, window_start, window_end;",
        "SELECT appId, TUMBLE_START(ts, INTERVAL '1' MINUTE), TUMBLE_END(ts, INTERVAL '1' MINUTE),
  COUNT(qq) AS pv, COUNT(DISTINCT qq) AS uv
FROM clicks
GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), appId;",
    );
    assert!(legacy.contains("TUMBLE_START"));
    std::fs::write(dir.path().join("job.sql"), legacy).unwrap();
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    ok(&tally(
        &["run", "job.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    assert_eq!(csv_rows(&dir.path().join("out.csv")), expected);
}

/// Appends a line to the followed file.
fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

/// Waits until the CSV table holds a row starting with `prefix` (30 s at most).
fn wait_for_row(path: &Path, prefix: &str) {
    let started = Instant::now();
    loop {
        let rows = std::fs::read_to_string(path).unwrap_or_default();
        if rows.lines().any(|l| l.starts_with(prefix)) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no row {prefix}... within 30 s: {rows}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the followed-file job over four clicks, each read before the next is written, and
/// returns the table at the end. The third click is 20 s behind the largest event time: past
/// the watermark's 5 s delay, but within the job's default lateness of 30 s.
fn late_click_run(watermark: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.sql"), job(watermark, true)).unwrap();
    let clicks = dir.path().join("clicks.csv");
    let out = dir.path().join("out.csv");
    std::fs::write(&clicks, "").unwrap();
    let _job = Running(
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.sql", "--progress", "0"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    append(&clicks, "a,u1,2026-12-06 10:00:10.000");
    wait_for_row(&out, "a,2026-12-06 10:00:00.000,");
    append(&clicks, "a,u2,2026-12-06 10:01:20.000");
    wait_for_row(&out, "a,2026-12-06 10:01:00.000,");
    append(&clicks, "a,u3,2026-12-06 10:00:55.000");
    append(&clicks, "a,u4,2026-12-06 10:03:00.000");
    wait_for_row(&out, "a,2026-12-06 10:03:00.000,");
    csv_rows(&out)
}

#[test]
fn a_tables_watermark_delay_is_how_late_its_rows_may_come() {
    let w = |start: &str, end: &str, n: u64| {
        format!("a,2026-12-06 {start}:00.000,2026-12-06 {end}:00.000,{n},{n}")
    };
    // With the watermark 5 s behind, the 10:00 window was final when u3 came: dropped.
    assert_eq!(
        late_click_run(WATERMARK),
        [
            w("10:00", "10:01", 1),
            w("10:01", "10:02", 1),
            w("10:03", "10:04", 1)
        ]
    );
    // Without one, the job's 30 s lateness holds and u3 revises the 10:00 window.
    assert_eq!(
        late_click_run(""),
        [
            w("10:00", "10:01", 2),
            w("10:01", "10:02", 1),
            w("10:03", "10:04", 1)
        ]
    );
}

#[test]
fn explain_shows_the_window_of_the_tvf_and_the_tables_delay() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.sql"), job(WATERMARK, false)).unwrap();
    std::fs::write(dir.path().join("clicks.csv"), "").unwrap();
    let out = tally(&["explain", "job.sql"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let window = text
        .lines()
        .find(|l| l.trim_start().starts_with("window #1"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        window.trim(),
        "window #1 AGGRTIME: 60000 ms on timestamp_millis(#2), lateness 5000 ms"
    );
}

#[test]
fn a_hop_window_is_refused_at_check_with_what_to_write_instead() {
    let dir = tempfile::tempdir().unwrap();
    let hop = job(WATERMARK, false).replace(
        "TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE)",
        "HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)",
    );
    std::fs::write(dir.path().join("job.sql"), hop).unwrap();
    let out = tally(&["check", "job.sql"], dir.path());
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "job.sql:21:12: error: the window TVF HOP is not supported yet; TUMBLE is. EC-SQL's \
         windows do what HOP and CUMULATE do: `WITH SW INTERVAL` with `agg(x SW)` slides, \
         `WITH ACCU INTERVAL` with `agg(x ACCU)` accumulates (docs/windows.md)\n"
    );
}

#[test]
fn the_readmes_flink_sql_example_prints_each_pages_minutes() {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args([
            "run",
            "examples/page_views_per_minute.sql",
            "--progress",
            "0",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let w = |page: &str, m: u32, views: u32, users: u32| {
        format!(
            "views_per_minute: +I[{page}, 2026-12-06 10:0{m}:00.000, 2026-12-06 10:0{}:00.000, \
             {views}, {users}]",
            m + 1
        )
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            w("cart", 0, 2, 2),
            w("cart", 1, 1, 1),
            w("cart", 2, 1, 1),
            w("home", 0, 3, 2),
            w("home", 1, 2, 2),
            w("home", 2, 1, 1),
        ]
    );
}

#[test]
fn a_view_read_by_two_inserts_of_a_statement_set_runs_as_one_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clicks.csv"),
        "a,u1,2026-12-06 10:00:01.000\nb,u1,2026-12-06 10:00:02.000\n\
         a,u2,2026-12-06 10:00:03.000\na,u1,2026-12-06 10:01:04.000\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE clicks (appId STRING, qq STRING, ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
WITH ('connector' = 'file', 'path' = 'clicks.csv', 'field.splitter' = ',');
CREATE TABLE totals (appId STRING, pv BIGINT) WITH ('connector' = 'csv', 'path' = 'totals.csv');
CREATE TABLE minutes (window_start TIMESTAMP(3), uv BIGINT)
WITH ('connector' = 'csv', 'path' = 'minutes.csv');
CREATE TEMPORARY VIEW app_a AS SELECT qq, ts FROM clicks WHERE appId = 'a';
EXECUTE STATEMENT SET
BEGIN
  INSERT INTO totals SELECT appId, COUNT(*) AS pv FROM clicks GROUP BY appId;
  INSERT INTO minutes SELECT window_start, COUNT(DISTINCT qq) AS uv
  FROM TABLE(TUMBLE(TABLE app_a, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
  GROUP BY window_start, window_end;
END;
",
    )
    .unwrap();
    ok(&tally(&["run", "job.sql", "--progress", "0"], dir.path()));
    assert_eq!(csv_rows(&dir.path().join("totals.csv")), ["a,3", "b,1"]);
    assert_eq!(
        csv_rows(&dir.path().join("minutes.csv")),
        ["2026-12-06 10:00:00.000,2", "2026-12-06 10:01:00.000,1"]
    );
}

#[test]
fn print_and_blackhole_tables_take_a_jobs_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clicks.csv"), "a,u1\nb,u2\na,u3\n").unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE clicks (appId STRING, qq STRING)
WITH ('connector' = 'file', 'path' = 'clicks.csv', 'field.splitter' = ',');
CREATE TABLE shown (appId STRING, pv BIGINT) WITH ('connector' = 'print', 'emit' = 'final');
CREATE TABLE dropped (appId STRING, pv BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO shown SELECT appId, COUNT(*) AS pv FROM clicks GROUP BY appId;
INSERT INTO dropped SELECT appId, COUNT(*) AS pv FROM clicks GROUP BY appId;
",
    )
    .unwrap();
    let out = tally(
        &["run", "job.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    );
    let log = ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "shown: +I[a, 2]\nshown: +I[b, 1]\n"
    );
    // Both tables took every result change: 2 each.
    assert!(log.contains("result_changes=4"), "{log}");
}

#[test]
fn a_computed_time_column_with_a_watermark_windows_as_coordinate_by_does() {
    let dir = tempfile::tempdir().unwrap();
    let source = |extra: &str| {
        format!(
            "CREATE TABLE src (appId STRING, qq STRING, dTime BIGINT{extra})
WITH ('connector' = 'generator', 'rows' = '20000', 'seed' = '42');
CREATE TABLE dest (appId STRING, minute STRING, pv BIGINT, uv BIGINT)
WITH ('connector' = 'csv', 'path' = 'out.csv');
"
        )
    };
    // Flink's idiom: the event time computed from epoch ms, watermarked 5 s behind.
    let flink = source(
        ",\n  ts AS TO_TIMESTAMP_LTZ(dTime, 3),\n  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND",
    ) + "INSERT INTO dest
SELECT appId, window_start, COUNT(qq) AS pv, COUNT(DISTINCT qq) AS uv
FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY appId, window_start, window_end;
";
    // EC-SQL's: the same lateness as a job setting.
    let ec = source("")
        + "SET 'lateness.seconds' = '5';
INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS;
";
    let run = |job: &str| {
        std::fs::write(dir.path().join("job.sql"), job).unwrap();
        let _ = std::fs::remove_file(dir.path().join("out.csv"));
        ok(&tally(
            &["run", "job.sql", "-w", "2", "--progress", "0"],
            dir.path(),
        ));
        csv_rows(&dir.path().join("out.csv"))
    };
    let from_flink = run(&flink);
    let mut from_ec: Vec<String> = run(&ec)
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            let ms: i64 = f[1].parse().unwrap();
            let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            format!("{},{},{},{}", f[0], at.format(TS), f[2], f[3])
        })
        .collect();
    from_ec.sort();
    assert!(from_ec.len() > 100, "{} windows", from_ec.len());
    assert_eq!(from_flink, from_ec);
}

#[test]
fn aggregate_filters_and_select_distinct_as_flink_means_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clicks.csv"),
        "a,u1,1\na,u2,1\na,u1,0\na,u3,0\na,u4,1\nb,u1,1\nb,u2,0\nb,u3,1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE clicks (appId STRING, qq STRING, paid INT)
WITH ('connector' = 'file', 'path' = 'clicks.csv', 'field.splitter' = ',');
CREATE TABLE counts (appId STRING, pv BIGINT, paid_pv BIGINT, paid_uv BIGINT, free_uv BIGINT)
WITH ('connector' = 'print', 'emit' = 'final');
CREATE TABLE users (appId STRING, u STRING) WITH ('connector' = 'print', 'emit' = 'final');
INSERT INTO counts SELECT appId, COUNT(*) AS pv,
  COUNT(*) FILTER (WHERE paid = 1) AS paid_pv,
  COUNT(DISTINCT qq) FILTER (WHERE paid = 1) AS paid_uv,
  COUNT(DISTINCT qq) FILTER (WHERE paid = 0 AND qq <> 'u3') AS free_uv
FROM clicks GROUP BY appId;
INSERT INTO users SELECT DISTINCT appId, upper(qq) AS u FROM clicks WHERE qq <> 'u4';
",
    )
    .unwrap();
    let out = tally(
        &["run", "job.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    );
    ok(&out);
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            // a: 5 clicks, 3 paid by u1, u2, u4; free ones by u1 and u3 (u3 left out).
            "counts: +I[a, 5, 3, 3, 1]",
            "counts: +I[b, 3, 2, 2, 1]",
            "users: +I[a, U1]",
            "users: +I[a, U2]",
            "users: +I[a, U3]",
            "users: +I[b, U1]",
            "users: +I[b, U2]",
            "users: +I[b, U3]",
        ]
    );
}

#[test]
fn a_datagen_table_makes_the_same_rows_at_any_worker_count_within_its_options() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE orders (id BIGINT, amount DOUBLE, customer STRING, vip BOOLEAN, qty INT)
WITH ('connector' = 'datagen', 'number-of-rows' = '5000', 'rows-per-second' = '1000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '101', 'fields.id.end' = '100000',
  'fields.amount.min' = '1', 'fields.amount.max' = '100', 'fields.customer.length' = '3',
  'fields.qty.min' = '1', 'fields.qty.max' = '5');
CREATE TABLE all_orders (id BIGINT, amount DOUBLE, customer STRING, vip BOOLEAN, qty INT)
WITH ('connector' = 'csv', 'path' = 'out.csv');
INSERT INTO all_orders SELECT * FROM orders;
",
    )
    .unwrap();
    let run = |workers: &str| {
        let _ = std::fs::remove_file(dir.path().join("out.csv"));
        ok(&tally(
            &["run", "job.sql", "-w", workers, "--progress", "0"],
            dir.path(),
        ));
        csv_rows(&dir.path().join("out.csv"))
    };
    let one = run("1");
    assert_eq!(run("2"), one);
    // Every id of the sequence once (5000 rows: fewer than the sequence holds), every random
    // value within its options.
    let mut ids: Vec<i64> = Vec::new();
    let mut vips = BTreeSet::new();
    for row in &one {
        let f: Vec<&str> = row.split(',').collect();
        ids.push(f[0].parse().unwrap());
        let amount: f64 = f[1].parse().unwrap();
        assert!((1.0..100.0).contains(&amount), "{row}");
        assert!(
            f[2].len() == 3 && f[2].bytes().all(|b| b.is_ascii_alphanumeric()),
            "{row}"
        );
        vips.insert(f[3].to_string());
        let qty: i64 = f[4].parse().unwrap();
        assert!((1..=5).contains(&qty), "{row}");
    }
    ids.sort();
    assert_eq!(ids, (101..5101).collect::<Vec<i64>>());
    assert_eq!(vips, BTreeSet::from(["false".into(), "true".into()]));
    // A sequence without its end is refused where its kind is written.
    std::fs::write(
        dir.path().join("bad.sql"),
        "CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence');
CREATE TABLE o (id BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO o SELECT id FROM t;
",
    )
    .unwrap();
    let out = tally(&["check", "bad.sql"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bad.sql:1:78: error: a sequence column `id` needs 'fields.id.start' and 'fields.id.end'\n"
    );
}

#[test]
fn timestamp_arithmetic_filters_and_measures_sessions_as_flink_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("visits.csv"),
        "u1,2026-12-06 10:00:00,2026-12-06 10:04:30\n\
         u2,2026-12-06 10:00:00,2026-12-06 11:00:00\n\
         u3,2026-12-06 23:59:00,2026-12-07 00:01:00\n\
         u4,2026-12-06 10:00:00,2026-12-06 11:00:01\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.sql"),
        "CREATE TABLE visits (uid STRING, t_in TIMESTAMP(3), t_out TIMESTAMP(3))
WITH ('connector' = 'file', 'path' = 'visits.csv', 'field.splitter' = ',');
CREATE TABLE shown (uid STRING, secs BIGINT, mins BIGINT, deadline STRING, next_day STRING)
WITH ('connector' = 'print');
INSERT INTO shown
SELECT uid, TIMESTAMPDIFF(SECOND, t_in, t_out), TIMESTAMPDIFF(MINUTE, t_in, t_out),
  t_in + INTERVAL '5' MINUTE, TIMESTAMPADD(DAY, 1, t_in)
FROM visits
WHERE t_out BETWEEN t_in AND t_in + INTERVAL '1' HOUR;
",
    )
    .unwrap();
    let out = tally(
        &["run", "job.sql", "-w", "1", "--progress", "0"],
        dir.path(),
    );
    ok(&out);
    // u4 stayed a second longer than an hour.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "shown: +I[u1, 270, 4, 2026-12-06 10:05:00.000, 2026-12-07 10:00:00.000]\n\
         shown: +I[u2, 3600, 60, 2026-12-06 10:05:00.000, 2026-12-07 10:00:00.000]\n\
         shown: +I[u3, 120, 2, 2026-12-07 00:04:00.000, 2026-12-07 23:59:00.000]\n"
    );
}

#[test]
fn a_csv_file_with_flinks_field_delimiter_is_read_with_its_quotes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pages.csv"),
        "a;\"/home;x\"\nb;/cart\na;\"say \"\"hi\"\"\"\n",
    )
    .unwrap();
    let job = |delimiter: &str, ignore: &str| {
        format!(
            "CREATE TABLE pages (appId STRING, url STRING)
WITH ('connector' = 'file', 'path' = 'pages.csv', 'format' = 'csv',
  'csv.field-delimiter' = '{delimiter}', 'csv.ignore-parse-errors' = '{ignore}');
CREATE TABLE shown (appId STRING, url STRING) WITH ('connector' = 'print');
INSERT INTO shown SELECT appId, url FROM pages;
"
        )
    };
    std::fs::write(dir.path().join("job.sql"), job(";", "true")).unwrap();
    let out = tally(
        &["run", "job.sql", "-w", "1", "--progress", "0"],
        dir.path(),
    );
    ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "shown: +I[a, /home;x]\nshown: +I[a, say \"hi\"]\nshown: +I[b, /cart]\n"
    );
    std::fs::write(dir.path().join("job.sql"), job(";;", "true")).unwrap();
    let out = tally(&["check", "job.sql"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "job.sql:3:27: error: a CSV delimiter is one character other than a quote or a line \
         end, found `;;`\n"
    );
    std::fs::write(dir.path().join("job.sql"), job(";", "false")).unwrap();
    let out = tally(&["check", "job.sql"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "job.sql:3:60: error: 'csv.ignore-parse-errors' = 'false' is not supported: tally \
         counts a malformed record and skips it (tally_bad_rows_total), which is 'true'\n"
    );
}
