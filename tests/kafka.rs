//! The Kafka source and sink against a real Kafka-compatible broker (tansu, started per test):
//! partitions spread over -w 2, a malformed record mid-stream, bounded mode, offsets committed
//! only after the sink applied the rows, and the change-log sink.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const QUERY: &str = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src GROUP BY appId \
                     COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS";

/// The generator's events as `;`-delimited lines.
fn events(dir: &Path, rows: u64) -> Vec<String> {
    ok(&tally(
        &[
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            "3",
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

fn keyed(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| (l.split(';').nth(1).unwrap().to_string(), l.clone()))
        .collect()
}

#[test]
fn a_bounded_topic_over_two_workers_equals_the_file() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = events(dir.path(), 20_000);
    // Expected: the same rows read from the file.
    std::fs::write(
        dir.path().join("file.ec"),
        format!(
            "[system]\nsql=INSERT INTO out {QUERY}\n\
             [tabledesc-src]\ntable.name=src\ntable.type=file\ntable.file.path=events.txt\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=expected.csv\n"
        ),
    )
    .unwrap();
    ok(&tally(&["run", "file.ec", "--progress", "0"], dir.path()));
    lines.insert(10_000, "app1;not-a-number-row;oops".to_string());
    broker.produce("events", &keyed(&lines));
    std::fs::write(
        dir.path().join("kafka.ec"),
        format!(
            "[system]\nsql=INSERT INTO out {QUERY} \\\nINSERT INTO log {QUERY}\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=events\ntable.kafka.offset=earliest\ntable.kafka.bounded=true\n\
             table.kafka.properties.fetch.wait.max.ms=50\n\
             table.kafka.properties.client.id=tally-test\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=got.csv\n\
             [tabledesc-log]\ntable.name=log\ntable.type=kafka\n\
             table.kafka.properties.bootstrap.servers={}\ntable.kafka.topic=results\n",
            broker.addr, broker.addr
        ),
    )
    .unwrap();
    broker.create_topic("results", 2);
    let log = ok(&tally(
        &["run", "kafka.ec", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    assert!(log.contains("rows_in=20000 bad_rows=1"), "{log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert_eq!(csv_rows(&dir.path().join("got.csv")), expected);
    // The change log: the last record of each key is the final row.
    let consumed = consume(&broker.addr, "results", 2);
    let mut last = std::collections::BTreeMap::new();
    for (k, v) in consumed {
        last.insert(k, v);
    }
    let mut rows: Vec<String> = last
        .values()
        .map(|v| {
            let v: serde_json::Value = serde_json::from_str(v.as_deref().unwrap()).unwrap();
            format!(
                "{},{},{},{}",
                v["appId"].as_str().unwrap(),
                v["t"],
                v["c"],
                v["u"]
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, expected);
    // `table.kafka.properties.*` reach librdkafka: one it does not know fails the job, named.
    let job = std::fs::read_to_string(dir.path().join("kafka.ec")).unwrap();
    std::fs::write(
        dir.path().join("bad.ec"),
        job.replace(
            "table.kafka.properties.client.id=tally-test",
            "table.kafka.properties.no.such.property=1",
        ),
    )
    .unwrap();
    let out = tally(&["run", "bad.ec", "--progress", "0"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no.such.property"),
        "{err}"
    );
}

/// Every record of a topic as (key, value), read until each partition reports its end.
fn consume(addr: &str, topic: &str, partitions: i32) -> Vec<(String, Option<String>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "tally-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut ended = std::collections::BTreeSet::new();
    let start = Instant::now();
    while ended.len() < partitions as usize {
        assert!(start.elapsed() < Duration::from_secs(30), "reading {topic}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
                let value = m.payload().map(|p| String::from_utf8_lossy(p).into_owned());
                out.push((key, value));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            _ => {}
        }
    }
    out
}

fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn offsets_are_committed_only_after_the_sink_applied_the_rows() {
    let broker = Broker::start();
    broker.create_topic("clicks", 2);
    let proxy = Proxy::start(REDIS);
    let mut r = redis();
    let hash = unique("tally_kafka_count");
    let group = unique("tally_group");
    let dir = tempfile::tempdir().unwrap();
    let lines = events(dir.path(), 2_000);
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nsql=INSERT INTO out SELECT count(qq) n FROM src GROUP BY 1\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=clicks\ntable.kafka.group={group}\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=redis\n\
             table.redis.url=redis://127.0.0.1:{}/\ntable.redis.hash={hash}\n\
             table.flush.ms=100\n",
            broker.addr, proxy.port
        ),
    )
    .unwrap();
    let _job = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", "2", "--progress", "0"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let count = |r: &mut redis::Connection| -> Option<String> {
        redis::cmd("HGET").arg(&hash).arg("n").query(r).unwrap()
    };
    broker.produce("clicks", &keyed(&lines[..1000]));
    wait_for("the first 1000 rows in Redis", 30, || {
        count(&mut r).as_deref() == Some("1000")
    });
    wait_for("their offsets committed", 30, || {
        broker.committed("clicks", &group, 2) == 1000
    });
    // The sink cannot write: the rows are read, but their offsets are not committed.
    proxy.pause();
    broker.produce("clicks", &keyed(&lines[1000..]));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(broker.committed("clicks", &group, 2), 1000);
    assert_eq!(count(&mut r).as_deref(), Some("1000"));
    proxy.resume();
    wait_for("all rows in Redis", 30, || {
        count(&mut r).as_deref() == Some("2000")
    });
    wait_for("all offsets committed", 30, || {
        broker.committed("clicks", &group, 2) == 2000
    });
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
}

#[test]
fn two_processes_write_redis_and_mysql_as_one_process_would() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let mut r = redis();
    let mut db = Mysql::connect();
    let prefix = unique("tally_cluster");
    let table = unique("tally_cluster");
    let dir = tempfile::tempdir().unwrap();
    let lines = events(dir.path(), 20_000);
    broker.produce("events", &keyed(&lines));
    // One process, one worker, from the file: the expected table.
    std::fs::write(
        dir.path().join("file.ec"),
        format!(
            "[system]\nsql=INSERT INTO out {QUERY}\n\
             [tabledesc-src]\ntable.name=src\ntable.type=file\ntable.file.path=events.txt\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=expected.csv\n"
        ),
    )
    .unwrap();
    ok(&tally(&["run", "file.ec", "--progress", "0"], dir.path()));
    let expected = csv_rows(&dir.path().join("expected.csv"));
    std::fs::write(
        dir.path().join("kafka.ec"),
        format!(
            "[system]\nsql=INSERT INTO r {QUERY} \\\nINSERT INTO m {QUERY} \\\n\
             INSERT INTO c {QUERY}\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=events\ntable.kafka.offset=earliest\ntable.kafka.bounded=true\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-r]\ntable.name=r\ntable.type=redis\ntable.redis.key={prefix}:{{appId}}:{{t}}\n\
             [tabledesc-m]\ntable.name=m\ntable.type=mysql\ntable.mysql.table={table}\n\
             table.mysql.create=true\n\
             [tabledesc-c]\ntable.name=c\ntable.type=csv\ntable.csv.path=got.csv\n",
            broker.addr
        ),
    )
    .unwrap();
    run_two_processes(dir.path(), "kafka.ec", "1");
    assert_eq!(csv_rows(&dir.path().join("got.csv")), expected);
    assert_eq!(
        db.rows(&format!("SELECT appId, t, c, u FROM `{table}`")),
        expected
    );
    assert_eq!(take_window_hashes(&mut r, &prefix), expected);
    db.exec(&format!("DROP TABLE `{table}`"));
}

#[test]
fn a_partition_behind_in_event_time_is_not_late() {
    // Partition 1's events are 150 s behind partition 0's, more than a window and the 30 s
    // lateness together: with one watermark per partition (their minimum), none is late.
    let broker = Broker::start();
    broker.create_topic("skewed", 2);
    let t0 = 1_700_000_040_000i64;
    let rows = |app: &str, shift: i64| -> Vec<String> {
        (0..3000i64)
            .map(|i| format!("{app};u{};{}", i % 97, t0 + shift + i * 40))
            .collect()
    };
    let (a, b) = (rows("a", 0), rows("b", -150_000));
    broker.produce_to("skewed", 0, &a);
    broker.produce_to("skewed", 1, &b);
    let mut expected: std::collections::BTreeMap<(String, i64), u64> = Default::default();
    for line in a.iter().chain(&b) {
        let f: Vec<&str> = line.split(';').collect();
        let t: i64 = f[2].parse().unwrap();
        *expected
            .entry((f[0].to_string(), t - t.rem_euclid(60_000)))
            .or_default() += 1;
    }
    let mut expected: Vec<String> = expected
        .iter()
        .map(|((app, t), n)| format!("{app},{t},{n}"))
        .collect();
    expected.sort();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nsql=INSERT INTO out SELECT appId, AGGRTIME t, count(qq) c FROM src \
             GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=skewed\ntable.kafka.offset=earliest\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=got.csv\n\
             table.flush.ms=100\n",
            broker.addr
        ),
    )
    .unwrap();
    // Small batches (50 records of each partition), so partition 0 runs ahead batch by batch.
    let log = std::fs::File::create(dir.path().join("log.txt")).unwrap();
    let _job = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", "2", "--chunk-rows", "100"])
            .args(["--progress", "1"])
            .current_dir(dir.path())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let got = dir.path().join("got.csv");
    let start = Instant::now();
    loop {
        let rows = if got.exists() {
            csv_rows(&got)
        } else {
            Vec::new()
        };
        if rows == expected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "after 30 s:\n{rows:?}\nexpected:\n{expected:?}\nlog:\n{}",
            std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_idle_partition_does_not_hold_windows_back() {
    // Partition 1 gets a few rows and then nothing; with emit=final, partition 0's windows are
    // still written once partition 1 has been idle for idle.timeout.seconds.
    let broker = Broker::start();
    broker.create_topic("idle", 2);
    let t0 = 1_700_000_040_000i64;
    let early: Vec<String> = (0..10)
        .map(|i| format!("b;u{i};{}", t0 + i * 100))
        .collect();
    broker.produce_to("idle", 1, &early);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nidle.timeout.seconds=1\n\
             sql=INSERT INTO out SELECT appId, AGGRTIME t, count(qq) c FROM src \
             GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=idle\ntable.kafka.offset=earliest\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=got.csv\n\
             table.emit=final\ntable.flush.ms=100\n",
            broker.addr
        ),
    )
    .unwrap();
    let _job = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", "2", "--progress", "0"])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(2500));
    // Five minutes of events on partition 0, 100 ms apart: 600 per minute.
    let late: Vec<String> = (0..3000)
        .map(|i| format!("a;u{};{}", i % 50, t0 + i * 100))
        .collect();
    broker.produce_to("idle", 0, &late);
    let want = [
        format!("a,{t0},600"),
        format!("a,{},600", t0 + 60_000),
        format!("a,{},600", t0 + 120_000),
        format!("b,{t0},10"),
    ];
    let got = dir.path().join("got.csv");
    let start = Instant::now();
    loop {
        let rows = if got.exists() {
            csv_rows(&got)
        } else {
            Vec::new()
        };
        if want.iter().all(|w| rows.contains(w)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "after 30 s the final windows are {rows:?}; expected among them {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Kafka sink writes a delete as a tombstone keyed by the result key and an update as a
/// record with the new row: a followed dimension file moves every app from category x to y
/// while the job runs, so the row of x leaves the table and the row of y changes. The last
/// record of each key is the sink's table (the CSV of the same query).
#[test]
fn a_kafka_sink_writes_tombstones_for_deletes_and_new_rows_for_updates() {
    let broker = Broker::start();
    broker.create_topic("per_cat", 2);
    let dir = tempfile::tempdir().unwrap();
    let x: String = (0..100).map(|i| format!("app{i},x\n")).collect();
    std::fs::write(dir.path().join("dim.csv"), x).unwrap();
    let query = "SELECT cat, count(qq) c FROM src LEFT JOIN dim ON src.appId = dim.appId \
                 GROUP BY cat";
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nsql=INSERT INTO changes {query} \\\nINSERT INTO final_table {query}\n\
             [tabledesc-src]\ntable.name=src\ntable.type=generator\n\
             table.generator.rows=60000\ntable.generator.rate=10000\n\
             [tabledesc-dim]\ntable.name=dim\ntable.fields=appId,string,:cat,string,\n\
             table.type=file\ntable.file.path=dim.csv\ntable.file.format=csv\n\
             table.file.follow=true\ntable.field.key=appId\n\
             [tabledesc-changes]\ntable.name=changes\ntable.type=kafka\n\
             table.kafka.brokers={}\ntable.kafka.topic=per_cat\ntable.flush.ms=100\n\
             [tabledesc-final_table]\ntable.name=final_table\ntable.type=csv\n\
             table.csv.path=table.csv\n",
            broker.addr
        ),
    )
    .unwrap();
    let d = dir.path().to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    std::thread::sleep(Duration::from_millis(2500));
    let y: String = (0..100).map(|i| format!("app{i},y\n")).collect();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("dim.csv"))
            .unwrap();
        f.write_all(y.as_bytes()).unwrap();
    }
    ok(&run.join().unwrap());
    let table = csv_rows(&dir.path().join("table.csv"));
    assert_eq!(table, ["y,60000"]);
    // The records of each key, in order (one key's records are in one partition, in order).
    let mut by_key: std::collections::BTreeMap<String, Vec<Option<String>>> = Default::default();
    for (k, v) in consume(&broker.addr, "per_cat", 2) {
        by_key.entry(k).or_default().push(v);
    }
    let keys: Vec<&String> = by_key.keys().collect();
    assert_eq!(keys, [r#"{"cat":"x"}"#, r#"{"cat":"y"}"#], "{by_key:?}");
    let xs = &by_key[r#"{"cat":"x"}"#];
    assert_eq!(
        xs.last(),
        Some(&None),
        "x did not end with a tombstone: {xs:?}"
    );
    assert!(
        xs.len() >= 2 && xs[..xs.len() - 1].iter().all(|v| v.is_some()),
        "x was written before its delete: {xs:?}"
    );
    let ys = &by_key[r#"{"cat":"y"}"#];
    assert!(ys.iter().all(Option::is_some), "{ys:?}");
    assert!(
        ys.len() >= 2,
        "the change did not reach the rows read after it (y was written once, at the end): \
         {ys:?}"
    );
    let counts: Vec<i64> = ys
        .iter()
        .map(|v| {
            let v: serde_json::Value = serde_json::from_str(v.as_deref().unwrap()).unwrap();
            v["c"].as_i64().unwrap()
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "y's updates out of order: {counts:?}"
    );
    // The last record of each key that is not a tombstone is the sink's table.
    let last: serde_json::Value =
        serde_json::from_str(ys.last().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(last, serde_json::json!({"cat": "y", "c": 60000}));
}

/// `GET /metrics` of a job serving HTTP at `addr`.
fn metrics_page(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn the_metrics_count_each_partitions_rows_bytes_lag_and_committed_offset() {
    let broker = Broker::start();
    broker.create_topic("clicks", 2);
    let group = unique("tally_group");
    let dir = tempfile::tempdir().unwrap();
    let lines = events(dir.path(), 500);
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nsql=INSERT INTO out SELECT appId, count(qq) n FROM src GROUP BY appId\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={}\n\
             table.kafka.topic=clicks\ntable.kafka.group={group}\n\
             table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
             [tabledesc-out]\ntable.name=out\ntable.type=csv\ntable.csv.path=out.csv\n\
             table.flush.ms=100\n",
            broker.addr
        ),
    )
    .unwrap();
    // 300 records and a malformed one to partition 0 and 200 records to partition 1, before
    // the job starts: it starts behind, then catches up.
    let mut first: Vec<String> = lines[..300].to_vec();
    first.push("bad".to_string());
    broker.produce_to("clicks", 0, &first);
    broker.produce_to("clicks", 1, &lines[300..]);
    let bytes = |l: &[String]| l.iter().map(String::len).sum::<usize>();
    let (_job, addr) = run_serving(dir.path(), &["-w", "2"]);
    let expected = [
        r#"tally_source_partition_rows_total{job="job",source="src",partition="0"} 300"#
            .to_string(),
        r#"tally_source_partition_rows_total{job="job",source="src",partition="1"} 200"#
            .to_string(),
        format!(
            r#"tally_source_partition_bytes_total{{job="job",source="src",partition="0"}} {}"#,
            bytes(&first)
        ),
        format!(
            r#"tally_source_partition_bytes_total{{job="job",source="src",partition="1"}} {}"#,
            bytes(&lines[300..])
        ),
        format!(
            r#"tally_source_bytes_total{{job="job",source="src"}} {}"#,
            bytes(&first) + bytes(&lines[300..])
        ),
        r#"tally_source_partition_bad_rows_total{job="job",source="src",partition="0"} 1"#
            .to_string(),
        r#"tally_source_partition_bad_rows_total{job="job",source="src",partition="1"} 0"#
            .to_string(),
        r#"tally_kafka_consumer_lag{job="job",source="src",partition="0"} 0"#.to_string(),
        r#"tally_kafka_consumer_lag{job="job",source="src",partition="1"} 0"#.to_string(),
        r#"tally_kafka_committed_offset{job="job",source="src",partition="0"} 301"#.to_string(),
        r#"tally_kafka_committed_offset{job="job",source="src",partition="1"} 200"#.to_string(),
    ];
    // A family's samples come in no set order: compared sorted.
    let mut expected = expected.to_vec();
    expected.sort();
    let partition_lines = |page: &str| -> Vec<String> {
        let mut lines: Vec<String> = page
            .lines()
            .filter(|l| {
                l.starts_with("tally_source_partition_")
                    || l.starts_with("tally_source_bytes_total")
                    || l.starts_with("tally_kafka_consumer_lag")
                    || l.starts_with("tally_kafka_committed_offset")
            })
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let started = Instant::now();
    loop {
        let page = metrics_page(&addr);
        if partition_lines(&page) == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the partition metrics did not reach {expected:#?} within 30 s:\n{:#?}",
            partition_lines(&page)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // New records put partition 1 behind; the job catches up and commits again.
    broker.produce_to("clicks", 1, &lines[..50]);
    wait_for("partition 1 read and committed again", 30, || {
        let page = metrics_page(&addr);
        page.contains(
            r#"tally_source_partition_rows_total{job="job",source="src",partition="1"} 250"#,
        ) && page
            .contains(r#"tally_kafka_committed_offset{job="job",source="src",partition="1"} 250"#)
            && page.contains(r#"tally_kafka_consumer_lag{job="job",source="src",partition="1"} 0"#)
    });
}

#[test]
fn a_flink_sql_kafka_table_with_flinks_option_names_reads_the_topic() {
    let broker = Broker::start();
    broker.create_topic("flink_events", 2);
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = events(dir.path(), 5_000)
        .iter()
        .map(|l| l.replace(';', ","))
        .collect();
    std::fs::write(dir.path().join("events.csv"), lines.join("\n") + "\n").unwrap();
    let job = |source: &str| {
        format!(
            "CREATE TABLE src (appId STRING, qq STRING, dTime BIGINT) WITH ({source});
CREATE TABLE out (appId STRING, t BIGINT, c BIGINT, u BIGINT)
WITH ('connector' = 'csv', 'path' = 'out.csv');
INSERT INTO out {QUERY};
"
        )
    };
    // The same rows from a file give the expected table.
    std::fs::write(
        dir.path().join("file.sql"),
        job("'connector' = 'file', 'path' = 'events.csv', 'format' = 'csv'"),
    )
    .unwrap();
    ok(&tally(&["run", "file.sql", "--progress", "0"], dir.path()));
    let expected = csv_rows(&dir.path().join("out.csv"));
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    broker.produce(
        "flink_events",
        &keyed(&events(dir.path(), 5_000))
            .iter()
            .map(|(k, v)| (k.clone(), v.replace(';', ",")))
            .collect::<Vec<_>>(),
    );
    std::fs::write(
        dir.path().join("kafka.sql"),
        job(&format!(
            "'connector' = 'kafka', 'topic' = 'flink_events', \
             'properties.bootstrap.servers' = '{}', 'properties.group.id' = 'flink-names', \
             'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', \
             'format' = 'csv', 'properties.fetch.wait.max.ms' = '50'",
            broker.addr
        )),
    )
    .unwrap();
    let log = ok(&tally(
        &["run", "kafka.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    assert!(log.contains("rows_in=5000 bad_rows=0"), "{log}");
    assert_eq!(csv_rows(&dir.path().join("out.csv")), expected);
    // An option value tally does not have is refused where it is written.
    let bad = job(&format!(
        "'connector' = 'kafka', 'topic' = 'flink_events', \
         'properties.bootstrap.servers' = '{}', 'scan.startup.mode' = 'timestamp'",
        broker.addr
    ));
    // At the value, on the first line (its column depends on the broker's port).
    let col = bad.lines().next().unwrap().find("'timestamp'").unwrap() + 1;
    std::fs::write(dir.path().join("bad.sql"), bad).unwrap();
    let out = tally(&["check", "bad.sql"], dir.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "bad.sql:1:{col}: error: 'scan.startup.mode' = 'timestamp' is not supported: \
             earliest-offset, latest-offset or group-offsets\n"
        )
    );
}

/// Flink's `upsert-kafka` sink (with Flink's option names and its PRIMARY KEY) writes the
/// result as tally's kafka sink does: per key, JSON records of the row as it changes, whose
/// last one is the row of the final table (the CSV of the same query); a format other than
/// JSON is refused at its value.
#[test]
fn an_upsert_kafka_table_gets_each_keys_changes_and_ends_as_the_final_table() {
    let broker = Broker::start();
    broker.create_topic("per_page", 2);
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..3000)
        .map(|i| format!("page{},{}\n", i % 7, i % 13))
        .collect();
    std::fs::write(dir.path().join("views.csv"), lines).unwrap();
    let job = |format: &str| {
        format!(
            "CREATE TABLE views (page STRING, n BIGINT)\n  \
             WITH ('connector' = 'file', 'path' = 'views.csv', 'format' = 'csv');\n\
             CREATE TABLE per_page (page STRING, views BIGINT, total BIGINT,\n  \
             PRIMARY KEY (page) NOT ENFORCED)\n  \
             WITH ('connector' = 'upsert-kafka', 'topic' = 'per_page',\n  \
             'properties.bootstrap.servers' = '{}', 'key.format' = 'json',\n  \
             'value.format' = '{format}');\n\
             CREATE TABLE final_table (page STRING, views BIGINT, total BIGINT)\n  \
             WITH ('connector' = 'csv', 'path' = 'table.csv');\n\
             SET 'chunk.rows' = '500';\n\
             INSERT INTO per_page SELECT page, COUNT(*) AS views, SUM(n) AS total FROM views \
             GROUP BY page;\n\
             INSERT INTO final_table SELECT page, COUNT(*) AS views, SUM(n) AS total FROM views \
             GROUP BY page;\n",
            broker.addr
        )
    };
    std::fs::write(dir.path().join("bad.sql"), job("csv")).unwrap();
    let out = tally(&["check", "bad.sql"], dir.path());
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "bad.sql:7:20: error: 'value.format' = 'csv' is not supported: tally writes a Kafka \
         record's key and value as JSON objects ('json')"
    );
    std::fs::write(dir.path().join("job.sql"), job("json")).unwrap();
    ok(&tally(
        &["run", "job.sql", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    let mut last: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for (k, v) in consume(&broker.addr, "per_page", 2) {
        let v: serde_json::Value = serde_json::from_str(&v.expect("no deletes")).unwrap();
        last.insert(k, v);
    }
    let mut want = std::collections::BTreeMap::new();
    for row in csv_rows(&dir.path().join("table.csv")) {
        let f: Vec<&str> = row.split(',').collect();
        want.insert(
            format!(r#"{{"page":"{}"}}"#, f[0]),
            serde_json::json!({"page": f[0], "views": f[1].parse::<i64>().unwrap(),
                "total": f[2].parse::<i64>().unwrap()}),
        );
    }
    assert_eq!(want.len(), 7);
    assert_eq!(last, want);
}
