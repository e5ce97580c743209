//! Dates with Java `SimpleDateFormat` patterns (`yyyy-MM-dd HH:mm:ss`), as Hive uses them.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};

/// The default pattern of `from_unixtime` and `unix_timestamp`.
pub const DEFAULT_PATTERN: &str = "yyyy-MM-dd HH:mm:ss";

/// A Java date pattern translated to chrono's strftime syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DateFormat {
    chrono: String,
    has_time: bool,
}

impl DateFormat {
    /// Translates a `SimpleDateFormat` pattern. Letters it does not know are kept literally.
    pub fn from_java(pattern: &str) -> DateFormat {
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = String::new();
        let mut has_time = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal text; '' is a single quote.
                if chars.get(i + 1) == Some(&'\'') {
                    out.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    push_literal(&mut out, chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            i += n;
            let spec = match (c, n) {
                ('y', 2) => "%y",
                ('y', _) => "%Y",
                ('M', 1) => "%-m",
                ('M', 2) => "%m",
                ('M', 3) => "%b",
                ('M', _) => "%B",
                ('d', 1) => "%-d",
                ('d', _) => "%d",
                ('D', _) => "%j",
                ('H', 1) | ('k', 1) => "%-H",
                ('H', _) | ('k', _) => "%H",
                ('h', 1) | ('K', 1) => "%-I",
                ('h', _) | ('K', _) => "%I",
                ('m', 1) => "%-M",
                ('m', _) => "%M",
                ('s', 1) => "%-S",
                ('s', _) => "%S",
                ('S', _) => "%3f",
                ('a', _) => "%p",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('Z', _) | ('X', _) => "%z",
                ('z', _) => "%Z",
                _ => {
                    for _ in 0..n {
                        push_literal(&mut out, c);
                    }
                    continue;
                }
            };
            if matches!(c, 'H' | 'k' | 'h' | 'K' | 'm' | 's' | 'S' | 'a') {
                has_time = true;
            }
            out.push_str(spec);
        }
        DateFormat {
            chrono: out,
            has_time,
        }
    }

    /// Formats epoch seconds in the time zone `tz`.
    pub fn format(&self, secs: i64, tz: FixedOffset) -> Option<String> {
        let utc = DateTime::from_timestamp(secs, 0)?;
        let mut s = String::new();
        use std::fmt::Write;
        write!(s, "{}", utc.with_timezone(&tz).format(&self.chrono)).ok()?;
        Some(s)
    }

    /// Formats a wall-clock time as it is (a TIMESTAMP's text already in the job's zone).
    pub fn format_naive(&self, t: &NaiveDateTime) -> Option<String> {
        let mut s = String::new();
        use std::fmt::Write;
        write!(s, "{}", t.format(&self.chrono)).ok()?;
        Some(s)
    }

    /// Parses a date in the time zone `tz` into epoch seconds. Text after the pattern is
    /// ignored, as Java's `SimpleDateFormat.parse` ignores it (`2024-03-01 12:34:56.789` with
    /// the default pattern is 12:34:56).
    pub fn parse(&self, s: &str, tz: FixedOffset) -> Option<i64> {
        let s = s.trim();
        let naive = if self.has_time {
            NaiveDateTime::parse_and_remainder(s, &self.chrono).ok()?.0
        } else {
            NaiveDate::parse_and_remainder(s, &self.chrono)
                .ok()?
                .0
                .and_hms_opt(0, 0, 0)?
        };
        Some(tz.from_local_datetime(&naive).single()?.timestamp())
    }
}

/// A TIMESTAMP's text (`yyyy-MM-dd HH:mm:ss[.fffffffff]`, also with `T`) or a DATE's
/// (`yyyy-MM-dd`, midnight), the whole text and nothing else.
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Parses a time zone setting: `UTC`, `Z`, `+08:00`, `-0530`, `UTC+8`.
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
    let t = s.trim();
    let rest = t
        .strip_prefix("UTC")
        .or_else(|| t.strip_prefix("GMT"))
        .unwrap_or(t);
    if rest.is_empty() || rest == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None if digits.len() == 4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        None => (digits.parse().ok()?, 0),
    };
    if h > 18 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    #[test]
    fn java_patterns() {
        let f = DateFormat::from_java(DEFAULT_PATTERN);
        assert_eq!(f.format(0, utc()).unwrap(), "1970-01-01 00:00:00");
        assert_eq!(
            f.format(1_700_000_000, utc()).unwrap(),
            "2023-11-14 22:13:20"
        );
        assert_eq!(f.parse("2023-11-14 22:13:20", utc()), Some(1_700_000_000));
        assert_eq!(f.parse("not a date", utc()), None);
        let d = DateFormat::from_java("yyyyMMdd");
        assert_eq!(d.format(1_700_000_000, utc()).unwrap(), "20231114");
        assert_eq!(d.parse("20231114", utc()), Some(1_699_920_000));
        let q = DateFormat::from_java("yyyy-MM-dd'T'HH:mm");
        assert_eq!(q.format(60, utc()).unwrap(), "1970-01-01T00:01");
        let pct = DateFormat::from_java("HH%mm");
        assert_eq!(pct.format(60, utc()).unwrap(), "00%01");
    }

    #[test]
    fn offsets() {
        let cn = parse_offset("+08:00").unwrap();
        assert_eq!(cn.local_minus_utc(), 8 * 3600);
        assert_eq!(parse_offset("UTC").unwrap().local_minus_utc(), 0);
        assert_eq!(
            parse_offset("-0530").unwrap().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert!(parse_offset("Mars/Olympus").is_none());
        let f = DateFormat::from_java(DEFAULT_PATTERN);
        assert_eq!(f.format(0, cn).unwrap(), "1970-01-01 08:00:00");
        assert_eq!(f.parse("1970-01-01 08:00:00", cn), Some(0));
    }
}
