//! Job files: the `.ec` INI form and the `.sql` DDL form, both loaded into one [`Job`].
//!
//! `.ec` (EasyCount): a `[system]` section whose `sql=` holds the script, and `[tabledesc*]`
//! sections that describe each table with `table.*` keys. A trailing backslash continues a line;
//! `#` starts a comment at the beginning of a line or after whitespace.
//!
//! `.sql` (Flink style): `CREATE TABLE ... WITH (...)` and `SET 'key' = 'value'` statements
//! followed by the EC-SQL statements; see [`crate::parser`].

use std::collections::BTreeMap;
use std::path::Path;

use crate::ast::Script;
use crate::error::{did_you_mean, Diagnostic, Pos, SqlError};
use crate::parser;
use crate::types::{DataType, Field, Schema};

/// The job-wide settings tally reads (`[system]` keys, `SET` keys of a `.sql` job); docs/jobs.md
/// says what each means. Any other key is an error, unless it is under [`PASS_THROUGH`].
pub const JOB_SETTINGS: &[&str] = &[
    "lateness.seconds",
    "idle.timeout.seconds",
    "chunk.rows",
    "timezone",
    "execute.max.iterations",
    "execution.checkpointing.interval",
    "execution.checkpointing.dir",
    "state.checkpoints.dir",
    "execution.checkpointing.num-retained",
    "state.checkpoints.num-retained",
    "execution.checkpointing.tolerable-failed-checkpoints",
    // Checkpoints in S3 (or an S3-compatible store), Flink's names.
    "s3.endpoint",
    "s3.access-key",
    "s3.secret-key",
    "s3.path.style.access",
    "s3.region",
    // `tally run --http`'s address and bearer token.
    "http.address",
    "http.token",
    "http.result-rows",
];

/// Job settings under this prefix are accepted and not read: notes for other tools kept with
/// the job (a Flink-only `SET 'properties.parallelism.default' = '4'`, a scheduler's
/// `properties.owner=...`), as `table.kafka.properties.<name>` passes a table's client settings.
pub const PASS_THROUGH: &str = "properties.";

/// The first segments of Flink's configuration keys, to tell a Flink setting tally does not
/// implement from a misspelling.
const FLINK_NAMESPACES: &[&str] = &[
    "table.",
    "execution.",
    "pipeline.",
    "parallelism.",
    "state.",
    "restart-strategy.",
    "sql-client.",
    "taskmanager.",
    "jobmanager.",
    "python.",
    "rest.",
    "cluster.",
    "metrics.",
    "heartbeat.",
    "akka.",
    "pekko.",
    "security.",
];

/// What tally offers instead of a Flink setting, for the ones it has an answer to.
fn flink_instead(key: &str) -> Option<&'static str> {
    Some(match key {
        "table.local-time-zone" => "use `timezone` (UTC or an offset such as +08:00)",
        "table.exec.source.idle-timeout" => "use `idle.timeout.seconds`",
        "parallelism.default" | "table.exec.resource.default-parallelism" => {
            "the workers are `tally run -w N` (and `-n`/`-p` for processes)"
        }
        k if k.starts_with("table.exec.mini-batch.") => {
            "bounded sources are read in batches of `chunk.rows`; sinks flush every \
             `table.flush.ms`"
        }
        k if k.starts_with("execution.checkpointing.") || k.starts_with("state.") => {
            "tally reads `execution.checkpointing.interval`, `.dir` (or `state.checkpoints.dir`), \
             `.num-retained` and `.tolerable-failed-checkpoints`"
        }
        _ => return None,
    })
}

/// Refuses a job setting tally does not read, at its key, with the key it was probably meant
/// to be.
/// An error for each job setting tally does not read.
fn check_job_settings(file: &str, settings: &BTreeMap<String, Setting>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for (key, s) in settings {
        if JOB_SETTINGS.contains(&key.as_str())
            || key
                .strip_prefix(PASS_THROUGH)
                .is_some_and(|rest| !rest.is_empty())
        {
            continue;
        }
        let keep = format!("`{PASS_THROUGH}{key}` would keep it in the job, unread");
        let message = if FLINK_NAMESPACES.iter().any(|n| key.starts_with(n)) {
            let instead = flink_instead(key).map_or_else(String::new, |i| format!(": {i}"));
            format!("`{key}` is a Flink setting tally does not implement{instead}; {keep}")
        } else {
            let guess = did_you_mean(key, JOB_SETTINGS.iter().copied())
                .map_or_else(String::new, |g| format!(" did you mean `{g}`?"));
            format!(
                "unknown job setting `{key}`:{guess} tally reads {}; {keep}",
                JOB_SETTINGS.join(", ")
            )
        };
        errors.push(Diagnostic {
            file: file.to_string(),
            pos: s.key_pos,
            message,
        });
    }
    errors
}

/// One setting with the position of its value in the job file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    /// Where the value starts.
    pub pos: Pos,
    /// Where the key starts.
    pub key_pos: Pos,
}

/// A table as the job file describes it, before its settings are checked against its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDesc {
    pub name: String,
    /// Where the description starts (the section header or CREATE TABLE).
    pub pos: Pos,
    /// The declared columns; empty when the description gives none.
    pub schema: Schema,
    /// How each declared column's type was written, and where (one per field of `schema`).
    pub decls: Vec<FieldDecl>,
    /// Settings without the `table.` prefix (`type`, `file.path`, `field.splitter`, ...).
    pub settings: BTreeMap<String, Setting>,
    /// Flink's `WATERMARK FOR col AS col - INTERVAL ...`: the table's time attribute (a
    /// declared or computed column) and its delay in ms.
    pub watermark: Option<(String, u64)>,
}

impl TableDesc {
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.get(key)
    }

    /// The declaration of field `name` (case-insensitive).
    pub fn decl(&self, name: &str) -> Option<&FieldDecl> {
        let i = self
            .schema
            .fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))?;
        self.decls.get(i)
    }
}

/// A declared column's type as the job file writes it (`int`, `TIMESTAMP(3)`) and where that
/// type starts: what an error about the column points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDecl {
    pub ty: String,
    pub pos: Pos,
}

impl FieldDecl {
    /// The type as written, in upper case (`INT`, `TIMESTAMP(3)`), for messages.
    pub fn type_name(&self) -> String {
        self.ty.to_ascii_uppercase()
    }

    /// Declared TIMESTAMP or DATE: held as text, a point in time.
    pub fn is_temporal(&self) -> bool {
        let base = self.ty.trim().to_ascii_lowercase();
        let base = base.split(['(', ' ']).next().unwrap_or_default();
        matches!(base, "timestamp" | "date" | "timestamp_ltz" | "datetime")
    }
}

/// A loaded job: its settings, table descriptions and parsed script.
#[derive(Clone, Debug)]
pub struct Job {
    pub file: String,
    /// Job-wide settings (`lateness.seconds`, `idle.timeout.seconds`, `timezone`, ...).
    pub settings: BTreeMap<String, Setting>,
    pub tables: Vec<TableDesc>,
    pub script: Script,
    lines: LineMap,
    /// A `.sql` job read after init files (`tally run -i ddl.sql q1.sql`): where each file's
    /// lines start in the text parsed as one (empty: the job file alone).
    parts: Parts,
    /// The folder of the job file: relative paths in table settings are taken from here.
    pub dir: std::path::PathBuf,
}

impl Job {
    /// Reads and parses a job file (`.ec` or `.sql`).
    pub fn load(path: &Path) -> Result<Job, Diagnostic> {
        Job::load_all(path).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Job::load`], with every error the file's sections have (an `.ec` file's table
    /// descriptions and settings are read on after one that is wrong), for `tally check`.
    pub fn load_all(path: &Path) -> Result<Job, Vec<Diagnostic>> {
        Job::load_all_with(&[], path)
    }

    /// [`Job::load`] of a `.sql` job whose statements follow those of `init` files, as Flink's
    /// SQL client runs `-i init.sql -f job.sql`: one job, each error at its own file's line.
    pub fn load_with(init: &[std::path::PathBuf], path: &Path) -> Result<Job, Diagnostic> {
        Job::load_all_with(init, path).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Job::load_with`] with every error.
    pub fn load_all_with(init: &[std::path::PathBuf], path: &Path) -> Result<Job, Vec<Diagnostic>> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| {
                vec![Diagnostic {
                    file: p.display().to_string(),
                    pos: Pos::new(1, 1),
                    message: format!("cannot read the job file: {e}"),
                }]
            })
        };
        let file = path.display().to_string();
        let mut job = if init.is_empty() {
            Job::parse_all(&file, &read(path)?)?
        } else {
            let mut text = String::new();
            let mut parts = Parts::default();
            for p in init.iter().map(|p| p.as_path()).chain([path]) {
                let name = p.display().to_string();
                if !name.ends_with(".sql") {
                    return Err(vec![Diagnostic {
                        file: name,
                        pos: Pos::new(1, 1),
                        message: "only `.sql` jobs are read after init files, and init files \
                                  are `.sql` too"
                            .to_string(),
                    }]);
                }
                let first = text.lines().count() as u32 + 1;
                parts.0.push((first, name));
                text.push_str(&read(p)?);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            parse_sql_job(&parts, &text)?
        };
        job.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(job)
    }

    /// Parses a job from text; `file` names it in errors and decides its form (`.sql` or `.ec`).
    pub fn parse(file: &str, text: &str) -> Result<Job, Diagnostic> {
        Job::parse_all(file, text).map_err(|mut errors| errors.swap_remove(0))
    }

    /// [`Job::parse`] with every error (see [`Job::load_all`]).
    pub fn parse_all(file: &str, text: &str) -> Result<Job, Vec<Diagnostic>> {
        if file.ends_with(".sql") {
            parse_sql_text(file, Parts::default(), text)
        } else {
            parse_ec_job(file, text)
        }
    }

    /// Turns an error at a position of the SQL text into one at a position of the file.
    pub fn diagnostic(&self, err: SqlError) -> Diagnostic {
        self.error_at(self.lines.map(err.pos), err.message)
    }

    /// An error at a position that is already a file position (table settings).
    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> Diagnostic {
        self.parts.diagnostic(&self.file, pos, message.into())
    }

    pub fn table(&self, name: &str) -> Option<&TableDesc> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// Maps lines of the SQL text back to lines and columns of the file.
#[derive(Clone, Debug, Default)]
struct LineMap {
    /// For SQL line `i+1`: the file line and the column where that SQL line starts.
    starts: Vec<Pos>,
}

impl LineMap {
    fn map(&self, pos: Pos) -> Pos {
        match self.starts.get((pos.line as usize).wrapping_sub(1)) {
            Some(start) => Pos::new(start.line, start.col + pos.col.saturating_sub(1)),
            None => pos,
        }
    }
}

/// The files of a job read after init files, by the line of the joined text each starts at.
#[derive(Clone, Debug, Default)]
struct Parts(Vec<(u32, String)>);

impl Parts {
    /// An error at `pos` of the joined text, at its file's own line (`file` when there are no
    /// parts).
    fn diagnostic(&self, file: &str, pos: Pos, message: String) -> Diagnostic {
        match self.0.iter().rev().find(|(first, _)| *first <= pos.line) {
            Some((first, name)) => Diagnostic {
                file: name.clone(),
                pos: Pos::new(pos.line - first + 1, pos.col),
                message,
            },
            None => Diagnostic {
                file: file.to_string(),
                pos,
                message,
            },
        }
    }
}

fn parse_sql_job(parts: &Parts, text: &str) -> Result<Job, Vec<Diagnostic>> {
    let file = parts.0.last().map_or("", |(_, f)| f.as_str());
    parse_sql_text(file, parts.clone(), text)
}

fn parse_sql_text(file: &str, parts: Parts, text: &str) -> Result<Job, Vec<Diagnostic>> {
    let diag = |e: SqlError| parts.diagnostic(file, e.pos, e.message);
    let parsed = parser::parse_sql_file(text)
        .map_err(|errors| errors.into_iter().map(diag).collect::<Vec<_>>())?;
    let errors: Vec<Diagnostic> = check_job_settings(file, &parsed.settings)
        .into_iter()
        .map(|d| parts.diagnostic(file, d.pos, d.message))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let job = Job {
        file: file.to_string(),
        settings: parsed.settings,
        tables: parsed.tables,
        script: parsed.script,
        lines: LineMap::default(),
        parts,
        dir: Default::default(),
    };
    check_duplicate_tables(&job)?;
    Ok(job)
}

/// One logical line of an INI file: its text (continuations joined by newlines) and where each
/// physical line of it starts.
struct IniLine {
    text: String,
    starts: Vec<Pos>,
}

/// Joins continued lines (a trailing `\`; blank lines after one do not end it, a section header
/// does).
fn ini_lines(text: &str) -> Vec<IniLine> {
    let mut out = Vec::new();
    let mut current: Option<IniLine> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        if let Some(cur) = current.as_mut() {
            if raw.trim().is_empty() {
                // A blank line inside a continuation continues it: EasyCount's documentation
                // prints a blank line after every line, also after a trailing `\`.
                cur.text.push('\n');
                cur.starts.push(Pos::new(line_no, 1));
                continue;
            }
            if raw.trim_start().starts_with('[') {
                // A section header ends a continuation.
                out.extend(current.take());
            }
        }
        let (body, continues) = match raw.trim_end().strip_suffix('\\') {
            Some(body) => (body, true),
            None => (raw, false),
        };
        match current.as_mut() {
            Some(cur) => {
                cur.text.push('\n');
                cur.text.push_str(body);
                cur.starts.push(Pos::new(line_no, 1));
            }
            None => {
                current = Some(IniLine {
                    text: body.to_string(),
                    starts: vec![Pos::new(line_no, 1)],
                })
            }
        }
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current.take());
    out
}

/// Strips a `#` comment that follows whitespace (a `#` inside a value is kept).
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return &value[..i];
        }
    }
    value
}

/// Reads an `.ec` job. A line that is wrong is reported and skipped (an unknown section with
/// all its lines), so that one pass finds every error of the file's sections.
fn parse_ec_job(file: &str, text: &str) -> Result<Job, Vec<Diagnostic>> {
    let err = |pos: Pos, message: String| Diagnostic {
        file: file.to_string(),
        pos,
        message,
    };
    let mut errors: Vec<Diagnostic> = Vec::new();
    enum Section {
        None,
        System,
        Table(usize),
        /// An unknown section (reported): its lines are not read.
        Skipped,
    }
    let mut section = Section::None;
    let mut settings = BTreeMap::new();
    let mut tables: Vec<TableDesc> = Vec::new();
    let mut sql: Option<(String, LineMap)> = None;

    for line in ini_lines(text) {
        let first = line.starts[0];
        let trimmed = line.text.trim_start();
        let indent = (line.text.len() - trimmed.len()) as u32;
        if trimmed.trim().is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.split(']').next().filter(|_| rest.contains(']')) else {
                errors.push(err(first, "a section header needs a closing `]`".into()));
                section = Section::Skipped;
                continue;
            };
            let name = name.trim();
            section = if name.eq_ignore_ascii_case("system") {
                Section::System
            } else if name.to_ascii_lowercase().starts_with("tabledesc") {
                tables.push(TableDesc {
                    watermark: None,
                    name: String::new(),
                    pos: first,
                    schema: Schema::default(),
                    decls: Vec::new(),
                    settings: BTreeMap::new(),
                });
                Section::Table(tables.len() - 1)
            } else {
                let guess = did_you_mean(name, ["system", "tabledesc"])
                    .map_or_else(String::new, |g| format!(" did you mean `[{g}]`?"));
                errors.push(err(
                    Pos::new(first.line, indent + 1),
                    format!(
                        "unknown section `[{name}]`:{guess} a job has a [system] section and \
                         [tabledesc-N] sections"
                    ),
                ));
                Section::Skipped
            };
            continue;
        }
        if matches!(section, Section::Skipped) {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            errors.push(err(
                Pos::new(first.line, indent + 1),
                format!("expected `key=value`, found `{}`", trimmed.trim()),
            ));
            continue;
        };
        let key = key.trim();
        let value_col = indent + key.len() as u32 + 2 + leading_ws(value) as u32;
        let value_pos = Pos::new(first.line, value_col);
        let key_pos = Pos::new(first.line, indent + 1);
        match &section {
            Section::System if key.eq_ignore_ascii_case("sql") => {
                let lead = leading_ws(value);
                let body = &value[lead..];
                let mut starts = line.starts.clone();
                starts[0] = value_pos;
                sql = Some((body.to_string(), LineMap { starts }));
            }
            Section::System => {
                settings.insert(
                    key.to_ascii_lowercase(),
                    Setting {
                        value: strip_comment(value).trim().to_string(),
                        pos: value_pos,
                        key_pos,
                    },
                );
            }
            Section::Table(i) => {
                let table = &mut tables[*i];
                let value = strip_comment(value).trim();
                let lower = key.to_ascii_lowercase();
                let short = lower.strip_prefix("table.").unwrap_or(&lower).to_string();
                match short.as_str() {
                    "name" => table.name = value.to_string(),
                    "fields" => {
                        // The position of a character of the value, also on a continued line.
                        let at = |offset: usize| {
                            let before: String = value.chars().take(offset).collect();
                            match before.rfind('\n') {
                                None => Pos::new(value_pos.line, value_pos.col + offset as u32),
                                Some(nl) => {
                                    let k = before.matches('\n').count();
                                    let line =
                                        line.starts.get(k).map_or(value_pos.line, |p| p.line);
                                    Pos::new(line, before[nl + 1..].chars().count() as u32 + 1)
                                }
                            }
                        };
                        let (schema, decls) = match parse_ec_fields_at(value) {
                            Ok(fields) => fields,
                            Err((o, m)) => {
                                errors.push(err(at(o), m));
                                continue;
                            }
                        };
                        table.schema = schema;
                        table.decls = decls
                            .into_iter()
                            .map(|(ty, o)| FieldDecl { ty, pos: at(o) })
                            .collect();
                    }
                    _ => {}
                }
                table.settings.insert(
                    short,
                    Setting {
                        value: value.to_string(),
                        pos: value_pos,
                        key_pos,
                    },
                );
            }
            Section::None => errors.push(err(
                first,
                "a setting before any section: start with [system] or [tabledesc-N]".into(),
            )),
            // Its lines were passed over above.
            Section::Skipped => {}
        }
    }
    for t in &tables {
        if t.name.is_empty() {
            errors.push(err(t.pos, "table description without `table.name`".into()));
        }
    }
    errors.extend(check_job_settings(file, &settings));
    let Some((sql_text, lines)) = sql else {
        // After an unknown section (perhaps a misspelt [system]) the missing script is no news.
        if errors.is_empty() {
            errors.push(err(
                Pos::new(1, 1),
                "no script: the [system] section needs `sql=`".into(),
            ));
        }
        return Err(errors);
    };
    let script = parser::parse_script(&sql_text).map_err(|e| Diagnostic {
        file: file.to_string(),
        pos: lines.map(e.pos),
        message: e.message,
    });
    let script = match script {
        Ok(s) if errors.is_empty() => s,
        Ok(_) => return Err(errors),
        Err(d) => {
            errors.push(d);
            return Err(errors);
        }
    };
    let job = Job {
        file: file.to_string(),
        settings,
        tables,
        script,
        lines,
        parts: Parts::default(),
        dir: Default::default(),
    };
    check_duplicate_tables(&job)?;
    Ok(job)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// Splits `s` at `sep` outside `<...>` (a type such as `map<string,int>` or
/// `struct<a:int>` holds the separators; so do parentheses: `decimal(10,2)`).
fn split_outside_angles(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Parses `name,type,:name,type,` into a schema (a type may be complex:
/// `tags,array<string>,:attrs,map<string,int>,`). An error carries the character offset of
/// the offending part within `value`.
pub fn parse_ec_fields(value: &str) -> Result<Schema, (usize, String)> {
    parse_ec_fields_at(value).map(|(schema, _)| schema)
}

/// [`parse_ec_fields`], also giving each field's type as written and its character offset.
#[allow(clippy::type_complexity)]
fn parse_ec_fields_at(value: &str) -> Result<(Schema, Vec<(String, usize)>), (usize, String)> {
    let mut fields = Vec::new();
    let mut decls = Vec::new();
    let mut offset = 0;
    for group in split_outside_angles(value, ':') {
        let at = offset + leading_ws(group);
        offset += group.chars().count() + 1;
        let group = group.trim();
        if group.is_empty() {
            continue;
        }
        let parts: Vec<&str> = split_outside_angles(group, ',')
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let [name, ty] = parts[..] else {
            return Err((
                at,
                format!("bad table.fields group `{group}`: expected `name,type,` groups separated by `:`"),
            ));
        };
        let ty_at = at + group.find(ty).map_or(0, |i| group[..i].chars().count());
        decls.push((ty.to_string(), ty_at));
        let ty = DataType::parse_checked(ty).map_err(|why| {
            let msg = match why {
                Some(why) => format!("bad type `{ty}` for field `{name}` in table.fields: {why}"),
                None => format!("unknown type `{ty}` for field `{name}` in table.fields"),
            };
            (ty_at, msg)
        })?;
        if fields
            .iter()
            .any(|f: &Field| f.name.eq_ignore_ascii_case(name))
        {
            return Err((
                at,
                format!("field `{name}` is declared twice in table.fields"),
            ));
        }
        fields.push(Field {
            name: name.to_string(),
            ty,
        });
    }
    Ok((Schema::new(fields), decls))
}

/// An error at each table described a second time.
fn check_duplicate_tables(job: &Job) -> Result<(), Vec<Diagnostic>> {
    let errors: Vec<Diagnostic> = job
        .tables
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            job.tables[..*i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&t.name))
        })
        .map(|(_, t)| job.error_at(t.pos, format!("table `{}` is described twice", t.name)))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_fields() {
        let s = parse_ec_fields("appId,string,:qq,string,:dTime,bigint,").unwrap();
        assert_eq!(s.names(), vec!["appId", "qq", "dTime"]);
        assert_eq!(s.fields[2].ty, DataType::Int);
        assert_eq!(parse_ec_fields("a,strung,").unwrap_err().0, 2);
        assert_eq!(parse_ec_fields("a,int,:b,strung,").unwrap_err().0, 9);
        assert!(parse_ec_fields("a,string,x,").is_err());
        let s = parse_ec_fields("tags,array<string>,:m,map<string,int>,:s,struct<a:int,b:string>,")
            .unwrap();
        assert_eq!(s.fields[1].ty.to_string(), "MAP<STRING,BIGINT>");
        assert_eq!(s.fields[2].ty.to_string(), "STRUCT<a:BIGINT,b:STRING>");
        assert!(parse_ec_fields("m,map<string,int,").is_err());
    }

    #[test]
    fn blank_lines_inside_a_continuation() {
        // EasyCount's documentation: a blank line after every line, also after a `\`.
        let text = "[system]\n\nsql=SELECT a FROM t \\\n\nWHERE a > 1\n\n[tabledesc-1]\n\n\
                    table.name=t\n\ntable.fields=a,int,\n\ntable.type=file\n";
        let job = Job::parse("j.ec", text).unwrap();
        assert_eq!(job.tables[0].get("type").unwrap().pos, Pos::new(13, 12));
        // `WHERE` is on line 5 of the file.
        assert_eq!(job.lines.map(Pos::new(3, 1)), Pos::new(5, 1));
        // A continuation that runs into a section header ends before it.
        let text = "[system]\nsql=SELECT a FROM t \\\n\n[tabledesc-1]\ntable.name=t\n";
        let job = Job::parse("j.ec", text).unwrap();
        assert_eq!(job.tables[0].name, "t");
    }

    #[test]
    fn job_settings_are_checked() {
        let job = |system: &str| {
            Job::parse(
                "j.ec",
                &format!("[system]\n{system}\nsql=SELECT 1 FROM t\n[tabledesc-1]\ntable.name=t\n"),
            )
        };
        assert!(job("lateness.seconds=5\nproperties.owner=team-a").is_ok());
        let e = job("Latenes.Seconds=5").unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 1));
        assert!(
            e.message.starts_with(
                "unknown job setting `latenes.seconds`: did you mean `lateness.seconds`?"
            ),
            "{}",
            e.message
        );
        assert!(job("execution.checkpointing.interval=10s").is_ok());
        let e = job("execution.checkpointing.mode=AT_LEAST_ONCE").unwrap_err();
        assert!(
            e.message.contains(
                "tally reads `execution.checkpointing.interval`, `.dir` (or \
                 `state.checkpoints.dir`), `.num-retained` and `.tolerable-failed-checkpoints`"
            ),
            "{}",
            e.message
        );
        // The prefix alone is no setting.
        assert!(job("properties.=1").is_err());
    }

    #[test]
    fn continuation_and_positions() {
        let text = "[system]\nsql=SELECT a \\\n  FROM t\n\n[tabledesc-1]\ntable.name=t\n\
                    table.fields=a,int,\ntable.type=file   # comment\ntable.file.path=x\n";
        let job = Job::parse("j.ec", text).unwrap();
        assert_eq!(job.tables[0].get("type").unwrap().value, "file");
        assert_eq!(job.tables[0].get("file.path").unwrap().pos, Pos::new(9, 17));
        // `FROM` is on the third line of the file, column 3.
        assert_eq!(job.lines.map(Pos::new(2, 3)), Pos::new(3, 3));
        assert_eq!(job.lines.map(Pos::new(1, 1)), Pos::new(2, 5));
    }
}
