//! The Nexmark suite of `examples/nexmark/`: each query file run by `tally run -i ddl.sql` on a
//! bounded `nexmark` table, its final result table compared with the same query evaluated as a
//! batch by DuckDB (from PyPI; `./scripts/services.sh` installs it) over the same events.
//!
//! The events come from one `tally run` of `tests/nexmark/dump.sql` (the three views into CSV
//! files); the DuckDB queries in `tests/nexmark/duckdb/` are written apart from tally's, in
//! DuckDB's SQL, with Flink's meaning where the two differ. The query files are run as they
//! are, with only their `blackhole` sink turned into a CSV file (or, for updating results, a
//! MySQL table upserted by key) and the events made fewer.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{ok, tally};

/// Events of the test runs: a few hundred thousand, at 1,000 a second (five minutes of event
/// time, across midnight), so windows, days and hours have more than one value.
const EVENTS: u64 = 300_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The DuckDB Python `./scripts/services.sh` installs (or `TALLY_DUCKDB_VENV`'s).
fn duckdb_python() -> PathBuf {
    let venv = std::env::var_os("TALLY_DUCKDB_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/tally-duckdb"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let works = Command::new(&python)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "DuckDB is not installed at {}: the Nexmark tests compare with DuckDB. \
         ./scripts/services.sh installs it (python3 -m venv and pip install duckdb).",
        venv.display()
    );
    python
}

/// `examples/nexmark/ddl.sql` with the test's events: `EVENTS` of them at 1,000 a second from
/// 23:57:30.
fn ddl() -> String {
    let text = std::fs::read_to_string(root().join("examples/nexmark/ddl.sql")).unwrap();
    let set = |text: &str, key: &str, value: &str| {
        let re = regex::Regex::new(&format!(r"'{}' = '[^']*'", regex::escape(key))).unwrap();
        assert!(re.is_match(text), "ddl.sql sets '{key}'");
        re.replace(text, format!("'{key}' = '{value}'"))
            .into_owned()
    };
    let text = set(&text, "events.num", &EVENTS.to_string());
    let text = set(&text, "first-event.rate", "1000");
    let text = set(&text, "next-event.rate", "1000");
    text.replace(
        "'bid.proportion' = '92'",
        "'bid.proportion' = '92',\n    'base-time' = '2026-12-07 23:57:30'",
    )
}

/// q13's side input, as the example ships it.
fn side_input() -> PathBuf {
    root().join("examples/nexmark/side_input.csv")
}

/// A directory with the test's `ddl.sql` and the events as CSV files, made once.
fn events() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ddl.sql"), ddl()).unwrap();
        std::fs::copy(
            root().join("tests/nexmark/dump.sql"),
            dir.path().join("dump.sql"),
        )
        .unwrap();
        std::fs::copy(side_input(), dir.path().join("side_input.csv")).unwrap();
        ok(&tally(
            &["run", "-i", "ddl.sql", "dump.sql", "--progress", "0"],
            dir.path(),
        ));
        dir
    })
    .path()
}

/// A field as both sides are compared: a number without trailing zeros after its point
/// (DuckDB's DECIMAL(21,3) `511.200` and tally's DECIMAL(23,3) are one value).
fn normal(field: &str) -> String {
    let number = field.strip_prefix('-').unwrap_or(field);
    let is_decimal = number.split_once('.').is_some_and(|(i, f)| {
        !i.is_empty()
            && i.bytes().all(|b| b.is_ascii_digit())
            && f.bytes().all(|b| b.is_ascii_digit())
    });
    if is_decimal {
        field
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        field.to_string()
    }
}

fn rows(mut reader: csv::Reader<impl std::io::Read>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(normal).collect())
        .collect();
    rows.sort();
    rows
}

/// Runs `examples/nexmark/<query>.sql` into a CSV file and compares its final table with
/// DuckDB's rows of `tests/nexmark/duckdb/<query>.sql`, row for row.
fn check(query: &str) {
    let got = run(query, "'connector' = 'csv', 'path' = 'out.csv'", |dir| {
        rows(csv::Reader::from_path(dir.join("out.csv")).unwrap())
    });
    compare(query, got);
}

/// As [`check`], the query's result upserted into a MySQL table (an updating result: its
/// rows revised and deleted as the query goes), read back whole.
fn check_in_mysql(query: &str) {
    let mut db = common::Mysql::connect();
    let table = common::unique(&format!("nexmark_{query}"));
    let sink = format!("'connector' = 'mysql', 'table' = '{table}', 'create' = 'true'");
    let got = run(query, &sink, |_| {
        let mut rows: Vec<Vec<String>> = db
            .rows(&format!("SELECT * FROM {table}"))
            .iter()
            .map(|r| r.split(',').map(normal).collect())
            .collect();
        rows.sort();
        rows
    });
    db.exec(&format!("DROP TABLE {table}"));
    compare(query, got);
}

/// Runs `examples/nexmark/<query>.sql` with its `blackhole` sink's options replaced by `sink`,
/// at -w 2, and reads what it wrote with `read` (given the job's folder).
fn run(query: &str, sink: &str, read: impl FnOnce(&Path) -> Vec<Vec<String>>) -> Vec<Vec<String>> {
    let events = events();
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(root().join(format!("examples/nexmark/{query}.sql"))).unwrap();
    assert!(
        text.contains("'connector' = 'blackhole'"),
        "{query} writes to blackhole"
    );
    let job = text.replace("'connector' = 'blackhole'", sink);
    std::fs::write(dir.path().join(format!("{query}.sql")), job).unwrap();
    std::fs::copy(side_input(), dir.path().join("side_input.csv")).unwrap();
    let ddl = events.join("ddl.sql");
    ok(&tally(
        &[
            "run",
            "-i",
            ddl.to_str().unwrap(),
            &format!("{query}.sql"),
            "-w",
            "2",
            "--progress",
            "0",
        ],
        dir.path(),
    ));
    read(dir.path())
}

/// Compares `got` with DuckDB's rows of `tests/nexmark/duckdb/<query>.sql`, row for row.
fn compare(query: &str, got: Vec<Vec<String>>) {
    let python = duckdb_python();
    let events = events();
    let out = Command::new(python)
        .arg(root().join("tests/nexmark/reference.py"))
        .arg(events)
        .arg(root().join(format!("tests/nexmark/duckdb/{query}.sql")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "DuckDB failed on {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = rows(
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.stdout.as_slice()),
    );
    assert!(
        !want.is_empty(),
        "{query}: the reference has rows to compare"
    );
    if got != want {
        let (missing, extra) = difference(&want, &got);
        panic!(
            "{query}: tally's {} rows differ from DuckDB's {}\nmissing (first rows): {missing:?}\n\
             extra (first rows): {extra:?}",
            got.len(),
            want.len()
        );
    }
}

/// The first rows of `want` not in `got` and of `got` not in `want` (both sorted, as
/// multisets).
fn difference<'a>(
    want: &'a [Vec<String>],
    got: &'a [Vec<String>],
) -> (Vec<&'a Vec<String>>, Vec<&'a Vec<String>>) {
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while (i < want.len() || j < got.len()) && missing.len() + extra.len() < 10 {
        match (want.get(i), got.get(j)) {
            (Some(w), Some(g)) if w == g => (i, j) = (i + 1, j + 1),
            (Some(w), Some(g)) if w < g => (missing.push(w), i += 1).1,
            (Some(w), None) => (missing.push(w), i += 1).1,
            (_, Some(g)) => (extra.push(g), j += 1).1,
            (None, None) => break,
        }
    }
    (missing, extra)
}

#[test]
fn q0_pass_through() {
    check("q0");
}

#[test]
fn q1_currency_conversion() {
    check("q1");
}

#[test]
fn q2_selection() {
    check("q2");
}

#[test]
fn q3_local_item_suggestion() {
    check("q3");
}

#[test]
fn q4_average_price_per_category() {
    check("q4");
}

#[test]
fn q4_into_mysql() {
    check_in_mysql("q4");
}

#[test]
fn q7_highest_bid() {
    check("q7");
}

#[test]
fn q8_monitor_new_users() {
    check("q8");
}

#[test]
fn q9_winning_bids() {
    check("q9");
}

#[test]
fn q13_bounded_side_input_join() {
    check("q13");
}

#[test]
fn q14_calculation() {
    check("q14");
}

#[test]
fn q15_bidding_statistics_per_day() {
    check("q15");
}

#[test]
fn q16_channel_statistics_per_day() {
    check("q16");
}

#[test]
fn q17_auction_statistics_per_day() {
    check("q17");
}

#[test]
fn q17_into_mysql() {
    check_in_mysql("q17");
}

#[test]
fn q18_find_last_bid() {
    check("q18");
}

#[test]
fn q19_auction_top_10_price() {
    check("q19");
}

#[test]
fn q20_expand_bids_with_auctions() {
    check("q20");
}

#[test]
fn q21_channel_ids() {
    check("q21");
}

#[test]
fn q22_url_directories() {
    check("q22");
}
