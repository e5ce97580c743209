//! The example pipelines of examples/, each run as written (only server addresses, topic,
//! table and key names made unique) on a small input, with the sink's content checked exactly
//! against values computed here from the input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Copies an example into `dir` with some text replaced, and starts it.
fn start(example: &str, dir: &Path, replace: &[(&str, &str)]) -> Running {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut text = std::fs::read_to_string(root.join(example)).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "{example} has no `{from}`");
        text = text.replace(from, to);
    }
    std::fs::write(dir.join(example), text).unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", example, "--progress", "0"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until `read` gives `expected` (the job keeps running: these are live pipelines).
fn eventually<T: PartialEq + std::fmt::Debug>(
    job: &mut Running,
    secs: u64,
    expected: &T,
    mut read: impl FnMut() -> T,
) {
    let start = Instant::now();
    loop {
        let got = read();
        if &got == expected {
            break;
        }
        if let Ok(Some(status)) = job.0.try_wait() {
            panic!("the job stopped ({status}); sink holds {got:?}");
        }
        if start.elapsed() > Duration::from_secs(secs) {
            panic!("after {secs} s the sink holds\n{got:?}\nexpected\n{expected:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn weblog_followed_file_to_mysql() {
    let mut db = Mysql::connect();
    let table = unique("tally_weblog");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/access.log");
    std::fs::copy(&log, dir.path().join("data/access.log")).unwrap();
    // Expected per minute: requests, distinct ips, bytes, 5xx responses.
    let mut minutes: BTreeMap<i64, (u64, BTreeSet<String>, i64, u64)> = BTreeMap::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let ts: i64 = f[0].parse().unwrap();
        let m = minutes.entry(ts - ts.rem_euclid(60_000)).or_default();
        m.0 += 1;
        m.1.insert(f[1].to_string());
        m.2 += f[4].parse::<i64>().unwrap();
        m.3 += (f[3].parse::<i64>().unwrap() >= 500) as u64;
    }
    let expected: Vec<String> = minutes
        .iter()
        .map(|(start, (n, ips, bytes, errors))| {
            let t = chrono::DateTime::from_timestamp(start / 1000, 0).unwrap();
            format!(
                "{},{n},{},{bytes},{errors}",
                t.format("%Y-%m-%d %H:%M:%S"),
                ips.len()
            )
        })
        .collect();
    assert_eq!(expected.len(), 3);
    let mut job = start(
        "weblog_to_mysql.ec",
        dir.path(),
        &[(
            "table.mysql.create=true",
            &format!("table.mysql.create=true\ntable.mysql.table={table}"),
        )],
    );
    eventually(&mut job, 30, &expected, || {
        db.rows_of(
            &table,
            &format!("SELECT minute, requests, visitors, bytes, errors FROM `{table}`"),
        )
    });
    db.exec(&format!("DROP TABLE `{table}`"));
}

#[test]
fn kafka_orders_synced_into_mysql() {
    let broker = Broker::start();
    broker.create_topic("orders", 2);
    let mut db = Mysql::connect();
    let table = unique("tally_orders");
    // 40 orders, then new versions of the first ten: the table holds each order's last version.
    let mut records = Vec::new();
    let mut last = BTreeMap::new();
    for i in 0..50i64 {
        let id = i % 40;
        let amount = (i * 7 % 13) as f64 + 0.5;
        let value = format!(
            r#"{{"order_id": {id}, "user_id": "u{}", "amount": {amount}, "ts": {}}}"#,
            id % 7,
            1_700_000_000_000i64 + i * 1000
        );
        last.insert(
            id,
            format!(
                "{id},u{},{amount},{}",
                id % 7,
                1_700_000_000_000i64 + i * 1000
            ),
        );
        records.push((id.to_string(), value));
    }
    broker.produce("orders", &records);
    let mut expected: Vec<String> = last.into_values().collect();
    expected.sort();
    let dir = tempfile::tempdir().unwrap();
    let mut job = start(
        "kafka_to_mysql_sync.ec",
        dir.path(),
        &[
            ("127.0.0.1:9092", &broker.addr),
            (
                "table.mysql.create=true",
                &format!("table.mysql.create=true\ntable.mysql.table={table}"),
            ),
        ],
    );
    eventually(&mut job, 30, &expected, || {
        db.rows_of(
            &table,
            &format!("SELECT order_id, user_id, amount, ts FROM `{table}`"),
        )
    });
    db.exec(&format!("DROP TABLE `{table}`"));
}

fn generated(dir: &Path, rows: u64) -> Vec<String> {
    ok(&tally(
        &[
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            "11",
            "-o",
            "events.txt",
        ],
        dir,
    ));
    std::fs::read_to_string(dir.join("events.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn kafka_clicks_to_pv_uv_in_one_redis_hash() {
    let broker = Broker::start();
    broker.create_topic("clicks", 2);
    let mut r = redis();
    let hash = unique("tally_pv_uv");
    let dir = tempfile::tempdir().unwrap();
    let lines = generated(dir.path(), 5000);
    let users: BTreeSet<&str> = lines.iter().map(|l| l.split(';').nth(1).unwrap()).collect();
    let records: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l.split(';').nth(1).unwrap().to_string(), l.clone()))
        .collect();
    broker.produce("clicks", &records);
    let mut job = start(
        "kafka_pv_uv_redis.ec",
        dir.path(),
        &[
            ("127.0.0.1:9092", &broker.addr),
            (
                "table.redis.hash=flink_pv_uv",
                &format!("table.redis.hash={hash}"),
            ),
        ],
    );
    let expected = BTreeMap::from([
        ("pv".to_string(), "5000".to_string()),
        ("uv".to_string(), users.len().to_string()),
    ]);
    // Refreshed every 20 s, as the example says.
    eventually(&mut job, 45, &expected, || {
        redis::cmd("HGETALL").arg(&hash).query(&mut r).unwrap()
    });
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
}

#[test]
fn kafka_log_lines_word_count_into_redis() {
    let broker = Broker::start();
    broker.create_topic("lines", 2);
    let mut r = redis();
    let prefix = unique("tally_wc");
    let lines = [
        "GET /index.html from the quick brown fox",
        "the lazy dog  jumps over the fox",
        "the end",
    ];
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for w in lines
        .iter()
        .flat_map(|l| l.split(' '))
        .filter(|w| !w.is_empty())
    {
        let n: u64 = expected.get(w).map_or(0, |n| n.parse().unwrap());
        expected.insert(w.to_string(), (n + 1).to_string());
    }
    let records: Vec<(String, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.to_string()))
        .collect();
    broker.produce("lines", &records);
    let dir = tempfile::tempdir().unwrap();
    let mut job = start(
        "wordcount_kafka_redis.ec",
        dir.path(),
        &[
            ("127.0.0.1:9092", &broker.addr),
            (
                "table.redis.key=wc:{word}",
                &format!("table.redis.key={prefix}:{{word}}"),
            ),
        ],
    );
    eventually(&mut job, 30, &expected, || {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query(&mut r)
            .unwrap();
        keys.iter()
            .map(|k| {
                let n: String = redis::cmd("HGET").arg(k).arg("n").query(&mut r).unwrap();
                (k.trim_start_matches(&format!("{prefix}:")).to_string(), n)
            })
            .collect()
    });
    let keys: Vec<String> = expected.keys().map(|w| format!("{prefix}:{w}")).collect();
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
}

#[test]
fn easycount_teg_acct_test_from_kafka_into_mysql_and_postgres() {
    let broker = Broker::start();
    broker.create_topic("teg_acct", 2);
    let mut db = Mysql::connect();
    let mut pg = postgres();
    let table = unique("tally_teg");
    let dir = tempfile::tempdir().unwrap();
    let lines = generated(dir.path(), 20_000);
    // Expected, from the rows themselves (docs/windows.md): AGGRTIME is not selected, so each
    // appId has one row, its newest minute M (window [M, E), E = M + 60 s): the rows of the app
    // in [M, E) (count), in [start of the hour of E - 1, E) (ACCU 3600 s) and in
    // [E - 1800 s, E) (SW 1800 s). No row is late: the generator's are at most 20 s late, the
    // lateness is 30 s.
    let rows: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            (f[0], f[2].parse().unwrap())
        })
        .collect();
    let expected = common::teg_acct_expected(&rows);
    // A row for every one of the generator's 100 apps.
    assert_eq!(expected.len(), 100, "{expected:?}");
    let records: Vec<(String, String)> = lines
        .iter()
        .map(|l| (l.split(';').nth(1).unwrap().to_string(), l.clone()))
        .collect();
    broker.produce("teg_acct", &records);
    let group = unique("teg");
    let mut mysql_job = start(
        "teg_acct_test.ec",
        dir.path(),
        &[
            ("127.0.0.1:9092", &broker.addr),
            (
                "table.kafka.group=teg_acct_test",
                &format!("table.kafka.group={group}_m"),
            ),
            (
                "table.mysql.table=teg_acct_test",
                &format!("table.mysql.table={table}"),
            ),
        ],
    );
    let mut pg_job = start(
        "teg_acct_test_pg.ec",
        dir.path(),
        &[
            ("127.0.0.1:9092", &broker.addr),
            (
                "table.kafka.group=teg_acct_test_pg",
                &format!("table.kafka.group={group}_p"),
            ),
            (
                "table.postgres.table=teg_acct_test",
                &format!("table.postgres.table={table}"),
            ),
        ],
    );
    eventually(&mut mysql_job, 60, &expected, || {
        db.rows_of(
            &table,
            &format!("SELECT appId, cnt1m, cnt_accu, cnt_sw FROM `{table}`"),
        )
    });
    eventually(&mut pg_job, 60, &expected, || {
        let exists = pg
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = $1",
                &[&table.as_str()],
            )
            .unwrap()
            .get::<_, i64>(0)
            > 0;
        if !exists {
            return Vec::new();
        }
        pg_rows(
            &mut pg,
            &format!("SELECT \"appId\", cnt1m, cnt_accu, cnt_sw FROM \"{table}\""),
        )
    });
    db.exec(&format!("DROP TABLE `{table}`"));
    pg.batch_execute(&format!("DROP TABLE \"{table}\""))
        .unwrap();
}
