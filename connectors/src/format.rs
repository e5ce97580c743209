//! Record formats, apart from transport: delimited text, CSV and JSON lines, each turned into a
//! typed row of the table's schema. A record that does not fit is counted and skipped.

use std::cell::RefCell;
use std::sync::Arc;

use tally_sql::catalog::{Format, Nested};
use tally_sql::{DataType, Row, Schema, Value};

use crate::Metrics;

/// Parses records of one table.
impl RecordParser {
    /// The table it parses rows of.
    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Records this parser has rejected (counted and skipped) so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.get()
    }
}

pub struct RecordParser {
    table: String,
    format: Format,
    schema: Schema,
    metrics: Arc<Metrics>,
    /// Lower-case column names, for JSON keys.
    lower_names: Vec<String>,
    /// CSV's state machine and buffers, reused from record to record.
    csv: RefCell<CsvReader>,
    rejected: std::cell::Cell<u64>,
}

/// csv-core's reader with the `csv` crate's defaults (a comma unless the table says another
/// delimiter, `"` quotes doubled inside quoted
/// fields, no escape, no comments, CR, LF or CRLF ends a record, a UTF-8 BOM at the start is
/// skipped), and the buffers a record's unquoted field bytes and field ends are written to.
struct CsvReader {
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl CsvReader {
    fn new(delimiter: u8) -> Self {
        CsvReader {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            out: vec![0; 256],
            ends: vec![0; 16],
        }
    }
}

/// The UTF-8 byte order mark, which CSV skips at the start of a record.
const BOM: &[u8] = b"\xef\xbb\xbf";

impl RecordParser {
    pub fn new(table: &str, format: Format, schema: Schema, metrics: Arc<Metrics>) -> Self {
        let lower_names = schema
            .fields
            .iter()
            .map(|f| f.name.to_ascii_lowercase())
            .collect();
        let delimiter = match &format {
            Format::Csv { delimiter, .. } => *delimiter,
            _ => b',',
        };
        RecordParser {
            table: table.to_string(),
            format,
            schema,
            metrics,
            lower_names,
            csv: RefCell::new(CsvReader::new(delimiter)),
            rejected: std::cell::Cell::new(0),
        }
    }

    /// Counts a record that is not text at all as malformed.
    pub fn reject(&self, reason: &str, record: &str) {
        self.rejected.set(self.rejected.get() + 1);
        self.metrics.bad_row(&self.table, reason, record);
    }

    /// Counts rows read.
    pub fn count(&self, rows: usize) {
        self.metrics
            .rows_in
            .fetch_add(rows as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Parses one record (a line without its newline) and appends it to `out`; a malformed
    /// record is counted and skipped. Returns whether a row was added.
    pub fn parse_into(&self, line: &str, out: &mut Vec<Row>) -> bool {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return false;
        }
        let parsed = match &self.format {
            Format::Delimited { splitter, nested } => self.delimited(line, splitter, nested),
            Format::Csv { nested, delimiter } => self.csv(line, *delimiter, nested),
            Format::Json => self.json(line),
        };
        match parsed {
            Ok(row) => {
                out.push(row);
                true
            }
            Err(reason) => {
                self.reject(&reason, line);
                false
            }
        }
    }

    fn fields<'a>(
        &self,
        parts: impl Iterator<Item = &'a str>,
        nested: &Nested,
    ) -> Result<Row, String> {
        let n = self.schema.len();
        let mut row = Vec::with_capacity(n);
        for (i, part) in parts.enumerate() {
            if i >= n {
                // One trailing empty field (a line ending in the splitter) is allowed.
                if i == n && part.is_empty() {
                    continue;
                }
                return Err(format!("more than {n} fields"));
            }
            let ty = &self.schema.fields[i].ty;
            let v = if ty.is_complex() {
                parse_nested(part, ty, 1, nested)
            } else {
                parse_value(part, ty)
            };
            row.push(v.ok_or_else(|| {
                format!(
                    "field {} ({}) is not a valid {}: {part:?}",
                    i + 1,
                    self.schema.fields[i].name,
                    self.schema.fields[i].ty
                )
            })?);
        }
        if row.len() != n {
            return Err(format!("{} fields, expected {n}", row.len()));
        }
        Ok(row)
    }

    fn delimited(&self, line: &str, splitter: &str, nested: &Nested) -> Result<Row, String> {
        // A one-byte splitter (the usual case) is found by a plain byte scan: fields are short,
        // and a memchr call per field costs more than it saves.
        match splitter.as_bytes() {
            [b] if b.is_ascii() => self.fields(split_at_byte(line, *b), nested),
            _ => self.fields(line.split(splitter), nested),
        }
    }

    /// One CSV record. A non-empty line with no quote, CR, LF or BOM is what CSV makes of it
    /// split at every comma, so it is split like delimited text; any other goes through
    /// csv-core.
    fn csv(&self, line: &str, delimiter: u8, nested: &Nested) -> Result<Row, String> {
        let bytes = line.as_bytes();
        let plain = !bytes.is_empty()
            && !bytes.starts_with(BOM)
            && memchr::memchr3(b'"', b'\r', b'\n', bytes).is_none();
        if plain {
            self.fields(split_at_byte(line, delimiter), nested)
        } else {
            self.csv_quoted(line, nested)
        }
    }

    /// One CSV record through csv-core's state machine, reset first, as the `csv` crate reads
    /// the first record of `line` (anything after a record's end is ignored, as it was when
    /// each line had a `csv::Reader` of its own).
    fn csv_quoted(&self, line: &str, nested: &Nested) -> Result<Row, String> {
        use csv_core::ReadRecordResult as R;
        let mut csv = self.csv.borrow_mut();
        let CsvReader { core, out, ends } = &mut *csv;
        core.reset();
        let mut input = line.as_bytes();
        let (mut nout, mut nends) = (0, 0);
        loop {
            // Once `input` is empty, the next call ends the record (csv-core's end of input).
            let (res, i, o, e) = core.read_record(input, &mut out[nout..], &mut ends[nends..]);
            input = &input[i..];
            nout += o;
            nends += e;
            match res {
                R::InputEmpty => {}
                R::OutputFull => out.resize(out.len() * 2, 0),
                R::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                R::Record => break,
                R::End => return Err("empty record".into()),
            }
        }
        // Quotes and separators are ASCII, so the fields of a `str` are `str`s; checked anyway,
        // as the `csv` crate's StringRecord does.
        let text = std::str::from_utf8(&out[..nout]).map_err(|e| format!("bad CSV: {e}"))?;
        if let Some(i) = ends[..nends]
            .iter()
            .position(|&e| !text.is_char_boundary(e))
        {
            return Err(format!("bad CSV: invalid UTF-8 in field {i}"));
        }
        let mut start = 0;
        let fields = ends[..nends].iter().map(|&end| {
            let field = &text[start..end];
            start = end;
            field
        });
        self.fields(fields, nested)
    }

    fn json(&self, line: &str) -> Result<Row, String> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err("a JSON record must be an object".into());
        };
        let mut row = Vec::with_capacity(self.schema.len());
        for (i, field) in self.schema.fields.iter().enumerate() {
            let v = map.get(&field.name).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.to_ascii_lowercase() == self.lower_names[i])
                    .map(|(_, v)| v)
            });
            let cell = match v {
                None => Some(Value::Null),
                Some(v) => json_value(v, &field.ty),
            }
            .ok_or_else(|| format!("field {} is not a valid {}", field.name, field.ty))?;
            row.push(cell);
        }
        Ok(row)
    }
}

/// The parts of `line` between occurrences of the ASCII byte `sep`, as `str::split` gives them.
fn split_at_byte(line: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = line.as_bytes();
    let mut start = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let from = start;
        match bytes[from..].iter().position(|&b| b == sep) {
            Some(i) => {
                start = from + i + 1;
                // An ASCII byte is always a character boundary.
                Some(&line[from..from + i])
            }
            None => {
                done = true;
                Some(&line[from..])
            }
        }
    })
}

/// A JSON value as a value of `ty`: arrays for ARRAY, objects for MAP and STRUCT (fields by
/// name), strings parsed as text fields; `None` when it does not fit.
fn json_value(v: &serde_json::Value, ty: &DataType) -> Option<Value> {
    use serde_json::Value as J;
    match (v, ty) {
        (J::Null, _) => Some(Value::Null),
        (J::Array(items), DataType::Array(t)) => items
            .iter()
            .map(|x| json_value(x, t))
            .collect::<Option<Vec<_>>>()
            .map(Value::array),
        (J::Object(m), DataType::Map(k, t)) => {
            let mut entries = Vec::with_capacity(m.len());
            for (key, x) in m {
                entries.push((parse_value(key, k)?, json_value(x, t)?));
            }
            Some(Value::map_from(entries))
        }
        (J::Object(m), DataType::Struct(fields)) => {
            let mut vals = Vec::with_capacity(fields.len());
            for (name, t) in fields {
                let x = m.get(name).or_else(|| {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, x)| x)
                });
                let x = match x {
                    None => Value::Null,
                    Some(x) => json_value(x, t)?,
                };
                vals.push((std::sync::Arc::from(name.as_str()), x));
            }
            Some(Value::Struct(vals.into()))
        }
        (_, t) if t.is_complex() => None,
        (J::String(s), t) => parse_value(s, t),
        (J::Bool(b), DataType::Boolean) => Some(Value::Bool(*b)),
        (J::Bool(b), DataType::String) => Some(Value::from(b.to_string())),
        (J::Number(n), DataType::Int) => n.as_i64().map(Value::Int),
        (J::Number(n), DataType::Double) => n.as_f64().map(Value::Double),
        (J::Number(n), t) => parse_value(&n.to_string(), t),
        (other, DataType::String) => Some(Value::from(other.to_string())),
        _ => None,
    }
}

/// Parses a text field of a complex type: the splitter of `level` separates array elements,
/// map entries or struct fields; a map entry's key and value are split by the next level's,
/// and an element nests one level deeper than its container (two for a map's key and value),
/// as in Hive's delimited text. `\N` is NULL; an empty array or map field is empty. A
/// struct with fewer parts than fields has NULLs at the end.
pub fn parse_nested(s: &str, ty: &DataType, level: usize, nested: &Nested) -> Option<Value> {
    if s == "\\N" {
        return Some(Value::Null);
    }
    let sep = nested.at(level);
    match ty {
        DataType::Array(t) => {
            if s.is_empty() {
                return Some(Value::array(Vec::new()));
            }
            s.split(sep)
                .map(|part| parse_nested(part, t, level + 1, nested))
                .collect::<Option<Vec<_>>>()
                .map(Value::array)
        }
        DataType::Map(k, v) => {
            if s.is_empty() {
                return Some(Value::map_from([]));
            }
            let kv = nested.at(level + 1);
            let mut entries = Vec::new();
            for entry in s.split(sep) {
                let (key, value) = match entry.split_once(kv) {
                    Some((a, b)) => (a, Some(b)),
                    None => (entry, None),
                };
                let key = parse_nested(key, k, level + 2, nested)?;
                let value = match value {
                    Some(b) => parse_nested(b, v, level + 2, nested)?,
                    None => Value::Null,
                };
                entries.push((key, value));
            }
            Some(Value::map_from(entries))
        }
        DataType::Struct(fields) => {
            let mut parts = s.split(sep);
            let mut vals = Vec::with_capacity(fields.len());
            for (name, t) in fields {
                let v = match parts.next() {
                    Some(p) => parse_nested(p, t, level + 1, nested)?,
                    None => Value::Null,
                };
                vals.push((std::sync::Arc::from(name.as_str()), v));
            }
            if parts.next().is_some() {
                return None;
            }
            Some(Value::Struct(vals.into()))
        }
        t => parse_value(s, t),
    }
}

/// Parses one text field. Hive's `\N` and, for non-string types, the empty string are NULL.
pub fn parse_value(s: &str, ty: &DataType) -> Option<Value> {
    if s == "\\N" {
        return Some(Value::Null);
    }
    match ty {
        DataType::String => Some(Value::str(s)),
        // The usual case first: a plain number, no blanks around it.
        DataType::Int if !s.is_empty() => match s.parse::<i64>() {
            Ok(i) => Some(Value::Int(i)),
            Err(_) if s.trim().is_empty() => Some(Value::Null),
            Err(_) => s.trim().parse::<i64>().ok().map(Value::Int),
        },
        _ if s.trim().is_empty() => Some(Value::Null),
        DataType::Int => s.trim().parse::<i64>().ok().map(Value::Int),
        DataType::Double => s.trim().parse::<f64>().ok().map(Value::Double),
        // Exact, rounded HALF_UP to the scale; a number too wide for the precision is NULL
        // (Hive's reading), text that is no number makes the record malformed.
        DataType::Decimal { precision, scale } => {
            let d = Value::str(s).to_decimal()?;
            Some(
                tally_sql::types::fit_decimal(d, *precision, *scale)
                    .map_or(Value::Null, Value::Decimal),
            )
        }
        DataType::Boolean => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        DataType::Null => Some(Value::Null),
        DataType::Array(_) | DataType::Map(..) | DataType::Struct(_) => {
            parse_nested(s, ty, 1, &Nested::default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use tally_sql::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field {
                name: "appId".into(),
                ty: DataType::String,
            },
            Field {
                name: "n".into(),
                ty: DataType::Int,
            },
        ])
    }

    fn parser(format: Format) -> (RecordParser, Arc<Metrics>) {
        let m = Arc::new(Metrics::default());
        (RecordParser::new("t", format, schema(), m.clone()), m)
    }

    /// A DECIMAL(6,2) field from delimited, CSV and JSON records: exact, HALF_UP to the scale,
    /// NULL past the precision; text that is no number is a bad row.
    #[test]
    fn decimal_fields_round_to_their_scale() {
        let schema = Schema::new(vec![Field {
            name: "amount".into(),
            ty: DataType::decimal(6, 2),
        }]);
        let formats = [
            Format::Delimited {
                splitter: ";".into(),
                nested: Nested::default(),
            },
            Format::Csv {
                nested: Nested::default(),
                delimiter: b',',
            },
        ];
        for format in formats {
            let m = Arc::new(Metrics::default());
            let p = RecordParser::new("t", format, schema.clone(), m.clone());
            let mut out = Vec::new();
            for line in [
                "12.5", "1.005", "-1.005", " 3 ", "9999.994", "9999.995", "1e2",
            ] {
                assert!(p.parse_into(line, &mut out), "{line:?}");
            }
            assert!(!p.parse_into("1.2.3", &mut out));
            let shown: Vec<String> = out.iter().map(|r| r[0].to_string()).collect();
            assert_eq!(
                shown,
                ["12.50", "1.01", "-1.01", "3.00", "9999.99", "NULL", "100.00"]
            );
            assert_eq!(m.bad_rows.load(Ordering::Relaxed), 1);
        }
        let m = Arc::new(Metrics::default());
        let j = RecordParser::new("t", Format::Json, schema, m);
        let mut out = Vec::new();
        for line in [
            r#"{"amount": 0.1}"#,
            r#"{"amount": "2.675"}"#,
            r#"{"amount": 7}"#,
            r#"{"amount": 123456}"#,
        ] {
            assert!(j.parse_into(line, &mut out), "{line}");
        }
        let shown: Vec<String> = out.iter().map(|r| r[0].to_string()).collect();
        assert_eq!(shown, ["0.10", "2.68", "7.00", "NULL"]);
    }

    #[test]
    fn splitting_at_a_byte_is_str_split() {
        for line in [
            "",
            ";",
            "a",
            "a;b",
            ";a;",
            "a;;b;",
            "é;ü;;x",
            "app1;42;1700000000000",
        ] {
            let ours: Vec<&str> = split_at_byte(line, b';').collect();
            let std: Vec<&str> = line.split(';').collect();
            assert_eq!(ours, std, "{line:?}");
        }
    }

    #[test]
    fn delimited_rows_and_bad_rows() {
        let (p, m) = parser(Format::Delimited {
            splitter: ";".into(),
            nested: Nested::default(),
        });
        let mut out = Vec::new();
        assert!(p.parse_into("a;1", &mut out));
        assert!(p.parse_into("b;2;", &mut out));
        assert!(p.parse_into("c;\\N", &mut out));
        assert!(!p.parse_into("d;x", &mut out));
        assert!(!p.parse_into("e", &mut out));
        assert!(!p.parse_into("f;1;2", &mut out));
        assert!(!p.parse_into("", &mut out));
        assert_eq!(out.len(), 3);
        assert_eq!(out[2], vec![Value::str("c"), Value::Null]);
        assert_eq!(m.bad_rows.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn csv_and_json() {
        let (p, _) = parser(Format::Csv {
            nested: Nested::default(),
            delimiter: b',',
        });
        let mut out = Vec::new();
        assert!(p.parse_into("\"a,b\",3", &mut out));
        assert_eq!(out[0][0], Value::str("a,b"));
        let (j, m) = parser(Format::Json);
        assert!(j.parse_into(r#"{"appid": "x", "n": 4}"#, &mut out));
        assert!(j.parse_into(r#"{"appId": "y"}"#, &mut out));
        assert!(!j.parse_into(r#"{"appId": "y", "n": "z"}"#, &mut out));
        assert!(!j.parse_into("[1]", &mut out));
        assert!(!j.parse_into("{", &mut out));
        assert_eq!(out[1], vec![Value::str("x"), Value::Int(4)]);
        assert_eq!(out[2], vec![Value::str("y"), Value::Null]);
        assert_eq!(m.bad_rows.load(Ordering::Relaxed), 3);
    }

    /// CSV as it was read before csv-core was kept between records: a `csv::Reader` of its own
    /// for each line. The reference both CSV paths are compared with.
    fn csv_crate(p: &RecordParser, line: &str, nested: &Nested) -> Result<Row, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_bytes());
        let mut record = csv::StringRecord::new();
        match reader.read_record(&mut record) {
            Ok(true) => p.fields(record.iter(), nested),
            Ok(false) => Err("empty record".into()),
            Err(e) => Err(format!("bad CSV: {e}")),
        }
    }

    #[test]
    fn csv_quotes_separators_and_field_counts() {
        let (p, m) = parser(Format::Csv {
            nested: Nested::default(),
            delimiter: b',',
        });
        let nested = Nested::default();
        let row = |line: &str| p.csv(line, b',', &nested);
        let ok = |s: &str, n: i64| Ok(vec![Value::str(s), Value::Int(n)]);
        assert_eq!(row("a,1"), ok("a", 1));
        assert_eq!(row("\"a\",1"), ok("a", 1));
        assert_eq!(row("\"a,b\",2"), ok("a,b", 2));
        assert_eq!(row("\"say \"\"hi\"\"\",3"), ok("say \"hi\"", 3));
        assert_eq!(row("\"\",4"), ok("", 4));
        assert_eq!(row(" a ,5"), ok(" a ", 5));
        assert_eq!(row("a\"b,6"), ok("a\"b", 6));
        // One trailing empty field, as in delimited text.
        assert_eq!(row("a,7,"), ok("a", 7));
        assert_eq!(row("\u{feff}a,8"), ok("a", 8));
        // A quoted line break is part of the field; an unquoted one ends the record and the
        // rest is ignored. (The file source splits lines first, so only a record handed over
        // whole, e.g. a Kafka message with another record splitter, holds one.)
        assert_eq!(row("\"x\ny\",9"), ok("x\ny", 9));
        assert_eq!(row("a,10\nb,11"), ok("a", 10));
        assert_eq!(row("a,12\rb"), ok("a", 12));
        assert_eq!(row("a"), Err("1 fields, expected 2".into()));
        assert_eq!(row("\"a,b\""), Err("1 fields, expected 2".into()));
        assert_eq!(row("a,1,2"), Err("more than 2 fields".into()));
        assert_eq!(
            row("a,\"1,2\""),
            Err("field 2 (n) is not a valid BIGINT: \"1,2\"".into())
        );
        // Through parse_into: a CR before the newline is dropped, blank lines are no records.
        let mut out = Vec::new();
        assert!(p.parse_into("\"q\",1\r", &mut out));
        assert!(!p.parse_into("", &mut out));
        assert!(!p.parse_into(" \r", &mut out));
        assert!(!p.parse_into("\"q\"", &mut out));
        assert_eq!(out, [vec![Value::str("q"), Value::Int(1)]]);
        assert_eq!(m.bad_rows.load(Ordering::Relaxed), 1);
    }

    /// Both CSV paths (the comma split of a line with no quote, CR, LF or BOM, and csv-core)
    /// give exactly what the `csv` crate's own reader gives, rows and errors, on seeded random
    /// lines, in both schemas.
    #[test]
    fn csv_paths_equal_the_csv_crate_on_generated_lines() {
        use rand::{Rng, SeedableRng};
        let pieces = [
            "a", "bc", "\u{e9}", "7", ",", ",", "\"", "\"\"", " ", "\r", "\n", "\u{feff}", "\\N",
            ";",
        ];
        let strings = Schema::new(
            ["x", "y", "z"]
                .iter()
                .map(|n| Field {
                    name: n.to_string(),
                    ty: DataType::String,
                })
                .collect(),
        );
        let nested = Nested::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        for schema in [schema(), strings] {
            let p = RecordParser::new(
                "t",
                Format::Csv {
                    nested: Nested::default(),
                    delimiter: b',',
                },
                schema,
                Arc::new(Metrics::default()),
            );
            let (mut plain, mut rows) = (0, 0);
            for _ in 0..20_000 {
                let len = rng.random_range(0..12);
                let line: String = (0..len)
                    .map(|_| pieces[rng.random_range(0..pieces.len())])
                    .collect();
                let expected = csv_crate(&p, &line, &nested);
                assert_eq!(p.csv(&line, b',', &nested), expected, "{line:?}");
                assert_eq!(p.csv_quoted(&line, &nested), expected, "{line:?}");
                plain +=
                    usize::from(memchr::memchr3(b'"', b'\r', b'\n', line.as_bytes()).is_none());
                rows += usize::from(expected.is_ok());
            }
            // Both paths ran often, on good rows and bad.
            assert!(
                plain > 2_000 && rows > 1_000,
                "{plain} plain lines, {rows} rows"
            );
        }
    }

    #[test]
    fn nested_text_and_json() {
        let ty = |s: &str| DataType::parse(s).unwrap();
        let schema = Schema::new(
            [
                ("tags", "array<string>"),
                ("attrs", "map<string,int>"),
                ("who", "struct<name:string,age:int>"),
                ("grid", "array<array<int>>"),
            ]
            .iter()
            .map(|(n, t)| Field {
                name: n.to_string(),
                ty: ty(t),
            })
            .collect(),
        );
        let nested = Nested(vec![",".into(), ":".into(), "|".into()]);
        let m = Arc::new(Metrics::default());
        let p = RecordParser::new(
            "t",
            Format::Delimited {
                splitter: ";".into(),
                nested,
            },
            schema.clone(),
            m.clone(),
        );
        let mut out = Vec::new();
        assert!(p.parse_into("a,b;x:1,y:2;bob,7;1:2,3", &mut out));
        let shown: Vec<String> = out[0].iter().map(|v| v.to_string()).collect();
        assert_eq!(
            shown,
            [
                r#"["a","b"]"#,
                r#"{"x":1,"y":2}"#,
                r#"{"name":"bob","age":7}"#,
                "[[1,2],[3]]"
            ]
        );
        // Empty collections, NULL, a short struct; then a bad element fails the row.
        assert!(p.parse_into(";;\\N;", &mut out));
        assert_eq!(out[1][0].to_string(), "[]");
        assert_eq!(out[1][2], Value::Null);
        assert!(!p.parse_into("a;x:one;bob,7;1", &mut out));
        assert_eq!(m.bad_rows.load(Ordering::Relaxed), 1);

        let j = RecordParser::new("t", Format::Json, schema, m.clone());
        assert!(j.parse_into(
            r#"{"tags":["a"],"attrs":{"k":3},"who":{"name":"z"},"grid":[[5]]}"#,
            &mut out
        ));
        assert_eq!(out[2][1].to_string(), r#"{"k":3}"#);
        assert_eq!(out[2][2].to_string(), r#"{"name":"z","age":null}"#);
        assert!(!j.parse_into(r#"{"tags":"a"}"#, &mut out));
    }
}
