//! EasyCount's seed job, `tests/seed/teg_acct_test.ec`: its example job exactly as its
//! documentation prints it (a blank line after every line, also inside the `\` continuation; a
//! source on EasyCount's TubeMQ queue; a PostgreSQL sink written `tpg` with EasyCount's
//! `table.tpg.db.*` keys). `check` refuses only the TubeMQ source, at its first key; with that
//! source moved to Kafka and the sink's host and credentials pointed at the suite's server, the
//! job runs and leaves exactly the table computed here from the produced records.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const SEED: &str = "tests/seed/teg_acct_test.ec";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_seed_job_is_refused_at_its_tubemq_source() {
    let out = tally(&["check", SEED], root());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tests/seed/teg_acct_test.ec:13:1: error: TubeMQ (`table.tube.master`: EasyCount's \
         queue) is not a source tally reads; put the stream on Kafka and describe `src` with \
         `table.type=kafka`, `table.kafka.brokers` (instead of `table.tube.master` and \
         `table.tube.port`) and `table.kafka.topic` (instead of `table.topic` and \
         `table.interfaceId`)\n"
    );
}

/// The seed's text with whole lines replaced: each `from` must be a line of the seed, once.
fn seed_with(lines: &[(&str, String)]) -> String {
    let seed = std::fs::read_to_string(root().join(SEED)).unwrap();
    let mut out: Vec<String> = seed.lines().map(String::from).collect();
    for (from, to) in lines {
        let at: Vec<usize> = (0..out.len()).filter(|&i| out[i] == *from).collect();
        assert_eq!(at.len(), 1, "the seed has `{from}` {} times", at.len());
        out[at[0]] = to.clone();
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// A PostgreSQL database of its own for the seed's sink (its table is plainly `dest`), dropped
/// at the end, also when the test fails.
struct TempDb(String);

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = postgres().batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.0));
    }
}

/// Records `appId;qq;dTime` over 40 minutes across an hour boundary, a few seconds out of
/// order (never past the 30 s lateness), with apps that stop at different times so that their
/// newest minutes differ.
fn records() -> Vec<(String, i64)> {
    let hour = 1_699_999_200_000i64; // a whole hour
    let start = hour - 25 * 60_000;
    let mut x: u64 = 7;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let mut out = Vec::new();
    for i in 0..4_000i64 {
        let t = start + i * 600 - (next() % 15_000) as i64;
        // app0..app5; app5 only in the first 10 minutes, app4 only before the hour.
        let mut app = next() % 6;
        let minutes = (t - start) / 60_000;
        if (app == 5 && minutes >= 10) || (app == 4 && t >= hour) {
            app = next() % 4;
        }
        let line = format!("app{app};u{};{t}", next() % 300);
        out.push((line, t));
    }
    out
}

#[test]
fn the_seed_job_runs_from_kafka_into_postgresql() {
    let broker = Broker::start();
    broker.create_topic("ieg_bd", 2);
    let db = TempDb(unique("tally_seed"));
    postgres()
        .batch_execute(&format!("CREATE DATABASE {}", db.0))
        .unwrap();
    let mut pg = postgres::Client::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={}", db.0),
        postgres::NoTls,
    )
    .unwrap();
    // The seed does not ask tally to create the table: it is there, keyed by appId.
    pg.batch_execute(
        "CREATE TABLE dest (appId text PRIMARY KEY, cnt1m bigint, cnt_accu bigint, \
         cnt_sw bigint)",
    )
    .unwrap();

    let input = records();
    // Expected, from the records themselves.
    let rows: Vec<(&str, i64)> = input
        .iter()
        .map(|(l, t)| (l.split(';').next().unwrap(), *t))
        .collect();
    let expected = common::teg_acct_expected(&rows);
    assert_eq!(expected.len(), 6, "{expected:?}");
    let records: Vec<(String, String)> = input
        .iter()
        .map(|(l, _)| (l.split(';').nth(1).unwrap().to_string(), l.clone()))
        .collect();
    broker.produce("ieg_bd", &records);

    // The seed as it is, but: its TubeMQ source is a Kafka source (read to the end offsets, so
    // the run ends), and its sink's host and credentials are the suite's server's.
    let group = unique("seed");
    let job = seed_with(&[
        ("table.tube.master=xx.xx.xx.xx", "table.type=kafka".into()),
        (
            "table.tube.port=8069",
            format!("table.kafka.brokers={}", broker.addr),
        ),
        ("table.topic=ieg_bd", "table.kafka.topic=ieg_bd".into()),
        (
            "table.interfaceId=bd_download",
            format!("table.kafka.group={group}\n\ntable.kafka.bounded=true"),
        ),
        (
            "table.tpg.db.host=xxxxxxxxx-distribute.com",
            "table.tpg.db.host=127.0.0.1".into(),
        ),
        ("table.tpg.db.port=5432", "table.tpg.db.port=5432".into()),
        (
            "table.tpg.db.name=xxxxx",
            format!("table.tpg.db.name={}", db.0),
        ),
        (
            "table.tpg.db.username=xxxxxx",
            "table.tpg.db.username=postgres".into(),
        ),
        ("table.tpg.db.passwd=xxxxxx", "table.tpg.db.passwd=".into()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("teg_acct_test.ec"), &job).unwrap();
    let check = tally(&["check", "teg_acct_test.ec"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        "teg_acct_test.ec: ok (1 source, 1 result table)\n",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut run = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "teg_acct_test.ec", "--progress", "0"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log.txt")).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the bounded run did not end within 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(dir.path().join("log.txt")).unwrap();
    assert!(status.success(), "{log}");
    assert_eq!(
        pg_rows(&mut pg, "SELECT appId, cnt1m, cnt_accu, cnt_sw FROM dest"),
        expected
    );
    drop(pg);
}
