//! Values, rows and SQL types.
//!
//! A [`Value`] is what one cell of a row holds at run time. Rows travel through the dataflow as
//! `Vec<Value>`; strings and the complex values (ARRAY, MAP, STRUCT) are reference-counted so
//! projections and keys clone cheaply, and a value stays 24 bytes whatever its type.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

pub use smol_str::SmolStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One row: the values of a table's or query's columns, in order.
pub type Row = Vec<Value>;

/// The SQL types tally knows. All integer widths share 64-bit storage (Hive's BIGINT rules);
/// DATE, TIMESTAMP and BINARY are kept as their text (`yyyy-MM-dd`, `yyyy-MM-dd HH:mm:ss`),
/// which is what Hive's date functions take and how they compare.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    /// The type of the literal `NULL`; it converts to every other type.
    Null,
    Boolean,
    /// TINYINT, SMALLINT, INT and BIGINT.
    Int,
    /// FLOAT and DOUBLE.
    Double,
    /// DECIMAL(p, s): exact, up to 28 significant digits.
    Decimal,
    String,
    /// `ARRAY<T>`.
    Array(Box<DataType>),
    /// `MAP<K, V>`.
    Map(Box<DataType>, Box<DataType>),
    /// `STRUCT<name:T, ...>`.
    Struct(Vec<(String, DataType)>),
}

impl DataType {
    /// Parses a type as written in `table.fields`, DDL or CAST (case-insensitive):
    /// `DECIMAL(p,s)`, and nested `ARRAY<T>`, `MAP<K,V>`, `STRUCT<name:T,...>` (also
    /// `STRUCT<name T, ...>`, as sqlparser prints it).
    pub fn parse(name: &str) -> Option<DataType> {
        let mut p = TypeParser {
            s: name.as_bytes(),
            at: 0,
        };
        let ty = p.ty()?;
        p.skip_ws();
        (p.at == p.s.len()).then_some(ty)
    }

    fn scalar(base: &str) -> Option<DataType> {
        Some(match base {
            "tinyint" | "smallint" | "int" | "integer" | "bigint" | "long" => DataType::Int,
            "float" | "double" | "real" => DataType::Double,
            "decimal" | "numeric" => DataType::Decimal,
            "string" | "varchar" | "char" | "text" | "date" | "timestamp" | "binary" => {
                DataType::String
            }
            "boolean" | "bool" => DataType::Boolean,
            _ => return None,
        })
    }

    /// ARRAY, MAP or STRUCT.
    pub fn is_complex(&self) -> bool {
        matches!(
            self,
            DataType::Array(_) | DataType::Map(..) | DataType::Struct(_)
        )
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self, DataType::Int | DataType::Double | DataType::Decimal)
    }
}

/// A recursive-descent reader of type names.
struct TypeParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl TypeParser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn ty(&mut self) -> Option<DataType> {
        let word = self.word()?.to_ascii_lowercase();
        match word.as_str() {
            "array" => {
                self.eat(b'<').then_some(())?;
                let t = self.ty()?;
                self.eat(b'>').then_some(())?;
                Some(DataType::Array(Box::new(t)))
            }
            "map" => {
                self.eat(b'<').then_some(())?;
                let k = self.ty()?;
                self.eat(b',').then_some(())?;
                let v = self.ty()?;
                self.eat(b'>').then_some(())?;
                Some(DataType::Map(Box::new(k), Box::new(v)))
            }
            "struct" => {
                self.eat(b'<').then_some(())?;
                let mut fields: Vec<(String, DataType)> = Vec::new();
                loop {
                    let name = self.word()?;
                    self.eat(b':');
                    let t = self.ty()?;
                    if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                        return None;
                    }
                    fields.push((name, t));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.eat(b'>').then_some(())?;
                Some(DataType::Struct(fields))
            }
            base => {
                let t = DataType::scalar(base)?;
                // `DECIMAL(10, 2)`, `VARCHAR(20)`: the size does not change the storage.
                if self.eat(b'(') {
                    while self.s.get(self.at).is_some_and(|c| *c != b')') {
                        self.at += 1;
                    }
                    self.eat(b')').then_some(())?;
                }
                Some(t)
            }
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Null => f.write_str("NULL"),
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::Int => f.write_str("BIGINT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal => f.write_str("DECIMAL"),
            DataType::String => f.write_str("STRING"),
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Map(k, v) => write!(f, "MAP<{k},{v}>"),
            DataType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{n}:{t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// One value. Ordering is total: NULL first, then by type, then by value (doubles by
/// `total_cmp`), so values can be keys of maps and arrangements.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Decimal(Decimal),
    /// Strings up to 23 bytes (ids, names, codes: most strings a stream carries) are held
    /// inline, without an allocation; longer ones are shared.
    Str(SmolStr),
    Array(Arc<[Value]>),
    /// Entries sorted by key, keys unique: two maps with the same entries are equal.
    Map(Arc<[(Value, Value)]>),
    /// Field names and values, in the order of the type.
    Struct(Arc<[(Arc<str>, Value)]>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(SmolStr::new(s))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Double(_) => 3,
            Value::Decimal(_) => 4,
            Value::Str(_) => 5,
            Value::Array(_) => 6,
            Value::Map(_) => 7,
            Value::Struct(_) => 8,
        }
    }

    /// A map from entries in any order; a key given twice keeps its last value (as Hive's
    /// `map()` does). NULL keys are dropped.
    pub fn map_from(entries: impl IntoIterator<Item = (Value, Value)>) -> Value {
        let mut v: Vec<(Value, Value)> =
            entries.into_iter().filter(|(k, _)| !k.is_null()).collect();
        // A stable sort keeps equal keys in arrival order; keep the last of each run.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Value, Value)> = Vec::with_capacity(v.len());
        for e in v {
            match out.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => out.push(e),
            }
        }
        Value::Map(out.into())
    }

    /// The value as JSON: numbers and booleans as such, DECIMAL as a string (no precision
    /// lost), arrays as arrays, maps and structs as objects (a map key as its text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
            Value::Decimal(d) => d.to_string().into(),
            Value::Str(s) => s.to_string().into(),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            Value::Struct(fields) => J::Object(
                fields
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn array(items: Vec<Value>) -> Value {
        Value::Array(items.into())
    }

    /// The value as a boolean condition: only `true` is true (NULL and false filter out).
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The value as a double, converting strings the way Hive does; NULL when impossible.
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Array(_) | Value::Map(_) | Value::Struct(_) => None,
            Value::Int(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Decimal(d) => d.to_f64(),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Null => None,
        }
    }

    /// The value as a 64-bit integer (doubles truncate toward zero, strings are parsed).
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Double(d) if d.is_finite() => Some(d.trunc() as i64),
            Value::Double(_) => None,
            Value::Decimal(d) => d.trunc().to_i64(),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<i64>().ok().or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|d| d.is_finite())
                        .map(|d| d.trunc() as i64)
                })
            }
            Value::Bool(b) => Some(*b as i64),
            Value::Null | Value::Array(_) | Value::Map(_) | Value::Struct(_) => None,
        }
    }

    pub fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Double(d) => Decimal::from_f64_retain(*d),
            Value::Decimal(d) => Some(*d),
            Value::Str(s) => s.trim().parse::<Decimal>().ok(),
            Value::Bool(b) => Some(Decimal::from(*b as i64)),
            Value::Null | Value::Array(_) | Value::Map(_) | Value::Struct(_) => None,
        }
    }

    /// Converts to `ty` with Hive's cast rules; NULL when the value cannot be converted.
    /// Complex values cast element by element (a STRUCT by position); a complex value cast to
    /// STRING is its JSON-like text, as Hive shows it.
    pub fn cast(&self, ty: &DataType) -> Value {
        if self.is_null() {
            return Value::Null;
        }
        match ty {
            DataType::Array(t) => match self {
                Value::Array(items) => Value::Array(items.iter().map(|v| v.cast(t)).collect()),
                _ => Value::Null,
            },
            DataType::Map(k, v) => match self {
                Value::Map(entries) => {
                    Value::map_from(entries.iter().map(|(a, b)| (a.cast(k), b.cast(v))))
                }
                _ => Value::Null,
            },
            DataType::Struct(fields) => match self {
                Value::Struct(vals) if vals.len() == fields.len() => Value::Struct(
                    fields
                        .iter()
                        .zip(vals.iter())
                        .map(|((n, t), (_, v))| (Arc::from(n.as_str()), v.cast(t)))
                        .collect(),
                ),
                _ => Value::Null,
            },
            DataType::Null => Value::Null,
            DataType::Int => self.to_i64().map_or(Value::Null, Value::Int),
            DataType::Double => self.to_f64().map_or(Value::Null, Value::Double),
            DataType::Decimal => self.to_decimal().map_or(Value::Null, Value::Decimal),
            DataType::String => match self {
                Value::Str(_) => self.clone(),
                other => Value::Str(SmolStr::from(other.to_string())),
            },
            DataType::Boolean => match self {
                Value::Bool(_) => self.clone(),
                Value::Int(i) => Value::Bool(*i != 0),
                Value::Double(d) => Value::Bool(*d != 0.0),
                Value::Decimal(d) => Value::Bool(!d.is_zero()),
                Value::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "t" | "1" | "yes" | "y" | "on" => Value::Bool(true),
                    "false" | "f" | "0" | "no" | "n" | "off" | "" => Value::Bool(false),
                    _ => Value::Null,
                },
                Value::Null | Value::Array(_) | Value::Map(_) | Value::Struct(_) => Value::Null,
            },
        }
    }
}

/// Explicit casts (`CAST(x AS ...)`), which differ from the implicit conversions of
/// [`Value::cast`] where Hive's casts do.
impl Value {
    /// Hive's CAST to TINYINT, SMALLINT, INT or BIGINT (`bits` 8, 16, 32, 64), held in 64 bits:
    /// a number narrows as Java narrows it (two's complement: `cast(300 AS tinyint)` is 44; a
    /// double is truncated and clamped to INT's range first, as Java's `(byte) d` is
    /// `(byte) (int) d`); text that is not a number in the type's range is NULL; timestamp text
    /// (a TIMESTAMP value, see [`DataType`]) is its epoch seconds, narrowed.
    pub fn cast_int_bits(&self, bits: u32) -> Value {
        let wrap = |i: i64| -> i64 {
            let shift = 64 - bits;
            (i << shift) >> shift
        };
        match self {
            Value::Int(i) => Value::Int(wrap(*i)),
            Value::Bool(b) => Value::Int(*b as i64),
            // Rust's `as` is Java's: truncated, clamped, NaN is 0.
            Value::Double(d) if bits == 64 => Value::Int(*d as i64),
            Value::Double(d) => Value::Int(wrap(*d as i32 as i64)),
            Value::Decimal(d) => d
                .trunc()
                .to_i128()
                .map_or(Value::Null, |i| Value::Int(wrap(i as i64))),
            Value::Str(s) => match (self.to_i64(), crate::expr::date::parse_timestamp(s)) {
                (Some(i), _) if wrap(i) == i => Value::Int(i),
                (None, Some(ts)) => Value::Int(wrap(ts.and_utc().timestamp())),
                _ => Value::Null,
            },
            Value::Null | Value::Array(_) | Value::Map(_) | Value::Struct(_) => Value::Null,
        }
    }

    /// Hive's CAST to DOUBLE (or FLOAT): as [`Value::cast`], and timestamp text is its epoch
    /// seconds with the fraction.
    pub fn cast_double(&self) -> Value {
        match self {
            Value::Str(s) if self.to_f64().is_none() => crate::expr::date::parse_timestamp(s)
                .map_or(Value::Null, |ts| {
                    let utc = ts.and_utc();
                    Value::Double(
                        utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_nanos()) / 1e9,
                    )
                }),
            _ => self.cast(&DataType::Double),
        }
    }
}

/// Formats a double the way Hive (Java) shows it: `1.0`, `0.5`, `1.0E10`.
pub fn format_double(d: f64, f: &mut impl fmt::Write) -> fmt::Result {
    if d.is_nan() {
        return f.write_str("NaN");
    }
    if d.is_infinite() {
        return f.write_str(if d > 0.0 { "Infinity" } else { "-Infinity" });
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-3..1e7).contains(&abs) {
        let s = format!("{d:E}");
        // Rust prints `1E10` / `1.5E-5`; Java prints `1.0E10` / `1.5E-5`.
        match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => write!(f, "{m}.0E{e}"),
            _ => f.write_str(&s),
        }
    } else if d.fract() == 0.0 {
        write!(f, "{d:.1}")
    } else {
        write!(f, "{d}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => format_double(*d, f),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Str(s) => f.write_str(s),
            Value::Array(_) | Value::Map(_) | Value::Struct(_) => write_nested(self, f),
        }
    }
}

/// A value inside a complex value, as Hive's CLI shows it: JSON, with strings quoted and NULL
/// as `null` (`["a","b"]`, `{"k":1}`, `{"name":"x","n":2}`).
fn write_nested(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Str(s) => write!(f, "{}", serde_json::Value::from(&**s)),
        Value::Array(items) => {
            f.write_str("[")?;
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write_nested(x, f)?;
            }
            f.write_str("]")
        }
        Value::Map(entries) => {
            f.write_str("{")?;
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write_nested(k, f)?;
                f.write_str(":")?;
                write_nested(x, f)?;
            }
            f.write_str("}")
        }
        Value::Struct(fields) => {
            f.write_str("{")?;
            for (i, (n, x)) in fields.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}:", serde_json::Value::from(&**n))?;
                write_nested(x, f)?;
            }
            f.write_str("}")
        }
        other => write!(f, "{other}"),
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        // Hash-map keys are compared here: the common kinds without the full ordering.
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.as_str() == b.as_str(),
            (Value::Int(a), Value::Int(b)) => a == b,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Double(a), Value::Double(b)) => normalize(*a).total_cmp(&normalize(*b)),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::Str(a), Value::Str(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.cmp(b),
            (Value::Map(a), Value::Map(b)) => a.cmp(b),
            (Value::Struct(a), Value::Struct(b)) => {
                a.iter().map(|(_, v)| v).cmp(b.iter().map(|(_, v)| v))
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// -0.0 equals 0.0 and all NaNs are one value, as SQL expects of keys.
fn normalize(d: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else if d.is_nan() {
        f64::NAN
    } else {
        d
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.rank());
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Double(d) => normalize(*d).to_bits().hash(state),
            Value::Decimal(d) => d.normalize().hash(state),
            Value::Str(s) => s.hash(state),
            Value::Array(items) => items.hash(state),
            Value::Map(entries) => entries.hash(state),
            Value::Struct(fields) => {
                state.write_usize(fields.len());
                fields.iter().for_each(|(_, v)| v.hash(state));
            }
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(SmolStr::from(s))
    }
}

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: DataType,
}

/// The columns of a table or query result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema { fields }
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Index of a column by case-insensitive name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(Value::Double(1.0).to_string(), "1.0");
        assert_eq!(Value::Double(0.25).to_string(), "0.25");
        assert_eq!(Value::Double(1e10).to_string(), "1.0E10");
        assert_eq!(Value::Double(-0.0).to_string(), "-0.0");
    }

    #[test]
    fn casts_follow_hive() {
        assert_eq!(Value::str("12").cast(&DataType::Int), Value::Int(12));
        assert_eq!(Value::str("1.9").cast(&DataType::Int), Value::Int(1));
        assert_eq!(Value::str("x").cast(&DataType::Int), Value::Null);
        assert_eq!(Value::Double(-2.7).cast(&DataType::Int), Value::Int(-2));
        assert_eq!(Value::Int(3).cast(&DataType::String), Value::str("3"));
        assert_eq!(
            Value::str("false").cast(&DataType::Boolean),
            Value::Bool(false)
        );
        assert_eq!(Value::str("maybe").cast(&DataType::Boolean), Value::Null);
        assert_eq!(Value::Null.cast(&DataType::Int), Value::Null);
        assert_eq!(
            Value::str("1.50").cast(&DataType::Decimal),
            Value::Decimal(Decimal::new(150, 2))
        );
    }

    #[test]
    fn complex_types_parse_and_print() {
        let t = DataType::parse("map<string, array<struct<a:int,b:string>>>").unwrap();
        assert_eq!(
            t.to_string(),
            "MAP<STRING,ARRAY<STRUCT<a:BIGINT,b:STRING>>>"
        );
        assert_eq!(DataType::parse(&t.to_string()), Some(t));
        // sqlparser prints struct fields as `name TYPE`.
        assert_eq!(
            DataType::parse("STRUCT<a INT, b STRING>")
                .unwrap()
                .to_string(),
            "STRUCT<a:BIGINT,b:STRING>"
        );
        assert_eq!(DataType::parse("decimal(10, 2)"), Some(DataType::Decimal));
        assert_eq!(DataType::parse("array<string"), None);
        assert_eq!(DataType::parse("array<strung>"), None);
        assert_eq!(DataType::parse("struct<a:int,a:int>"), None);
        assert_eq!(DataType::parse("map<string>"), None);

        let s = Value::Struct(
            vec![
                (Arc::from("name"), Value::str("x\"y")),
                (Arc::from("n"), Value::Null),
            ]
            .into(),
        );
        let a = Value::array(vec![Value::Int(1), Value::Double(0.5), s]);
        assert_eq!(a.to_string(), r#"[1,0.5,{"name":"x\"y","n":null}]"#);
        let m = Value::map_from([
            (Value::str("b"), Value::Int(2)),
            (Value::str("a"), Value::Int(1)),
            (Value::str("b"), Value::Int(3)),
        ]);
        assert_eq!(m.to_string(), r#"{"a":1,"b":3}"#);
        assert_eq!(m.cast(&DataType::String), Value::str(r#"{"a":1,"b":3}"#));
        let as_str = DataType::parse("map<string,string>").unwrap();
        assert_eq!(m.cast(&as_str).to_string(), r#"{"a":"1","b":"3"}"#);
        assert_eq!(Value::str("x").cast(&as_str), Value::Null);
    }

    #[test]
    fn ordering_is_total() {
        let mut v = [
            Value::str("b"),
            Value::Null,
            Value::Int(2),
            Value::Double(f64::NAN),
            Value::Int(1),
        ];
        v.sort();
        assert_eq!(v[0], Value::Null);
        assert_eq!(v[1], Value::Int(1));
        assert_eq!(Value::Double(0.0), Value::Double(-0.0));
    }
}
