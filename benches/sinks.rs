//! Sink throughput beside the servers' own bulk rates (benchmarks.md), run by `benches/run.sh`:
//!
//! - `redis N`: tally's Redis sink (a hash per row, `HSET` of one field, MULTI/EXEC per flush)
//!   writing N new rows in flushes of 10,000. run.sh puts `redis-benchmark -t hset -P 100`
//!   beside it.
//! - `mysql N`: tally's MySQL sink upserting N rows in flushes of 10,000 (one transaction each),
//!   beside a plain loop doing the same with mysql_async: `INSERT ... ON DUPLICATE KEY UPDATE`
//!   of 500 rows per statement, 10,000 rows per transaction.
//!
//! Each prints `bench=... rows=N seconds=S rows_per_s=R`. Redis on 127.0.0.1:6379, MariaDB on
//! 127.0.0.1:3306 (root, no password, database `test`). Under `cargo test` (no `--bench`) it
//! only checks its row maker.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use tally_connectors::{open_sink, Change};
use tally_sql::catalog::{DbConfig, DbKind, RedisTarget, Secret, SinkConfig};
use tally_sql::{DataType, Field, Row, Schema, Value};

const FLUSH: usize = 10_000;

fn schema() -> Schema {
    Schema::new(vec![
        Field {
            name: "k".into(),
            ty: DataType::String,
        },
        Field {
            name: "n".into(),
            ty: DataType::Int,
        },
    ])
}

fn row(i: u64) -> Row {
    vec![Value::str(&format!("key{i}")), Value::Int(i as i64)]
}

fn report(name: &str, rows: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "bench={name} rows={rows} seconds={secs:.3} rows_per_s={:.0}",
        rows as f64 / secs.max(1e-9)
    );
}

fn through_sink(name: &str, config: &SinkConfig, rows: u64) {
    let mut sink = open_sink("bench", config, &schema(), Some(&[0])).expect("the sink opens");
    let start = Instant::now();
    let mut i = 0;
    while i < rows {
        let changes: Vec<Change> = (i..(i + FLUSH as u64).min(rows))
            .map(|j| Change::Insert(row(j)))
            .collect();
        sink.flush(&changes, &[]).expect("the flush is written");
        i += changes.len() as u64;
    }
    report(name, rows, start);
}

fn redis(rows: u64) {
    let prefix = format!("tally_sinkbench_{}", std::process::id());
    through_sink(
        "redis_sink",
        &SinkConfig::Redis {
            url: Secret::new("redis://127.0.0.1:6379/"),
            target: RedisTarget::Key(Some(format!("{prefix}:{{k}}"))),
            ttl: None,
        },
        rows,
    );
    let mut r = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_connection()
        .unwrap();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(FLUSH) {
        let keys: Vec<String> = chunk.iter().map(|i| format!("{prefix}:key{i}")).collect();
        let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
    }
}

fn mysql(rows: u64) {
    let table = format!("tally_sinkbench_{}", std::process::id());
    let db = DbConfig {
        kind: DbKind::Mysql,
        host: "127.0.0.1".into(),
        port: 3306,
        db: "test".into(),
        user: "root".into(),
        password: Secret::default(),
        table: table.clone(),
        create: true,
    };
    through_sink("mysql_sink", &SinkConfig::Database(db), rows);

    // The plain loop, into a second table of the same shape.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"))
        .db_name(Some("test"))
        .prefer_socket(false);
    let plain = format!("{table}_plain");
    rt.block_on(async {
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        conn.query_drop(format!(
            "CREATE TABLE `{plain}` (k VARCHAR(255) NOT NULL PRIMARY KEY, n BIGINT)"
        ))
        .await
        .unwrap();
        let start = Instant::now();
        let mut i = 0;
        while i < rows {
            let end = (i + FLUSH as u64).min(rows);
            let mut tx = conn
                .start_transaction(mysql_async::TxOpts::default())
                .await
                .unwrap();
            let ids: Vec<u64> = (i..end).collect();
            for chunk in ids.chunks(500) {
                let marks = vec!["(?, ?)"; chunk.len()].join(", ");
                let params: Vec<mysql_async::Value> = chunk
                    .iter()
                    .flat_map(|j| {
                        [
                            mysql_async::Value::from(format!("key{j}")),
                            mysql_async::Value::from(*j as i64),
                        ]
                    })
                    .collect();
                tx.exec_drop(
                    format!(
                        "INSERT INTO `{plain}` (k, n) VALUES {marks} ON DUPLICATE KEY UPDATE n = \
                         VALUES(n)"
                    ),
                    params,
                )
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
            i = end;
        }
        report("mysql_plain_upsert_loop", rows, start);
        conn.query_drop(format!("DROP TABLE `{plain}`"))
            .await
            .unwrap();
        conn.query_drop(format!("DROP TABLE `{table}`"))
            .await
            .unwrap();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        assert_eq!(row(7), vec![Value::str("key7"), Value::Int(7)]);
        println!("sinks: row check passed (the measurement needs --bench and the servers)");
        return;
    }
    let args: Vec<&String> = args.iter().filter(|a| *a != "--bench").collect();
    let (what, rows) = match args.as_slice() {
        [w, n] => (w.as_str(), n.parse::<u64>().expect("N")),
        _ => {
            eprintln!("usage: sinks redis|mysql N");
            std::process::exit(2);
        }
    };
    match what {
        "redis" => redis(rows),
        "mysql" => mysql(rows),
        other => {
            eprintln!("unknown sink {other}: redis or mysql");
            std::process::exit(2);
        }
    }
}
