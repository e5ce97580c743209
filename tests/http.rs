//! `tally run --http`: the metrics page (checked by promtool), health and readiness, the bearer
//! token, and a port in use. A real `tally run` child process, talked to over TCP.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TALLY: &str = env!("CARGO_BIN_EXE_tally");

const JOB: &str = "[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \\
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS
http.token=s3cret
execution.checkpointing.interval=200 ms
execution.checkpointing.dir=state

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=events.txt
table.file.follow=true
table.field.splitter=;

[tabledesc-2]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out.csv
";

/// A running `tally run`, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the job with `--http 127.0.0.1:0` and returns it with the address it serves at (read
/// from its log).
fn start(dir: &Path) -> (Running, String) {
    let mut child = Command::new(TALLY)
        .args(["run", "job.ec", "--http", "127.0.0.1:0", "--progress", "0"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let running = Running(child);
    let addr = loop {
        let line = lines
            .next()
            .expect("tally ended before serving HTTP")
            .unwrap();
        if let Some((_, rest)) = line.split_once("serving HTTP on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (running, addr)
}

/// `GET path` with an optional bearer token: the status code and the body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The page's `tally_` samples, without the ones that follow the wall clock (the watermark's
/// lag, and the checkpoints taken every 200 ms).
fn tally_samples(page: &str) -> Vec<String> {
    page.lines()
        .filter(|l| {
            l.starts_with("tally_")
                && !l.starts_with("tally_watermark_lag_seconds")
                && !l.starts_with("tally_checkpoint_")
                && !l.starts_with("tally_checkpoints_completed")
                && !l.starts_with("tally_sink_flush_seconds")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn a_running_job_serves_its_metrics_health_and_readiness_behind_its_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.ec"), JOB).unwrap();
    // Three rows of three windows (one output row each, however the reads are split) and a
    // malformed one.
    std::fs::write(
        dir.path().join("events.txt"),
        "a;u1;1700000000000\nb;u2;1700000001000\nbad\na;u3;1700000100000\n",
    )
    .unwrap();
    let (_job, addr) = start(dir.path());

    for token in [None, Some("wrong")] {
        for path in ["/metrics", "/healthz", "/readyz"] {
            assert_eq!(
                get(&addr, path, token),
                (401, "a bearer token is needed\n".to_string()),
                "{path} with {token:?}"
            );
        }
    }
    let token = Some("s3cret");
    assert_eq!(get(&addr, "/healthz", token), (200, "ok\n".into()));
    let expected = [
        r#"tally_rows_read_total{job="job"} 3"#,
        r#"tally_source_rows_total{job="job",source="src"} 3"#,
        r#"tally_worker_rows_total{job="job",worker="0"} 3"#,
        r#"tally_bad_rows_total{job="job",table="src"} 1"#,
        r#"tally_query_rows_in_total{job="job",query="INSERT INTO dest"} 3"#,
        // Only app a's last minute is still open (the others are final and freed).
        r#"tally_query_groups{job="job",query="INSERT INTO dest"} 1"#,
        r#"tally_result_changes_total{job="job",sink="dest"} 3"#,
        r#"tally_dimension_rereads_total{job="job"} 0"#,
        r#"tally_checkpoints_failed_total{job="job"} 0"#,
        // The largest event time minus the default lateness of 30 s.
        r#"tally_watermark_seconds{job="job"} 1700000070.0"#,
    ];
    let started = Instant::now();
    let page = loop {
        let (status, page) = get(&addr, "/metrics", token);
        assert_eq!(status, 200, "{page}");
        if tally_samples(&page) == expected {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the metrics did not reach the expected values within 30 s:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(get(&addr, "/readyz", token), (200, "ready\n".into()));
    // Every family has its HELP and TYPE, and the process's own metrics are there.
    for (name, kind) in [
        ("tally_rows_read_total", "counter"),
        ("tally_bad_rows_total", "counter"),
        ("tally_result_changes_total", "counter"),
        ("tally_watermark_seconds", "gauge"),
        ("tally_watermark_lag_seconds", "gauge"),
        ("tally_checkpoints_completed_total", "counter"),
        ("tally_sink_flush_seconds", "histogram"),
        ("tally_checkpoint_last_completed_timestamp_seconds", "gauge"),
        ("tally_checkpoint_size_bytes", "gauge"),
        ("tally_checkpoint_duration_seconds", "gauge"),
        ("tally_checkpoint_stall_seconds", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds_total", "counter"),
    ] {
        assert!(
            page.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}:\n{page}"
        );
    }
    // Every flush is in the histogram: its +Inf bucket is its count.
    let sample = |name: &str| -> String {
        let prefix = format!("{name} ");
        page.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name}:\n{page}"))
            .to_string()
    };
    let flushes = sample(r#"tally_sink_flush_seconds_count{job="job",sink="dest"}"#);
    assert!(flushes.parse::<u64>().unwrap() > 0, "{page}");
    assert_eq!(
        sample(r#"tally_sink_flush_seconds_bucket{job="job",sink="dest",le="+Inf"}"#),
        flushes
    );
    // promtool (Debian's prometheus package, installed by scripts/services.sh) accepts it.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: run ./scripts/services.sh, which installs it");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_port_in_use_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.ec"), JOB).unwrap();
    std::fs::write(dir.path().join("events.txt"), "a;u1;1700000000000\n").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(TALLY)
        .args(["run", "job.ec", "--http", &addr, "--progress", "0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim().lines().last().unwrap(),
        format!("error: cannot serve HTTP on {addr}: Address already in use (os error 98)"),
        "{err}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = JOB
        .replace("table.file.follow=true\n", "")
        .replace("http.token=s3cret\n", "");
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    std::fs::write(dir.path().join("events.txt"), "a;u1;1700000000000\nbad\n").unwrap();
    let out = Command::new(TALLY)
        .args(["--log-format", "json", "run", "job.ec", "--progress", "0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let bad = lines
        .iter()
        .find(|l| l["level"] == "WARN")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        (&bad["target"], &bad["fields"]),
        (
            &serde_json::json!("tally_connectors::metrics"),
            &serde_json::json!({
                "message": "skipped a malformed record (1 fields, expected 3): \"bad\"",
                "table": "src",
                "bad_rows": 1
            })
        )
    );
    let finished = lines
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("job finished in "))
        })
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        (
            &finished["fields"]["rows_in"],
            &finished["fields"]["bad_rows"]
        ),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
}

#[test]
fn the_grafana_dashboard_charts_only_documented_metrics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("examples/grafana/tally.json")).unwrap(),
    )
    .unwrap();
    let docs = std::fs::read_to_string(root.join("docs/metrics.md")).unwrap();
    let mut used = std::collections::BTreeSet::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("tally_") || word.starts_with("process_") {
                    used.insert(word.to_string());
                }
            }
        }
    }
    assert_eq!(used.len(), 13, "{used:?}");
    for name in &used {
        assert!(
            docs.contains(&format!("| `{name}` |")),
            "{name} is charted but not in docs/metrics.md"
        );
    }
}

/// Waits until the Redis hash `hash` holds `want`.
fn wait_for_hash(r: &mut redis::Connection, hash: &str, want: &[(&str, &str)]) {
    let want: std::collections::HashMap<String, String> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let started = Instant::now();
    loop {
        let h: std::collections::HashMap<String, String> =
            redis::cmd("HGETALL").arg(hash).query(r).unwrap();
        if h == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{hash} holds {h:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_sink_that_cannot_reach_its_server_counts_its_retries() {
    let proxy = common::Proxy::start(common::REDIS);
    let mut r = common::redis();
    let dir = tempfile::tempdir().unwrap();
    let hash = common::unique("tally_http");
    let job = JOB.replace("http.token=s3cret\n", "").replace(
        "table.type=csv\ntable.csv.path=out.csv\n",
        &format!(
            "table.type=redis\ntable.redis.url=redis://127.0.0.1:{}/\ntable.redis.hash={hash}\n\
             table.redis.field={{appId}}:{{minute}}\ntable.flush.ms=100\n",
            proxy.port
        ),
    );
    let events = dir.path().join("events.txt");
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    std::fs::write(&events, "a;u1;1700000000000\n").unwrap();
    let (_job, addr) = start(dir.path());
    let first = ("a:1699999980000", r#"{"pv":1,"uv":1}"#);
    wait_for_hash(&mut r, &hash, &[first]);
    let retries = r#"tally_sink_retries_total{job="job",sink="dest"} "#;
    let (_, page) = get(&addr, "/metrics", None);
    assert!(!page.contains(retries), "{page}");
    // The server goes away while a row waits to be written: the flush is retried, and counted.
    proxy.pause();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    f.write_all(b"b;u2;1700000000000\n").unwrap();
    drop(f);
    let started = Instant::now();
    loop {
        let (_, page) = get(&addr, "/metrics", None);
        if let Some(n) = page.lines().find_map(|l| l.strip_prefix(retries)) {
            assert!(n.parse::<u64>().unwrap() > 0, "{page}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no retry counted within 30 s:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Back again: the row is written.
    proxy.resume();
    wait_for_hash(
        &mut r,
        &hash,
        &[first, ("b:1699999980000", r#"{"pv":1,"uv":1}"#)],
    );
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
}
