//! Redis, MySQL and PostgreSQL sinks against real servers: each result table must end up
//! exactly equal to the same query's CSV table written by the same run, also when the server
//! goes away in the middle of the run (nothing lost, nothing doubled).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// A generator job (`rows` events at `rate`/s, five minutes of event time per 30,000 rows)
/// whose per-app, per-minute counts go to a CSV file and to `sink`.
fn job(dir: &Path, rows: u64, rate: u64, sink: &str) -> std::path::PathBuf {
    let text = format!(
        "[system]\n\
         sql=INSERT INTO expected SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src \\\n\
         GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\\n\
         INSERT INTO dest SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src \\\n\
         GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows={rows}\n\
         table.generator.rate={rate}\ntable.generator.seed=7\n\
         [tabledesc-expected]\ntable.name=expected\ntable.type=csv\ntable.csv.path=expected.csv\n\
         [tabledesc-dest]\ntable.name=dest\ntable.flush.ms=100\n{sink}\n"
    );
    let path = dir.join("job.ec");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `job` at -w 2 while the proxy cuts the server off for 1.5 s after 1.5 s.
fn run_with_outage(dir: &Path, proxy: &Proxy) -> String {
    let d = dir.to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    std::thread::sleep(Duration::from_millis(1500));
    proxy.pause();
    std::thread::sleep(Duration::from_millis(1500));
    proxy.resume();
    let out = run.join().unwrap();
    ok(&out)
}

#[test]
fn redis_per_row_hashes_survive_an_outage() {
    let mut r = redis();
    let proxy = Proxy::start(REDIS);
    let prefix = unique("tally_sink");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=redis\ntable.redis.url=redis://127.0.0.1:{}/\n\
             table.redis.key={prefix}:{{appId}}:{{t}}\ntable.redis.ttl=600",
            proxy.port
        ),
    );
    let log = run_with_outage(dir.path(), &proxy);
    assert!(log.contains("retrying"), "the outage was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert!(expected.len() >= 100, "{} rows", expected.len());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut r)
        .unwrap();
    let mut got = Vec::new();
    for k in &keys {
        let h: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(k).query(&mut r).unwrap();
        let parts: Vec<&str> = k.split(':').collect();
        got.push(format!("{},{},{},{}", parts[1], parts[2], h["c"], h["u"]));
        assert_eq!(h.len(), 2, "{k}: {h:?}");
        let ttl: i64 = redis::cmd("TTL").arg(k).query(&mut r).unwrap();
        assert!(ttl > 0 && ttl <= 600, "{k}: ttl {ttl}");
    }
    got.sort();
    assert_eq!(got, expected);
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
}

#[test]
fn redis_one_hash_per_table() {
    let mut r = redis();
    let name = unique("tally_hash");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[system]\n\
         sql=INSERT INTO pvuv SELECT count(qq) pv, countd(qq) uv FROM src GROUP BY 1 \\\n\
         INSERT INTO per_app SELECT appId, count(qq) c FROM src GROUP BY appId \\\n\
         INSERT INTO expected SELECT appId, count(qq) c FROM src GROUP BY appId\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows=20000\n\
         [tabledesc-pvuv]\ntable.name=pvuv\ntable.type=redis\ntable.redis.hash={name}_pvuv\n\
         table.redis.ttl=100\n\
         [tabledesc-per_app]\ntable.name=per_app\ntable.type=redis\ntable.redis.hash={name}_apps\n\
         table.redis.field=app:{{appId}}\n\
         [tabledesc-expected]\ntable.name=expected\ntable.type=csv\ntable.csv.path=expected.csv\n"
    );
    std::fs::write(dir.path().join("job.ec"), text).unwrap();
    ok(&tally(
        &["run", "job.ec", "-w", "2", "--progress", "0"],
        dir.path(),
    ));
    let pvuv: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{name}_pvuv"))
        .query(&mut r)
        .unwrap();
    assert_eq!(pvuv["pv"], "20000");
    let uv: u64 = pvuv["uv"].parse().unwrap();
    assert!(uv > 10_000 && uv < 20_000, "{uv}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{name}_pvuv"))
        .query(&mut r)
        .unwrap();
    assert!(ttl > 0 && ttl <= 100, "ttl {ttl}");
    let apps: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{name}_apps"))
        .query(&mut r)
        .unwrap();
    let mut got: Vec<String> = apps
        .iter()
        .map(|(k, v)| format!("{},{v}", k.trim_start_matches("app:")))
        .collect();
    got.sort();
    assert_eq!(got, csv_rows(&dir.path().join("expected.csv")));
    let _: () = redis::cmd("DEL")
        .arg(format!("{name}_pvuv"))
        .arg(format!("{name}_apps"))
        .query(&mut r)
        .unwrap();
}

#[test]
fn mysql_upserts_by_primary_key_and_survive_an_outage() {
    let mut db = Mysql::connect();
    let proxy = Proxy::start(MYSQL);
    let table = unique("tally_sink");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=mysql\ntable.mysql.port={}\ntable.mysql.table={table}\n\
             table.mysql.create=true",
            proxy.port
        ),
    );
    let log = run_with_outage(dir.path(), &proxy);
    assert!(log.contains("retrying"), "the outage was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert!(expected.len() >= 100, "{} rows", expected.len());
    assert_eq!(
        db.rows(&format!("SELECT appId, t, c, u FROM `{table}`")),
        expected
    );
    db.exec(&format!("DROP TABLE `{table}`"));
}

#[test]
fn postgres_upserts_by_primary_key_and_survive_an_outage() {
    let mut pg = postgres();
    let proxy = Proxy::start(POSTGRES);
    let table = unique("tally_sink");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=tpg\ntable.postgres.port={}\ntable.postgres.table={table}\n\
             table.postgres.create=true",
            proxy.port
        ),
    );
    let log = run_with_outage(dir.path(), &proxy);
    assert!(log.contains("retrying"), "the outage was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert_eq!(
        pg_rows(
            &mut pg,
            &format!("SELECT \"appId\", t, c, u FROM \"{table}\"")
        ),
        expected
    );
    pg.batch_execute(&format!("DROP TABLE \"{table}\""))
        .unwrap();
}

#[test]
fn database_sinks_refuse_a_wrong_key_bad_names_and_never_print_passwords() {
    let mut db = Mysql::connect();
    let mut pg = postgres();
    let table = unique("tally_pk");
    db.exec(&format!(
        "CREATE TABLE `{table}` (appId VARCHAR(64), t BIGINT, c BIGINT, u BIGINT, PRIMARY KEY \
         (appId))"
    ));
    pg.batch_execute(&format!(
        "CREATE TABLE \"{table}\" (\"appId\" TEXT, t BIGINT, c BIGINT, u BIGINT, PRIMARY KEY \
         (\"appId\"))"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for ty in ["mysql", "postgres"] {
        job(
            dir.path(),
            100,
            100_000,
            &format!("table.type={ty}\ntable.{ty}.table={table}"),
        );
        let out = tally(&["run", "job.ec", "--progress", "0"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("primary key is (appId)") && err.contains("result key is (appId, t)"),
            "{ty}: {err}"
        );
        job(
            dir.path(),
            100,
            100_000,
            &format!("table.type={ty}\ntable.{ty}.table=bad`name"),
        );
        // Refused by the planner, before anything runs.
        let out = tally(&["check", "job.ec"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains(&format!("`bad`name` is not a valid {ty} table name")),
            "{ty}: {err}"
        );
        // A wrong password from the environment: refused, and never shown.
        job(
            dir.path(),
            100,
            100_000,
            &format!(
                "table.type={ty}\ntable.{ty}.table={table}\ntable.{ty}.user=tally_nobody\n\
                 table.{ty}.password=${{TALLY_TEST_SECRET}}"
            ),
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "--progress", "0"])
            .env("TALLY_TEST_SECRET", "hunter2-do-not-print")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{ty}: {all}");
        assert!(!all.contains("hunter2"), "{ty} printed the password: {all}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["explain", "job.ec"])
            .env("TALLY_TEST_SECRET", "hunter2-do-not-print")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let all = String::from_utf8_lossy(&out.stdout);
        assert!(all.contains("***") && !all.contains("hunter2"), "{all}");
    }
    db.exec(&format!("DROP TABLE `{table}`"));
    pg.batch_execute(&format!("DROP TABLE \"{table}\""))
        .unwrap();
}

#[test]
fn a_redis_password_is_never_printed() {
    require("Redis", REDIS);
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        100,
        100_000,
        "table.type=redis\ntable.redis.url=redis://:${TALLY_TEST_SECRET}@127.0.0.1:6379/",
    );
    for cmd in ["run", "explain"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args([cmd, "job.ec"])
            .env("TALLY_TEST_SECRET", "hunter2-do-not-print")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // This server has no password: AUTH is refused and the job stops at once.
        assert_eq!(out.status.success(), cmd == "explain", "{cmd}: {all}");
        assert!(
            !all.contains("hunter2"),
            "{cmd} printed the password: {all}"
        );
    }
}

#[test]
fn two_processes_from_a_file_write_like_one() {
    let mut r = redis();
    let mut db = Mysql::connect();
    let prefix = unique("tally_fcluster");
    let table = unique("tally_fcluster");
    let dir = tempfile::tempdir().unwrap();
    ok(&tally(
        &[
            "generate",
            "--rows",
            "30000",
            "--seed",
            "5",
            "-o",
            "events.txt",
        ],
        dir.path(),
    ));
    let query = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src GROUP BY appId \
                 COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS";
    let source = "[tabledesc-src]\ntable.name=src\ntable.type=file\ntable.file.path=events.txt\n\
                  table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n";
    std::fs::write(
        dir.path().join("one.ec"),
        format!(
            "[system]\nsql=INSERT INTO c {query}\n{source}\
             [tabledesc-c]\ntable.name=c\ntable.type=csv\ntable.csv.path=expected.csv\n"
        ),
    )
    .unwrap();
    ok(&tally(&["run", "one.ec", "--progress", "0"], dir.path()));
    let expected = csv_rows(&dir.path().join("expected.csv"));
    std::fs::write(
        dir.path().join("two.ec"),
        format!(
            "[system]\nsql=INSERT INTO c {query} \\\nINSERT INTO r {query} \\\n\
             INSERT INTO m {query}\n{source}\
             [tabledesc-c]\ntable.name=c\ntable.type=csv\ntable.csv.path=got.csv\n\
             [tabledesc-r]\ntable.name=r\ntable.type=redis\ntable.redis.key={prefix}:{{appId}}:{{t}}\n\
             [tabledesc-m]\ntable.name=m\ntable.type=mysql\ntable.mysql.table={table}\n\
             table.mysql.create=true\n"
        ),
    )
    .unwrap();
    run_two_processes(dir.path(), "two.ec", "2");
    assert_eq!(csv_rows(&dir.path().join("got.csv")), expected);
    assert_eq!(
        db.rows(&format!("SELECT appId, t, c, u FROM `{table}`")),
        expected
    );
    assert_eq!(take_window_hashes(&mut r, &prefix), expected);
    db.exec(&format!("DROP TABLE `{table}`"));
}
