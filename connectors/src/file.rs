//! The `file` source: read once in numbered chunks of lines dealt out to the workers, or
//! followed like `tail -F` by the first worker.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tally_sql::Row;

use crate::format::RecordParser;
use crate::{now_ms, ConnectorError, Metrics, Poll, Source, WorkerInfo};

/// A file read once. Lines are numbered from 0; chunk `c` holds lines
/// `[c * chunk_rows, (c + 1) * chunk_rows)` and belongs to worker `c % peers`, so all workers
/// move through the file (and its event time) together, and chunk `c` is epoch `c` at any
/// worker count.
pub struct FileSource {
    path: PathBuf,
    reader: BufReader<File>,
    parser: RecordParser,
    worker: WorkerInfo,
    chunk_rows: u64,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    metrics: Arc<Metrics>,
}

impl FileSource {
    pub fn open(
        path: &Path,
        parser: RecordParser,
        worker: WorkerInfo,
        chunk_rows: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConnectorError> {
        let file = File::open(path).map_err(|e| ConnectorError::io(path, e))?;
        Ok(FileSource {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            parser,
            worker,
            chunk_rows: chunk_rows.max(1) as u64,
            line: 0,
            buf: Vec::new(),
            done: false,
            metrics,
        })
    }

    fn owns(&self, chunk: u64) -> bool {
        chunk % self.worker.peers as u64 == self.worker.index as u64
    }

    /// Reads one line into `buf` (without the newline); returns the bytes it took from the
    /// file, newline included (0 at the end of the file).
    fn read_line(&mut self) -> Result<usize, ConnectorError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(n)
    }

    /// Skips up to `n` lines without copying them, a buffer at a time; returns how many (fewer
    /// only at the end of the file, where a last line without a newline counts as one).
    fn skip_lines(&mut self, n: u64) -> Result<u64, ConnectorError> {
        let mut skipped = 0;
        // Whether bytes of a line not ended yet have been skipped.
        let mut partial = false;
        while skipped < n {
            let available = self
                .reader
                .fill_buf()
                .map_err(|e| ConnectorError::io(&self.path, e))?;
            if available.is_empty() {
                return Ok(skipped + partial as u64);
            }
            let len = available.len();
            let mut consumed = len;
            let mut last_newline = None;
            for i in memchr::memchr_iter(b'\n', available) {
                skipped += 1;
                last_newline = Some(i);
                if skipped == n {
                    consumed = i + 1;
                    break;
                }
            }
            partial = match last_newline {
                Some(i) => i + 1 < consumed,
                None => true,
            };
            self.reader.consume(consumed);
        }
        Ok(skipped)
    }
}

impl Source for FileSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        if self.done {
            return Ok(Poll::Done);
        }
        loop {
            let chunk = self.line / self.chunk_rows;
            let end = (chunk + 1) * self.chunk_rows;
            if !self.owns(chunk) {
                let wanted = end - self.line;
                let skipped = self.skip_lines(wanted)?;
                self.line += skipped;
                if skipped < wanted {
                    self.done = true;
                    return Ok(Poll::Done);
                }
                continue;
            }
            let (mut n, mut bytes) = (0u64, 0u64);
            while self.line < end {
                // A line wholly in the reader's buffer (the usual case) is parsed where it is;
                // one that crosses the buffer's end is read into `buf` first.
                let available = self
                    .reader
                    .fill_buf()
                    .map_err(|e| ConnectorError::io(&self.path, e))?;
                if let Some(i) = memchr::memchr(b'\n', available) {
                    self.line += 1;
                    n += parse_line(&self.parser, &available[..i], out) as u64;
                    bytes += i as u64 + 1;
                    self.reader.consume(i + 1);
                    continue;
                }
                let read = self.read_line()?;
                if read == 0 {
                    self.done = true;
                    break;
                }
                self.line += 1;
                n += parse_line(&self.parser, &self.buf, out) as u64;
                bytes += read as u64;
            }
            self.metrics
                .rows_in
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            self.metrics.bytes_by_source.add(self.parser.table(), bytes);
            return Ok(Poll::Batch { epoch: chunk });
        }
    }

    fn position(&self) -> crate::Position {
        crate::Position::Epoch
    }

    /// Skips the chunks before `epoch`: they are in the restored state.
    fn resume(&mut self, epoch: u64, _positions: &[crate::Position]) -> Result<(), ConnectorError> {
        let target = epoch.saturating_mul(self.chunk_rows);
        if target > self.line {
            let wanted = target - self.line;
            let skipped = self.skip_lines(wanted)?;
            self.line += skipped;
            if skipped < wanted {
                self.done = true;
            }
        }
        Ok(())
    }

    fn next_epoch(&self) -> u64 {
        let peers = self.worker.peers as u64;
        let chunk = self.line.div_ceil(self.chunk_rows);
        let me = self.worker.index as u64;
        // The first chunk at or after `chunk` that this worker owns.
        chunk + (me + peers - chunk % peers) % peers
    }
}

/// Parses one line; valid UTF-8 (the usual case) is checked once and not copied.
fn parse_line(parser: &RecordParser, line: &[u8], out: &mut Vec<Row>) -> bool {
    match std::str::from_utf8(line) {
        Ok(text) => parser.parse_into(text, out),
        Err(_) => parser.parse_into(&String::from_utf8_lossy(line), out),
    }
}

/// A file followed like `tail -F` by worker 0: it waits for the file to appear, reads lines as
/// they are appended, and reopens it from the start when it is replaced or truncated.
pub struct FollowSource {
    path: PathBuf,
    parser: RecordParser,
    file: Option<File>,
    identity: Option<(u64, u64)>,
    pos: u64,
    partial: Vec<u8>,
    active: bool,
    /// Deliver the content present at start as epoch 0 (a dimension's snapshot).
    snapshot_pending: bool,
    metrics: Arc<Metrics>,
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl FollowSource {
    pub fn open(
        path: &Path,
        parser: RecordParser,
        worker: WorkerInfo,
        snapshot: bool,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ConnectorError> {
        Ok(FollowSource {
            snapshot_pending: snapshot,
            path: path.to_path_buf(),
            parser,
            file: None,
            identity: None,
            pos: 0,
            partial: Vec::new(),
            active: worker.index == 0,
            metrics,
        })
    }

    fn read_new(&mut self, out: &mut Vec<Row>) -> Result<u64, ConnectorError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let mut chunk = Vec::new();
        file.seek(SeekFrom::Start(self.pos))
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        let n = file
            .take(8 << 20)
            .read_to_end(&mut chunk)
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        self.pos += n as u64;
        self.metrics
            .bytes_by_source
            .add(self.parser.table(), n as u64);
        self.partial.extend_from_slice(&chunk);
        let mut rows = 0;
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &self.partial[start..]) {
            let line = String::from_utf8_lossy(&self.partial[start..start + i]).into_owned();
            if self.parser.parse_into(&line, out) {
                rows += 1;
            }
            start += i + 1;
        }
        self.partial.drain(..start);
        Ok(rows)
    }
}

impl Source for FollowSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        if !self.active {
            return Ok(Poll::Done);
        }
        if self.snapshot_pending {
            self.snapshot_pending = false;
            if let Ok(f) = File::open(&self.path) {
                self.identity = f.metadata().ok().as_ref().and_then(identity);
                self.file = Some(f);
            }
            let rows = self.read_new(out)?;
            self.metrics
                .rows_in
                .fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
            return Ok(Poll::Batch { epoch: 0 });
        }
        let rows = self.read_new(out)?;
        if rows > 0 {
            self.metrics
                .rows_in
                .fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
            return Ok(Poll::Batch { epoch: now_ms() });
        }
        // Nothing new: has the file appeared, been replaced or been truncated?
        if let Ok(meta) = std::fs::metadata(&self.path) {
            let id = identity(&meta);
            let replaced = self.file.is_none() || id != self.identity || meta.len() < self.pos;
            if replaced {
                if let Ok(f) = File::open(&self.path) {
                    if self.file.is_some() {
                        tracing::info!(path = %self.path.display(), "followed file was replaced or truncated; reading it from the start");
                    }
                    self.file = Some(f);
                    self.identity = id;
                    self.pos = 0;
                    self.partial.clear();
                }
            }
        }
        Ok(Poll::Idle)
    }

    fn next_epoch(&self) -> u64 {
        now_ms()
    }

    /// The start of the first line not handed out yet (worker 0's; the others read nothing).
    fn position(&self) -> crate::Position {
        if !self.active {
            return crate::Position::Epoch;
        }
        crate::Position::File {
            identity: self.identity,
            offset: self.pos - self.partial.len() as u64,
        }
    }

    /// Goes on at the checkpoint's byte offset if the file is still the one it was (same
    /// device and inode, at least that long); a file replaced since is read from its start, as
    /// `tail -F` does.
    fn resume(&mut self, _epoch: u64, positions: &[crate::Position]) -> Result<(), ConnectorError> {
        if !self.active {
            return Ok(());
        }
        // The followed file is read by worker 0 alone: its position is the one with an offset.
        let Some((then, offset)) = positions.iter().find_map(|p| match p {
            crate::Position::File { identity, offset } => Some((*identity, *offset)),
            _ => None,
        }) else {
            return Ok(());
        };
        // A dimension's snapshot is in the restored state.
        self.snapshot_pending = false;
        if let Ok(f) = File::open(&self.path) {
            let meta = f
                .metadata()
                .map_err(|e| ConnectorError::io(&self.path, e))?;
            let now = identity(&meta);
            if now == then && meta.len() >= offset {
                self.pos = offset;
            } else {
                tracing::warn!(path = %self.path.display(), "the followed file was replaced since the checkpoint; reading it from the start");
                self.pos = 0;
            }
            self.identity = now;
            self.file = Some(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_sql::catalog::Format;
    use tally_sql::{DataType, Field, Schema, Value};

    /// Every line read exactly once over all workers, in chunks of `chunk` lines.
    fn read_all(text: &str, peers: usize, chunk: usize) -> Vec<i64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.txt");
        std::fs::write(&path, text).unwrap();
        let schema = Schema::new(vec![Field {
            name: "n".into(),
            ty: DataType::Int,
        }]);
        let mut seen = Vec::new();
        for index in 0..peers {
            let metrics = Arc::new(Metrics::default());
            let format = Format::Delimited {
                splitter: ";".into(),
                nested: Default::default(),
            };
            let parser = RecordParser::new("t", format, schema.clone(), metrics.clone());
            let worker = WorkerInfo { index, peers };
            let mut src = FileSource::open(&path, parser, worker, chunk, metrics).unwrap();
            let mut rows = Vec::new();
            while !matches!(src.poll(&mut rows).unwrap(), Poll::Done) {}
            seen.extend(rows.iter().map(|r| match r[0] {
                Value::Int(i) => i,
                _ => panic!("{r:?}"),
            }));
        }
        seen.sort_unstable();
        seen
    }

    #[test]
    fn chunks_are_dealt_so_every_line_is_read_once() {
        let all: Vec<i64> = (0..10).collect();
        let text: String = all.iter().map(|i| format!("{i}\n")).collect();
        for (peers, chunk) in [(1, 3), (2, 3), (3, 1), (2, 20), (4, 2)] {
            assert_eq!(read_all(&text, peers, chunk), all, "{peers} {chunk}");
            // A last line without a newline is a line too.
            assert_eq!(
                read_all(text.trim_end(), peers, chunk),
                all,
                "{peers} {chunk}"
            );
        }
    }
}
