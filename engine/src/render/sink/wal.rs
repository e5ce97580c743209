//! A sink's write-ahead log: the rows of every flush, written (and fsynced) before the flush
//! reaches the server, in one segment per checkpoint.
//!
//! Segment `N` holds what the sink wrote after its snapshot for checkpoint `N`. A job restored
//! from checkpoint `N` reads segments `N` and later of every worker: those keys may hold values
//! the restored state has not reached yet (or never will), so each is written again from the
//! restored table (its row, or a delete) at the first flush. A job that starts empty reads every
//! segment. Since every write is a full value keyed by the result key, this brings the server's
//! table to exactly what an uninterrupted run holds.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use tally_sql::Row;

/// One sink's log on one worker.
pub struct Wal {
    dir: PathBuf,
    segment: u64,
    file: Option<File>,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:06}.log")
}

fn sink_dir(root: &Path, sink: &str) -> PathBuf {
    root.join(sink)
}

impl Wal {
    /// The log of sink `sink` on `worker` under `root` (the job's `sinks/`), writing segment
    /// `segment` first.
    pub fn new(root: &Path, sink: &str, worker: usize, segment: u64) -> Self {
        Wal {
            dir: sink_dir(root, sink).join(format!("w{worker}")),
            segment,
            file: None,
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
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(segment_name(self.segment));
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            // The directory entry of a new segment must survive too.
            File::open(&self.dir)?.sync_all()?;
            self.file = Some(f);
        }
        let body = bincode::serialize(rows).map_err(std::io::Error::other)?;
        let mut record = Vec::with_capacity(body.len() + 8);
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        record.extend_from_slice(&body);
        let f = self.file.as_mut().expect("opened above");
        f.write_all(&record)?;
        f.sync_data()
    }
}

/// Every row logged by sink `sink` on any worker in segments `from` and later, oldest segment
/// first. A record cut short by a crash (or damaged) ends its segment: its flush never reached
/// the server, since the log is written first.
pub fn replay(root: &Path, sink: &str, from: u64) -> std::io::Result<Vec<Row>> {
    let dir = sink_dir(root, sink);
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
    Ok(rows)
}

/// Deletes every sink's segments before `oldest` (the oldest checkpoint kept).
pub fn retain(root: &Path, oldest: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tally_sql::Value;

    fn row(k: &str, v: i64) -> Row {
        vec![Value::str(k), Value::Int(v)]
    }

    #[test]
    fn segments_replay_in_order_and_a_torn_tail_is_ignored() {
        let root = tempfile::tempdir().unwrap();
        let mut w0 = Wal::new(root.path(), "sink0", 0, 1);
        let mut w1 = Wal::new(root.path(), "sink0", 1, 1);
        w0.append(&[&row("a", 1)]).unwrap();
        w1.append(&[&row("b", 1)]).unwrap();
        w0.set_segment(2);
        w0.append(&[&row("a", 2), &row("c", 1)]).unwrap();
        assert_eq!(
            replay(root.path(), "sink0", 2).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        let all = replay(root.path(), "sink0", 0).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(&all[2..], &[row("a", 2), row("c", 1)]);
        // A crash in the middle of a record: the record is not replayed, the rest is.
        let seg = root.path().join("sink0/w0/000002.log");
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        assert_eq!(
            replay(root.path(), "sink0", 2).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        retain(root.path(), 2);
        assert_eq!(
            replay(root.path(), "sink0", 0).unwrap(),
            vec![row("a", 2), row("c", 1)]
        );
        assert!(replay(root.path(), "other", 0).unwrap().is_empty());
    }
}
