//! Taking checkpoints while a job runs, on every worker.
//!
//! 1. Worker 0 asks for checkpoint `seq` at epoch `E` (its requests input's time, at or before
//!    every epoch it has not fed yet) once the interval has passed since the last one, and for a
//!    final one when its sources have ended. The request is broadcast to every stateful
//!    operator with its maxima, so no operator's frontier passes `E` before it has seen it.
//! 2. Each operator snapshots its state once every epoch before `E` is applied and none after
//!    ([`crate::render::epoch_op::Driver`]), into this worker's [`Parts`].
//! 3. When all of a worker's operators have given theirs, the worker adds each source's position
//!    after the batches it fed before `E`, writes its part on a thread of its own (the dataflow
//!    goes on), and acknowledges to worker 0.
//! 4. With every worker's acknowledgement, worker 0 writes the manifest (the checkpoint is now
//!    complete), deletes what retention no longer keeps, and tells every worker, whose sources
//!    then commit the checkpoint's positions upstream (Kafka offsets to the group).

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tally_connectors::{Metrics, Position, Source};
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Inspect};

use crate::checkpoint::{self, Manifest, Options, PartBody, PartEntry, Parts};
use crate::render::epoch_op::CHECKPOINT;
use crate::render::Requests;

/// A worker's word to worker 0 that its part of a checkpoint is written (or why not).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ack {
    seq: u64,
    epoch: u64,
    worker: usize,
    fed_until: u64,
    part: Result<(PartEntry, Vec<Position>), String>,
    /// The oldest checkpoint the part's incremental snapshots need.
    needs: u64,
    /// How long taking the part's snapshots stopped this worker's operators (µs).
    stall_us: u64,
}

/// Worker 0's word to every worker that a checkpoint is complete (or failed).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Done {
    seq: u64,
    ok: bool,
    at_end: bool,
    /// Taken on SIGTERM: once it is complete every process exits.
    stop: bool,
    /// By source, every worker's position.
    positions: Vec<Vec<Position>>,
}

/// What every worker tells worker 0: a part it wrote, or that its process got SIGTERM.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum ToLeader {
    Ack(Ack),
    Stop,
    /// A worker has seen the stopping checkpoint complete (and will exit).
    Stopping,
}

/// Set in a process once one of its workers has seen the checkpoint taken for SIGTERM
/// complete: from then on the job is stopped, and a connection a peer closes on its way out is
/// no error ([`stop_committed`]).
static STOP_COMMITTED: AtomicBool = AtomicBool::new(false);

/// Whether this process has seen the job stopped at a complete checkpoint (SIGTERM).
pub fn stop_committed() -> bool {
    STOP_COMMITTED.load(Ordering::SeqCst)
}

/// How long worker 0, stopping, waits for every other worker to say it has seen the stop
/// before it exits anyway.
const STOP_GRACE: Duration = Duration::from_secs(5);

type AckInput = timely::dataflow::operators::vec::input::Handle<u64, ToLeader>;
type DoneInput = timely::dataflow::operators::vec::input::Handle<u64, Done>;

/// One worker's side of checkpointing.
pub struct Checkpointer {
    opts: Options,
    worker: usize,
    peers: usize,
    pub parts: Arc<Parts>,
    plan_text: String,
    metrics: Arc<Metrics>,
    /// Per source: the position before the oldest batch kept, and each batch's epoch with the
    /// position after it.
    base: Vec<Position>,
    history: Vec<VecDeque<(u64, Position)>>,
    /// One past the latest epoch fed.
    fed_until: u64,
    writing: VecDeque<Writing>,
    acks: Option<AckInput>,
    dones: Option<DoneInput>,
    got_acks: Rc<RefCell<Vec<ToLeader>>>,
    got_dones: Rc<RefCell<Vec<Done>>>,
    // Worker 0 only:
    next_seq: u64,
    last_request: Instant,
    /// Checkpoints asked for and not complete: seq -> acknowledgements so far.
    open: BTreeMap<u64, Vec<Ack>>,
    /// When each open checkpoint was asked for.
    asked: BTreeMap<u64, Instant>,
    final_seq: Option<u64>,
    /// Set on SIGTERM; the checkpoint taken for it.
    stop: Arc<AtomicBool>,
    /// Worker 0: another worker passed a SIGTERM on. Kept apart from `stop`, which the workers
    /// of a process share: a worker passing it on clears that flag, and must not clear this.
    stop_asked: bool,
    stop_seq: Option<u64>,
    failures: u32,
    /// Every worker: the final checkpoint is complete (or failed).
    pub final_done: bool,
    /// When this worker saw the stopping checkpoint complete.
    stopping: Option<Instant>,
    /// Worker 0: how many other workers have said they saw it.
    stopping_seen: usize,
}

struct Writing {
    seq: u64,
    epoch: u64,
    positions: Vec<Position>,
    needs: u64,
    stall_us: u64,
    thread: JoinHandle<Result<PartEntry, String>>,
}

impl Checkpointer {
    /// Builds the acknowledgement dataflow (every worker builds it, in the same order).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        worker: &mut timely::worker::Worker,
        opts: Options,
        parts: Arc<Parts>,
        plan_text: String,
        next_seq: u64,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let got_acks: Rc<RefCell<Vec<ToLeader>>> = Rc::default();
        let got_dones: Rc<RefCell<Vec<Done>>> = Rc::default();
        let (acks, dones) = worker.dataflow::<u64, _, _>(|scope| {
            let (acks, ack_stream) = scope.new_input::<ToLeader>();
            let got = got_acks.clone();
            ack_stream
                .exchange(|_| 0)
                .inspect(move |a| got.borrow_mut().push(a.clone()));
            let (dones, done_stream) = scope.new_input::<Done>();
            let got = got_dones.clone();
            done_stream
                .broadcast()
                .inspect(move |d| got.borrow_mut().push(d.clone()));
            (acks, dones)
        });
        Checkpointer {
            worker: worker.index(),
            peers: worker.peers(),
            opts,
            parts,
            plan_text,
            metrics,
            base: Vec::new(),
            history: Vec::new(),
            fed_until: 0,
            writing: VecDeque::new(),
            acks: Some(acks),
            dones: Some(dones),
            got_acks,
            got_dones,
            next_seq,
            last_request: Instant::now(),
            open: BTreeMap::new(),
            asked: BTreeMap::new(),
            final_seq: None,
            stop,
            stop_asked: false,
            stop_seq: None,
            failures: 0,
            final_done: false,
            stopping: None,
            stopping_seen: 0,
        }
    }

    /// The sources' positions before their first batch (after a restore has placed them at
    /// epoch `at`: a run that feeds nothing more still stands there at its final checkpoint).
    pub fn start(&mut self, positions: Vec<Position>, at: u64) {
        self.base = positions;
        self.fed_until = at;
        self.history = vec![VecDeque::new(); self.base.len()];
    }

    /// Source `index` stands at `position` for every checkpoint, past and future (a source
    /// that turned out to deliver nothing on this worker).
    pub fn reset(&mut self, index: usize, position: Position) {
        self.history[index].clear();
        self.base[index] = position;
    }

    /// Source `index` fed a batch at `epoch`, after which it stands at `position`.
    pub fn fed(&mut self, index: usize, epoch: u64, position: Position) {
        self.history[index].push_back((epoch, position));
        self.fed_until = self.fed_until.max(epoch + 1);
    }

    /// Worker 0: asks for a checkpoint when the interval has passed and none is open.
    pub fn maybe_request(&mut self, requests: &mut Requests) {
        if self.worker != 0 || self.stopping.is_some() {
            return;
        }
        // SIGTERM: a checkpoint now, then every process stops.
        if (self.stop_asked || self.stop.load(Ordering::Relaxed)) && self.stop_seq.is_none() {
            let epoch = *requests.time();
            self.stop_seq = Some(self.request(requests, epoch));
            tracing::info!("SIGTERM: taking a checkpoint, then stopping");
            return;
        }
        if !self.open.is_empty() || self.last_request.elapsed() < self.opts.interval {
            return;
        }
        let epoch = *requests.time();
        self.request(requests, epoch);
    }

    /// Worker 0: asks for the final checkpoint (every input has ended).
    pub fn request_final(&mut self, requests: &mut Requests) {
        if self.worker == 0 {
            let seq = self.request(requests, u64::MAX);
            self.final_seq = Some(seq);
        }
    }

    fn request(&mut self, requests: &mut Requests, epoch: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        requests.send((CHECKPOINT, epoch, seq as i64));
        self.open.insert(seq, Vec::new());
        self.asked.insert(seq, Instant::now());
        self.last_request = Instant::now();
        tracing::debug!(seq, epoch, "checkpoint requested");
        seq
    }

    /// The position of every source after its batches before `epoch`; forgets older batches.
    fn cut(&mut self, epoch: u64) -> Vec<Position> {
        let mut out = Vec::with_capacity(self.history.len());
        for (base, history) in self.base.iter_mut().zip(&mut self.history) {
            while history.front().is_some_and(|(e, _)| *e < epoch) {
                *base = history.pop_front().expect("non-empty").1;
            }
            out.push(base.clone());
        }
        out
    }

    /// Moves checkpoints on: writes parts whose snapshots are all in, acknowledges written
    /// ones, and (worker 0) completes checkpoints every worker has acknowledged. An error stops
    /// the job (too many failed checkpoints in a row).
    pub fn step(&mut self, sources: &mut [Box<dyn Source>]) -> Result<(), String> {
        if let Some(e) = self.parts.failed() {
            return Err(e);
        }
        while let Some((seq, epoch, snapshots)) = self.parts.complete() {
            let positions = self.cut(epoch);
            let dir = checkpoint::checkpoint_dir(&self.opts.dir, seq);
            let (needs, stall_us) = match &snapshots {
                Ok(ops) => (
                    ops.values().map(|s| s.base).min().unwrap_or(seq),
                    ops.values().map(|s| s.took_us).sum(),
                ),
                Err(_) => (seq, 0),
            };
            let body = snapshots.map(|operators| PartBody {
                seq,
                worker: self.worker,
                peers: self.peers,
                operators,
                sources: positions.clone(),
                fed_until: self.fed_until,
            });
            let worker = self.worker;
            let thread = std::thread::spawn(move || write_part(dir, worker, body?));
            self.writing.push_back(Writing {
                seq,
                epoch,
                positions,
                needs,
                stall_us,
                thread,
            });
        }
        while self.writing.front().is_some_and(|w| w.thread.is_finished()) {
            let w = self.writing.pop_front().expect("non-empty");
            let part = w
                .thread
                .join()
                .unwrap_or_else(|_| Err("the writer thread panicked".into()))
                .map(|entry| (entry, w.positions));
            let acks = self.acks.as_mut().expect("open until the end");
            if *acks.time() < w.seq {
                acks.advance_to(w.seq);
            }
            acks.send(ToLeader::Ack(Ack {
                seq: w.seq,
                epoch: w.epoch,
                worker: self.worker,
                fed_until: self.fed_until,
                part,
                needs: w.needs,
                stall_us: w.stall_us,
            }));
            acks.advance_to(w.seq + 1);
        }
        // SIGTERM in any process: worker 0 takes the checkpoint that stops the job. Another
        // worker passes it on (and clears the flag, so that a later SIGTERM is passed on too
        // when this one's checkpoint fails).
        if self.worker != 0 && self.stop.swap(false, Ordering::Relaxed) {
            tracing::info!("SIGTERM: asking worker 0 for a checkpoint, then stopping");
            let acks = self.acks.as_mut().expect("open until the end");
            acks.send(ToLeader::Stop);
        }
        let acks: Vec<ToLeader> = std::mem::take(&mut *self.got_acks.borrow_mut());
        for a in acks {
            match a {
                ToLeader::Ack(a) => self.open.entry(a.seq).or_default().push(a),
                ToLeader::Stop => self.stop_asked = true,
                ToLeader::Stopping => self.stopping_seen += 1,
            }
        }
        while let Some((&seq, got)) = self.open.first_key_value() {
            if got.len() < self.peers {
                break;
            }
            let got = self.open.remove(&seq).expect("present");
            let at_end = self.final_seq == Some(seq);
            let stop = self.stop_seq == Some(seq);
            let done = self.complete(seq, got, at_end).map(|mut d| {
                d.stop = stop;
                d
            });
            if stop && done.as_ref().is_ok_and(|d| !d.ok) {
                // The job goes on; another SIGTERM tries again.
                self.stop_seq = None;
                self.stop_asked = false;
                self.stop.store(false, Ordering::Relaxed);
            }
            let dones = self.dones.as_mut().expect("open until the end");
            if *dones.time() < seq {
                dones.advance_to(seq);
            }
            dones.send(done?);
            dones.advance_to(seq + 1);
        }
        let dones: Vec<Done> = std::mem::take(&mut *self.got_dones.borrow_mut());
        for d in dones {
            if d.ok {
                self.parts.completed(d.seq);
                for (src, positions) in sources.iter_mut().zip(&d.positions) {
                    src.checkpointed(positions);
                }
            }
            if d.at_end {
                self.final_done = true;
            }
            if d.stop && d.ok {
                // Everything up to the checkpoint is durable, and the sinks' writes since are
                // in their logs: a restart goes on from here. Ending the inputs instead would
                // close every open window as if the stream had ended.
                tracing::info!(
                    seq = d.seq,
                    "stopped on SIGTERM after a complete checkpoint"
                );
                STOP_COMMITTED.store(true, Ordering::SeqCst);
                self.stopping = Some(Instant::now());
                if self.worker != 0 {
                    let acks = self.acks.as_mut().expect("open until the end");
                    acks.send(ToLeader::Stopping);
                    acks.flush();
                }
            }
        }
        // Worker 0 exits once every other worker has seen the stop, so none is left waiting
        // for it on a closed connection; the others shortly after saying so. A connection a
        // peer closed on its way out is no error then (`run` checks `stop_committed`).
        if let Some(since) = self.stopping {
            let all_seen = self.worker == 0 && self.stopping_seen + 1 >= self.peers;
            // Another worker only gives its word time to leave.
            let grace = if self.worker == 0 {
                STOP_GRACE
            } else {
                Duration::from_millis(200)
            };
            if all_seen || since.elapsed() > grace {
                std::process::exit(0);
            }
        }
        Ok(())
    }

    /// Worker 0: writes the manifest of a checkpoint every worker has acknowledged.
    fn complete(&mut self, seq: u64, mut got: Vec<Ack>, at_end: bool) -> Result<Done, String> {
        got.sort_by_key(|a| a.worker);
        let failed: Vec<String> = got
            .iter()
            .filter_map(|a| {
                a.part
                    .as_ref()
                    .err()
                    .map(|e| format!("worker {}: {e}", a.worker))
            })
            .collect();
        let epoch = if at_end {
            got.iter().map(|a| a.fed_until).max().unwrap_or(0)
        } else {
            got[0].epoch
        };
        let result = if failed.is_empty() {
            self.write_manifest(seq, epoch, at_end, &got)
        } else {
            Err(failed.join("; "))
        };
        let sources = self.base.len();
        match result {
            Ok(positions) => {
                self.failures = 0;
                self.metrics.last_checkpoint_ms.store(
                    tally_connectors::now_ms(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                for gone in checkpoint::retain(&self.opts.dir, self.opts.retained) {
                    tracing::debug!("deleted checkpoint {}", gone.display());
                }
                let took = self.asked.remove(&seq).map(|t| t.elapsed());
                let bytes: u64 = got
                    .iter()
                    .filter_map(|a| a.part.as_ref().ok())
                    .map(|(entry, _)| entry.bytes)
                    .sum();
                let stall_ms = got.iter().map(|a| a.stall_us).max().unwrap_or(0) / 1000;
                let needs = got.iter().map(|a| a.needs).min().unwrap_or(seq);
                let ms = took.map_or(0, |t| t.as_millis() as u64);
                let m = &self.metrics;
                m.completed_checkpoints.fetch_add(1, Ordering::Relaxed);
                m.checkpoint_bytes.store(bytes, Ordering::Relaxed);
                m.checkpoint_duration_ms.store(ms, Ordering::Relaxed);
                m.checkpoint_stall_ms.store(stall_ms, Ordering::Relaxed);
                tracing::info!(
                    seq,
                    epoch,
                    bytes,
                    ms,
                    stall_ms,
                    incremental = needs < seq,
                    "checkpoint complete"
                );
                Ok(Done {
                    seq,
                    ok: true,
                    at_end,
                    stop: false,
                    positions,
                })
            }
            Err(e) => {
                self.asked.remove(&seq);
                self.failures += 1;
                self.metrics
                    .failed_checkpoints
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    "checkpoint {seq} failed ({e}); the job goes on from the last complete one \
                     ({} failed in a row, {} tolerated)",
                    self.failures,
                    self.opts.tolerable_failures
                );
                if self.failures > self.opts.tolerable_failures {
                    return Err(format!(
                        "{} checkpoints failed in a row \
                         (execution.checkpointing.tolerable-failed-checkpoints is {}); the last: {e}",
                        self.failures, self.opts.tolerable_failures
                    ));
                }
                Ok(Done {
                    seq,
                    ok: false,
                    at_end,
                    stop: false,
                    positions: vec![Vec::new(); sources],
                })
            }
        }
    }

    fn write_manifest(
        &self,
        seq: u64,
        epoch: u64,
        at_end: bool,
        got: &[Ack],
    ) -> Result<Vec<Vec<Position>>, String> {
        let mut parts = Vec::with_capacity(got.len());
        let mut by_source: Vec<Vec<Position>> = vec![Vec::new(); self.base.len()];
        for a in got {
            let (entry, positions) = a.part.as_ref().expect("checked");
            parts.push(entry.clone());
            for (i, p) in positions.iter().enumerate() {
                by_source[i].push(p.clone());
            }
        }
        let manifest = Manifest {
            format: checkpoint::FORMAT,
            seq,
            epoch,
            at_end,
            created_ms: tally_connectors::now_ms(),
            workers: self.peers,
            parts,
            sources: by_source.clone(),
            fingerprint: checkpoint::fingerprint(&self.plan_text),
            plan: self.plan_text.clone(),
            needs: got.iter().map(|a| a.needs).min().unwrap_or(seq),
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        let dir = checkpoint::checkpoint_dir(&self.opts.dir, seq);
        checkpoint::write_manifest(&dir, &json).map_err(|e| e.to_string())?;
        Ok(by_source)
    }

    /// Closes the acknowledgement inputs (after the final checkpoint).
    pub fn close(&mut self) {
        self.acks = None;
        self.dones = None;
    }
}

fn write_part(dir: checkpoint::Loc, worker: usize, body: PartBody) -> Result<PartEntry, String> {
    let bytes = checkpoint::encode_part(&body).map_err(|e| e.to_string())?;
    let file = format!("part-{worker}.bin");
    // Durable in a directory (tmp, fsync, rename, fsync), one atomic put in an object store.
    dir.join(&file).write(&bytes).map_err(|e| e.to_string())?;
    Ok(PartEntry {
        worker,
        file,
        bytes: bytes.len() as u64,
        crc32c: crc32c::crc32c(&bytes),
    })
}
