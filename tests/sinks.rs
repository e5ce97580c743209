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
    run_with(dir, || {
        proxy.pause();
        std::thread::sleep(Duration::from_millis(1500));
        proxy.resume();
    })
}

/// Runs `job` at -w 2, calling `outage` 1.5 s in.
fn run_with(dir: &Path, outage: impl FnOnce()) -> String {
    let d = dir.to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    std::thread::sleep(Duration::from_millis(1500));
    outage();
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
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
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
    // The distinct users of the generator's 20,000 events (seed 42, the default).
    let mut events = Vec::new();
    tally_connectors::generator::write_delimited(42, 20_000, ";", &mut events).unwrap();
    let users: std::collections::BTreeSet<&str> = std::str::from_utf8(&events)
        .unwrap()
        .lines()
        .map(|l| l.split(';').nth(1).unwrap())
        .collect();
    assert_eq!(pvuv["uv"], users.len().to_string());
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
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
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
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
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

/// The hashes `<prefix>:<appId>:<t>` with fields `c` and `u` as `appId,t,c,u` lines, sorted;
/// every hash must have exactly these two fields.
fn window_hashes(r: &mut redis::Connection, prefix: &str) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(r)
        .unwrap();
    let mut got = Vec::new();
    for k in &keys {
        let h: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(k).query(r).unwrap();
        assert_eq!(h.len(), 2, "{k}: {h:?}");
        let parts: Vec<&str> = k.split(':').collect();
        got.push(format!("{},{},{},{}", parts[1], parts[2], h["c"], h["u"]));
    }
    got.sort();
    got
}

/// A real Redis server (not a proxy) killed with SIGKILL mid-run and started again on the same
/// port 1.5 s later, its data kept in its append-only file: the sink retries, and ends equal to
/// the CSV of the same run (nothing lost, nothing doubled).
#[test]
fn redis_sink_survives_its_server_killed_and_started_again() {
    let mut server = PrivateRedis::start();
    let prefix = unique("tally_restart");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=redis\ntable.redis.url={}\ntable.redis.key={prefix}:{{appId}}:{{t}}",
            server.url()
        ),
    );
    let mut before = Vec::new();
    let log = run_with(dir.path(), || {
        before = window_hashes(&mut server.connect(), &prefix);
        server.kill();
        std::thread::sleep(Duration::from_millis(1500));
        server.start_again();
    });
    assert!(log.contains("retrying"), "the restart was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
    written_mid_run(&before, &expected);
    assert_eq!(window_hashes(&mut server.connect(), &prefix), expected);
}

/// What a sink held when its server went away (`before`, rows `appId,t,c,u`) was taken in the
/// middle of the run: some windows, not all, each a window of the final table (`expected`).
/// The moment is wall-clock time, so which windows is not fixed; these are the relations that
/// are.
fn written_mid_run(before: &[String], expected: &[String]) {
    let window = |row: &String| row.split(',').take(2).collect::<Vec<_>>().join(",");
    let final_windows: std::collections::BTreeSet<String> = expected.iter().map(window).collect();
    assert!(
        !before.is_empty() && before.len() < expected.len(),
        "the server went away after {} of {} rows: not in the middle of the run",
        before.len(),
        expected.len()
    );
    for row in before {
        assert!(
            final_windows.contains(&window(row)),
            "{row}, written before, is no window of the result"
        );
    }
}

/// A private PostgreSQL cluster restarted (`pg_ctl restart -m fast`) mid-run: every connection
/// is cut and the server is down for a moment; the sink ends equal to the CSV of the run.
#[test]
fn postgres_sink_survives_a_restart_of_its_server() {
    let server = PrivatePostgres::start();
    let table = unique("tally_restart");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=postgres\ntable.postgres.port={}\ntable.postgres.table={table}\n\
             table.postgres.create=true",
            server.port
        ),
    );
    let query = format!("SELECT \"appId\", t, c, u FROM \"{table}\"");
    let mut before = Vec::new();
    let log = run_with(dir.path(), || {
        before = pg_rows(&mut server.client("test"), &query);
        server.restart();
    });
    assert!(log.contains("retrying"), "the restart was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
    written_mid_run(&before, &expected);
    assert_eq!(pg_rows(&mut server.client("test"), &query), expected);
}

/// A private MariaDB killed with SIGKILL mid-run (a crash: InnoDB recovers the committed
/// flushes when it starts again) and started again on the same port 1.5 s later.
#[test]
fn mysql_sink_survives_its_server_killed_and_started_again() {
    let mut server = PrivateMysql::start();
    let table = unique("tally_restart");
    let dir = tempfile::tempdir().unwrap();
    job(
        dir.path(),
        30_000,
        6_000,
        &format!(
            "table.type=mysql\ntable.mysql.port={}\ntable.mysql.table={table}\n\
             table.mysql.create=true",
            server.port
        ),
    );
    let query = format!("SELECT appId, t, c, u FROM test.`{table}`");
    let mut before = Vec::new();
    let log = run_with(dir.path(), || {
        before = server.connect().rows_of(&table, &query);
        server.kill();
        std::thread::sleep(Duration::from_millis(1500));
        server.start_again();
    });
    assert!(log.contains("retrying"), "the restart was not seen: {log}");
    let expected = csv_rows(&dir.path().join("expected.csv"));
    assert_eq!(expected, generator_minutes(7, 30_000, Some(6_000)));
    written_mid_run(&before, &expected);
    assert_eq!(server.connect().rows(&query), expected);
}

/// `table.redis.ttl` is set when a key is created and never refreshed by later writes: while
/// flushes keep updating the same keys, their absolute expiry time (PEXPIRETIME) stays the same
/// in the three layouts (a hash per row, one hash with a field per row, one hash of columns).
#[test]
fn redis_ttl_is_set_when_a_key_is_created_and_not_refreshed() {
    let mut r = redis();
    let p = unique("tally_ttl");
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[system]\n\
         sql=INSERT INTO per_row SELECT appId, count(qq) c FROM src GROUP BY appId \\\n\
         INSERT INTO fields SELECT appId, count(qq) c FROM src GROUP BY appId \\\n\
         INSERT INTO columns SELECT count(qq) pv FROM src GROUP BY 1\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows=5000\n\
         table.generator.rate=1000\n\
         [tabledesc-per_row]\ntable.name=per_row\ntable.type=redis\n\
         table.redis.key={p}:{{appId}}\ntable.redis.ttl=100\ntable.flush.ms=100\n\
         [tabledesc-fields]\ntable.name=fields\ntable.type=redis\ntable.redis.hash={p}_f\n\
         table.redis.field={{appId}}\ntable.redis.ttl=100\ntable.flush.ms=100\n\
         [tabledesc-columns]\ntable.name=columns\ntable.type=redis\ntable.redis.hash={p}_c\n\
         table.redis.ttl=100\ntable.flush.ms=100\n"
    );
    std::fs::write(dir.path().join("job.ec"), text).unwrap();
    let d = dir.path().to_path_buf();
    let run =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));
    // (key, field) -> the (value, PEXPIRETIME) pairs seen.
    let watched = [
        (format!("{p}:app0"), "c".to_string()),
        (format!("{p}_f"), "app0".to_string()),
        (format!("{p}_c"), "pv".to_string()),
    ];
    let mut seen: Vec<Vec<(String, i64)>> = vec![Vec::new(); watched.len()];
    while !run.is_finished() {
        for (i, (key, field)) in watched.iter().enumerate() {
            let (value, expiry): (Option<String>, i64) = redis::pipe()
                .atomic()
                .cmd("HGET")
                .arg(key)
                .arg(field)
                .cmd("PEXPIRETIME")
                .arg(key)
                .query(&mut r)
                .unwrap();
            if let Some(v) = value {
                seen[i].push((v, expiry));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(&run.join().unwrap());
    for (i, (key, _)) in watched.iter().enumerate() {
        let values: std::collections::BTreeSet<&String> = seen[i].iter().map(|s| &s.0).collect();
        assert!(
            values.len() >= 5,
            "{key}: too few updates seen to tell: {:?}",
            seen[i]
        );
        let expiries: std::collections::BTreeSet<i64> = seen[i].iter().map(|s| s.1).collect();
        assert_eq!(
            expiries.len(),
            1,
            "{key}: the expiry time moved while the key was updated: {:?}",
            seen[i]
        );
        let expiry = *expiries.first().unwrap();
        assert!(expiry > 0, "{key} has no time to live: {expiry}");
        let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut r).unwrap();
        assert!(ttl > 0 && ttl < 100, "{key}: TTL {ttl} after the run");
    }
    let _: () = redis::cmd("DEL")
        .arg(format!("{p}_f"))
        .arg(format!("{p}_c"))
        .query(&mut r)
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{p}:*"))
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query(&mut r).unwrap();
}

/// A sink column or database name that MySQL or PostgreSQL cannot take is refused by `tally
/// check` and by `tally run`, before anything runs, naming the name and the setting's line.
#[test]
fn database_sinks_refuse_a_bad_column_name_and_a_bad_database_name() {
    let dir = tempfile::tempdir().unwrap();
    for ty in ["mysql", "postgres"] {
        for (setting, message) in [
            (
                "table.fields=appId,string,:t,bigint,:c,bigint,:u-x,bigint,".to_string(),
                format!("column `u-x` of `dest` cannot be a {ty} column name"),
            ),
            (
                format!("table.{ty}.db=test;drop"),
                format!("`test;drop` is not a valid {ty} database name"),
            ),
        ] {
            job(
                dir.path(),
                100,
                100_000,
                &format!("table.type={ty}\n{setting}"),
            );
            let check: &[&str] = &["check", "job.ec"];
            let run: &[&str] = &["run", "job.ec", "--progress", "0"];
            for args in [check, run] {
                let out = tally(args, dir.path());
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(!out.status.success(), "{ty} {args:?} {setting}: {err}");
                // The line of the setting (line 20 of the job).
                assert!(
                    err.contains("job.ec:20:") && err.contains(&message),
                    "{ty} {args:?} {setting}: {err}"
                );
                assert!(
                    !dir.path().join("expected.csv").exists(),
                    "{ty}: the job ran"
                );
            }
        }
    }
}

/// DECIMAL values reach MySQL DECIMAL(10,2) and PostgreSQL NUMERIC(10,2) columns exactly:
/// 0.10 + 0.20 + 0.30 is 0.60 (a double sum would be 0.6000000000000001), inputs are rounded
/// HALF_UP to the column's scale (-0.955 reads -0.96, 1.005 reads 1.01), avg has Hive's scale
/// of 6; a created table gets the result's DECIMAL(p,s) column types.
#[test]
fn decimal_results_are_exact_in_mysql_and_postgres() {
    let mut db = Mysql::connect();
    let mut pg = postgres();
    let (my, made, pgt) = (
        unique("tally_dec"),
        unique("tally_decc"),
        unique("tally_dec"),
    );
    db.exec(&format!(
        "CREATE TABLE `{my}` (acct VARCHAR(20) PRIMARY KEY, total DECIMAL(10,2), \
         mean DECIMAL(14,6))"
    ));
    pg.batch_execute(&format!(
        "CREATE TABLE \"{pgt}\" (acct TEXT PRIMARY KEY, total NUMERIC(10,2), mean NUMERIC(14,6))"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pay.txt"),
        "A,0.10\nA,0.20\nA,0.30\nB,12345678.90\nB,0.05\nB,-0.955\nC,1.005\n",
    )
    .unwrap();
    let query = "SELECT acct, sum(amount) total, avg(amount) mean FROM pay GROUP BY acct";
    let sink = |name: &str, settings: String| {
        format!(
            "[tabledesc-{name}]\ntable.name={name}\ntable.flush.ms=100\n\
             table.fields=acct,string,:total,decimal(20,2),:mean,decimal(14,6),\n{settings}\n"
        )
    };
    let text = format!(
        "[system]\nsql=INSERT INTO my {query}; INSERT INTO made {query}; INSERT INTO pg {query}\n\
         [tabledesc-pay]\ntable.name=pay\ntable.fields=acct,string,:amount,decimal(10,2),\n\
         table.type=file\ntable.file.path=pay.txt\n{}{}{}",
        sink("my", format!("table.type=mysql\ntable.mysql.table={my}")),
        sink(
            "made",
            format!("table.type=mysql\ntable.mysql.table={made}\ntable.mysql.create=true")
        ),
        sink("pg", format!("table.type=tpg\ntable.postgres.table={pgt}")),
    );
    std::fs::write(dir.path().join("job.ec"), text).unwrap();
    ok(&tally(&["run", "job.ec", "--progress", "0"], dir.path()));
    let want = [
        "A,0.60,0.200000",
        "B,12345677.99,4115225.996667",
        "C,1.01,1.010000",
    ];
    assert_eq!(
        db.rows(&format!("SELECT acct, total, mean FROM `{my}`")),
        want
    );
    assert_eq!(
        db.rows(&format!("SELECT acct, total, mean FROM `{made}`")),
        want
    );
    assert_eq!(
        db.rows(&format!(
            "SELECT concat(COLUMN_NAME, ' ', COLUMN_TYPE) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = '{made}'"
        )),
        [
            "acct varchar(255)",
            "mean decimal(14,6)",
            "total decimal(20,2)"
        ]
    );
    assert_eq!(
        pg_rows(&mut pg, &format!("SELECT acct, total, mean FROM \"{pgt}\"")),
        want
    );
    db.exec(&format!("DROP TABLE `{my}`"));
    db.exec(&format!("DROP TABLE `{made}`"));
    pg.batch_execute(&format!("DROP TABLE \"{pgt}\"")).unwrap();
}
