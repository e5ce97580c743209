//! Checkpoints in an object store: a job checkpointing to `s3://bucket/some/prefix` on an
//! S3-compatible server (moto's server mode, started by this test on a free loopback port) is
//! killed with SIGKILL three times at seeded random moments after a checkpoint of the run
//! completed, then run to its end; its CSV `final` and Redis sinks must then hold, row for row,
//! what an uninterrupted run without checkpoints wrote. Also `tally checkpoints` of the job,
//! and the errors at start for a bucket that does not exist and an endpoint nothing answers.
//!
//! moto lives in a private virtual environment, `~/.cache/tally-moto` (or `$TALLY_MOTO_VENV`),
//! which ./scripts/services.sh installs. The kill times come from a seeded generator; the seed
//! is printed, and `TALLY_RECOVERY_SEED=<seed>` repeats them.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{csv_rows, free_port, ok, redis, redis_delete, redis_hashes, seeded, unique, Running};
use rand::Rng;

const TALLY: &str = env!("CARGO_BIN_EXE_tally");
const BUCKET: &str = "tally-ckpt";
const PREFIX: &str = "some/prefix";

// ---------------------------------------------------------------------------------------------
// Helpers of this file (the rest are in tests/common)
// ---------------------------------------------------------------------------------------------

fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The AWS environment of a tally run against moto: credentials (moto takes any), nothing
/// else of the caller's.
fn aws_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
}

fn tally(args: &[&str], dir: &Path) -> Output {
    aws_env(&mut Command::new(TALLY))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tally binary runs")
}

// ---------------------------------------------------------------------------------------------
// moto
// ---------------------------------------------------------------------------------------------

/// moto's S3 server on a free loopback port, killed when dropped.
struct Moto {
    port: u16,
    _process: Running,
    _dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let venv = std::env::var_os("TALLY_MOTO_VENV").map_or_else(
            || PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/tally-moto"),
            PathBuf::from,
        );
        let server = venv.join("bin/moto_server");
        assert!(
            server.is_file(),
            "{} is missing: this test needs moto's S3 server. Install it with \
             ./scripts/services.sh, or: python3 -m venv {v} && {v}/bin/pip install \
             'moto[server]' boto3 (apt-get install python3-venv first if venv is missing)",
            server.display(),
            v = venv.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("moto.log");
        let process = Running(
            Command::new(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(File::create(&log).unwrap())
                .stderr(File::create(dir.path().join("moto.err")).unwrap())
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not listen on 127.0.0.1:{port} within 30 s:\n{}",
                log_tail(&dir.path().join("moto.err"), 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let moto = Moto {
            port,
            _process: process,
            _dir: dir,
        };
        let (status, body) = moto.http("PUT", &format!("/{BUCKET}"));
        assert_eq!(status, 200, "creating the bucket: {body}");
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An unsigned request (moto takes them): the status and the body.
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }

    /// The keys under `prefix` (ListObjectsV2, every page).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{BUCKET}?list-type=2&prefix={}", encode(prefix));
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let (status, body) = self.http("GET", &path);
            assert_eq!(status, 200, "listing {prefix}: {body}");
            out.extend(tags(&body, "Key"));
            token = tags(&body, "NextContinuationToken").pop();
            if token.is_none() {
                return out;
            }
        }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The texts of every `<tag>...</tag>` in an XML body.
fn tags(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// The newest checkpoint of the job with a manifest in the store (0: none).
fn newest_complete(moto: &Moto) -> u64 {
    moto.keys(&format!("{PREFIX}/"))
        .iter()
        .filter_map(|k| {
            let chk = k.strip_suffix("/_manifest.json")?.rsplit('/').next()?;
            chk.strip_prefix("chk-")?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------------------------

const TUMBLING: &str = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq) u FROM src \
                        GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS";
const ACCU_SW: &str = "SELECT appId, AGGRTIME t, count(qq) c, countd(qq ACCU) ua, \
                       countd(qq SW) us FROM src GROUP BY appId COORDINATE BY dTime \
                       WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS \
                       WITH SW INTERVAL 1800 SECONDS";

/// The generator into a CSV `final` table and a Redis sink; `system` is the rest of the
/// `[system]` section (checkpoint settings).
fn job(redis_prefix: &str, system: &str) -> String {
    format!(
        "[system]\n{system}\
         sql=INSERT INTO aggr {TUMBLING} \\\n\
         INSERT INTO accu_r {ACCU_SW}\n\
         [tabledesc-src]\ntable.name=src\ntable.type=generator\ntable.generator.rows=60000\n\
         table.generator.rate=6000\ntable.generator.seed=11\n\
         [tabledesc-aggr]\ntable.name=aggr\ntable.type=csv\ntable.csv.path=aggr.csv\n\
         [tabledesc-accu_r]\ntable.name=accu_r\ntable.type=redis\n\
         table.redis.key={redis_prefix}:{{appId}}:{{t}}\ntable.flush.ms=100\n"
    )
}

/// Checkpoints every 500 ms to `s3://tally-ckpt/some/prefix` on moto, the endpoint and path
/// style in the job, the credentials from the AWS_* environment.
fn s3_settings(moto: &Moto) -> String {
    format!(
        "execution.checkpointing.interval=500 ms\n\
         execution.checkpointing.dir=s3://{BUCKET}/{PREFIX}\n\
         s3.endpoint={}\ns3.path.style.access=true\ns3.region=us-east-1\n",
        moto.endpoint()
    )
}

fn spawn(dir: &Path, args: &[&str], log: &Path) -> Running {
    Running(
        aws_env(&mut Command::new(TALLY))
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

#[test]
fn a_job_checkpointing_to_s3_killed_repeatedly_writes_as_an_uninterrupted_run() {
    let moto = Moto::start();
    let mut r = redis();
    let mut rng = seeded("object store");
    let (crashed, clean) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (unique("tally_s3_a"), unique("tally_s3_b"));
    std::fs::write(crashed.path().join("job.ec"), job(&a, &s3_settings(&moto))).unwrap();
    std::fs::write(clean.path().join("job.ec"), job(&b, "")).unwrap();
    let d = clean.path().to_path_buf();
    let uninterrupted =
        std::thread::spawn(move || tally(&["run", "job.ec", "-w", "2", "--progress", "0"], &d));

    let x = crashed.path();
    for i in 0..3 {
        let before = newest_complete(&moto);
        let log = x.join(format!("run-{i}.log"));
        let mut p = spawn(x, &["job.ec", "-w", "2"], &log);
        let started = Instant::now();
        while newest_complete(&moto) <= before {
            if let Some(status) = p.0.try_wait().unwrap() {
                panic!(
                    "run {i} ended ({status}) before its first checkpoint:\n{}",
                    log_tail(&log, 30)
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "run {i}: no checkpoint completed in the store within 90 s:\n{}",
                log_tail(&log, 30)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(100..=800)));
        if let Some(status) = p.0.try_wait().unwrap() {
            panic!(
                "run {i} ended on its own ({status}) before kill {i}; make the input longer:\n{}",
                log_tail(&log, 30)
            );
        }
        p.0.kill().unwrap();
        p.0.wait().unwrap();
        println!(
            "kill {i}: {} ms after start; newest complete checkpoint {before} -> {}",
            started.elapsed().as_millis(),
            newest_complete(&moto)
        );
    }
    let log = ok(&tally(&["run", "job.ec", "-w", "2", "--progress", "0"], x));
    assert!(
        log.contains(&format!(
            "resuming from checkpoint s3://{BUCKET}/{PREFIX}/job-"
        )),
        "the last run did not resume from the store:\n{log}"
    );
    assert!(!log.contains("cannot be used"), "{log}");
    assert!(!log.contains("failed"), "{log}");
    ok(&uninterrupted.join().unwrap());

    let expected = csv_rows(&clean.path().join("aggr.csv"));
    assert!(!expected.is_empty());
    assert_eq!(csv_rows(&x.join("aggr.csv")), expected, "CSV final");
    let expected = redis_hashes(&mut r, &b);
    assert!(!expected.is_empty());
    assert_eq!(redis_hashes(&mut r, &a), expected, "Redis ACCU/SW");

    // The state is in the store only, none beside the job.
    assert!(!x.join("state").exists());
    let keys = moto.keys(&format!("{PREFIX}/"));
    let job_dir = keys[0].split('/').take(3).collect::<Vec<_>>().join("/");
    assert!(job_dir.starts_with(&format!("{PREFIX}/job-")), "{keys:?}");
    assert!(
        keys.iter().any(|k| k.contains("/sinks/sink1/w")),
        "the Redis sink logs to the store: {keys:?}"
    );
    // The listing names the store's checkpoints; the final one is the newest.
    let out = tally(&["checkpoints", "job.ec"], x);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines[0],
        format!("checkpoints under s3://{BUCKET}/{job_dir}")
    );
    let newest = newest_complete(&moto);
    let last_chk = lines.iter().rev().find(|l| l.starts_with("chk-")).unwrap();
    assert!(
        last_chk.starts_with(&format!("chk-{newest:06}  epoch "))
            && last_chk.contains("(end of input)")
            && last_chk.contains("  2 workers"),
        "{listing}"
    );
    // Retention: the default three complete checkpoints are kept, and every one from the
    // oldest their incremental snapshots read back to, and no others.
    let kept: Vec<(u64, u64)> = lines
        .iter()
        .filter(|l| l.starts_with("chk-") && !l.contains("incomplete"))
        .map(|l| {
            let seq: u64 = l[4..10].parse().unwrap();
            let needs = l
                .split_once("reads back to chk-")
                .map_or(seq, |(_, n)| n[..6].parse().unwrap());
            (seq, needs)
        })
        .collect();
    let newest3 = &kept[kept.len().saturating_sub(3)..];
    let from = newest3.iter().map(|k| k.1).min().unwrap();
    assert!(kept.len() >= 3, "{listing}");
    assert!(
        kept.iter().all(|k| k.0 >= from),
        "kept from chk-{from:06} on only: {listing}"
    );
    if from < kept[kept.len() - 3].0 {
        // The checkpoint a chain starts at is kept.
        assert!(kept.iter().any(|k| k.0 == from), "{listing}");
    }

    // `-s` resumes from a chosen checkpoint in the store (the oldest kept whose chain is kept,
    // not the final one): the rest of the input is read again and the sinks end the same.
    let restorable = kept
        .iter()
        .find(|k| kept.iter().any(|o| o.0 == k.1))
        .expect("the newest checkpoints can be restored");
    assert!(restorable.0 < newest, "{listing}");
    let chosen = format!("s3://{BUCKET}/{job_dir}/chk-{:06}", restorable.0);
    let run = ["run", "job.ec", "-w", "2", "--progress", "0"];
    // The sinks equal the uninterrupted run's.
    let mut same_sinks = |after: &str| {
        assert_eq!(
            csv_rows(&x.join("aggr.csv")),
            csv_rows(&clean.path().join("aggr.csv")),
            "CSV final {after}"
        );
        assert_eq!(
            redis_hashes(&mut r, &a),
            redis_hashes(&mut r, &b),
            "Redis {after}"
        );
    };
    let log = ok(&tally(&[&run[..], &["-s", &chosen]].concat(), x));
    assert!(
        log.contains(&format!("resuming from checkpoint {chosen} ")),
        "{log}"
    );
    same_sinks("after -s");
    // `--from-scratch` starts empty and keeps the old checkpoints aside in the store: the
    // newest now is the `-s` run's (by retention that run may have removed the first run's
    // `newest`: it failed so when the run took more than three checkpoints).
    let newest_now = moto
        .keys(&format!("{job_dir}/chk-"))
        .iter()
        .filter_map(|k| k.strip_suffix("/_manifest.json"))
        .filter_map(|k| {
            k.rsplit_once("/chk-")
                .and_then(|(_, n)| n.parse::<u64>().ok())
        })
        .max()
        .expect("the -s run left checkpoints");
    let log = ok(&tally(&[&run[..], &["--from-scratch"]].concat(), x));
    assert!(!log.contains("resuming"), "{log}");
    let aside = moto.keys(&format!("{job_dir}/previous-"));
    assert!(
        aside
            .iter()
            .any(|k| k.ends_with(&format!("/chk-{newest_now:06}/_manifest.json"))),
        "{aside:?}"
    );
    same_sinks("from scratch");
    redis_delete(&mut r, &a);
    redis_delete(&mut r, &b);
}

/// A failed start's message: the last line of its log (the binary prints `error: ...`).
fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "tally should have failed");
    let err = String::from_utf8_lossy(&out.stderr);
    err.trim().lines().last().unwrap_or_default().to_string()
}

#[test]
fn a_missing_bucket_or_an_unreachable_endpoint_is_an_error_at_start() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let settings = |url: &str, endpoint: &str| {
        format!(
            "execution.checkpointing.interval=500 ms\nexecution.checkpointing.dir={url}\n\
             s3.endpoint={endpoint}\ns3.path.style.access=true\ns3.access-key=k\n\
             s3.secret-key=s\n"
        )
    };
    std::fs::write(
        dir.path().join("nobucket.ec"),
        job(
            "tally_s3_never",
            &settings("s3://no-such-bucket/p", &moto.endpoint()),
        ),
    )
    .unwrap();
    let e = failure(&tally(&["run", "nobucket.ec"], dir.path()));
    let missing = "error: checkpoint store `s3://no-such-bucket/p` cannot be used: \
                   s3://no-such-bucket/p: the bucket does not exist";
    assert_eq!(e, missing);
    let e = failure(&tally(&["checkpoints", "nobucket.ec"], dir.path()));
    assert_eq!(e, missing);

    let nothing = format!("http://127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("unreachable.ec"),
        job(
            "tally_s3_never",
            &settings(&format!("s3://{BUCKET}/p"), &nothing),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let e = failure(&tally(&["run", "unreachable.ec"], dir.path()));
    assert!(
        e.starts_with(&format!(
            "error: checkpoint store `s3://{BUCKET}/p` cannot be used: s3://{BUCKET}/p: the \
             store does not answer (s3://{BUCKET}/p: Generic S3 error: "
        )) && e.contains("error sending request"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(60), "{e}");

    std::fs::write(
        dir.path().join("gcs.ec"),
        job("tally_s3_never", "execution.checkpointing.dir=gs://b/p\n"),
    )
    .unwrap();
    assert_eq!(
        failure(&tally(&["run", "gcs.ec"], dir.path())),
        "error: checkpoint store `gs://b/p`: tally checkpoints to a local directory, file:// \
         or s3:// only, not gs://"
    );
    // Nothing was written by the refused runs.
    assert!(!dir.path().join("aggr.csv").exists());
}
