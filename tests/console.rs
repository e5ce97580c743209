//! The web console (`tally run --http`, page `/`) in a real headless Chromium, driven through
//! chromedriver over WebDriver: the page loads without a console error, draws the plan and
//! every query, its charts get points, and a result table changes as rows arrive. The
//! screenshot is kept in `target/test-artifacts/console.png`.
//!
//! Chromium and chromedriver are Debian's (`scripts/services.sh` installs them).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const JOB: &str = "[system]
sql=INSERT INTO per_minute SELECT appId, AGGRTIME, count(qq) pv, countd(qq) uv FROM src \\
GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \\
INSERT INTO totals SELECT appId, count(qq) pv FROM src GROUP BY appId
http.token=s3cret
lateness.seconds=0

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=events.txt
table.file.follow=true
table.field.splitter=;

[tabledesc-2]
table.name=per_minute
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=per_minute.csv
table.flush.ms=100

[tabledesc-3]
table.name=totals
table.fields=appId,string,:pv,bigint,
table.type=csv
table.csv.path=totals.csv
table.flush.ms=100
";

mod common;

use common::Running as Killed;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port, once it answers.
fn start_chromedriver() -> (Killed, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is missing: run ./scripts/services.sh, which installs it");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), port)
}

/// chromedriver's log of the browser's console (`POST /session/{id}/se/log`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// Evaluates `script` in the page until it returns something other than `null`/`false`.
async fn wait_for(c: &Client, what: &str, script: &str) -> Value {
    let started = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if !(v.is_null() || v == Value::Bool(false)) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s ({script})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of a result table's body rows.
const TABLE_ROWS: &str = "return [...document.querySelectorAll('table[data-query=\"' + arguments[0] + '\"] tbody tr')].map(tr => [...tr.children].map(td => td.textContent));";

async fn table_rows(c: &Client, query: &str) -> Value {
    c.execute(TABLE_ROWS, vec![json!(query)]).await.unwrap()
}

#[test]
fn the_console_shows_the_plan_charts_and_live_results_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.txt");
    std::fs::write(dir.path().join("job.ec"), JOB).unwrap();
    std::fs::write(&events, "a;u1;1700000000000\nb;u2;1700000000000\n").unwrap();
    let (_job, addr) = common::run_serving(dir.path(), &[]);
    // Rows keep arriving (one app, its minute moving on), so the charts have something to show.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (stop, events) = (stop.clone(), events.clone());
        std::thread::spawn(move || {
            let mut t = 1_700_000_000_000i64;
            while !stop.load(Ordering::Relaxed) {
                t += 1000;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&events)
                    .unwrap();
                writeln!(f, "a;u{};{t}", t % 7).unwrap();
                drop(f);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let (_driver, port) = start_chromedriver();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1300"],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("cannot start a Chromium session through chromedriver");

        c.goto(&format!("http://{addr}/?token=s3cret")).await.unwrap();
        // The plan: one vertex per source, node and sink.
        let (_, body) = {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                s,
                "GET /api/job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut r = String::new();
            std::io::Read::read_to_string(&mut s, &mut r).unwrap();
            let (h, b) = r.split_once("\r\n\r\n").unwrap();
            (h.to_string(), b.to_string())
        };
        let job: Value = serde_json::from_str(&body).unwrap();
        let vertices = job["graph"]["vertices"].as_array().unwrap().len();
        let drawn = wait_for(
            &c,
            "the dataflow graph",
            "const s = document.querySelector('#graph svg'); return s && s.querySelectorAll('g.vertex').length;",
        )
        .await;
        assert_eq!(drawn, json!(vertices));
        // Every query has its table, headed by its columns.
        let heads = c
            .execute(
                "return [...document.querySelectorAll('table[data-query]')].map(t => [t.dataset.query, [...t.querySelectorAll('th')].map(th => th.textContent)]);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            heads,
            json!([
                ["per_minute", ["appId", "minute", "pv", "uv"]],
                ["totals", ["appId", "pv"]]
            ])
        );
        // The charts get points as rows flow.
        for chart in ["chart-throughput", "chart-query-out", "chart-sinks", "chart-workers"] {
            wait_for(
                &c,
                chart,
                &format!("return Number(document.getElementById('{chart}').dataset.points) > 2;"),
            )
            .await;
        }
        // The result table follows the job: app b's count as it is, then after more rows.
        wait_for(
            &c,
            "totals shows b",
            "return [...document.querySelectorAll('table[data-query=\"totals\"] tbody tr')].some(tr => tr.children[0].textContent === 'b' && tr.children[1].textContent === '1');",
        )
        .await;
        let before = table_rows(&c, "totals").await;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .unwrap();
        f.write_all(b"b;u3;1700000000000\nb;u4;1700000000000\nzz;u5;1700000000000\n")
            .unwrap();
        drop(f);
        wait_for(
            &c,
            "totals shows b at 3 and the new app zz",
            "const rows = [...document.querySelectorAll('table[data-query=\"totals\"] tbody tr')].map(tr => tr.children[0].textContent + '=' + tr.children[1].textContent); return rows.includes('b=3') && rows.includes('zz=1');",
        )
        .await;
        assert_ne!(table_rows(&c, "totals").await, before);
        // Sorting by a column: pv, largest first, puts the busy app a on top.
        c.find(Locator::Css("table[data-query=\"totals\"] th[data-column=\"pv\"]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(
            &c,
            "totals sorted by pv",
            "const t = document.querySelector('table[data-query=\"totals\"]'); return t.querySelector('th.sorted') && t.querySelector('th.sorted').dataset.column === 'pv' && t.querySelector('tbody tr td').textContent === 'a';",
        )
        .await;

        let png = c.screenshot().await.unwrap();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("test-artifacts");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("console.png"), &png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

        // Nothing went wrong in the page.
        let log = c.issue_cmd(BrowserLog).await.unwrap();
        let errors: Vec<&Value> = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "the console logged errors: {errors:?}");
        c.close().await.unwrap();
    });
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
}
