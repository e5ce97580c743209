//! The `tally` binary: exit codes and output of `check`, `explain`, `run` and `generate`.

mod common;

use std::path::Path;
use std::process::Command;

fn tally(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the tally binary runs")
}

#[test]
fn every_example_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("ec" | "sql")
        ) {
            let out = tally(&["check", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    checked.sort();
    // Every example of the README's two tables (a new one is added here too).
    assert_eq!(
        checked,
        [
            "accu_sw.ec",
            "accu_sw_processing_time.ec",
            "billing.ec",
            "checkpointed.ec",
            "collect_set.ec",
            "count.ec",
            "countd_per_minute.ec",
            "easycount.ec",
            "easycount.sql",
            "errors_per_app.ec",
            "foreach_paths.ec",
            "kafka_pv_uv_redis.ec",
            "kafka_to_mysql_sync.ec",
            "left_join_country.ec",
            "page_views_per_minute.sql",
            "pv_uv.ec",
            "teg_acct_test.ec",
            "teg_acct_test_pg.ec",
            "try_functions.ec",
            "users_per_minute.ec",
            "watched.ec",
            "weblog_to_mysql.ec",
            "wordcount_kafka_redis.ec",
        ]
    );
}

#[test]
fn check_fails_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bad.ec");
    std::fs::write(
        &job,
        "[system]\nsql=SELECT nosuch FROM src\n[tabledesc-1]\ntable.name=src\n\
         table.type=generator\n",
    )
    .unwrap();
    let out = tally(&["check", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.ec:2:12: error: unknown column `nosuch`"),
        "{err}"
    );
    // `run` refuses the same job before anything runs.
    let out = tally(&["run", job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

/// `check` reports every independent error of a job, in order, then how many.
#[test]
fn check_reports_every_error() {
    let job = "tests/broken/several_independent_errors.ec";
    let out = tally(&["check", job]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{job}:5:32: error: unknown column `vv`; available: k, v\n\
             {job}:6:35: error: unknown table `nosuch`; defined: src, dest\n\
             {job}:8:22: error: unknown column `zz`; available: k, v\n\
             {job}: 3 errors\n"
        )
    );
    // `run` names the first and stops.
    let out = tally(&["run", job]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("{job}:5:32: error: unknown column `vv`; available: k, v\n")
    );
}

#[test]
fn explain_prints_the_plan_and_the_dataflow() {
    let out = tally(&["explain", "examples/easycount.ec"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("== bound query =="), "{text}");
    assert!(text.contains("AGGRTIME: 60000 ms on #2"), "{text}");
    assert!(text.contains("== dataflow plan =="), "{text}");
    assert!(text.contains("window tumbling 60000 ms"), "{text}");
    assert!(text.contains("== operators =="), "{text}");
    // Timely's operators as built, each with the operators it reads.
    assert!(
        text.lines().any(
            |l| l.starts_with("  Aggregate (rows exchanged between workers) #")
                && l.contains("<- ")
        ),
        "{text}"
    );
}

/// Two queries joining one dimension on one key (here the expression lower(o.code), written
/// on either side of `=`, with different extra predicates) share one join operator; a third
/// joining it on another key gets its own.
#[test]
fn explain_shows_joins_on_one_key_sharing_an_operator() {
    let out = tally(&["explain", "tests/golden/join_on_expressions/job.ec"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The operators section: a block per plan node (a group of joins sharing an operator is
    // one block, headed by each member's node line), with its timely operators indented.
    let section = text
        .split("== operators ==\n")
        .nth(1)
        .expect("an operators section");
    let mut blocks: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for line in section.lines() {
        match line.strip_prefix("  ") {
            Some(op) => blocks.last_mut().expect("a block").1.push(op),
            None if blocks.last().is_some_and(|b| b.1.is_empty()) => {
                blocks.last_mut().unwrap().0.push(line)
            }
            None => blocks.push((vec![line], Vec::new())),
        }
    }
    let joins: Vec<(Vec<&str>, usize)> = blocks
        .iter()
        .map(|(heads, ops)| {
            let n = ops.iter().filter(|o| o.starts_with("LeftJoin ")).count();
            (
                heads
                    .iter()
                    .map(|h| h.split(" LeftJoin").next().unwrap())
                    .collect(),
                n,
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        joins,
        vec![
            (
                vec![
                    "node 3 [INSERT INTO by_order]",
                    "node 5 [INSERT INTO per_region]"
                ],
                1
            ),
            (vec!["node 8 [INSERT INTO exact_case]"], 1),
        ],
        "{section}"
    );
}

#[test]
fn run_prints_a_change_log_and_ends() {
    let out = tally(&["run", "examples/count.ec", "--progress", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stdout: +I[10]\n");
}

/// easycount.ec's change log, sorted, from its events (`generate` gives the very same):
/// 200,000 of seed 42, at most 20 s late (under the 30 s lateness), so every one counts; one
/// `+I` per app and minute with its count and distinct users.
fn easycount_change_log() -> Vec<String> {
    let out = tally(&["generate", "--rows", "200000", "--seed", "42"]);
    assert!(out.status.success());
    let mut windows: std::collections::BTreeMap<
        (String, i64),
        (u64, std::collections::BTreeSet<String>),
    > = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(';').collect();
        let t: i64 = f[2].parse().unwrap();
        let w = windows
            .entry((f[0].to_string(), t - t.rem_euclid(60_000)))
            .or_default();
        w.0 += 1;
        w.1.insert(f[1].to_string());
    }
    let mut expected: Vec<String> = windows
        .iter()
        .map(|((app, minute), (pv, users))| {
            format!("dest: +I[{app}, {minute}, {pv}, {}]", users.len())
        })
        .collect();
    expected.sort();
    expected
}

/// easycount.ec (`table.emit=final`) at -w 1 and -w 2 prints the same change log: one `+I` per
/// app and minute, never an update or a delete, and exactly the counts and distinct users
/// computed here from the generator's events. What is not deterministic is only where one
/// flush ends and the next begins (the flush interval is wall-clock time; each flush is in key
/// order), so the logs are compared as sorted lines.
#[test]
fn easycount_change_log_is_the_same_at_one_and_two_workers() {
    let log = |workers: &str| -> Vec<String> {
        let out = tally(&[
            "run",
            "examples/easycount.ec",
            "-w",
            workers,
            "--progress",
            "0",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let one = log("1");
    assert_eq!(one, easycount_change_log());
    assert_eq!(log("2"), one);
}

#[test]
fn generate_writes_the_workload() {
    let out = tally(&["generate", "--rows", "5", "--seed", "1"]);
    assert!(out.status.success());
    // The workload is seeded: these five events are the same on every machine and run (the
    // tests that compute results from `generate` rest on it).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "app4;296919;1700000000008\n\
         app3;143864;1700000000009\n\
         app21;199217;1700000000021\n\
         app0;274956;1700000000025\n\
         app6;288330;1700000000030\n"
    );
}

/// Starts `job.ec` of `dir` with two workers, for jobs that run until they are killed.
fn spawn_live_job(dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["run", "job.ec", "-w", "2", "--progress", "0"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until `path` holds `want`, or fails after a generous time.
fn wait_for(path: &Path, want: &str, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "tally exited early ({status}); {} holds {got:?}",
                path.display()
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} never held {want:?}; last {got:?}", path.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_followed_file_is_read_as_it_grows_and_when_replaced() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nsql=INSERT INTO hits SELECT page, count(1) FROM log GROUP BY page\n\
         [tabledesc-1]\ntable.name=log\ntable.fields=page,string,:ms,bigint,\n\
         table.type=file\ntable.file.path=access.log\ntable.file.follow=true\n\
         table.field.splitter=\\t\n\
         [tabledesc-2]\ntable.name=hits\ntable.fields=page,string,:n,bigint,\n\
         table.type=csv\ntable.csv.path=hits.csv\ntable.flush.ms=50\n",
    )
    .unwrap();
    std::fs::write(&log, "/a\t1\n/b\t2\n").unwrap();
    let mut child = spawn_live_job(dir.path());
    let out = dir.path().join("hits.csv");
    wait_for(&out, "page,n\n/a,1\n/b,1\n", &mut child);
    // Appended lines, one of them malformed, one not yet complete.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    write!(f, "/a\t3\nnot a record\n/c\t4\n/a\t5").unwrap();
    drop(f);
    wait_for(&out, "page,n\n/a,2\n/b,1\n/c,1\n", &mut child);
    // The file is rotated: the rest of the old one and all of the new one are read.
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    std::fs::write(&log, "/b\t6\n").unwrap();
    wait_for(&out, "page,n\n/a,2\n/b,2\n/c,1\n", &mut child);
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn two_processes_give_the_result_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let hostfile = common::write_hostfile(dir.path(), 2);
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/easycount.ec");
    let spawn = |p: &str| {
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", job.to_str().unwrap(), "-w", "2", "-n", "2", "-p", p])
            .args(["-h", hostfile.to_str().unwrap(), "--progress", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let p1 = spawn("1");
    let p0 = spawn("0");
    let out0 = p0.wait_with_output().unwrap();
    let out1 = p1.wait_with_output().unwrap();
    assert!(out0.status.success() && out1.status.success());
    let single = tally(&["run", job.to_str().unwrap(), "--progress", "0"]);
    let rows = |o: &[u8]| {
        let mut v: Vec<String> = String::from_utf8_lossy(o)
            .lines()
            .filter(|l| l.starts_with("dest: "))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    let cluster = rows(&out0.stdout);
    assert_eq!(cluster, easycount_change_log());
    assert_eq!(
        cluster,
        rows(&single.stdout),
        "process 0 writes the whole table"
    );
    assert!(
        rows(&out1.stdout).is_empty(),
        "only the first worker writes stdout"
    );
}

#[test]
fn a_dimension_change_revises_open_windows_only() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nlateness.seconds=0\n\
         sql=INSERT INTO per_country SELECT country, AGGRTIME, count(1) FROM clicks \
         LEFT JOIN ips ON clicks.ip = ips.ip GROUP BY ips.country \
         COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS\n\
         [tabledesc-1]\ntable.name=clicks\ntable.fields=ip,string,:t,bigint,\n\
         table.type=file\ntable.file.path=clicks.log\ntable.file.follow=true\n\
         [tabledesc-2]\ntable.name=ips\ntable.fields=ip,string,:country,int,\n\
         table.type=file\ntable.file.path=ips.csv\ntable.file.format=csv\n\
         table.file.follow=true\ntable.field.key=ip\n\
         [tabledesc-3]\ntable.name=per_country\n\
         table.fields=country,int,:minute,bigint,:n,bigint,\n\
         table.type=csv\ntable.csv.path=out.csv\ntable.flush.ms=50\n",
    )
    .unwrap();
    let append = |file: &str, text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join(file))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("ips.csv", "1.1.1.1,86\n");
    append("clicks.log", "");
    let mut child = spawn_live_job(dir.path());
    let out = dir.path().join("out.csv");
    let a = 1_700_000_040_000i64; // a minute boundary
    let b = a + 120_000;
    append("clicks.log", &format!("1.1.1.1,{}\n", a + 1000));
    wait_for(&out, &format!("country,minute,n\n86,{a},1\n"), &mut child);
    // A row two minutes later: with no lateness, minute `a` is now final.
    append("clicks.log", &format!("1.1.1.1,{}\n", b + 1000));
    wait_for(
        &out,
        &format!("country,minute,n\n86,{a},1\n86,{b},1\n"),
        &mut child,
    );
    // The ip moves to another country: the open minute is revised, the final one is not.
    append("ips.csv", "1.1.1.1,44\n");
    wait_for(
        &out,
        &format!("country,minute,n\n44,{b},1\n86,{a},1\n"),
        &mut child,
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn a_cluster_that_cannot_form_fails_fast_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let hostfile = common::write_hostfile(dir.path(), 2);
    let first = std::fs::read_to_string(&hostfile).unwrap();
    let first = first.lines().next().unwrap().to_string();
    let job = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/easycount.ec");
    let run = |p: &str, w: &str| {
        Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", job.to_str().unwrap(), "-w", w, "-n", "2", "-p", p])
            .args(["-h", hostfile.to_str().unwrap(), "--progress", "0"])
            .args(["--connect-timeout", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // A peer that never starts.
    let started = std::time::Instant::now();
    let alone = run("0", "1").wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&alone.stderr);
    assert!(!alone.status.success());
    assert!(err.contains("did not form the cluster within 3 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Two processes with different -w.
    let p1 = run("1", "1");
    let p0 = run("0", "2");
    let out0 = p0.wait_with_output().unwrap();
    let out1 = p1.wait_with_output().unwrap();
    assert!(!out0.status.success() && !out1.status.success());
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out0.stderr),
        String::from_utf8_lossy(&out1.stderr)
    );
    assert!(err.contains("-w"), "{err}");
    // A hostfile with too few lines.
    std::fs::write(&hostfile, format!("{first}\n")).unwrap();
    let short = run("0", "1").wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(!short.status.success());
    assert!(err.contains("has 1 address(es) but -n is 2"), "{err}");
}

/// An EXECUTE whose FOR loop never ends stops at `execute.max.iterations`: the row is counted
/// as bad (the run's summary says how many), sampled in the log with the reason, and skipped,
/// whether the loop is in a SELECT, in a join's residual predicate or in a join key. A join
/// used to evaluate its ON clause unchecked and join such a row as if the predicate or key
/// were NULL.
#[test]
fn a_stuck_execute_loop_is_a_bad_row_in_select_and_on() {
    let dir = tempfile::tempdir().unwrap();
    // Rows with v > 0 loop for ever (the index never advances); rows with v = 0 do not loop.
    std::fs::write(dir.path().join("src.txt"), "a,0\nb,3\na,5\nb,0\nc,0\n").unwrap();
    std::fs::write(dir.path().join("dim.txt"), "a,alpha\nb,beta\n").unwrap();
    let stuck = "EXECUTE(DEFINE i AS int DEFAULT 0 { FOR($i < src.v, $i := $i) } EMIT";
    let sink = |name: &str| {
        format!(
            "[tabledesc-{name}]\ntable.name={name}\ntable.fields=k,string,:v,bigint,:x,string,\n\
             table.type=csv\ntable.csv.path=out/{name}.csv\n"
        )
    };
    std::fs::write(
        dir.path().join("job.ec"),
        format!(
            "[system]\nexecute.max.iterations=1000\n\
             sql=INSERT INTO in_select SELECT k, v, {stuck} k) FROM src \
             INSERT INTO in_residual SELECT src.k, src.v, dim.name FROM src LEFT JOIN dim \
             ON src.k = dim.k AND {stuck} $i = 0) \
             INSERT INTO in_key SELECT src.k, src.v, dim.name FROM src LEFT JOIN dim \
             ON {stuck} src.k) = dim.k\n\
             [tabledesc-src]\ntable.name=src\ntable.fields=k,string,:v,bigint,\n\
             table.type=file\ntable.file.path=src.txt\ntable.field.splitter=,\n\
             [tabledesc-dim]\ntable.name=dim\ntable.fields=k,string,:name,string,\n\
             table.type=file\ntable.file.path=dim.txt\ntable.field.splitter=,\n{}{}{}",
            sink("in_select"),
            sink("in_residual"),
            sink("in_key")
        ),
    )
    .unwrap();
    for workers in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", workers, "--progress", "0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        // Two stuck rows in each of three queries.
        assert!(log.contains("rows_in=7 bad_rows=6 "), "{log}");
        for query in ["in_select", "in_residual", "in_key"] {
            let samples = log
                .lines()
                .filter(|l| {
                    l.contains(&format!("table=\"INSERT INTO {query}\""))
                        && l.contains("EXECUTE stopped after 1000 loop iterations")
                        && l.contains("`execute.max.iterations`")
                })
                .count();
            assert_eq!(samples, 2, "{query}: {log}");
        }
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("out/in_select.csv"), "k,v,x\na,0,a\nb,0,b\nc,0,c\n");
        // c has no dimension row: its residual is never evaluated, and it joins to NULL.
        let joined = "k,v,x\na,0,alpha\nb,0,beta\nc,0,\n";
        assert_eq!(read("out/in_residual.csv"), joined);
        assert_eq!(read("out/in_key.csv"), joined);
    }
}

/// The join's residual predicate is evaluated again when a dimension row changes: a kept row
/// whose predicate now fails (a stuck EXECUTE loop) leaves the results and is counted as a bad
/// row once, however many changes keep it failing; a change that mends it brings it back.
#[test]
fn a_dimension_change_that_makes_a_join_predicate_fail_counts_the_row_once() {
    let dir = tempfile::tempdir().unwrap();
    // One line of each file per batch; in a batch the dimension's change comes first. The loop
    // runs for ever when the dimension row's n is not 0.
    std::fs::write(dir.path().join("s.txt"), "a,1\nc,2\nx,3\nx,4\nx,5\nx,6\n").unwrap();
    std::fs::write(dir.path().join("d.csv"), "a,0\nc,0\na,5\nc,9\na,7\nc,0\n").unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nchunk.rows=1\nexecute.max.iterations=100\n\
         sql=INSERT INTO out SELECT s.k, s.id, d.n FROM s LEFT JOIN d ON s.k = d.k \
         AND EXECUTE(DEFINE i AS int DEFAULT 0 { FOR($i < d.n, $i := $i) } EMIT true)\n\
         [tabledesc-s]\ntable.name=s\ntable.fields=k,string,:id,bigint,\n\
         table.type=file\ntable.file.path=s.txt\ntable.field.splitter=,\n\
         [tabledesc-d]\ntable.name=d\ntable.fields=k,string,:n,bigint,\n\
         table.type=file\ntable.file.path=d.csv\ntable.file.format=csv\n\
         table.file.replay=true\ntable.field.key=k\n\
         [tabledesc-out]\ntable.name=out\ntable.fields=k,string,:id,bigint,:n,bigint,\n\
         table.type=csv\ntable.csv.path=out.csv\n",
    )
    .unwrap();
    for workers in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", workers, "--progress", "0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        // a fails at its first change and stays failing; c fails, then is mended.
        assert!(log.contains("rows_in=12 bad_rows=2 "), "{log}");
        let samples: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("EXECUTE stopped after 100 loop iterations"))
            .collect();
        assert_eq!(samples.len(), 2, "{log}");
        assert!(samples[0].contains(r#"Str(\"a\"), Int(1)"#), "{log}");
        assert!(samples[1].contains(r#"Str(\"c\"), Int(2)"#), "{log}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
            "k,id,n\nc,2,0\nx,3,\nx,4,\nx,5,\nx,6,\n"
        );
    }
}

/// Of several lines of one key in a dimension file, the last in the file wins, at any worker
/// count: the rows reach the upsert with their position in the file (chunk and place), and the
/// upsert orders them by it, not by arrival (`engine/tests/operators.rs` shuffles arrivals).
#[test]
fn the_last_line_of_a_key_in_a_dimension_file_wins_at_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ["a", "b", "c", "d"];
    // 408 lines, the value of each its line number, every key on many lines; each key's last
    // line is one of the last eight, with key z between them.
    let mut dim = String::new();
    let mut last = std::collections::BTreeMap::new();
    for line in 0..408 {
        let k = match line {
            0..400 => keys[(line / 2) % 4],
            _ if line % 2 == 1 => "z",
            _ => keys[(line - 400) / 2],
        };
        dim.push_str(&format!("{k},{line}\n"));
        last.insert(k, line);
    }
    assert_eq!(
        last.values().take(4).collect::<Vec<_>>(),
        [&400, &402, &404, &406]
    );
    std::fs::write(dir.path().join("d.csv"), dim).unwrap();
    std::fs::write(dir.path().join("s.txt"), "a,1\nb,2\nc,3\nd,4\n").unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nchunk.rows=1\n\
         sql=INSERT INTO out SELECT s.k, s.id, d.n FROM s LEFT JOIN d ON s.k = d.k\n\
         [tabledesc-s]\ntable.name=s\ntable.fields=k,string,:id,bigint,\n\
         table.type=file\ntable.file.path=s.txt\ntable.field.splitter=,\n\
         [tabledesc-d]\ntable.name=d\ntable.fields=k,string,:n,bigint,\n\
         table.type=file\ntable.file.path=d.csv\ntable.file.format=csv\ntable.field.key=k\n\
         [tabledesc-out]\ntable.name=out\ntable.fields=k,string,:id,bigint,:n,bigint,\n\
         table.type=csv\ntable.csv.path=out.csv\n",
    )
    .unwrap();
    let want = format!(
        "k,id,n\na,1,{}\nb,2,{}\nc,3,{}\nd,4,{}\n",
        last["a"], last["b"], last["c"], last["d"]
    );
    for workers in ["1", "2", "3", "2", "3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(["run", "job.ec", "-w", workers, "--progress", "0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
            want,
            "-w {workers}"
        );
    }
}
