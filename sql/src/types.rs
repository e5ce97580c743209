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
    /// DECIMAL(p, s), as Hive has it: `precision` digits in all (1 to 38), `scale` of them
    /// after the point (0 to `precision`); `DECIMAL` alone is DECIMAL(10,0). Values are
    /// [`Value::Decimal`] held at exactly `scale` places (so `12.50` prints as such), in
    /// rust_decimal's 96 bits: up to 28 places and about 28 digits; a value that does not fit
    /// the type (or those bits) is NULL, as Hive makes it NULL.
    Decimal {
        precision: u8,
        scale: u8,
    },
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
        DataType::parse_checked(name).ok()
    }

    /// As [`DataType::parse`], with the reason a type is refused: `None` for a name that is
    /// no type, a message for a DECIMAL whose precision or scale is out of Hive's bounds.
    pub fn parse_checked(name: &str) -> Result<DataType, Option<String>> {
        let mut p = TypeParser {
            s: name.as_bytes(),
            at: 0,
            bad: None,
        };
        let ty = p.ty();
        p.skip_ws();
        match (ty, p.bad) {
            (_, Some(msg)) => Err(Some(msg)),
            (Some(ty), None) if p.at == p.s.len() => Ok(ty),
            _ => Err(None),
        }
    }

    /// Hive's widest DECIMAL precision.
    pub const MAX_PRECISION: u8 = 38;

    /// `DECIMAL` without a size: Hive's DECIMAL(10,0).
    pub const DECIMAL: DataType = DataType::Decimal {
        precision: 10,
        scale: 0,
    };

    /// The DECIMAL a BIGINT is read as when it meets a DECIMAL (Hive: DECIMAL(19,0)).
    pub const INT_AS_DECIMAL: DataType = DataType::Decimal {
        precision: 19,
        scale: 0,
    };

    /// DECIMAL(precision, scale) as Hive derives result types: a precision above 38 is cut
    /// to 38 and the scale shrinks to keep the integer digits, but not below min(scale, 6)
    /// (Hive 3's `adjustPrecScale`).
    pub fn decimal(precision: u32, scale: u32) -> DataType {
        let max = u32::from(DataType::MAX_PRECISION);
        let (p, s) = if precision <= max {
            (precision.max(1), scale)
        } else {
            let int_digits = precision - scale;
            (max, max.saturating_sub(int_digits).max(scale.min(6)))
        };
        DataType::Decimal {
            precision: p as u8,
            scale: s.min(p) as u8,
        }
    }

    /// Precision and scale of a DECIMAL, or of a BIGINT as a decimal; `None` for the rest.
    pub fn decimal_parts(&self) -> Option<(u32, u32)> {
        match self {
            DataType::Decimal { precision, scale } => {
                Some((u32::from(*precision), u32::from(*scale)))
            }
            DataType::Int => Some((19, 0)),
            _ => None,
        }
    }

    fn scalar(base: &str) -> Option<DataType> {
        Some(match base {
            "tinyint" | "smallint" | "int" | "integer" | "bigint" | "long" => DataType::Int,
            "float" | "double" | "real" => DataType::Double,
            "decimal" | "numeric" | "dec" => DataType::DECIMAL,
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
        matches!(
            self,
            DataType::Int | DataType::Double | DataType::Decimal { .. }
        )
    }
}

/// A recursive-descent reader of type names.
struct TypeParser<'a> {
    s: &'a [u8],
    at: usize,
    /// Why a type that reads as one is refused (a DECIMAL out of bounds).
    bad: Option<String>,
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

    fn number(&mut self) -> Option<u64> {
        self.skip_ws();
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
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
            // Flink's `ROW<name type, ...>` and `ROW(name type, ...)` are Hive's STRUCT.
            "struct" | "row" => {
                let close = if word == "row" && self.eat(b'(') {
                    b')'
                } else {
                    self.eat(b'<').then_some(())?;
                    b'>'
                };
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
                self.eat(close).then_some(())?;
                Some(DataType::Struct(fields))
            }
            "decimal" | "numeric" | "dec" if self.eat(b'(') => {
                let precision = self.number()?;
                let scale = if self.eat(b',') { self.number()? } else { 0 };
                self.eat(b')').then_some(())?;
                let max = u64::from(DataType::MAX_PRECISION);
                if !(1..=max).contains(&precision) {
                    self.bad = Some(format!(
                        "DECIMAL precision must be 1 to {max}, not {precision}"
                    ));
                    return None;
                }
                if scale > precision {
                    self.bad = Some(format!(
                        "DECIMAL scale {scale} is above its precision {precision}"
                    ));
                    return None;
                }
                Some(DataType::Decimal {
                    precision: precision as u8,
                    scale: scale as u8,
                })
            }
            base => {
                let t = DataType::scalar(base)?;
                // `VARCHAR(20)`: the size does not change the storage.
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
            DataType::Decimal { precision, scale } => write!(f, "DECIMAL({precision},{scale})"),
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

/// A value written as JSON ([`Value::to_json`]'s rules) straight to a serializer, without a
/// `serde_json::Value` tree between: a non-finite double and NULL as `null`.
pub struct JsonValue<'a>(pub &'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::Double(_) => s.serialize_unit(),
            Value::Decimal(d) => s.collect_str(d),
            Value::Str(t) => s.serialize_str(t),
            Value::Array(items) => s.collect_seq(items.iter().map(JsonValue)),
            Value::Map(entries) => {
                s.collect_map(entries.iter().map(|(k, v)| (k.to_string(), JsonValue(v))))
            }
            Value::Struct(fields) => {
                s.collect_map(fields.iter().map(|(n, v)| (&**n, JsonValue(v))))
            }
        }
    }
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
        serde_json::to_value(JsonValue(self)).unwrap_or(serde_json::Value::Null)
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
            Value::Double(d) => double_to_decimal(*d),
            Value::Decimal(d) => Some(*d),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(t))
                    .ok()
            }
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
            DataType::Decimal { precision, scale } => self
                .to_decimal()
                .and_then(|d| fit_decimal(d, *precision, *scale))
                .map_or(Value::Null, Value::Decimal),
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

/// A double as a decimal, by its shortest decimal text (Java's `BigDecimal.valueOf(double)`,
/// which Hive's casts use): `2.675` is 2.675, not the binary fraction just below it.
pub fn double_to_decimal(d: f64) -> Option<Decimal> {
    if !d.is_finite() {
        return None;
    }
    Decimal::from_scientific(&format!("{d:e}"))
        .or_else(|_| format!("{d}").parse::<Decimal>())
        .ok()
        .or_else(|| Decimal::from_f64_retain(d))
}

/// `d` as a value of DECIMAL(precision, scale), as Hive makes it: rounded HALF_UP (half away
/// from zero) to `scale` places and held at exactly that scale (`12.5` becomes `12.50`);
/// `None` (NULL) when its integer part has more than `precision - scale` digits.
pub fn fit_decimal(d: Decimal, precision: u8, scale: u8) -> Option<Decimal> {
    let int_digits = u32::from(precision.saturating_sub(scale));
    let scale = u32::from(scale).min(Decimal::MAX_SCALE);
    let mut r =
        d.round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    // 10^28 is the largest power of ten in 96 bits; wider integer parts always fit.
    if int_digits < 29 {
        let limit = Decimal::from_i128_with_scale(10i128.pow(int_digits), 0);
        if r.abs() >= limit {
            return None;
        }
    }
    // Trailing zeros up to the scale; a value too wide for them keeps the places it has.
    let mut widened = r;
    widened.rescale(scale);
    if widened.scale() == scale && widened == r {
        r = widened;
    }
    Some(r)
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
            Value::str("1.50").cast(&DataType::decimal(10, 2)),
            Value::Decimal(Decimal::new(150, 2))
        );
    }

    /// CAST to DECIMAL(p,s): HALF_UP to the scale, held at the scale, NULL past the precision.
    #[test]
    fn decimal_casts_round_half_up_and_overflow_to_null() {
        let dec = |p, s| DataType::decimal(p, s);
        let shown = |v: Value, t: &DataType| v.cast(t).to_string();
        let cases = [
            (Value::str("12.5"), dec(10, 2), "12.50"),
            (Value::str(" 1.005 "), dec(10, 2), "1.01"),
            (Value::str("-1.005"), dec(10, 2), "-1.01"),
            (Value::str("1.004"), dec(10, 2), "1.00"),
            (Value::str("1e2"), dec(5, 1), "100.0"),
            (Value::str("99999999.995"), dec(10, 2), "NULL"),
            (Value::str("99999999.994"), dec(10, 2), "99999999.99"),
            (Value::str("abc"), dec(10, 2), "NULL"),
            (Value::Double(2.675), dec(10, 2), "2.68"),
            (Value::Double(f64::NAN), dec(10, 2), "NULL"),
            (Value::Int(7), dec(3, 1), "7.0"),
            (Value::Int(100), dec(3, 1), "NULL"),
            (Value::Int(-99), dec(2, 0), "-99"),
            (Value::str("0.5"), DataType::DECIMAL, "1"),
            (
                Value::str("12345678901234567890.12"),
                dec(38, 2),
                "12345678901234567890.12",
            ),
            (Value::str("1.5"), dec(38, 38), "NULL"),
            (
                Value::str("0.5"),
                dec(38, 38),
                "0.5000000000000000000000000000",
            ),
        ];
        for (v, t, want) in cases {
            assert_eq!(shown(v.clone(), &t), want, "CAST({v} AS {t})");
        }
    }

    /// DECIMAL(p,s) reads and prints its size; bad sizes say why.
    #[test]
    fn decimal_types_parse_with_their_size() {
        let d = |p, s| DataType::Decimal {
            precision: p,
            scale: s,
        };
        assert_eq!(DataType::parse("decimal(10, 2)"), Some(d(10, 2)));
        assert_eq!(DataType::parse("DECIMAL(7)"), Some(d(7, 0)));
        assert_eq!(DataType::parse("numeric"), Some(d(10, 0)));
        assert_eq!(
            DataType::parse("array<decimal(38,38)>")
                .unwrap()
                .to_string(),
            "ARRAY<DECIMAL(38,38)>"
        );
        assert_eq!(d(12, 4).to_string(), "DECIMAL(12,4)");
        assert_eq!(
            DataType::parse_checked("decimal(40,2)"),
            Err(Some("DECIMAL precision must be 1 to 38, not 40".into()))
        );
        assert_eq!(
            DataType::parse_checked("decimal(2,5)"),
            Err(Some("DECIMAL scale 5 is above its precision 2".into()))
        );
        assert!(DataType::parse_checked("decimal(0)").unwrap_err().is_some());
        assert_eq!(DataType::parse_checked("decimal(a,2)"), Err(None));
        // Hive's derivation past 38 digits keeps the integer digits, scale at least 6.
        assert_eq!(DataType::decimal(40, 10), d(38, 8));
        assert_eq!(DataType::decimal(60, 10), d(38, 6));
        assert_eq!(DataType::decimal(45, 3), d(38, 3));
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
