//! Dimension tables in MySQL, PostgreSQL and Redis, changed while a job runs: the change
//! revises the windows that are still open and leaves final windows alone; a group emptied by
//! the change is deleted from the sinks.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;

/// 60,000 generated events at 10,000/s (ten minutes of event time, so windows close while the
/// job runs) joined with `dim` (appId -> cat), counted per category per minute into MySQL and,
/// without windows, per category into Redis hashes `<prefix>:<cat>`.
fn job(dir: &Path, dim: &str, table: &str, prefix: &str) {
    let text = format!(
        "[system]\n\
         sql=INSERT INTO by_cat SELECT cat, AGGRTIME t, count(qq) c FROM src LEFT JOIN dim ON \\\n\
         src.appId = dim.appId GROUP BY cat COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\\n\
         INSERT INTO totals SELECT AGGRTIME t, count(qq) c FROM src GROUP BY 1 \\\n\
         COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\\n\
         INSERT INTO now_cat SELECT cat, count(qq) c FROM src LEFT JOIN dim ON \\\n\
         src.appId = dim.appId GROUP BY cat\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows=60000\n\
         table.generator.rate=10000\n\
         [tabledesc-dim]\ntable.name=dim\ntable.fields=appId,string,:cat,string,\n\
         table.field.key=appId\n{dim}\n\
         [tabledesc-by_cat]\ntable.name=by_cat\ntable.type=mysql\ntable.mysql.table={table}\n\
         table.mysql.create=true\ntable.flush.ms=100\n\
         [tabledesc-totals]\ntable.name=totals\ntable.type=csv\ntable.csv.path=totals.csv\n\
         [tabledesc-now_cat]\ntable.name=now_cat\ntable.type=redis\n\
         table.redis.key={prefix}:{{cat}}\ntable.flush.ms=100\n"
    );
    std::fs::write(dir.join("job.ec"), text).unwrap();
}

/// Runs the job and calls `change` 2.5 s in (about 250 s of event time: the first windows are
/// final by then, the later ones not yet started). Returns the run's log.
fn run_and_change(dir: &Path, change: impl FnOnce()) -> String {
    let d = dir.to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    std::thread::sleep(Duration::from_millis(2500));
    change();
    ok(&run.join().unwrap())
}

/// Every window has one category: `x` for the windows final before the change, `y` after;
/// its count is the window's total. The windowless counts moved wholly to `y`.
fn check(dir: &Path, db: &mut Mysql, table: &str, prefix: &str) {
    let totals: BTreeMap<i64, String> = csv_rows(&dir.join("totals.csv"))
        .iter()
        .map(|l| {
            let (t, c) = l.split_once(',').unwrap();
            (t.parse().unwrap(), c.to_string())
        })
        .collect();
    let mut by_window: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for row in db.rows(&format!("SELECT cat, t, c FROM `{table}`")) {
        let f: Vec<&str> = row.split(',').collect();
        by_window
            .entry(f[1].parse().unwrap())
            .or_default()
            .push((f[0].to_string(), f[2].to_string()));
    }
    assert_eq!(
        by_window.keys().collect::<Vec<_>>(),
        totals.keys().collect::<Vec<_>>()
    );
    let cats: Vec<&str> = by_window
        .iter()
        .map(|(t, rows)| {
            assert_eq!(rows.len(), 1, "window {t}: {rows:?}");
            assert_eq!(rows[0].1, totals[t], "window {t}");
            rows[0].0.as_str()
        })
        .collect();
    let first_y = cats
        .iter()
        .position(|c| *c == "y")
        .expect("some window saw y");
    assert!(
        first_y > 0,
        "no window was final before the change: {cats:?}"
    );
    assert!(
        cats[first_y..].iter().all(|c| *c == "y"),
        "a final window was revised: {cats:?}"
    );
    let mut r = redis();
    let x: Option<String> = redis::cmd("HGET")
        .arg(format!("{prefix}:x"))
        .arg("c")
        .query(&mut r)
        .unwrap();
    assert_eq!(x, None, "the emptied group was not deleted");
    let y: String = redis::cmd("HGET")
        .arg(format!("{prefix}:y"))
        .arg("c")
        .query(&mut r)
        .unwrap();
    assert_eq!(y, "60000");
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:y"))
        .query(&mut r)
        .unwrap();
    db.exec(&format!("DROP TABLE `{table}`"));
}

#[test]
fn a_mysql_dimension_change_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let dim = unique("tally_dim");
    let table = unique("tally_bycat");
    let prefix = unique("tally_now");
    db.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8))"
    ));
    let values: Vec<String> = (0..100).map(|i| format!("('app{i}', 'x')")).collect();
    db.exec(&format!("INSERT INTO `{dim}` VALUES {}", values.join(", ")));
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=mysql\ntable.mysql.table={dim}\ntable.mysql.poll.ms=100"),
        &table,
        &prefix,
    );
    let log = run_and_change(dir.path(), || {
        Mysql::connect().exec(&format!("UPDATE `{dim}` SET cat = 'y'"));
    });
    check(dir.path(), &mut db, &table, &prefix);
    db.exec(&format!("DROP TABLE `{dim}`"));
    // `table.mysql.changes` is auto by default: this server has no binlog, so it is polled.
    assert!(
        log.contains("dimension dim: polling mysql 127.0.0.1:3306/test.")
            && log.contains("not following its binlog: its binlog is off (server variable log_bin"),
        "{log}"
    );
}

/// The same change, and a delete and an insert, followed in the binlog of the server on 3307:
/// the rows come from row events (no re-read of the table after the first).
#[test]
fn a_mysql_dimension_followed_in_the_binlog_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let mut binlog = Mysql::connect_binlog();
    let dim = unique("tally_dim");
    let table = unique("tally_bycat");
    let prefix = unique("tally_now");
    binlog.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8)) ENGINE=InnoDB"
    ));
    let values: Vec<String> = (0..100).map(|i| format!("('app{i}', 'x')")).collect();
    binlog.exec(&format!("INSERT INTO `{dim}` VALUES {}", values.join(", ")));
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!(
            "table.type=mysql\ntable.mysql.port=3307\ntable.mysql.table={dim}\n\
             table.mysql.changes=binlog\ntable.mysql.poll.ms=100000"
        ),
        &table,
        &prefix,
    );
    let d = dim.clone();
    let log = run_and_change(dir.path(), move || {
        // One transaction: an update of 99 rows, a delete and an insert (app7 leaves as x and
        // comes back as y).
        Mysql::connect_binlog().exec(&format!(
            "START TRANSACTION; UPDATE `{d}` SET cat = 'y' WHERE appId <> 'app7'; \
             DELETE FROM `{d}` WHERE appId = 'app7'; INSERT INTO `{d}` VALUES ('app7', 'y'); \
             COMMIT"
        ));
    });
    check(dir.path(), &mut db, &table, &prefix);
    binlog.exec(&format!("DROP TABLE `{dim}`"));
    assert!(
        log.contains(&format!(
            "dimension dim: read mysql 127.0.0.1:3307/test.{dim} (100 rows); following its \
             binlog from "
        )),
        "{log}"
    );
    assert!(!log.contains("polling"), "{log}");
    assert!(!log.contains("again and sending the difference"), "{log}");
}

/// `changes=binlog` against a server without binlog stops the job at start, naming the
/// setting and the server variable.
#[test]
fn a_binlog_dimension_on_a_server_without_binlog_is_refused() {
    let mut db = Mysql::connect();
    let dim = unique("tally_dim");
    let table = unique("tally_bycat");
    db.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8))"
    ));
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=mysql\ntable.mysql.table={dim}\ntable.mysql.changes=binlog"),
        &table,
        "unused",
    );
    let out = tally(&["run", "job.ec", "-w", "2", "--progress", "0"], dir.path());
    db.exec(&format!("DROP TABLE `{dim}`"));
    db.exec(&format!("DROP TABLE IF EXISTS `{table}`"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job ran: {err}");
    assert!(
        err.contains("`table.mysql.changes` = `binlog`, but mysql 127.0.0.1:3306/test.")
            && err.contains("server variable log_bin = OFF"),
        "{err}"
    );
}

#[test]
fn a_postgres_dimension_change_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let mut pg = postgres();
    let dim = unique("tally_dim");
    let table = unique("tally_bycat");
    let prefix = unique("tally_now");
    let values: Vec<String> = (0..100).map(|i| format!("('app{i}', 'x')")).collect();
    pg.batch_execute(&format!(
        "CREATE TABLE {dim} (appid TEXT PRIMARY KEY, cat TEXT); INSERT INTO {dim} VALUES {}",
        values.join(", ")
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=postgres\ntable.postgres.table={dim}\ntable.postgres.poll.ms=100"),
        &table,
        &prefix,
    );
    run_and_change(dir.path(), || {
        postgres()
            .batch_execute(&format!("UPDATE {dim} SET cat = 'y'"))
            .unwrap();
    });
    check(dir.path(), &mut db, &table, &prefix);
    pg.batch_execute(&format!("DROP TABLE {dim}")).unwrap();
}

#[test]
fn a_redis_dimension_change_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let dim = unique("tally_dim");
    let table = unique("tally_bycat");
    let prefix = unique("tally_now");
    for i in 0..100 {
        let _: () = redis::cmd("HSET")
            .arg(format!("{dim}:app{i}"))
            .arg("cat")
            .arg("x")
            .query(&mut r)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=redis\ntable.redis.key={dim}:{{appId}}\ntable.redis.poll.ms=100"),
        &table,
        &prefix,
    );
    let d = dim.clone();
    run_and_change(dir.path(), move || {
        let mut r = redis();
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("HSET").arg(format!("{d}:app{i}")).arg("cat").arg("y");
        }
        let _: () = p.query(&mut r).unwrap();
    });
    check(dir.path(), &mut db, &table, &prefix);
    let keys: Vec<String> = (0..100).map(|i| format!("{dim}:app{i}")).collect();
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
}
