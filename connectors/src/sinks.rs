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

/// Writes a CSV file: the whole table (rewritten atomically at each flush) or a change log.
pub struct CsvSink {
    path: PathBuf,
    mode: CsvMode,
    header: Vec<String>,
    log: Option<csv::Writer<BufWriter<File>>>,
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
            written: false,
        };
        if mode == CsvMode::Changes {
            let file = File::create(path).map_err(|e| ConnectorError::io(path, e))?;
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            let mut header = vec!["op".to_string()];
            header.extend(sink.header.iter().cloned());
            w.write_record(&header).map_err(|e| sink.err(e))?;
            w.flush().map_err(|e| ConnectorError::io(path, e))?;
            sink.log = Some(w);
        }
        Ok(sink)
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

    fn written(&self) -> bool {
        self.mode == CsvMode::Changes || self.written
    }

    fn flush(&mut self, changes: &[Change], table: &[Row]) -> Result<(), ConnectorError> {
        match self.mode {
            CsvMode::Changes => {
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
