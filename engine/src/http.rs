//! `tally run --http ADDR`: the job's metrics in the Prometheus text format (`/metrics`), and
//! `/healthz` and `/readyz`, served on a thread of their own with a small tokio runtime, so that
//! no client (slow or stuck) ever runs on a dataflow thread.
//!
//! The address is bound before the job starts, so a port in use is an error at start. With a
//! token, every request must carry `Authorization: Bearer <token>`, or gets 401.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Value as J};
use tally_connectors::Metrics;
use tally_sql::plan::Plan;
use tokio::sync::broadcast::error::RecvError;

use crate::results::{QueryResult, Results};
use crate::EngineError;

/// What the server serves, and to whom.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub addr: String,
    /// Every request must carry it as a bearer token (or, from a browser, as `?token=`).
    pub token: Option<String>,
    /// How many rows of a windowed result the API keeps (`http.result-rows`).
    pub result_rows: usize,
}

/// How often the console's history is sampled, and how many samples it keeps (10 minutes).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
const SAMPLES_KEPT: usize = 600;

/// What the console and the API show of the job besides its counters: its name and shape, the
/// plan as a graph, and each query's result.
pub struct JobView {
    pub name: String,
    pub workers: usize,
    pub processes: usize,
    pub process: usize,
    pub started_ms: u64,
    /// The dataflow plan as `tally explain` prints it.
    pub plan: String,
    /// Sources, plan nodes and sinks with the edges between them.
    pub graph: J,
    pub results: Arc<Results>,
    /// On process 0 of a cluster: the other processes' HTTP addresses, whose `/api` it reads
    /// to show the whole job.
    pub peers: Vec<String>,
}

impl JobView {
    pub fn new(
        plan: &Plan,
        opts: &crate::RunOptions,
        results: Arc<Results>,
        peers: Vec<String>,
    ) -> JobView {
        JobView {
            peers,
            name: opts.job.clone(),
            workers: opts.workers,
            processes: opts.processes,
            process: opts.process,
            started_ms: tally_connectors::now_ms(),
            plan: plan.to_string(),
            graph: graph(plan),
            results,
        }
    }

    fn json(&self) -> J {
        let queries: Vec<J> = self
            .results
            .queries
            .iter()
            .map(|q| {
                json!({
                    "name": q.name,
                    "label": q.label,
                    "columns": q.columns,
                    "key": q.key().map(|k| k.iter().map(|&i| q.columns[i].clone()).collect::<Vec<_>>()),
                })
            })
            .collect();
        json!({
            "job": self.name,
            "workers": self.workers,
            "processes": self.processes,
            "process": self.process,
            "started_ms": self.started_ms,
            "queries": queries,
            "plan": self.plan,
            "graph": self.graph,
            "peers": self.peers,
        })
    }
}

/// The plan as a graph: one vertex per source, plan node and sink (`id`, `kind`, `label`,
/// `detail`), and an edge from each input to what reads it.
pub fn graph(plan: &Plan) -> J {
    let mut vertices = Vec::new();
    let mut edges = Vec::new();
    for (i, s) in plan.sources.iter().enumerate() {
        let config = format!("{:?}", s.config);
        let kind = config
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("")
            .to_string();
        vertices.push(json!({
            "id": format!("source{i}"),
            "kind": "source",
            "label": s.table,
            "detail": format!("{}{} ({kind})", s.table, if s.dimension { ", dimension" } else { "" }),
        }));
    }
    for (i, n) in plan.nodes.iter().enumerate() {
        let detail = n.node.to_string();
        let kind = detail.split_whitespace().next().unwrap_or("").to_string();
        vertices.push(json!({
            "id": format!("node{i}"),
            "kind": kind,
            "label": n.label,
            "detail": detail,
        }));
        match &n.node {
            tally_sql::plan::Node::Source { source } => {
                edges.push(json!([format!("source{source}"), format!("node{i}")]))
            }
            other => {
                for input in other.inputs() {
                    edges.push(json!([format!("node{input}"), format!("node{i}")]));
                }
            }
        }
    }
    for (i, s) in plan.sinks.iter().enumerate() {
        vertices.push(json!({
            "id": format!("sink{i}"),
            "kind": "sink",
            "label": s.table,
            "detail": format!("{} ({:?})", s.table, s.config).chars().take(200).collect::<String>(),
        }));
        edges.push(json!([format!("node{}", s.input), format!("sink{i}")]));
    }
    json!({"vertices": vertices, "edges": edges})
}

#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    job: Arc<JobView>,
    token: Option<String>,
    /// The counters once a second, the newest last.
    history: Arc<Mutex<VecDeque<J>>>,
}

/// Binds `opts.addr` and serves the job's endpoints from a thread of their own. Returns the
/// bound address (the port chosen when the address asks for port 0).
pub fn serve(
    bind: &str,
    opts: &HttpOptions,
    job: JobView,
    metrics: Arc<Metrics>,
) -> Result<SocketAddr, EngineError> {
    let listener = std::net::TcpListener::bind(bind)
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {bind}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| EngineError::Http(format!("cannot serve HTTP on {addr}: {e}")))?;
    let served = Served {
        metrics,
        job: Arc::new(job),
        token: opts.token.clone(),
        history: Arc::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .on_thread_start(yield_to_the_dataflow)
        .build()
        .map_err(|e| EngineError::Http(format!("cannot start the HTTP server: {e}")))?;
    std::thread::Builder::new()
        .name("tally-http".into())
        .spawn(move || {
            yield_to_the_dataflow();
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return tracing::error!("HTTP server on {addr}: {e}"),
                };
                tokio::spawn(sample(served.clone()));
                let app = Router::new()
                    .route("/", get(console))
                    .route("/metrics", get(metrics_page))
                    .route("/healthz", get(healthz))
                    .route("/readyz", get(readyz))
                    .route("/api/job", get(api_job))
                    .route("/api/metrics", get(api_metrics))
                    .route("/api/history", get(api_history))
                    .route("/api/queries", get(api_queries))
                    .route("/api/queries/{name}/rows", get(api_rows))
                    .route("/api/queries/{name}/changes", get(api_changes))
                    .layer(middleware::from_fn_with_state(served.clone(), authorize))
                    .with_state(served);
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("HTTP server on {addr}: {e}");
                }
            })
        })
        .map_err(|e| EngineError::Http(format!("cannot start the HTTP server: {e}")))?;
    tracing::info!(
        "serving HTTP on http://{addr} (the console at /, /metrics, /api, /healthz, /readyz)"
    );
    Ok(addr)
}

/// Lowers the calling thread's scheduling priority by a nice value of 10 (on Linux a nice
/// value belongs to a thread, and `who = 0` names the calling one). Where clients and the job
/// share the cores, the job's workers go first: a burst of requests waits for the console
/// instead of taking a worker's time slice. Failing to is harmless.
fn yield_to_the_dataflow() {
    if let Err(e) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!("the HTTP thread keeps the dataflow's priority: {e}");
    }
}

/// Where this process serves, and (on process 0 of a cluster) where the others do. Alone, a
/// process serves at `addr`. In a cluster of `addresses` (timely's), process `i` serves at
/// `addr`'s port + `i`, on the host `addr` names; process 0 reaches process `i` there, on the
/// host of `addresses[i]` unless `addr` is a loopback address (then the machine is one).
pub fn cluster_addresses(
    addr: &str,
    process: usize,
    addresses: &[String],
) -> Result<(String, Vec<String>), EngineError> {
    if addresses.len() <= 1 {
        return Ok((addr.to_string(), Vec::new()));
    }
    let port_of = |a: &str| {
        a.rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.parse::<u16>()))
    };
    let (host, port) = match port_of(addr) {
        Some((h, Ok(p))) if p > 0 => (h, p),
        _ => {
            return Err(EngineError::Http(format!(
                "in a cluster (-n), --http needs an address with a port other than 0 \
                 (process i serves at that port + i), not `{addr}`"
            )))
        }
    };
    let at = |i: usize| -> Result<u16, EngineError> {
        u16::try_from(port as usize + i).map_err(|_| {
            EngineError::Http(format!(
                "--http {addr}: process {i} would serve past port 65535"
            ))
        })
    };
    let bind = format!("{host}:{}", at(process)?);
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let mut peers = Vec::new();
    if process == 0 {
        for (i, a) in addresses.iter().enumerate().skip(1) {
            let peer_host = if loopback {
                host.clone()
            } else {
                port_of(a).map_or_else(|| a.clone(), |(h, _)| h)
            };
            peers.push(format!("{peer_host}:{}", at(i)?));
        }
    }
    Ok((bind, peers))
}

/// GETs `path` from every peer (the other processes of a cluster), on tokio's blocking pool:
/// the answers as JSON, and what went wrong with the ones that did not answer.
async fn from_peers(s: &Served, path: String) -> (Vec<J>, Vec<String>) {
    let peers = s.job.peers.clone();
    let token = s.token.clone();
    let fetched = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        peers
            .iter()
            .map(|peer| {
                let mut req = agent.get(format!("http://{peer}{path}"));
                if let Some(t) = &token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
                let body = req
                    .call()
                    .and_then(|mut r| r.body_mut().read_to_string())
                    .map_err(|e| format!("{peer}: {e}"))?;
                serde_json::from_str::<J>(&body).map_err(|e| format!("{peer}: {e}"))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for r in fetched {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

/// Adds another process's counters (`/api/metrics` JSON) into `into`: counts and sizes add up,
/// the earliest watermark and the largest lag and time win, and checkpoints are process 0's
/// (it completes them); label maps merge by label, partition lists concatenate.
fn merge_metrics(into: &mut J, other: &J, key: &str) {
    match (into, other) {
        (J::Object(a), J::Object(b)) => {
            if key == "checkpoints" {
                return;
            }
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(mine) => merge_metrics(mine, v, k),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (J::Array(a), J::Array(b)) => a.extend(b.iter().cloned()),
        (J::Bool(a), J::Bool(b)) => *a = *a && *b,
        (mine @ J::Null, v) => *mine = v.clone(),
        (mine @ J::Number(_), J::Number(b)) => {
            let a = mine.as_f64().unwrap_or(0.0);
            let b_f = b.as_f64().unwrap_or(0.0);
            *mine = match key {
                "time_ms" | "watermark_lag_seconds" if b_f > a => J::Number(b.clone()),
                "watermark_ms" if b_f < a => J::Number(b.clone()),
                "time_ms" | "watermark_lag_seconds" | "watermark_ms" => mine.clone(),
                _ => match (mine.as_i64(), b.as_i64()) {
                    (Some(x), Some(y)) => json!(x + y),
                    _ => json!(a + b_f),
                },
            };
        }
        _ => {}
    }
}

/// The whole job's counters: this process's, and on process 0 of a cluster the others' added
/// (`unreachable` lists the processes that did not answer).
async fn job_metrics(s: &Served, local: bool) -> J {
    let mut all = metrics_json(&s.metrics);
    if local || s.job.peers.is_empty() {
        return all;
    }
    let (theirs, unreachable) = from_peers(s, "/api/metrics?local=true".into()).await;
    for t in &theirs {
        merge_metrics(&mut all, t, "");
    }
    if !unreachable.is_empty() {
        all["unreachable"] = json!(unreachable);
    }
    all
}

/// Orders JSON values as tally orders values: NULL, booleans, numbers, strings, the rest.
fn cmp_json(a: &J, b: &J) -> std::cmp::Ordering {
    let rank = |v: &J| match v {
        J::Null => 0,
        J::Bool(_) => 1,
        J::Number(_) => 2,
        J::String(_) => 3,
        _ => 4,
    };
    match (a, b) {
        (J::Bool(x), J::Bool(y)) => x.cmp(y),
        (J::Number(x), J::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(std::cmp::Ordering::Equal),
        },
        (J::String(x), J::String(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

/// Whether the request asks for this process's share alone (`?local=true`), as process 0 asks
/// the others.
fn wants_local(req: &Request) -> bool {
    params(req.uri().query())
        .get("local")
        .is_some_and(|v| v == "true" || v == "1")
}

/// The request's query parameters.
fn params(req_query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(req_query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// 401 unless the request carries the token, when there is one: as a bearer token, or as
/// `?token=` (a browser's page and its event streams cannot set a header).
async fn authorize(State(s): State<Served>, req: Request, next: Next) -> Response {
    let Some(token) = &s.token else {
        return next.run(req).await;
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = bearer.or_else(|| params(req.uri().query()).remove("token"));
    if given.as_deref() == Some(token.as_str()) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is needed\n",
        )
            .into_response()
    }
}

/// Samples the counters for the console's charts, once a second.
async fn sample(s: Served) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        every.tick().await;
        let snapshot = job_metrics(&s, false).await;
        let mut h = s.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == SAMPLES_KEPT {
            h.pop_front();
        }
        h.push_back(snapshot);
    }
}

fn json_response(v: &J) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, what).into_response()
}

async fn console() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("console.html"),
    )
        .into_response()
}

async fn healthz() -> Response {
    "ok\n".into_response()
}

/// Ready once every worker of this process has built the dataflow and opened its sources,
/// and every source has read what was there (a live source: it once had nothing more to read
/// right then; a bounded one: the same, or done).
async fn readyz(State(s): State<Served>) -> Response {
    let m = &s.metrics;
    let started = m.workers_started.load(Ordering::Relaxed);
    let (caught, expected) = (
        m.sources_caught_up.load(Ordering::Relaxed),
        m.sources_expected.load(Ordering::Relaxed),
    );
    if started < s.job.workers as u64 {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    } else if caught < expected {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "catching up: {caught} of {expected} source readers have read what was there\n"
            ),
        )
            .into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn api_job(State(s): State<Served>) -> Response {
    json_response(&s.job.json())
}

async fn api_metrics(State(s): State<Served>, req: Request) -> Response {
    json_response(&job_metrics(&s, wants_local(&req)).await)
}

async fn api_history(State(s): State<Served>) -> Response {
    let samples: Vec<J> = {
        let h = s.history.lock().unwrap_or_else(|p| p.into_inner());
        h.iter().cloned().collect()
    };
    json_response(&json!({ "every_ms": SAMPLE_EVERY.as_millis() as u64, "samples": samples }))
}

async fn api_queries(State(s): State<Served>, req: Request) -> Response {
    let mut queries: Vec<J> = s
        .job
        .results
        .queries
        .iter()
        .map(|q| {
            let page = q.page(0, 0, None);
            json!({
                "name": q.name,
                "label": q.label,
                "columns": q.columns,
                "rows": page.total,
                "seq": page.seq,
                "dropped": page.dropped,
            })
        })
        .collect();
    if !wants_local(&req) && !s.job.peers.is_empty() {
        let (theirs, _) = from_peers(&s, "/api/queries?local=true".into()).await;
        for t in &theirs {
            for (mine, other) in queries.iter_mut().zip(t.as_array().into_iter().flatten()) {
                for k in ["rows", "seq", "dropped"] {
                    let sum = mine[k].as_u64().unwrap_or(0) + other[k].as_u64().unwrap_or(0);
                    mine[k] = json!(sum);
                }
            }
        }
    }
    json_response(&json!(queries))
}

fn query<'a>(s: &'a Served, name: &str) -> Result<&'a QueryResult, Response> {
    s.job.results.get(name).ok_or_else(|| {
        let names: Vec<&str> = s
            .job
            .results
            .queries
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        not_found(format!(
            "no query writes a table named `{name}`; the job's queries write: {}\n",
            names.join(", ")
        ))
    })
}

/// `?limit=` (default 100), `?offset=`, `?order=COLUMN` and `?desc=true`.
async fn api_rows(State(s): State<Served>, Path(name): Path<String>, req: Request) -> Response {
    let q = match query(&s, &name) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let p = params(req.uri().query());
    let num = |k: &str, default: usize| -> Result<usize, Response> {
        match p.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("`{k}` must be a whole number, found `{v}`\n"),
                )
                    .into_response()
            }),
        }
    };
    let (limit, offset) = match (num("limit", 100), num("offset", 0)) {
        (Ok(l), Ok(o)) => (l, o),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let order = match p.get("order") {
        None => None,
        Some(col) => match q.columns.iter().position(|c| c.eq_ignore_ascii_case(col)) {
            Some(i) => Some((i, p.get("desc").is_some_and(|d| d == "true" || d == "1"))),
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "`{name}` has no column `{col}`; its columns: {}\n",
                        q.columns.join(", ")
                    ),
                )
                    .into_response()
            }
        },
    };
    if wants_local(&req) || s.job.peers.is_empty() {
        let page = q.page(offset, limit, order);
        return json_response(&q.page_json(&page));
    }
    // Process 0 of a cluster: each process holds the keys its workers write; the first
    // `offset + limit` rows of each, merged in the same order, hold the page.
    let upto = offset.saturating_add(limit);
    let mut page = q.page_json(&q.page(0, upto, order));
    let mut path = format!("/api/queries/{name}/rows?local=true&offset=0&limit={upto}");
    if let Some((col, desc)) = order {
        path.push_str(&format!("&order={}&desc={desc}", q.columns[col]));
    }
    let (theirs, unreachable) = from_peers(&s, path).await;
    let mut rows: Vec<J> = page["rows"].as_array().cloned().unwrap_or_default();
    for t in &theirs {
        rows.extend(t["rows"].as_array().into_iter().flatten().cloned());
        for k in ["total", "seq", "dropped"] {
            let sum = page[k].as_u64().unwrap_or(0) + t[k].as_u64().unwrap_or(0);
            page[k] = json!(sum);
        }
    }
    let key = q.key_columns();
    rows.sort_by(|a, b| {
        let by_key = || {
            key.iter()
                .map(|c| cmp_json(&a[c], &b[c]))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        match order {
            Some((col, desc)) => {
                let c = &q.columns[col];
                let o = cmp_json(&a[c], &b[c]);
                if desc { o.reverse() } else { o }.then_with(by_key)
            }
            None => by_key(),
        }
    });
    page["rows"] = J::Array(rows.into_iter().skip(offset).take(limit).collect());
    if !unreachable.is_empty() {
        page["unreachable"] = json!(unreachable);
    }
    json_response(&page)
}

/// Server-Sent Events: `snapshot` (the whole table now, with the number of the last batch in
/// it), then one `changes` event per flush, numbered from there (the event's `id`). A client
/// too slow to keep up gets a new `snapshot` and goes on from it. On process 0 of a cluster
/// the stream is the whole job's ([`merged_changes`]).
async fn api_changes(State(s): State<Served>, Path(name): Path<String>, req: Request) -> Response {
    if let Err(r) = query(&s, &name) {
        return r;
    }
    if !wants_local(&req) && !s.job.peers.is_empty() {
        return merged_changes(&s, name);
    }
    let results = s.job.results.clone();
    struct Stream {
        results: Arc<Results>,
        name: String,
        rx: Option<tokio::sync::broadcast::Receiver<Arc<crate::results::Batch>>>,
        seq: u64,
    }
    let start = Stream {
        results,
        name,
        rx: None,
        seq: 0,
    };
    // The events are written as bytes made once per batch (`batch_event`), not through
    // axum's `Sse`, which copies each event's data into a buffer of every stream's own.
    let events = futures::stream::unfold(start, |mut st| async move {
        let q = st.results.get(&st.name)?;
        loop {
            let Some(rx) = st.rx.as_mut() else {
                let (page, rx) = q.subscribe();
                st.rx = Some(rx);
                st.seq = page.seq;
                let e = q.page_event(&page);
                return Some((Ok::<_, Infallible>(e), st));
            };
            match tokio::time::timeout(SSE_KEEP_ALIVE, rx.recv()).await {
                // Nothing for a while: a comment keeps proxies from closing the stream.
                Err(_) => return Some((Ok(bytes::Bytes::from_static(b":\n\n")), st)),
                Ok(Ok(b)) if b.seq <= st.seq => continue,
                Ok(Ok(b)) => {
                    st.seq = b.seq;
                    return Some((Ok(q.batch_event(&b)), st));
                }
                Ok(Err(RecvError::Lagged(_))) => st.rx = None,
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    });
    event_stream(events)
}

/// How long a change stream may be silent before it sends a comment (axum's `Sse` default).
const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The response headers of a change stream.
fn event_stream(
    events: impl futures::Stream<Item = Result<bytes::Bytes, Infallible>> + Send + 'static,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}

/// What one process's change stream said, as process 0 merges them.
enum Part {
    Snapshot(J),
    Changes(J),
    /// The stream ended or could not start (why).
    End(String),
}

/// The whole job's change stream, on process 0 of a cluster. Each process writes the result
/// keys its workers own, so the processes' streams never touch the same row: the `snapshot` is
/// every process's table together (in key order), and each process's `changes` event follows
/// as it comes, with `"process": i`. An event's `id` (and `seq`) is the sum of the processes'
/// batch numbers so far: it grows by one per event. The stream ends when any process's
/// stream does (a process that fell behind, or went away); a client (an `EventSource`)
/// reconnects and gets the whole table again.
fn merged_changes(s: &Served, name: String) -> Response {
    let processes = 1 + s.job.peers.len();
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Part)>(64);
    let (results, local, own) = (s.job.results.clone(), name.clone(), tx.clone());
    tokio::spawn(async move {
        let Some(q) = results.get(&local) else { return };
        let (page, mut batches) = q.subscribe();
        let mut seq = page.seq;
        if own
            .send((0, Part::Snapshot(q.page_json(&page))))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let part = match batches.recv().await {
                Ok(b) if b.seq <= seq => continue,
                Ok(b) => {
                    seq = b.seq;
                    Part::Changes(q.batch_json(&b))
                }
                Err(RecvError::Lagged(_)) => Part::End("process 0's stream fell behind".into()),
                Err(RecvError::Closed) => Part::End("process 0's job ended".into()),
            };
            let end = matches!(part, Part::End(_));
            if own.send((0, part)).await.is_err() || end {
                return;
            }
        }
    });
    for (i, peer) in s.job.peers.iter().enumerate() {
        let url = format!("http://{peer}/api/queries/{name}/changes?local=true");
        let (tx, token) = (tx.clone(), s.token.clone());
        std::thread::Builder::new()
            .name("tally-http-peer".into())
            .spawn(move || read_peer_changes(i + 1, &url, token.as_deref(), &tx))
            .ok();
    }
    drop(tx);
    let key = s.job.results.get(&name).map(|q| q.key_columns());
    struct Merge {
        rx: tokio::sync::mpsc::Receiver<(usize, Part)>,
        name: String,
        key: Vec<String>,
        snapshots: Vec<Option<J>>,
        /// Changes that came before every snapshot had: sent after the merged one.
        early: VecDeque<(usize, J)>,
        seqs: Vec<u64>,
        started: bool,
    }
    let start = Merge {
        rx,
        name,
        key: key.unwrap_or_default(),
        snapshots: vec![None; processes],
        early: VecDeque::new(),
        seqs: vec![0; processes],
        started: false,
    };
    let events = futures::stream::unfold(start, |mut m| {
        async move {
            loop {
                if m.started {
                    if let Some((i, mut batch)) = m.early.pop_front() {
                        m.seqs[i] = batch["seq"].as_u64().unwrap_or(m.seqs[i] + 1);
                        let seq: u64 = m.seqs.iter().sum();
                        batch["seq"] = json!(seq);
                        batch["process"] = json!(i);
                        let e = crate::results::sse_event("changes", seq, &batch);
                        return Some((Ok::<_, Infallible>(e), m));
                    }
                } else if m.snapshots.iter().all(Option::is_some) {
                    m.started = true;
                    let e = merge_snapshots(&mut m.snapshots, &mut m.seqs, &m.key);
                    return Some((Ok(e), m));
                }
                match tokio::time::timeout(SSE_KEEP_ALIVE, m.rx.recv()).await {
                    Err(_) => return Some((Ok(bytes::Bytes::from_static(b":\n\n")), m)),
                    Ok(Some((i, Part::Snapshot(page)))) if m.snapshots[i].is_none() => {
                        m.snapshots[i] = Some(page);
                    }
                    // A second snapshot: that process's stream fell behind and began again.
                    Ok(Some((i, Part::Snapshot(_)))) => {
                        tracing::info!("change stream of {}: process {i} fell behind", m.name);
                        return None;
                    }
                    Ok(Some((i, Part::Changes(batch)))) => m.early.push_back((i, batch)),
                    Ok(Some((_, Part::End(why)))) => {
                        tracing::info!("change stream of {} ends: {why}", m.name);
                        return None;
                    }
                    Ok(None) => return None,
                }
            }
        }
    });
    event_stream(events)
}

/// The first event of the merged stream: every process's table, in key order, and the sum of
/// their batch numbers.
fn merge_snapshots(snapshots: &mut [Option<J>], seqs: &mut [u64], key: &[String]) -> bytes::Bytes {
    let mut whole = snapshots[0].take().unwrap_or_default();
    let mut rows: Vec<J> = whole["rows"].as_array().cloned().unwrap_or_default();
    seqs[0] = whole["seq"].as_u64().unwrap_or(0);
    for (i, s) in snapshots.iter_mut().enumerate().skip(1) {
        let s = s.take().unwrap_or_default();
        rows.extend(s["rows"].as_array().into_iter().flatten().cloned());
        seqs[i] = s["seq"].as_u64().unwrap_or(0);
        for k in ["total", "dropped"] {
            whole[k] = json!(whole[k].as_u64().unwrap_or(0) + s[k].as_u64().unwrap_or(0));
        }
    }
    rows.sort_by(|a, b| {
        key.iter()
            .map(|c| cmp_json(&a[c], &b[c]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let seq: u64 = seqs.iter().sum();
    whole["rows"] = J::Array(rows);
    whole["seq"] = json!(seq);
    crate::results::sse_event("snapshot", seq, &whole)
}

/// Reads process `i`'s change stream at `url` (on a thread of its own: the client is
/// blocking) and hands each event on, until the stream ends or the merged one is gone.
fn read_peer_changes(
    i: usize,
    url: &str,
    token: Option<&str>,
    tx: &tokio::sync::mpsc::Sender<(usize, Part)>,
) {
    use std::io::BufRead;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(2)))
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let body = match req.call() {
        Ok(r) => r.into_body().into_reader(),
        Err(e) => {
            let _ = tx.blocking_send((i, Part::End(format!("process {i} ({url}): {e}"))));
            return;
        }
    };
    let mut lines = std::io::BufReader::new(body);
    let (mut event, mut data, mut line) = (String::new(), String::new(), String::new());
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if let Some(v) = l.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = l.strip_prefix("data: ") {
            data.push_str(v);
        } else if l.is_empty() && !data.is_empty() {
            let part = match (event.as_str(), serde_json::from_str::<J>(&data)) {
                ("snapshot", Ok(v)) => Part::Snapshot(v),
                ("changes", Ok(v)) => Part::Changes(v),
                (_, Err(e)) => {
                    Part::End(format!("process {i} sent an event that is not JSON: {e}"))
                }
                (other, _) => Part::End(format!("process {i} sent an unknown event `{other}`")),
            };
            data.clear();
            if tx.blocking_send((i, part)).is_err() {
                return;
            }
        }
    }
    let _ = tx.blocking_send((i, Part::End(format!("process {i}'s stream ended"))));
}

async fn metrics_page(State(s): State<Served>) -> Response {
    match render(&s.metrics, &s.job.name) {
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

/// The counters as JSON (`/api/metrics`, and each sample of `/api/history`).
pub fn metrics_json(m: &Metrics) -> J {
    let get = Metrics::get;
    let by = |l: &tally_connectors::metrics::Labelled| -> J {
        J::Object(
            l.snapshot()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect(),
        )
    };
    let gauges = |g: &tally_connectors::metrics::Gauges| -> J {
        J::Object(
            g.snapshot()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect(),
        )
    };
    let now = tally_connectors::now_ms();
    let wm = m.watermark_ms.load(Ordering::Relaxed);
    let usage = process_usage();
    let last = m.last_checkpoint_ms.load(Ordering::Relaxed);
    json!({
        "time_ms": now,
        "ready": m.ready.load(Ordering::Relaxed),
        "sources_caught_up": get(&m.sources_caught_up),
        "sources_expected": get(&m.sources_expected),
        "rows_read": get(&m.rows_in),
        "bad_rows": get(&m.bad_rows),
        "late_rows": get(&m.late_rows),
        "result_changes": get(&m.result_rows),
        "watermark_ms": (wm != i64::MIN).then_some(wm),
        "watermark_lag_seconds": (wm != i64::MIN).then(|| (now as i64 - wm) as f64 / 1000.0),
        "sources": by(&m.read_by_source),
        "source_bytes": by(&m.bytes_by_source),
        "partitions": m.partitions.snapshot().into_iter().map(|((source, p), s)| json!({
            "source": source, "partition": p, "rows": s.rows, "bytes": s.bytes, "bad": s.bad,
            "position": (s.position >= 0).then_some(s.position),
            "lag": s.lag(),
            "committed": (s.committed >= 0).then_some(s.committed),
        })).collect::<Vec<_>>(),
        "workers": by(&m.read_by_worker),
        "frontier": gauges(&m.frontier_by_worker),
        "bad_by_table": by(&m.bad_by_table),
        "queries": {
            "rows_in": by(&m.rows_in_by_query),
            "rows_out": by(&m.rows_out_by_query),
            "late": by(&m.late_by_query),
            "late_corrected": by(&m.late_corrected_by_query),
            "groups": gauges(&m.groups_by_query),
            "open_windows": gauges(&m.open_windows_by_query),
            "state_bytes": gauges(&m.state_bytes_by_query),
        },
        "operators": {
            "state_bytes": gauges(&m.state_bytes_by_operator),
        },
        "sinks": {
            "changes": by(&m.written_by_sink),
            "upserts": by(&m.upserts_by_sink),
            "deletes": by(&m.deletes_by_sink),
            "retries": by(&m.sink_retries),
            "errors": by(&m.sink_errors),
        },
        "checkpoints": {
            "completed": get(&m.completed_checkpoints),
            "failed": get(&m.failed_checkpoints),
            "last_completed_ms": (last != 0).then_some(last),
            "size_bytes": get(&m.checkpoint_bytes),
            "duration_ms": get(&m.checkpoint_duration_ms),
            "stall_ms": get(&m.checkpoint_stall_ms),
        },
        "process": {
            "resident_memory_bytes": usage.map(|u| u.0),
            "cpu_seconds": usage.map(|u| u.1),
        },
    })
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
        "tally_source_bytes",
        "Bytes read from each source: a file's lines with their newlines, Kafka record payloads",
        counters(
            m.bytes_by_source
                .snapshot()
                .into_iter()
                .map(|(t, n)| (with("source", t), n)),
        ),
    );
    let parts = m.partitions.snapshot();
    let by_partition = |(source, p): &(String, i32)| {
        let mut l = with("source", source.clone());
        l.push(("partition".to_string(), p.to_string()));
        l
    };
    r.register(
        "tally_source_partition_rows",
        "Rows parsed from a partition's records, by source table and partition (Kafka)",
        counters(parts.iter().map(|(k, s)| (by_partition(k), s.rows))),
    );
    r.register(
        "tally_source_partition_bytes",
        "Bytes of the records read from a partition, by source table and partition (Kafka)",
        counters(parts.iter().map(|(k, s)| (by_partition(k), s.bytes))),
    );
    r.register(
        "tally_source_partition_bad_rows",
        "Malformed records of a partition counted and skipped, by source table and partition (Kafka)",
        counters(parts.iter().map(|(k, s)| (by_partition(k), s.bad))),
    );
    let lag = Family::<Labels, Gauge>::default();
    let committed = Family::<Labels, Gauge>::default();
    for (k, s) in &parts {
        if let Some(l) = s.lag() {
            lag.get_or_create(&by_partition(k)).set(l);
        }
        if s.committed >= 0 {
            committed.get_or_create(&by_partition(k)).set(s.committed);
        }
    }
    r.register(
        "tally_kafka_consumer_lag",
        "Records at the broker the job has not read yet (the partition's end, as the client last heard it, minus the next offset to read), by source table and partition",
        lag,
    );
    r.register(
        "tally_kafka_committed_offset",
        "The offset the job last committed for its group (everything before it is in the sinks), by source table and partition",
        committed,
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
        "tally_late_rows_corrected",
        "Rows that came after their window's end in event time but within the lateness, and revised it, by query",
        counters(
            m.late_corrected_by_query
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
        "tally_query_rows_out",
        "Updates a query's aggregate emitted (a changed row counts twice: -old and +new), by query",
        counters(
            m.rows_out_by_query
                .snapshot()
                .into_iter()
                .map(|(q, n)| (with("query", q), n)),
        ),
    );
    let open = Family::<Labels, Gauge>::default();
    for (q, v) in m.open_windows_by_query.snapshot() {
        open.get_or_create(&with("query", q)).set(v);
    }
    r.register(
        "tally_query_open_windows",
        "Windows not yet final a windowed query holds now, one per group and window, by query",
        open,
    );
    let state = Family::<Labels, Gauge>::default();
    for (q, v) in m.state_bytes_by_query.snapshot() {
        state.get_or_create(&with("query", q)).set(v);
    }
    r.register(
        "tally_query_state_bytes",
        "A query's aggregate state in bytes, as its last whole checkpoint snapshot measured it, by query",
        state,
    );
    let by_op = Family::<Labels, Gauge>::default();
    for (op, v) in m.state_bytes_by_operator.snapshot() {
        by_op.get_or_create(&with("operator", op)).set(v);
    }
    r.register(
        "tally_operator_state_bytes",
        "A stateful operator's state in bytes (aggregate, join, upsert, sink; named as in /api/job's graph), as its last whole checkpoint snapshot measured it",
        by_op,
    );
    let frontier = Family::<Labels, Gauge>::default();
    for (w, v) in m.frontier_by_worker.snapshot() {
        frontier.get_or_create(&with("worker", w)).set(v);
    }
    r.register(
        "tally_dataflow_frontier",
        "The epoch before which a worker's sinks have written every effect (-1: finished), by worker",
        frontier,
    );
    for (name, help, l) in [
        (
            "tally_sink_upserts",
            "Result changes a sink wrote as inserts or updates, by sink",
            &m.upserts_by_sink,
        ),
        (
            "tally_sink_deletes",
            "Result changes a sink wrote as deletes, by sink",
            &m.deletes_by_sink,
        ),
        (
            "tally_sink_errors",
            "Errors a sink's flushes met (each retry's cause, and a fatal one), by sink",
            &m.sink_errors,
        ),
    ] {
        r.register(
            name,
            help,
            counters(l.snapshot().into_iter().map(|(k, n)| (with("sink", k), n))),
        );
    }
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
