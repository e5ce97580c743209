//! Record formats, apart from transport: delimited text, CSV and JSON lines, each turned into a
//! typed row of the table's schema. A record that does not fit is counted and skipped.

use std::sync::Arc;

use tally_sql::catalog::Format;
use tally_sql::{DataType, Row, Schema, Value};

use crate::Metrics;

/// Parses records of one table.
pub struct RecordParser {
    table: String,
    format: Format,
    schema: Schema,
    metrics: Arc<Metrics>,
    /// Lower-case column names, for JSON keys.
    lower_names: Vec<String>,
}

impl RecordParser {
    pub fn new(table: &str, format: Format, schema: Schema, metrics: Arc<Metrics>) -> Self {
        let lower_names = schema
            .fields
            .iter()
            .map(|f| f.name.to_ascii_lowercase())
            .collect();
        RecordParser {
            table: table.to_string(),
            format,
            schema,
            metrics,
            lower_names,
        }
    }

    /// Counts a record that is not text at all as malformed.
    pub fn reject(&self, reason: &str, record: &str) {
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
            Format::Delimited { splitter } => self.delimited(line, splitter),
            Format::Csv => self.csv(line),
            Format::Json => self.json(line),
        };
        match parsed {
            Ok(row) => {
                out.push(row);
                true
            }
            Err(reason) => {
                self.metrics.bad_row(&self.table, &reason, line);
                false
            }
        }
    }

    fn fields<'a>(&self, parts: impl Iterator<Item = &'a str>) -> Result<Row, String> {
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
            row.push(parse_value(part, self.schema.fields[i].ty).ok_or_else(|| {
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

    fn delimited(&self, line: &str, splitter: &str) -> Result<Row, String> {
        // A one-character splitter (the usual case) is searched for as a char, with memchr.
        let mut chars = splitter.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => self.fields(line.split(c)),
            _ => self.fields(line.split(splitter)),
        }
    }

    fn csv(&self, line: &str) -> Result<Row, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_bytes());
        let mut record = csv::StringRecord::new();
        match reader.read_record(&mut record) {
            Ok(true) => self.fields(record.iter()),
            Ok(false) => Err("empty record".into()),
            Err(e) => Err(format!("bad CSV: {e}")),
        }
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
                None | Some(serde_json::Value::Null) => Some(Value::Null),
                Some(serde_json::Value::String(s)) => parse_value(s, field.ty),
                Some(serde_json::Value::Bool(b)) => match field.ty {
                    DataType::Boolean => Some(Value::Bool(*b)),
                    DataType::String => Some(Value::from(b.to_string())),
                    _ => None,
                },
                Some(serde_json::Value::Number(n)) => match field.ty {
                    DataType::Int => n.as_i64().map(Value::Int),
                    DataType::Double => n.as_f64().map(Value::Double),
                    DataType::String => Some(Value::from(n.to_string())),
                    _ => parse_value(&n.to_string(), field.ty),
                },
                Some(other) => match field.ty {
                    DataType::String => Some(Value::from(other.to_string())),
                    _ => None,
                },
            }
            .ok_or_else(|| format!("field {} is not a valid {}", field.name, field.ty))?;
            row.push(cell);
        }
        Ok(row)
    }
}

/// Parses one text field. Hive's `\N` and, for non-string types, the empty string are NULL.
pub fn parse_value(s: &str, ty: DataType) -> Option<Value> {
    if s == "\\N" {
        return Some(Value::Null);
    }
    match ty {
        DataType::String => Some(Value::str(s)),
        _ if s.trim().is_empty() => Some(Value::Null),
        DataType::Int => s.trim().parse::<i64>().ok().map(Value::Int),
        DataType::Double => s.trim().parse::<f64>().ok().map(Value::Double),
        DataType::Decimal => s.trim().parse().ok().map(Value::Decimal),
        DataType::Boolean => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        DataType::Null => Some(Value::Null),
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

    #[test]
    fn delimited_rows_and_bad_rows() {
        let (p, m) = parser(Format::Delimited {
            splitter: ";".into(),
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
        let (p, _) = parser(Format::Csv);
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
}
