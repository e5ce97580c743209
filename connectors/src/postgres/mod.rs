//! PostgreSQL (`postgres`, EasyCount's `tpg`): a sink that upserts by the table's primary key
//! (`INSERT ... ON CONFLICT ... DO UPDATE`), and a dimension reader.
//!
//! Every value is sent as a text parameter cast to the column's declared type
//! (`$1::text::bigint`), so one statement fits any column types the table was made with.

use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, SimpleQueryMessage};
use tally_sql::catalog::{DbConfig, DbKind};
use tally_sql::{Row, Schema, Value};

use crate::sqldb::{check_names, check_primary_key, create_statement, quote, sink_key};
use crate::{Change, ConnectorError, Sink};

/// Rows per multi-row statement (PostgreSQL takes at most 65535 parameters).
const BATCH: usize = 500;

fn connect(db: &DbConfig) -> Result<Client, ConnectorError> {
    let mut config = postgres::Config::new();
    config
        .host(&db.host)
        .port(db.port)
        .user(&db.user)
        .dbname(&db.db)
        .connect_timeout(Duration::from_secs(5));
    if !db.password.expose().is_empty() {
        config.password(db.password.expose());
    }
    config.connect(NoTls).map_err(|e| classify(db, e))
}

/// Sorts an error into "retry later" (the connection) and "fix the job". The client never puts
/// the password in its messages.
fn classify(db: &DbConfig, e: postgres::Error) -> ConnectorError {
    let place = format!("postgres {}:{}/{}", db.host, db.port, db.db);
    let retry = match e.code() {
        None => true,
        Some(c) => matches!(
            c.code(),
            "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
        ),
    };
    let detail = match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    };
    if retry {
        ConnectorError::Unavailable(format!("{place}: {detail}"))
    } else {
        ConnectorError::Other(format!("{place}: {detail}"))
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

/// Upserts a result table into a PostgreSQL table.
pub struct PostgresSink {
    db: DbConfig,
    client: Option<Client>,
    insert_head: String,
    insert_tail: String,
    /// Each column's placeholder cast: `::text::bigint`.
    casts: Vec<String>,
    delete_head: String,
    key: Vec<usize>,
}

/// The table's columns as the server spells them, with their declared types.
fn table_columns(
    client: &mut Client,
    db: &DbConfig,
) -> Result<(String, Vec<(String, String)>), ConnectorError> {
    for name in [db.table.clone(), db.table.to_ascii_lowercase()] {
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute \
                 a JOIN pg_class c ON a.attrelid = c.oid JOIN pg_namespace n ON c.relnamespace \
                 = n.oid WHERE n.nspname = current_schema() AND c.relname = $1 AND a.attnum > 0 \
                 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&name],
            )
            .map_err(|e| classify(db, e))?;
        if !rows.is_empty() {
            return Ok((name, rows.iter().map(|r| (r.get(0), r.get(1))).collect()));
        }
    }
    Ok((db.table.clone(), Vec::new()))
}

impl PostgresSink {
    pub fn open(
        table: &str,
        db: &DbConfig,
        schema: &Schema,
        key: Option<&[usize]>,
    ) -> Result<Self, ConnectorError> {
        check_names(db, schema)?;
        let key = sink_key(table, db, key)?;
        let mut client = connect(db)?;
        let (mut server_table, mut columns) = table_columns(&mut client, db)?;
        if columns.is_empty() && !db.create {
            return Err(ConnectorError::Other(format!(
                "postgres table {}.{} does not exist; create it with PRIMARY KEY ({}) or set \
                 table.postgres.create=true",
                db.db,
                db.table,
                key.iter()
                    .map(|&i| schema.fields[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if columns.is_empty() {
            // Every worker that writes the table may get here at once.
            let create = create_statement(DbKind::Postgres, &db.table, schema, &key).replacen(
                "CREATE TABLE",
                "CREATE TABLE IF NOT EXISTS",
                1,
            );
            // Two sessions creating one table can collide on the catalog; one wins, and the
            // error only matters when the table is still missing.
            let created = client.batch_execute(&create);
            (server_table, columns) = table_columns(&mut client, db)?;
            if columns.is_empty() {
                if let Err(e) = created {
                    return Err(classify(db, e));
                }
            }
            tracing::info!("created postgres table {}.{}", db.db, db.table);
        }
        let pk: Vec<String> = client
            .query(
                "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = \
                 i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass($1) \
                 AND i.indisprimary",
                &[&quote(DbKind::Postgres, &server_table)],
            )
            .map_err(|e| classify(db, e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        check_primary_key(db, schema, &key, &pk, &names)?;
        // Each result column as the server names it, with its type.
        let mut server_cols = Vec::new();
        for f in &schema.fields {
            let (name, ty) = columns
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&f.name))
                .cloned()
                .ok_or_else(|| {
                    ConnectorError::Other(format!(
                        "postgres table {}.{} has no column `{}`",
                        db.db, db.table, f.name
                    ))
                })?;
            server_cols.push((quote(DbKind::Postgres, &name), ty));
        }
        let names: Vec<&str> = server_cols.iter().map(|(n, _)| n.as_str()).collect();
        let key_names: Vec<&str> = key.iter().map(|&i| names[i]).collect();
        let updates: Vec<String> = (0..names.len())
            .filter(|i| !key.contains(i))
            .map(|i| format!("{0} = EXCLUDED.{0}", names[i]))
            .collect();
        let table_q = quote(DbKind::Postgres, &server_table);
        Ok(PostgresSink {
            db: db.clone(),
            client: Some(client),
            insert_head: format!("INSERT INTO {table_q} ({}) VALUES ", names.join(", ")),
            insert_tail: if updates.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", key_names.join(", "))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    key_names.join(", "),
                    updates.join(", ")
                )
            },
            casts: server_cols
                .iter()
                .map(|(_, ty)| format!("::text::{ty}"))
                .collect(),
            delete_head: format!(
                "DELETE FROM {table_q} WHERE ({}) IN (",
                key_names.join(", ")
            ),
            key,
        })
    }

    fn statements(&self, changes: &[Change]) -> Vec<(String, Vec<Option<String>>)> {
        let (upserts, deletes) = crate::sqldb::upserts_and_deletes(changes);
        let mut out = Vec::new();
        for chunk in deletes.chunks(BATCH) {
            let mut n = 0;
            let mut tuples = Vec::new();
            let mut params = Vec::new();
            for r in chunk {
                let marks: Vec<String> = self
                    .key
                    .iter()
                    .map(|&i| {
                        n += 1;
                        params.push(text(&r[i]));
                        format!("${n}{}", self.casts[i])
                    })
                    .collect();
                tuples.push(format!("({})", marks.join(", ")));
            }
            out.push((
                format!("{}{})", self.delete_head, tuples.join(", ")),
                params,
            ));
        }
        for chunk in upserts.chunks(BATCH) {
            let mut n = 0;
            let mut tuples = Vec::new();
            let mut params = Vec::new();
            for r in chunk {
                let marks: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        n += 1;
                        params.push(text(v));
                        format!("${n}{}", self.casts[i])
                    })
                    .collect();
                tuples.push(format!("({})", marks.join(", ")));
            }
            out.push((
                format!(
                    "{}{}{}",
                    self.insert_head,
                    tuples.join(", "),
                    self.insert_tail
                ),
                params,
            ));
        }
        out
    }
}

impl Sink for PostgresSink {
    fn flush(&mut self, changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        if changes.is_empty() {
            return Ok(());
        }
        let statements = self.statements(changes);
        if self.client.is_none() {
            self.client = Some(connect(&self.db)?);
        }
        let client = self.client.as_mut().expect("connected");
        let result = (|| {
            let mut tx = client.transaction()?;
            for (sql, params) in &statements {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                tx.execute(sql.as_str(), &refs)?;
            }
            tx.commit()
        })();
        result.map_err(|e| {
            let e = classify(&self.db, e);
            if e.is_retryable() {
                self.client = None;
            }
            e
        })
    }
}

/// Reads a whole PostgreSQL table for a dimension.
pub struct PostgresReader {
    db: DbConfig,
    client: Option<Client>,
    query: String,
}

impl PostgresReader {
    pub fn open(db: &DbConfig, columns: &[String]) -> Result<Self, ConnectorError> {
        let mut client = connect(db)?;
        let (table, server_cols) = table_columns(&mut client, db)?;
        if server_cols.is_empty() {
            return Err(ConnectorError::Other(format!(
                "postgres table {}.{} does not exist",
                db.db, db.table
            )));
        }
        let mut cols = Vec::new();
        for c in columns {
            let (name, _) = server_cols
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(c))
                .ok_or_else(|| {
                    ConnectorError::Other(format!(
                        "postgres table {}.{} has no column `{c}`",
                        db.db, db.table
                    ))
                })?;
            cols.push(format!("{}::text", quote(DbKind::Postgres, name)));
        }
        Ok(PostgresReader {
            db: db.clone(),
            client: Some(client),
            query: format!(
                "SELECT {} FROM {}",
                cols.join(", "),
                quote(DbKind::Postgres, &table)
            ),
        })
    }
}

impl crate::sqldb::CellReader for PostgresReader {
    fn read(&mut self) -> Result<Vec<Vec<Option<String>>>, ConnectorError> {
        if self.client.is_none() {
            self.client = Some(connect(&self.db)?);
        }
        let client = self.client.as_mut().expect("connected");
        let messages = match client.simple_query(&self.query) {
            Ok(m) => m,
            Err(e) => {
                let e = classify(&self.db, e);
                if e.is_retryable() {
                    self.client = None;
                }
                return Err(e);
            }
        };
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
                }
                _ => None,
            })
            .collect())
    }
}
