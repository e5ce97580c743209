//! Table types and their settings, checked against ec-sql.md's table-type table. A table
//! description becomes a typed [`SourceConfig`] or [`SinkConfig`], or an error that points at the
//! setting that is wrong.

use std::path::PathBuf;

use crate::error::{did_you_mean, Pos};
use crate::job::TableDesc;
use crate::types::{DataType, Field, Schema};

mod nexmark;
pub use nexmark::{NexmarkColumn, NexmarkConfig, NexmarkKind, NexmarkType, RateShape};

/// How records of a text source are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Fields split by a delimiter (`table.field.splitter`, default `,`).
    Delimited { splitter: String, nested: Nested },
    /// RFC 4180 CSV (quotes, embedded delimiters); no header line. The delimiter is a comma
    /// unless `table.field.splitter` (Flink's `'csv.field-delimiter'`) names another byte.
    Csv { nested: Nested, delimiter: u8 },
    /// One JSON object per line; fields are taken by column name; ARRAY, MAP and STRUCT
    /// columns from JSON arrays and objects.
    Json,
}

/// The splitters of ARRAY, MAP and STRUCT values inside one text field, by nesting level,
/// as in Hive's delimited text: level 1 (`table.collection.splitter`, default `\x02`) splits
/// the elements of an array, the entries of a map and the fields of a struct; the next level
/// (`table.map.splitter`, default `\x03`) splits a map entry into key and value; a value
/// nested deeper uses the level after its parent's (Hive's defaults `\x04`, `\x05`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nested(pub Vec<String>);

impl Default for Nested {
    fn default() -> Self {
        Nested((2u8..=8).map(|c| char::from(c).to_string()).collect())
    }
}

impl Nested {
    /// The splitter of `level` (1-based).
    pub fn at(&self, level: usize) -> &str {
        let i = level.saturating_sub(1).min(self.0.len() - 1);
        &self.0[i]
    }
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
    /// Flink's `datagen`: each column a sequence or random values; `rows` in all (endless
    /// without), `rate` rows a second (unpaced without).
    Datagen {
        rows: Option<u64>,
        rate: Option<f64>,
        fields: Vec<DatagenField>,
    },
    /// Flink's `nexmark`: the Nexmark benchmark's person, auction and bid events.
    Nexmark(Box<NexmarkConfig>),
    /// `table.type=kafka`: a topic's partitions spread over all workers.
    Kafka(KafkaSource),
    /// `table.type=mysql` / `postgres` as a dimension: the table, kept current from the binlog
    /// (MySQL) or re-read every `poll_ms` with only the differences sent on.
    Database {
        db: DbConfig,
        poll_ms: u64,
        changes: DbChanges,
    },
    /// `table.type=redis` as a dimension: the hashes whose names match a key template.
    Redis {
        url: Secret,
        key: String,
        poll_ms: u64,
    },
}

/// A password or a URL that may hold one: never printed (its `Debug` is `***`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that hands it to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where a Kafka source starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaOffset {
    Earliest,
    Latest,
    /// The group's committed offsets (earliest where the group has none).
    Committed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSource {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub offset: KafkaOffset,
    pub format: Format,
    /// Stop at each partition's end: the first time the job has caught up with it (for a topic
    /// no one writes to, the end offsets as the job starts).
    pub bounded: bool,
    /// What separates several records in one message (default a new line; a space turns a
    /// log line into one record per word).
    pub record_splitter: String,
    /// `table.kafka.properties.<name>`: librdkafka settings passed to the client as they are,
    /// after tally's own (so they override them).
    pub properties: Vec<(String, String)>,
}

/// Which SQL server a `mysql` / `postgres` table lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Mysql,
    Postgres,
}

/// How a database dimension sees the rows that change while the job runs
/// (`table.<type>.changes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbChanges {
    /// Re-read the whole table every `poll.ms`.
    Poll,
    /// Follow the MySQL binlog; the job fails at start when the server cannot give it.
    Binlog,
    /// The binlog when the server can give it, otherwise polling (PostgreSQL: polling).
    Auto,
}

/// Connection and table of a MySQL or PostgreSQL table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbConfig {
    pub kind: DbKind,
    pub host: String,
    pub port: u16,
    pub db: String,
    pub user: String,
    pub password: Secret,
    /// The server-side table (default: the tally table's name).
    pub table: String,
    /// Create the table when it is missing (sinks only).
    pub create: bool,
}

/// Where a Redis sink writes a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    /// One hash per row, named by a template over the row's columns (`pvuv:{appId}`); `None`:
    /// `<table>:<key values joined by ':'>`. Its fields are the columns the name does not use.
    Key(Option<String>),
    /// One hash for the table. With a field template, one field per row (the value: the one
    /// remaining column, or a JSON object of them); without, the row's columns are the fields
    /// (a one-row table such as `pv`, `uv`).
    Hash { name: String, field: Option<String> },
}

impl SourceConfig {
    /// True when the source ends by itself (a read-once file, a generator with a row limit).
    pub fn is_bounded(&self) -> bool {
        match self {
            SourceConfig::File { follow, .. } => !follow,
            SourceConfig::Generator { rows, .. } => rows.is_some(),
            SourceConfig::InnerTable { .. } => false,
            SourceConfig::Datagen { rows, .. } => rows.is_some(),
            SourceConfig::Nexmark(n) => n.events.is_some(),
            SourceConfig::Kafka(k) => k.bounded,
            SourceConfig::Database { .. } | SourceConfig::Redis { .. } => false,
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
    /// Flink's `blackhole`: every change is dropped (each worker drops its own share), to
    /// measure a query without a sink's cost.
    Blackhole,
    /// `table.type=csv`.
    Csv { path: PathBuf, mode: CsvMode },
    /// `table.type=redis`.
    Redis {
        url: Secret,
        target: RedisTarget,
        /// Seconds to live, set when a key (or the table's hash) is created.
        ttl: Option<u64>,
    },
    /// `table.type=mysql` / `postgres`: upserts by the table's primary key.
    Database(DbConfig),
    /// `table.type=kafka`: the change log, keyed by the result key; `properties` as a source's.
    Kafka {
        brokers: String,
        topic: String,
        properties: Vec<(String, String)>,
    },
}

impl SinkConfig {
    /// Whether every worker writes the keys it owns (servers), rather than one worker writing
    /// the whole table (files, stdout).
    pub fn partitioned(&self) -> bool {
        !matches!(self, SinkConfig::Stdout | SinkConfig::Csv { .. })
    }

    /// Whether the sink writes its whole table at each flush (a CSV file in `final` mode)
    /// rather than the changes since the last: it needs every row kept.
    pub fn rewrites_table(&self) -> bool {
        matches!(
            self,
            SinkConfig::Csv {
                mode: CsvMode::Final,
                ..
            }
        )
    }
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
    "field.version",
    "primary.key",
];

fn check_keys(t: &TableDesc, allowed: &[&str]) -> CatalogResult<()> {
    for (k, s) in &t.settings {
        if !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str()) {
            let mut all: Vec<String> = allowed.iter().map(|a| format!("table.{a}")).collect();
            all.extend(["table.emit".to_string(), "table.flush.ms".to_string()]);
            let guess = did_you_mean(k, allowed.iter().chain(COMMON).copied())
                .map_or_else(String::new, |g| format!("; did you mean `table.{g}`?"));
            return Err((
                s.key_pos,
                format!(
                    "unknown setting `table.{k}` for table `{}` of type {}{guess}; known: {}",
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

fn unknown_type(t: &TableDesc, ty: &str) -> (Pos, String) {
    let pos = t.get("type").map_or(t.pos, |s| s.pos);
    (
        pos,
        format!(
            "unknown table type `{ty}`; known: file, generator, kafka, mysql, postgres (tpg), \
             redis, datagen, nexmark, stdout (print), blackhole, csv"
        ),
    )
}

/// Expands `${VAR}` from the environment (for passwords and URLs that hold one).
fn expand_env(t: &TableDesc, key: &str) -> CatalogResult<Option<Secret>> {
    let Some(s) = t.get(key) else { return Ok(None) };
    let mut out = String::new();
    let mut rest = s.value.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            (
                s.pos,
                format!("`table.{key}`: `${{` without a closing `}}`"),
            )
        })?;
        let var = &after[..end];
        let value = std::env::var(var).map_err(|_| {
            (
                s.pos,
                format!("`table.{key}` names the environment variable `{var}`, which is not set"),
            )
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(Secret(out)))
}

fn string_or(t: &TableDesc, key: &str, default: &str) -> String {
    t.get(key)
        .map_or_else(|| default.to_string(), |s| s.value.clone())
}

/// EasyCount's names for the connection settings of a PostgreSQL table (its type `tpg`):
/// `table.tpg.db.host` is `table.postgres.host`, and so on. In a `.sql` job (`'db.host'`) they
/// arrive as `postgres.db.*`, so both `tpg.` and `postgres.` take them.
const TPG_ALIASES: &[(&str, &str)] = &[
    ("host", "db.host"),
    ("port", "db.port"),
    ("db", "db.name"),
    ("user", "db.username"),
    ("password", "db.passwd"),
];

/// The keys a database table may give `setting` under: `{ty}.{setting}`, then, for PostgreSQL,
/// EasyCount's `tpg` names.
fn db_key_names(ty: &str, setting: &str) -> Vec<String> {
    let mut names = vec![format!("{ty}.{setting}")];
    if ty == "postgres" {
        if let Some((_, alias)) = TPG_ALIASES.iter().find(|(s, _)| *s == setting) {
            names.extend([format!("tpg.{alias}"), format!("postgres.{alias}")]);
        }
    }
    names
}

/// The key a database table gives `setting` under (`{ty}.{setting}` when it gives none); an
/// error when it gives two of its names.
fn db_key(t: &TableDesc, ty: &str, setting: &str) -> CatalogResult<String> {
    let names = db_key_names(ty, setting);
    let mut given: Vec<(&String, Pos)> = names
        .iter()
        .filter_map(|n| Some((n, t.get(n)?.key_pos)))
        .collect();
    given.sort_by_key(|(_, p)| (p.line, p.col));
    match given[..] {
        [] => Ok(names[0].clone()),
        [(one, _)] => Ok(one.clone()),
        [(a, _), (b, at), ..] => Err((
            at,
            format!("`table.{b}` is another name of `table.{a}`, which is set already"),
        )),
    }
}

fn db_config(t: &TableDesc, ty: &str) -> CatalogResult<DbConfig> {
    let (kind, port, user) = match ty {
        "mysql" => (DbKind::Mysql, 3306, "root"),
        _ => (DbKind::Postgres, 5432, "postgres"),
    };
    let k = |s: &str| db_key(t, ty, s);
    Ok(DbConfig {
        kind,
        host: string_or(t, &k("host")?, "127.0.0.1"),
        port: parse_num(t, &k("port")?)?.unwrap_or(port),
        db: string_or(t, &k("db")?, "test"),
        user: string_or(t, &k("user")?, user),
        password: expand_env(t, &k("password")?)?.unwrap_or_default(),
        table: string_or(t, &k("table")?, &t.name),
        create: parse_bool(t, &k("create")?)?,
    })
}

fn db_keys(ty: &str, extra: &[&str]) -> Vec<String> {
    ["host", "port", "db", "user", "password", "table"]
        .iter()
        .chain(extra)
        .flat_map(|s| db_key_names(ty, s))
        .collect()
}

/// Whether the table's type is written `tpg`: EasyCount's PostgreSQL sink, whose descriptions
/// carried `table.field.splitter` like every other table (accepted there, and unused: a
/// database sink writes columns, not text).
fn written_tpg(t: &TableDesc) -> bool {
    t.get("type")
        .is_some_and(|s| s.value.eq_ignore_ascii_case("tpg"))
}

/// Refuses a table on EasyCount's TubeMQ queue (`table.tube.master`, `table.tube.port`,
/// `table.topic`, `table.interfaceId`), at its first such setting, with what to write instead.
fn refuse_tube(t: &TableDesc, role: &str) -> CatalogResult<()> {
    let untyped = t
        .get("type")
        .is_none_or(|s| s.value.eq_ignore_ascii_case("tube"));
    let tube =
        |k: &str| k.starts_with("tube.") || (untyped && (k == "topic" || k == "interfaceid"));
    let first = t
        .settings
        .iter()
        .filter(|(k, _)| tube(k))
        .min_by_key(|(k, s)| (!k.starts_with("tube."), s.key_pos.line, s.key_pos.col));
    let Some((k, s)) = first else { return Ok(()) };
    let written = match k.as_str() {
        "interfaceid" => "interfaceId",
        k => k,
    };
    Err((
        s.key_pos,
        format!(
            "TubeMQ (`table.{written}`: EasyCount's queue) is not a {role}; put the stream on \
             Kafka and describe `{}` with `table.type=kafka`, `table.kafka.brokers` (instead of \
             `table.tube.master` and `table.tube.port`) and `table.kafka.topic` (instead of \
             `table.topic` and `table.interfaceId`)",
            t.name
        ),
    ))
}

fn check_keys_owned(t: &TableDesc, allowed: &[String]) -> CatalogResult<()> {
    let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
    check_keys(t, &refs)
}

/// How a `datagen` column's values are made (`fields.<col>.kind`).
#[derive(Clone, Debug, PartialEq)]
pub enum DatagenField {
    /// `start`, `start + 1`, ... `end`, in row order.
    Sequence {
        start: i64,
        end: i64,
    },
    /// Uniform in `[min, max]`.
    RandomInt {
        min: i64,
        max: i64,
    },
    /// Uniform in `[min, max)`.
    RandomDouble {
        min: f64,
        max: f64,
    },
    /// `length` random letters and digits.
    RandomString {
        length: usize,
    },
    RandomBool,
}

/// Flink's `datagen` options: `rows-per-second` (default 10000, as Flink's), `number-of-rows`
/// (endless without, and at most every sequence's length), and per column `fields.<col>.kind`
/// = `random` (default: `min`/`max` for numbers, `length` for strings) or `sequence`
/// (`start`, `end`; integer columns).
fn datagen_source(t: &TableDesc) -> CatalogResult<SourceConfig> {
    needs_fields(t)?;
    let mut keys = vec![
        "datagen.rows-per-second".to_string(),
        "datagen.number-of-rows".to_string(),
    ];
    for f in &t.schema.fields {
        for k in ["kind", "min", "max", "length", "start", "end"] {
            keys.push(format!(
                "datagen.fields.{}.{k}",
                f.name.to_ascii_lowercase()
            ));
        }
    }
    check_keys_owned(t, &keys)?;
    let mut rows: Option<u64> = parse_num(t, "datagen.number-of-rows")?;
    let rate: f64 = parse_num(t, "datagen.rows-per-second")?.unwrap_or(10_000.0);
    if !(rate > 0.0 && rate.is_finite()) {
        let pos = t.get("datagen.rows-per-second").map_or(t.pos, |s| s.pos);
        return Err((pos, "'rows-per-second' must be above 0".to_string()));
    }
    let mut fields = Vec::new();
    for f in &t.schema.fields {
        let key = |k: &str| format!("datagen.fields.{}.{k}", f.name.to_ascii_lowercase());
        let kind = t.get(&key("kind"));
        let field = match kind.map(|s| s.value.to_ascii_lowercase()).as_deref() {
            Some("sequence") => {
                let (Some(start), Some(end)) = (
                    parse_num::<i64>(t, &key("start"))?,
                    parse_num::<i64>(t, &key("end"))?,
                ) else {
                    return Err((
                        kind.map_or(t.pos, |s| s.pos),
                        format!(
                            "a sequence column `{}` needs 'fields.{}.start' and 'fields.{}.end'",
                            f.name, f.name, f.name
                        ),
                    ));
                };
                if f.ty != DataType::Int || end < start {
                    return Err((
                        kind.map_or(t.pos, |s| s.pos),
                        format!(
                            "a sequence column `{}` is an integer column with start <= end",
                            f.name
                        ),
                    ));
                }
                let len = (end - start) as u64 + 1;
                rows = Some(rows.map_or(len, |r| r.min(len)));
                DatagenField::Sequence { start, end }
            }
            None | Some("random") => match &f.ty {
                DataType::Int => DatagenField::RandomInt {
                    min: parse_num(t, &key("min"))?.unwrap_or(i64::MIN),
                    max: parse_num(t, &key("max"))?.unwrap_or(i64::MAX),
                },
                DataType::Double => DatagenField::RandomDouble {
                    min: parse_num(t, &key("min"))?.unwrap_or(0.0),
                    max: parse_num(t, &key("max"))?.unwrap_or(1.0),
                },
                DataType::String => DatagenField::RandomString {
                    length: parse_num(t, &key("length"))?.unwrap_or(100),
                },
                DataType::Boolean => DatagenField::RandomBool,
                other => {
                    return Err((
                        t.pos,
                        format!("datagen cannot make `{}` values of type {other}", f.name),
                    ))
                }
            },
            Some(other) => {
                return Err((
                    kind.map_or(t.pos, |s| s.pos),
                    format!("'fields.{}.kind' = '{other}': random or sequence", f.name),
                ))
            }
        };
        let bad_range = match &field {
            DatagenField::RandomInt { min, max } => min > max,
            DatagenField::RandomDouble { min, max } => {
                min >= max || !min.is_finite() || !max.is_finite()
            }
            _ => false,
        };
        if bad_range {
            let pos = t.get(&key("min")).map_or(t.pos, |s| s.pos);
            return Err((pos, format!("'fields.{}.min' must be below 'max'", f.name)));
        }
        fields.push(field);
    }
    Ok(SourceConfig::Datagen {
        rows,
        rate: Some(rate),
        fields,
    })
}

fn needs_fields(t: &TableDesc) -> CatalogResult<()> {
    if t.schema.is_empty() {
        return Err((t.pos, format!("table `{}` needs `table.fields`", t.name)));
    }
    Ok(())
}

/// The names a `{column}` template uses; each must be one of `names`.
pub fn template_columns(template: &str) -> Result<Vec<String>, String> {
    let mut cols = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{{` without a closing `}}` in `{template}`"))?;
        cols.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(cols)
}

/// `table.kafka.properties.<name>` settings (Flink's `'properties.<name>'`): librdkafka's own.
fn kafka_properties(t: &TableDesc) -> Vec<(String, String)> {
    t.settings
        .iter()
        .filter_map(|(k, s)| {
            let name = k.strip_prefix("kafka.properties.")?;
            Some((name.to_string(), s.value.clone()))
        })
        .collect()
}

/// The Kafka keys a table may set: `fixed`, and any `kafka.properties.*`.
fn kafka_keys(t: &TableDesc, fixed: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = fixed.iter().map(|k| k.to_string()).collect();
    keys.extend(
        t.settings
            .keys()
            .filter(|k| k.starts_with("kafka.properties.") && k.len() > "kafka.properties.".len())
            .cloned(),
    );
    keys
}

/// `table.kafka.brokers`, or Flink's `properties.bootstrap.servers`.
fn kafka_brokers(t: &TableDesc) -> CatalogResult<String> {
    match t.get("kafka.properties.bootstrap.servers") {
        Some(s) if t.get("kafka.brokers").is_none() => Ok(s.value.clone()),
        _ => Ok(required(t, "kafka.brokers")?.to_string()),
    }
}

fn kafka_source(t: &TableDesc) -> CatalogResult<KafkaSource> {
    if let Some(s) = t.get("kafka.upsert") {
        return Err((
            s.pos,
            format!(
                "`{}` is an upsert-kafka table, which tally writes but does not read: read the \
                 topic with 'connector' = 'kafka'",
                t.name
            ),
        ));
    }
    check_keys_owned(
        t,
        &kafka_keys(
            t,
            &[
                "kafka.brokers",
                "kafka.topic",
                "kafka.group",
                "kafka.offset",
                "kafka.format",
                "kafka.bounded",
                "kafka.record.splitter",
                "field.splitter",
                "collection.splitter",
                "map.splitter",
            ],
        ),
    )?;
    needs_fields(t)?;
    let offset = match t.get("kafka.offset") {
        None => KafkaOffset::Committed,
        Some(s) => match s.value.to_ascii_lowercase().as_str() {
            "earliest" => KafkaOffset::Earliest,
            "latest" => KafkaOffset::Latest,
            "committed" => KafkaOffset::Committed,
            _ => {
                return Err((
                    s.pos,
                    format!(
                        "`table.kafka.offset` must be earliest, latest or committed, found `{}`",
                        s.value
                    ),
                ))
            }
        },
    };
    Ok(KafkaSource {
        brokers: kafka_brokers(t)?,
        topic: required(t, "kafka.topic")?.to_string(),
        group: string_or(t, "kafka.group", &format!("tally-{}", t.name)),
        offset,
        format: format_of(t, "kafka.format")?,
        bounded: parse_bool(t, "kafka.bounded")?,
        record_splitter: match t.get("kafka.record.splitter") {
            None => "\n".to_string(),
            Some(s) => unescape_splitter(&s.value)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    (
                        s.pos,
                        format!("bad `table.kafka.record.splitter` `{}`", s.value),
                    )
                })?,
        },
        properties: {
            // What tally's delivery rests on is tally's to set.
            const OWN: &[&str] = &[
                "group.id",
                "enable.auto.commit",
                "enable.auto.offset.store",
                "enable.partition.eof",
            ];
            if let Some((k, s)) = t.settings.iter().find(|(k, _)| {
                k.strip_prefix("kafka.properties.")
                    .is_some_and(|name| OWN.contains(&name))
            }) {
                return Err((
                    s.key_pos,
                    format!(
                        "`table.{k}` is set by tally (offsets are committed only for rows the \
                         sinks have applied); use `table.kafka.group` for the group"
                    ),
                ));
            }
            kafka_properties(t)
        },
    })
}

fn poll_ms(t: &TableDesc, key: &str) -> CatalogResult<u64> {
    let ms: u64 = parse_num(t, key)?.unwrap_or(1000);
    if ms == 0 {
        let pos = t.get(key).map_or(t.pos, |s| s.pos);
        return Err((pos, format!("`table.{key}` must be above 0")));
    }
    Ok(ms)
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

fn splitter_setting(t: &TableDesc, key: &str) -> CatalogResult<Option<String>> {
    match t.get(key) {
        None => Ok(None),
        Some(s) => unescape_splitter(&s.value)
            .filter(|u| !u.is_empty())
            .map(Some)
            .ok_or_else(|| (s.pos, format!("bad `table.{key}` `{}`", s.value))),
    }
}

fn nested_of(t: &TableDesc) -> CatalogResult<Nested> {
    let mut n = Nested::default();
    if let Some(s) = splitter_setting(t, "collection.splitter")? {
        n.0[0] = s;
    }
    if let Some(s) = splitter_setting(t, "map.splitter")? {
        n.0[1] = s;
    }
    Ok(n)
}

fn format_of(t: &TableDesc, key: &str) -> CatalogResult<Format> {
    let kind = t.get(key).map(|s| (s.value.to_ascii_lowercase(), s.pos));
    let nested = nested_of(t)?;
    match kind.as_ref().map(|(k, p)| (k.as_str(), *p)) {
        None | Some(("delimited", _)) | Some(("text", _)) => {
            let splitter = match t.get("field.splitter") {
                None => ",".to_string(),
                Some(s) => unescape_splitter(&s.value)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| (s.pos, format!("bad `table.field.splitter` `{}`", s.value)))?,
            };
            Ok(Format::Delimited { splitter, nested })
        }
        Some(("csv", _)) => {
            let delimiter = match t.get("field.splitter") {
                None => b',',
                Some(s) => match unescape_splitter(&s.value).as_deref().map(str::as_bytes) {
                    Some(&[b]) if b != b'"' && b != b'\n' && b != b'\r' => b,
                    _ => {
                        return Err((
                            s.pos,
                            format!(
                                "a CSV delimiter is one character other than a quote or a line \
                                 end, found `{}`",
                                s.value
                            ),
                        ))
                    }
                },
            };
            Ok(Format::Csv { nested, delimiter })
        }
        Some(("json", _)) => Ok(Format::Json),
        Some((other, pos)) => Err((
            pos,
            format!("unknown format `{other}`; use delimited, csv or json"),
        )),
    }
}

/// Checks a table used in FROM and returns how to read it, with its schema.
pub fn source_config(t: &TableDesc) -> CatalogResult<(SourceConfig, Schema)> {
    refuse_tube(t, "source tally reads")?;
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
                    "collection.splitter",
                    "map.splitter",
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
                let types: Vec<DataType> = t.schema.fields.iter().map(|f| f.ty.clone()).collect();
                let want: Vec<DataType> = schema.fields.iter().map(|f| f.ty.clone()).collect();
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
        "datagen" => Ok((datagen_source(t)?, t.schema.clone())),
        "nexmark" => Ok((nexmark::nexmark_source(t)?, t.schema.clone())),
        "kafka" => Ok((SourceConfig::Kafka(kafka_source(t)?), t.schema.clone())),
        "mysql" | "postgres" => {
            let mut keys = db_keys(&ty, &["changes", "poll.ms"]);
            if written_tpg(t) {
                keys.push("field.splitter".to_string());
            }
            check_keys_owned(t, &keys)?;
            needs_fields(t)?;
            let changes = match t.get(&format!("{ty}.changes")) {
                None => DbChanges::Auto,
                Some(s) => match (s.value.to_ascii_lowercase().as_str(), ty.as_str()) {
                    ("poll", _) => DbChanges::Poll,
                    ("auto", _) => DbChanges::Auto,
                    ("binlog", "mysql") => DbChanges::Binlog,
                    ("binlog", _) => {
                        return Err((
                            s.pos,
                            format!(
                                "`table.{ty}.changes` = `binlog`: PostgreSQL has no binlog; use \
                                 poll or auto (both re-read every `table.{ty}.poll.ms`)"
                            ),
                        ))
                    }
                    _ => {
                        return Err((
                            s.pos,
                            format!(
                                "`table.{ty}.changes` must be binlog, poll or auto, found `{}`",
                                s.value
                            ),
                        ))
                    }
                },
            };
            let db = db_config(t, &ty)?;
            let poll_ms = poll_ms(t, &format!("{ty}.poll.ms"))?;
            Ok((
                SourceConfig::Database {
                    db,
                    poll_ms,
                    changes,
                },
                t.schema.clone(),
            ))
        }
        "redis" => {
            check_keys(t, &["redis.url", "redis.key", "redis.poll.ms"])?;
            needs_fields(t)?;
            let key = required(t, "redis.key")?.to_string();
            let pos = t.get("redis.key").map_or(t.pos, |s| s.pos);
            let cols = template_columns(&key).map_err(|e| (pos, e))?;
            if let Some(c) = cols.iter().find(|c| t.schema.index_of(c).is_none()) {
                return Err((
                    pos,
                    format!(
                        "`table.redis.key` names `{c}`, which is not a field of `{}`",
                        t.name
                    ),
                ));
            }
            Ok((
                SourceConfig::Redis {
                    url: expand_env(t, "redis.url")?
                        .unwrap_or_else(|| Secret::new("redis://127.0.0.1:6379/")),
                    key,
                    poll_ms: poll_ms(t, "redis.poll.ms")?,
                },
                t.schema.clone(),
            ))
        }
        "stdout" | "print" | "blackhole" | "csv" => Err((
            t.pos,
            format!(
                "table `{}` of type {ty} can only be written to, not read",
                t.name
            ),
        )),
        other => Err(unknown_type(t, other)),
    }
}

/// Checks a table used in INSERT INTO and returns how to write it.
pub fn sink_config(t: &TableDesc) -> CatalogResult<(SinkConfig, SinkOptions)> {
    refuse_tube(t, "sink tally writes")?;
    let ty = type_setting(t)?;
    let config = match ty.as_str() {
        "stdout" | "print" => {
            check_keys(t, &[])?;
            SinkConfig::Stdout
        }
        "blackhole" => {
            check_keys(t, &[])?;
            SinkConfig::Blackhole
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
        "redis" => {
            check_keys(
                t,
                &[
                    "redis.url",
                    "redis.key",
                    "redis.hash",
                    "redis.field",
                    "redis.ttl",
                ],
            )?;
            let target =
                match (t.get("redis.key"), t.get("redis.hash")) {
                    (Some(_), Some(h)) => return Err((
                        h.key_pos,
                        "give `table.redis.key` (a hash per row) or `table.redis.hash` (one hash \
                         for the table), not both"
                            .to_string(),
                    )),
                    (key, None) => {
                        if let Some(f) = t.get("redis.field") {
                            return Err((
                                f.key_pos,
                                "`table.redis.field` goes with `table.redis.hash`".to_string(),
                            ));
                        }
                        RedisTarget::Key(key.map(|k| k.value.clone()))
                    }
                    (None, Some(h)) => RedisTarget::Hash {
                        name: h.value.clone(),
                        field: t.get("redis.field").map(|f| f.value.clone()),
                    },
                };
            for key in ["redis.key", "redis.field"] {
                if let Some(s) = t.get(key) {
                    template_columns(&s.value).map_err(|e| (s.pos, e))?;
                }
            }
            let ttl: Option<u64> = parse_num(t, "redis.ttl")?;
            SinkConfig::Redis {
                url: expand_env(t, "redis.url")?
                    .unwrap_or_else(|| Secret::new("redis://127.0.0.1:6379/")),
                target,
                ttl: ttl.filter(|&s| s > 0),
            }
        }
        "mysql" | "postgres" => {
            let mut keys = db_keys(&ty, &["create"]);
            if written_tpg(t) {
                keys.push("field.splitter".to_string());
            }
            check_keys_owned(t, &keys)?;
            SinkConfig::Database(db_config(t, &ty)?)
        }
        "kafka" => {
            check_keys_owned(
                t,
                &kafka_keys(t, &["kafka.brokers", "kafka.topic", "kafka.upsert"]),
            )?;
            SinkConfig::Kafka {
                brokers: kafka_brokers(t)?,
                topic: required(t, "kafka.topic")?.to_string(),
                properties: kafka_properties(t),
            }
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
        other => return Err(unknown_type(t, other)),
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

/// Checks a server sink's settings against the result it receives, so that `tally check` (not
/// the first flush) reports a template naming no column, a database sink without a key, or a
/// column name a database cannot take.
pub fn check_sink(
    t: &TableDesc,
    config: &SinkConfig,
    schema: &Schema,
    key: Option<&[usize]>,
) -> CatalogResult<()> {
    let at = |k: &str| t.get(k).map_or(t.pos, |s| s.pos);
    match config {
        SinkConfig::Redis { target, .. } => {
            let templates: Vec<(&str, &str)> = match target {
                RedisTarget::Key(Some(k)) => vec![("redis.key", k.as_str())],
                RedisTarget::Hash { field: Some(f), .. } => vec![("redis.field", f.as_str())],
                _ => Vec::new(),
            };
            for (setting, template) in templates {
                let cols = template_columns(template).map_err(|e| (at(setting), e))?;
                if let Some(c) = cols.iter().find(|c| schema.index_of(c).is_none()) {
                    return Err((
                        at(setting),
                        format!(
                            "`table.{setting}` names `{c}`, which is not a column of `{}` ({})",
                            t.name,
                            schema.names().join(", ")
                        ),
                    ));
                }
            }
            // The columns a per-row hash name or a field name uses are not written as values:
            // at least one must be left.
            let (setting, used): (&str, Vec<usize>) = match target {
                RedisTarget::Key(Some(k)) => (
                    "redis.key",
                    template_columns(k)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|c| schema.index_of(c))
                        .collect(),
                ),
                RedisTarget::Key(None) => (
                    "type",
                    key.map_or_else(|| (0..schema.len()).collect(), <[usize]>::to_vec),
                ),
                RedisTarget::Hash { field: Some(f), .. } => (
                    "redis.field",
                    template_columns(f)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|c| schema.index_of(c))
                        .collect(),
                ),
                RedisTarget::Hash { field: None, .. } => ("type", Vec::new()),
            };
            if !schema.fields.is_empty() && (0..schema.len()).all(|i| used.contains(&i)) {
                return Err((
                    at(setting),
                    format!(
                        "every column of `{}` ({}) is in the redis {}, so nothing is left to \
                         write as a value; leave a column out of the template (or, for a \
                         result without key, give `table.redis.key` or use `table.redis.hash`)",
                        t.name,
                        schema.names().join(", "),
                        if setting == "redis.field" {
                            "field name"
                        } else {
                            "key"
                        }
                    ),
                ));
            }
        }
        SinkConfig::Database(db) => {
            let ty = match db.kind {
                DbKind::Mysql => "mysql",
                DbKind::Postgres => "postgres",
            };
            if key.is_none_or(<[usize]>::is_empty) {
                return Err((
                    at("type"),
                    format!(
                        "a {ty} sink upserts by the result key, and `{}` gets a result without \
                         one (no GROUP BY columns); group by a column or write `INSERT INTO {} \
                         WITH col AS KEY`",
                        t.name, t.name
                    ),
                ));
            }
            let ok = |n: &str| {
                !n.is_empty()
                    && n.len() <= 64
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.starts_with(|c: char| c.is_ascii_digit())
            };
            if let Some(f) = schema.fields.iter().find(|f| !ok(&f.name)) {
                return Err((
                    t.get("fields").map_or(at("type"), |s| s.pos),
                    format!(
                        "column `{}` of `{}` cannot be a {ty} column name (letters, digits and \
                         _, not starting with a digit); name it with AS or in table.fields",
                        f.name, t.name
                    ),
                ));
            }
            if !ok(&db.table) {
                return Err((
                    at(&format!("{ty}.table")),
                    format!("`{}` is not a valid {ty} table name", db.table),
                ));
            }
            if !ok(&db.db) {
                return Err((
                    at(&db_key(t, ty, "db").unwrap_or_else(|_| format!("{ty}.db"))),
                    format!("`{}` is not a valid {ty} database name", db.db),
                ));
            }
        }
        _ => {}
    }
    Ok(())
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

    fn dimension(ty: &str, extra: &str) -> CatalogResult<(SourceConfig, Schema)> {
        let text = format!(
            "[system]\nsql=SELECT k FROM d\n[tabledesc-d]\ntable.name=d\n\
             table.fields=k,string,:v,string,\ntable.type={ty}\n{extra}"
        );
        let job = crate::job::Job::parse("job.ec", &text).unwrap();
        source_config(&job.tables[0])
    }

    fn changes(ty: &str, extra: &str) -> DbChanges {
        match dimension(ty, extra).unwrap().0 {
            SourceConfig::Database { changes, .. } => changes,
            other => panic!("not a database source: {other:?}"),
        }
    }

    #[test]
    fn database_changes() {
        assert_eq!(changes("mysql", ""), DbChanges::Auto);
        assert_eq!(
            changes("mysql", "table.mysql.changes=binlog"),
            DbChanges::Binlog
        );
        assert_eq!(
            changes("mysql", "table.mysql.changes=POLL"),
            DbChanges::Poll
        );
        assert_eq!(
            changes("mysql", "table.mysql.changes=auto"),
            DbChanges::Auto
        );
        assert_eq!(changes("postgres", ""), DbChanges::Auto);
        assert_eq!(
            changes("postgres", "table.postgres.changes=poll"),
            DbChanges::Poll
        );
        let e = dimension("postgres", "table.postgres.changes=binlog").unwrap_err();
        assert!(e.1.contains("PostgreSQL has no binlog"), "{}", e.1);
        let e = dimension("mysql", "table.mysql.changes=cdc").unwrap_err();
        assert!(e.1.contains("binlog, poll or auto"), "{}", e.1);
    }

    #[test]
    fn kafka_properties_pass_through() {
        let kafka = |extra: &str| {
            dimension(
                "kafka",
                &format!("table.kafka.topic=t\ntable.kafka.format=json\n{extra}"),
            )
        };
        let Ok((SourceConfig::Kafka(k), _)) = kafka(
            "table.kafka.properties.bootstrap.servers=b:9092\n\
             table.kafka.properties.fetch.wait.max.ms=50\n",
        ) else {
            panic!("not a Kafka source")
        };
        // Flink's `properties.bootstrap.servers` names the brokers when `brokers` is not set.
        assert_eq!(k.brokers, "b:9092");
        assert!(k
            .properties
            .contains(&("fetch.wait.max.ms".to_string(), "50".to_string())));
        let e = kafka("table.kafka.brokers=b\ntable.kafka.properties.enable.auto.commit=true\n")
            .unwrap_err();
        assert!(e.1.contains("is set by tally"), "{}", e.1);
        assert!(e.1.contains("rows the sinks have applied"), "{}", e.1);
        let e = kafka("table.kafka.properties.fetch.wait.max.ms=5\n").unwrap_err();
        assert!(e.1.contains("needs `table.kafka.brokers`"), "{}", e.1);
        let e = kafka("table.kafka.brokers=b\ntable.kafka.nosuch=1\n").unwrap_err();
        assert!(e.1.contains("unknown setting"), "{}", e.1);
    }
}
