//! Crash tests of checkpoints and exactly-once restart (issue 14): a job is killed with SIGKILL
//! at random moments while it runs (at least five times, once or more while a checkpoint is
//! being written), started again with the same job file each time, and then run to its end;
//! every sink must then hold, row for row, what an uninterrupted run of the same job without
//! checkpoint settings wrote to tables, keys and files of its own. Also the refusals: a changed
//! plan, and a corrupted newest checkpoint (the one before it is used, at another worker count).
//!
//! Sources: the generator, a bounded Kafka topic (4 partitions) and a live one written to across
//! the kills, a file followed while it is appended to, a MySQL dimension, and two processes.
//!
//! The kill times come from a seeded generator; the seed is printed, and
//! `TALLY_RECOVERY_SEED=<seed>` repeats them.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::rngs::StdRng;
use rand::Rng;

const TALLY: &str = env!("CARGO_BIN_EXE_tally");

/// Checkpointing settings of a crashed job: every 500 ms, under `state/` beside the job file.
const CHECKPOINTING: &str =
    "execution.checkpointing.interval=500 ms\nexecution.checkpointing.dir=state\n";

// ---------------------------------------------------------------------------------------------
// The state folder
// ---------------------------------------------------------------------------------------------

/// The checkpoint folder of job `stem.ec` in `dir`: `dir/state/<stem>-<8 hex>`, once a run
/// made it.
fn job_state(dir: &Path, stem: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir.join("state"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.len() == stem.len() + 9
                && name.starts_with(&format!("{stem}-"))
                && name[stem.len() + 1..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit())
        })
}

/// The `chk-NNNNNN` folders of a job's state, by number, with whether each is complete (has
/// its manifest) and whether it holds a part file (`part-W.bin`, or `.part-W.bin.tmp` while it
/// is written).
fn checkpoints(dir: &Path, stem: &str) -> Vec<(u64, PathBuf, bool, bool)> {
    let Some(root) = job_state(dir, stem) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf, bool, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let seq: u64 = name.strip_prefix("chk-")?.parse().ok()?;
            let path = e.path();
            let complete = path.join("_manifest.json").is_file();
            let parts = std::fs::read_dir(&path).is_ok_and(|d| {
                d.flatten().any(|f| {
                    let n = f.file_name().to_string_lossy().into_owned();
                    n.starts_with("part-") || n.starts_with(".part-")
                })
            });
            Some((seq, path, complete, parts))
        })
        .collect();
    out.sort_by_key(|c| c.0);
    out
}

fn newest(dir: &Path, stem: &str, complete_only: bool) -> u64 {
    checkpoints(dir, stem)
        .iter()
        .filter(|c| c.2 || !complete_only)
        .map(|c| c.0)
        .max()
        .unwrap_or(0)
}

/// A checkpoint newer than `after` being written: a part file there (in place, or still under
/// its temporary name), no manifest yet.
fn being_written(dir: &Path, stem: &str, after: u64) -> Option<PathBuf> {
    checkpoints(dir, stem)
        .into_iter()
        .find(|c| c.0 > after && c.3 && !c.2)
        .map(|c| c.1)
}

/// `tally checkpoints` lists only checkpoints that verify: each complete one has every part its
/// manifest names, of the size it says (the next run's reading of the newest also checks the
/// parts' CRC: see `run_to_end`), none is unreadable, and the others are listed as incomplete.
fn assert_listing_verifies(dir: &Path, stem: &str) {
    let out = tally(&["checkpoints", &format!("{stem}.ec")], dir);
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tally checkpoints failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = checkpoints(dir, stem);
    assert!(all.iter().any(|c| c.2), "no complete checkpoint: {listing}");
    for (seq, path, complete, _) in &all {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("chk-{seq:06} ")))
            .unwrap_or_else(|| panic!("chk-{seq:06} is not listed:\n{listing}"));
        if !complete {
            assert!(line.contains("incomplete"), "{line}\n{listing}");
            continue;
        }
        assert!(line.contains("  epoch "), "{line}\n{listing}");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path.join("_manifest.json")).unwrap())
                .unwrap();
        let parts = manifest["parts"].as_array().unwrap();
        assert_eq!(
            parts.len() as u64,
            manifest["workers"].as_u64().unwrap(),
            "{manifest}"
        );
        for part in parts {
            let file = path.join(part["file"].as_str().unwrap());
            let len = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .len();
            assert_eq!(len, part["bytes"].as_u64().unwrap(), "{}", file.display());
        }
    }
    assert!(!listing.contains("unreadable"), "{listing}");
}

// ---------------------------------------------------------------------------------------------
// Running, killing
// ---------------------------------------------------------------------------------------------

/// Starts `tally run` with `args` in `dir`, its log to `log`.
fn spawn(dir: &Path, args: &[&str], log: &Path) -> Running {
    Running(
        Command::new(TALLY)
            .arg("run")
            .args(args)
            .args(["--progress", "0"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kill {
    /// 100 to 800 ms (random) after a checkpoint of this run completed.
    Random,
    /// As soon as a checkpoint of this run has part files but no manifest yet (polled fast);
    /// as `Random` when none is seen within 3 s.
    MidCheckpoint,
}

/// Starts the job's processes (`start(run)` spawns them, `run` numbering the runs), waits until
/// a checkpoint of this run completed (the job is under way and has made progress it keeps),
/// and kills every process with SIGKILL as `kills` says, once per entry. Asserts each process
/// was still running when killed. Returns how many `MidCheckpoint` kills landed while a
/// checkpoint was being written.
fn crash(
    dir: &Path,
    stem: &str,
    kills: &[Kill],
    rng: &mut StdRng,
    start: &mut dyn FnMut(usize) -> Vec<(Running, PathBuf)>,
) -> usize {
    let mut hits = 0;
    for (i, &kind) in kills.iter().enumerate() {
        let complete_before = newest(dir, stem, true);
        let any_before = newest(dir, stem, false);
        let mut procs = start(i);
        let started = Instant::now();
        let alive = |procs: &mut Vec<(Running, PathBuf)>, what: &str| {
            for (p, log) in procs.iter_mut() {
                if let Some(status) = p.0.try_wait().unwrap() {
                    panic!(
                        "run {i}: a process ended ({status}) {what}, before kill {i}; make the \
                         input longer. Its log:\n{}",
                        log_tail(log)
                    );
                }
            }
        };
        while newest(dir, stem, true) <= complete_before {
            alive(&mut procs, "before its first checkpoint");
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "run {i}: no checkpoint completed within 90 s:\n{}",
                log_tail(&procs[0].1)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let first = started.elapsed();
        let mut caught: Option<PathBuf> = None;
        if kind == Kill::MidCheckpoint {
            let hunt = Instant::now();
            while hunt.elapsed() < Duration::from_secs(3) {
                if let Some(chk) = being_written(dir, stem, any_before) {
                    caught = Some(chk);
                    break;
                }
                std::thread::yield_now();
            }
        }
        if caught.is_none() {
            std::thread::sleep(Duration::from_millis(rng.random_range(100..=800)));
        }
        alive(&mut procs, "on its own");
        for (p, _) in procs.iter_mut() {
            p.0.kill().unwrap();
        }
        for (p, _) in procs.iter_mut() {
            p.0.wait().unwrap();
        }
        // A hit only if the checkpoint is still incomplete after the kill (its manifest was not
        // written between the look and the kill).
        let hit = caught
            .as_ref()
            .filter(|c| !c.join("_manifest.json").exists())
            .is_some();
        hits += usize::from(hit);
        println!(
            "{stem} kill {i} ({kind:?}{}): {} ms after start, first checkpoint of the run after \
             {} ms; newest complete checkpoint {complete_before} -> {}",
            if hit {
                ", while a checkpoint was being written"
            } else {
                ""
            },
            started.elapsed().as_millis(),
            first.as_millis(),
            newest(dir, stem, true)
        );
    }
    let hunted = kills.iter().filter(|k| **k == Kill::MidCheckpoint).count();
    println!("{stem}: {hits} of {hunted} kills landed while a checkpoint was being written");
    assert_listing_verifies(dir, stem);
    hits
}

/// One process of the job, for [`crash`].
fn one(dir: &Path, args: &[&str], run: usize) -> Vec<(Running, PathBuf)> {
    let log = dir.join(format!("run-{run}.log"));
    vec![(spawn(dir, args, &log), log)]
}

/// Runs the job to its end (after the kills): it must succeed, and resume from a checkpoint that
/// verifies (no "cannot be used" warning). Returns its log.
fn run_to_end(dir: &Path, args: &[&str]) -> String {
    let out = tally(&[&["run"], args, &["--progress", "0"]].concat(), dir);
    let log = ok(&out);
    assert!(
        log.contains("resuming from checkpoint"),
        "the last run did not resume:\n{log}"
    );
    assert!(!log.contains("cannot be used"), "{log}");
    log
}

/// An uninterrupted run of a job without checkpoint settings, in its own thread.
fn reference(dir: &Path, args: &[&'static str]) -> std::thread::JoinHandle<Output> {
    let d = dir.to_path_buf();
    let args: Vec<&'static str> = [&["run"], args, &["--progress", "0"]].concat();
    std::thread::spawn(move || tally(&args, &d))
}

// ---------------------------------------------------------------------------------------------
// Reading the sinks
// ---------------------------------------------------------------------------------------------

/// The table a CSV change log (`op,fields...`) describes, its rows sorted, replaying `+I`, `+U`
/// and `-D` by the first `key` fields. Fails on a change that repeats one already applied: a
/// `+I` of a key in the table, a `+U` or `-D` of a key not in it, a `+U` that changes nothing.
fn replay_changes(path: &Path, key: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut table: BTreeMap<String, String> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let (op, row) = line
            .split_once(',')
            .unwrap_or_else(|| panic!("{}:{}: `{line}`", path.display(), n + 1));
        let k = row.split(',').take(key).collect::<Vec<_>>().join(",");
        let at = format!("{}:{}: `{line}`", path.display(), n + 1);
        match op {
            "+I" => assert!(
                table.insert(k, row.to_string()).is_none(),
                "{at}: an insert of a key already in the table (a change written twice)"
            ),
            "+U" => {
                let old = table.insert(k, row.to_string());
                assert!(old.is_some(), "{at}: an update of a key not in the table");
                assert_ne!(
                    old.as_deref(),
                    Some(row),
                    "{at}: an update that changes nothing (a change written twice)"
                );
            }
            "-D" => assert!(
                table.remove(&k).is_some(),
                "{at}: a delete of a key not in the table"
            ),
            _ => panic!("{at}: unknown op"),
        }
    }
    let mut rows: Vec<String> = table.into_values().collect();
    rows.sort();
    rows
}

/// Starts a never-ending job once more (after the kills) and waits until its MySQL table
/// `n.mysql` and Redis hashes `n.redis` hold `expected_m` and `expected_r`, then checks they
/// stay so (nothing written twice later) and kills it. The run must resume from a checkpoint
/// that verifies.
fn converge(
    dir: &Path,
    n: &Names,
    expected_m: &[String],
    expected_r: &[String],
    db: &mut Mysql,
    r: &mut redis::Connection,
) {
    let log = dir.join("run-last.log");
    let mut last = spawn(dir, &["job.ec", "-w", "2"], &log);
    let caught_up = Instant::now();
    loop {
        let (m, h) = (
            db.rows_of(&n.mysql, &format!("SELECT * FROM `{}`", n.mysql)),
            redis_hashes(r, &n.redis),
        );
        if m == expected_m && h == expected_r {
            break;
        }
        assert!(
            last.0.try_wait().unwrap().is_none(),
            "the last run ended: {}",
            log_tail(&log)
        );
        assert!(
            caught_up.elapsed() < Duration::from_secs(60),
            "60 s after the last start the sinks differ from the uninterrupted run's:\n\
             MySQL {} rows, expected {}; missing {:?}; not expected {:?}\n\
             Redis {} hashes, expected {}; missing {:?}; not expected {:?}\nlog:\n{}",
            m.len(),
            expected_m.len(),
            missing(expected_m, &m),
            missing(&m, expected_m),
            h.len(),
            expected_r.len(),
            missing(expected_r, &h),
            missing(&h, expected_r),
            log_tail(&log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.rows(&format!("SELECT * FROM `{}`", n.mysql)), expected_m);
    assert_eq!(redis_hashes(r, &n.redis), expected_r);
    assert!(last.0.try_wait().unwrap().is_none());
    last.0.kill().unwrap();
    last.0.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("resuming from checkpoint"), "{text}");
    assert!(!text.contains("cannot be used"), "{text}");
}

/// The rows of `want` not in `got`.
fn missing<'a>(want: &'a [String], got: &[String]) -> Vec<&'a String> {
    want.iter().filter(|w| !got.contains(w)).collect()
}

/// The generated events (`appId;qq;dTime` lines) of `tally generate`.
fn events(dir: &Path, rows: u64, seed: u64) -> Vec<String> {
    ok(&tally(
        &[
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            &seed.to_string(),
            "-o",
            "events.txt",
        ],
        dir,
    ));
    let text = std::fs::read_to_string(dir.join("events.txt")).unwrap();
    std::fs::remove_file(dir.join("events.txt")).unwrap();
    text.lines().map(String::from).collect()
}

// ---------------------------------------------------------------------------------------------
// The queries
// ---------------------------------------------------------------------------------------------

const TUMBLING: &str = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src \
                        GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS";
const ACCU_SW: &str = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq ACCU) ua, \
                       countd(qq SW) us FROM src GROUP BY appId COORDINATE BY dTime \
                       WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS \
                       WITH SW INTERVAL 1800 SECONDS";
const WHOLE: &str = "SELECT appId, count(qq) c, countd(qq) u FROM src GROUP BY appId";

/// The names one run of a job writes to: MySQL and PostgreSQL tables, a Redis key prefix
/// (CSV files go to the run's own folder).
struct Names {
    mysql: String,
    mysql2: String,
    pg: String,
    redis: String,
    redis2: String,
}

impl Names {
    fn new(tag: &str) -> Names {
        Names {
            mysql: unique(&format!("tally_rec_{tag}")),
            mysql2: unique(&format!("tally_rec2_{tag}")),
            pg: unique(&format!("tally_rec_{tag}")),
            redis: unique(&format!("tally_rec_{tag}")),
            redis2: unique(&format!("tally_rec2_{tag}")),
        }
    }
}

fn mysql_sink(name: &str, table: &str) -> String {
    format!(
        "[tabledesc-{name}]\ntable.name={name}\ntable.type=mysql\ntable.mysql.table={table}\n\
         table.mysql.create=true\ntable.flush.ms=100\n"
    )
}

fn redis_sink(name: &str, key: &str) -> String {
    format!(
        "[tabledesc-{name}]\ntable.name={name}\ntable.type=redis\ntable.redis.key={key}\n\
         table.flush.ms=100\n"
    )
}

fn generator(rows: u64, rate: u64, seed: u64) -> String {
    format!(
        "[tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows={rows}\n\
         table.generator.rate={rate}\ntable.generator.seed={seed}\n"
    )
}

fn drop_mysql(db: &mut Mysql, tables: &[&str]) {
    for t in tables {
        db.exec(&format!("DROP TABLE IF EXISTS `{t}`"));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Generator, -w 2, every sink type
// ---------------------------------------------------------------------------------------------

fn generator_job(n: &Names, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO aggr {TUMBLING} \\\n\
         INSERT INTO accu_m {ACCU_SW} \\\n\
         INSERT INTO accu_r {ACCU_SW} \\\n\
         INSERT INTO whole_pg {WHOLE} \\\n\
         INSERT INTO whole_log {WHOLE}\n\
         {}\
         [tabledesc-aggr]\ntable.name=aggr\ntable.type=csv\ntable.csv.path=aggr.csv\n\
         {}{}\
         [tabledesc-whole_pg]\ntable.name=whole_pg\ntable.type=tpg\n\
         table.postgres.table={}\ntable.postgres.create=true\ntable.flush.ms=100\n\
         [tabledesc-whole_log]\ntable.name=whole_log\ntable.type=csv\n\
         table.csv.path=whole.csv\ntable.csv.mode=changes\ntable.flush.ms=100\n",
        if checkpointing { CHECKPOINTING } else { "" },
        generator(60_000, 6_000, 11),
        mysql_sink("accu_m", &n.mysql),
        redis_sink("accu_r", &format!("{}:{{appId}}:{{t}}", n.redis)),
        n.pg,
    )
}

#[test]
fn generator_job_killed_repeatedly_writes_every_sink_as_an_uninterrupted_run() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let mut pg = postgres();
    let mut rng = seeded("generator");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Names::new("gen_a"), Names::new("gen_b"));
    std::fs::write(crashed.path().join("job.ec"), generator_job(&a, true)).unwrap();
    std::fs::write(clean.path().join("job.ec"), generator_job(&b, false)).unwrap();
    let uninterrupted = reference(clean.path(), &["job.ec", "-w", "2"]);
    let started = Instant::now();
    use Kill::*;
    crash(
        crashed.path(),
        "job",
        &[Random, MidCheckpoint, Random, MidCheckpoint, Random, Random],
        &mut rng,
        // The second run at one worker: the checkpoint of two is merged into it, and back.
        &mut |i| {
            one(
                crashed.path(),
                &["job.ec", "-w", ["2", "1", "2", "2", "2", "2"][i]],
                i,
            )
        },
    );
    run_to_end(crashed.path(), &["job.ec", "-w", "2"]);
    ok(&uninterrupted.join().unwrap());
    println!("generator: {} s", started.elapsed().as_secs());

    let (x, y) = (crashed.path(), clean.path());
    let expected = csv_rows(&y.join("aggr.csv"));
    assert!(!expected.is_empty());
    assert_eq!(csv_rows(&x.join("aggr.csv")), expected, "CSV final");
    let expected = db.rows(&format!("SELECT * FROM `{}`", b.mysql));
    assert!(!expected.is_empty());
    assert_eq!(
        db.rows(&format!("SELECT * FROM `{}`", a.mysql)),
        expected,
        "MySQL ACCU/SW"
    );
    let expected = redis_hashes(&mut r, &b.redis);
    assert!(!expected.is_empty());
    assert_eq!(redis_hashes(&mut r, &a.redis), expected, "Redis ACCU/SW");
    let expected = pg_rows(&mut pg, &format!("SELECT * FROM \"{}\"", b.pg));
    assert!(!expected.is_empty());
    assert_eq!(
        pg_rows(&mut pg, &format!("SELECT * FROM \"{}\"", a.pg)),
        expected,
        "PostgreSQL whole stream"
    );
    let expected = replay_changes(&y.join("whole.csv"), 1);
    assert!(!expected.is_empty());
    assert_eq!(
        replay_changes(&x.join("whole.csv"), 1),
        expected,
        "CSV change log"
    );
    drop_mysql(&mut db, &[&a.mysql, &b.mysql]);
    redis_delete(&mut r, &a.redis);
    redis_delete(&mut r, &b.redis);
    pg.batch_execute(&format!("DROP TABLE \"{}\"; DROP TABLE \"{}\"", a.pg, b.pg))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. Kafka, bounded, 4 partitions, at -w 2, -n 2 and -w 1; and a live topic
// ---------------------------------------------------------------------------------------------

/// The source table of the Kafka jobs: topic `events`, read from the start.
fn kafka_source(broker: &str, group: &str, bounded: bool) -> String {
    format!(
        "[tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={broker}\n\
         table.kafka.topic=events\ntable.kafka.group={group}\ntable.kafka.offset=earliest\n\
         table.kafka.bounded={bounded}\ntable.kafka.properties.fetch.wait.max.ms=50\n\
         table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n"
    )
}

fn kafka_job(n: &Names, broker: &str, group: &str, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO tum_m {TUMBLING} \\\n\
         INSERT INTO tum_r {TUMBLING} \\\n\
         INSERT INTO accu_m {ACCU_SW} \\\n\
         INSERT INTO accu_r {ACCU_SW} \\\n\
         INSERT INTO whole_pg {WHOLE}\n\
         {}{}{}{}{}\
         [tabledesc-whole_pg]\ntable.name=whole_pg\ntable.type=tpg\n\
         table.postgres.table={}\ntable.postgres.create=true\ntable.flush.ms=100\n",
        if checkpointing { CHECKPOINTING } else { "" },
        kafka_source(broker, group, true),
        mysql_sink("tum_m", &n.mysql),
        redis_sink("tum_r", &format!("{}:{{appId}}:{{t}}", n.redis)),
        mysql_sink("accu_m", &n.mysql2),
        redis_sink("accu_r", &format!("{}:{{appId}}:{{t}}", n.redis2)),
        n.pg,
    )
}

#[test]
fn kafka_job_killed_repeatedly_resumes_at_its_offsets_and_commits_them() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let mut db = Mysql::connect();
    let mut r = redis();
    let mut pg = postgres();
    let mut rng = seeded("kafka");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lines = events(crashed.path(), 80_000, 3);
    // One record per batch: see `Broker::produce_unbatched` (tansu skips the rest of a batch
    // when a fetch starts inside it).
    let ends = broker.produce_unbatched("events", 4, &lines);
    let (a, b) = (Names::new("kafka_a"), Names::new("kafka_b"));
    let group = unique("tally_rec_group");
    std::fs::write(
        crashed.path().join("job.ec"),
        kafka_job(&a, &broker.addr, &group, true),
    )
    .unwrap();
    std::fs::write(
        clean.path().join("job.ec"),
        kafka_job(&b, &broker.addr, &unique("tally_rec_ref"), false),
    )
    .unwrap();
    // Batches of at most 500 records (each an epoch), so that checkpoints come often and
    // the run lasts long enough for the kills.
    let uninterrupted = reference(clean.path(), &["job.ec", "-w", "2", "--chunk-rows", "500"]);
    let started = Instant::now();
    use Kill::*;
    crash(
        crashed.path(),
        "job",
        &[Random, Random, MidCheckpoint, Random, Random],
        &mut rng,
        // Runs at -w 2, then two processes of one worker each, then -w 1: the partitions
        // (and the state of their keys) move between workers and processes.
        &mut |i| {
            let chunk = ["--chunk-rows", "500"];
            match i {
                1 | 4 => cluster_with(crashed.path(), i, &chunk),
                2 => one(
                    crashed.path(),
                    &[&["job.ec", "-w", "1"], &chunk[..]].concat(),
                    i,
                ),
                _ => one(
                    crashed.path(),
                    &[&["job.ec", "-w", "2"], &chunk[..]].concat(),
                    i,
                ),
            }
        },
    );
    run_to_end(
        crashed.path(),
        &["job.ec", "-w", "2", "--chunk-rows", "500"],
    );
    ok(&uninterrupted.join().unwrap());
    println!("kafka: {} s", started.elapsed().as_secs());

    for (x, y, what) in [
        (&a.mysql, &b.mysql, "tumbling"),
        (&a.mysql2, &b.mysql2, "ACCU/SW"),
    ] {
        let expected = db.rows(&format!("SELECT * FROM `{y}`"));
        assert!(!expected.is_empty());
        assert_eq!(
            db.rows(&format!("SELECT * FROM `{x}`")),
            expected,
            "MySQL {what}"
        );
    }
    for (x, y, what) in [
        (&a.redis, &b.redis, "tumbling"),
        (&a.redis2, &b.redis2, "ACCU/SW"),
    ] {
        let expected = redis_hashes(&mut r, y);
        assert!(!expected.is_empty());
        assert_eq!(redis_hashes(&mut r, x), expected, "Redis {what}");
    }
    let expected = pg_rows(&mut pg, &format!("SELECT * FROM \"{}\"", b.pg));
    assert!(!expected.is_empty());
    assert_eq!(
        pg_rows(&mut pg, &format!("SELECT * FROM \"{}\"", a.pg)),
        expected,
        "PostgreSQL whole stream"
    );
    pg.batch_execute(&format!("DROP TABLE \"{}\"; DROP TABLE \"{}\"", a.pg, b.pg))
        .unwrap();
    // Every offset read is committed to the group once the last checkpoint completed.
    assert_eq!(broker.committed_each("events", &group, 4), ends);
    drop_mysql(&mut db, &[&a.mysql, &b.mysql, &a.mysql2, &b.mysql2]);
    for p in [&a.redis, &b.redis, &a.redis2, &b.redis2] {
        redis_delete(&mut r, p);
    }
}

/// A tumbling query into MySQL and a whole-stream one into Redis over the topic, live (never
/// ending) or bounded.
fn live_kafka_job(n: &Names, broker: &str, group: &str, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO tum_m {TUMBLING} \\\n\
         INSERT INTO whole_r {WHOLE}\n\
         {}{}{}",
        if checkpointing { CHECKPOINTING } else { "" },
        // The crashed job reads live; the uninterrupted one reads what was written, to its end.
        kafka_source(broker, group, !checkpointing),
        mysql_sink("tum_m", &n.mysql),
        redis_sink("whole_r", &format!("{}:{{appId}}", n.redis)),
    )
}

/// A live topic, written to while the job runs and is killed five times, then read by one more
/// run until its sinks hold what an uninterrupted bounded read of the whole topic wrote; the
/// group's committed offsets are then the partitions' ends.
#[test]
fn a_live_kafka_topic_written_to_across_kills_is_read_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let mut db = Mysql::connect();
    let mut r = redis();
    let mut rng = seeded("live kafka");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lines = events(clean.path(), 40_000, 17);
    let (a, b) = (Names::new("live_a"), Names::new("live_b"));
    let group = unique("tally_rec_live");
    std::fs::write(
        crashed.path().join("job.ec"),
        live_kafka_job(&a, &broker.addr, &group, true),
    )
    .unwrap();
    std::fs::write(
        clean.path().join("job.ec"),
        live_kafka_job(&b, &broker.addr, &unique("tally_rec_live_ref"), false),
    )
    .unwrap();
    // One record per batch (see `Broker::produce_unbatched`); the first 4,000 before the job
    // starts, the rest (about 8 s) while it is killed.
    let mut ends = broker.produce_unbatched("events", 4, &lines[..4000]);
    let started = Instant::now();
    let written_during_kills = std::thread::scope(|scope| {
        let producer = scope.spawn(|| broker.produce_unbatched("events", 4, &lines[4000..]));
        use Kill::*;
        crash(
            crashed.path(),
            "job",
            &[Random, Random, MidCheckpoint, Random, Random],
            &mut rng,
            &mut |i| one(crashed.path(), &["job.ec", "-w", "2"], i),
        );
        let during = !producer.is_finished();
        for (e, more) in ends.iter_mut().zip(producer.join().unwrap()) {
            *e += more;
        }
        during
    });
    ok(&tally(
        &["run", "job.ec", "-w", "2", "--progress", "0"],
        clean.path(),
    ));
    let expected_m = db.rows(&format!("SELECT * FROM `{}`", b.mysql));
    let expected_r = redis_hashes(&mut r, &b.redis);
    assert!(!expected_m.is_empty() && !expected_r.is_empty());
    converge(
        crashed.path(),
        &a,
        &expected_m,
        &expected_r,
        &mut db,
        &mut r,
    );
    // The last run checkpointed every 500 ms after it had read everything.
    assert_eq!(broker.committed_each("events", &group, 4), ends);
    println!(
        "live kafka: {} s (records went on being written during the kills: \
         {written_during_kills})",
        started.elapsed().as_secs()
    );
    drop_mysql(&mut db, &[&a.mysql, &b.mysql]);
    redis_delete(&mut r, &a.redis);
    redis_delete(&mut r, &b.redis);
}

// ---------------------------------------------------------------------------------------------
// 3. A LEFT JOIN with a MySQL dimension table
// ---------------------------------------------------------------------------------------------

fn join_job(n: &Names, dim: &str, checkpointing: bool) -> String {
    let join = "FROM src LEFT JOIN dim ON src.appId = dim.appId";
    format!(
        "[system]\n{}\
         sql=INSERT INTO per_minute SELECT nvl(cat, 'none') cat, AGGRTIME t, count(qq) c, \
         countd(qq) u {join} GROUP BY nvl(cat, 'none') COORDINATE BY dTime \
         WITH AGGR INTERVAL 60 SECONDS \\\n\
         INSERT INTO per_cat SELECT nvl(cat, 'none') cat, count(qq) c {join} \
         GROUP BY nvl(cat, 'none')\n\
         {}\
         [tabledesc-dim]\ntable.name=dim\ntable.fields=appId,string,:cat,string,\n\
         table.field.key=appId\ntable.type=mysql\ntable.mysql.table={dim}\n\
         table.mysql.poll.ms=100\n\
         {}{}",
        if checkpointing { CHECKPOINTING } else { "" },
        generator(120_000, 12_000, 5),
        mysql_sink("per_minute", &n.mysql),
        mysql_sink("per_cat", &n.mysql2),
    )
}

#[test]
fn a_job_joining_a_mysql_dimension_killed_repeatedly_writes_as_an_uninterrupted_run() {
    let mut db = Mysql::connect();
    let mut rng = seeded("join");
    let dim = unique("tally_rec_dim");
    db.exec(&format!(
        "CREATE TABLE `{dim}` (appId VARCHAR(32) PRIMARY KEY, cat VARCHAR(8))"
    ));
    // Apps 0 to 79 in seven categories; the others have no row (the LEFT JOIN's NULL).
    let values: Vec<String> = (0..80)
        .map(|i| format!("('app{i}', 'c{}')", i % 7))
        .collect();
    db.exec(&format!("INSERT INTO `{dim}` VALUES {}", values.join(", ")));
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Names::new("join_a"), Names::new("join_b"));
    std::fs::write(crashed.path().join("job.ec"), join_job(&a, &dim, true)).unwrap();
    std::fs::write(clean.path().join("job.ec"), join_job(&b, &dim, false)).unwrap();
    let uninterrupted = reference(clean.path(), &["job.ec", "-w", "2"]);
    let started = Instant::now();
    use Kill::*;
    crash(
        crashed.path(),
        "job",
        &[Random, Random, MidCheckpoint, Random, Random],
        &mut rng,
        // Each run at another worker count than the one before: its state (join arrangements,
        // the dimension's delivered rows, windows, sink tables and logs) goes to the workers
        // that own each key now.
        &mut |i| {
            one(
                crashed.path(),
                &["job.ec", "-w", ["2", "1", "3", "2", "1"][i]],
                i,
            )
        },
    );
    run_to_end(crashed.path(), &["job.ec", "-w", "2"]);
    ok(&uninterrupted.join().unwrap());
    println!("join: {} s", started.elapsed().as_secs());
    for (x, y) in [(&a.mysql, &b.mysql), (&a.mysql2, &b.mysql2)] {
        let expected = db.rows(&format!("SELECT * FROM `{y}`"));
        assert!(
            expected.iter().any(|r| r.starts_with("none,")),
            "{expected:?}"
        );
        assert_eq!(db.rows(&format!("SELECT * FROM `{x}`")), expected, "{x}");
    }
    drop_mysql(&mut db, &[&a.mysql, &b.mysql, &a.mysql2, &b.mysql2, &dim]);
}

// ---------------------------------------------------------------------------------------------
// 4. Two processes (-n 2), both killed each time
// ---------------------------------------------------------------------------------------------

fn cluster_job(n: &Names, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO tum_m {TUMBLING} \\\n\
         INSERT INTO whole_r {WHOLE} \\\n\
         INSERT INTO tum_r {TUMBLING}\n\
         {}{}{}{}",
        if checkpointing { CHECKPOINTING } else { "" },
        generator(150_000, 15_000, 9),
        mysql_sink("tum_m", &n.mysql),
        redis_sink("whole_r", &format!("{}:{{appId}}", n.redis)),
        redis_sink("tum_r", &format!("{}:{{appId}}:{{t}}", n.redis2)),
    )
}

/// Both processes of a two-process cluster (one worker each) on fresh localhost ports.
fn cluster(dir: &Path, run: usize) -> Vec<(Running, PathBuf)> {
    cluster_with(dir, run, &[])
}

/// [`cluster`] with more arguments for `tally run`.
fn cluster_with(dir: &Path, run: usize, more: &[&str]) -> Vec<(Running, PathBuf)> {
    write_hostfile(dir, 2);
    ["1", "0"]
        .iter()
        .map(|p| {
            let log = dir.join(format!("run-{run}-p{p}.log"));
            let args = [
                &["job.ec", "-w", "1", "-n", "2", "-p", p, "-h", "hosts"],
                more,
            ]
            .concat();
            (spawn(dir, &args, &log), log)
        })
        .collect()
}

#[test]
fn a_two_process_job_killed_repeatedly_writes_as_an_uninterrupted_run() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let mut rng = seeded("cluster");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Names::new("cluster_a"), Names::new("cluster_b"));
    std::fs::write(crashed.path().join("job.ec"), cluster_job(&a, true)).unwrap();
    std::fs::write(clean.path().join("job.ec"), cluster_job(&b, false)).unwrap();
    let d = clean.path().to_path_buf();
    let uninterrupted = std::thread::spawn(move || run_two_processes(&d, "job.ec", "1"));
    let started = Instant::now();
    use Kill::*;
    crash(
        crashed.path(),
        "job",
        &[Random, MidCheckpoint, Random, Random, Random],
        &mut rng,
        &mut |i| cluster(crashed.path(), i),
    );
    // The last run: both processes to the end.
    let mut last = cluster(crashed.path(), 99);
    for (p, log) in last.iter_mut() {
        let status = p.0.wait().unwrap();
        let text = std::fs::read_to_string(&*log).unwrap();
        assert!(status.success(), "{}", log_tail(log));
        assert!(!text.contains("cannot be used"), "{text}");
    }
    let log0 = std::fs::read_to_string(crashed.path().join("run-99-p0.log")).unwrap();
    assert!(log0.contains("resuming from checkpoint"), "{log0}");
    uninterrupted.join().unwrap();
    println!("cluster: {} s", started.elapsed().as_secs());
    assert_cluster_sinks_equal(&mut db, &mut r, &a, &b);
}

/// The sinks of [`cluster_job`] `a` hold what `b`'s wrote, whole; then both are dropped.
fn assert_cluster_sinks_equal(db: &mut Mysql, r: &mut redis::Connection, a: &Names, b: &Names) {
    let expected = db.rows(&format!("SELECT * FROM `{}`", b.mysql));
    assert!(!expected.is_empty());
    assert_eq!(db.rows(&format!("SELECT * FROM `{}`", a.mysql)), expected);
    for (x, y) in [(&a.redis, &b.redis), (&a.redis2, &b.redis2)] {
        let expected = redis_hashes(r, y);
        assert!(!expected.is_empty());
        assert_eq!(redis_hashes(r, x), expected, "Redis {x}");
    }
    drop_mysql(db, &[&a.mysql, &b.mysql]);
    for p in [&a.redis, &b.redis, &a.redis2, &b.redis2] {
        redis_delete(r, p);
    }
}

/// Once a checkpoint of this run is complete, sends SIGTERM to process `which` of `procs`
/// only, and waits for every process to end: each must exit 0 within 30 s, one log must say
/// it stopped after a complete checkpoint, and that checkpoint is newer than the SIGTERM.
fn terminate(dir: &Path, procs: &mut [(Running, PathBuf)], which: usize) {
    let before = newest(dir, "job", true);
    let started = Instant::now();
    while newest(dir, "job", true) <= before {
        for (p, log) in procs.iter_mut() {
            assert!(
                p.0.try_wait().unwrap().is_none(),
                "a process ended before its first checkpoint:\n{}",
                log_tail(log)
            );
        }
        assert!(started.elapsed() < Duration::from_secs(90));
        std::thread::sleep(Duration::from_millis(10));
    }
    let at_signal = newest(dir, "job", true);
    let pid = procs[which].0 .0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    for (p, log) in procs.iter_mut() {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = p.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 30 s after SIGTERM:\n{}",
                log_tail(log)
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}:\n{}", log_tail(log));
    }
    let logs: Vec<String> = procs
        .iter()
        .map(|(_, log)| std::fs::read_to_string(log).unwrap())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("stopped on SIGTERM after a complete checkpoint")),
        "{logs:?}"
    );
    assert!(newest(dir, "job", true) > at_signal, "{logs:?}");
}

/// SIGTERM stops a job at a checkpoint, in one process and sent to the second process of a
/// cluster only (the first takes the checkpoint, then both stop); the runs after go on from
/// those checkpoints to exactly an uninterrupted run's tables.
#[test]
fn sigterm_to_any_process_stops_the_job_at_a_checkpoint_it_goes_on_from() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let (stopped, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Names::new("sigterm_a"), Names::new("sigterm_b"));
    std::fs::write(stopped.path().join("job.ec"), cluster_job(&a, true)).unwrap();
    std::fs::write(clean.path().join("job.ec"), cluster_job(&b, false)).unwrap();
    let d = clean.path().to_path_buf();
    let uninterrupted = std::thread::spawn(move || run_two_processes(&d, "job.ec", "1"));
    terminate(
        stopped.path(),
        &mut one(stopped.path(), &["job.ec", "-w", "2"], 0),
        0,
    );
    // `cluster` lists process 1 first.
    terminate(stopped.path(), &mut cluster(stopped.path(), 1), 0);
    run_to_end(stopped.path(), &["job.ec", "-w", "2"]);
    uninterrupted.join().unwrap();
    assert_cluster_sinks_equal(&mut db, &mut r, &a, &b);
}

// ---------------------------------------------------------------------------------------------
// 5. A followed file, appended to while the job runs and is killed
// ---------------------------------------------------------------------------------------------

fn follow_job(n: &Names, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO tum_m {TUMBLING} \\\n\
         INSERT INTO whole_r {WHOLE}\n\
         [tabledesc-src]\ntable.name=src\ntable.type=file\ntable.file.path=events.txt\n\
         table.file.follow={checkpointing}\n\
         table.fields=appId,string,:qq,string,:dTime,bigint,\ntable.field.splitter=;\n\
         {}{}",
        if checkpointing { CHECKPOINTING } else { "" },
        mysql_sink("tum_m", &n.mysql),
        redis_sink("whole_r", &format!("{}:{{appId}}", n.redis)),
    )
}

/// A followed file never ends, so neither does the job: it is killed five times while a thread
/// appends the events to its file, and then run once more, until its sinks hold the expected
/// tables (then it is killed too). The expected tables are those of an uninterrupted run of the
/// same queries without checkpoint settings over the whole file, not followed (a bounded
/// source, so that run ends): the same rows, as none of the events is late.
#[test]
fn a_followed_file_appended_to_across_kills_is_read_exactly_once() {
    let mut db = Mysql::connect();
    let mut r = redis();
    let mut rng = seeded("follow");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lines = events(clean.path(), 60_000, 13);
    let text = |part: &[String]| -> String { part.iter().map(|l| format!("{l}\n")).collect() };
    std::fs::write(clean.path().join("events.txt"), text(&lines)).unwrap();
    let (a, b) = (Names::new("follow_a"), Names::new("follow_b"));
    std::fs::write(crashed.path().join("job.ec"), follow_job(&a, true)).unwrap();
    std::fs::write(clean.path().join("job.ec"), follow_job(&b, false)).unwrap();
    let uninterrupted = reference(clean.path(), &["job.ec", "-w", "2"]);
    std::fs::write(crashed.path().join("events.txt"), text(&lines[..3000])).unwrap();
    let started = Instant::now();
    // 570 appends of 100 lines, 15 ms apart: about 9 s, over the kills.
    let path = crashed.path().join("events.txt");
    let rest = lines[3000..].to_vec();
    let appender = std::thread::spawn(move || {
        use std::io::Write;
        for chunk in rest.chunks(100) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(text(chunk).as_bytes()).unwrap();
            drop(f);
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    use Kill::*;
    crash(
        crashed.path(),
        "job",
        &[Random, Random, MidCheckpoint, Random, Random],
        &mut rng,
        &mut |i| one(crashed.path(), &["job.ec", "-w", "2"], i),
    );
    let appended_during_kills = !appender.is_finished();
    appender.join().unwrap();
    ok(&uninterrupted.join().unwrap());
    let expected_m = db.rows(&format!("SELECT * FROM `{}`", b.mysql));
    let expected_r = redis_hashes(&mut r, &b.redis);
    assert!(!expected_m.is_empty() && !expected_r.is_empty());
    converge(
        crashed.path(),
        &a,
        &expected_m,
        &expected_r,
        &mut db,
        &mut r,
    );
    println!(
        "follow: {} s (appends went on during the kills: {appended_during_kills})",
        started.elapsed().as_secs()
    );
    drop_mysql(&mut db, &[&a.mysql, &b.mysql]);
    redis_delete(&mut r, &a.redis);
    redis_delete(&mut r, &b.redis);
}

// ---------------------------------------------------------------------------------------------
// 6. Refusals, and a corrupted newest checkpoint
// ---------------------------------------------------------------------------------------------

fn refusal_job(n: &Names, window: u32, checkpointing: bool) -> String {
    format!(
        "[system]\n{}\
         sql=INSERT INTO aggr SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src \
         GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL {window} SECONDS \\\n\
         INSERT INTO whole_m {WHOLE}\n\
         {}\
         [tabledesc-aggr]\ntable.name=aggr\ntable.type=csv\ntable.csv.path=aggr.csv\n\
         {}",
        if checkpointing { CHECKPOINTING } else { "" },
        generator(150_000, 15_000, 21),
        mysql_sink("whole_m", &n.mysql),
    )
}

fn failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "tally did not fail: {err}");
    err
}

#[test]
fn restarts_refuse_a_changed_plan_and_skip_a_corrupt_checkpoint_at_another_worker_count() {
    let mut db = Mysql::connect();
    let (crashed, clean1, clean2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b1, b2) = (
        Names::new("refuse_a"),
        Names::new("refuse_b"),
        Names::new("refuse_c"),
    );
    let x = crashed.path();
    std::fs::write(x.join("job.ec"), refusal_job(&a, 60, true)).unwrap();
    std::fs::write(clean1.path().join("job.ec"), refusal_job(&b1, 60, false)).unwrap();
    std::fs::write(clean2.path().join("job.ec"), refusal_job(&b2, 120, false)).unwrap();
    let ref1 = reference(clean1.path(), &["job.ec", "-w", "2"]);
    let ref2 = reference(clean2.path(), &["job.ec", "-w", "2"]);
    let started = Instant::now();

    // A run at -w 2, killed once two checkpoints of it are complete.
    let log = x.join("run-0.log");
    let mut job = spawn(x, &["job.ec", "-w", "2"], &log);
    while checkpoints(x, "job").iter().filter(|c| c.2).count() < 2 {
        assert!(job.0.try_wait().unwrap().is_none(), "{}", log_tail(&log));
        assert!(started.elapsed() < Duration::from_secs(90));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(job.0.try_wait().unwrap().is_none(), "{}", log_tail(&log));
    job.0.kill().unwrap();
    job.0.wait().unwrap();
    let newest = newest(x, "job", true);
    let chk = |seq: u64| format!("chk-{seq:06}");

    // The newest checkpoint's part of worker 1 cut short: the one before it is used, with a
    // warning, at another worker count (its state goes to the workers owning each key now), and
    // the result is still exact.
    let part = job_state(x, "job")
        .unwrap()
        .join(chk(newest))
        .join("part-1.bin");
    let len = std::fs::metadata(&part).unwrap().len();
    File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let previous = checkpoints(x, "job")
        .iter()
        .filter(|c| c.2 && c.0 < newest)
        .map(|c| c.0)
        .max()
        .unwrap();
    let out = tally(&["run", "job.ec", "-w", "3", "--progress", "0"], x);
    let err = ok(&out);
    let warning = err
        .lines()
        .find(|l| l.contains("WARN") && l.contains(&chk(newest)))
        .unwrap_or_else(|| panic!("no warning about {}: {err}", chk(newest)));
    assert!(
        warning.contains("cannot be used")
            && warning.contains("part-1.bin")
            && warning.contains("trying the one before it"),
        "{warning}"
    );
    assert!(
        err.contains(&format!(
            "resuming from checkpoint {}",
            job_state(x, "job").unwrap().join(chk(previous)).display()
        )),
        "{err}"
    );
    ok(&ref1.join().unwrap());
    let expected_csv = csv_rows(&clean1.path().join("aggr.csv"));
    let expected_m = db.rows(&format!("SELECT * FROM `{}`", b1.mysql));
    assert!(!expected_csv.is_empty() && !expected_m.is_empty());
    assert_eq!(csv_rows(&x.join("aggr.csv")), expected_csv);
    assert_eq!(db.rows(&format!("SELECT * FROM `{}`", a.mysql)), expected_m);

    // The query changed (two-minute windows): refused, saying what to do.
    std::fs::write(x.join("job.ec"), refusal_job(&a, 120, true)).unwrap();
    let err = failed(&tally(&["run", "job.ec", "-w", "2", "--progress", "0"], x));
    assert!(
        err.contains(&format!(
            "the job's plan changed since checkpoint {}",
            job_state(x, "job").unwrap().display()
        )) && err.contains(
            " was taken, so its state does not fit; run with --from-scratch to start empty \
                 (the old checkpoints are kept aside). What changed (- then, + now):"
        ) && err.contains("60000 ms")
            && err.contains("120000 ms"),
        "{err}"
    );
    // --from-scratch: the old checkpoints go aside, and the run gives the uninterrupted
    // result of the changed job.
    ok(&tally(
        &[
            "run",
            "job.ec",
            "-w",
            "2",
            "--from-scratch",
            "--progress",
            "0",
        ],
        x,
    ));
    let aside: Vec<String> = std::fs::read_dir(job_state(x, "job").unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("previous-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    ok(&ref2.join().unwrap());
    let expected_csv = csv_rows(&clean2.path().join("aggr.csv"));
    assert!(!expected_csv.is_empty());
    assert_eq!(csv_rows(&x.join("aggr.csv")), expected_csv);
    assert_eq!(
        db.rows(&format!("SELECT * FROM `{}`", b2.mysql)),
        expected_m
    );
    assert_eq!(db.rows(&format!("SELECT * FROM `{}`", a.mysql)), expected_m);
    println!("refusals: {} s", started.elapsed().as_secs());
    drop_mysql(&mut db, &[&a.mysql, &b1.mysql, &b2.mysql]);
}
