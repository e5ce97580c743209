//! Durable checkpoints: what each worker writes, the manifest that makes a checkpoint complete,
//! finding the latest complete one again, and retention.
//!
//! A job's checkpoint directory holds `chk-NNNNNN/` (one per checkpoint, numbered across runs)
//! with one `part-W.bin` per worker and, written last, `_manifest.json`. A checkpoint without a
//! manifest is incomplete and never read. Each part starts with a magic number, the format
//! version, the body's length and its CRC32C; every file is written to a temporary name,
//! fsynced, renamed into place, and its directory fsynced.
//!
//! An operator's snapshot is whole, or incremental: only the state that changed since its
//! snapshot in the checkpoint before (`Snapshot::prev`). Restoring a checkpoint reads the
//! operator's chain back to its last whole snapshot, so a checkpoint's manifest names the oldest
//! checkpoint it needs (`needs`), and retention keeps every checkpoint from there on.
//!
//! `sinks/` holds the sinks' write-ahead logs of keys written since a checkpoint (see
//! `render::sink`).
//!
//! The directory is a [`Loc`]: a local directory, or a prefix in an object store
//! (`crate::store`), where a part is a put (atomic) and the manifest a put if absent, last.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tally_connectors::Position;

pub use crate::render::epoch_op::Snapshot;

pub use crate::store::Loc;

/// The format of parts and manifests this build writes and reads (3: incremental operator
/// snapshots).
pub const FORMAT: u32 = 3;
const MAGIC: &[u8; 8] = b"TALLYCKP";
const HEADER: usize = 8 + 4 + 8 + 4;
const MANIFEST: &str = "_manifest.json";

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Corrupt { path: String, why: String },
    #[error("{path}: {source}")]
    Store {
        path: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("{0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a run starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// From the latest complete checkpoint of the job, or empty when there is none.
    Latest,
    /// From this checkpoint (`tally run -s DIR`).
    From(Loc),
    /// Empty; earlier checkpoints are moved aside into `previous-<ms>/`.
    Scratch,
}

/// How a job checkpoints.
#[derive(Clone, Debug)]
pub struct Options {
    /// The job's checkpoint directory.
    pub dir: Loc,
    pub interval: Duration,
    pub retained: usize,
    pub tolerable_failures: u32,
    pub start: Start,
}

/// Where the sinks' write-ahead logs of a run go, and which segments it writes again.
#[derive(Clone, Debug)]
pub struct SinkLogs {
    /// The job's checkpoint directory.
    pub dir: Loc,
    /// The segment written until the first checkpoint of this run.
    pub segment: u64,
    /// Segments from this one on are written again at the first flush.
    pub replay_from: u64,
}

/// One worker's part of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartBody {
    pub seq: u64,
    pub worker: usize,
    pub peers: usize,
    /// Every stateful operator's snapshot, by its stable id.
    pub operators: BTreeMap<String, Snapshot>,
    /// This worker's position in each source, by source index.
    pub sources: Vec<Position>,
    /// One past the latest epoch this worker had fed its inputs (the epoch a final checkpoint
    /// stands for).
    pub fed_until: u64,
}

/// What the manifest says of one part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    pub worker: usize,
    pub file: String,
    pub bytes: u64,
    pub crc32c: u32,
}

/// A complete checkpoint's description, written after every part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub seq: u64,
    /// Every epoch before this one is in the state, none after.
    pub epoch: u64,
    /// Taken when every input had ended.
    #[serde(rename = "final")]
    pub at_end: bool,
    pub created_ms: u64,
    /// How many workers wrote parts (all of them: a part missing is an incomplete checkpoint,
    /// never a smaller cluster).
    pub workers: usize,
    pub parts: Vec<PartEntry>,
    /// By source, every worker's position.
    pub sources: Vec<Vec<Position>>,
    pub fingerprint: String,
    /// The dataflow plan the state belongs to (to say what changed when it differs).
    pub plan: String,
    /// The oldest checkpoint whose parts restoring this one reads (its own number when every
    /// operator's snapshot is whole).
    pub needs: u64,
}

/// A checkpoint read back: its manifest and every worker's part.
#[derive(Clone, Debug)]
pub struct Restored {
    pub dir: Loc,
    pub manifest: Manifest,
    pub parts: Vec<PartBody>,
    /// The parts of the earlier checkpoints its incremental snapshots are relative to, by
    /// checkpoint number.
    pub earlier: BTreeMap<u64, Vec<PartBody>>,
}

impl Restored {
    /// Worker `w`'s snapshots of operator `id` from its last whole one to this checkpoint's;
    /// `None` when one is missing.
    fn chain(&self, w: usize, id: &str) -> Option<Vec<&Snapshot>> {
        let mut chain = vec![self.parts.get(w)?.operators.get(id)?];
        while let Some(prev) = chain.last().expect("non-empty").prev {
            chain.push(self.earlier.get(&prev)?.get(w)?.operators.get(id)?);
        }
        chain.reverse();
        Some(chain)
    }
}

/// The fingerprint of a plan's text: what a checkpoint's state must match.
pub fn fingerprint(plan_text: &str) -> String {
    format!("{:08x}", crc32c::crc32c(plan_text.as_bytes()))
}

/// Encodes a part: header (magic, format, body length, CRC32C of the body), then the body.
pub fn encode_part(body: &PartBody) -> Result<Vec<u8>, CheckpointError> {
    let bytes = bincode::serialize(body).map_err(|e| CheckpointError::Refused(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER + bytes.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// Decodes a part, refusing a wrong magic number, another format, a truncated body or a
/// checksum that does not match.
pub fn decode_part(
    path: impl std::fmt::Display,
    bytes: &[u8],
) -> Result<PartBody, CheckpointError> {
    let corrupt = |why: String| CheckpointError::Corrupt {
        path: path.to_string(),
        why,
    };
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(corrupt("not a tally checkpoint part".into()));
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(corrupt(format!(
            "format {format}; this build reads format {FORMAT}"
        )));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let body = &bytes[HEADER..];
    if body.len() != len {
        return Err(corrupt(format!("truncated: {} of {len} bytes", body.len())));
    }
    if crc32c::crc32c(body) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    bincode::deserialize(body).map_err(|e| corrupt(e.to_string()))
}

/// Writes `bytes` to `dir/name` durably: a temporary file, fsync, rename, fsync of `dir`.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

/// Writes a checkpoint's manifest, last: the checkpoint is complete once it is in place (in
/// an object store, put only if no manifest of that number exists: a checkpoint is never
/// overwritten).
pub fn write_manifest(dir: &Loc, json: &[u8]) -> Result<(), CheckpointError> {
    dir.join(MANIFEST).create(json)
}

fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The checkpoint directory of the job file `job` under `root`: named after the file, with a
/// hash of its full path so that two jobs of one name do not share state.
pub fn job_dir(root: &Path, job: &Path) -> PathBuf {
    root.join(job_dir_name(job))
}

/// [`job_dir`] in a directory or an object store.
pub fn job_loc(root: &Loc, job: &Path) -> Loc {
    root.join(&job_dir_name(job))
}

fn job_dir_name(job: &Path) -> String {
    let canonical = std::fs::canonicalize(job).unwrap_or_else(|_| job.to_path_buf());
    let stem = job
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job".into());
    let id = fingerprint(&canonical.to_string_lossy());
    format!("{stem}-{id}")
}

/// The directory of checkpoint `seq`.
pub fn checkpoint_dir(root: &Loc, seq: u64) -> Loc {
    root.join(&format!("chk-{seq:06}"))
}

fn seq_of(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?.parse().ok()
}

/// Checkpoint directories under `root` by number, and whether each has a manifest. A local
/// directory that cannot be read lists nothing; an object store that does not answer is an
/// error (starting empty would forget the job's state).
pub fn list(root: &Loc) -> Result<Vec<(u64, Loc, bool)>, CheckpointError> {
    let entries = match root.children() {
        Ok(e) => e,
        Err(_) if !root.is_remote() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let Some(seq) = seq_of(&e.name) else {
            continue;
        };
        let dir = root.join(&e.name);
        let complete = dir.join(MANIFEST).is_file()?;
        out.push((seq, dir, complete));
    }
    out.sort_by_key(|(seq, _, _)| *seq);
    Ok(out)
}

/// The number the next checkpoint of this job gets (numbers go on across runs).
pub fn next_seq(root: &Loc) -> Result<u64, CheckpointError> {
    Ok(list(root)?.last().map_or(1, |(seq, _, _)| seq + 1))
}

pub fn read_manifest(dir: &Loc) -> Result<Manifest, CheckpointError> {
    let path = dir.join(MANIFEST);
    let bytes = path.read()?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    if m.format != FORMAT {
        return Err(CheckpointError::Corrupt {
            path: path.display().to_string(),
            why: format!("format {}; this build reads format {FORMAT}", m.format),
        });
    }
    Ok(m)
}

/// Reads a complete checkpoint and verifies every part against its manifest, with the earlier
/// checkpoints (beside it) that its incremental snapshots are relative to.
pub fn read(dir: &Loc) -> Result<Restored, CheckpointError> {
    let (manifest, parts) = read_one(dir)?;
    let mut r = Restored {
        dir: dir.clone(),
        manifest,
        parts,
        earlier: BTreeMap::new(),
    };
    let root = dir.parent();
    // Each operator's chain, followed back through the checkpoints it needs (another
    // operator's snapshot in such a checkpoint may be relative to one this one does not need).
    let mut wanted: BTreeSet<u64> = BTreeSet::new();
    for (w, part) in r.parts.iter().enumerate() {
        for (id, snap) in &part.operators {
            let mut prev = snap.prev;
            while let Some(seq) = prev {
                if !r.earlier.contains_key(&seq) {
                    let (m, parts) = read_one(&checkpoint_dir(&root, seq)).map_err(|e| {
                        CheckpointError::Corrupt {
                            path: dir.display().to_string(),
                            why: format!(
                                "the earlier checkpoint {seq} its incremental state needs: {e}"
                            ),
                        }
                    })?;
                    if m.workers != r.manifest.workers {
                        return Err(CheckpointError::Corrupt {
                            path: dir.display().to_string(),
                            why: format!(
                                "the earlier checkpoint {seq} it needs has another worker count"
                            ),
                        });
                    }
                    r.earlier.insert(seq, parts);
                }
                wanted.insert(seq);
                let Some(earlier) = r.earlier[&seq].get(w).and_then(|p| p.operators.get(id)) else {
                    return Err(CheckpointError::Corrupt {
                        path: dir.display().to_string(),
                        why: format!(
                            "worker {w}'s operator {id} has no snapshot in the earlier \
                             checkpoint {seq}"
                        ),
                    });
                };
                prev = earlier.prev;
            }
        }
    }
    r.earlier.retain(|seq, _| wanted.contains(seq));
    Ok(r)
}

/// One checkpoint's manifest and parts, verified.
fn read_one(dir: &Loc) -> Result<(Manifest, Vec<PartBody>), CheckpointError> {
    let manifest = read_manifest(dir)?;
    if manifest.parts.len() != manifest.workers {
        return Err(CheckpointError::Corrupt {
            path: dir.join(MANIFEST).display().to_string(),
            why: format!(
                "{} parts for {} workers",
                manifest.parts.len(),
                manifest.workers
            ),
        });
    }
    let mut parts = Vec::with_capacity(manifest.parts.len());
    for (w, entry) in manifest.parts.iter().enumerate() {
        let path = dir.join(&entry.file);
        let bytes = path.read()?;
        if bytes.len() as u64 != entry.bytes {
            return Err(CheckpointError::Corrupt {
                path: path.display().to_string(),
                why: format!(
                    "{} bytes where the manifest says {}",
                    bytes.len(),
                    entry.bytes
                ),
            });
        }
        let body = decode_part(path.display(), &bytes)?;
        if body.worker != w || body.seq != manifest.seq || entry.worker != w {
            return Err(CheckpointError::Corrupt {
                path: path.display().to_string(),
                why: "the part belongs to another worker or checkpoint".into(),
            });
        }
        parts.push(body);
    }
    Ok((manifest, parts))
}

/// Where a run starts: the checkpoint to restore, if any. The latest complete checkpoint that
/// verifies is used; a corrupt one is skipped with a warning for the one before it.
pub fn find_start(opts: &Options) -> Result<Option<Restored>, CheckpointError> {
    match &opts.start {
        Start::From(dir) => read(dir).map(Some),
        Start::Scratch => {
            let old = list(&opts.dir)?;
            let sinks = opts.dir.join("sinks");
            let has_sinks = sinks.exists()?;
            if !old.is_empty() || has_sinks {
                let aside = opts
                    .dir
                    .join(&format!("previous-{}", tally_connectors::now_ms()));
                if let Loc::Dir(a) = &aside {
                    std::fs::create_dir_all(a).map_err(io(a))?;
                }
                for (_, path, _) in old {
                    path.move_to(&aside.join(&path.file_name()))?;
                }
                if has_sinks {
                    sinks.move_to(&aside.join("sinks"))?;
                }
                tracing::info!("earlier checkpoints moved to {}", aside.display());
            }
            Ok(None)
        }
        Start::Latest => {
            for (_, dir, complete) in list(&opts.dir)?.into_iter().rev() {
                if !complete {
                    continue;
                }
                match read(&dir) {
                    Ok(r) => return Ok(Some(r)),
                    Err(e) => tracing::warn!(
                        "checkpoint {} cannot be used ({e}); trying the one before it",
                        dir.display()
                    ),
                }
            }
            Ok(None)
        }
    }
}

/// Checks that a checkpoint's state belongs to this plan (any worker count restores it: state
/// is kept by key and goes to the worker that owns each key now).
pub fn check_compatible(restored: &Restored, plan_text: &str) -> Result<(), CheckpointError> {
    let m = &restored.manifest;
    if m.fingerprint != fingerprint(plan_text) {
        let old: Vec<&str> = m.plan.lines().collect();
        let new: Vec<&str> = plan_text.lines().collect();
        let mut diff = String::new();
        for line in &old {
            if !new.contains(line) {
                diff.push_str(&format!("\n  - {line}"));
            }
        }
        for line in &new {
            if !old.contains(line) {
                diff.push_str(&format!("\n  + {line}"));
            }
        }
        return Err(CheckpointError::Refused(format!(
            "the job's plan changed since checkpoint {} was taken, so its state does not fit; \
             run with --from-scratch to start empty (the old checkpoints are kept aside). \
             What changed (- then, + now):{diff}",
            restored.dir.display()
        )));
    }
    Ok(())
}

/// Deletes complete checkpoints beyond the newest `keep`, incomplete ones older than the
/// newest complete one, and the sinks' logs older than the oldest checkpoint kept. Returns the
/// directories deleted.
pub fn retain(root: &Loc, keep: usize) -> Vec<Loc> {
    let all = match list(root) {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!("cannot list checkpoints to delete old ones: {e}");
            return Vec::new();
        }
    };
    let complete: Vec<u64> = all.iter().filter(|c| c.2).map(|c| c.0).collect();
    let Some(&newest) = complete.last() else {
        return Vec::new();
    };
    let kept: BTreeSet<u64> = complete.iter().rev().take(keep.max(1)).copied().collect();
    // Every checkpoint from the oldest one a kept checkpoint's incremental state needs on.
    let mut oldest = *kept.first().expect("at least one kept");
    for (seq, path, _) in all.iter().filter(|c| kept.contains(&c.0)) {
        match read_manifest(path) {
            Ok(m) => oldest = oldest.min(m.needs),
            // Not known what it needs: keep everything before it.
            Err(e) => {
                tracing::warn!("cannot read checkpoint {seq}'s manifest to delete old ones: {e}");
                return Vec::new();
            }
        }
    }
    let mut deleted = Vec::new();
    for (seq, path, is_complete) in all {
        let drop = if is_complete {
            !kept.contains(&seq) && seq < oldest
        } else {
            seq < newest
        };
        if drop {
            match path.remove_all() {
                Ok(()) => deleted.push(path),
                Err(e) => tracing::warn!("cannot delete {}: {e}", path.display()),
            }
        }
    }
    crate::render::sink::wal::retain(&root.join("sinks"), oldest);
    deleted
}

/// What an operator restores from.
#[derive(Clone, Debug)]
pub enum Restore {
    /// Its own snapshots from the last whole one on (the checkpoint was written by as many
    /// workers as this run has): of checkpoint `seq`, back to checkpoint `base`.
    Own {
        chain: Vec<Vec<u8>>,
        seq: u64,
        base: u64,
    },
    /// Every worker's chain of snapshots of it, to merge and keep this worker's keys of.
    Merge {
        parts: Vec<Vec<Vec<u8>>>,
        worker: usize,
        peers: usize,
    },
}

/// Each operator's [`Restore`] for worker `worker` of `peers` from a checkpoint.
pub fn restores(r: &Restored, worker: usize, peers: usize) -> BTreeMap<String, Restore> {
    let chain = |w: usize, id: &str| -> Vec<Vec<u8>> {
        r.chain(w, id)
            .expect("verified when read")
            .into_iter()
            .map(|s| s.bytes.clone())
            .collect()
    };
    if r.manifest.workers == peers {
        return r.parts[worker]
            .operators
            .iter()
            .map(|(id, s)| {
                let restore = Restore::Own {
                    chain: chain(worker, id),
                    seq: r.manifest.seq,
                    base: s.base,
                };
                (id.clone(), restore)
            })
            .collect();
    }
    let mut by_id: BTreeMap<String, Vec<Vec<Vec<u8>>>> = BTreeMap::new();
    for (w, part) in r.parts.iter().enumerate() {
        for id in part.operators.keys() {
            by_id.entry(id.clone()).or_default().push(chain(w, id));
        }
    }
    by_id
        .into_iter()
        .map(|(id, parts)| {
            (
                id,
                Restore::Merge {
                    parts,
                    worker,
                    peers,
                },
            )
        })
        .collect()
}

/// One checkpoint's snapshots of a worker's operators by id, or why one failed.
pub type Snapshots = Result<BTreeMap<String, Snapshot>, String>;

/// A listing of a job's checkpoints, newest last: number, epoch, when it was taken, its size,
/// and each source's positions.
pub fn describe(root: &Loc) -> String {
    let all = match list(root) {
        Ok(all) => all,
        Err(e) => {
            return format!(
                "cannot list the checkpoints under {}: {e}\n",
                root.display()
            )
        }
    };
    if all.is_empty() {
        return format!("no checkpoints under {}\n", root.display());
    }
    let mut out = format!("checkpoints under {}\n", root.display());
    let complete_seqs: BTreeSet<u64> = all.iter().filter(|c| c.2).map(|c| c.0).collect();
    for (seq, path, complete) in all {
        let size: u64 = path
            .children()
            .map(|d| d.iter().map(|e| e.bytes).sum())
            .unwrap_or(0);
        if !complete {
            out.push_str(&format!("chk-{seq:06}  incomplete  {size} bytes\n"));
            continue;
        }
        match read_manifest(&path) {
            Ok(m) => {
                let when = chrono::DateTime::from_timestamp_millis(m.created_ms as i64)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default();
                let incremental = if m.needs >= m.seq {
                    String::new()
                } else if complete_seqs.contains(&m.needs) {
                    format!("  incremental (reads back to chk-{:06})", m.needs)
                } else {
                    // Kept as part of a later checkpoint's chain.
                    format!(
                        "  incremental (reads back to chk-{:06}, deleted: cannot be resumed from)",
                        m.needs
                    )
                };
                out.push_str(&format!(
                    "chk-{seq:06}  epoch {}{}  {when}  {size} bytes  {} workers{incremental}\n",
                    m.epoch,
                    if m.at_end { " (end of input)" } else { "" },
                    m.workers
                ));
                for (i, positions) in m.sources.iter().enumerate() {
                    let shown: Vec<String> = positions
                        .iter()
                        .map(ToString::to_string)
                        .filter(|p| !p.is_empty())
                        .collect();
                    out.push_str(&format!("  source {i}: {}\n", shown.join("; ")));
                }
            }
            Err(e) => out.push_str(&format!("chk-{seq:06}  unreadable: {e}\n")),
        }
    }
    out
}

/// The snapshots given so far for one checkpoint, by operator id.
type Given = BTreeMap<String, Result<Snapshot, String>>;

/// The snapshots of one worker's operators, gathered as the operators take them.
#[derive(Default)]
pub struct Parts {
    inner: Mutex<PartsInner>,
}

#[derive(Default)]
struct PartsInner {
    expected: BTreeSet<String>,
    restore: BTreeMap<String, Restore>,
    /// Checkpoint number -> its epoch and the snapshots given so far.
    taken: BTreeMap<u64, (u64, Given)>,
    error: Option<String>,
    /// Checkpoints known to be complete (this run's and the one it restored).
    completed: BTreeSet<u64>,
}

impl Parts {
    /// Parts restoring these operator snapshots of checkpoint `restored` (empty and `None`: a
    /// fresh start).
    pub fn new(restore: BTreeMap<String, Restore>, restored: Option<u64>) -> Self {
        Parts {
            inner: Mutex::new(PartsInner {
                restore,
                completed: restored.into_iter().collect(),
                ..Default::default()
            }),
        }
    }

    /// Checkpoint `seq` is complete: later snapshots may be relative to it.
    pub fn completed(&self, seq: u64) {
        let mut inner = self.lock();
        inner.completed.insert(seq);
        // Only the latest matters: an operator's previous snapshot is its latest.
        while inner.completed.len() > 4 {
            inner.completed.pop_first();
        }
    }

    pub fn is_complete(&self, seq: u64) -> bool {
        self.lock().completed.contains(&seq)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PartsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An operator with this id takes part in checkpoints; its restored snapshot, if any.
    pub fn register(&self, id: &str) -> Option<Restore> {
        let mut inner = self.lock();
        assert!(
            inner.expected.insert(id.to_string()),
            "two operators with the id {id}"
        );
        inner.restore.remove(id)
    }

    /// Ids of restored snapshots no operator took (a plan that does not fit the state).
    pub fn unclaimed(&self) -> Vec<String> {
        self.lock().restore.keys().cloned().collect()
    }

    pub fn deposit(&self, seq: u64, epoch: u64, id: &str, snapshot: Result<Snapshot, String>) {
        self.lock()
            .taken
            .entry(seq)
            .or_insert_with(|| (epoch, BTreeMap::new()))
            .1
            .insert(id.to_string(), snapshot);
    }

    pub fn fail(&self, message: String) {
        self.lock().error.get_or_insert(message);
    }

    pub fn failed(&self) -> Option<String> {
        self.lock().error.clone()
    }

    /// The oldest checkpoint every operator has given its snapshot for, taken out: its number,
    /// epoch and snapshots.
    pub fn complete(&self) -> Option<(u64, u64, Snapshots)> {
        let mut inner = self.lock();
        let (&seq, (_, got)) = inner.taken.first_key_value()?;
        if got.len() < inner.expected.len() {
            return None;
        }
        let (epoch, got) = inner.taken.remove(&seq).expect("present");
        let mut ops = BTreeMap::new();
        for (id, snap) in got {
            match snap {
                Ok(bytes) => {
                    ops.insert(id, bytes);
                }
                Err(e) => return Some((seq, epoch, Err(format!("operator {id}: {e}")))),
            }
        }
        Some((seq, epoch, Ok(ops)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(prev: Option<u64>, base: u64, bytes: Vec<u8>) -> Snapshot {
        Snapshot {
            prev,
            base,
            bytes,
            took_us: 0,
        }
    }

    fn body(worker: usize) -> PartBody {
        PartBody {
            seq: 7,
            worker,
            peers: 2,
            operators: BTreeMap::from([(
                "node2:aggregate".to_string(),
                snap(None, 7, vec![1, 2, 3]),
            )]),
            sources: vec![Position::Offsets(BTreeMap::from([(0, (0, 42))]))],
            fed_until: 9,
        }
    }

    #[test]
    fn a_part_round_trips_and_damage_is_detected() {
        let p = "part-0.bin";
        let bytes = encode_part(&body(0)).unwrap();
        let back = decode_part(p, &bytes).unwrap();
        assert_eq!(back.operators, body(0).operators);
        assert_eq!(back.sources, body(0).sources);
        let truncated = &bytes[..bytes.len() - 1];
        assert_eq!(
            decode_part(p, truncated).unwrap_err().to_string(),
            format!(
                "part-0.bin: truncated: {} of {} bytes",
                bytes.len() - HEADER - 1,
                bytes.len() - HEADER
            )
        );
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            decode_part(p, &flipped).unwrap_err().to_string(),
            "part-0.bin: checksum mismatch"
        );
        assert_eq!(
            decode_part(p, b"hello").unwrap_err().to_string(),
            "part-0.bin: not a tally checkpoint part"
        );
    }

    /// A local directory and an object store (object_store's file system), each to run the
    /// same test on.
    fn roots() -> Vec<(tempfile::TempDir, Loc)> {
        let local = tempfile::tempdir().unwrap();
        let root = Loc::Dir(local.path().join("job"));
        let objects = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(objects.path())
            .unwrap()
            .with_automatic_cleanup(true);
        let remote = crate::store::Remote::new(std::sync::Arc::new(fs), "mem://store").unwrap();
        let object = Loc::Object {
            remote,
            key: "prefix/job".into(),
        };
        vec![(local, root), (objects, object)]
    }

    fn write_checkpoint(root: &Loc, seq: u64, complete: bool) {
        write_chained(root, seq, complete, None, seq);
    }

    /// Checkpoint `seq` whose snapshots are relative to checkpoint `prev` (whole at `None`),
    /// in a chain from checkpoint `base`; each worker's snapshot holds `[seq, worker]`.
    fn write_chained(root: &Loc, seq: u64, complete: bool, prev: Option<u64>, base: u64) {
        write_ops(root, seq, complete, &[("node2:aggregate", prev, base)]);
    }

    /// Checkpoint `seq` with a snapshot `(prev, base)` of each operator.
    fn write_ops(root: &Loc, seq: u64, complete: bool, ops: &[(&str, Option<u64>, u64)]) {
        let base = ops.iter().map(|o| o.2).min().unwrap_or(seq);
        let dir = checkpoint_dir(root, seq);
        let mut parts = Vec::new();
        for w in 0..2 {
            let mut b = body(w);
            b.seq = seq;
            b.operators = ops
                .iter()
                .map(|&(id, prev, base)| (id.into(), snap(prev, base, vec![seq as u8, w as u8])))
                .collect();
            let bytes = encode_part(&b).unwrap();
            let file = format!("part-{w}.bin");
            dir.join(&file).write(&bytes).unwrap();
            parts.push(PartEntry {
                worker: w,
                file,
                bytes: bytes.len() as u64,
                crc32c: crc32c::crc32c(&bytes),
            });
        }
        if complete {
            let m = Manifest {
                format: FORMAT,
                seq,
                epoch: seq * 10,
                at_end: false,
                created_ms: 0,
                workers: 2,
                parts,
                sources: vec![],
                fingerprint: fingerprint("plan"),
                plan: "plan".into(),
                needs: base,
            };
            write_manifest(&dir, &serde_json::to_vec(&m).unwrap()).unwrap();
        }
    }

    fn opts(root: &Loc) -> Options {
        Options {
            dir: root.clone(),
            interval: Duration::from_secs(10),
            retained: 3,
            tolerable_failures: 3,
            start: Start::Latest,
        }
    }

    #[test]
    fn the_latest_complete_checkpoint_is_found_and_a_corrupt_one_skipped() {
        for (_keep, root) in roots() {
            assert!(find_start(&opts(&root)).unwrap().is_none());
            write_checkpoint(&root, 1, true);
            write_checkpoint(&root, 2, true);
            write_checkpoint(&root, 3, false);
            let found = find_start(&opts(&root)).unwrap().unwrap();
            assert_eq!((found.manifest.seq, found.manifest.epoch), (2, 20));
            assert_eq!(found.parts.len(), 2);
            // A truncated part of the newest makes the one before it the start.
            let part = checkpoint_dir(&root, 2).join("part-1.bin");
            let bytes = part.read().unwrap();
            part.write(&bytes[..bytes.len() - 3]).unwrap();
            let found = find_start(&opts(&root)).unwrap().unwrap();
            assert_eq!(found.manifest.seq, 1);
            assert_eq!(next_seq(&root).unwrap(), 4);
        }
    }

    #[test]
    fn a_manifest_is_never_overwritten_in_an_object_store() {
        let (_keep, root) = roots().pop().unwrap();
        write_checkpoint(&root, 1, true);
        let dir = checkpoint_dir(&root, 1);
        let e = write_manifest(&dir, b"{}").unwrap_err().to_string();
        assert!(
            e.starts_with("mem://store/prefix/job/chk-000001/_manifest.json: "),
            "{e}"
        );
        assert_eq!(read(&dir).unwrap().manifest.seq, 1);
    }

    #[test]
    fn from_scratch_moves_checkpoints_and_logs_aside() {
        for (_keep, root) in roots() {
            write_checkpoint(&root, 1, true);
            write_checkpoint(&root, 2, false);
            root.join("sinks/sink0/w0/000001.log")
                .write(b"log")
                .unwrap();
            let mut o = opts(&root);
            o.start = Start::Scratch;
            assert!(find_start(&o).unwrap().is_none());
            assert!(list(&root).unwrap().is_empty());
            assert!(!root.join("sinks").exists().unwrap());
            let names: Vec<String> = root
                .children()
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(names.len(), 1);
            assert!(names[0].starts_with("previous-"), "{names:?}");
            let aside = root.join(&names[0]);
            let moved: Vec<(u64, bool)> =
                list(&aside).unwrap().iter().map(|c| (c.0, c.2)).collect();
            assert_eq!(moved, [(1, true), (2, false)]);
            assert_eq!(
                aside.join("sinks/sink0/w0/000001.log").read().unwrap(),
                b"log"
            );
            assert_eq!(next_seq(&root).unwrap(), 1);
        }
    }

    #[test]
    fn retention_keeps_the_newest_complete_checkpoints() {
        for (_keep, root) in roots() {
            for seq in 1..=5 {
                write_checkpoint(&root, seq, seq != 2);
            }
            write_checkpoint(&root, 6, false);
            let deleted = retain(&root, 2);
            let names: Vec<String> = deleted.iter().map(Loc::file_name).collect();
            assert_eq!(names, ["chk-000001", "chk-000002", "chk-000003"]);
            // The incomplete checkpoint after the newest complete one may be in progress: kept.
            let left: Vec<(u64, bool)> = list(&root).unwrap().iter().map(|c| (c.0, c.2)).collect();
            assert_eq!(left, [(4, true), (5, true), (6, false)]);
            let listing = describe(&root);
            assert!(
                listing.starts_with(&format!("checkpoints under {}\n", root.display())),
                "{listing}"
            );
            assert!(listing.contains("chk-000005  epoch 50  "), "{listing}");
            assert!(listing.contains("chk-000006  incomplete  "), "{listing}");
        }
    }

    #[test]
    fn a_changed_plan_is_refused_saying_what_changed() {
        let (_keep, root) = roots().remove(0);
        write_checkpoint(&root, 1, true);
        let dir = checkpoint_dir(&root, 1);
        let r = read(&dir).unwrap();
        check_compatible(&r, "plan").unwrap();
        let e = check_compatible(&r, "plan2").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "the job's plan changed since checkpoint {} was taken, so its state does not \
                 fit; run with --from-scratch to start empty (the old checkpoints are kept \
                 aside). What changed (- then, + now):\n  - plan\n  + plan2",
                dir.display()
            )
        );
    }

    #[test]
    fn another_worker_count_merges_every_part() {
        let (_keep, root) = roots().remove(0);
        write_checkpoint(&root, 1, true);
        let r = read(&checkpoint_dir(&root, 1)).unwrap();
        let own = restores(&r, 1, 2);
        assert!(matches!(
            &own["node2:aggregate"],
            Restore::Own { chain, seq: 1, base: 1 } if chain == &[vec![1, 1]]
        ));
        let merged = restores(&r, 0, 3);
        match &merged["node2:aggregate"] {
            Restore::Merge {
                parts,
                worker,
                peers,
            } => assert_eq!((parts.len(), *worker, *peers), (2, 0, 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_incremental_checkpoint_is_read_with_its_chain_and_keeps_it_from_deletion() {
        for (_keep, root) in roots() {
            write_chained(&root, 1, true, None, 1);
            write_chained(&root, 2, true, Some(1), 1);
            write_chained(&root, 3, true, Some(2), 1);
            write_chained(&root, 4, true, None, 4);
            write_chained(&root, 5, true, Some(4), 4);
            // Keeping two keeps 4 and 5, and 5 needs only 4.
            let names: Vec<String> = retain(&root, 2).iter().map(Loc::file_name).collect();
            assert_eq!(names, ["chk-000001", "chk-000002", "chk-000003"]);
            write_chained(&root, 6, true, Some(5), 4);
            write_chained(&root, 7, true, Some(6), 4);
            // Keeping one (7) keeps its chain back to 4.
            assert!(retain(&root, 1).is_empty());
            let r = find_start(&opts(&root)).unwrap().unwrap();
            assert_eq!(r.manifest.seq, 7);
            assert_eq!(r.earlier.keys().copied().collect::<Vec<_>>(), [4, 5, 6]);
            match &restores(&r, 1, 2)["node2:aggregate"] {
                Restore::Own { chain, seq, base } => {
                    assert_eq!((*seq, *base), (7, 4));
                    assert_eq!(chain, &[vec![4, 1], vec![5, 1], vec![6, 1], vec![7, 1]]);
                }
                other => panic!("{other:?}"),
            }
            match &restores(&r, 0, 3)["node2:aggregate"] {
                Restore::Merge { parts, .. } => {
                    assert_eq!(parts.len(), 2);
                    assert_eq!(parts[0], [vec![4, 0], vec![5, 0], vec![6, 0], vec![7, 0]]);
                }
                other => panic!("{other:?}"),
            }
            let listing = describe(&root);
            assert!(
                listing.contains("workers  incremental (reads back to chk-000004)"),
                "{listing}"
            );
            // A chain with a part missing is not used: every checkpoint after 4 needs 5's.
            checkpoint_dir(&root, 5)
                .join("part-1.bin")
                .remove()
                .unwrap();
            let r = find_start(&opts(&root)).unwrap().unwrap();
            assert_eq!(r.manifest.seq, 4);
        }
    }

    #[test]
    fn each_operator_s_chain_is_followed_alone() {
        let (_keep, root) = roots().remove(0);
        let (a, b) = ("node1:aggregate", "node2:sink");
        write_ops(&root, 1, true, &[(a, None, 1), (b, None, 1)]);
        write_ops(&root, 2, true, &[(a, Some(1), 1), (b, Some(1), 1)]);
        write_ops(&root, 3, true, &[(a, None, 3), (b, Some(2), 1)]);
        write_ops(&root, 4, true, &[(a, Some(3), 3), (b, None, 4)]);
        // 4 needs 3 (a's chain), and not 1 or 2, which only b's chain in 3 reads.
        let names: Vec<String> = retain(&root, 1).iter().map(Loc::file_name).collect();
        assert_eq!(names, ["chk-000001", "chk-000002"]);
        let r = find_start(&opts(&root)).unwrap().unwrap();
        assert_eq!(r.manifest.seq, 4);
        assert_eq!(r.earlier.keys().copied().collect::<Vec<_>>(), [3]);
        let restores = restores(&r, 0, 2);
        assert!(matches!(
            &restores[a],
            Restore::Own { chain, seq: 4, base: 3 } if chain == &[vec![3, 0], vec![4, 0]]
        ));
        assert!(matches!(
            &restores[b],
            Restore::Own { chain, seq: 4, base: 4 } if chain == &[vec![4, 0]]
        ));
    }
}
