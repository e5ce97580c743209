//! Values, rows and SQL types.
//!
//! A [`Value`] is what one cell of a row holds at run time. Rows travel through the dataflow as
//! `Vec<Value>`; strings are reference-counted so projections and keys clone cheaply.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One row: the values of a table's or query's columns, in order.
pub type Row = Vec<Value>;

/// The SQL types tally knows. All integer widths share 64-bit storage (Hive's BIGINT rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl DataType {
    /// Parses a type name as written in `table.fields` or DDL (case-insensitive, `DECIMAL(p,s)`
    /// accepted).
    pub fn parse(name: &str) -> Option<DataType> {
        let lower = name.trim().to_ascii_lowercase();
        let base = lower.split('(').next().unwrap_or("").trim();
        Some(match base {
            "tinyint" | "smallint" | "int" | "integer" | "bigint" | "long" => DataType::Int,
            "float" | "double" | "real" => DataType::Double,
            "decimal" | "numeric" => DataType::Decimal,
            "string" | "varchar" | "char" | "text" => DataType::String,
            "boolean" | "bool" => DataType::Boolean,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Double | DataType::Decimal)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::Null => "NULL",
            DataType::Boolean => "BOOLEAN",
            DataType::Int => "BIGINT",
            DataType::Double => "DOUBLE",
            DataType::Decimal => "DECIMAL",
            DataType::String => "STRING",
        })
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
    Str(Arc<str>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
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
        }
    }

    /// The value as a boolean condition: only `true` is true (NULL and false filter out).
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The value as a double, converting strings the way Hive does; NULL when impossible.
    pub fn to_f64(&self) -> Option<f64> {
        match self {
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
            Value::Null => None,
        }
    }

    pub fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Double(d) => Decimal::from_f64_retain(*d),
            Value::Decimal(d) => Some(*d),
            Value::Str(s) => s.trim().parse::<Decimal>().ok(),
            Value::Bool(b) => Some(Decimal::from(*b as i64)),
            Value::Null => None,
        }
    }

    /// Converts to `ty` with Hive's cast rules; NULL when the value cannot be converted.
    pub fn cast(&self, ty: DataType) -> Value {
        if self.is_null() {
            return Value::Null;
        }
        match ty {
            DataType::Null => Value::Null,
            DataType::Int => self.to_i64().map_or(Value::Null, Value::Int),
            DataType::Double => self.to_f64().map_or(Value::Null, Value::Double),
            DataType::Decimal => self.to_decimal().map_or(Value::Null, Value::Decimal),
            DataType::String => match self {
                Value::Str(_) => self.clone(),
                other => Value::Str(Arc::from(other.to_string())),
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
                Value::Null => Value::Null,
            },
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
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
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
        Value::Str(Arc::from(s))
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
        assert_eq!(Value::str("12").cast(DataType::Int), Value::Int(12));
        assert_eq!(Value::str("1.9").cast(DataType::Int), Value::Int(1));
        assert_eq!(Value::str("x").cast(DataType::Int), Value::Null);
        assert_eq!(Value::Double(-2.7).cast(DataType::Int), Value::Int(-2));
        assert_eq!(Value::Int(3).cast(DataType::String), Value::str("3"));
        assert_eq!(
            Value::str("false").cast(DataType::Boolean),
            Value::Bool(false)
        );
        assert_eq!(Value::str("maybe").cast(DataType::Boolean), Value::Null);
        assert_eq!(Value::Null.cast(DataType::Int), Value::Null);
        assert_eq!(
            Value::str("1.50").cast(DataType::Decimal),
            Value::Decimal(Decimal::new(150, 2))
        );
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
