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

/// A unit of Flink's `TIMESTAMPADD`, `TIMESTAMPDIFF` and `INTERVAL 'n' unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeUnit {
    /// The unit a name (`SECOND`, `seconds`, `SQL_TSI_MINUTE`, ...) says.
    pub fn parse(name: &str) -> Option<TimeUnit> {
        let n = name.to_ascii_uppercase();
        let n = n.strip_prefix("SQL_TSI_").unwrap_or(&n);
        Some(match n.strip_suffix('S').unwrap_or(n) {
            "SECOND" => TimeUnit::Second,
            "MINUTE" => TimeUnit::Minute,
            "HOUR" => TimeUnit::Hour,
            "DAY" => TimeUnit::Day,
            "WEEK" => TimeUnit::Week,
            "MONTH" => TimeUnit::Month,
            "QUARTER" => TimeUnit::Quarter,
            "YEAR" => TimeUnit::Year,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Second => "SECOND",
            TimeUnit::Minute => "MINUTE",
            TimeUnit::Hour => "HOUR",
            TimeUnit::Day => "DAY",
            TimeUnit::Week => "WEEK",
            TimeUnit::Month => "MONTH",
            TimeUnit::Quarter => "QUARTER",
            TimeUnit::Year => "YEAR",
        }
    }

    /// Milliseconds of a unit of fixed length (`None`: MONTH, QUARTER, YEAR).
    pub fn fixed_ms(self) -> Option<i64> {
        self.length().ok()
    }

    /// Milliseconds of a unit of fixed length; months of a calendar unit as `Err`.
    fn length(self) -> Result<i64, u32> {
        match self {
            TimeUnit::Second => Ok(1_000),
            TimeUnit::Minute => Ok(60_000),
            TimeUnit::Hour => Ok(3_600_000),
            TimeUnit::Day => Ok(86_400_000),
            TimeUnit::Week => Ok(7 * 86_400_000),
            TimeUnit::Month => Err(1),
            TimeUnit::Quarter => Err(3),
            TimeUnit::Year => Err(12),
        }
    }
}

/// `t` moved by `n` units; a month step keeps the day, or takes the month's last when it has
/// fewer (Jan 31 + 1 month is Feb 28 or 29), as Flink does. `None` past chrono's range.
pub fn add_units(t: NaiveDateTime, unit: TimeUnit, n: i64) -> Option<NaiveDateTime> {
    match unit.length() {
        Ok(ms) => t.checked_add_signed(chrono::TimeDelta::try_milliseconds(n.checked_mul(ms)?)?),
        Err(months) => {
            let m = n.checked_mul(months as i64)?;
            let step = chrono::Months::new(u32::try_from(m.unsigned_abs()).ok()?);
            if m >= 0 {
                t.checked_add_months(step)
            } else {
                t.checked_sub_months(step)
            }
        }
    }
}

/// Whole units from `a` to `b`, negative when `b` is earlier, truncated toward zero (Flink's
/// `TIMESTAMPDIFF`): a month counts once the same day and time of the next month is reached.
pub fn diff_units(a: NaiveDateTime, b: NaiveDateTime, unit: TimeUnit) -> i64 {
    use chrono::Datelike;
    match unit.length() {
        Ok(ms) => (b - a).num_milliseconds() / ms,
        Err(months) => {
            let mut m =
                (b.year() as i64 - a.year() as i64) * 12 + b.month() as i64 - a.month() as i64;
            // Not a whole month yet when the rest of `b` (day, time) is short of `a`'s.
            let rest = |t: NaiveDateTime| (t.day(), t.time());
            if m > 0 && rest(b) < rest(a) {
                m -= 1;
            } else if m < 0 && rest(b) > rest(a) {
                m += 1;
            }
            m / months as i64
        }
    }
}

/// A TIMESTAMP(3) value's text, as Flink shows it: `yyyy-MM-dd HH:mm:ss.SSS`.
pub fn timestamp_text(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
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

    #[test]
    fn timestamps_move_and_differ_by_units_as_in_flink() {
        let t = |s: &str| parse_timestamp(s).unwrap();
        let add = |s: &str, u: &str, n: i64| {
            timestamp_text(&add_units(t(s), TimeUnit::parse(u).unwrap(), n).unwrap())
        };
        assert_eq!(
            add("2026-12-06 10:00:00", "SECOND", 90),
            "2026-12-06 10:01:30.000"
        );
        assert_eq!(
            add("2026-12-06 10:00:00.250", "minute", -5),
            "2026-12-06 09:55:00.250"
        );
        assert_eq!(
            add("2026-12-31 23:00:00", "HOUR", 2),
            "2027-01-01 01:00:00.000"
        );
        assert_eq!(add("2026-12-06", "WEEK", 1), "2026-12-13 00:00:00.000");
        assert_eq!(
            add("2026-01-31 08:00:00", "MONTH", 1),
            "2026-02-28 08:00:00.000"
        );
        assert_eq!(
            add("2028-01-31 08:00:00", "MONTH", 1),
            "2028-02-29 08:00:00.000"
        );
        assert_eq!(
            add("2026-05-15 00:00:00", "QUARTER", -2),
            "2025-11-15 00:00:00.000"
        );
        assert_eq!(
            add("2024-02-29 00:00:00", "SQL_TSI_YEAR", 1),
            "2025-02-28 00:00:00.000"
        );
        let diff = |a: &str, b: &str, u: &str| diff_units(t(a), t(b), TimeUnit::parse(u).unwrap());
        assert_eq!(
            diff("2026-12-06 10:00:00", "2026-12-06 10:01:59.999", "SECOND"),
            119
        );
        assert_eq!(
            diff("2026-12-06 10:01:59.999", "2026-12-06 10:00:00", "SECOND"),
            -119
        );
        assert_eq!(
            diff("2026-12-06 10:00:00", "2026-12-06 10:59:59", "MINUTE"),
            59
        );
        assert_eq!(diff("2026-12-06 10:00:00", "2026-12-08 09:59:59", "DAY"), 1);
        assert_eq!(
            diff("2026-01-31 00:00:00", "2026-02-28 00:00:00", "MONTH"),
            0
        );
        assert_eq!(
            diff("2026-01-15 00:00:00", "2026-02-15 00:00:00", "MONTH"),
            1
        );
        assert_eq!(
            diff("2026-03-15 12:00:00", "2026-01-15 12:00:01", "MONTH"),
            -1
        );
        assert_eq!(
            diff("2026-01-01 00:00:00", "2026-12-31 00:00:00", "YEAR"),
            0
        );
        assert_eq!(
            diff("2024-02-29 00:00:00", "2026-03-01 00:00:00", "YEAR"),
            2
        );
        assert_eq!(
            diff("2026-01-01 00:00:00", "2026-07-01 00:00:00", "QUARTER"),
            2
        );
        assert_eq!(TimeUnit::parse("FORTNIGHT"), None);
    }

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
