//! A sink's write-ahead log: the rows of every flush, written (and fsynced) before the flush
//! reaches the server, in one segment per checkpoint.
//!
//! Segment `N` holds what the sink wrote after its snapshot for checkpoint `N`. A job restored
//! from checkpoint `N` reads segments `N` and later of every worker: those keys may hold values
//! the restored state has not reached yet (or never will), so each is written again from the
//! restored table (its row, or a delete) at the first flush. A job that starts empty reads every
//! segment. Since every write is a full value keyed by the result key, this brings the server's
//! table to exactly what an uninterrupted run holds.
//!
//! In an object store, where nothing is appended to, each flush is an object of its own,
//! `wW/<seq:06>-<run>-<n:06>.log` (`run`: this process's start time and id, so no two runs
//! ever write one name), put before the flush; segment `N` is every object whose name starts
//! with `N`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use tally_sql::Row;

use crate::store::Loc;

/// One sink's log on one worker.
pub struct Wal {
    dir: Loc,
    segment: u64,
    file: Option<File>,
    /// Objects put so far (in an object store).
    written: u64,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:06}.log")
}

/// This process's part of the names of the objects it logs to.
fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        format!(
            "{:013}{:08x}",
            tally_connectors::now_ms(),
            std::process::id()
        )
    })
}

/// The checkpoint number a segment's file or object is of.
fn seq_of(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    stem.split('-').next()?.parse().ok()
}

fn record(rows: &[&Row]) -> std::io::Result<Vec<u8>> {
    let body = bincode::serialize(rows).map_err(std::io::Error::other)?;
    let mut record = Vec::with_capacity(body.len() + 8);
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    record.extend_from_slice(&body);
    Ok(record)
}

fn store_io(e: crate::checkpoint::CheckpointError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Wal {
    /// The log of sink `sink` on `worker` under `root` (the job's `sinks/`), writing segment
    /// `segment` first.
    pub fn new(root: &Loc, sink: &str, worker: usize, segment: u64) -> Self {
        Wal {
            dir: root.join(sink).join(&format!("w{worker}")),
            segment,
            file: None,
            written: 0,
        }
    }

    /// Writes after this go to the segment of checkpoint `seq`.
    pub fn set_segment(&mut self, seq: u64) {
        if seq != self.segment {
            self.segment = seq;
            self.file = None;
        }
    }

    /// Appends one flush's rows durably: `length, CRC32C, bincode(rows)`, then fsync.
    pub fn append(&mut self, rows: &[&Row]) -> std::io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let dir = match &self.dir {
            Loc::Dir(dir) => dir,
            remote => {
                self.written += 1;
                let name = format!("{:06}-{}-{:06}.log", self.segment, run_id(), self.written);
                return remote.join(&name).write(&record(rows)?).map_err(store_io);
            }
        };
        if self.file.is_none() {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(segment_name(self.segment));
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            // The directory entry of a new segment must survive too.
            File::open(dir)?.sync_all()?;
            self.file = Some(f);
        }
        let record = record(rows)?;
        let f = self.file.as_mut().expect("opened above");
        f.write_all(&record)?;
        f.sync_data()
    }
}

/// Every row logged by sink `sink` on any worker in segments `from` and later, oldest segment
/// first. A record cut short by a crash (or damaged) ends its segment: its flush never reached
/// the server, since the log is written first.
pub fn replay(root: &Loc, sink: &str, from: u64) -> std::io::Result<Vec<Row>> {
    let root = match root {
        Loc::Dir(root) => root,
        remote => return replay_objects(&remote.join(sink), from),
    };
    let dir = root.join(sink);
    let mut segments: Vec<(u64, PathBuf)> = Vec::new();
    let Ok(workers) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    for w in workers.flatten() {
        for seg in std::fs::read_dir(w.path())?.flatten() {
            let name = seg.file_name().to_string_lossy().into_owned();
            if let Some(seq) = name
                .strip_suffix(".log")
                .and_then(|n| n.parse::<u64>().ok())
            {
                if seq >= from {
                    segments.push((seq, seg.path()));
                }
            }
        }
    }
    segments.sort();
    let mut rows = Vec::new();
    for (_, path) in segments {
        let bytes = std::fs::read(&path)?;
        decode(&bytes, &mut rows);
    }
    Ok(rows)
}

/// Every object of segments `from` and later of one sink (every worker) in an object store,
/// oldest segment first, each segment's objects in the order they were written.
fn replay_objects(dir: &Loc, from: u64) -> std::io::Result<Vec<Row>> {
    let mut objects: Vec<(u64, String, Loc)> = Vec::new();
    for w in dir.children().map_err(store_io)? {
        if !w.dir {
            continue;
        }
        let wdir = dir.join(&w.name);
        for o in wdir.children().map_err(store_io)? {
            if let Some(seq) = seq_of(&o.name).filter(|&s| s >= from && !o.dir) {
                objects.push((seq, o.name.clone(), wdir.join(&o.name)));
            }
        }
    }
    objects.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut rows = Vec::new();
    for (_, _, loc) in objects {
        decode(&loc.read().map_err(store_io)?, &mut rows);
    }
    Ok(rows)
}

/// The rows of a segment's records, up to one cut short or damaged.
fn decode(bytes: &[u8], rows: &mut Vec<Row>) {
    {
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
            let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if crc32c::crc32c(body) != crc {
                break;
            }
            match bincode::deserialize::<Vec<Row>>(body) {
                Ok(r) => rows.extend(r),
                Err(_) => break,
            }
            at += 8 + len;
        }
    }
}

/// Deletes every sink's segments before `oldest` (the oldest checkpoint kept).
pub fn retain(root: &Loc, oldest: u64) {
    let root = match root {
        Loc::Dir(root) => root,
        remote => return retain_objects(remote, oldest),
    };
    let Ok(sinks) = std::fs::read_dir(root) else {
        return;
    };
    for sink in sinks.flatten() {
        let Ok(workers) = std::fs::read_dir(sink.path()) else {
            continue;
        };
        for w in workers.flatten() {
            let Ok(segments) = std::fs::read_dir(w.path()) else {
                continue;
            };
            for seg in segments.flatten() {
                let name = seg.file_name().to_string_lossy().into_owned();
                let old = name
                    .strip_suffix(".log")
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|seq| seq < oldest);
                if old {
                    if let Err(e) = std::fs::remove_file(seg.path()) {
                        tracing::warn!("cannot delete {}: {e}", seg.path().display());
                    }
                }
            }
        }
    }
}

fn retain_objects(root: &Loc, oldest: u64) {
    let warn = |e: crate::checkpoint::CheckpointError| tracing::warn!("{e}");
    let Ok(sinks) = root.children().map_err(warn) else {
        return;
    };
    for sink in sinks.iter().filter(|e| e.dir) {
        let sdir = root.join(&sink.name);
        let Ok(workers) = sdir.children().map_err(warn) else {
            continue;
        };
        for w in workers.iter().filter(|e| e.dir) {
            let wdir = sdir.join(&w.name);
            let Ok(objects) = wdir.children().map_err(warn) else {
                continue;
            };
            for o in objects {
                if seq_of(&o.name).is_some_and(|seq| seq < oldest) {
                    if let Err(e) = wdir.join(&o.name).remove() {
                        tracing::warn!("cannot delete a sink log: {e}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_sql::Value;

    fn row(k: &str, v: i64) -> Row {
        vec![Value::str(k), Value::Int(v)]
    }

    #[test]
    fn segments_replay_in_order_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let root = Loc::Dir(dir.path().to_path_buf());
        let mut w0 = Wal::new(&root, "sink0", 0, 1);
        let mut w1 = Wal::new(&root, "sink0", 1, 1);
        w0.append(&[&row("a", 1)]).unwrap();
        w1.append(&[&row("b", 1)]).unwrap();
        w0.set_segment(2);
        w0.append(&[&row("a", 2), &row("c", 1)]).unwrap();
        assert_eq!(
            replay(&root, "sink0", 2).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        let all = replay(&root, "sink0", 0).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(&all[2..], &[row("a", 2), row("c", 1)]);
        // A crash in the middle of a record: the record is not replayed, the rest is.
        let seg = dir.path().join("sink0/w0/000002.log");
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        assert_eq!(
            replay(&root, "sink0", 2).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        retain(&root, 2);
        assert_eq!(
            replay(&root, "sink0", 0).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        assert!(replay(&root, "other", 0).unwrap().is_empty());
    }

    #[test]
    fn in_an_object_store_each_flush_is_an_object_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path())
            .unwrap()
            .with_automatic_cleanup(true);
        let remote = crate::store::Remote::new(std::sync::Arc::new(fs), "mem://s").unwrap();
        let root = Loc::Object {
            remote,
            key: "job/sinks".into(),
        };
        let mut w0 = Wal::new(&root, "sink0", 0, 1);
        let mut w1 = Wal::new(&root, "sink0", 1, 1);
        w0.append(&[&row("a", 1)]).unwrap();
        w0.append(&[]).unwrap();
        w1.append(&[&row("b", 1)]).unwrap();
        w0.append(&[&row("a", 3)]).unwrap();
        w0.set_segment(2);
        w0.append(&[&row("a", 2), &row("c", 1)]).unwrap();
        let names = root.join("sink0").join("w0").children().unwrap();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.iter().all(|e| e.name.contains(run_id())));
        assert_eq!(
            replay(&root, "sink0", 2).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        let all = replay(&root, "sink0", 0).unwrap();
        // Segment 1 of both workers (in the order of the names), then segment 2.
        assert_eq!(
            all,
            vec![
                row("a", 1),
                row("b", 1),
                row("a", 3),
                row("a", 2),
                row("c", 1)
            ]
        );
        retain(&root, 2);
        assert_eq!(
            replay(&root, "sink0", 0).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        assert!(replay(&root, "other", 0).unwrap().is_empty());
    }
}
