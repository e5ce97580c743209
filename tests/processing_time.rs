//! The processing-time examples of ec-sql.md, run as written: `COORDINATE BY
//! unix_timestamp()*1000` (examples/countd_per_minute.ec, accu_sw_processing_time.ec,
//! users_per_minute.ec) and `__innertable(1000)` (examples/try_functions.ec). Each job is copied
//! to a scratch folder with only its generator's row count or rate changed, so it ends in about
//! a second or two; what is checked does not depend on the wall clock: it is exact when the run
//! stays in one minute (the tests start early in a minute so that it does), and an exact
//! relation otherwise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits for the next minute when less than 15 s of this one are left, so that a run of a
/// second or two most likely stays in one minute.
fn start_early_in_a_minute() {
    let into = now_ms().rem_euclid(60_000);
    if into > 45_000 {
        std::thread::sleep(Duration::from_millis((60_000 - into + 100) as u64));
    }
}

/// examples/`name` with each `(from, to)` replaced (each must be there), written to `dir`.
fn copy_example(name: &str, dir: &Path, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let mut text = std::fs::read_to_string(&src).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name} no longer has `{from}`");
        text = text.replace(from, to);
    }
    let job = dir.join(name);
    std::fs::write(&job, text).unwrap();
    job
}

/// Runs a job to its end; returns its change-log lines for `table` (`+I[..]` / `+U[..]` /
/// `-D[..]`, the table name stripped) and the wall-clock span of the run in ms.
fn run(job: &Path, table: &str) -> (Vec<String>, i64, i64) {
    let start = now_ms();
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run", job.to_str().unwrap(), "--progress", "0"])
        .output()
        .unwrap();
    let end = now_ms();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("{table}: ");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(String::from))
        .collect();
    (lines, start, end)
}

/// The fields of a change-log line `+I[a, b]`, with its kind.
fn fields(line: &str) -> (&str, Vec<&str>) {
    let (kind, rest) = line.split_at(2);
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("not a change-log line: {line}"));
    (kind, inner.split(", ").collect())
}

fn int(s: &str) -> i64 {
    s.parse().unwrap_or_else(|_| panic!("{s} is not a number"))
}

/// The distinct users of the first `rows` generated events, computed from `tally generate`.
/// The generator draws its fields per block of events, and a block is `rate / 20` rows (at
/// most the chunk size, 8192, which `generate` uses): the jobs below run at a rate of 200,000
/// rows/s so that they read exactly the rows `generate` writes. The table's default seed is 42.
fn distinct_users(rows: u64) -> usize {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["generate", "--rows", &rows.to_string(), "--seed", "42"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let users: std::collections::HashSet<&str> = text
        .lines()
        .map(|l| l.split(';').nth(1).expect("appId;qq;dTime"))
        .collect();
    assert_eq!(text.lines().count() as u64, rows);
    users.len()
}

const FAST: [(&str, &str); 1] = [("table.generator.rate=10000", "table.generator.rate=200000")];

#[test]
fn countd_per_minute_of_processing_time() {
    let want = distinct_users(50_000) as i64;
    let dir = tempfile::tempdir().unwrap();
    let job = copy_example("countd_per_minute.ec", dir.path(), &FAST);
    start_early_in_a_minute();
    let (lines, start, end) = run(&job, "dest");
    // The query does not select AGGRTIME: the sink holds the newest minute's count.
    let last = lines.last().expect("a result");
    let (kind, f) = fields(last);
    assert_ne!(kind, "-D", "{lines:?}");
    let uv = int(f[0]);
    if start / 60_000 == end / 60_000 {
        assert_eq!(uv, want, "one minute holds every user: {lines:?}");
    } else {
        // The run straddled a minute: the newest minute holds some of the users.
        assert!(uv > 0 && uv <= want, "{uv} of {want}: {lines:?}");
    }
}

#[test]
fn count_accu_and_sw_of_processing_time() {
    let dir = tempfile::tempdir().unwrap();
    // 30,000 rows at 15,000 rows/s: two seconds, so the sink sees several flushes.
    let job = copy_example(
        "accu_sw_processing_time.ec",
        dir.path(),
        &[("table.generator.rate=10000", "table.generator.rate=15000")],
    );
    start_early_in_a_minute();
    let (lines, start, end) = run(&job, "dest");
    assert!(!lines.is_empty());
    let rows: Vec<(i64, i64, i64)> = lines
        .iter()
        .map(|l| {
            let (kind, f) = fields(l);
            assert_ne!(kind, "-D", "closing a window is not a delete: {lines:?}");
            (int(f[0]), int(f[1]), int(f[2]))
        })
        .collect();
    for (cnt, accu, sw) in &rows {
        // A minute's rows are part of its hour and of the five minutes ending with it.
        assert!(cnt <= accu && cnt <= sw, "{lines:?}");
    }
    let (cnt, accu, sw) = *rows.last().unwrap();
    // The sliding five minutes ending with the newest minute hold the whole (short) run.
    assert_eq!(sw, 30_000, "{lines:?}");
    if start / 3_600_000 == end / 3_600_000 {
        // So does the hour, whose minutes' counts ACCU sums.
        assert_eq!(accu, 30_000, "{lines:?}");
    } else {
        // The run crossed an hour: the newest minute starts a new period.
        assert_eq!(accu, cnt, "{lines:?}");
    }
    if start / 60_000 == end / 60_000 {
        assert_eq!(cnt, 30_000, "{lines:?}");
    } else {
        assert!(cnt < 30_000, "{lines:?}");
    }
}

#[test]
fn users_per_minute_through_a_with_chain() {
    let want = distinct_users(50_000) as i64;
    let dir = tempfile::tempdir().unwrap();
    // As written it runs 100,000 rows at 5,000/s (20 s).
    let job = copy_example(
        "users_per_minute.ec",
        dir.path(),
        &[
            ("table.generator.rows=100000", "table.generator.rows=50000"),
            ("table.generator.rate=5000", "table.generator.rate=200000"),
        ],
    );
    start_early_in_a_minute();
    let (lines, start, end) = run(&job, "dest");
    // The newest count of each minute (the first column is the minute, shown).
    let mut per_minute = std::collections::BTreeMap::new();
    for l in &lines {
        let (kind, f) = fields(l);
        assert_ne!(kind, "-D", "{lines:?}");
        per_minute.insert(f[0].to_string(), int(f[1]));
    }
    let minute = |ms: i64| {
        chrono::DateTime::from_timestamp(ms.div_euclid(60_000) * 60, 0)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    if start / 60_000 == end / 60_000 {
        // One row per user in the minute, counted: the distinct users, exactly.
        let want_rows = std::collections::BTreeMap::from([(minute(start), want)]);
        assert_eq!(per_minute, want_rows, "{lines:?}");
    } else {
        // Each of the two minutes counts its own users; together at least every user.
        assert!(per_minute.len() <= 2, "{lines:?}");
        assert!(per_minute.values().all(|n| *n <= want), "{lines:?}");
        assert!(per_minute.values().sum::<i64>() >= want, "{lines:?}");
        assert!(per_minute.contains_key(&minute(end)), "{lines:?}");
    }
}

#[test]
fn try_a_function_on_the_inner_table() {
    // As written: it runs until stopped.
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/try_functions.ec");
    let start = now_ms();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run", job.to_str().unwrap(), "--progress", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "__innertable runs until stopped"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let end = now_ms();
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().collect();
    // One row a second, shown at each flush (every second): a row or two before the kill, and
    // never more than the 2.5 s allow.
    assert!((1..=3).contains(&rows.len()), "{text}");
    let second = |ms: i64| chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0).unwrap();
    for row in rows {
        let (kind, f) = fields(row.strip_prefix("stdout: ").expect("the stdout table"));
        assert_eq!(kind, "+I", "{text}");
        assert_eq!(f[0], "3.1416", "round(3.1415926, 4): {text}");
        // The second column is the time of the row, in UTC.
        let at = chrono::NaiveDateTime::parse_from_str(f[1], "%Y-%m-%d %H:%M:%S")
            .unwrap_or_else(|e| panic!("{}: {e}", f[1]))
            .and_utc();
        assert!(at >= second(start) && at <= second(end), "{text}");
    }
}
