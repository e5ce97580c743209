//! `tally run --http`: the metrics page (checked by promtool), health and readiness, the bearer
//! token, and a port in use. A real `tally run` child process, talked to over TCP.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
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

use common::Running;

/// Starts the job with `--http 127.0.0.1:0` and returns it with the address it serves at.
fn start(dir: &Path) -> (Running, String) {
    common::run_serving(dir, &[])
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
                && !l.starts_with("tally_dataflow_frontier")
                && !l.starts_with("tally_query_state_bytes")
                && !l.starts_with("tally_operator_state_bytes")
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
        // The whole file, the malformed line and the newlines too.
        r#"tally_source_bytes_total{job="job",source="src"} 61"#,
        r#"tally_worker_rows_total{job="job",worker="0"} 3"#,
        r#"tally_bad_rows_total{job="job",table="src"} 1"#,
        r#"tally_query_rows_in_total{job="job",query="INSERT INTO dest"} 3"#,
        // Only app a's last minute is still open (the others are final and freed).
        r#"tally_query_groups{job="job",query="INSERT INTO dest"} 1"#,
        // Each window's row once (the CSV file gets changes), and a's second minute still open.
        r#"tally_query_rows_out_total{job="job",query="INSERT INTO dest"} 3"#,
        r#"tally_query_open_windows{job="job",query="INSERT INTO dest"} 1"#,
        r#"tally_sink_upserts_total{job="job",sink="dest"} 3"#,
        r#"tally_sink_deletes_total{job="job",sink="dest"} 0"#,
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
    // The states as their last whole snapshots measured them.
    assert_state_sizes_are_measured(&page);
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

/// The aggregate's state size and every stateful operator's, by the names /api/job's graph
/// and the checkpoint use, are on the page. (The sizes depend on the snapshot format: that
/// they are measured is checked here, their values by engine/tests/operators.rs.)
fn assert_state_sizes_are_measured(page: &str) {
    let state = page
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"tally_query_state_bytes{job="job",query="INSERT INTO dest"} "#)
        })
        .unwrap_or_else(|| panic!("no state size:\n{page}"));
    assert!(state.parse::<u64>().unwrap() > 0, "{page}");
    // A family's samples come in no set order.
    let mut ops: Vec<(&str, u64)> = page
        .lines()
        .filter_map(|l| l.strip_prefix(r#"tally_operator_state_bytes{job="job",operator=""#))
        .map(|l| {
            let (op, v) = l.split_once("\"} ").unwrap();
            (op, v.parse().unwrap())
        })
        .collect();
    ops.sort();
    let names: Vec<&str> = ops.iter().map(|o| o.0).collect();
    assert_eq!(names, ["node1:aggregate", "sink0"], "{page}");
    assert!(ops.iter().all(|o| o.1 > 0), "{page}");
}

#[test]
fn without_checkpoints_a_watched_jobs_state_sizes_are_measured_too() {
    let dir = tempfile::tempdir().unwrap();
    let job = JOB.replace(
        "execution.checkpointing.interval=200 ms\nexecution.checkpointing.dir=state\n",
        "",
    );
    assert_ne!(job, JOB);
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    std::fs::write(dir.path().join("events.txt"), "a;u1;1700000000000\n").unwrap();
    let (_job, addr) = start(dir.path());
    let token = Some("s3cret");
    let started = Instant::now();
    let page = loop {
        let (status, page) = get(&addr, "/metrics", token);
        assert_eq!(status, 200, "{page}");
        if page.contains(r#"tally_query_rows_in_total{job="job",query="INSERT INTO dest"} 1"#)
            && page.contains("tally_operator_state_bytes{")
        {
            break page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no result and state sizes within 30 s:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!dir.path().join("state").exists());
    assert_state_sizes_are_measured(&page);
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

/// Appends lines to a followed file.
fn append(path: &Path, lines: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(lines.as_bytes()).unwrap();
}

/// `GET path` as JSON, retried until `done` says it is what the test waits for (30 s at most).
fn wait_json(
    addr: &str,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, body) = get(addr, path, None);
        assert_eq!(status, 200, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if done(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} did not get there within 30 s: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The events of a Server-Sent Events stream, as (event, id, data) one at a time.
struct Events(Box<dyn BufRead>);

impl Events {
    fn open(addr: &str, path: &str) -> Events {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let resp = agent.get(format!("http://{addr}{path}")).call().unwrap();
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events(Box::new(BufReader::new(resp.into_body().into_reader())))
    }

    /// The next event that is not a keep-alive comment.
    fn next(&mut self) -> (String, String, serde_json::Value) {
        let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "the stream ended");
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if !data.is_empty() {
                    return (event, id, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.into();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.into();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
    }
}

const TOTALS: &str = "[system]
sql=INSERT INTO totals SELECT appId, count(qq) pv, countd(qq) uv FROM src GROUP BY appId

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=events.txt
table.file.follow=true
table.field.splitter=;

[tabledesc-2]
table.name=totals
table.fields=appId,string,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out.csv
table.flush.ms=50
";

#[test]
fn the_api_serves_each_querys_result_and_streams_its_changes_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.txt");
    std::fs::write(dir.path().join("job.ec"), TOTALS).unwrap();
    std::fs::write(&events, "").unwrap();
    let (_job, addr) = start(dir.path());
    let rows = |v: &serde_json::Value| v["rows"].clone();
    let row = |op: &str, app: &str, pv: u64, uv: u64| serde_json::json!({"op": op, "row": {"appId": app, "pv": pv, "uv": uv}});
    // A stream starts with the table as it is (empty), then each flush's changes, numbered on;
    // each line here is one flush.
    let mut early = Events::open(&addr, "/api/queries/totals/changes");
    let (event, id, snapshot) = early.next();
    assert_eq!((event.as_str(), id.as_str()), ("snapshot", "0"));
    assert_eq!(
        snapshot,
        serde_json::json!({"query": "totals", "columns": ["appId", "pv", "uv"], "total": 0,
            "seq": 0, "dropped": 0, "rows": []})
    );
    let lines = [
        ("a;u1;1\n", row("insert", "a", 1, 1)),
        ("b;u2;1\n", row("insert", "b", 1, 1)),
        ("b;u3;1\n", row("update", "b", 2, 2)),
        ("a;u1;2\n", row("update", "a", 2, 1)),
        ("c;u9;2\n", row("insert", "c", 1, 1)),
        ("a;u4;3\n", row("update", "a", 3, 2)),
    ];
    for (n, (line, change)) in lines.into_iter().enumerate() {
        append(&events, line);
        let n = n as u64 + 1;
        let (event, id, batch) = early.next();
        assert_eq!((event.as_str(), id), ("changes", n.to_string()));
        assert_eq!(batch, serde_json::json!({"seq": n, "changes": [change]}));
    }
    let table = serde_json::json!([
        {"appId": "a", "pv": 3, "uv": 2},
        {"appId": "b", "pv": 2, "uv": 2},
        {"appId": "c", "pv": 1, "uv": 1},
    ]);
    let (status, body) = get(&addr, "/api/queries/totals/rows", None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"query": "totals", "columns": ["appId", "pv", "uv"], "total": 3,
            "seq": 6, "dropped": 0, "rows": table})
    );
    // Ordered by a column (largest first; ties in key order), a page at a time.
    let page = |path: &str| {
        let (status, body) = get(&addr, path, None);
        assert_eq!(status, 200, "{body}");
        rows(&serde_json::from_str(&body).unwrap())
    };
    assert_eq!(
        page("/api/queries/totals/rows?order=uv&desc=true&limit=2"),
        serde_json::json!([{"appId": "a", "pv": 3, "uv": 2}, {"appId": "b", "pv": 2, "uv": 2}])
    );
    assert_eq!(
        page("/api/queries/totals/rows?order=pv&limit=5&offset=1"),
        serde_json::json!([{"appId": "b", "pv": 2, "uv": 2}, {"appId": "a", "pv": 3, "uv": 2}])
    );
    assert_eq!(
        get(&addr, "/api/queries/nope/rows", None),
        (
            404,
            "no query writes a table named `nope`; the job's queries write: totals\n".into()
        )
    );
    assert_eq!(
        get(&addr, "/api/queries/totals/rows?order=zz", None),
        (
            400,
            "`totals` has no column `zz`; its columns: appId, pv, uv\n".into()
        )
    );
    assert_eq!(
        get(&addr, "/api/queries/totals/rows?limit=x", None),
        (400, "`limit` must be a whole number, found `x`\n".into())
    );

    // A client that comes late gets the table now, then only what changes after.
    let mut late = Events::open(&addr, "/api/queries/totals/changes");
    let (event, id, snapshot) = late.next();
    assert_eq!((event.as_str(), id.as_str()), ("snapshot", "6"));
    assert_eq!(rows(&snapshot), table);
    append(&events, "b;u2;4\n");
    let change = serde_json::json!({"seq": 7, "changes": [row("update", "b", 3, 2)]});
    for stream in [&mut early, &mut late] {
        let (event, id, batch) = stream.next();
        assert_eq!((event.as_str(), id.as_str()), ("changes", "7"));
        assert_eq!(batch, change);
    }

    // The job itself: its queries, and the plan as a graph from the source to the sink.
    let (_, body) = get(&addr, "/api/job", None);
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        job["queries"],
        serde_json::json!([{
            "name": "totals",
            "label": "INSERT INTO totals",
            "columns": ["appId", "pv", "uv"],
            "key": ["appId"],
        }])
    );
    let ids: Vec<&str> = job["graph"]["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["source0", "node0", "node1", "node2", "sink0"]);
    assert_eq!(
        job["graph"]["edges"],
        serde_json::json!([
            ["source0", "node0"],
            ["node0", "node1"],
            ["node1", "node2"],
            ["node2", "sink0"]
        ])
    );
    assert_eq!(
        (&job["job"], &job["workers"]),
        (&serde_json::json!("job"), &serde_json::json!(1))
    );
    // The counters as JSON: every row read and aggregated, and the sink's upserts.
    let m = wait_json(&addr, "/api/metrics", |m| {
        m["sinks"]["upserts"]["totals"] == 7
    });
    assert_eq!(
        (
            &m["rows_read"],
            &m["queries"]["rows_in"],
            &m["sinks"]["deletes"],
            &m["sinks"]["changes"]
        ),
        (
            &serde_json::json!(7),
            &serde_json::json!({"INSERT INTO totals": 7}),
            &serde_json::json!({"totals": 0}),
            &serde_json::json!({"totals": 7})
        )
    );
    // The console: one page that loads nothing from elsewhere.
    let (status, page) = get(&addr, "/", None);
    assert_eq!(status, 200);
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert_eq!(
        page.matches("http").count(),
        page.matches("\"http://www.w3.org/2000/svg\"").count(),
        "the page names no address but SVG's namespace"
    );
    assert!(!page.contains(" src="), "the page loads no script");
}

#[test]
fn readyz_waits_until_every_source_has_read_what_was_there() {
    // An endless generator without a rate always has more to read: never caught up.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.ec"),
        "[system]\nsql=INSERT INTO dest SELECT appId, count(qq) FROM src GROUP BY appId\n\n\
         [tabledesc-1]\ntable.name=src\ntable.type=generator\n\n\
         [tabledesc-2]\ntable.name=dest\ntable.fields=appId,string,:pv,bigint,\n\
         table.type=csv\ntable.csv.path=out.csv\n",
    )
    .unwrap();
    let (_job, addr) = start(dir.path());
    let started = Instant::now();
    loop {
        let answer = get(&addr, "/readyz", None);
        if answer.1 != "starting\n" {
            assert_eq!(
                answer,
                (
                    503,
                    "catching up: 0 of 1 source readers have read what was there\n".into()
                )
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{answer:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A followed file is caught up once it has read to the file's end.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.ec"), TOTALS).unwrap();
    std::fs::write(dir.path().join("events.txt"), "a;u1;1\n").unwrap();
    let (_job, addr) = start(dir.path());
    let started = Instant::now();
    while get(&addr, "/readyz", None) != (200, "ready\n".into()) {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn process_0_of_a_cluster_shows_the_whole_job() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = common::redis();
    let hash = common::unique("tally_http_cluster");
    let job = TOTALS.replace(
        "table.type=csv\ntable.csv.path=out.csv\n",
        &format!(
            "table.type=redis\ntable.redis.url=redis://{}/\ntable.redis.hash={hash}\n\
             table.redis.field={{appId}}\n",
            common::REDIS
        ),
    );
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    let events = dir.path().join("events.txt");
    // Twelve apps, so that both processes' workers own some of the result's keys.
    let lines: String = (0..12)
        .flat_map(|a| (0..=a).map(move |u| format!("app{a:02};u{u};1\n")))
        .collect();
    std::fs::write(&events, lines).unwrap();
    common::write_hostfile(dir.path(), 2);
    // Two free ports in a row: process i serves at the given port + i.
    let port = loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let spawn = |p: &str| {
        Running(
            Command::new(TALLY)
                .args([
                    "run", "job.ec", "-w", "1", "-n", "2", "-p", p, "-h", "hosts",
                ])
                .args(["--http", &format!("127.0.0.1:{port}"), "--progress", "0"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let _p1 = spawn("1");
    let _p0 = spawn("0");
    let (a0, a1) = (
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:{}", port + 1),
    );
    let expected: Vec<serde_json::Value> = (0..12)
        .map(|a| serde_json::json!({"appId": format!("app{a:02}"), "pv": a + 1, "uv": a + 1}))
        .collect();
    let started = Instant::now();
    let rows = |addr: &str, path: &str| -> Option<serde_json::Value> {
        let mut s = TcpStream::connect(addr).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        serde_json::from_str(resp.split_once("\r\n\r\n")?.1).ok()
    };
    // Process 0 merges both processes' shares of the result, in key order.
    loop {
        if let Some(v) = rows(&a0, "/api/queries/totals/rows") {
            if v["rows"] == serde_json::json!(expected) {
                assert_eq!(v["total"], 12);
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            rows(&a0, "/api/queries/totals/rows")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let own = |addr: &str| -> Vec<serde_json::Value> {
        rows(addr, "/api/queries/totals/rows?local=true").unwrap()["rows"]
            .as_array()
            .unwrap()
            .clone()
    };
    let (mine, theirs) = (own(&a0), own(&a1));
    assert!(
        !mine.is_empty() && !theirs.is_empty(),
        "{mine:?} {theirs:?}"
    );
    let owner = |app: &str| -> u64 {
        if mine.iter().any(|r| r["appId"] == app) {
            0
        } else {
            1
        }
    };
    let (owner00, owner11) = (owner("app00"), owner("app11"));
    let seqs = |addr: &str| {
        rows(addr, "/api/queries/totals/rows?local=true").unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let seq_sum = seqs(&a0) + seqs(&a1);
    let mut both: Vec<serde_json::Value> = mine.into_iter().chain(theirs).collect();
    both.sort_by_key(|v| v["appId"].as_str().unwrap().to_string());
    assert_eq!(both, expected);
    // Process 0's change stream is the whole job's: both tables together, then each
    // process's changes, numbered by the sum of the processes' batch numbers.
    let mut stream = Events::open(&a0, "/api/queries/totals/changes");
    let (event, id, snapshot) = stream.next();
    assert_eq!((event.as_str(), id), ("snapshot", seq_sum.to_string()));
    assert_eq!(
        snapshot,
        serde_json::json!({"query": "totals", "columns": ["appId", "pv", "uv"], "total": 12,
            "seq": seq_sum, "dropped": 0, "rows": expected})
    );
    let change = |app: &str, n: u64| serde_json::json!({"op": "update", "row": {"appId": app, "pv": n, "uv": n}});
    append(&events, "app00;new;2\n");
    let (event, id, batch) = stream.next();
    let seq = seq_sum + 1;
    assert_eq!((event.as_str(), id), ("changes", seq.to_string()));
    assert_eq!(
        batch,
        serde_json::json!({"seq": seq, "process": owner00, "changes": [change("app00", 2)]})
    );
    append(&events, "app11;new;2\n");
    let (event, id, batch) = stream.next();
    let seq = seq_sum + 2;
    assert_eq!((event.as_str(), id), ("changes", seq.to_string()));
    assert_eq!(
        batch,
        serde_json::json!({"seq": seq, "process": owner11, "changes": [change("app11", 13)]})
    );
    // Ordered by a column over both processes, a page at a time.
    let page = rows(
        &a0,
        "/api/queries/totals/rows?order=pv&desc=true&limit=3&offset=1",
    )
    .unwrap();
    assert_eq!(
        page["rows"],
        serde_json::json!([expected[10], expected[9], expected[8]])
    );
    // The counters add up over the processes: every row read (78 and the 2 appended), every
    // result change written (12 and 2).
    // (A change is streamed before its sink writes it: the counters may come a moment later.)
    let counts = |m: &serde_json::Value| {
        (
            m["rows_read"].clone(),
            m["sinks"]["upserts"]["totals"].clone(),
        )
    };
    let want = (serde_json::json!(80), serde_json::json!(14));
    let started = Instant::now();
    loop {
        let m = rows(&a0, "/api/metrics").unwrap();
        if counts(&m) == want || started.elapsed() > Duration::from_secs(30) {
            assert_eq!(counts(&m), want, "{m}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, job) = get(&a0, "/api/job", None);
    let job: serde_json::Value = serde_json::from_str(&job).unwrap();
    assert_eq!(
        (&job["processes"], &job["peers"]),
        (&serde_json::json!(2), &serde_json::json!([a1]))
    );
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
}

#[test]
fn a_cluster_needs_a_port_to_serve_at() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.ec"), TOTALS).unwrap();
    std::fs::write(dir.path().join("events.txt"), "").unwrap();
    let out = Command::new(TALLY)
        .args([
            "run",
            "job.ec",
            "-n",
            "2",
            "-p",
            "0",
            "--http",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim().lines().last().unwrap(),
        "error: in a cluster (-n), --http needs an address with a port other than 0 (process i \
         serves at that port + i), not `127.0.0.1:0`",
        "{err}"
    );
}

#[test]
fn late_rows_are_counted_as_corrected_within_the_lateness_and_as_dropped_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let job = JOB
        .replace("http.token=s3cret\n", "lateness.seconds=10\n")
        .replace(
            "execution.checkpointing.interval=200 ms\nexecution.checkpointing.dir=state\n",
            "",
        );
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    let events = dir.path().join("events.txt");
    std::fs::write(&events, "").unwrap();
    let (_job, addr) = start(dir.path());
    // The minute [..980000, ..040000), then event time 45 s: the minute has ended but is open
    // for 10 s more; a row of it now corrects it. At 60 s it is final: a row of it is dropped.
    let lines = [
        "a;u1;1700000000000",
        "a;u2;1700000045000",
        "a;u3;1700000001000",
        "a;u4;1700000060000",
        "a;u5;1700000002000",
    ];
    // Each row is appended once the aggregate has applied the one before (not only read it):
    // rows read together can share an epoch, and a row is late against the watermark of the
    // epochs before its own.
    for (n, line) in lines.iter().enumerate() {
        append(&events, &format!("{line}\n"));
        wait_json(&addr, "/api/metrics", |m| {
            m["queries"]["rows_in"]["INSERT INTO dest"] == n as u64 + 1
        });
    }
    let m = wait_json(&addr, "/api/metrics", |m| {
        m["queries"]["late"] != serde_json::json!({})
    });
    assert_eq!(
        (&m["queries"]["late"], &m["queries"]["late_corrected"]),
        (
            &serde_json::json!({"INSERT INTO dest": 1}),
            &serde_json::json!({"INSERT INTO dest": 1})
        )
    );
    let (_, page) = get(&addr, "/metrics", None);
    for sample in [
        r#"tally_late_rows_total{job="job",query="INSERT INTO dest"} 1"#,
        r#"tally_late_rows_corrected_total{job="job",query="INSERT INTO dest"} 1"#,
    ] {
        assert!(page.lines().any(|l| l == sample), "{sample}:\n{page}");
    }
}

/// Every `_total` sample of a metrics page, by name and labels.
fn totals(page: &str) -> std::collections::BTreeMap<String, f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(k, _)| k.split('{').next().unwrap().ends_with("_total"))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

#[test]
fn the_counters_of_a_generator_into_mysql_and_redis_move_never_go_down_and_end_exact() {
    let mut db = common::Mysql::connect();
    let mut r = common::redis();
    let table = common::unique("tally_http_m");
    let hash = common::unique("tally_http_r");
    let dir = tempfile::tempdir().unwrap();
    // 4000 events at 2000 a second; a followed (empty) file keeps the job running after.
    let job = format!(
        "[system]\nsql=INSERT INTO m SELECT appId, count(qq) n FROM gen GROUP BY appId \\\n\
         INSERT INTO r SELECT appId, count(qq) n FROM gen GROUP BY appId \\\n\
         INSERT INTO f SELECT qq, count(1) n FROM idle GROUP BY qq\n\n\
         [tabledesc-gen]\ntable.name=gen\ntable.type=generator\ntable.generator.rows=4000\n\
         table.generator.rate=2000\n\n\
         [tabledesc-idle]\ntable.name=idle\ntable.fields=qq,string,\ntable.type=file\n\
         table.file.path=idle.txt\ntable.file.follow=true\n\n\
         [tabledesc-m]\ntable.name=m\ntable.type=mysql\ntable.mysql.table={table}\n\
         table.mysql.create=true\ntable.flush.ms=100\n\n\
         [tabledesc-r]\ntable.name=r\ntable.type=redis\ntable.redis.url=redis://{}/\n\
         table.redis.hash={hash}\ntable.redis.field={{appId}}\ntable.flush.ms=100\n\n\
         [tabledesc-f]\ntable.name=f\ntable.type=csv\ntable.csv.path=f.csv\n",
        common::REDIS
    );
    std::fs::write(dir.path().join("job.ec"), job).unwrap();
    std::fs::write(dir.path().join("idle.txt"), "").unwrap();
    let (_job, addr) = start(dir.path());
    let read = r#"tally_source_rows_total{job="job",source="gen"}"#;
    let (mut last, mut seen) = (totals(&get(&addr, "/metrics", None).1), Vec::new());
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let (status, page) = get(&addr, "/metrics", None);
        assert_eq!(status, 200);
        let now = totals(&page);
        for (k, before) in &last {
            let after = now
                .get(k)
                .unwrap_or_else(|| panic!("{k} went away:\n{page}"));
            assert!(after >= before, "{k} went down from {before} to {after}");
        }
        let n = now.get(read).copied().unwrap_or(0.0);
        if seen.last() != Some(&n) {
            seen.push(n);
        }
        last = now;
        let values: Vec<String> = redis::cmd("HVALS").arg(&hash).query(&mut r).unwrap();
        let sum: i64 = values
            .iter()
            .map(|v| {
                // One value column: the field holds the value itself.
                v.parse::<i64>()
                    .unwrap_or_else(|_| panic!("not a count: {v:?}"))
            })
            .sum();
        // The table exists once the sink is open (the dataflow is built after HTTP is up).
        let in_db = if n == 4000.0 && sum == 4000 {
            db.rows(&format!("SELECT SUM(n) FROM `{table}`"))
        } else {
            Vec::new()
        };
        if in_db == ["4000"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not done within 60 s: {seen:?}, Redis {sum:?}, MySQL {in_db:?}"
        );
    }
    // The count moved as the rows came (at 2000/s, polled every 100 ms), and ends at what the
    // generator made: every row aggregated by both queries, none late, none malformed.
    assert!(seen.len() >= 4, "the count did not move: {seen:?}");
    let q = |name: &str, query: &str| -> f64 {
        last[&format!(r#"{name}{{job="job",query="{query}"}}"#)]
    };
    assert_eq!(
        (
            last[r#"tally_rows_read_total{job="job"}"#],
            q("tally_query_rows_in_total", "INSERT INTO m"),
            q("tally_query_rows_in_total", "INSERT INTO r"),
        ),
        (4000.0, 4000.0, 4000.0)
    );
    assert!(!last
        .keys()
        .any(|k| k.starts_with("tally_late_rows") || k.starts_with("tally_bad_rows")));
    db.exec(&format!("DROP TABLE `{table}`"));
    let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
}
