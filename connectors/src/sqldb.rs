//! What the MySQL and PostgreSQL connectors share: identifier checks, the column types of a
//! created table, the check that the table's primary key is the result key, and a dimension
//! source that re-reads a table every `poll.ms` and sends only the differences.

use std::sync::Arc;

use tally_sql::catalog::{DbChanges, DbConfig, DbKind};
use tally_sql::{DataType, Row, Schema};

use crate::format::parse_value;
use crate::polled::{PolledTable, TableReader};
use crate::{ConnectorError, Metrics, Sink, Source, WorkerInfo};

/// Checks a table or column name: letters, digits and `_`, not starting with a digit, at most
/// 64 characters. Names are also quoted in every statement.
pub fn check_identifier(what: &str, name: &str) -> Result<(), ConnectorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::Other(format!(
            "{what} {name:?} is not a valid identifier (letters, digits and _, not starting with \
             a digit, at most 64 characters)"
        )))
    }
}

/// `"name"` for PostgreSQL, `` `name` `` for MySQL (the name is already checked).
pub fn quote(kind: DbKind, name: &str) -> String {
    match kind {
        DbKind::Mysql => format!("`{name}`"),
        DbKind::Postgres => format!("\"{name}\""),
    }
}

/// The column type of a created table.
/// A DECIMAL(p,s) column is `DECIMAL(p,s)` in MySQL (whose scale is at most 30) and
/// `NUMERIC(p,s)` in PostgreSQL.
pub fn column_type(kind: DbKind, ty: &DataType, in_key: bool) -> String {
    match (kind, ty) {
        (_, DataType::Int) => "BIGINT".into(),
        (DbKind::Mysql, DataType::Double) => "DOUBLE".into(),
        (DbKind::Postgres, DataType::Double) => "DOUBLE PRECISION".into(),
        (DbKind::Mysql, DataType::Decimal { precision, scale }) => {
            format!("DECIMAL({precision},{})", (*scale).min(30))
        }
        (DbKind::Postgres, DataType::Decimal { precision, scale }) => {
            format!("NUMERIC({precision},{scale})")
        }
        (_, DataType::Boolean) => "BOOLEAN".into(),
        (DbKind::Mysql, _) if in_key => "VARCHAR(255)".into(),
        (_, _) => "TEXT".into(),
    }
}

/// `CREATE TABLE` for a result table with the given key.
pub fn create_statement(kind: DbKind, table: &str, schema: &Schema, key: &[usize]) -> String {
    let cols: Vec<String> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let in_key = key.contains(&i);
            format!(
                "{} {}{}",
                quote(kind, &f.name),
                column_type(kind, &f.ty, in_key),
                if in_key { " NOT NULL" } else { "" }
            )
        })
        .collect();
    let pk: Vec<String> = key
        .iter()
        .map(|&i| quote(kind, &schema.fields[i].name))
        .collect();
    format!(
        "CREATE TABLE {} ({}, PRIMARY KEY ({}))",
        quote(kind, table),
        cols.join(", "),
        pk.join(", ")
    )
}

/// The result key a database sink upserts by: it must have columns.
pub fn sink_key(
    table: &str,
    db: &DbConfig,
    key: Option<&[usize]>,
) -> Result<Vec<usize>, ConnectorError> {
    match key {
        Some(k) if !k.is_empty() => Ok(k.to_vec()),
        _ => Err(ConnectorError::Other(format!(
            "table {table}: a {} sink upserts by the result key, and this result has none (no \
             GROUP BY columns); group by a column or write `INSERT INTO {table} WITH col AS KEY`",
            kind_name(db.kind)
        ))),
    }
}

pub fn kind_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Mysql => "mysql",
        DbKind::Postgres => "postgres",
    }
}

/// Checks the names a sink will use and that the server's primary key (`pk`, as the server
/// lists it) is the result key. `None`: the table does not exist.
pub fn check_primary_key(
    db: &DbConfig,
    schema: &Schema,
    key: &[usize],
    pk: &[String],
    columns: &[String],
) -> Result<(), ConnectorError> {
    let want: Vec<String> = key
        .iter()
        .map(|&i| schema.fields[i].name.to_ascii_lowercase())
        .collect();
    let have: Vec<String> = pk.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut w = want.clone();
    let mut h = have.clone();
    w.sort();
    h.sort();
    if w != h {
        return Err(ConnectorError::Other(format!(
            "{} table {}.{}: its primary key is ({}) but the result key is ({}); they must be the \
             same columns",
            kind_name(db.kind),
            db.db,
            db.table,
            pk.join(", "),
            key.iter()
                .map(|&i| schema.fields[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let lower: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    if let Some(f) = schema
        .fields
        .iter()
        .find(|f| !lower.contains(&f.name.to_ascii_lowercase()))
    {
        return Err(ConnectorError::Other(format!(
            "{} table {}.{} has no column `{}` (its columns: {})",
            kind_name(db.kind),
            db.db,
            db.table,
            f.name,
            columns.join(", ")
        )));
    }
    Ok(())
}

/// A flush's rows to upsert and rows to delete (one change per key, so their order between
/// the two does not matter).
pub fn upserts_and_deletes(changes: &[crate::Change]) -> (Vec<&Row>, Vec<&Row>) {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for c in changes {
        match c {
            crate::Change::Insert(r) | crate::Change::Update(r) => upserts.push(r),
            crate::Change::Delete(r) => deletes.push(r),
        }
    }
    (upserts, deletes)
}

/// Checks every name a database table of `schema` uses.
pub fn check_names(db: &DbConfig, schema: &Schema) -> Result<(), ConnectorError> {
    check_identifier("database", &db.db)?;
    check_identifier("table", &db.table)?;
    for f in &schema.fields {
        check_identifier("column", &f.name)?;
    }
    Ok(())
}

/// Opens a MySQL or PostgreSQL sink.
pub fn open_sink(
    table: &str,
    db: &DbConfig,
    schema: &Schema,
    key: Option<&[usize]>,
) -> Result<Box<dyn Sink>, ConnectorError> {
    match db.kind {
        #[cfg(feature = "mysql")]
        DbKind::Mysql => Ok(Box::new(crate::mysql::MysqlSink::open(
            table, db, schema, key,
        )?)),
        #[cfg(feature = "postgres")]
        DbKind::Postgres => Ok(Box::new(crate::postgres::PostgresSink::open(
            table, db, schema, key,
        )?)),
        #[allow(unreachable_patterns)]
        other => Err(ConnectorError::Other(format!(
            "table {table}: this build of tally has no {} connector",
            kind_name(other)
        ))),
    }
}

/// Reads a whole table as text cells (NULL as `None`), in the order of the given columns.
pub trait CellReader: Send {
    fn read(&mut self) -> Result<Vec<Vec<Option<String>>>, ConnectorError>;
}

/// A [`CellReader`] whose cells are parsed to the table's column types; a row with a cell that
/// does not parse is counted as malformed and skipped.
struct Typed {
    table: String,
    reader: Box<dyn CellReader>,
    schema: Schema,
    metrics: Arc<Metrics>,
}

impl TableReader for Typed {
    fn read(&mut self) -> Result<Vec<Row>, ConnectorError> {
        let cells = self.reader.read()?;
        Ok(cells
            .into_iter()
            .filter_map(|cells| typed_row(&self.table, &self.schema, &self.metrics, cells))
            .collect())
    }
}

/// One row of text cells (NULL as `None`, in the order of the schema's fields) parsed to the
/// field types; `None` (counted as malformed) when a cell does not parse. Every database
/// dimension path (a polled read, a binlog event) types its rows here, so they agree.
pub(crate) fn typed_row(
    table: &str,
    schema: &Schema,
    metrics: &Metrics,
    cells: Vec<Option<String>>,
) -> Option<Row> {
    let mut row = Vec::with_capacity(cells.len());
    for (cell, f) in cells.into_iter().zip(&schema.fields) {
        match cell {
            None => row.push(tally_sql::Value::Null),
            Some(text) => match parse_value(&text, &f.ty) {
                Some(v) => row.push(v),
                None => {
                    metrics.bad_row(
                        table,
                        &format!("column {} is not a valid {}", f.name, f.ty),
                        &text,
                    );
                    return None;
                }
            },
        }
    }
    Some(row)
}

/// Opens a MySQL or PostgreSQL dimension table: followed in the MySQL binlog (`changes` binlog,
/// or auto when the server allows it) or re-read every `poll_ms`.
pub fn open_dimension(
    table: &str,
    db: &DbConfig,
    schema: &Schema,
    worker: WorkerInfo,
    poll_ms: u64,
    changes: DbChanges,
    metrics: Arc<Metrics>,
) -> Result<Box<dyn Source>, ConnectorError> {
    check_names(db, schema)?;
    if worker.index != 0 {
        // One worker reads the table; the join spreads its rows by key.
        return Ok(Box::new(PolledTable::idle()));
    }
    #[cfg(feature = "mysql")]
    if db.kind == DbKind::Mysql && changes != DbChanges::Poll {
        if let Some(source) =
            crate::mysql::binlog::open(table, db, schema, changes, poll_ms, metrics.clone())?
        {
            return Ok(source);
        }
    }
    let _ = changes;
    let columns = schema.names();
    let reader: Box<dyn CellReader> = match db.kind {
        #[cfg(feature = "mysql")]
        DbKind::Mysql => Box::new(crate::mysql::MysqlReader::open(db, &columns)?),
        #[cfg(feature = "postgres")]
        DbKind::Postgres => Box::new(crate::postgres::PostgresReader::open(db, &columns)?),
        #[allow(unreachable_patterns)]
        other => {
            return Err(ConnectorError::Other(format!(
                "table {table}: this build of tally has no {} connector",
                kind_name(other)
            )))
        }
    };
    let typed = Typed {
        table: table.to_string(),
        reader,
        schema: schema.clone(),
        metrics: metrics.clone(),
    };
    Ok(Box::new(PolledTable::new(
        table,
        Box::new(typed),
        poll_ms,
        metrics,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("table", "pv_uv1").is_ok());
        assert!(check_identifier("table", "a`b").is_err());
        assert!(check_identifier("table", "1a").is_err());
        assert!(check_identifier("table", "a b").is_err());
        assert!(check_identifier("table", "").is_err());
    }
}
