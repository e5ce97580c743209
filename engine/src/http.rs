//! `tally run --http ADDR`: the job's metrics in the Prometheus text format (`/metrics`), and
//! `/healthz` and `/readyz`, served on a thread of their own with a small tokio runtime, so that
//! no client (slow or stuck) ever runs on a dataflow thread.
//!
//! The address is bound before the job starts, so a port in use is an error at start. With a
//! token, every request must carry `Authorization: Bearer <token>`, or gets 401.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tally_connectors::Metrics;

use crate::EngineError;

/// What the server serves, and to whom.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub addr: String,
    /// Every request must carry it as a bearer token.
    pub token: Option<String>,
}

#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    job: String,
    token: Option<String>,
}

/// Binds `opts.addr` and serves the job's endpoints from a thread of their own. Returns the
/// bound address (the port chosen when the address asks for port 0).
pub fn serve(
    opts: &HttpOptions,
    job: &str,
    metrics: Arc<Metrics>,
) -> Result<SocketAddr, EngineError> {
    let listener = std::net::TcpListener::bind(&opts.addr)
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {}: {e}", opts.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {}: {e}", opts.addr)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {addr}: {e}")))?;
    let served = Served {
        metrics,
        job: job.to_string(),
        token: opts.token.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| EngineError::Http(format!("cannot start the HTTP server: {e}")))?;
    std::thread::Builder::new()
        .name("tally-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!("HTTP server on {addr}: {e}"),
                };
                let app = Router::new()
                    .route("/metrics", get(metrics_page))
                    .route("/healthz", get(healthz))
                    .route("/readyz", get(readyz))
                    .with_state(served);
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("HTTP server on {addr}: {e}");
                }
            })
        })
        .map_err(|e| EngineError::Http(format!("cannot start the HTTP server: {e}")))?;
    tracing::info!("serving HTTP on http://{addr} (/metrics, /healthz, /readyz)");
    Ok(addr)
}

/// `Err` (401) unless the request carries the bearer token, when there is one.
fn authorized(s: &Served, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = &s.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is needed\n",
        )
            .into_response())
    }
}

async fn healthz(State(s): State<Served>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return r;
    }
    "ok\n".into_response()
}

async fn readyz(State(s): State<Served>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return r;
    }
    if s.metrics.ready.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn metrics_page(State(s): State<Served>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return r;
    }
    match render(&s.metrics, &s.job) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

type Labels = Vec<(String, String)>;

/// A counter family with one value per label set.
fn counters(values: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    for (labels, v) in values {
        f.get_or_create(&labels).inc_by(v);
    }
    f
}

fn gauge_f64(v: f64) -> Gauge<f64, std::sync::atomic::AtomicU64> {
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(v);
    g
}

/// The job's metrics in the Prometheus text format (version 0.0.4).
pub fn render(m: &Metrics, job: &str) -> Result<String, String> {
    let job_label = || vec![("job".to_string(), job.to_string())];
    let with = |k: &str, v: String| {
        let mut l = job_label();
        l.push((k.to_string(), v));
        l
    };
    let mut r = Registry::default();
    let get = Metrics::get;
    r.register(
        "tally_rows_read",
        "Rows read from every source",
        counters([(job_label(), get(&m.rows_in))]),
    );
    r.register(
        "tally_source_rows",
        "Rows (and deletes) fed into the dataflow, by source table",
        counters(
            m.read_by_source
                .snapshot()
                .into_iter()
                .map(|(t, n)| (with("source", t), n)),
        ),
    );
    r.register(
        "tally_worker_rows",
        "Rows (and deletes) fed into the dataflow, by the worker that read them (skew)",
        counters(
            m.read_by_worker
                .snapshot()
                .into_iter()
                .map(|(w, n)| (with("worker", w), n)),
        ),
    );
    r.register(
        "tally_bad_rows",
        "Malformed records counted and skipped, by table (or query, for a failed expression)",
        counters(
            m.bad_by_table
                .snapshot()
                .into_iter()
                .map(|(t, n)| (with("table", t), n)),
        ),
    );
    r.register(
        "tally_late_rows",
        "Rows dropped because their window was already final, by query",
        counters(
            m.late_by_query
                .snapshot()
                .into_iter()
                .map(|(q, n)| (with("query", q), n)),
        ),
    );
    r.register(
        "tally_query_rows_in",
        "Updates a query's aggregate read, by query",
        counters(
            m.rows_in_by_query
                .snapshot()
                .into_iter()
                .map(|(q, n)| (with("query", q), n)),
        ),
    );
    let groups = Family::<Labels, Gauge>::default();
    for (q, v) in m.groups_by_query.snapshot() {
        groups.get_or_create(&with("query", q)).set(v);
    }
    r.register(
        "tally_query_groups",
        "Groups (keys with open state) a query's aggregate holds now, by query",
        groups,
    );
    r.register(
        "tally_result_changes",
        "Result changes written (inserts, updates, deletes), by sink",
        counters(
            m.written_by_sink
                .snapshot()
                .into_iter()
                .map(|(s, n)| (with("sink", s), n)),
        ),
    );
    r.register(
        "tally_sink_retries",
        "Flushes a sink tried again after a retryable error (the job waits meanwhile)",
        counters(
            m.sink_retries
                .snapshot()
                .into_iter()
                .map(|(s, n)| (with("sink", s), n)),
        ),
    );
    r.register(
        "tally_sink_flush_seconds",
        "How long a sink's flushes took, its write-ahead log and retries included",
        m.flush_seconds.clone(),
    );
    r.register(
        "tally_dimension_rereads",
        "Times a dimension followed in a binlog read its whole table again",
        counters([(job_label(), get(&m.dimension_rereads))]),
    );
    r.register(
        "tally_checkpoints_failed",
        "Checkpoints that failed",
        counters([(job_label(), get(&m.failed_checkpoints))]),
    );
    let now = tally_connectors::now_ms() as f64 / 1000.0;
    let wm = m.watermark_ms.load(Ordering::Relaxed);
    if wm != i64::MIN {
        let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        f.get_or_create(&job_label()).set(wm as f64 / 1000.0);
        r.register(
            "tally_watermark_seconds",
            "The smallest watermark over the windowed queries (Unix time)",
            f,
        );
        let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        f.get_or_create(&job_label()).set(now - wm as f64 / 1000.0);
        r.register(
            "tally_watermark_lag_seconds",
            "How far the watermark is behind the wall clock",
            f,
        );
    }
    r.register(
        "tally_checkpoints_completed",
        "Checkpoints completed",
        counters([(job_label(), get(&m.completed_checkpoints))]),
    );
    let last = m.last_checkpoint_ms.load(Ordering::Relaxed);
    if last != 0 {
        let gauges = [
            (
                "tally_checkpoint_size_bytes",
                "The size of the last complete checkpoint's parts",
                get(&m.checkpoint_bytes) as f64,
            ),
            (
                "tally_checkpoint_duration_seconds",
                "How long the last complete checkpoint took, from request to manifest",
                get(&m.checkpoint_duration_ms) as f64 / 1000.0,
            ),
            (
                "tally_checkpoint_stall_seconds",
                "How long serializing the last complete checkpoint stopped one worker's operators",
                get(&m.checkpoint_stall_ms) as f64 / 1000.0,
            ),
        ];
        for (name, help, v) in gauges {
            let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            f.get_or_create(&job_label()).set(v);
            r.register(name, help, f);
        }
        let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        f.get_or_create(&job_label()).set(last as f64 / 1000.0);
        r.register(
            "tally_checkpoint_last_completed_timestamp_seconds",
            "When the last checkpoint completed (Unix time)",
            f,
        );
    }
    if let Some((rss, cpu)) = process_usage() {
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            gauge_f64(rss),
        );
        r.register(
            "process_cpu_seconds",
            "User and system CPU time of the process",
            {
                let c = Counter::<f64, std::sync::atomic::AtomicU64>::default();
                c.inc_by(cpu);
                c
            },
        );
    }
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &r)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The process's resident memory (bytes) and CPU time (s), from /proc (Linux).
fn process_usage() -> Option<(f64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux's page size and clock tick on the machines tally runs on.
    Some((pages * 4096.0, ticks / 100.0))
}
