//! MySQL (and MariaDB): a sink that upserts by the table's primary key, and a dimension reader.
//!
//! mysql_async is driven by a single-threaded tokio runtime owned by the connector, so the
//! worker thread that owns the sink blocks on each flush, which is what holds the job back while
//! the server is away.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, TxOpts, Value as MyValue};
use tally_sql::catalog::{DbConfig, DbKind};
use tally_sql::{Row, Schema, Value};
use tokio::runtime::Runtime;

pub mod binlog;

use crate::sqldb::{check_names, check_primary_key, create_statement, quote, sink_key};
use crate::{Change, ConnectorError, Sink};

/// Rows per multi-row statement.
const BATCH: usize = 500;

pub(crate) fn runtime() -> Result<Runtime, ConnectorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| ConnectorError::Other(format!("cannot start a runtime for mysql: {e}")))
}

pub(crate) fn opts(db: &DbConfig) -> Opts {
    let pass = db.password.expose();
    OptsBuilder::default()
        .ip_or_hostname(db.host.clone())
        .tcp_port(db.port)
        .user(Some(db.user.clone()))
        .pass((!pass.is_empty()).then(|| pass.to_string()))
        .db_name(Some(db.db.clone()))
        // Talk to the host and port the job names (not a local socket it may advertise).
        .prefer_socket(false)
        .into()
}

/// Sorts an error into "retry later" (the connection) and "fix the job" (everything else).
/// The message never holds the password: the client does not print it.
pub(crate) fn classify(db: &DbConfig, e: mysql_async::Error) -> ConnectorError {
    let place = format!("mysql {}:{}/{}", db.host, db.port, db.db);
    match &e {
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
            ConnectorError::Unavailable(format!("{place}: {e}"))
        }
        // Lock wait timeout, deadlock, too many connections, server shutting down.
        mysql_async::Error::Server(s) if matches!(s.code, 1205 | 1213 | 1040 | 1053 | 1927) => {
            ConnectorError::Unavailable(format!("{place}: {e}"))
        }
        _ => ConnectorError::Other(format!("{place}: {e}")),
    }
}

fn to_mysql(v: &Value) -> MyValue {
    match v {
        Value::Null => MyValue::NULL,
        Value::Bool(b) => MyValue::Int(*b as i64),
        Value::Int(i) => MyValue::Int(*i),
        Value::Double(d) => MyValue::Double(*d),
        Value::Decimal(d) => MyValue::Bytes(d.to_string().into_bytes()),
        Value::Str(s) => MyValue::Bytes(s.as_bytes().to_vec()),
        // ARRAY, MAP, STRUCT: their JSON text.
        other => MyValue::Bytes(other.to_string().into_bytes()),
    }
}

/// Upserts a result table into a MySQL table.
pub struct MysqlSink {
    db: DbConfig,
    rt: Runtime,
    conn: Option<Conn>,
    /// `INSERT INTO t (cols) VALUES ` and ` ON DUPLICATE KEY UPDATE ...`.
    insert_head: String,
    insert_tail: String,
    row_marks: String,
    delete_head: String,
    key_marks: String,
    key: Vec<usize>,
}

impl MysqlSink {
    pub fn open(
        table: &str,
        db: &DbConfig,
        schema: &Schema,
        key: Option<&[usize]>,
    ) -> Result<Self, ConnectorError> {
        check_names(db, schema)?;
        let key = sink_key(table, db, key)?;
        let rt = runtime()?;
        let mut sink = MysqlSink {
            db: db.clone(),
            rt,
            conn: None,
            insert_head: String::new(),
            insert_tail: String::new(),
            row_marks: String::new(),
            delete_head: String::new(),
            key_marks: String::new(),
            key,
        };
        sink.prepare(schema)?;
        Ok(sink)
    }

    /// The runtime and a connection (made now if there is none).
    fn connect(&mut self) -> Result<(&Runtime, &mut Conn), ConnectorError> {
        if self.conn.is_none() {
            let conn = self
                .rt
                .block_on(Conn::new(opts(&self.db)))
                .map_err(|e| classify(&self.db, e))?;
            self.conn = Some(conn);
        }
        Ok((&self.rt, self.conn.as_mut().expect("connected")))
    }

    /// Checks (or creates) the table and builds the statements.
    fn prepare(&mut self, schema: &Schema) -> Result<(), ConnectorError> {
        let db = self.db.clone();
        let key = self.key.clone();
        let (rt, conn) = self.connect()?;
        let columns: Vec<String> = rt
            .block_on(conn.exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND \
                 TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db.db.clone(), db.table.clone()),
            ))
            .map_err(|e| classify(&db, e))?;
        if columns.is_empty() && !db.create {
            return Err(ConnectorError::Other(format!(
                "mysql table {}.{} does not exist; create it with PRIMARY KEY ({}) or set \
                 table.mysql.create=true",
                db.db,
                db.table,
                key.iter()
                    .map(|&i| schema.fields[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let columns = if columns.is_empty() {
            // Every worker that writes the table may get here at once.
            let create = create_statement(DbKind::Mysql, &db.table, schema, &key).replacen(
                "CREATE TABLE",
                "CREATE TABLE IF NOT EXISTS",
                1,
            );
            rt.block_on(conn.query_drop(create))
                .map_err(|e| classify(&db, e))?;
            tracing::info!("created mysql table {}.{}", db.db, db.table);
            rt.block_on(conn.exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND \
                 TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (db.db.clone(), db.table.clone()),
            ))
            .map_err(|e| classify(&db, e))?
        } else {
            columns
        };
        let pk: Vec<String> = rt
            .block_on(conn.exec(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE \
                 TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER \
                 BY ORDINAL_POSITION",
                (db.db.clone(), db.table.clone()),
            ))
            .map_err(|e| classify(&db, e))?;
        check_primary_key(&db, schema, &key, &pk, &columns)?;
        let q = |n: &str| quote(DbKind::Mysql, n);
        let names: Vec<String> = schema.fields.iter().map(|f| q(&f.name)).collect();
        self.insert_head = format!(
            "INSERT INTO {} ({}) VALUES ",
            q(&db.table),
            names.join(", ")
        );
        let updates: Vec<String> = (0..schema.len())
            .filter(|i| !key.contains(i))
            .map(|i| format!("{0} = VALUES({0})", names[i]))
            .collect();
        // With only key columns, a repeated key changes nothing.
        let first = &names[key[0]];
        self.insert_tail = if updates.is_empty() {
            format!(" ON DUPLICATE KEY UPDATE {first} = {first}")
        } else {
            format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", "))
        };
        self.row_marks = format!("({})", vec!["?"; schema.len()].join(", "));
        let key_names: Vec<String> = key.iter().map(|&i| names[i].clone()).collect();
        self.delete_head = format!(
            "DELETE FROM {} WHERE ({}) IN (",
            q(&db.table),
            key_names.join(", ")
        );
        self.key_marks = format!("({})", vec!["?"; key.len()].join(", "));
        Ok(())
    }

    fn statements(&self, changes: &[Change]) -> Vec<(String, Vec<MyValue>)> {
        let (upserts, deletes) = crate::sqldb::upserts_and_deletes(changes);
        let mut out = Vec::new();
        for chunk in deletes.chunks(BATCH) {
            let marks = vec![self.key_marks.as_str(); chunk.len()].join(", ");
            let params = chunk
                .iter()
                .flat_map(|r| self.key.iter().map(|&i| to_mysql(&r[i])))
                .collect();
            out.push((format!("{}{marks})", self.delete_head), params));
        }
        for chunk in upserts.chunks(BATCH) {
            let marks = vec![self.row_marks.as_str(); chunk.len()].join(", ");
            let params = chunk.iter().flat_map(|r| r.iter().map(to_mysql)).collect();
            out.push((
                format!("{}{marks}{}", self.insert_head, self.insert_tail),
                params,
            ));
        }
        out
    }
}

impl Sink for MysqlSink {
    fn flush(&mut self, changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let statements = self.statements(changes);
        let db = self.db.clone();
        let result = {
            let (rt, conn) = self.connect()?;
            rt.block_on(async {
                let mut tx = conn.start_transaction(TxOpts::default()).await?;
                for (sql, params) in statements {
                    tx.exec_drop(sql, params).await?;
                }
                tx.commit().await
            })
        };
        result.map_err(|e| {
            let e = classify(&db, e);
            if e.is_retryable() {
                // Start over on a new connection; the transaction was not committed.
                self.conn = None;
            }
            e
        })
    }
}

/// Reads a whole MySQL table for a dimension.
pub struct MysqlReader {
    db: DbConfig,
    rt: Runtime,
    conn: Option<Conn>,
    query: String,
}

impl MysqlReader {
    pub fn open(db: &DbConfig, columns: &[String]) -> Result<Self, ConnectorError> {
        let q = |n: &str| quote(DbKind::Mysql, n);
        let cols: Vec<String> = columns.iter().map(|c| q(c)).collect();
        Ok(MysqlReader {
            db: db.clone(),
            rt: runtime()?,
            conn: None,
            query: format!("SELECT {} FROM {}", cols.join(", "), q(&db.table)),
        })
    }
}

/// Makes TIMESTAMP columns read the same on every dimension path: the binlog holds them as
/// seconds since the epoch, which are shown in UTC.
pub(crate) const READ_SESSION: &str = "SET time_zone = '+00:00'";

/// Rows of the text protocol as text cells (NULL as `None`).
pub(crate) fn text_cells(rows: Vec<mysql_async::Row>) -> Vec<Vec<Option<String>>> {
    rows.into_iter()
        .map(|row| row.unwrap().into_iter().map(text_cell).collect())
        .collect()
}

fn text_cell(v: MyValue) -> Option<String> {
    match v {
        MyValue::NULL => None,
        MyValue::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

impl crate::sqldb::CellReader for MysqlReader {
    fn read(&mut self) -> Result<Vec<Vec<Option<String>>>, ConnectorError> {
        if self.conn.is_none() {
            let conn = self
                .rt
                .block_on(async {
                    let mut conn = Conn::new(opts(&self.db)).await?;
                    conn.query_drop(READ_SESSION).await?;
                    Ok::<_, mysql_async::Error>(conn)
                })
                .map_err(|e| classify(&self.db, e))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected");
        let rows: Result<Vec<mysql_async::Row>, _> =
            self.rt.block_on(conn.query(self.query.as_str()));
        match rows {
            Ok(r) => Ok(text_cells(r)),
            Err(e) => {
                self.conn = None;
                Err(classify(&self.db, e))
            }
        }
    }
}
