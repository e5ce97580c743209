//! Dimension tables in MySQL, PostgreSQL and Redis, changed while a job runs: the change
//! revises the windows that are still open and leaves final windows alone (in MySQL,
//! PostgreSQL and Redis sinks); a group emptied by the change is deleted from the sinks (a row,
//! a hash, a hash field).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// Where one run of [`job`] writes: a MySQL table, PostgreSQL tables and Redis names, all
/// unique to the test.
struct Sinks {
    /// MySQL `by_cat`: cat, t, c per minute.
    table: String,
    /// PostgreSQL: the same per minute, and the windowless count per category.
    pg_win: String,
    pg_now: String,
    /// Redis: hashes `<prefix>:<cat>` (windowless, a hash per row), `<prefix>_w:<cat>:<t>`
    /// (per minute), the hash `<prefix>_f` with a field per category, and the hash
    /// `<prefix>_x` whose field `xc` is the count of rows of category x (one row, columns as
    /// fields).
    prefix: String,
}

impl Sinks {
    fn new() -> Sinks {
        Sinks {
            table: unique("tally_bycat"),
            pg_win: unique("tally_pgwin"),
            pg_now: unique("tally_pgnow"),
            prefix: unique("tally_now"),
        }
    }
}

/// 60,000 generated events at 10,000/s (ten minutes of event time, so windows close while the
/// job runs) joined with `dim` (appId -> cat), counted per category per minute into MySQL,
/// PostgreSQL and Redis hashes, and without windows per category into Redis hashes, a Redis
/// hash field per category and PostgreSQL; the count of category x into one Redis hash.
fn job(dir: &Path, dim: &str, s: &Sinks) {
    let per_minute = "SELECT cat, AGGRTIME t, count(qq) c FROM src LEFT JOIN dim ON \\\n\
                      src.appId = dim.appId GROUP BY cat COORDINATE BY dTime \\\n\
                      WITH AGGR INTERVAL 60 SECONDS";
    let per_cat = "SELECT cat, count(qq) c FROM src LEFT JOIN dim ON \\\n\
                   src.appId = dim.appId GROUP BY cat";
    let (table, pg_win, pg_now, prefix) = (&s.table, &s.pg_win, &s.pg_now, &s.prefix);
    let text = format!(
        "[system]\n\
         sql=INSERT INTO by_cat {per_minute} \\\n\
         INSERT INTO totals SELECT AGGRTIME t, count(qq) c FROM src GROUP BY 1 \\\n\
         COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\\n\
         INSERT INTO now_cat {per_cat} \\\n\
         INSERT INTO win_redis {per_minute} \\\n\
         INSERT INTO pg_win {per_minute} \\\n\
         INSERT INTO pg_now {per_cat} \\\n\
         INSERT INTO field_now {per_cat} \\\n\
         INSERT INTO x_count SELECT count(qq) xc FROM src LEFT JOIN dim ON \\\n\
         src.appId = dim.appId WHERE cat = 'x' GROUP BY 1\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows=60000\n\
         table.generator.rate=10000\n\
         [tabledesc-dim]\ntable.name=dim\ntable.fields=appId,string,:cat,string,\n\
         table.field.key=appId\n{dim}\n\
         [tabledesc-by_cat]\ntable.name=by_cat\ntable.type=mysql\ntable.mysql.table={table}\n\
         table.mysql.create=true\ntable.flush.ms=100\n\
         [tabledesc-totals]\ntable.name=totals\ntable.type=csv\ntable.csv.path=totals.csv\n\
         [tabledesc-now_cat]\ntable.name=now_cat\ntable.type=redis\n\
         table.redis.key={prefix}:{{cat}}\ntable.flush.ms=100\n\
         [tabledesc-win_redis]\ntable.name=win_redis\ntable.type=redis\n\
         table.redis.key={prefix}_w:{{cat}}:{{t}}\ntable.flush.ms=100\n\
         [tabledesc-pg_win]\ntable.name=pg_win\ntable.type=postgres\n\
         table.postgres.table={pg_win}\ntable.postgres.create=true\ntable.flush.ms=100\n\
         [tabledesc-pg_now]\ntable.name=pg_now\ntable.type=postgres\n\
         table.postgres.table={pg_now}\ntable.postgres.create=true\ntable.flush.ms=100\n\
         [tabledesc-field_now]\ntable.name=field_now\ntable.type=redis\n\
         table.redis.hash={prefix}_f\ntable.redis.field={{cat}}\ntable.flush.ms=100\n\
         [tabledesc-x_count]\ntable.name=x_count\ntable.type=redis\n\
         table.redis.hash={prefix}_x\ntable.flush.ms=100\n"
    );
    std::fs::write(dir.join("job.ec"), text).unwrap();
}

/// The per-minute hashes `<prefix>_w:<cat>:<t>`: key -> fields.
fn window_hashes(
    r: &mut redis::Connection,
    prefix: &str,
) -> BTreeMap<String, HashMap<String, String>> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}_w:*"))
        .query(r)
        .unwrap();
    keys.into_iter()
        .map(|k| {
            let h: HashMap<String, String> = redis::cmd("HGETALL").arg(&k).query(r).unwrap();
            (k, h)
        })
        .collect()
}

/// The window start `t` of a key `<prefix>_w:<cat>:<t>`.
fn window_of(key: &str) -> i64 {
    key.rsplit(':').next().unwrap().parse().unwrap()
}

/// What the Redis per-minute hashes held just before the dimension changed.
type Snapshot = BTreeMap<String, HashMap<String, String>>;

/// Runs the job and calls `change` once the Redis per-minute hashes span four minutes (the
/// first windows are final by then, the later ones not yet started) and every windowless sink
/// holds category x. Returns the run's log and the per-minute hashes just before the change.
fn run_and_change(dir: &Path, s: &Sinks, change: impl FnOnce()) -> (String, Snapshot) {
    let d = dir.to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    let mut r = redis();
    let mut pg = postgres();
    let started = Instant::now();
    let snapshot = loop {
        assert!(
            !run.is_finished(),
            "the job ended before the change: {}",
            String::from_utf8_lossy(&run.join().unwrap().stderr)
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after 60 s the sinks are not ready for the change"
        );
        let windows = window_hashes(&mut r, &s.prefix);
        let ts: Vec<i64> = windows.keys().map(|k| window_of(k)).collect();
        let span = ts.iter().max().unwrap_or(&0) - ts.iter().min().unwrap_or(&0);
        let field_x: Option<String> = redis::cmd("HGET")
            .arg(format!("{}_f", s.prefix))
            .arg("x")
            .query(&mut r)
            .unwrap();
        let xc: Option<String> = redis::cmd("HGET")
            .arg(format!("{}_x", s.prefix))
            .arg("xc")
            .query(&mut r)
            .unwrap();
        let pg_x = pg
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = $1",
                &[&s.pg_now],
            )
            .unwrap()
            .get::<_, i64>(0)
            > 0
            && pg_rows(
                &mut pg,
                &format!("SELECT cat FROM {} WHERE cat = 'x'", s.pg_now),
            ) == ["x"];
        if span >= 240_000 && field_x.is_some() && xc.is_some() && pg_x {
            break windows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    change();
    (ok(&run.join().unwrap()), snapshot)
}

/// Every window has one category: `x` for the windows final before the change, `y` after;
/// its count is the window's total; MySQL, PostgreSQL and Redis hold the same windows, and the
/// windows final before the change are in Redis exactly as they were. The windowless counts
/// moved wholly to `y`: the group `x` is deleted (a row, a hash, a hash field, the fields of
/// the one-row hash).
fn check(dir: &Path, db: &mut Mysql, s: &Sinks, before: &Snapshot) {
    let totals: BTreeMap<i64, String> = csv_rows(&dir.join("totals.csv"))
        .iter()
        .map(|l| {
            let (t, c) = l.split_once(',').unwrap();
            (t.parse().unwrap(), c.to_string())
        })
        .collect();
    let mysql_rows = db.rows(&format!("SELECT cat, t, c FROM `{}`", s.table));
    let mut by_window: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for row in &mysql_rows {
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

    // PostgreSQL: the same windows (the final ones kept: closing a window is not a delete);
    // the windowless row of x deleted.
    let mut pg = postgres();
    assert_eq!(
        pg_rows(&mut pg, &format!("SELECT cat, t, c FROM {}", s.pg_win)),
        mysql_rows,
        "PostgreSQL per minute"
    );
    assert_eq!(
        pg_rows(&mut pg, &format!("SELECT cat, c FROM {}", s.pg_now)),
        ["y,60000"],
        "PostgreSQL per category: the row of x was not deleted"
    );

    // Redis per minute: the same windows; the ones final before the change untouched.
    let mut r = redis();
    let after = window_hashes(&mut r, &s.prefix);
    let mut redis_rows: Vec<String> = after
        .iter()
        .map(|(k, h)| {
            assert_eq!(h.len(), 1, "{k}: {h:?}");
            let cat = k.rsplit(':').nth(1).unwrap();
            format!("{cat},{},{}", window_of(k), h["c"])
        })
        .collect();
    redis_rows.sort();
    assert_eq!(redis_rows, mysql_rows, "Redis per minute");
    // At the snapshot, a window that ends 90 s (a minute and the 30 s lateness) before the
    // newest window written started was final, and had been written whole (two more
    // minutes of margin for the other worker's flush).
    let newest = before.keys().map(|k| window_of(k)).max().unwrap();
    let final_before: Vec<&String> = before
        .keys()
        .filter(|k| window_of(k) + 60_000 + 30_000 + 120_000 <= newest)
        .collect();
    assert!(
        !final_before.is_empty(),
        "no window was final at the change: {before:?}"
    );
    // The change was applied when it was made: the first window revised to y is one that
    // was open then, not one the stream reached later.
    let first_y_window = *by_window.keys().nth(first_y).unwrap();
    assert!(
        first_y_window <= newest + 120_000,
        "the change took effect late: first y window {first_y_window}, newest window at the \
         change {newest}: {cats:?}"
    );
    for k in final_before {
        assert!(k.contains("_w:x:"), "{k} before the change");
        assert_eq!(
            after.get(k),
            Some(&before[k]),
            "{k}: a final window changed in Redis"
        );
    }

    // Redis windowless: the hash of x deleted, its field deleted, the one-row hash of the
    // count of x emptied (its field deleted).
    let p = &s.prefix;
    let x: Option<String> = redis::cmd("HGET")
        .arg(format!("{p}:x"))
        .arg("c")
        .query(&mut r)
        .unwrap();
    assert_eq!(x, None, "the emptied group was not deleted");
    let y: String = redis::cmd("HGET")
        .arg(format!("{p}:y"))
        .arg("c")
        .query(&mut r)
        .unwrap();
    assert_eq!(y, "60000");
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{p}_f"))
        .query(&mut r)
        .unwrap();
    assert_eq!(
        fields,
        HashMap::from([("y".to_string(), "60000".to_string())]),
        "the field of the emptied group was not deleted"
    );
    let xc: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{p}_x"))
        .query(&mut r)
        .unwrap();
    assert!(xc.is_empty(), "the row that left kept its fields: {xc:?}");

    let mut keys: Vec<String> = after.into_keys().collect();
    keys.extend([format!("{p}:y"), format!("{p}_f"), format!("{p}_x")]);
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
    db.exec(&format!("DROP TABLE `{}`", s.table));
    pg.batch_execute(&format!("DROP TABLE {}; DROP TABLE {}", s.pg_win, s.pg_now))
        .unwrap();
}

#[test]
fn a_mysql_dimension_change_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let dim = unique("tally_dim");
    let sinks = Sinks::new();
    db.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8))"
    ));
    let values: Vec<String> = (0..100).map(|i| format!("('app{i}', 'x')")).collect();
    db.exec(&format!("INSERT INTO `{dim}` VALUES {}", values.join(", ")));
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=mysql\ntable.mysql.table={dim}\ntable.mysql.poll.ms=100"),
        &sinks,
    );
    let (log, before) = run_and_change(dir.path(), &sinks, || {
        Mysql::connect().exec(&format!("UPDATE `{dim}` SET cat = 'y'"));
    });
    check(dir.path(), &mut db, &sinks, &before);
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
    let sinks = Sinks::new();
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
        &sinks,
    );
    let d = dim.clone();
    let (log, before) = run_and_change(dir.path(), &sinks, move || {
        // One transaction: an update of 99 rows, a delete and an insert (app7 leaves as x and
        // comes back as y).
        Mysql::connect_binlog().exec(&format!(
            "START TRANSACTION; UPDATE `{d}` SET cat = 'y' WHERE appId <> 'app7'; \
             DELETE FROM `{d}` WHERE appId = 'app7'; INSERT INTO `{d}` VALUES ('app7', 'y'); \
             COMMIT"
        ));
    });
    check(dir.path(), &mut db, &sinks, &before);
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
    let sinks = Sinks::new();
    db.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8))"
    ));
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        &format!("table.type=mysql\ntable.mysql.table={dim}\ntable.mysql.changes=binlog"),
        &sinks,
    );
    let out = tally(&["run", "job.ec", "-w", "2", "--progress", "0"], dir.path());
    db.exec(&format!("DROP TABLE `{dim}`"));
    db.exec(&format!("DROP TABLE IF EXISTS `{}`", sinks.table));
    postgres()
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}",
            sinks.pg_win, sinks.pg_now
        ))
        .unwrap();
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
    let sinks = Sinks::new();
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
        &sinks,
    );
    let (_, before) = run_and_change(dir.path(), &sinks, || {
        postgres()
            .batch_execute(&format!("UPDATE {dim} SET cat = 'y'"))
            .unwrap();
    });
    check(dir.path(), &mut db, &sinks, &before);
    pg.batch_execute(&format!("DROP TABLE {dim}")).unwrap();
}

#[test]
fn a_redis_dimension_change_revises_open_windows_only() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let dim = unique("tally_dim");
    let sinks = Sinks::new();
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
        &sinks,
    );
    let d = dim.clone();
    let (_, before) = run_and_change(dir.path(), &sinks, move || {
        let mut r = redis();
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("HSET").arg(format!("{d}:app{i}")).arg("cat").arg("y");
        }
        let _: () = p.query(&mut r).unwrap();
    });
    check(dir.path(), &mut db, &sinks, &before);
    let keys: Vec<String> = (0..100).map(|i| format!("{dim}:app{i}")).collect();
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
}
