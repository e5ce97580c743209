//! The binlog dimension reader against the MariaDB with a row-format binlog on 127.0.0.1:3307
//! (./scripts/services.sh starts it): the rows it keeps are the rows a read of the table gives,
//! value for value, through inserts, updates, deletes, TRUNCATE, ALTER TABLE and a lost
//! connection.
#![cfg(feature = "mysql")]

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tally_connectors::{sqldb, Metrics, Poll, Source, WorkerInfo};
use tally_sql::catalog::{DbChanges, DbConfig, DbKind, Secret};
use tally_sql::{DataType, Field, Row, Schema};

const SERVER: &str = "127.0.0.1:3307";

struct Server {
    rt: tokio::runtime::Runtime,
    conn: mysql_async::Conn,
}

impl Server {
    fn connect() -> Server {
        // The reader's log, shown with a failing test.
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        if TcpStream::connect_timeout(&SERVER.parse().unwrap(), Duration::from_secs(2)).is_err() {
            panic!(
                "MariaDB with a binlog is not reachable at {SERVER}: this test needs it. \
                 ./scripts/test.sh (scripts/services.sh) starts it."
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3307)
            .user(Some("root"))
            .db_name(Some("test"));
        let conn = rt.block_on(mysql_async::Conn::new(opts)).unwrap();
        let mut s = Server { rt, conn };
        s.exec("SET time_zone = '+00:00'");
        s
    }

    fn exec(&mut self, sql: &str) {
        self.rt.block_on(self.conn.query_drop(sql)).unwrap();
    }

    fn ids(&mut self, sql: &str) -> Vec<u64> {
        self.rt.block_on(self.conn.query(sql)).unwrap()
    }
}

fn db(table: &str) -> DbConfig {
    DbConfig {
        kind: DbKind::Mysql,
        host: "127.0.0.1".into(),
        port: 3307,
        db: "test".into(),
        user: "root".into(),
        password: Secret::default(),
        table: table.into(),
        create: false,
    }
}

/// Every column the reader converts; numbers also as text, the strictest comparison.
fn schema() -> Schema {
    let f = |name: &str, ty: DataType| Field {
        name: name.into(),
        ty,
    };
    use DataType::*;
    Schema::new(vec![
        f("id", Int),
        f("u", Int),
        f("big", String),
        f("m", Int),
        f("f", Double),
        f("d", Double),
        f("dec", DataType::decimal(12, 3)),
        f("fs", String),
        f("ds", String),
        f("decs", String),
        f("dt", String),
        f("ts", String),
        f("dd", String),
        f("tm", String),
        f("y", String),
        f("e", String),
        f("s", String),
        f("flag", Boolean),
        f("txt", String),
        f("ch", String),
        f("lat", String),
        f("bits", String),
    ])
}

const CREATE: &str = "(id INT PRIMARY KEY, u TINYINT UNSIGNED, big BIGINT UNSIGNED, m MEDIUMINT, \
    f FLOAT, d DOUBLE, `dec` DECIMAL(12,3), fs FLOAT, ds DOUBLE, decs DECIMAL(10,2), \
    dt DATETIME(2), ts TIMESTAMP(3) NULL DEFAULT NULL, dd DATE, tm TIME(6), y YEAR, \
    e ENUM('a','b c','it''s'), s SET('x','y','z'), flag BOOLEAN, txt TEXT, ch CHAR(5), \
    lat VARCHAR(10) CHARACTER SET latin1, bits BIT(8)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

const ROW1: &str = "(1, 200, 18446744073709551615, -8388608, 3.14159265, 1e20, -1234.5, \
    1234567.89, 0.1, -0.05, '2024-01-02 03:04:05.67', '2024-01-02 03:04:05.678', '2024-01-02', \
    '-25:01:02.5', 2024, 'b c', 'x,z', TRUE, 'héllo ✓', 'ab', 'plain', b'00000101')";
const ROW2: &str = "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)";
const ROW3: &str = "(3, 255, 1, 8388607, -1.5e-7, 2.5e-300, 999999999.999, 1e30, 123456.789, \
    0, '1000-01-01 00:00:00', '1970-01-01 00:00:01.5', '9999-12-31', '838:59:59', 0, 'it''s', \
    '', FALSE, '', ' x', 'a', b'0')";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

fn open(table: &str, changes: DbChanges, metrics: Arc<Metrics>) -> Box<dyn Source> {
    sqldb::open_dimension(
        "dim",
        &db(table),
        &schema(),
        WorkerInfo { index: 0, peers: 1 },
        100_000,
        changes,
        metrics,
    )
    .unwrap()
}

/// The rows a read of the table gives now, sorted.
fn read(table: &str) -> Vec<Row> {
    let mut src = open(table, DbChanges::Poll, Arc::default());
    let mut rows = Vec::new();
    assert_eq!(src.poll(&mut rows).unwrap(), Poll::Batch { epoch: 0 });
    rows.sort();
    rows
}

/// The rows a source has sent (inserts minus deletes), sorted.
struct Kept(HashMap<Row, i64>);

impl Kept {
    fn take(&mut self, src: &mut dyn Source) -> Option<u64> {
        let mut rows = Vec::new();
        let Poll::Batch { epoch } = src.poll(&mut rows).unwrap() else {
            return None;
        };
        for r in rows {
            *self.0.entry(r).or_default() += 1;
        }
        let mut gone = Vec::new();
        src.take_deletes(&mut gone);
        for r in gone {
            *self.0.entry(r).or_default() -= 1;
        }
        Some(epoch)
    }

    fn rows(&self) -> Vec<Row> {
        let mut out = Vec::new();
        for (r, &n) in &self.0 {
            assert!(n >= 0, "a row was deleted more often than inserted: {r:?}");
            out.extend(std::iter::repeat_n(r.clone(), n as usize));
        }
        out.sort();
        out
    }

    /// Waits until the rows kept are the rows a read gives.
    fn settle(&mut self, src: &mut dyn Source, table: &str, what: &str) {
        let want = read(table);
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            self.take(src);
            if self.rows() == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(self.rows(), want, "after {what}");
    }
}

#[test]
fn binlog_rows_are_the_rows_a_read_gives() {
    let mut server = Server::connect();
    let table = unique("tally_binlog");
    server.exec(&format!("CREATE TABLE `{table}` {CREATE}"));
    server.exec(&format!("INSERT INTO `{table}` VALUES {ROW1}, {ROW2}"));
    let metrics = Arc::new(Metrics::default());
    let mut src = open(&table, DbChanges::Binlog, metrics.clone());
    let mut kept = Kept(HashMap::new());
    let until = Instant::now() + Duration::from_secs(15);
    let first = loop {
        if let Some(epoch) = kept.take(src.as_mut()) {
            break epoch;
        }
        assert!(Instant::now() < until, "no first read");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(first, 0, "the table as the job starts is epoch 0");
    assert_eq!(kept.rows(), read(&table));
    assert_eq!(kept.rows().len(), 2);

    // Row events: an insert, updates of every column, a delete, a transaction of several.
    server.exec(&format!("INSERT INTO `{table}` VALUES {ROW3}"));
    server.exec(&format!(
        "UPDATE `{table}` SET u = u - 1, big = big - 1, txt = CONCAT(txt, '!'), \
         ts = '2038-01-19 03:14:07.999', e = 'a', s = 'y' WHERE id IN (1, 3)"
    ));
    server.exec(&format!("DELETE FROM `{table}` WHERE id = 2"));
    server.exec(&format!(
        "START TRANSACTION; INSERT INTO `{table}` (id, txt) VALUES (4, 'four'), (5, 'five'); \
         UPDATE `{table}` SET id = 6 WHERE id = 4; DELETE FROM `{table}` WHERE id = 5; COMMIT"
    ));
    kept.settle(src.as_mut(), &table, "inserts, updates and deletes");
    assert_eq!(kept.rows().len(), 3);
    assert_eq!(
        metrics.dimension_rereads.load(Ordering::Relaxed),
        0,
        "the row events were not followed: the table was read again"
    );

    // Another table's changes are not this table's.
    let other = unique("tally_other");
    server.exec(&format!("CREATE TABLE `{other}` {CREATE}"));
    server.exec(&format!("INSERT INTO `{other}` VALUES {ROW1}"));
    server.exec(&format!("DROP TABLE `{other}`"));
    server.exec(&format!("INSERT INTO `{table}` (id) VALUES (7)"));
    kept.settle(src.as_mut(), &table, "changes of another table");
    assert_eq!(metrics.dimension_rereads.load(Ordering::Relaxed), 0);

    // A lost connection: it reconnects and goes on from where it was, without a re-read.
    let dumps = server
        .ids("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'");
    assert!(!dumps.is_empty(), "no binlog dump connection on the server");
    for id in dumps {
        server.exec(&format!("KILL {id}"));
    }
    server.exec(&format!(
        "UPDATE `{table}` SET txt = 'while away' WHERE id = 7"
    ));
    server.exec(&format!("INSERT INTO `{table}` (id) VALUES (8)"));
    kept.settle(src.as_mut(), &table, "a lost connection");
    assert_eq!(metrics.dimension_rereads.load(Ordering::Relaxed), 0);

    // TRUNCATE is not row events: the table is read again.
    server.exec(&format!("TRUNCATE TABLE `{table}`"));
    server.exec(&format!("INSERT INTO `{table}` VALUES {ROW1}"));
    kept.settle(src.as_mut(), &table, "TRUNCATE");
    assert_eq!(kept.rows().len(), 1);
    let rereads = metrics.dimension_rereads.load(Ordering::Relaxed);
    assert!(
        rereads >= 1,
        "TRUNCATE did not make it read the table again"
    );

    // A new column: read again, then its row events (one more column) are followed.
    server.exec(&format!(
        "ALTER TABLE `{table}` ADD COLUMN extra INT DEFAULT 1"
    ));
    let row3_extra = format!("{}, 9)", ROW3.trim_end_matches(')'));
    server.exec(&format!("INSERT INTO `{table}` VALUES {row3_extra}"));
    kept.settle(src.as_mut(), &table, "ALTER TABLE");
    let after_alter = metrics.dimension_rereads.load(Ordering::Relaxed);
    assert!(
        after_alter > rereads,
        "ALTER TABLE did not make it read again"
    );
    server.exec(&format!("UPDATE `{table}` SET extra = 2, u = 7"));
    kept.settle(src.as_mut(), &table, "an update after ALTER TABLE");
    assert_eq!(
        metrics.dimension_rereads.load(Ordering::Relaxed),
        after_alter,
        "the rows after ALTER TABLE were not followed"
    );
    drop(src);
    server.exec(&format!("DROP TABLE `{table}`"));
}

/// A dimension naming a column the table lacks fails at its first read, naming the column.
#[test]
fn a_binlog_dimension_with_a_missing_column_fails_at_its_first_read() {
    let mut server = Server::connect();
    let table = unique("tally_binlog_cols");
    server.exec(&format!("CREATE TABLE `{table}` (id INT PRIMARY KEY)"));
    let mut src = open(&table, DbChanges::Binlog, Arc::default());
    let until = Instant::now() + Duration::from_secs(15);
    let err = loop {
        let mut rows = Vec::new();
        match src.poll(&mut rows) {
            Err(e) => break e.to_string(),
            Ok(Poll::Idle) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(other) => panic!("no error: {other:?}"),
        }
    };
    server.exec(&format!("DROP TABLE `{table}`"));
    assert!(err.contains("has no column `u`"), "{err}");
}
