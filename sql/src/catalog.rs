//! Table types and their settings, checked against ec-sql.md's table-type table. A table
//! description becomes a typed [`SourceConfig`] or [`SinkConfig`], or an error that points at the
//! setting that is wrong.

use std::path::PathBuf;

use crate::error::Pos;
use crate::job::TableDesc;
use crate::types::{DataType, Field, Schema};

/// How records of a text source are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Fields split by a delimiter (`table.field.splitter`, default `,`).
    Delimited { splitter: String },
    /// RFC 4180 CSV (quotes, embedded delimiters); no header line.
    Csv,
    /// One JSON object per line; fields are taken by column name.
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    /// `table.type=file`.
    File {
        path: PathBuf,
        format: Format,
        /// Keep reading as the file grows (`tail -F`), never ending.
        follow: bool,
    },
    /// `table.type=generator`: the seeded EasyCount click events of benchmarks.md.
    Generator {
        rows: Option<u64>,
        rate: Option<f64>,
        seed: u64,
    },
    /// `__innertable(ms)`: one empty row every `interval_ms`.
    InnerTable { interval_ms: u64 },
}

impl SourceConfig {
    /// True when the source ends by itself (a read-once file, a generator with a row limit).
    pub fn is_bounded(&self) -> bool {
        match self {
            SourceConfig::File { follow, .. } => !follow,
            SourceConfig::Generator { rows, .. } => rows.is_some(),
            SourceConfig::InnerTable { .. } => false,
        }
    }
}

/// How a `file`-like sink writes the CSV table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvMode {
    /// The table as it stands, sorted by key, rewritten atomically at each flush.
    Final,
    /// One line per upsert or delete.
    Changes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConfig {
    /// A readable change log on standard output.
    Stdout,
    /// `table.type=csv`.
    Csv { path: PathBuf, mode: CsvMode },
}

/// When a sink sees a window's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// Open windows are written as they change, at most once per flush interval.
    Changes,
    /// A window's rows are written once, when it becomes final.
    Final,
}

/// Settings every sink takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkOptions {
    pub emit: Emit,
    pub flush_ms: u64,
}

/// The columns of the built-in EasyCount click-event workload.
pub fn easycount_schema() -> Schema {
    Schema::new(vec![
        Field {
            name: "appId".into(),
            ty: DataType::String,
        },
        Field {
            name: "qq".into(),
            ty: DataType::String,
        },
        Field {
            name: "dTime".into(),
            ty: DataType::Int,
        },
    ])
}

type CatalogResult<T> = Result<T, (Pos, String)>;

const COMMON: &[&str] = &[
    "type",
    "name",
    "fields",
    "emit",
    "flush.ms",
    "field.key",
    "primary.key",
];

fn check_keys(t: &TableDesc, allowed: &[&str]) -> CatalogResult<()> {
    for (k, s) in &t.settings {
        if !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
            let mut all: Vec<String> = allowed.iter().map(|a| format!("table.{a}")).collect();
            all.extend(["table.emit".to_string(), "table.flush.ms".to_string()]);
            return Err((
                s.key_pos,
                format!(
                    "unknown setting `table.{k}` for table `{}` of type {}; known: {}",
                    t.name,
                    table_type(t).unwrap_or_default(),
                    all.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn required<'a>(t: &'a TableDesc, key: &str) -> CatalogResult<&'a str> {
    t.get(key)
        .map(|s| s.value.as_str())
        .ok_or_else(|| (t.pos, format!("table `{}` needs `table.{key}`", t.name)))
}

fn parse_num<T: std::str::FromStr>(t: &TableDesc, key: &str) -> CatalogResult<Option<T>> {
    match t.get(key) {
        None => Ok(None),
        Some(s) => s.value.parse::<T>().map(Some).map_err(|_| {
            (
                s.pos,
                format!("`table.{key}` must be a number, found `{}`", s.value),
            )
        }),
    }
}

/// A `true` / `false` setting (absent: false).
pub fn parse_bool(t: &TableDesc, key: &str) -> CatalogResult<bool> {
    match t.get(key) {
        None => Ok(false),
        Some(s) => match s.value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err((
                s.pos,
                format!("`table.{key}` must be true or false, found `{}`", s.value),
            )),
        },
    }
}

/// The table's type, lower case (`tpg` is read as `postgres`, `tube` as `kafka`).
pub fn table_type(t: &TableDesc) -> Option<String> {
    t.get("type")
        .map(|s| match s.value.to_ascii_lowercase().as_str() {
            "tpg" => "postgres".to_string(),
            "tube" => "kafka".to_string(),
            other => other.to_string(),
        })
}

fn type_setting(t: &TableDesc) -> CatalogResult<String> {
    table_type(t).ok_or_else(|| (t.pos, format!("table `{}` needs `table.type`", t.name)))
}

fn not_yet(t: &TableDesc, ty: &str) -> (Pos, String) {
    let pos = t.get("type").map_or(t.pos, |s| s.pos);
    match ty {
        "kafka" | "mysql" | "redis" | "postgres" => (
            pos,
            format!("table type `{ty}` is not available in this build of tally yet"),
        ),
        _ => (
            pos,
            format!(
                "unknown table type `{ty}`; known: file, generator, stdout, csv (kafka, mysql, \
                 redis, postgres are planned)"
            ),
        ),
    }
}

/// Unescapes a splitter: `\t`, `\n`, `\\`, `\xHH`, `\uHHHH` and `\001`-style octal.
pub fn unescape_splitter(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            '\\' => out.push('\\'),
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            'u' => {
                let h: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            d @ '0'..='7' => {
                let mut o = d.to_string();
                while o.len() < 3 && chars.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                    o.push(chars.next()?);
                }
                out.push(char::from_u32(u32::from_str_radix(&o, 8).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn format_of(t: &TableDesc, key: &str) -> CatalogResult<Format> {
    let kind = t.get(key).map(|s| (s.value.to_ascii_lowercase(), s.pos));
    match kind.as_ref().map(|(k, p)| (k.as_str(), *p)) {
        None | Some(("delimited", _)) | Some(("text", _)) => {
            let splitter = match t.get("field.splitter") {
                None => ",".to_string(),
                Some(s) => unescape_splitter(&s.value)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| (s.pos, format!("bad `table.field.splitter` `{}`", s.value)))?,
            };
            Ok(Format::Delimited { splitter })
        }
        Some(("csv", _)) => Ok(Format::Csv),
        Some(("json", _)) => Ok(Format::Json),
        Some((other, pos)) => Err((
            pos,
            format!("unknown format `{other}`; use delimited, csv or json"),
        )),
    }
}

/// Checks a table used in FROM and returns how to read it, with its schema.
pub fn source_config(t: &TableDesc) -> CatalogResult<(SourceConfig, Schema)> {
    let ty = type_setting(t)?;
    match ty.as_str() {
        "file" => {
            check_keys(
                t,
                &[
                    "file.path",
                    "file.format",
                    "file.follow",
                    "file.replay",
                    "field.splitter",
                ],
            )?;
            let path = PathBuf::from(required(t, "file.path")?);
            if t.schema.is_empty() {
                return Err((
                    t.pos,
                    format!("file table `{}` needs `table.fields`", t.name),
                ));
            }
            let format = format_of(t, "file.format")?;
            let follow = parse_bool(t, "file.follow")?;
            Ok((
                SourceConfig::File {
                    path,
                    format,
                    follow,
                },
                t.schema.clone(),
            ))
        }
        "generator" => {
            check_keys(
                t,
                &[
                    "generator.workload",
                    "generator.rows",
                    "generator.rate",
                    "generator.seed",
                ],
            )?;
            if let Some(w) = t.get("generator.workload") {
                if !w.value.eq_ignore_ascii_case("easycount") {
                    return Err((
                        w.pos,
                        format!("unknown generator workload `{}`; known: easycount", w.value),
                    ));
                }
            }
            let schema = easycount_schema();
            if !t.schema.is_empty() {
                let types: Vec<DataType> = t.schema.fields.iter().map(|f| f.ty).collect();
                let want: Vec<DataType> = schema.fields.iter().map(|f| f.ty).collect();
                if types != want {
                    let pos = t.get("fields").map_or(t.pos, |s| s.pos);
                    return Err((
                        pos,
                        "the easycount generator gives (STRING, STRING, BIGINT) columns; \
                         table.fields must declare three columns of those types"
                            .to_string(),
                    ));
                }
            }
            let rate: Option<f64> = parse_num(t, "generator.rate")?;
            if let (Some(r), Some(s)) = (rate, t.get("generator.rate")) {
                if r <= 0.0 || !r.is_finite() {
                    return Err((s.pos, "`table.generator.rate` must be above 0".to_string()));
                }
            }
            let cfg = SourceConfig::Generator {
                rows: parse_num(t, "generator.rows")?,
                rate,
                seed: parse_num(t, "generator.seed")?.unwrap_or(42),
            };
            Ok((
                cfg,
                if t.schema.is_empty() {
                    schema
                } else {
                    t.schema.clone()
                },
            ))
        }
        "stdout" | "csv" => Err((
            t.pos,
            format!(
                "table `{}` of type {ty} can only be written to, not read",
                t.name
            ),
        )),
        other => Err(not_yet(t, other)),
    }
}

/// Checks a table used in INSERT INTO and returns how to write it.
pub fn sink_config(t: &TableDesc) -> CatalogResult<(SinkConfig, SinkOptions)> {
    let ty = type_setting(t)?;
    let config = match ty.as_str() {
        "stdout" | "print" => {
            check_keys(t, &[])?;
            SinkConfig::Stdout
        }
        "csv" => {
            check_keys(t, &["csv.path", "csv.mode"])?;
            let path = PathBuf::from(required(t, "csv.path")?);
            let mode = match t.get("csv.mode") {
                None => CsvMode::Final,
                Some(s) => match s.value.to_ascii_lowercase().as_str() {
                    "final" => CsvMode::Final,
                    "changes" => CsvMode::Changes,
                    _ => {
                        return Err((
                            s.pos,
                            format!(
                                "`table.csv.mode` must be final or changes, found `{}`",
                                s.value
                            ),
                        ))
                    }
                },
            };
            SinkConfig::Csv { path, mode }
        }
        "file" | "generator" => {
            return Err((
                t.pos,
                format!(
                    "table `{}` of type {ty} can only be read, not written",
                    t.name
                ),
            ))
        }
        other => return Err(not_yet(t, other)),
    };
    let emit = match t.get("emit") {
        None => Emit::Changes,
        Some(s) => match s.value.to_ascii_lowercase().as_str() {
            "changes" => Emit::Changes,
            "final" => Emit::Final,
            _ => {
                return Err((
                    s.pos,
                    format!("`table.emit` must be changes or final, found `{}`", s.value),
                ))
            }
        },
    };
    let flush_ms = parse_num(t, "flush.ms")?.unwrap_or(1000);
    Ok((config, SinkOptions { emit, flush_ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitters() {
        assert_eq!(unescape_splitter("\\t").unwrap(), "\t");
        assert_eq!(unescape_splitter("\\001").unwrap(), "\u{1}");
        assert_eq!(unescape_splitter("\\x01").unwrap(), "\u{1}");
        assert_eq!(unescape_splitter("|").unwrap(), "|");
        assert!(unescape_splitter("\\").is_none());
    }
}
