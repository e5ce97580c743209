//! Scalar functions with Hive's semantics: their names, how they type-check and how they
//! evaluate. NULL in gives NULL out unless the function is about NULLs (nvl, coalesce, isnull,
//! concat_ws, if).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{FixedOffset, TimeZone};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::date::{DateFormat, DEFAULT_PATTERN};
use crate::types::{DataType, Value};

/// A scalar function, with whatever it needs fixed at plan time (time zone, a date pattern
/// given as a literal).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    If,
    Nvl,
    Coalesce,
    IsNull,
    IsNotNull,
    Concat,
    ConcatWs,
    Substr,
    Upper,
    Lower,
    Trim,
    LTrim,
    RTrim,
    Length,
    FromUnixtime {
        tz: FixedOffset,
        /// The pattern when it is a literal (or absent), compiled once.
        fmt: Option<Arc<DateFormat>>,
    },
    /// `unix_timestamp()`: now, in seconds.
    Now,
    /// Flink's `CURRENT_TIMESTAMP`, `NOW()`, `PROCTIME()`: the wall clock as TIMESTAMP(3) text
    /// in the job's time zone, read for each row (processing time).
    NowText {
        tz: FixedOffset,
    },
    /// `date_format(ts, pattern)`: a TIMESTAMP's (or DATE's) text shown with a Java pattern,
    /// as Hive and Flink have it; NULL for text that is no timestamp.
    DateFormat {
        fmt: Option<Arc<DateFormat>>,
    },
    /// The event time of a TIMESTAMP (or DATE) column, held as its text, read in the job's
    /// time zone: epoch milliseconds, with the fraction's milliseconds. What `COORDINATE BY`
    /// a TIMESTAMP column becomes (not callable by name).
    TimestampMillis {
        tz: FixedOffset,
    },
    /// Epoch milliseconds as TIMESTAMP(3) text (`yyyy-MM-dd HH:mm:ss.SSS`) in the job's time
    /// zone: a window TVF's `window_start`, `window_end` and `window_time` (not callable by
    /// name outside them).
    TimestampText {
        tz: FixedOffset,
    },
    UnixTimestamp {
        tz: FixedOffset,
        fmt: Option<Arc<DateFormat>>,
    },
    /// Flink's `TIMESTAMPADD(unit, n, ts)`, and `ts + INTERVAL 'n' unit` (`-` adds `-n`):
    /// args `(n, ts)`, the TIMESTAMP's text moved by `n` units, as TIMESTAMP(3) text.
    TimestampAdd {
        unit: super::date::TimeUnit,
    },
    /// Flink's `TIMESTAMPDIFF(unit, a, b)`: args `(a, b)`, whole units from `a` to `b`.
    TimestampDiff {
        unit: super::date::TimeUnit,
    },
    /// `tinyint(x)`, `smallint(x)`, `int(x)`, `bigint(x)`: Hive's casts to the integers, which
    /// `CAST(x AS TINYINT | SMALLINT | INT | BIGINT)` binds to ([`Value::cast_int_bits`]).
    IntCast {
        bits: u32,
    },
    /// `double(x)`, `float(x)`: `CAST(x AS DOUBLE | FLOAT)` ([`Value::cast_double`]).
    DoubleCast,
    /// round(x[, d]): HALF_UP on the decimal value.
    Round,
    /// bround(x[, d]): HALF_EVEN (banker's rounding) on the decimal value.
    BRound,
    Floor,
    Ceil,
    Abs,
    Pmod,
    /// positive/negative: typed like abs, a BIGINT stays BIGINT.
    Positive,
    Negative,
    /// hex: of a BIGINT's value or of a STRING's bytes ([`super::hive::hex`]).
    Hex,
    /// `hllp_merge(a, b)`: the union of two `hllp` sketches.
    HllpMerge,
    /// `hllp_get(a)`: the distinct count a `hllp` sketch estimates.
    HllpGet,
    /// The rest of Hive's functions on plain types ([`super::hive`]).
    Simple(&'static super::hive::Simple),
    /// Functions of ARRAY, MAP and STRUCT values ([`super::collections`]).
    Coll(super::collections::CollFunc),
}

/// The smallest type both `a` and `b` convert to implicitly, as Hive finds it.
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        _ if a == b => a.clone(),
        (Null, t) | (t, Null) => t.clone(),
        (Int | Decimal { .. }, Decimal { .. }) | (Decimal { .. }, Int) => {
            // Hive: room for the larger integer part and the larger scale.
            let ((p1, s1), (p2, s2)) = (a.decimal_parts()?, b.decimal_parts()?);
            let scale = s1.max(s2);
            DataType::decimal((p1 - s1).max(p2 - s2) + scale, scale)
        }
        (Int | Decimal { .. }, Double) | (Double, Int | Decimal { .. }) => Double,
        (String, t) | (t, String) if t.is_numeric() => String,
        (Array(x), Array(y)) => Array(Box::new(common_type(x, y)?)),
        (Map(k1, v1), Map(k2, v2)) => Map(
            Box::new(common_type(k1, k2)?),
            Box::new(common_type(v1, v2)?),
        ),
        _ => return None,
    })
}

/// Whether a value of type `from` may be passed where `to` is expected (an implicit cast).
pub fn implicit_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        _ if from == to => true,
        (Null, _) => true,
        (Array(x), Array(y)) => implicit_cast(x, y),
        (Map(k1, v1), Map(k2, v2)) => implicit_cast(k1, k2) && implicit_cast(v1, v2),
        (Struct(a), Struct(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((_, x), (_, y))| implicit_cast(x, y))
        }
        (_, String) => true,
        _ => to.is_numeric() && (from.is_numeric() || *from == String),
    }
}

/// The type of a numeric argument once strings are read as doubles.
fn numeric(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Int | DataType::Double | DataType::Decimal { .. } => Some(t.clone()),
        DataType::String | DataType::Null => Some(DataType::Double),
        _ => None,
    }
}

impl Func {
    /// Looks a function up by name (case-insensitive). `tz` is the job's time zone.
    pub fn lookup(name: &str, tz: FixedOffset) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "if" => Func::If,
            "nvl" => Func::Nvl,
            "coalesce" => Func::Coalesce,
            "isnull" => Func::IsNull,
            "isnotnull" => Func::IsNotNull,
            "concat" => Func::Concat,
            "concat_ws" => Func::ConcatWs,
            "substr" | "substring" => Func::Substr,
            "upper" | "ucase" => Func::Upper,
            "lower" | "lcase" => Func::Lower,
            "trim" => Func::Trim,
            "ltrim" => Func::LTrim,
            "rtrim" => Func::RTrim,
            "length" => Func::Length,
            "from_unixtime" => Func::FromUnixtime { tz, fmt: None },
            "date_format" => Func::DateFormat { fmt: None },
            "current_timestamp" | "now" | "proctime" | "localtimestamp" => Func::NowText { tz },
            "__timestamp_text" | "to_timestamp_ltz" => Func::TimestampText { tz },
            "unix_timestamp" => Func::UnixTimestamp { tz, fmt: None },
            "tinyint" => Func::IntCast { bits: 8 },
            "smallint" => Func::IntCast { bits: 16 },
            "int" | "integer" => Func::IntCast { bits: 32 },
            "bigint" => Func::IntCast { bits: 64 },
            "double" | "float" => Func::DoubleCast,
            "round" => Func::Round,
            "bround" => Func::BRound,
            "floor" => Func::Floor,
            "ceil" | "ceiling" => Func::Ceil,
            "abs" => Func::Abs,
            "pmod" => Func::Pmod,
            "positive" => Func::Positive,
            "negative" => Func::Negative,
            "hex" => Func::Hex,
            "hllp_merge" => Func::HllpMerge,
            "hllp_get" => Func::HllpGet,
            other => match super::collections::CollFunc::lookup(other) {
                Some(c) => Func::Coll(c),
                None => Func::Simple(super::hive::lookup(other)?),
            },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Func::If => "if",
            Func::Nvl => "nvl",
            Func::Coalesce => "coalesce",
            Func::IsNull => "isnull",
            Func::IsNotNull => "isnotnull",
            Func::Concat => "concat",
            Func::ConcatWs => "concat_ws",
            Func::Substr => "substr",
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Trim => "trim",
            Func::LTrim => "ltrim",
            Func::RTrim => "rtrim",
            Func::Length => "length",
            Func::FromUnixtime { .. } => "from_unixtime",
            Func::Now => "unix_timestamp",
            Func::DateFormat { .. } => "date_format",
            Func::NowText { .. } => "current_timestamp",
            Func::TimestampMillis { .. } => "timestamp_millis",
            Func::TimestampText { .. } => "__timestamp_text",
            Func::UnixTimestamp { .. } => "unix_timestamp",
            Func::TimestampAdd { .. } => "timestampadd",
            Func::TimestampDiff { .. } => "timestampdiff",
            Func::IntCast { bits: 8 } => "tinyint",
            Func::IntCast { bits: 16 } => "smallint",
            Func::IntCast { bits: 32 } => "int",
            Func::IntCast { .. } => "bigint",
            Func::DoubleCast => "double",
            Func::Round => "round",
            Func::BRound => "bround",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Abs => "abs",
            Func::Pmod => "pmod",
            Func::Positive => "positive",
            Func::Negative => "negative",
            Func::Hex => "hex",
            Func::HllpMerge => "hllp_merge",
            Func::HllpGet => "hllp_get",
            Func::Simple(f) => f.name,
            Func::Coll(c) => c.name(),
        }
    }

    /// Type-checks a call: given the argument types, returns the type each argument is cast to
    /// and the result type, or an error message.
    pub fn signature(
        &self,
        args: &[DataType],
    ) -> Result<(Vec<DataType>, DataType), std::string::String> {
        use DataType::*;
        let n = args.len();
        let arity = |lo: usize, hi: usize| -> Result<(), std::string::String> {
            if n < lo || n > hi {
                let want = if lo == hi {
                    format!("{lo}")
                } else if hi == usize::MAX {
                    format!("at least {lo}")
                } else {
                    format!("{lo} to {hi}")
                };
                Err(format!(
                    "{}() takes {want} argument{}, got {n}",
                    self.name(),
                    if lo == 1 && hi == 1 { "" } else { "s" }
                ))
            } else {
                Ok(())
            }
        };
        let expect = |i: usize, to: DataType| -> Result<DataType, std::string::String> {
            if implicit_cast(&args[i], &to) {
                Ok(to)
            } else {
                Err(format!(
                    "argument {} of {}() must be {to}, found {}",
                    i + 1,
                    self.name(),
                    args[i]
                ))
            }
        };
        let common = |types: &[DataType]| -> Result<DataType, std::string::String> {
            types.iter().try_fold(Null, |acc, t| {
                common_type(&acc, t).ok_or_else(|| {
                    format!(
                        "the arguments of {}() have no common type ({acc} and {t})",
                        self.name()
                    )
                })
            })
        };
        let num = |i: usize| -> Result<DataType, std::string::String> {
            numeric(&args[i]).ok_or_else(|| {
                format!(
                    "argument {} of {}() must be numeric, found {}",
                    i + 1,
                    self.name(),
                    args[i]
                )
            })
        };
        Ok(match self {
            Func::If => {
                arity(3, 3)?;
                let t = common(&args[1..])?;
                (vec![expect(0, Boolean)?, t.clone(), t.clone()], t)
            }
            Func::Nvl | Func::Coalesce => {
                if matches!(self, Func::Nvl) {
                    arity(2, 2)?
                } else {
                    arity(1, usize::MAX)?
                };
                let t = common(args)?;
                (vec![t.clone(); n], t)
            }
            Func::IsNull | Func::IsNotNull => {
                arity(1, 1)?;
                (args.to_vec(), Boolean)
            }
            Func::Concat => {
                arity(1, usize::MAX)?;
                (
                    (0..n)
                        .map(|i| expect(i, String))
                        .collect::<Result<_, _>>()?,
                    String,
                )
            }
            // Hive's concat_ws also joins the elements of ARRAY<STRING> arguments.
            Func::ConcatWs => {
                arity(2, usize::MAX)?;
                (
                    (0..n)
                        .map(|i| match &args[i] {
                            Array(_) if i > 0 => expect(i, Array(Box::new(String))),
                            _ if args[i].is_complex() => Err(format!(
                                "argument {} of concat_ws() must be STRING or ARRAY<STRING>, \
                                 found {}",
                                i + 1,
                                args[i]
                            )),
                            _ => expect(i, String),
                        })
                        .collect::<Result<_, _>>()?,
                    String,
                )
            }
            Func::Substr => {
                arity(2, 3)?;
                let mut t = vec![expect(0, String)?, expect(1, Int)?];
                if n == 3 {
                    t.push(expect(2, Int)?);
                }
                (t, String)
            }
            Func::Upper | Func::Lower | Func::Trim | Func::LTrim | Func::RTrim => {
                arity(1, 1)?;
                (vec![expect(0, String)?], String)
            }
            Func::Length => {
                arity(1, 1)?;
                (vec![expect(0, String)?], Int)
            }
            Func::FromUnixtime { .. } => {
                arity(1, 2)?;
                let mut t = vec![expect(0, Int)?];
                if n == 2 {
                    t.push(expect(1, String)?);
                }
                (t, String)
            }
            Func::Now => (vec![], Int),
            Func::NowText { .. } => {
                arity(0, 0)?;
                (vec![], String)
            }
            Func::DateFormat { .. } => {
                arity(2, 2)?;
                (vec![expect(0, String)?, expect(1, String)?], String)
            }
            Func::TimestampMillis { .. } => {
                arity(1, 1)?;
                (vec![expect(0, String)?], Int)
            }
            Func::TimestampAdd { .. } => {
                arity(2, 2)?;
                (vec![expect(0, Int)?, expect(1, String)?], String)
            }
            Func::TimestampDiff { .. } => {
                arity(2, 2)?;
                (vec![expect(0, String)?, expect(1, String)?], Int)
            }
            Func::TimestampText { .. } => {
                arity(1, 2)?;
                let mut t = vec![expect(0, Int)?];
                if n == 2 {
                    t.push(expect(1, Int)?);
                }
                (t, String)
            }
            Func::UnixTimestamp { .. } => {
                arity(0, 2)?;
                (
                    (0..n)
                        .map(|i| expect(i, String))
                        .collect::<Result<_, _>>()?,
                    Int,
                )
            }
            // The value is converted from its own type: a string out of range is NULL, a
            // number wraps.
            Func::IntCast { .. } | Func::DoubleCast => {
                arity(1, 1)?;
                if args[0].is_complex() {
                    return Err(format!("cannot cast {} to {}", args[0], self.name()));
                }
                let ret = if matches!(self, Func::DoubleCast) {
                    Double
                } else {
                    Int
                };
                (args.to_vec(), ret)
            }
            Func::Round | Func::BRound => {
                arity(1, 2)?;
                let t = num(0)?;
                let mut ts = vec![t.clone()];
                if n == 2 {
                    ts.push(expect(1, Int)?);
                }
                (ts, t)
            }
            Func::Floor | Func::Ceil => {
                arity(1, 1)?;
                (vec![num(0)?], Int)
            }
            Func::Abs | Func::Positive | Func::Negative => {
                arity(1, 1)?;
                let t = num(0)?;
                (vec![t.clone()], t)
            }
            // Hive's hex has a BIGINT and a STRING (BINARY) form; any other argument is read
            // as text, as before.
            Func::Hex => {
                arity(1, 1)?;
                match args[0] {
                    Int => (vec![Int], String),
                    _ => (vec![expect(0, String)?], String),
                }
            }
            Func::HllpMerge => {
                arity(2, 2)?;
                (vec![expect(0, String)?, expect(1, String)?], String)
            }
            Func::HllpGet => {
                arity(1, 1)?;
                (vec![expect(0, String)?], Int)
            }
            Func::Simple(f) => {
                arity(f.params.len() - f.optional, f.params.len())?;
                let casts = (0..n)
                    .map(|i| expect(i, f.params[i].clone()))
                    .collect::<Result<_, _>>()?;
                (casts, f.ret.clone())
            }
            Func::Coll(c) => c.signature(args)?,
            Func::Pmod => {
                arity(2, 2)?;
                let t = common_type(&num(0)?, &num(1)?).unwrap_or(Double);
                (vec![t.clone(), t.clone()], t)
            }
        })
    }

    /// Fixes what can be fixed once the arguments are known: `unix_timestamp()` becomes
    /// [`Func::Now`], a literal date pattern is compiled.
    pub fn specialize(self, literal_args: &[Option<&Value>]) -> Func {
        let pattern = |i: usize| -> Option<Arc<DateFormat>> {
            match literal_args.get(i) {
                Some(Some(Value::Str(p))) => Some(Arc::new(DateFormat::from_java(p))),
                None => Some(Arc::new(DateFormat::from_java(DEFAULT_PATTERN))),
                _ => None,
            }
        };
        match self {
            Func::UnixTimestamp { .. } if literal_args.is_empty() => Func::Now,
            Func::UnixTimestamp { tz, .. } => Func::UnixTimestamp {
                tz,
                fmt: pattern(1),
            },
            Func::FromUnixtime { tz, .. } => Func::FromUnixtime {
                tz,
                fmt: pattern(1),
            },
            Func::DateFormat { .. } => Func::DateFormat { fmt: pattern(1) },
            other => other,
        }
    }

    /// Evaluates the function on arguments already cast to the types of [`Func::signature`].
    pub fn eval(&self, a: &[Value]) -> Value {
        let any_null = || a.iter().any(Value::is_null);
        match self {
            Func::If => {
                if a[0].is_true() {
                    a[1].clone()
                } else {
                    a[2].clone()
                }
            }
            Func::Nvl | Func::Coalesce => {
                a.iter().find(|v| !v.is_null()).cloned().unwrap_or_default()
            }
            Func::IsNull => Value::Bool(a[0].is_null()),
            Func::IsNotNull => Value::Bool(!a[0].is_null()),
            Func::Concat => {
                if any_null() {
                    return Value::Null;
                }
                let mut s = String::new();
                for v in a {
                    s.push_str(&v.to_string());
                }
                Value::from(s)
            }
            Func::ConcatWs => {
                let Value::Str(sep) = &a[0] else {
                    return Value::Null;
                };
                let mut parts: Vec<String> = Vec::new();
                for v in &a[1..] {
                    match v {
                        Value::Null => {}
                        Value::Array(items) => parts
                            .extend(items.iter().filter(|x| !x.is_null()).map(|x| x.to_string())),
                        v => parts.push(v.to_string()),
                    }
                }
                Value::from(parts.join(sep))
            }
            Func::Substr => {
                if any_null() {
                    return Value::Null;
                }
                let (Value::Str(s), Value::Int(pos)) = (&a[0], &a[1]) else {
                    return Value::Null;
                };
                let len = match a.get(2) {
                    Some(Value::Int(l)) => Some(*l),
                    _ => None,
                };
                Value::from(substr(s, *pos, len))
            }
            Func::Upper => map_str(&a[0], |s| s.to_uppercase()),
            Func::Lower => map_str(&a[0], |s| s.to_lowercase()),
            Func::Trim => map_str(&a[0], |s| s.trim_matches(' ').to_string()),
            Func::LTrim => map_str(&a[0], |s| s.trim_start_matches(' ').to_string()),
            Func::RTrim => map_str(&a[0], |s| s.trim_end_matches(' ').to_string()),
            Func::Length => match &a[0] {
                Value::Str(s) => Value::Int(s.chars().count() as i64),
                _ => Value::Null,
            },
            Func::FromUnixtime { tz, fmt } => {
                let Value::Int(secs) = a[0] else {
                    return Value::Null;
                };
                let formatted = match (fmt, a.get(1)) {
                    (Some(f), _) => f.format(secs, *tz),
                    (None, Some(Value::Str(p))) => DateFormat::from_java(p).format(secs, *tz),
                    _ => None,
                };
                formatted.map_or(Value::Null, Value::from)
            }
            Func::Now => Value::Int(now_secs()),
            Func::NowText { tz } => Value::from(
                chrono::Utc::now()
                    .with_timezone(tz)
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string(),
            ),
            Func::TimestampAdd { unit } => match (a.first(), a.get(1)) {
                (Some(Value::Int(n)), Some(Value::Str(s))) => super::date::parse_timestamp(s)
                    .and_then(|t| super::date::add_units(t, *unit, *n))
                    .map_or(Value::Null, |t| {
                        Value::str(&super::date::timestamp_text(&t))
                    }),
                _ => Value::Null,
            },
            Func::TimestampDiff { unit } => match (a.first(), a.get(1)) {
                (Some(Value::Str(x)), Some(Value::Str(y))) => {
                    match (
                        super::date::parse_timestamp(x),
                        super::date::parse_timestamp(y),
                    ) {
                        (Some(x), Some(y)) => Value::Int(super::date::diff_units(x, y, *unit)),
                        _ => Value::Null,
                    }
                }
                _ => Value::Null,
            },
            Func::DateFormat { fmt } => {
                let Some(Value::Str(s)) = a.first() else {
                    return Value::Null;
                };
                let Some(t) = super::date::parse_timestamp(s) else {
                    return Value::Null;
                };
                let formatted = match (fmt, a.get(1)) {
                    (Some(f), _) => f.format_naive(&t),
                    (None, Some(Value::Str(p))) => DateFormat::from_java(p).format_naive(&t),
                    _ => None,
                };
                formatted.map_or(Value::Null, Value::from)
            }
            // Flink's TO_TIMESTAMP_LTZ(n, precision): n in seconds for precision 0, else ms.
            Func::TimestampText { tz } => match (a.first(), a.get(1)) {
                (Some(Value::Int(n)), p) => {
                    let ms = if matches!(p, Some(Value::Int(0))) {
                        n.saturating_mul(1000)
                    } else {
                        *n
                    };
                    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| {
                        Value::str(
                            &t.with_timezone(tz)
                                .format("%Y-%m-%d %H:%M:%S%.3f")
                                .to_string(),
                        )
                    })
                }
                _ => Value::Null,
            },
            Func::TimestampMillis { tz } => match a.first() {
                Some(Value::Str(s)) => super::date::parse_timestamp(s)
                    .and_then(|ts| tz.from_local_datetime(&ts).single())
                    .map_or(Value::Null, |t| Value::Int(t.timestamp_millis())),
                _ => Value::Null,
            },
            Func::UnixTimestamp { tz, fmt } => {
                let Some(Value::Str(s)) = a.first() else {
                    return if a.first().is_some_and(Value::is_null) {
                        Value::Null
                    } else {
                        Value::Int(now_secs())
                    };
                };
                let parsed = match (fmt, a.get(1)) {
                    (Some(f), _) => f.parse(s, *tz),
                    (None, Some(Value::Str(p))) => DateFormat::from_java(p).parse(s, *tz),
                    (None, Some(_)) => return Value::Null,
                    (None, None) => DateFormat::from_java(DEFAULT_PATTERN).parse(s, *tz),
                }
                .or_else(|| {
                    // unix_timestamp(ts) of a TIMESTAMP (held as its text) or a DATE: that
                    // time in the job's time zone.
                    let ts = super::date::parse_timestamp(s).filter(|_| a.len() == 1)?;
                    Some(tz.from_local_datetime(&ts).single()?.timestamp())
                });
                // EC-SQL: 0 when the text cannot be parsed.
                Value::Int(parsed.unwrap_or(0))
            }
            Func::IntCast { bits } => a[0].cast_int_bits(*bits),
            Func::DoubleCast => a[0].cast_double(),
            Func::Round | Func::BRound => {
                let digits = match a.get(1) {
                    Some(Value::Int(d)) => *d,
                    Some(_) => return Value::Null,
                    None => 0,
                };
                let strategy = match self {
                    Func::Round => RoundingStrategy::MidpointAwayFromZero,
                    _ => RoundingStrategy::MidpointNearestEven,
                };
                round(&a[0], digits, strategy)
            }
            Func::Floor => match &a[0] {
                Value::Int(i) => Value::Int(*i),
                Value::Double(d) if d.is_finite() => Value::Int(d.floor() as i64),
                Value::Decimal(d) => d.floor().to_i64().map_or(Value::Null, Value::Int),
                _ => Value::Null,
            },
            Func::Ceil => match &a[0] {
                Value::Int(i) => Value::Int(*i),
                Value::Double(d) if d.is_finite() => Value::Int(d.ceil() as i64),
                Value::Decimal(d) => d.ceil().to_i64().map_or(Value::Null, Value::Int),
                _ => Value::Null,
            },
            Func::Abs => match &a[0] {
                Value::Int(i) => Value::Int(i.wrapping_abs()),
                Value::Double(d) => Value::Double(d.abs()),
                Value::Decimal(d) => Value::Decimal(d.abs()),
                _ => Value::Null,
            },
            Func::HllpMerge => match (&a[0], &a[1]) {
                (Value::Str(x), Value::Str(y)) => {
                    match (crate::hll::Sketch::decode(x), crate::hll::Sketch::decode(y)) {
                        (Some(mut x), Some(y)) => {
                            x.merge(&y);
                            Value::from(x.encode())
                        }
                        _ => Value::Null,
                    }
                }
                _ => Value::Null,
            },
            Func::Positive => a[0].clone(),
            Func::Negative => super::hive::negative(&a[0]),
            Func::Hex => super::hive::hex(&a[0]),
            Func::Simple(f) => (f.eval)(a),
            Func::Coll(c) => c.eval(a),
            Func::HllpGet => match &a[0] {
                Value::Str(x) => crate::hll::Sketch::decode(x)
                    .map_or(Value::Null, |s| Value::Int(s.estimate() as i64)),
                _ => Value::Null,
            },
            Func::Pmod => match (&a[0], &a[1]) {
                (Value::Int(_), Value::Int(0)) => Value::Null,
                (Value::Int(x), Value::Int(y)) => {
                    Value::Int(x.wrapping_rem(*y).wrapping_add(*y).wrapping_rem(*y))
                }
                (Value::Double(_), Value::Double(y)) if *y == 0.0 => Value::Null,
                (Value::Double(x), Value::Double(y)) => Value::Double(((x % y) + y) % y),
                (Value::Decimal(x), Value::Decimal(y)) => x
                    .checked_rem(*y)
                    .and_then(|r| r.checked_add(*y))
                    .and_then(|r| r.checked_rem(*y))
                    .map_or(Value::Null, Value::Decimal),
                _ => Value::Null,
            },
        }
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn map_str(v: &Value, f: impl Fn(&str) -> String) -> Value {
    match v {
        Value::Str(s) => Value::from(f(s)),
        _ => Value::Null,
    }
}

/// Hive's substr: 1-based; a negative start counts from the end; start 0 means 1.
fn substr(s: &str, pos: i64, len: Option<i64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        0 => 0,
        p => n + p,
    };
    if start < 0 || start >= n {
        return String::new();
    }
    let end = match len {
        Some(l) if l <= 0 => return String::new(),
        Some(l) => (start + l).min(n),
        None => n,
    };
    chars[start as usize..end as usize].iter().collect()
}

/// Hive's round (HALF_UP: half away from zero) or bround (HALF_EVEN) to `digits` decimal
/// places (negative: to tens, hundreds, ...), on the decimal value: a DECIMAL as it is, a DOUBLE
/// as its shortest decimal text (Java's `BigDecimal.valueOf(double)`), so `round(2.675, 2)` is
/// 2.68 although the double 2.675 lies just below it.
fn round(v: &Value, digits: i64, strategy: RoundingStrategy) -> Value {
    match v {
        Value::Int(i) if digits >= 0 => Value::Int(*i),
        Value::Int(i) => round_decimal(Decimal::from(*i), digits, strategy)
            .and_then(|r| r.to_i64())
            .map_or(Value::Null, Value::Int),
        Value::Double(d) if !d.is_finite() => Value::Double(*d),
        // Doubles this large have no fraction, and tens of places below it are no digits.
        Value::Double(d) if digits >= 0 && d.abs() >= 1e15 => Value::Double(*d),
        Value::Double(d) if d.abs() < 1e-28 => Value::Double(0.0),
        Value::Double(d) => {
            match crate::types::double_to_decimal(*d)
                .and_then(|x| round_decimal(x, digits, strategy))
            {
                Some(r) => Value::Double(r.to_f64().unwrap_or(*d)),
                None => Value::Double(*d),
            }
        }
        Value::Decimal(d) => {
            round_decimal(*d, digits, strategy).map_or(Value::Null, Value::Decimal)
        }
        _ => Value::Null,
    }
}

/// `d` rounded to `digits` places with `strategy`; `None` past DECIMAL's range.
fn round_decimal(d: Decimal, digits: i64, strategy: RoundingStrategy) -> Option<Decimal> {
    if digits >= 0 {
        return Some(d.round_dp_with_strategy(digits.min(28) as u32, strategy));
    }
    if digits < -28 {
        return Some(Decimal::ZERO);
    }
    let p = Decimal::from_i128_with_scale(10i128.pow((-digits) as u32), 0);
    d.checked_div(p)?
        .round_dp_with_strategy(0, strategy)
        .checked_mul(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    fn call(name: &str, args: &[Value]) -> Value {
        let f = Func::lookup(name, utc()).unwrap();
        let lits: Vec<Option<&Value>> = args.iter().map(Some).collect();
        let f = f.specialize(&lits);
        let types: Vec<DataType> = args.iter().map(type_of).collect();
        let (casts, _) = f.signature(&types).unwrap();
        let cast: Vec<Value> = args.iter().zip(casts).map(|(v, t)| v.cast(&t)).collect();
        f.eval(&cast)
    }

    fn type_of(v: &Value) -> DataType {
        match v {
            Value::Null => DataType::Null,
            Value::Bool(_) => DataType::Boolean,
            Value::Int(_) => DataType::Int,
            Value::Double(_) => DataType::Double,
            Value::Decimal(d) => DataType::decimal(28, d.scale()),
            Value::Str(_) => DataType::String,
            Value::Array(_) => DataType::Array(Box::new(DataType::String)),
            Value::Map(_) | Value::Struct(_) => unreachable!("tests pass plain values"),
        }
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    const N: Value = Value::Null;

    #[test]
    fn conditionals() {
        assert_eq!(
            call("if", &[Value::Bool(true), 1.into(), 2.into()]),
            1.into()
        );
        assert_eq!(call("if", &[N, 1.into(), 2.into()]), 2.into());
        assert_eq!(
            call("if", &[Value::Bool(true), 1.into(), 2.5.into()]),
            1.0.into()
        );
        assert_eq!(call("nvl", &[N, 5.into()]), 5.into());
        assert_eq!(call("nvl", &[3.into(), 5.into()]), 3.into());
        assert_eq!(call("coalesce", &[N, N, s("x")]), s("x"));
        assert_eq!(call("coalesce", &[N, N]), N);
        assert_eq!(call("isnull", &[N]), true.into());
        assert_eq!(call("isnull", &[0.into()]), false.into());
        assert_eq!(call("isnotnull", &[N]), false.into());
    }

    #[test]
    fn strings() {
        assert_eq!(call("concat", &[s("a"), 1.into(), s("b")]), s("a1b"));
        assert_eq!(call("concat", &[s("a"), N]), N);
        assert_eq!(call("concat_ws", &[s("-"), s("a"), N, s("b")]), s("a-b"));
        assert_eq!(call("concat_ws", &[N, s("a")]), N);
        assert_eq!(call("substr", &[s("hello"), 2.into()]), s("ello"));
        assert_eq!(call("substr", &[s("hello"), 2.into(), 3.into()]), s("ell"));
        assert_eq!(call("substr", &[s("hello"), 0.into(), 2.into()]), s("he"));
        assert_eq!(call("substr", &[s("hello"), (-3).into()]), s("llo"));
        assert_eq!(call("substr", &[s("hello"), 9.into()]), s(""));
        assert_eq!(call("substr", &[s("hello"), 1.into(), (-1).into()]), s(""));
        assert_eq!(call("substring", &[s("héllo"), 2.into(), 1.into()]), s("é"));
        assert_eq!(call("substr", &[N, 1.into()]), N);
        assert_eq!(call("upper", &[s("aBc")]), s("ABC"));
        assert_eq!(call("ucase", &[s("x")]), s("X"));
        assert_eq!(call("lower", &[s("aBc")]), s("abc"));
        assert_eq!(call("lcase", &[N]), N);
        assert_eq!(call("trim", &[s("  a b  ")]), s("a b"));
        assert_eq!(call("ltrim", &[s("  a ")]), s("a "));
        assert_eq!(call("rtrim", &[s("  a ")]), s("  a"));
        assert_eq!(call("length", &[s("héllo")]), 5.into());
        assert_eq!(call("length", &[12345.into()]), 5.into());
        assert_eq!(call("length", &[N]), N);
    }

    #[test]
    fn dates() {
        assert_eq!(call("from_unixtime", &[0.into()]), s("1970-01-01 00:00:00"));
        assert_eq!(
            call(
                "from_unixtime",
                &[1_700_000_000.into(), s("yyyy-MM-dd HH:mm")]
            ),
            s("2023-11-14 22:13")
        );
        assert_eq!(call("from_unixtime", &[N]), N);
        assert_eq!(
            call("unix_timestamp", &[s("2023-11-14 22:13:20")]),
            1_700_000_000.into()
        );
        assert_eq!(
            call("unix_timestamp", &[s("2023/11/14"), s("yyyy/MM/dd")]),
            1_699_920_000.into()
        );
        assert_eq!(call("unix_timestamp", &[s("garbage")]), 0.into());
        assert_eq!(call("unix_timestamp", &[N]), N);
        let Value::Int(now) = call("unix_timestamp", &[]) else {
            panic!("unix_timestamp() is an integer")
        };
        assert!(now > 1_700_000_000);
        // A pattern that is not a literal is compiled per row.
        let f = Func::lookup("from_unixtime", utc())
            .unwrap()
            .specialize(&[None, None]);
        assert_eq!(f.eval(&[60.into(), s("HH:mm")]), s("00:01"));
    }

    #[test]
    fn round_works_on_the_decimal_value() {
        let dec = |x: &str| Value::Decimal(x.parse().unwrap());
        let cases: [(&str, Value, i64, Value); 22] = [
            // A double is rounded as its shortest decimal text: 2.675 is 2.675, not
            // 2.67499999999999982236431605997495353221893310546875.
            ("round", 2.675.into(), 2, 2.68.into()),
            ("round", (-2.675).into(), 2, (-2.68).into()),
            ("round", 1.005.into(), 2, 1.01.into()),
            ("round", 0.285.into(), 2, 0.29.into()),
            ("round", 2.5.into(), 0, 3.0.into()),
            ("round", (-0.5).into(), 0, (-1.0).into()),
            ("round", 1234.5.into(), -2, 1200.0.into()),
            ("round", 1250.0.into(), -2, 1300.0.into()),
            ("round", 1e20.into(), 2, 1e20.into()),
            ("round", 1e-30.into(), 2, 0.0.into()),
            ("round", dec("2.675"), 2, dec("2.68")),
            ("round", dec("-2.675"), 2, dec("-2.68")),
            ("round", dec("1250"), -2, dec("1300")),
            ("round", (-1250).into(), -2, (-1300).into()),
            ("round", 1249.into(), -2, 1200.into()),
            // bround: half to even.
            ("bround", 2.5.into(), 0, 2.0.into()),
            ("bround", 3.5.into(), 0, 4.0.into()),
            ("bround", (-2.5).into(), 0, (-2.0).into()),
            ("bround", 2.675.into(), 2, 2.68.into()),
            ("bround", 2.665.into(), 2, 2.66.into()),
            ("bround", dec("-2.665"), 2, dec("-2.66")),
            ("bround", 1250.into(), -2, 1200.into()),
        ];
        for (f, x, d, want) in cases {
            assert_eq!(call(f, &[x.clone(), d.into()]), want, "{f}({x}, {d})");
        }
        assert_eq!(call("bround", &[2.5.into()]), 2.0.into());
        assert_eq!(call("bround", &[N, 1.into()]), N);
    }

    #[test]
    fn math() {
        assert_eq!(call("round", &[1.2345678.into(), 4.into()]), 1.2346.into());
        assert_eq!(call("round", &[2.5.into()]), 3.0.into());
        assert_eq!(call("round", &[(-2.5).into()]), (-3.0).into());
        assert_eq!(call("round", &[1234.5.into(), (-2).into()]), 1200.0.into());
        assert_eq!(call("round", &[7.into()]), 7.into());
        assert_eq!(call("round", &[1250.into(), (-2).into()]), 1300.into());
        assert_eq!(call("round", &[s("2.25"), 1.into()]), 2.3.into());
        assert_eq!(call("round", &[N]), N);
        assert_eq!(call("floor", &[(-1.5).into()]), (-2).into());
        assert_eq!(call("ceil", &[1.2.into()]), 2.into());
        assert_eq!(call("ceiling", &[(-1.2).into()]), (-1).into());
        assert_eq!(call("floor", &[N]), N);
        assert_eq!(call("abs", &[(-3).into()]), 3.into());
        assert_eq!(call("abs", &[(-3.5).into()]), 3.5.into());
        assert_eq!(call("pmod", &[(-7).into(), 3.into()]), 2.into());
        assert_eq!(call("pmod", &[7.into(), 0.into()]), N);
        assert_eq!(call("pmod", &[(-7.5).into(), 2.into()]), 0.5.into());
        assert_eq!(call("abs", &[s("x")]), N);
        // positive/negative keep a BIGINT a BIGINT, in the value and in the type.
        assert_eq!(call("negative", &[3.into()]), (-3).into());
        assert_eq!(call("positive", &[3.into()]), 3.into());
        assert_eq!(call("negative", &[2.5.into()]), (-2.5).into());
        assert_eq!(call("negative", &[s("1.5")]), (-1.5).into());
        assert_eq!(call("negative", &[N]), N);
        for name in ["positive", "negative"] {
            let f = Func::lookup(name, utc()).unwrap();
            assert_eq!(f.signature(&[DataType::Int]).unwrap().1, DataType::Int);
            assert_eq!(
                f.signature(&[DataType::DECIMAL]).unwrap().1,
                DataType::DECIMAL
            );
            assert_eq!(
                f.signature(&[DataType::String]).unwrap().1,
                DataType::Double
            );
            assert!(f.signature(&[DataType::Boolean]).is_err());
        }
        // hex of a BIGINT is its value in base 16; of a STRING, its bytes.
        assert_eq!(call("hex", &[255.into()]), s("FF"));
        assert_eq!(call("hex", &[s("255")]), s("323535"));
        assert_eq!(call("hex", &[s("ab")]), s("6162"));
        assert_eq!(call("hex", &[N]), N);
    }

    #[test]
    fn sketches() {
        let mut a = crate::hll::Sketch::default();
        let mut b = crate::hll::Sketch::default();
        for i in 0..300 {
            a.insert(&Value::Int(i));
            b.insert(&Value::Int(i + 200));
        }
        let merged = call("hllp_merge", &[s(&a.encode()), s(&b.encode())]);
        let Value::Int(n) = call("hllp_get", &[merged]) else {
            panic!("hllp_get gives a number")
        };
        assert!((495..=505).contains(&n), "{n}");
        assert_eq!(call("hllp_get", &[s("not a sketch")]), N);
        assert_eq!(call("hllp_merge", &[N, s(&a.encode())]), N);
    }

    #[test]
    fn type_errors() {
        let f = Func::lookup("round", utc()).unwrap();
        assert!(f
            .signature(&[DataType::Boolean])
            .unwrap_err()
            .contains("numeric"));
        let f = Func::lookup("if", utc()).unwrap();
        assert!(f
            .signature(&[DataType::Int])
            .unwrap_err()
            .contains("3 arguments"));
        assert!(f
            .signature(&[DataType::Boolean, DataType::Boolean, DataType::Int])
            .unwrap_err()
            .contains("common type"));
        let f = Func::lookup("substr", utc()).unwrap();
        assert!(f
            .signature(&[DataType::String, DataType::Boolean])
            .unwrap_err()
            .contains("BIGINT"));
        assert!(Func::lookup("no_such_fn", utc()).is_none());
    }
}
