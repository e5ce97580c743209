//! File-like sinks, written whole by one worker: `stdout` (a readable change log) and `csv`
//! (the final table, or a change log).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tally_sql::catalog::CsvMode;
use tally_sql::{Row, Schema, Value};

use crate::{Change, ConnectorError, Sink};

fn show(row: &Row) -> String {
    let cells: Vec<String> = row.iter().map(Value::to_string).collect();
    format!("[{}]", cells.join(", "))
}

/// Prints `table: +I[...]`, `+U[...]`, `-D[...]` lines, like Flink's print sink.
pub struct StdoutSink {
    table: String,
}

impl StdoutSink {
    pub fn new(table: &str) -> Self {
        StdoutSink {
            table: table.to_string(),
        }
    }
}

impl Sink for StdoutSink {
    /// A printed change log cannot be taken back: after a restart the changes since the
    /// checkpoint are printed again (at least once).
    fn upserts_by_key(&self) -> bool {
        false
    }

    fn flush(&mut self, changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for c in changes {
            let line = match c {
                Change::Insert(r) => format!("{}: +I{}", self.table, show(r)),
                Change::Update(r) => format!("{}: +U{}", self.table, show(r)),
                Change::Delete(r) => format!("{}: -D{}", self.table, show(r)),
            };
            writeln!(out, "{line}").map_err(|e| ConnectorError::Other(format!("stdout: {e}")))?;
        }
        out.flush()
            .map_err(|e| ConnectorError::Other(format!("stdout: {e}")))
    }
}

/// Drops every change (Flink's `blackhole` connector).
pub struct BlackholeSink;

impl Sink for BlackholeSink {
    /// Nothing is written, so nothing is written twice.
    fn upserts_by_key(&self) -> bool {
        true
    }

    fn flush(&mut self, _changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Writes a CSV file: the whole table (rewritten atomically at each flush) or a change log.
pub struct CsvSink {
    path: PathBuf,
    mode: CsvMode,
    header: Vec<String>,
    log: Option<csv::Writer<BufWriter<File>>>,
    /// A change log's file before its first flush.
    unstarted: Option<File>,
    written: bool,
}

impl CsvSink {
    pub fn open(path: &Path, mode: CsvMode, schema: &Schema) -> Result<Self, ConnectorError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ConnectorError::io(dir, e))?;
        }
        let mut sink = CsvSink {
            path: path.to_path_buf(),
            mode,
            header: schema.names(),
            log: None,
            unstarted: None,
            written: false,
        };
        if mode == CsvMode::Changes {
            // Opened now, so a path that cannot be written is an error before any row is read;
            // emptied at the first flush, unless a restart goes on from a checkpoint's length.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| ConnectorError::io(path, e))?;
            sink.unstarted = Some(file);
        }
        Ok(sink)
    }

    /// Writes the change log to `file` from its end, with the header first when `header`.
    fn start_log(&mut self, file: File, header: bool) -> Result<(), ConnectorError> {
        let mut w = csv::Writer::from_writer(BufWriter::new(file));
        if header {
            let mut header = vec!["op".to_string()];
            header.extend(self.header.iter().cloned());
            w.write_record(&header).map_err(|e| self.err(e))?;
            w.flush().map_err(|e| ConnectorError::io(&self.path, e))?;
        }
        self.log = Some(w);
        Ok(())
    }

    fn err(&self, e: csv::Error) -> ConnectorError {
        ConnectorError::Other(format!("{}: {e}", self.path.display()))
    }

    fn record(row: &Row) -> Vec<String> {
        row.iter()
            .map(|v| match v {
                Value::Null => String::new(),
                v => v.to_string(),
            })
            .collect()
    }
}

impl Sink for CsvSink {
    fn needs_table(&self) -> bool {
        self.mode == CsvMode::Final
    }

    /// A file is not a keyed store: the final table is rewritten whole, and a change log is cut
    /// back to its checkpoint's length ([`Sink::resume`]).
    fn upserts_by_key(&self) -> bool {
        false
    }

    fn mark(&self) -> Option<u64> {
        let log = self.log.as_ref()?;
        log.get_ref().get_ref().metadata().ok().map(|m| m.len())
    }

    /// A change log is cut back to what it held at the checkpoint, and goes on from there; the
    /// final table is written whole at the next flush anyway.
    fn resume(&mut self, mark: Option<u64>) -> Result<(), ConnectorError> {
        let (CsvMode::Changes, Some(len)) = (self.mode, mark) else {
            return Ok(());
        };
        let Some(file) = self.unstarted.take() else {
            return Err(ConnectorError::Other(format!(
                "{}: resumed after writing began",
                self.path.display()
            )));
        };
        let on_disk = file
            .metadata()
            .map_err(|e| ConnectorError::io(&self.path, e))?
            .len();
        if on_disk < len {
            return Err(ConnectorError::Other(format!(
                "{}: the change log holds {on_disk} bytes but the checkpoint wrote {len}; it was \
                 changed outside tally",
                self.path.display()
            )));
        }
        file.set_len(len)
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
            .map_err(|e| ConnectorError::io(&self.path, e))?;
        self.start_log(file, false)
    }

    fn written(&self) -> bool {
        match self.mode {
            CsvMode::Changes => self.log.is_some(),
            CsvMode::Final => self.written,
        }
    }

    fn flush(&mut self, changes: &[Change], table: &[Row]) -> Result<(), ConnectorError> {
        match self.mode {
            CsvMode::Changes => {
                if let Some(file) = self.unstarted.take() {
                    file.set_len(0)
                        .map_err(|e| ConnectorError::io(&self.path, e))?;
                    self.start_log(file, true)?;
                }
                let w = self
                    .log
                    .as_mut()
                    .expect("a changes-mode CSV sink has a writer");
                let mut result = Ok(());
                for c in changes {
                    let (op, row) = match c {
                        Change::Insert(r) => ("+I", r),
                        Change::Update(r) => ("+U", r),
                        Change::Delete(r) => ("-D", r),
                    };
                    let mut rec = vec![op.to_string()];
                    rec.extend(Self::record(row));
                    if let Err(e) = w.write_record(&rec) {
                        result = Err(e);
                        break;
                    }
                }
                result.map_err(|e| self.err(e))?;
                let w = self.log.as_mut().expect("writer");
                w.flush().map_err(|e| ConnectorError::io(&self.path, e))
            }
            CsvMode::Final => {
                if changes.is_empty() && self.written {
                    return Ok(());
                }
                let tmp = self.path.with_extension("csv.tmp");
                let file = File::create(&tmp).map_err(|e| ConnectorError::io(&tmp, e))?;
                let mut w = csv::Writer::from_writer(BufWriter::new(file));
                w.write_record(&self.header).map_err(|e| self.err(e))?;
                for row in table {
                    w.write_record(Self::record(row)).map_err(|e| self.err(e))?;
                }
                let inner = w
                    .into_inner()
                    .map_err(|e| ConnectorError::Other(format!("{}: {e}", tmp.display())))?;
                inner
                    .into_inner()
                    .map_err(|e| ConnectorError::Other(format!("{}: {e}", tmp.display())))?
                    .sync_all()
                    .map_err(|e| ConnectorError::io(&tmp, e))?;
                std::fs::rename(&tmp, &self.path).map_err(|e| ConnectorError::io(&self.path, e))?;
                self.written = true;
                Ok(())
            }
        }
    }
}
