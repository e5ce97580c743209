//! The rest of Hive's scalar functions on plain types: math, dates on `yyyy-MM-dd` strings,
//! strings, regular expressions, URLs and JSON. Each is a row of [`SIMPLE`]: its name, parameter
//! types (the trailing `optional` ones may be left out), result type and evaluation. NULL in
//! gives NULL out, and a value that cannot be computed is NULL, as in Hive.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use regex::Regex;

use crate::types::{DataType, Value};

/// A function of plain values.
#[derive(Debug)]
pub struct Simple {
    pub name: &'static str,
    pub params: &'static [DataType],
    /// How many trailing parameters may be left out.
    pub optional: usize,
    pub ret: DataType,
    pub eval: fn(&[Value]) -> Value,
}

use DataType::{Double as D, Int as I, String as S};

macro_rules! simple {
    ($name:literal, [$($p:expr),*], $opt:expr, $ret:expr, $f:expr) => {
        Simple { name: $name, params: &[$($p),*], optional: $opt, ret: $ret, eval: $f }
    };
}

/// Every simple function, by name (aliases are separate rows).
pub static SIMPLE: &[Simple] = &[
    simple!("rand", [I], 1, D, |a| rand(a.first())),
    simple!("exp", [D], 0, D, |a| math(a, f64::exp)),
    simple!("ln", [D], 0, D, |a| positive_math(a, f64::ln)),
    simple!("log10", [D], 0, D, |a| positive_math(a, f64::log10)),
    simple!("log2", [D], 0, D, |a| positive_math(a, f64::log2)),
    simple!(
        "log",
        [D, D],
        0,
        D,
        |a| match (a[0].to_f64(), a[1].to_f64()) {
            (Some(b), Some(x)) if b > 0.0 && b != 1.0 && x > 0.0 => Value::Double(x.ln() / b.ln()),
            _ => Value::Null,
        }
    ),
    simple!("pow", [D, D], 0, D, pow),
    simple!("power", [D, D], 0, D, pow),
    simple!("sqrt", [D], 0, D, |a| match a[0].to_f64() {
        Some(x) if x >= 0.0 => Value::Double(x.sqrt()),
        _ => Value::Null,
    }),
    simple!("sin", [D], 0, D, |a| math(a, f64::sin)),
    simple!("cos", [D], 0, D, |a| math(a, f64::cos)),
    simple!("asin", [D], 0, D, |a| unit_math(a, f64::asin)),
    simple!("acos", [D], 0, D, |a| unit_math(a, f64::acos)),
    simple!("bin", [I], 0, S, |a| match a[0] {
        Value::Int(i) => Value::from(format!("{:b}", i as u64)),
        _ => Value::Null,
    }),
    simple!("conv", [S, I, I], 0, S, conv),
    simple!("to_date", [S], 0, S, |a| date_of(a)
        .map_or(Value::Null, |d| Value::from(
            d.format("%Y-%m-%d").to_string()
        ))),
    simple!("year", [S], 0, I, |a| date_part(a, |d| d.year() as i64)),
    simple!("month", [S], 0, I, |a| date_part(a, |d| d.month() as i64)),
    simple!("day", [S], 0, I, |a| date_part(a, |d| d.day() as i64)),
    simple!("dayofmonth", [S], 0, I, |a| date_part(a, |d| d.day()
        as i64)),
    simple!("weekofyear", [S], 0, I, |a| date_part(
        a,
        |d| d.iso_week().week() as i64
    )),
    simple!("hour", [S], 0, I, |a| time_part(a, |t| t.hour() as i64)),
    simple!("minute", [S], 0, I, |a| time_part(a, |t| t.minute() as i64)),
    simple!("second", [S], 0, I, |a| time_part(a, |t| t.second() as i64)),
    simple!(
        "datediff",
        [S, S],
        0,
        I,
        |a| match (date_of(&a[..1]), date_of(&a[1..])) {
            (Some(x), Some(y)) => Value::Int((x - y).num_days()),
            _ => Value::Null,
        }
    ),
    simple!("date_add", [S, I], 0, S, |a| shift_date(a, 1)),
    simple!("date_sub", [S, I], 0, S, |a| shift_date(a, -1)),
    simple!("reverse", [S], 0, S, |a| text(a, |s| s
        .chars()
        .rev()
        .collect())),
    simple!("space", [I], 0, S, |a| match a[0] {
        Value::Int(n) => Value::from(" ".repeat(n.clamp(0, 1 << 20) as usize)),
        _ => Value::Null,
    }),
    simple!("repeat", [S, I], 0, S, |a| match (&a[0], &a[1]) {
        (Value::Str(s), Value::Int(n)) => {
            let n = (*n).clamp(0, (1 << 24) / s.len().max(1) as i64) as usize;
            Value::from(s.repeat(n))
        }
        _ => Value::Null,
    }),
    simple!("ascii", [S], 0, I, |a| match &a[0] {
        Value::Str(s) => Value::Int(s.bytes().next().map_or(0, i64::from)),
        _ => Value::Null,
    }),
    simple!("find_in_set", [S, S], 0, I, |a| match (&a[0], &a[1]) {
        (Value::Str(s), Value::Str(list)) if !s.contains(',') => Value::Int(
            list.split(',')
                .position(|x| x == &**s)
                .map_or(0, |i| i as i64 + 1),
        ),
        (Value::Str(_), Value::Str(_)) => Value::Int(0),
        _ => Value::Null,
    }),
    simple!(
        "regexp_replace",
        [S, S, S],
        0,
        S,
        |a| match (&a[0], &a[1], &a[2]) {
            (Value::Str(s), Value::Str(p), Value::Str(r)) => with_regex(p, |re| {
                Value::from(re.replace_all(s, java_replacement(r).as_str()).into_owned())
            }),
            _ => Value::Null,
        }
    ),
    simple!("regexp_extract", [S, S, I], 1, S, |a| regexp_extract(
        a,
        Value::str("")
    )),
    // Flink's REGEXP_EXTRACT, which `.sql` jobs call: NULL where the pattern does not match.
    simple!("__flink_regexp_extract", [S, S, I], 1, S, |a| {
        regexp_extract(a, Value::Null)
    }),
    simple!("parse_url", [S, S, S], 1, S, parse_url),
    // Nexmark's COUNT_CHAR(str, c) (q14's function in Flink's nexmark suite): how often the
    // character `c` occurs in `str`.
    simple!("count_char", [S, S], 0, I, |a| match (&a[0], &a[1]) {
        (Value::Str(s), Value::Str(c)) => match c.chars().next() {
            Some(c) => Value::Int(s.chars().filter(|x| *x == c).count() as i64),
            None => Value::Int(0),
        },
        _ => Value::Null,
    }),
    // Flink's SPLIT_INDEX(str, separator, index): the index-th piece (from 0), or NULL.
    simple!(
        "split_index",
        [S, S, I],
        0,
        S,
        |a| match (&a[0], &a[1], &a[2]) {
            (Value::Str(s), Value::Str(sep), Value::Int(i)) if *i >= 0 && !sep.is_empty() => s
                .split(sep.as_str())
                .nth(*i as usize)
                .map_or(Value::Null, Value::str),
            _ => Value::Null,
        }
    ),
    // Flink's TO_TIMESTAMP(str[, pattern]): the time as TIMESTAMP(3) text, or NULL.
    simple!("to_timestamp", [S, S], 1, S, |a| {
        let t = match (&a[0], a.get(1)) {
            (Value::Str(s), None) => super::date::parse_timestamp(s),
            (Value::Str(s), Some(Value::Str(p))) => super::date::DateFormat::from_java(p)
                .parse(s, chrono::FixedOffset::east_opt(0).expect("UTC"))
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .map(|t| t.naive_utc()),
            _ => None,
        };
        t.map_or(Value::Null, |t| {
            Value::from(t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        })
    }),
    simple!("get_json_object", [S, S], 0, S, get_json_object),
];

/// Looks a simple function up by name (case-insensitive).
pub fn lookup(name: &str) -> Option<&'static Simple> {
    SIMPLE.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

fn math(a: &[Value], f: fn(f64) -> f64) -> Value {
    a[0].to_f64().map_or(Value::Null, |x| Value::Double(f(x)))
}

fn positive_math(a: &[Value], f: fn(f64) -> f64) -> Value {
    match a[0].to_f64() {
        Some(x) if x > 0.0 => Value::Double(f(x)),
        _ => Value::Null,
    }
}

fn unit_math(a: &[Value], f: fn(f64) -> f64) -> Value {
    match a[0].to_f64() {
        Some(x) if (-1.0..=1.0).contains(&x) => Value::Double(f(x)),
        _ => Value::Null,
    }
}

fn pow(a: &[Value]) -> Value {
    match (a[0].to_f64(), a[1].to_f64()) {
        (Some(x), Some(y)) => Value::Double(x.powf(y)),
        _ => Value::Null,
    }
}

thread_local! {
    /// rand() without a seed: one stream per thread; rand(seed): one stream per seed.
    static RAND: RefCell<HashMap<Option<i64>, u64>> = RefCell::new(HashMap::new());
}

fn rand(seed: Option<&Value>) -> Value {
    let seed = match seed {
        Some(Value::Int(s)) => Some(*s),
        Some(_) => return Value::Null,
        None => None,
    };
    RAND.with(|r| {
        let mut states = r.borrow_mut();
        let state = states.entry(seed).or_insert_with(|| match seed {
            Some(s) => (s as u64) ^ 0x9E37_79B9_7F4A_7C15,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        });
        // splitmix64
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Value::Double((z >> 11) as f64 / (1u64 << 53) as f64)
    })
}

/// hex(x): a BIGINT in base 16 (two's complement for negatives, as Hive), a STRING byte by
/// byte, so `hex(255)` is 'FF' but `hex('255')` is '323535'. Its argument keeps its own type
/// ([`Func::Hex`](super::functions::Func::Hex) types the call), which is why it is not a row of
/// [`SIMPLE`]: those cast every argument to one fixed type, and a number cast to text could no
/// longer be told from text that looks like a number.
pub fn hex(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::from(format!("{:X}", *i as u64)),
        Value::Str(s) => Value::from(s.bytes().map(|b| format!("{b:02X}")).collect::<String>()),
        _ => Value::Null,
    }
}

/// negative(x): `-x` in x's own type (BIGINT stays BIGINT, wrapping like Hive's long at the
/// minimum); positive(x) is x itself. Typed by [`Func::Negative`](super::functions::Func).
pub fn negative(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::Int(i.wrapping_neg()),
        Value::Double(d) => Value::Double(-d),
        Value::Decimal(d) => Value::Decimal(-d),
        _ => Value::Null,
    }
}

/// conv(num, from, to): a number written in base `from` rewritten in base `to` (2..36); a
/// negative `to` writes a signed result.
fn conv(a: &[Value]) -> Value {
    let (Value::Str(num), Value::Int(from), Value::Int(to)) = (&a[0], &a[1], &a[2]) else {
        return Value::Null;
    };
    let (from, to) = (from.unsigned_abs(), *to);
    if !(2..=36).contains(&from) || !(2..=36).contains(&to.unsigned_abs()) {
        return Value::Null;
    }
    let t = num.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let Ok(mag) = u64::from_str_radix(digits, from as u32) else {
        return Value::Null;
    };
    let bits = if neg { mag.wrapping_neg() } else { mag };
    let (neg_out, mut n) = if to < 0 && (bits as i64) < 0 {
        (true, (bits as i64).unsigned_abs())
    } else {
        (false, bits)
    };
    let base = to.unsigned_abs();
    let mut out = Vec::new();
    loop {
        let d = (n % base) as u32;
        out.push(
            std::char::from_digit(d, base as u32)
                .unwrap_or('?')
                .to_ascii_uppercase(),
        );
        n /= base;
        if n == 0 {
            break;
        }
    }
    if neg_out {
        out.push('-');
    }
    Value::from(out.into_iter().rev().collect::<String>())
}

fn parse_date_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
}

fn date_of(a: &[Value]) -> Option<NaiveDate> {
    match &a[0] {
        Value::Str(s) => parse_date_time(s).map(|d| d.date()),
        _ => None,
    }
}

fn date_part(a: &[Value], f: fn(NaiveDate) -> i64) -> Value {
    date_of(a).map_or(Value::Null, |d| Value::Int(f(d)))
}

fn time_part(a: &[Value], f: fn(NaiveTime) -> i64) -> Value {
    let Value::Str(s) = &a[0] else {
        return Value::Null;
    };
    let time = parse_date_time(s)
        .map(|d| d.time())
        .or_else(|| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f").ok());
    time.map_or(Value::Null, |t| Value::Int(f(t)))
}

fn shift_date(a: &[Value], sign: i64) -> Value {
    match (date_of(a), &a[1]) {
        (Some(d), Value::Int(n)) => d
            .checked_add_signed(Duration::days(sign * n))
            .map_or(Value::Null, |d| {
                Value::from(d.format("%Y-%m-%d").to_string())
            }),
        _ => Value::Null,
    }
}

fn text(a: &[Value], f: fn(&str) -> String) -> Value {
    match &a[0] {
        Value::Str(s) => Value::from(f(s)),
        _ => Value::Null,
    }
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// REGEXP_EXTRACT(s, pattern[, group]): the group (1 unless given) of the first match; NULL
/// for a group the pattern does not have; `no_match` where it does not match.
fn regexp_extract(a: &[Value], no_match: Value) -> Value {
    match (&a[0], &a[1]) {
        (Value::Str(s), Value::Str(p)) => {
            let idx = match a.get(2) {
                Some(Value::Int(i)) if *i >= 0 => *i as usize,
                Some(_) => return Value::Null,
                None => 1,
            };
            with_regex(p, |re| match re.captures(s) {
                Some(c) if idx < c.len() => {
                    Value::from(c.get(idx).map_or("", |m| m.as_str()).to_string())
                }
                Some(_) => Value::Null,
                None => no_match.clone(),
            })
        }
        _ => Value::Null,
    }
}

/// The compiled pattern, from the per-thread cache (a `Regex` clone shares the compiled
/// program); `None` when it is not a valid regular expression.
pub(crate) fn cached_regex(pattern: &str) -> Option<Regex> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 1000 {
            cache.clear();
        }
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok())
            .clone()
    })
}

/// Runs `f` with the compiled pattern (compiled once per thread and pattern); NULL when the
/// pattern is not a valid regular expression.
pub(crate) fn with_regex(pattern: &str, f: impl FnOnce(&Regex) -> Value) -> Value {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 1000 {
            cache.clear();
        }
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        match re {
            Some(re) => f(re),
            None => Value::Null,
        }
    })
}

/// Java's `$1` group references are Rust's `${1}`.
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next().map(|n| {
                if n == '$' {
                    "$$".to_string()
                } else {
                    n.to_string()
                }
            })),
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            c => out.push(c),
        }
    }
    out
}

/// parse_url(url, part[, key]): HOST, PATH, QUERY (or one key of it), REF, PROTOCOL,
/// AUTHORITY, FILE, USERINFO.
fn parse_url(a: &[Value]) -> Value {
    let (Value::Str(url), Value::Str(part)) = (&a[0], &a[1]) else {
        return Value::Null;
    };
    let Some((protocol, rest)) = url.split_once("://") else {
        return Value::Null;
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (authority, file) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        },
    };
    let (path, query) = match file.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (file, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = hostport.split(':').next().unwrap_or("");
    let out = match part.as_ref() {
        "HOST" => Some(host),
        "PATH" => Some(path),
        "QUERY" => match (query, a.get(2)) {
            (Some(q), Some(Value::Str(key))) => q
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| k == &&**key)
                .map(|(_, v)| v),
            (Some(_), Some(_)) => None,
            (q, None) => q,
            (None, Some(_)) => None,
        },
        "REF" => fragment,
        "PROTOCOL" => Some(protocol),
        "AUTHORITY" => Some(authority),
        "FILE" => Some(file),
        "USERINFO" => userinfo,
        _ => None,
    };
    out.map_or(Value::Null, Value::str)
}

/// get_json_object(json, '$.a.b[0]'): the value at the path; text without quotes, objects and
/// arrays as JSON.
fn get_json_object(a: &[Value]) -> Value {
    let (Value::Str(json), Value::Str(path)) = (&a[0], &a[1]) else {
        return Value::Null;
    };
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Value::Null;
    };
    let Some(mut rest) = path.strip_prefix('$') else {
        return Value::Null;
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = match v.get(&r[..end]) {
                Some(x) => x.clone(),
                None => return Value::Null,
            };
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Value::Null;
            };
            let Ok(i) = r[..end].trim().parse::<usize>() else {
                return Value::Null;
            };
            v = match v.get(i) {
                Some(x) => x.clone(),
                None => return Value::Null,
            };
            rest = &r[end + 1..];
        } else {
            return Value::Null;
        }
    }
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::String(s) => Value::from(s),
        other => Value::from(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[Value]) -> Value {
        let f = lookup(name).unwrap();
        let cast: Vec<Value> = args.iter().zip(f.params).map(|(v, t)| v.cast(t)).collect();
        (f.eval)(&cast)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    const N: Value = Value::Null;

    fn close(v: Value, want: f64) {
        let Value::Double(d) = v else {
            panic!("{v:?} is not a double")
        };
        assert!((d - want).abs() < 1e-9, "{d} != {want}");
    }

    #[test]
    fn math() {
        close(call("exp", &[0.into()]), 1.0);
        close(call("ln", &[std::f64::consts::E.into()]), 1.0);
        assert_eq!(call("ln", &[0.into()]), N);
        close(call("log10", &[1000.into()]), 3.0);
        close(call("log2", &[8.into()]), 3.0);
        close(call("log", &[2.into(), 1024.into()]), 10.0);
        assert_eq!(call("log", &[1.into(), 5.into()]), N);
        close(call("pow", &[2.into(), 10.into()]), 1024.0);
        close(call("power", &[4.into(), 0.5.into()]), 2.0);
        close(call("sqrt", &[16.into()]), 4.0);
        assert_eq!(call("sqrt", &[(-1).into()]), N);
        close(call("sin", &[0.into()]), 0.0);
        close(call("cos", &[0.into()]), 1.0);
        assert_eq!(call("asin", &[2.into()]), N);
        close(call("acos", &[1.into()]), 0.0);
        assert_eq!(call("exp", &[N]), N);
        assert_eq!(call("bin", &[13.into()]), s("1101"));
        assert_eq!(hex(&Value::Int(255)), s("FF"));
        assert_eq!(hex(&Value::Int(-1)), s("FFFFFFFFFFFFFFFF"));
        assert_eq!(hex(&s("255")), s("323535"));
        assert_eq!(hex(&s("ab")), s("6162"));
        assert_eq!(hex(&N), N);
        assert_eq!(negative(&Value::Int(3)), Value::Int(-3));
        assert_eq!(negative(&Value::Int(i64::MIN)), Value::Int(i64::MIN));
        assert_eq!(negative(&Value::Double(2.5)), Value::Double(-2.5));
        assert_eq!(negative(&N), N);
        assert_eq!(call("conv", &[s("ff"), 16.into(), 10.into()]), s("255"));
        assert_eq!(
            call("conv", &[s("255"), 10.into(), 2.into()]),
            s("11111111")
        );
        assert_eq!(
            call("conv", &[s("-1"), 10.into(), 16.into()]),
            s("FFFFFFFFFFFFFFFF")
        );
        assert_eq!(call("conv", &[s("-10"), 10.into(), (-10).into()]), s("-10"));
        assert_eq!(call("conv", &[s("zz"), 10.into(), 2.into()]), N);
        let Value::Double(r) = call("rand", &[]) else {
            panic!()
        };
        assert!((0.0..1.0).contains(&r));
        let seeded = |_: ()| -> Vec<Value> {
            RAND.with(|r| r.borrow_mut().remove(&Some(7)));
            (0..3).map(|_| call("rand", &[7.into()])).collect()
        };
        assert_eq!(seeded(()), seeded(()), "rand(seed) repeats its sequence");
    }

    #[test]
    fn dates() {
        assert_eq!(
            call("to_date", &[s("2024-02-29 10:11:12")]),
            s("2024-02-29")
        );
        assert_eq!(call("to_date", &[s("nope")]), N);
        assert_eq!(call("year", &[s("2024-02-29 10:11:12")]), 2024.into());
        assert_eq!(call("month", &[s("2024-02-29")]), 2.into());
        assert_eq!(call("day", &[s("2024-02-29")]), 29.into());
        assert_eq!(call("hour", &[s("2024-02-29 10:11:12")]), 10.into());
        assert_eq!(call("minute", &[s("10:11:12")]), 11.into());
        assert_eq!(call("second", &[s("2024-02-29 10:11:12.5")]), 12.into());
        assert_eq!(call("weekofyear", &[s("2024-01-01")]), 1.into());
        assert_eq!(call("weekofyear", &[s("2023-01-01")]), 52.into());
        assert_eq!(
            call("datediff", &[s("2024-03-01"), s("2024-02-28 23:00:00")]),
            2.into()
        );
        assert_eq!(
            call("date_add", &[s("2024-02-28"), 2.into()]),
            s("2024-03-01")
        );
        assert_eq!(
            call("date_sub", &[s("2024-03-01 08:00:00"), 1.into()]),
            s("2024-02-29")
        );
        assert_eq!(call("date_add", &[N, 1.into()]), N);
        assert_eq!(call("hour", &[s("xx")]), N);
    }

    #[test]
    fn strings() {
        assert_eq!(call("reverse", &[s("abc")]), s("cba"));
        assert_eq!(call("space", &[3.into()]), s("   "));
        assert_eq!(call("repeat", &[s("ab"), 3.into()]), s("ababab"));
        assert_eq!(call("repeat", &[s("ab"), (-1).into()]), s(""));
        assert_eq!(call("ascii", &[s("A")]), 65.into());
        assert_eq!(call("ascii", &[s("")]), 0.into());
        assert_eq!(call("find_in_set", &[s("b"), s("a,b,c")]), 2.into());
        assert_eq!(call("find_in_set", &[s("d"), s("a,b,c")]), 0.into());
        assert_eq!(call("find_in_set", &[s("a,b"), s("a,b,c")]), 0.into());
        assert_eq!(call("find_in_set", &[N, s("a")]), N);
        assert_eq!(
            call("regexp_replace", &[s("foobar"), s("oo|ar"), s("")]),
            s("fb")
        );
        assert_eq!(
            call(
                "regexp_replace",
                &[s("2024-01-02"), s("(\\d+)-(\\d+)-(\\d+)"), s("$3/$2/$1")]
            ),
            s("02/01/2024")
        );
        assert_eq!(call("regexp_replace", &[s("x"), s("("), s("")]), N);
        assert_eq!(
            call(
                "regexp_extract",
                &[s("foothebar"), s("foo(.*?)(bar)"), 2.into()]
            ),
            s("bar")
        );
        assert_eq!(
            call("regexp_extract", &[s("foothebar"), s("foo(.*?)(bar)")]),
            s("the")
        );
        assert_eq!(call("regexp_extract", &[s("zzz"), s("foo(.*)")]), s(""));
        assert_eq!(
            call("regexp_extract", &[s("foo"), s("foo(.*)"), 5.into()]),
            N
        );
    }

    #[test]
    fn urls_and_json() {
        let url = s("http://user@facebook.com:80/path/p1.php?query=1&k2=v2#Ref1");
        assert_eq!(
            call("parse_url", &[url.clone(), s("HOST")]),
            s("facebook.com")
        );
        assert_eq!(
            call("parse_url", &[url.clone(), s("PATH")]),
            s("/path/p1.php")
        );
        assert_eq!(
            call("parse_url", &[url.clone(), s("QUERY")]),
            s("query=1&k2=v2")
        );
        assert_eq!(
            call("parse_url", &[url.clone(), s("QUERY"), s("k2")]),
            s("v2")
        );
        assert_eq!(call("parse_url", &[url.clone(), s("QUERY"), s("k9")]), N);
        assert_eq!(call("parse_url", &[url.clone(), s("REF")]), s("Ref1"));
        assert_eq!(call("parse_url", &[url.clone(), s("PROTOCOL")]), s("http"));
        assert_eq!(
            call("parse_url", &[url.clone(), s("AUTHORITY")]),
            s("user@facebook.com:80")
        );
        assert_eq!(
            call("parse_url", &[url.clone(), s("FILE")]),
            s("/path/p1.php?query=1&k2=v2")
        );
        assert_eq!(call("parse_url", &[url, s("USERINFO")]), s("user"));
        assert_eq!(call("parse_url", &[s("not a url"), s("HOST")]), N);
        let json =
            s(r#"{"store":{"fruit":[{"weight":8,"type":"apple"}],"open":true},"owner":"amy"}"#);
        assert_eq!(
            call("get_json_object", &[json.clone(), s("$.owner")]),
            s("amy")
        );
        assert_eq!(
            call(
                "get_json_object",
                &[json.clone(), s("$.store.fruit[0].type")]
            ),
            s("apple")
        );
        assert_eq!(
            call(
                "get_json_object",
                &[json.clone(), s("$.store.fruit[0].weight")]
            ),
            s("8")
        );
        assert_eq!(
            call("get_json_object", &[json.clone(), s("$.store.open")]),
            s("true")
        );
        assert_eq!(
            call("get_json_object", &[json.clone(), s("$.store.fruit[0]")]),
            s(r#"{"type":"apple","weight":8}"#)
        );
        assert_eq!(call("get_json_object", &[json.clone(), s("$.nope")]), N);
        assert_eq!(call("get_json_object", &[s("{bad"), s("$.a")]), N);
        assert_eq!(call("get_json_object", &[json, s("owner")]), N);
    }
}
