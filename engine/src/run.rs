//! The worker loop: open each worker's share of the sources, feed the inputs epoch by epoch,
//! keep the dataflow from running far ahead of the sinks, and stop when every source is done
//! and every sink has flushed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tally_connectors::{open_source, Metrics, Poll, Position, Reading, WorkerInfo};
use tally_sql::plan::Plan;
use tally_sql::{Row, Value};
use timely::{CommunicationConfig, Config, WorkerConfig};

use crate::checkpoint::{self, Restored, SinkLogs};
use crate::persist::Checkpointer;
use crate::render::{self, Shared};

/// How to run a job: timely's own `-w`, `-n`, `-p`, `-h`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub workers: usize,
    pub processes: usize,
    pub process: usize,
    pub hostfile: Option<PathBuf>,
    /// Rows per batch (epoch) of bounded sources; `None`: the job's `chunk.rows`, else the
    /// default.
    pub chunk_rows: Option<usize>,
    /// Print a progress line on stderr every this often (None: never).
    pub progress_every: Option<Duration>,
    /// A process of a cluster that has not formed it within this time fails.
    pub connect_timeout: Duration,
    /// Checkpoints (`None`: the job keeps no state across runs).
    pub checkpoint: Option<checkpoint::Options>,
    /// Serve `/metrics`, `/healthz` and `/readyz` while the job runs.
    pub http: Option<crate::http::HttpOptions>,
    /// The job's name (its file's stem): the `job` label of the metrics.
    pub job: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
            chunk_rows: None,
            progress_every: Some(Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(30),
            checkpoint: None,
            http: None,
            job: "job".into(),
        }
    }
}

/// What a finished run reports.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    pub rows_in: u64,
    pub bad_rows: u64,
    pub late_rows: u64,
    pub result_changes: u64,
    pub elapsed: Duration,
}

/// Why a job could not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `-w`, `-n`, `-p` or the hostfile do not describe a cluster.
    #[error("{0}")]
    Cluster(String),
    #[error("cannot read the hostfile {path}: {source}")]
    Hostfile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the workers: {0}")]
    Start(String),
    /// The HTTP server (`--http`) cannot serve.
    #[error("{0}")]
    Http(String),
    /// The first error a worker met (a source or sink that failed, a worker that panicked).
    #[error("{0}")]
    Worker(String),
    /// The checkpoint to start from cannot be read or does not fit the job.
    #[error("{0}")]
    Checkpoint(#[from] checkpoint::CheckpointError),
}

fn timely_config(opts: &RunOptions) -> Result<(Config, Vec<String>), EngineError> {
    if opts.workers == 0 {
        return Err(EngineError::Cluster("-w must be at least 1".into()));
    }
    if opts.processes == 0 || opts.process >= opts.processes {
        return Err(EngineError::Cluster(format!(
            "-p {} is not a process of a {}-process cluster (-n)",
            opts.process, opts.processes
        )));
    }
    let communication = if opts.processes > 1 {
        let addresses: Vec<String> = match &opts.hostfile {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| EngineError::Hostfile {
                        path: path.clone(),
                        source,
                    })?;
                let lines: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect();
                if lines.len() < opts.processes {
                    return Err(EngineError::Cluster(format!(
                        "the hostfile {} has {} address(es) but -n is {}",
                        path.display(),
                        lines.len(),
                        opts.processes
                    )));
                }
                lines.into_iter().take(opts.processes).collect()
            }
            None => (0..opts.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect(),
        };
        let shown = addresses.clone();
        return Ok((
            Config {
                communication: CommunicationConfig::Cluster {
                    threads: opts.workers,
                    process: opts.process,
                    addresses,
                    report: false,
                    zerocopy: false,
                },
                worker: WorkerConfig::default(),
            },
            shown,
        ));
    } else if opts.workers > 1 {
        CommunicationConfig::Process(opts.workers)
    } else {
        CommunicationConfig::Thread
    };
    Ok((
        Config {
            communication,
            worker: WorkerConfig::default(),
        },
        Vec::new(),
    ))
}

/// Runs a planned job to its end (bounded sources) or until it fails.
pub fn run(plan: Plan, opts: RunOptions) -> Result<RunSummary, EngineError> {
    let (config, addresses) = timely_config(&opts)?;
    let formed = Arc::new(AtomicBool::new(opts.processes == 1));
    // This process's workers that finished their job without an error.
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let finished_here = finished.clone();
    if opts.processes > 1 {
        crate::cluster::explain_network_panics(opts.process, opts.workers, finished.clone());
        crate::cluster::watchdog(
            opts.connect_timeout,
            formed.clone(),
            format!(
                "process {} of {} did not form the cluster within {} s: every process must be \
                 running, reachable at its address ({}), and given the same -w (here -w {})",
                opts.process,
                opts.processes,
                opts.connect_timeout.as_secs(),
                addresses.join(", "),
                opts.workers
            ),
        );
    }
    let (process, threads, cluster) = (opts.process, opts.workers, opts.processes > 1);
    let metrics = Arc::new(Metrics::default());
    let _ = metrics.job.set(opts.job.clone());
    let results = opts
        .http
        .as_ref()
        .map(|h| Arc::new(crate::results::Results::new(&plan, h.result_rows)));
    if let (Some(h), Some(r)) = (&opts.http, &results) {
        let (bind, peers) = crate::http::cluster_addresses(&h.addr, opts.process, &addresses)?;
        let job = crate::http::JobView::new(&plan, &opts, r.clone(), peers);
        crate::http::serve(&bind, h, job, metrics.clone())?;
    }
    let abort = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let progress = opts
        .progress_every
        .map(|every| spawn_progress(metrics.clone(), done.clone(), every));

    let chunk_rows = opts
        .chunk_rows
        .or(plan.settings.chunk_rows)
        .unwrap_or(tally_connectors::DEFAULT_CHUNK_ROWS)
        .max(1);
    // The state of a checkpoint fits only the plan (and batch size) that wrote it.
    let plan_text = format!(
        "{plan}\nchunk.rows = {chunk_rows}\nlanes = {}",
        plan.settings.lanes
    );
    let resume = match &opts.checkpoint {
        Some(ck) => {
            let restored = checkpoint::find_start(ck)?;
            if let Some(r) = &restored {
                checkpoint::check_compatible(r, &plan_text)?;
                if opts.process == 0 {
                    tracing::info!(
                        "resuming from checkpoint {} (epoch {})",
                        r.dir.display(),
                        r.manifest.epoch
                    );
                }
            }
            let next_seq = checkpoint::next_seq(&ck.dir)?;
            let logs = SinkLogs {
                dir: ck.dir.clone(),
                segment: restored
                    .as_ref()
                    .map_or(next_seq.saturating_sub(1), |r| r.manifest.seq),
                replay_from: restored.as_ref().map_or(0, |r| r.manifest.seq),
            };
            // SIGTERM takes a checkpoint and stops (without checkpoints it ends the process).
            let stop = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())
                .map_err(|e| EngineError::Start(format!("cannot handle SIGTERM: {e}")))?;
            Some(Arc::new(Resume {
                stop,
                opts: ck.clone(),
                restored,
                logs: Arc::new(logs),
                next_seq,
                plan_text,
            }))
        }
        None => None,
    };
    let plan = Arc::new(plan);
    let worker_metrics = metrics.clone();
    let guards = timely::execute(config, move |worker| {
        // Every worker builds the handshake dataflow: all build the same dataflows in order.
        let result = if cluster {
            crate::cluster::handshake(worker, process, threads)
        } else {
            Ok(())
        }
        .inspect(|()| formed.store(true, Ordering::SeqCst))
        .and_then(|()| {
            worker_main(
                worker,
                &plan,
                &worker_metrics,
                &results,
                &abort,
                chunk_rows,
                resume.as_deref(),
            )
        });
        match &result {
            Ok(()) => {
                finished_here.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => abort.store(true, Ordering::SeqCst),
        }
        result
    })
    .map_err(EngineError::Start)?;
    let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join()));
    if crate::persist::stop_committed() {
        // The job stopped at a complete checkpoint (SIGTERM); whatever failed after is a peer
        // that exited first.
        std::process::exit(0);
    }
    let results = match joined {
        Ok(results) => results,
        // Every worker here finished; a peer that closed its connections first made timely's
        // network threads fail on the way out. Nothing of the job is lost.
        Err(_) if cluster && finished.load(Ordering::SeqCst) >= threads => {
            tracing::warn!(
                "every worker of process {process} finished; the cluster's connections closed \
                 with an error on the way out (a peer ended first)"
            );
            (0..threads).map(|_| Ok(Ok(()))).collect()
        }
        Err(panic) => std::panic::resume_unwind(panic),
    };
    done.store(true, Ordering::SeqCst);
    if let Some(p) = progress {
        let _ = p.join();
    }
    let mut first_error = None;
    for r in results {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(panic) => {
                first_error.get_or_insert(format!("a worker panicked: {panic}"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(EngineError::Worker(e));
    }
    let summary = RunSummary {
        rows_in: Metrics::get(&metrics.rows_in),
        bad_rows: Metrics::get(&metrics.bad_rows),
        late_rows: Metrics::get(&metrics.late_rows),
        result_changes: Metrics::get(&metrics.result_rows),
        elapsed: started.elapsed(),
    };
    Ok(summary)
}

/// What the workers of a checkpointing job start from.
struct Resume {
    opts: checkpoint::Options,
    restored: Option<Restored>,
    logs: Arc<SinkLogs>,
    next_seq: u64,
    plan_text: String,
    /// Set on SIGTERM.
    stop: Arc<AtomicBool>,
}

fn worker_main(
    worker: &mut timely::worker::Worker,
    plan: &Plan,
    metrics: &Arc<Metrics>,
    results: &Option<Arc<crate::results::Results>>,
    abort: &AtomicBool,
    chunk_rows: usize,
    resume: Option<&Resume>,
) -> Result<(), String> {
    let info = WorkerInfo {
        index: worker.index(),
        peers: worker.peers(),
    };
    let shared = Shared {
        metrics: metrics.clone(),
        error: Arc::new(Mutex::new(None)),
        worker: info,
        lanes: plan.settings.lanes.max(1),
        idle_ms: plan.settings.idle_timeout_ms,
        expected_lanes: Arc::default(),
        checkpoint: resume.map(|r| r.logs.clone()),
        results: results.clone(),
        dry: false,
    };
    let lanes = plan.settings.lanes.max(1);
    let restored = resume.and_then(|r| r.restored.as_ref());
    // Built before the job's dataflow, in the same order on every worker.
    let mut ck = resume.map(|r| {
        let snapshots = restored.map_or_else(Default::default, |c| {
            checkpoint::restores(c, info.index, info.peers)
        });
        Checkpointer::new(
            worker,
            r.opts.clone(),
            Arc::new(checkpoint::Parts::new(
                snapshots,
                restored.map(|c| c.manifest.seq),
            )),
            r.plan_text.clone(),
            r.next_seq,
            metrics.clone(),
            r.stop.clone(),
        )
    });
    let parts = ck.as_ref().map(|c| c.parts.clone());
    let dataflow = worker.dataflow::<u64, _, _>(|scope| render::build(scope, plan, &shared, parts));
    if let Some(c) = ck.as_ref() {
        let unclaimed = c.parts.unclaimed();
        if !unclaimed.is_empty() {
            return Err(format!(
                "the checkpoint has state for operators this plan does not have: {}",
                unclaimed.join(", ")
            ));
        }
    }
    let pace = dataflow.probes.pace;
    let applied = dataflow.probes.applied;
    let mut requests = dataflow.requests;
    let mut inputs: Vec<_> = dataflow.inputs.into_iter().map(Some).collect();
    let mut sources = Vec::new();
    let reading = Reading {
        worker: info,
        chunk_rows,
        idle_ms: plan.settings.idle_timeout_ms,
        metrics: metrics.clone(),
    };
    for s in &plan.sources {
        let src = open_source(&s.table, &s.config, &s.schema, s.dimension, &reading)
            .map_err(|e| format!("source {}: {e}", s.table))?;
        sources.push(src);
    }
    // Connected: `/readyz` now waits for each source to have read what was there.
    metrics
        .sources_expected
        .fetch_add(sources.len() as u64, Ordering::Relaxed);
    metrics.workers_started.fetch_add(1, Ordering::Relaxed);
    metrics.ready.store(true, Ordering::Relaxed);
    let mut caught_up = vec![false; sources.len()];
    // Each source's lanes: a live topic's partitions, otherwise its one lane.
    let expected: Vec<Vec<u64>> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let own = s.lanes();
            let own = if own.is_empty() { vec![0] } else { own };
            let mut global: Vec<u64> = own.into_iter().map(|l| plan.lane(i, l)).collect();
            global.sort_unstable();
            global.dedup();
            global
        })
        .collect();
    let _ = shared.expected_lanes.set(expected);
    // Sources read again on restart (a polled or binlog dimension) have their net delivered
    // rows kept as their position; after a restore the first batch is delivered as the
    // difference to the checkpoint's rows.
    let mut delivered: Vec<Option<rustc_hash::FxHashMap<Row, i64>>> = sources
        .iter()
        .map(|s| (ck.is_some() && s.position() == Position::Reread).then(Default::default))
        .collect();
    let mut rebase: Vec<Option<rustc_hash::FxHashMap<Row, i64>>> = vec![None; sources.len()];
    // A restored job goes on where its checkpoint stands: every epoch before it is in the state.
    if let Some(r) = restored {
        for (i, slot) in delivered.iter_mut().enumerate() {
            let Some(table) = slot.as_mut() else { continue };
            for p in &r.manifest.sources[i] {
                if let Position::Table(rows) = p {
                    for (row, n) in rows {
                        *table.entry(row.clone()).or_default() += n;
                    }
                }
            }
            rebase[i] = Some(table.clone());
        }
        let at = r.manifest.epoch;
        for (i, src) in sources.iter_mut().enumerate() {
            let lane = plan.lane(i, 0);
            let first = if at <= lane {
                0
            } else {
                (at - lane).div_ceil(lanes)
            };
            src.resume(first, &r.manifest.sources[i])
                .map_err(|e| format!("source {}: {e}", plan.sources[i].table))?;
        }
        for input in inputs.iter_mut().flatten() {
            input.advance_to(at);
        }
        if let Some(req) = requests.as_mut() {
            req.advance_to(at);
        }
    }
    if let Some(c) = ck.as_mut() {
        c.start(
            sources
                .iter()
                .zip(&delivered)
                .map(|(s, d)| position_of(s.as_ref(), d.as_ref()))
                .collect(),
            restored.map_or(0, |r| r.manifest.epoch),
        );
    }
    // How many epochs the inputs may run ahead of what the sinks have seen.
    let max_ahead = 4 * info.peers as u64 * lanes;
    let mut batch = Vec::new();
    // Per positioned source: the epoch of its last batch and the place of its next row in it.
    let mut positions: Vec<(u64, i64)> = vec![(u64::MAX, 0); sources.len()];
    let worker_label = info.index.to_string();
    let mut last_frontier = i64::MIN;
    loop {
        if abort.load(Ordering::Relaxed) {
            return Err("stopped because another worker failed".into());
        }
        if let Some(e) = shared.failed() {
            return Err(e);
        }
        let mut busy = false;
        // Stopped at a checkpoint (SIGTERM): nothing more is read while the workers wait for
        // each other to exit.
        let stopping = crate::persist::stop_committed();
        // The streams' newest epoch on this worker. A dimension numbers its changes by the
        // wall clock; they are applied at the streams' epoch instead (at most), so a change
        // reaches the stream rows being read now and revises the windows open now, whatever
        // the streams number their batches by (a generator block, a file chunk, a bounded
        // Kafka round or wall-clock milliseconds). Otherwise a change would wait, in the
        // future of a bounded stream's epochs, until that stream ended.
        let stream_now = plan
            .sources
            .iter()
            .zip(&inputs)
            .filter(|(s, _)| !s.dimension)
            .filter_map(|(_, slot)| slot.as_ref().map(|i| *i.time() / lanes))
            .max()
            .unwrap_or(0);
        for (index, (src, slot)) in sources.iter_mut().zip(inputs.iter_mut()).enumerate() {
            let Some(input) = slot.as_mut() else { continue };
            if stopping {
                continue;
            }
            let dimension = plan.sources[index].dimension;
            match src.poll(&mut batch).map_err(|e| e.to_string())? {
                Poll::Batch { epoch } => {
                    let source_epoch = epoch;
                    let epoch = if dimension {
                        epoch.min(stream_now)
                    } else {
                        epoch
                    };
                    let epoch = (epoch * lanes + plan.lane(index, src.lane())).max(*input.time());
                    input.advance_to(epoch);
                    // Tell timely first, so the rows travel at their own epoch.
                    input.flush();
                    let mut deletes = Vec::new();
                    src.take_deletes(&mut deletes);
                    if let Some(before) = rebase[index].take() {
                        // The table read again, as the difference to what the checkpoint has.
                        rebased(before, &mut batch, &mut deletes);
                    }
                    if let Some(d) = delivered[index].as_mut() {
                        for row in &batch {
                            *d.entry(row.clone()).or_default() += 1;
                        }
                        for row in &deletes {
                            *d.entry(row.clone()).or_default() -= 1;
                        }
                        d.retain(|_, n| *n != 0);
                    }
                    let fed = (batch.len() + deletes.len()) as u64;
                    metrics.read_by_source.add(&plan.sources[index].table, fed);
                    metrics.read_by_worker.add(&worker_label, fed);
                    if plan.sources[index].positioned {
                        let (at, next) = &mut positions[index];
                        if *at != source_epoch {
                            (*at, *next) = (source_epoch, 0);
                        }
                        for mut row in batch.drain(..) {
                            row.extend([Value::Int(*at as i64), Value::Int(*next)]);
                            *next += 1;
                            input.update(row, 1);
                        }
                        // A row that left is matched by its columns alone.
                        for mut row in deletes.drain(..) {
                            row.extend([Value::Int(*at as i64), Value::Int(*next)]);
                            input.update(row, -1);
                        }
                    } else {
                        for row in batch.drain(..) {
                            input.update(row, 1);
                        }
                        for row in deletes.drain(..) {
                            input.update(row, -1);
                        }
                    }
                    if let Some(c) = ck.as_mut() {
                        c.fed(
                            index,
                            epoch,
                            position_of(src.as_ref(), delivered[index].as_ref()),
                        );
                    }
                    busy = true;
                }
                Poll::Idle => {
                    if !caught_up[index] {
                        caught_up[index] = true;
                        metrics.sources_caught_up.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Poll::Done => {
                    if !caught_up[index] {
                        caught_up[index] = true;
                        metrics.sources_caught_up.fetch_add(1, Ordering::Relaxed);
                    }
                    batch.clear();
                    *slot = None;
                    // A table read again on restart is read by one worker; on the others
                    // (done at once) it delivered nothing, before or after the checkpoint:
                    // only the reader's rows count, once.
                    if delivered[index].take().is_some() {
                        delivered[index] = Some(Default::default());
                        rebase[index] = None;
                        if let Some(c) = ck.as_mut() {
                            c.reset(index, Position::Table(Vec::new()));
                        }
                    }
                    continue;
                }
            }
            let next = if dimension {
                src.next_epoch().min(stream_now)
            } else {
                src.next_epoch()
            };
            let next = (next * lanes).max(*input.time());
            input.advance_to(next);
            input.flush();
        }
        // Dimensions are kept current only while a stream still flows: once every stream
        // source has ended, so do they, and the job can finish.
        let streams_done = plan
            .sources
            .iter()
            .zip(&inputs)
            .all(|(s, slot)| s.dimension || slot.is_none());
        if streams_done {
            inputs.iter_mut().for_each(|slot| *slot = None);
        }
        let open: Vec<u64> = inputs.iter().flatten().map(|i| *i.time()).collect();
        if open.is_empty() {
            break;
        }
        if let (Some(c), Some(req)) = (ck.as_mut(), requests.as_mut()) {
            // Requests travel at or before every epoch this worker has still to feed.
            let floor = open.iter().copied().min().unwrap_or(0);
            if *req.time() < floor {
                req.advance_to(floor);
            }
            c.maybe_request(req);
            c.step(&mut sources)?;
        } else {
            // In the sources' own epochs: all lanes of epoch e are before (e + 1) * lanes.
            let applied_through = applied.with_frontier(|f| f.as_option().map(|t| t / lanes));
            for src in sources.iter_mut() {
                src.applied(applied_through);
            }
        }
        worker.step_or_park(if busy {
            Some(Duration::ZERO)
        } else {
            Some(Duration::from_millis(5))
        });
        let frontier = applied.with_frontier(|f| f.as_option().map_or(-1, |t| (t / lanes) as i64));
        if frontier != last_frontier {
            last_frontier = frontier;
            metrics
                .frontier_by_worker
                .set(&worker_label, info.index, frontier);
        }
        let slowest = open.iter().copied().min().unwrap_or(0);
        while pace.less_than(&slowest.saturating_sub(max_ahead)) {
            worker.step_or_park(Some(Duration::from_millis(1)));
            if let Some(e) = shared.failed() {
                return Err(e);
            }
            if abort.load(Ordering::Relaxed) {
                return Err("stopped because another worker failed".into());
            }
        }
    }
    // Every input has ended: the final checkpoint is asked for before the requests close.
    if let (Some(c), Some(req)) = (ck.as_mut(), requests.as_mut()) {
        c.request_final(req);
    }
    drop(requests);
    while !applied.done() || ck.as_ref().is_some_and(|c| !c.final_done) {
        worker.step_or_park(Some(Duration::from_millis(5)));
        if let Some(c) = ck.as_mut() {
            c.step(&mut sources)?;
        } else {
            // In the sources' own epochs: all lanes of epoch e are before (e + 1) * lanes.
            let applied_through = applied.with_frontier(|f| f.as_option().map(|t| t / lanes));
            for src in sources.iter_mut() {
                src.applied(applied_through);
            }
        }
        if let Some(e) = shared.failed() {
            return Err(e);
        }
        if abort.load(Ordering::Relaxed) {
            return Err("stopped because another worker failed".into());
        }
    }
    match ck.as_mut() {
        Some(c) => c.close(),
        None => {
            for src in sources.iter_mut() {
                src.applied(None);
            }
        }
    }
    Ok(())
}

/// A source's position for a checkpoint: its own, or the rows it delivered when it is read again
/// on restart.
fn position_of(
    src: &dyn tally_connectors::Source,
    delivered: Option<&rustc_hash::FxHashMap<Row, i64>>,
) -> Position {
    match delivered {
        Some(rows) => {
            let mut rows: Vec<(Row, i64)> = rows.iter().map(|(r, n)| (r.clone(), *n)).collect();
            rows.sort();
            Position::Table(rows)
        }
        None => src.position(),
    }
}

/// Turns a table read whole again (`inserts`, with `deletes` the source computed itself) into
/// its difference to `before`, the rows delivered before the checkpoint.
fn rebased(
    mut before: rustc_hash::FxHashMap<Row, i64>,
    inserts: &mut Vec<Row>,
    deletes: &mut Vec<Row>,
) {
    let mut now: rustc_hash::FxHashMap<Row, i64> = rustc_hash::FxHashMap::default();
    for row in inserts.drain(..) {
        *now.entry(row).or_default() += 1;
    }
    for row in deletes.drain(..) {
        *now.entry(row).or_default() -= 1;
    }
    for (row, n) in now {
        *before.entry(row).or_default() -= n;
    }
    // What is left is before minus now: positive counts left the table, negative ones came.
    for (row, n) in before {
        if n > 0 {
            deletes.extend(std::iter::repeat_n(row, n as usize));
        } else if n < 0 {
            inserts.extend(std::iter::repeat_n(row, (-n) as usize));
        }
    }
}

fn spawn_progress(
    metrics: Arc<Metrics>,
    done: Arc<AtomicBool>,
    every: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut last = (Instant::now(), 0u64);
        while !done.load(Ordering::Relaxed) {
            let tick = Instant::now();
            while tick.elapsed() < every {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let rows = Metrics::get(&metrics.rows_in);
            let rate = (rows - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
            last = (Instant::now(), rows);
            let wm = metrics.watermark_ms.load(Ordering::Relaxed);
            let wm = if wm == i64::MIN {
                "-".to_string()
            } else {
                chrono_like(wm)
            };
            let last = metrics.last_checkpoint_ms.load(Ordering::Relaxed);
            let checkpoint = if last == 0 {
                String::new()
            } else {
                let age = tally_connectors::now_ms().saturating_sub(last) as f64 / 1000.0;
                format!(" | checkpoint {age:.1}s ago")
            };
            eprintln!(
                "[{:>6.1}s] rows in {rows} ({:.0}/s) | watermark {wm} | late {} | bad {} | result changes {}{checkpoint}",
                start.elapsed().as_secs_f64(),
                rate,
                Metrics::get(&metrics.late_rows),
                Metrics::get(&metrics.bad_rows),
                Metrics::get(&metrics.result_rows),
            );
        }
    })
}

/// Epoch ms as `yyyy-MM-dd HH:mm:ss` UTC.
fn chrono_like(ms: i64) -> String {
    let f = tally_sql::expr::date::DateFormat::from_java("yyyy-MM-dd HH:mm:ss");
    f.format(
        ms.div_euclid(1000),
        chrono::FixedOffset::east_opt(0).expect("UTC"),
    )
    .unwrap_or_else(|| ms.to_string())
}
