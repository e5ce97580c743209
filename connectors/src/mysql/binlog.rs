//! A MySQL / MariaDB dimension kept current from the server's binlog.
//!
//! The table is read once under a consistent snapshot together with the binlog position that
//! snapshot corresponds to (MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the
//! `binlog_snapshot_*` status; MySQL: the table read-locked while the position is taken), then
//! the binlog is followed from that position, so no change is missed or counted twice. Only
//! the row events of the dimension's table are decoded; each committed transaction is sent as
//! the rows it inserted and the rows it deleted (an update is both). What cannot be followed
//! row by row (DDL or TRUNCATE of the table, an event this reader does not know, a position the
//! server purged, a value it cannot convert) makes it read the table again and send the
//! difference, as polling does.
//!
//! A thread of its own talks to the server; the worker's [`Source`] only takes what it sends.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Value as MyValue};
use tally_sql::catalog::{DbChanges, DbConfig, DbKind};
use tally_sql::{Row, Schema};
use tokio::runtime::Runtime;

use super::{classify, opts, runtime, text_cells, READ_SESSION};
use crate::sqldb::{quote, typed_row};
use crate::{now_ms, ConnectorError, Metrics, Poll, Source};

/// How long the stream may stay silent (the server sends a heartbeat every second) before the
/// connection is taken for lost.
const SILENCE: Duration = Duration::from_secs(10);

/// Opens a binlog dimension on worker 0, or `None` when `changes=auto` and the server cannot
/// give its binlog (the caller polls; one INFO line says why).
pub fn open(
    table: &str,
    db: &DbConfig,
    schema: &Schema,
    changes: DbChanges,
    poll_ms: u64,
    metrics: Arc<Metrics>,
) -> Result<Option<Box<dyn Source>>, ConnectorError> {
    let place = format!("mysql {}:{}/{}.{}", db.host, db.port, db.db, db.table);
    let rt = runtime()?;
    let check = rt.block_on(async {
        let mut conn = Conn::new(opts(db)).await?;
        let check = binlog_readable(&mut conn, &db.user).await;
        let _ = conn.disconnect().await;
        check
    });
    let check = check.map_err(|e| classify(db, e))?;
    if let Err(why) = check {
        if changes == DbChanges::Binlog {
            return Err(ConnectorError::Other(format!(
                "table {table}: `table.mysql.changes` = `binlog`, but {place} cannot give its \
                 binlog: {why}. Set `table.mysql.changes=poll` (or auto) to re-read the table \
                 every `table.mysql.poll.ms` instead"
            )));
        }
        tracing::info!(
            "dimension {table}: polling {place} every {poll_ms} ms (table.mysql.changes=auto), \
             not following its binlog: {why}"
        );
        return Ok(None);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let follower = Follower {
        table: table.to_string(),
        place,
        db: db.clone(),
        schema: schema.clone(),
        metrics: metrics.clone(),
        select: select(db, schema),
        server_id: server_id(db),
        stop: stop.clone(),
        tx,
        current: HashMap::new(),
        layout: None,
        pos: None,
        first: true,
        progressed: false,
        failing: false,
        unconvertible: HashSet::new(),
    };
    std::thread::Builder::new()
        .name(format!("binlog-{table}"))
        .spawn(move || {
            let tx = follower.tx.clone();
            let table = follower.table.clone();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| follower.run(rt))).is_err()
            {
                let _ = tx.send(Feed::Failed(ConnectorError::Other(format!(
                    "table {table}: the binlog reader failed (a panic; see the log above)"
                ))));
            }
        })
        .map_err(|e| ConnectorError::Other(format!("table {table}: cannot start a thread: {e}")))?;
    Ok(Some(Box::new(BinlogTable {
        rx,
        first: true,
        deletes: Vec::new(),
        metrics,
        stop,
    })))
}

/// `Ok(Err(why))`: the server or the user cannot give the binlog, and why (naming the server
/// variable or the privilege).
async fn binlog_readable(
    conn: &mut Conn,
    user: &str,
) -> Result<Result<(), String>, mysql_async::Error> {
    let vars = text_cells(conn.query("SELECT @@log_bin, @@binlog_format").await?);
    let (log_bin, format) = match vars.first().map(Vec::as_slice) {
        Some([log_bin, format]) => (
            log_bin.clone().unwrap_or_default(),
            format.clone().unwrap_or_default(),
        ),
        _ => return Ok(Err("it does not show @@log_bin and @@binlog_format".into())),
    };
    if log_bin != "1" {
        return Ok(Err(
            "its binlog is off (server variable log_bin = OFF; start the server with --log-bin)"
                .into(),
        ));
    }
    if !format.eq_ignore_ascii_case("ROW") {
        return Ok(Err(format!(
            "server variable binlog_format = {format}, and following the binlog needs ROW"
        )));
    }
    let image = text_cells(conn.query("SHOW VARIABLES LIKE 'binlog_row_image'").await?);
    if let Some(Some(image)) = image.first().and_then(|r| r.get(1)) {
        if !image.eq_ignore_ascii_case("FULL") {
            return Ok(Err(format!(
                "server variable binlog_row_image = {image}, and following the binlog needs FULL"
            )));
        }
    }
    let grants = text_cells(conn.query("SHOW GRANTS").await?);
    let grants: Vec<String> = grants
        .into_iter()
        .flatten()
        .flatten()
        .map(|g| g.to_ascii_uppercase())
        .collect();
    let global = |privilege: &str| {
        grants.iter().any(|g| {
            g.split_once(" ON *.* ").is_some_and(|(privileges, _)| {
                privileges.contains("ALL PRIVILEGES") || privileges.contains(privilege)
            })
        })
    };
    if !global("REPLICATION SLAVE") {
        return Ok(Err(format!(
            "user {user} may not read the binlog (it needs the REPLICATION SLAVE and \
             REPLICATION CLIENT privileges ON *.*)"
        )));
    }
    match master_status(conn).await {
        Ok(Some(_)) => Ok(Ok(())),
        Ok(None) => Ok(Err(
            "SHOW MASTER STATUS shows no binlog file (server variable log_bin)".into(),
        )),
        Err(mysql_async::Error::Server(e)) if matches!(e.code, 1227 | 1044 | 1045 | 1142) => {
            Ok(Err(format!(
                "user {user} may not see the binlog position (it needs the REPLICATION CLIENT \
                 privilege, BINLOG MONITOR on MariaDB): {}",
                e.message
            )))
        }
        Err(e) => Err(e),
    }
}

/// A place in the binlog.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Position {
    file: String,
    pos: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// The binlog file and position the server writes next (`None`: no binlog).
async fn master_status(conn: &mut Conn) -> Result<Option<Position>, mysql_async::Error> {
    let rows = match conn.query("SHOW MASTER STATUS").await {
        // MySQL 8.4 renamed it.
        Err(mysql_async::Error::Server(e)) if e.code == 1064 => {
            conn.query("SHOW BINARY LOG STATUS").await?
        }
        other => other?,
    };
    Ok(text_cells(rows).into_iter().next().and_then(|r| {
        let file = r.first().cloned().flatten()?;
        let pos = r.get(1).cloned().flatten()?.parse().ok()?;
        Some(Position { file, pos })
    }))
}

/// `SELECT <fields> FROM <table>`: the same statement the polled reader sends.
fn select(db: &DbConfig, schema: &Schema) -> String {
    let q = |n: &str| quote(DbKind::Mysql, n);
    let cols: Vec<String> = schema.fields.iter().map(|f| q(&f.name)).collect();
    format!("SELECT {} FROM {}", cols.join(", "), q(&db.table))
}

/// The replica id this reader registers with: above 1000, and unlikely to be another
/// reader's (the process and the table).
fn server_id(db: &DbConfig) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (std::process::id(), &db.host, db.port, &db.db, &db.table).hash(&mut h);
    1001 + (h.finish() % 2_000_000_000) as u32
}

/// What the reader thread sends the worker.
enum Feed {
    /// Rows that came and rows that left; `first`: the table as the job starts.
    Rows {
        inserts: Vec<Row>,
        deletes: Vec<Row>,
        first: bool,
    },
    /// The job must stop.
    Failed(ConnectorError),
}

/// Worker 0's share of a binlog dimension.
pub struct BinlogTable {
    rx: mpsc::Receiver<Feed>,
    first: bool,
    deletes: Vec<Row>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
}

impl Source for BinlogTable {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        let before = out.len();
        let mut got = false;
        loop {
            match self.rx.try_recv() {
                Ok(Feed::Rows {
                    inserts,
                    deletes,
                    first,
                }) => {
                    out.extend(inserts);
                    self.deletes.extend(deletes);
                    got = true;
                    // The table as the job starts is a batch of its own (epoch 0).
                    if first {
                        break;
                    }
                }
                Ok(Feed::Failed(e)) => return Err(e),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(ConnectorError::Other(
                        "the binlog reader of a dimension stopped".into(),
                    ))
                }
            }
        }
        if !got {
            return Ok(Poll::Idle);
        }
        let epoch = if self.first { 0 } else { now_ms() };
        self.first = false;
        self.metrics.rows_in.fetch_add(
            (out.len() - before) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(Poll::Batch { epoch })
    }

    fn next_epoch(&self) -> u64 {
        if self.first {
            0
        } else {
            now_ms()
        }
    }

    fn take_deletes(&mut self, out: &mut Vec<Row>) {
        out.append(&mut self.deletes);
    }
}

impl Drop for BinlogTable {
    fn drop(&mut self) {
        // The reader thread sees this within a quarter of a second and closes its connection.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A column of the server table, as needed to turn its binlog values into the text the
/// server shows for them.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    /// `DATA_TYPE`, lower case (`int`, `varchar`, `datetime`, ...).
    ty: String,
    unsigned: bool,
    /// Fractional second digits of temporal types.
    fsp: usize,
    /// `CHARACTER_SET_NAME` of character columns, lower case.
    charset: Option<String>,
    /// The values of an ENUM or SET, in order.
    labels: Vec<String>,
}

/// The server table's columns and where each field of the dimension is among them.
#[derive(Clone, Debug)]
struct Layout {
    schema_name: String,
    table_name: String,
    columns: Vec<Column>,
    fields: Vec<usize>,
}

async fn layout(
    conn: &mut Conn,
    db: &DbConfig,
    schema: &Schema,
) -> Result<Result<Layout, String>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = conn
        .exec(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), \
             CAST(DATETIME_PRECISION AS CHAR), LOWER(CHARACTER_SET_NAME) FROM \
             information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY \
             ORDINAL_POSITION",
            (db.db.clone(), db.table.clone()),
        )
        .await?;
    let rows = text_cells(rows);
    let Some(first) = rows.first() else {
        return Ok(Err(format!(
            "mysql table {}.{} does not exist",
            db.db, db.table
        )));
    };
    let cell = |r: &[Option<String>], i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let schema_name = cell(first, 0);
    let table_name = cell(first, 1);
    let columns: Vec<Column> = rows
        .iter()
        .map(|r| {
            let column_type = cell(r, 4);
            Column {
                name: cell(r, 2),
                ty: cell(r, 3),
                unsigned: column_type.contains("unsigned"),
                fsp: cell(r, 5).parse().unwrap_or(0),
                charset: r.get(6).cloned().flatten(),
                labels: labels(&column_type),
            }
        })
        .collect();
    let mut fields = Vec::with_capacity(schema.len());
    for f in &schema.fields {
        match columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(&f.name))
        {
            Some(i) => fields.push(i),
            None => {
                return Ok(Err(format!(
                    "mysql table {}.{} has no column `{}` (its columns: {})",
                    db.db,
                    db.table,
                    f.name,
                    columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    Ok(Ok(Layout {
        schema_name,
        table_name,
        columns,
        fields,
    }))
}

/// The quoted values of `enum('a','b')` / `set('a','b')`.
fn labels(column_type: &str) -> Vec<String> {
    let Some(body) = column_type
        .strip_prefix("enum(")
        .or_else(|| column_type.strip_prefix("set("))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        loop {
            match chars.next() {
                None => break,
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                Some('\'') => break,
                Some('\\') => {
                    if let Some(n) = chars.next() {
                        label.push(n);
                    }
                }
                Some(c) => label.push(c),
            }
        }
        out.push(label);
    }
    out
}

/// What the server shows (text protocol, session time zone UTC) for a binlog value of a
/// column; `Err`: a value this reader cannot convert faithfully (the table is read again).
fn cell(value: &BinlogValue<'_>, col: &Column) -> Result<Option<String>, String> {
    let value = match value {
        BinlogValue::Value(v) => v,
        _ => {
            return Err(format!(
                "column `{}` ({}) holds a JSON value",
                col.name, col.ty
            ))
        }
    };
    if let MyValue::NULL = value {
        return Ok(None);
    }
    let cannot = || {
        Err(format!(
            "column `{}` ({}) has a binlog value this reader cannot convert: {value:?}",
            col.name, col.ty
        ))
    };
    let text = match (col.ty.as_str(), value) {
        ("tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint", MyValue::Int(v)) => {
            // The binlog has no signedness (unless binlog_row_metadata=FULL), and the decoder
            // reads some widths one way only: take the column's bits as the column says.
            let bits = match col.ty.as_str() {
                "tinyint" => 8,
                "smallint" => 16,
                "mediumint" => 24,
                "int" | "integer" => 32,
                _ => 64,
            };
            let raw = if bits == 64 {
                *v as u64
            } else {
                (*v as u64) & ((1u64 << bits) - 1)
            };
            if col.unsigned {
                raw.to_string()
            } else {
                // Sign-extend from the column's width.
                (((raw << (64 - bits)) as i64) >> (64 - bits)).to_string()
            }
        }
        (_, MyValue::UInt(v)) => v.to_string(),
        ("float", MyValue::Float(f)) => {
            // The server shows six significant digits.
            let rounded: f64 = format!("{:.5e}", f).parse().unwrap_or(f64::from(*f));
            float_text(rounded)
        }
        ("float", MyValue::Double(d)) | ("double" | "real", MyValue::Double(d)) => float_text(*d),
        ("date", MyValue::Date(y, m, d, ..)) => format!("{y:04}-{m:02}-{d:02}"),
        ("datetime", MyValue::Date(y, mo, d, h, mi, s, us)) => format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
            fraction(*us, col.fsp)
        ),
        ("timestamp", MyValue::Bytes(b)) => {
            let text = String::from_utf8_lossy(b);
            let (secs, micros) = text.split_once('.').unwrap_or((&text, "0"));
            match (secs.parse::<i64>(), micros.parse::<u32>()) {
                (Ok(secs), Ok(micros)) => timestamp(secs, micros, col.fsp),
                _ => return cannot(),
            }
        }
        ("timestamp", MyValue::Int(secs)) => timestamp(*secs, 0, col.fsp),
        // mysql_common decodes negative TIME(1) to TIME(4) values wrongly.
        ("time", MyValue::Time(..)) if (1..=4).contains(&col.fsp) => {
            return Err(format!(
                "column `{}` is TIME({}), which this reader does not decode (TIME and TIME(5) \
                 or TIME(6) it does)",
                col.name, col.fsp
            ))
        }
        ("time", MyValue::Time(neg, days, h, m, s, us)) => format!(
            "{}{:02}:{m:02}:{s:02}{}",
            if *neg { "-" } else { "" },
            *days as u64 * 24 + *h as u64,
            fraction(*us, col.fsp)
        ),
        // The binlog holds a zero YEAR as 1900 + 0.
        ("year", MyValue::Bytes(b)) if b.as_slice() == b"1900" => "0000".to_string(),
        ("enum", MyValue::Int(i)) => match usize::try_from(*i) {
            Ok(0) => String::new(),
            Ok(i) if i <= col.labels.len() => col.labels[i - 1].clone(),
            _ => return cannot(),
        },
        ("set", MyValue::Bytes(bits)) => {
            let mut chosen = Vec::new();
            for (i, label) in col.labels.iter().enumerate() {
                if bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0) {
                    chosen.push(label.as_str());
                }
            }
            chosen.join(",")
        }
        ("decimal" | "year" | "bit", MyValue::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        (
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "json"
            | "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob",
            MyValue::Bytes(b),
        ) => {
            let ascii_compatible = !col.charset.as_deref().is_some_and(|c| {
                c.starts_with("ucs2") || c.starts_with("utf16") || c.starts_with("utf32")
            });
            let utf8 = col
                .charset
                .as_deref()
                .is_none_or(|c| c.starts_with("utf8") || c == "ascii" || c == "binary");
            if utf8 || (ascii_compatible && b.is_ascii()) {
                String::from_utf8_lossy(b).into_owned()
            } else {
                return Err(format!(
                    "column `{}` is in character set {}, which this reader does not convert",
                    col.name,
                    col.charset.as_deref().unwrap_or("?")
                ));
            }
        }
        _ => return cannot(),
    };
    Ok(Some(text))
}

/// A double as the server shows it: positional in the usual range, else with an exponent.
fn float_text(d: f64) -> String {
    let a = d.abs();
    if a == 0.0 || (1e-5..1e15).contains(&a) || !a.is_finite() {
        d.to_string()
    } else {
        format!("{d:e}")
    }
}

/// `.ffffff` cut to `fsp` digits (nothing when 0).
fn fraction(micros: u32, fsp: usize) -> String {
    if fsp == 0 {
        return String::new();
    }
    let digits = format!("{:06}", micros.min(999_999));
    format!(".{}", &digits[..fsp.min(6)])
}

/// A TIMESTAMP (seconds since the epoch) in UTC; 0 is the zero date.
fn timestamp(secs: i64, micros: u32, fsp: usize) -> String {
    if secs == 0 && micros == 0 {
        return format!("0000-00-00 00:00:00{}", fraction(0, fsp));
    }
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        fraction(micros, fsp)
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One change of a transaction not yet committed.
enum Op {
    Insert(Row),
    Delete(Row),
}

/// What to do after following the binlog stopped.
enum Next {
    /// The job ended.
    Stop,
    /// Read the table again (why).
    Reread(String),
}

/// The reader thread: reads the table, follows the binlog, reconnects.
struct Follower {
    table: String,
    place: String,
    db: DbConfig,
    schema: Schema,
    metrics: Arc<Metrics>,
    select: String,
    server_id: u32,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<Feed>,
    /// The rows sent so far, with their multiplicities.
    current: HashMap<Row, usize>,
    layout: Option<Layout>,
    /// Where to follow from: the end of the last transaction applied.
    pos: Option<Position>,
    first: bool,
    /// An event arrived since the last failure (the back-off starts over).
    progressed: bool,
    /// The last attempt failed on the connection (logged once until it works again).
    failing: bool,
    /// Columns whose values were not converted (logged once each).
    unconvertible: HashSet<String>,
}

impl Follower {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(mut self, rt: Runtime) {
        let policy = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times();
        let mut delays = None;
        let mut reread = Some(String::new());
        while !self.stopped() {
            self.progressed = false;
            let result = match &reread {
                Some(_) => rt.block_on(self.snapshot()).map(|()| None),
                None => rt.block_on(self.follow()).map(Some),
            };
            match result {
                Ok(None) => {
                    // Read (again): follow from the snapshot's position.
                    reread = None;
                    delays = None;
                    if self.failing {
                        tracing::info!("dimension {}: read {} again", self.table, self.place);
                        self.failing = false;
                    }
                }
                Ok(Some(Next::Stop)) => return,
                Ok(Some(Next::Reread(why))) => {
                    tracing::info!(
                        "dimension {}: reading {} again and sending the difference: {why}",
                        self.table,
                        self.place
                    );
                    reread = Some(why);
                }
                Err(e) if self.first || !e.is_retryable() => {
                    let _ = self.tx.send(Feed::Failed(ConnectorError::Other(format!(
                        "table {}: {e}",
                        self.table
                    ))));
                    return;
                }
                Err(e) => {
                    if self.progressed {
                        delays = None;
                    }
                    let wait = delays
                        .get_or_insert_with(|| policy.build())
                        .next()
                        .unwrap_or(Duration::from_secs(5));
                    if !self.failing || self.progressed {
                        tracing::warn!(
                            "dimension {}: {e}; keeping its last rows and reconnecting{}",
                            self.table,
                            match &self.pos {
                                Some(p) if reread.is_none() => format!(" (to follow from {p})"),
                                _ => String::new(),
                            }
                        );
                    }
                    self.failing = true;
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !self.stopped() {
                        std::thread::sleep(Duration::from_millis(50).min(wait));
                    }
                }
            }
        }
    }

    /// Reads the table and the binlog position of that read, and sends the difference from
    /// the rows sent before.
    async fn snapshot(&mut self) -> Result<(), ConnectorError> {
        let db = self.db.clone();
        let mut conn = Conn::new(opts(&db)).await.map_err(|e| classify(&db, e))?;
        let read = self.read(&mut conn).await;
        let _ = conn.disconnect().await;
        let (layout, rows, pos) = read.map_err(|e| classify(&db, e))??;
        let mut fresh: HashMap<Row, usize> = HashMap::new();
        for cells in text_cells(rows) {
            if let Some(row) = typed_row(&self.table, &self.schema, &self.metrics, cells) {
                *fresh.entry(row).or_default() += 1;
            }
        }
        let mut inserts = Vec::new();
        let mut deletes = Vec::new();
        for (row, &n) in &fresh {
            let had = self.current.get(row).copied().unwrap_or(0);
            inserts.extend(std::iter::repeat_n(row.clone(), n.saturating_sub(had)));
        }
        for (row, &n) in &self.current {
            let left = fresh.get(row).copied().unwrap_or(0);
            deletes.extend(std::iter::repeat_n(row.clone(), n.saturating_sub(left)));
        }
        self.current = fresh;
        if !self.first {
            self.metrics
                .dimension_rereads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if self.first {
            tracing::info!(
                "dimension {}: read {} ({} rows); following its binlog from {pos} (replica \
                 server id {})",
                self.table,
                self.place,
                self.current.values().sum::<usize>(),
                self.server_id
            );
        }
        self.layout = Some(layout);
        self.pos = Some(pos);
        let first = self.first;
        self.first = false;
        if first || !inserts.is_empty() || !deletes.is_empty() {
            let _ = self.tx.send(Feed::Rows {
                inserts,
                deletes,
                first,
            });
        }
        Ok(())
    }

    /// The table's columns, its rows and the binlog position they correspond to. The inner
    /// `Err` is not about the connection (no such table or column).
    #[allow(clippy::type_complexity)]
    async fn read(
        &self,
        conn: &mut Conn,
    ) -> Result<Result<(Layout, Vec<mysql_async::Row>, Position), ConnectorError>, mysql_async::Error>
    {
        conn.query_drop(READ_SESSION).await?;
        let layout = match layout(conn, &self.db, &self.schema).await? {
            Ok(l) => l,
            Err(why) => return Ok(Err(ConnectorError::Other(why))),
        };
        let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
        let mariadb = version.is_some_and(|v| v.contains("MariaDB"));
        let no_position = || {
            ConnectorError::Other(format!(
                "{}: the server shows no binlog position (server variable log_bin)",
                self.place
            ))
        };
        let (rows, pos) = if mariadb {
            // The snapshot and the binlog position it corresponds to, without locking.
            conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await?;
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                .await?;
            let status = text_cells(conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await?);
            let value = |name: &str| {
                status
                    .iter()
                    .find(|r| {
                        r.first()
                            .cloned()
                            .flatten()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                    .and_then(|r| r.get(1).cloned().flatten())
            };
            let pos = match (
                value("binlog_snapshot_file"),
                value("binlog_snapshot_position").and_then(|p| p.parse().ok()),
            ) {
                (Some(file), Some(pos)) if !file.is_empty() => Position { file, pos },
                _ => return Ok(Err(no_position())),
            };
            let rows = conn.query(self.select.as_str()).await?;
            conn.query_drop("COMMIT").await?;
            (rows, pos)
        } else {
            // No write to the table commits while it is locked, so the position taken then
            // is where the rows read under the lock end.
            conn.query_drop(format!(
                "FLUSH TABLES {} WITH READ LOCK",
                quote(DbKind::Mysql, &self.db.table)
            ))
            .await?;
            let pos = master_status(conn).await?;
            let rows = conn.query(self.select.as_str()).await?;
            conn.query_drop("UNLOCK TABLES").await?;
            match pos {
                Some(pos) => (rows, pos),
                None => return Ok(Err(no_position())),
            }
        };
        Ok(Ok((layout, rows, pos)))
    }

    /// Follows the binlog from `self.pos` until the job ends, the table must be read again,
    /// or the connection fails.
    async fn follow(&mut self) -> Result<Next, ConnectorError> {
        let db = self.db.clone();
        let (Some(start), Some(layout)) = (self.pos.clone(), self.layout.clone()) else {
            return Ok(Next::Reread("nothing read yet".into()));
        };
        let mut conn = Conn::new(opts(&db)).await.map_err(|e| classify(&db, e))?;
        // A heartbeat every second when nothing is written, so a lost server is noticed.
        conn.query_drop("SET @master_heartbeat_period = 1000000000")
            .await
            .map_err(|e| classify(&db, e))?;
        let mut stream = conn
            .get_binlog_stream(
                BinlogStreamRequest::new(self.server_id)
                    .with_filename(start.file.as_bytes())
                    .with_pos(start.pos),
            )
            .await
            .map_err(|e| classify(&db, e))?;
        let mut file = start.file.clone();
        let mut ours: HashSet<u64> = HashSet::new();
        let mut txn: Vec<Op> = Vec::new();
        let mut in_txn = false;
        let mut described = false;
        let mut last = Instant::now();
        loop {
            if self.stopped() {
                return Ok(Next::Stop);
            }
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(Pin::new(&mut stream), cx)
            });
            let event = match tokio::time::timeout(Duration::from_millis(250), next).await {
                Err(_) if last.elapsed() < SILENCE => continue,
                Err(_) => {
                    return Err(ConnectorError::Unavailable(format!(
                        "{}: no binlog event or heartbeat for {SILENCE:?}",
                        self.place
                    )))
                }
                Ok(None) => {
                    return Err(ConnectorError::Unavailable(format!(
                        "{}: the server ended the binlog stream",
                        self.place
                    )))
                }
                // The position is gone (purged) or unusable.
                Ok(Some(Err(mysql_async::Error::Server(e)))) if e.code == 1236 => {
                    return Ok(Next::Reread(format!(
                        "cannot follow its binlog from {}: {}",
                        self.pos.as_ref().unwrap_or(&start),
                        e.message
                    )))
                }
                Ok(Some(Err(e))) => return Err(classify(&db, e)),
                Ok(Some(Ok(event))) => event,
            };
            last = Instant::now();
            self.progressed = true;
            if self.failing {
                tracing::info!(
                    "dimension {}: following the binlog of {} again from {start}",
                    self.table,
                    self.place
                );
                self.failing = false;
            }
            let end = u64::from(event.header().log_pos());
            let raw_type = event.header().event_type_raw();
            let data = match event.read_data() {
                Ok(d) => d,
                Err(e) => {
                    return Ok(Next::Reread(format!(
                        "a binlog event (type {raw_type}) does not decode: {e}"
                    )))
                }
            };
            let at = |file: &str| Position {
                file: file.to_string(),
                pos: end,
            };
            match data {
                // The first event names the file asked for, and is read before the format
                // description says the events carry checksums (so the name would too).
                Some(EventData::RotateEvent(_)) if !described => {}
                Some(EventData::RotateEvent(r)) => {
                    file = r.name().into_owned();
                    if !in_txn {
                        self.pos = Some(Position {
                            file: file.clone(),
                            pos: r.position(),
                        });
                    }
                }
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query();
                    let word = sql.trim().to_ascii_uppercase();
                    if word == "BEGIN" || word.starts_with("XA START") {
                        in_txn = true;
                        txn.clear();
                    } else if word == "COMMIT" || word.starts_with("XA COMMIT") {
                        in_txn = false;
                        if let Some(why) = self.commit(std::mem::take(&mut txn)) {
                            return Ok(Next::Reread(why));
                        }
                        self.pos = Some(at(&file));
                    } else if word.starts_with("ROLLBACK") && txn.is_empty() {
                        in_txn = false;
                        self.pos = Some(at(&file));
                    } else if word.starts_with("ROLLBACK")
                        || names_table(&sql, &layout.table_name)
                    {
                        // DDL, TRUNCATE, a statement-logged change or a rollback of rows of
                        // the table: read it again rather than guess.
                        let shown: String = sql.chars().take(120).collect();
                        return Ok(Next::Reread(format!("the binlog has `{shown}`")));
                    } else if !in_txn {
                        // DDL of another table: a transaction of its own.
                        self.pos = Some(at(&file));
                    }
                }
                Some(EventData::XidEvent(_)) => {
                    in_txn = false;
                    if let Some(why) = self.commit(std::mem::take(&mut txn)) {
                        return Ok(Next::Reread(why));
                    }
                    self.pos = Some(at(&file));
                }
                Some(EventData::TableMapEvent(tme)) => {
                    let id = tme.table_id();
                    if tme.database_name() == layout.schema_name.as_str()
                        && tme.table_name() == layout.table_name.as_str()
                    {
                        if tme.columns_count() as usize != layout.columns.len() {
                            return Ok(Next::Reread(format!(
                                "the binlog has {} columns for the table, {} were read",
                                tme.columns_count(),
                                layout.columns.len()
                            )));
                        }
                        ours.insert(id);
                    } else {
                        ours.remove(&id);
                    }
                }
                Some(EventData::RowsEvent(re)) => {
                    if !ours.contains(&re.table_id()) {
                        continue;
                    }
                    if matches!(re, RowsEventData::PartialUpdateRowsEvent(_)) {
                        return Ok(Next::Reread("a partial JSON update of the table".into()));
                    }
                    let Some(tme) = stream.get_tme(re.table_id()) else {
                        return Ok(Next::Reread("a row event without its table map".into()));
                    };
                    // The decoder may fail on values it does not handle (in debug builds by
                    // an arithmetic overflow): that is a re-read, not a stopped reader.
                    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        re.rows(tme).collect::<Result<Vec<_>, _>>()
                    }));
                    let rows = match decoded {
                        Ok(Ok(rows)) => rows,
                        Ok(Err(e)) => {
                            return Ok(Next::Reread(format!(
                                "a row of the table does not decode: {e}"
                            )))
                        }
                        Err(_) => {
                            return Ok(Next::Reread(
                                "the binlog decoder failed on a row of the table".into(),
                            ))
                        }
                    };
                    for (before, after) in rows {
                        for (image, insert) in [(before, false), (after, true)] {
                            let Some(image) = image else { continue };
                            match self.typed(&layout, &image) {
                                Ok(Some(row)) if insert => txn.push(Op::Insert(row)),
                                Ok(Some(row)) => txn.push(Op::Delete(row)),
                                // Malformed for its field types: skipped, as a read skips it.
                                Ok(None) => {}
                                Err(why) => return Ok(Next::Reread(why)),
                            }
                        }
                    }
                    if !in_txn {
                        if let Some(why) = self.commit(std::mem::take(&mut txn)) {
                            return Ok(Next::Reread(why));
                        }
                        self.pos = Some(at(&file));
                    }
                }
                Some(EventData::FormatDescriptionEvent(_)) => described = true,
                Some(
                    EventData::GtidEvent(_)
                    | EventData::AnonymousGtidEvent(_)
                    | EventData::PreviousGtidsEvent(_)
                    | EventData::RowsQueryEvent(_)
                    | EventData::IntvarEvent(_)
                    | EventData::RandEvent(_)
                    | EventData::UserVarEvent(_)
                    | EventData::HeartbeatEvent
                    | EventData::IgnorableEvent(_)
                    | EventData::StopEvent
                    | EventData::StartEventV3(_)
                    // Its events follow, decompressed.
                    | EventData::TransactionPayloadEvent(_),
                ) => {}
                // MariaDB's own events: annotate rows, binlog checkpoint, GTID, GTID list,
                // start encryption. None changes rows.
                None if (160..=164).contains(&raw_type) => {}
                Some(other) => {
                    return Ok(Next::Reread(format!(
                        "an event this reader does not follow ({})",
                        event_name(&other)
                    )))
                }
                None => {
                    return Ok(Next::Reread(format!(
                        "an event of a type this reader does not know ({raw_type})"
                    )))
                }
            }
        }
    }

    /// A binlog row image as a typed row of the dimension (`Ok(None)`: malformed for its field
    /// types; `Err`: it cannot be converted, so the table is read again).
    fn typed(&mut self, layout: &Layout, image: &BinlogRow) -> Result<Option<Row>, String> {
        if image.len() != layout.columns.len() {
            return Err(format!(
                "a binlog row of the table has {} of its {} columns (binlog_row_image is not \
                 FULL for that change)",
                image.len(),
                layout.columns.len()
            ));
        }
        let mut cells = Vec::with_capacity(layout.fields.len());
        for &i in &layout.fields {
            let col = &layout.columns[i];
            let Some(value) = image.as_ref(i) else {
                return Err(format!("a binlog row lacks column `{}`", col.name));
            };
            match cell(value, col) {
                Ok(c) => cells.push(c),
                Err(why) => {
                    if self.unconvertible.insert(col.name.clone()) {
                        tracing::warn!(
                            "dimension {}: {why}; the table is read again on each change of it",
                            self.table
                        );
                    }
                    return Err(why);
                }
            }
        }
        Ok(typed_row(&self.table, &self.schema, &self.metrics, cells))
    }

    /// Applies a committed transaction to the rows sent and sends its changes; `Some(why)`
    /// when a deleted row was never sent (the table is read again instead).
    fn commit(&mut self, ops: Vec<Op>) -> Option<String> {
        let mut inserts = Vec::new();
        let mut deletes = Vec::new();
        let mut applied: Vec<(Row, bool)> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(row) => {
                    *self.current.entry(row.clone()).or_default() += 1;
                    applied.push((row.clone(), true));
                    inserts.push(row);
                }
                Op::Delete(row) => match self.current.get_mut(&row) {
                    Some(n) => {
                        *n -= 1;
                        if *n == 0 {
                            self.current.remove(&row);
                        }
                        applied.push((row.clone(), false));
                        deletes.push(row);
                    }
                    None => {
                        let shown: String = format!("{row:?}").chars().take(300).collect();
                        // Undo this transaction's part; the re-read diffs from the rest.
                        for (row, inserted) in applied.into_iter().rev() {
                            if inserted {
                                if let Some(n) = self.current.get_mut(&row) {
                                    *n -= 1;
                                    if *n == 0 {
                                        self.current.remove(&row);
                                    }
                                }
                            } else {
                                *self.current.entry(row).or_default() += 1;
                            }
                        }
                        return Some(format!(
                            "the binlog deletes a row that is not among the rows read: {shown}"
                        ));
                    }
                },
            }
        }
        if !inserts.is_empty() || !deletes.is_empty() {
            let _ = self.tx.send(Feed::Rows {
                inserts,
                deletes,
                first: false,
            });
        }
        None
    }
}

/// Whether a statement names the table (as a word, with or without quotes): a conservative
/// test, since a false match only costs a re-read.
fn names_table(sql: &str, table: &str) -> bool {
    let sql = sql.to_ascii_lowercase();
    let table = table.to_ascii_lowercase();
    sql.match_indices(&table).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + table.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        boundary(before) && boundary(after)
    })
}

fn event_name(e: &EventData<'_>) -> &'static str {
    match e {
        EventData::IncidentEvent(_) => "incident",
        EventData::LoadEvent(_)
        | EventData::NewLoadEvent(_)
        | EventData::CreateFileEvent(_)
        | EventData::AppendBlockEvent(_)
        | EventData::ExecLoadEvent(_)
        | EventData::DeleteFileEvent(_)
        | EventData::BeginLoadQueryEvent(_)
        | EventData::ExecuteLoadQueryEvent(_) => "LOAD DATA",
        EventData::XaPrepareLogEvent(_) => "XA PREPARE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: &str) -> Column {
        Column {
            name: "c".into(),
            ty: ty.into(),
            unsigned: false,
            fsp: 0,
            charset: None,
            labels: Vec::new(),
        }
    }

    fn text(v: MyValue, col: &Column) -> Option<String> {
        cell(&BinlogValue::Value(v), col).unwrap()
    }

    #[test]
    fn binlog_values_read_as_the_server_shows_them() {
        let mut c = col("tinyint");
        c.unsigned = true;
        assert_eq!(text(MyValue::Int(-56), &c).unwrap(), "200");
        c.ty = "bigint".into();
        assert_eq!(text(MyValue::Int(-1), &c).unwrap(), "18446744073709551615");
        assert_eq!(text(MyValue::Int(-5), &col("int")).unwrap(), "-5");
        assert_eq!(
            text(MyValue::Int(8_388_608), &col("mediumint")).unwrap(),
            "-8388608"
        );
        assert_eq!(
            text(MyValue::Int(i64::MIN), &col("bigint")).unwrap(),
            i64::MIN.to_string()
        );
        assert_eq!(text(MyValue::NULL, &col("int")), None);
        assert_eq!(
            text(MyValue::Float(1.2345678), &col("float")).unwrap(),
            "1.23457"
        );
        assert_eq!(
            text(MyValue::Float(1234567.9), &col("float")).unwrap(),
            "1234570"
        );
        assert_eq!(text(MyValue::Double(1e20), &col("double")).unwrap(), "1e20");
        assert_eq!(text(MyValue::Double(0.1), &col("double")).unwrap(), "0.1");
        let mut dt = col("datetime");
        dt.fsp = 2;
        assert_eq!(
            text(MyValue::Date(2024, 1, 2, 3, 4, 5, 670_000), &dt).unwrap(),
            "2024-01-02 03:04:05.67"
        );
        assert_eq!(
            text(MyValue::Date(2024, 1, 2, 0, 0, 0, 0), &col("date")).unwrap(),
            "2024-01-02"
        );
        let mut ts = col("timestamp");
        ts.fsp = 3;
        assert_eq!(
            text(MyValue::Bytes(b"1704164645.678000".to_vec()), &ts).unwrap(),
            "2024-01-02 03:04:05.678"
        );
        assert_eq!(
            text(MyValue::Bytes(b"0".to_vec()), &col("timestamp")).unwrap(),
            "0000-00-00 00:00:00"
        );
        let mut t = col("time");
        t.fsp = 6;
        assert_eq!(
            text(MyValue::Time(true, 1, 1, 1, 2, 500_000), &t).unwrap(),
            "-25:01:02.500000"
        );
        t.fsp = 2;
        assert!(cell(&BinlogValue::Value(MyValue::Time(true, 0, 1, 1, 2, 0)), &t).is_err());
        assert_eq!(
            text(MyValue::Bytes(b"1900".to_vec()), &col("year")).unwrap(),
            "0000"
        );
        let mut e = col("enum");
        e.labels = labels("enum('a','it''s')");
        assert_eq!(text(MyValue::Int(2), &e).unwrap(), "it's");
        assert_eq!(text(MyValue::Int(0), &e).unwrap(), "");
        let mut s = col("set");
        s.labels = labels("set('x','y','z')");
        assert_eq!(text(MyValue::Bytes(vec![0b101]), &s).unwrap(), "x,z");
        assert_eq!(
            text(MyValue::Bytes("é".as_bytes().to_vec()), &col("varchar")).unwrap(),
            "é"
        );
        let mut latin1 = col("varchar");
        latin1.charset = Some("latin1".into());
        assert_eq!(
            text(MyValue::Bytes(b"abc".to_vec()), &latin1).unwrap(),
            "abc"
        );
        assert!(cell(&BinlogValue::Value(MyValue::Bytes(vec![0xe9])), &latin1).is_err());
        assert!(cell(&BinlogValue::Value(MyValue::Int(1)), &col("geometry")).is_err());
    }

    #[test]
    fn statements_that_name_the_table() {
        assert!(names_table("TRUNCATE TABLE `dim`", "dim"));
        assert!(names_table("alter table test.dim add column x int", "dim"));
        assert!(!names_table("ALTER TABLE dim2 ADD x INT", "dim"));
        assert!(!names_table("CREATE TABLE my_dim (a INT)", "dim"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_724), (2024, 1, 2));
        assert_eq!(civil(-1), (1969, 12, 31));
    }
}
