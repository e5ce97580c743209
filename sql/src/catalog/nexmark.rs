//! Flink's `nexmark` connector: the Nexmark benchmark's auction events, checked against the
//! table's columns (Flink's nexmark DDL: `event_type INT` and one `ROW<...>` per kind of event,
//! any of their fields, in any order).

use super::{check_keys_owned, parse_bool, parse_num, CatalogResult, SourceConfig};
use crate::bind::settings::parse_duration_ms;
use crate::expr::date::parse_timestamp;
use crate::job::TableDesc;
use crate::types::DataType;

/// One kind of event: person (`event_type` 0), auction (1) or bid (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NexmarkKind {
    Person,
    Auction,
    Bid,
}

impl NexmarkKind {
    /// The `event_type` value of this kind, and the column Flink's DDL names it by.
    pub fn code(self) -> i64 {
        self as i64
    }

    fn column(self) -> &'static str {
        match self {
            NexmarkKind::Person => "person",
            NexmarkKind::Auction => "auction",
            NexmarkKind::Bid => "bid",
        }
    }

    /// The fields of this kind's ROW, as Flink's nexmark model has them: a BIGINT, a string
    /// or a TIMESTAMP(3) (kept as its text).
    pub fn fields(self) -> &'static [(&'static str, NexmarkType)] {
        use NexmarkType::*;
        match self {
            NexmarkKind::Person => &[
                ("id", Bigint),
                ("name", Text),
                ("emailAddress", Text),
                ("creditCard", Text),
                ("city", Text),
                ("state", Text),
                ("dateTime", Timestamp),
                ("extra", Text),
            ],
            NexmarkKind::Auction => &[
                ("id", Bigint),
                ("itemName", Text),
                ("description", Text),
                ("initialBid", Bigint),
                ("reserve", Bigint),
                ("dateTime", Timestamp),
                ("expires", Timestamp),
                ("seller", Bigint),
                ("category", Bigint),
                ("extra", Text),
            ],
            NexmarkKind::Bid => &[
                ("auction", Bigint),
                ("bidder", Bigint),
                ("price", Bigint),
                ("channel", Text),
                ("url", Text),
                ("dateTime", Timestamp),
                ("extra", Text),
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NexmarkType {
    Bigint,
    Text,
    Timestamp,
}

/// What a column of a `nexmark` table holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NexmarkColumn {
    /// `event_type`: 0 person, 1 auction, 2 bid.
    EventType,
    /// The ROW of one kind (NULL in the other kinds' rows): the index of each of its declared
    /// fields in [`NexmarkKind::fields`].
    Event {
        kind: NexmarkKind,
        fields: Vec<usize>,
    },
}

/// The rate of events over time (`rate.shape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateShape {
    Square,
    Sine,
}

/// A `nexmark` table: Flink's nexmark options, and which event fields each column holds.
#[derive(Clone, Debug, PartialEq)]
pub struct NexmarkConfig {
    /// `events.num`; `None` (Flink's 0): endless.
    pub events: Option<u64>,
    pub first_rate: u64,
    pub next_rate: u64,
    pub rate_shape: RateShape,
    pub rate_period_s: u64,
    /// `rate.limited`: emit at the rate instead of as fast as the job reads.
    pub rate_limited: bool,
    pub person_proportion: u64,
    pub auction_proportion: u64,
    pub bid_proportion: u64,
    pub avg_person_bytes: u64,
    pub avg_auction_bytes: u64,
    pub avg_bid_bytes: u64,
    pub hot_auction_ratio: u64,
    pub hot_bidder_ratio: u64,
    pub hot_seller_ratio: u64,
    /// The first event's time in epoch ms (tally's `base-time`).
    pub base_time_ms: i64,
    pub columns: Vec<NexmarkColumn>,
}

/// The first event's time unless `base-time` says otherwise: a fixed instant, so a job gives
/// the same events in every run and after a restart (Flink's generator starts at the wall
/// clock).
pub const DEFAULT_BASE_TIME: &str = "2026-01-01 00:00:00";

const OPTIONS: &[&str] = &[
    "events.num",
    "first-event.rate",
    "next-event.rate",
    "rate.shape",
    "rate.period",
    "rate.limited",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
    "person.avg-size",
    "auction.avg-size",
    "bid.avg-size",
    "bid.hot-ratio.auctions",
    "bid.hot-ratio.bidders",
    "auction.hot-ratio.sellers",
    "base-time",
];

pub(super) fn nexmark_source(t: &TableDesc) -> CatalogResult<SourceConfig> {
    let keys: Vec<String> = OPTIONS.iter().map(|k| format!("nexmark.{k}")).collect();
    check_keys_owned(t, &keys)?;
    let opt = |k: &str| format!("nexmark.{k}");
    let positive = |k: &str, default: u64| -> CatalogResult<u64> {
        let v: u64 = parse_num(t, &opt(k))?.unwrap_or(default);
        if v == 0 {
            let pos = t.get(&opt(k)).map_or(t.pos, |s| s.pos);
            return Err((pos, format!("'{k}' must be above 0")));
        }
        Ok(v)
    };
    let events = parse_num::<u64>(t, &opt("events.num"))?.filter(|n| *n > 0);
    let rate_shape = match t.get(&opt("rate.shape")) {
        None => RateShape::Square,
        Some(s) => match s.value.to_ascii_lowercase().as_str() {
            "square" => RateShape::Square,
            "sine" => RateShape::Sine,
            _ => {
                return Err((
                    s.pos,
                    format!("'rate.shape' = '{}': square or sine", s.value),
                ))
            }
        },
    };
    let rate_period_s = match t.get(&opt("rate.period")) {
        None => 600,
        Some(s) => {
            let ms = parse_duration_ms(&s.value)
                .map_err(|why| (s.pos, format!("'rate.period' {why}")))?;
            (ms / 1000).max(1)
        }
    };
    let size = |k: &str, default: u64| -> CatalogResult<u64> {
        let Some(s) = t.get(&opt(k)) else {
            return Ok(default);
        };
        let v = s.value.trim().to_ascii_lowercase();
        let (digits, per) = if let Some(n) = v.strip_suffix("kb") {
            (n, 1024)
        } else if let Some(n) = v.strip_suffix('b') {
            (n, 1)
        } else {
            (v.as_str(), 1)
        };
        match digits.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n * per),
            _ => Err((
                s.pos,
                format!("'{k}' must be a size such as `200b`, found `{}`", s.value),
            )),
        }
    };
    let base_time_ms = match t.get(&opt("base-time")) {
        None => base_ms(DEFAULT_BASE_TIME).expect("a valid default"),
        Some(s) => s
            .value
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| base_ms(&s.value))
            .ok_or_else(|| {
                (
                    s.pos,
                    format!(
                        "'base-time' must be epoch milliseconds or a UTC time such as `{}`, \
                         found `{}`",
                        DEFAULT_BASE_TIME, s.value
                    ),
                )
            })?,
    };
    Ok(SourceConfig::Nexmark(Box::new(NexmarkConfig {
        events,
        first_rate: positive("first-event.rate", 10_000)?,
        next_rate: positive("next-event.rate", 10_000)?,
        rate_shape,
        rate_period_s,
        rate_limited: parse_bool(t, &opt("rate.limited"))?,
        person_proportion: positive("person.proportion", 1)?,
        auction_proportion: positive("auction.proportion", 3)?,
        bid_proportion: positive("bid.proportion", 46)?,
        avg_person_bytes: size("person.avg-size", 200)?,
        avg_auction_bytes: size("auction.avg-size", 500)?,
        avg_bid_bytes: size("bid.avg-size", 100)?,
        hot_auction_ratio: positive("bid.hot-ratio.auctions", 2)?,
        hot_bidder_ratio: positive("bid.hot-ratio.bidders", 4)?,
        hot_seller_ratio: positive("auction.hot-ratio.sellers", 4)?,
        base_time_ms,
        columns: columns(t)?,
    })))
}

fn base_ms(text: &str) -> Option<i64> {
    parse_timestamp(text.trim()).map(|t| t.and_utc().timestamp_millis())
}

/// Each declared column: `event_type`, or `person` / `auction` / `bid` as a ROW of some of
/// that event's fields with their types.
fn columns(t: &TableDesc) -> CatalogResult<Vec<NexmarkColumn>> {
    if t.schema.is_empty() {
        return Err((
            t.pos,
            format!(
                "nexmark table `{}` needs its columns: `event_type INT` and `person`, `auction`, \
                 `bid` ROWs, as in Flink's nexmark DDL",
                t.name
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, f) in t.schema.fields.iter().enumerate() {
        let pos = t.decls.get(i).map_or(t.pos, |d| d.pos);
        let kind = [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid]
            .into_iter()
            .find(|k| f.name.eq_ignore_ascii_case(k.column()));
        let column = match kind {
            None if f.name.eq_ignore_ascii_case("event_type") => {
                if f.ty != DataType::Int {
                    return Err((pos, "`event_type` is an INT column".to_string()));
                }
                NexmarkColumn::EventType
            }
            None => {
                return Err((
                    pos,
                    format!(
                        "a nexmark table has the columns event_type, person, auction and bid, \
                         not `{}`",
                        f.name
                    ),
                ))
            }
            Some(kind) => {
                let DataType::Struct(declared) = &f.ty else {
                    return Err((
                        pos,
                        format!("`{}` is a ROW of the {} fields", f.name, kind.column()),
                    ));
                };
                let known = kind.fields();
                let mut fields = Vec::new();
                for (name, ty) in declared {
                    let Some(at) = known.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))
                    else {
                        let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                        return Err((
                            pos,
                            format!(
                                "a nexmark {} has no field `{name}`; its fields: {}",
                                kind.column(),
                                names.join(", ")
                            ),
                        ));
                    };
                    let want = match known[at].1 {
                        NexmarkType::Bigint => DataType::Int,
                        NexmarkType::Text | NexmarkType::Timestamp => DataType::String,
                    };
                    if *ty != want {
                        let written = match known[at].1 {
                            NexmarkType::Bigint => "BIGINT",
                            NexmarkType::Text => "VARCHAR",
                            NexmarkType::Timestamp => "TIMESTAMP(3)",
                        };
                        return Err((
                            pos,
                            format!(
                                "the nexmark {} field `{name}` is {written}, not {ty}",
                                kind.column()
                            ),
                        ));
                    }
                    fields.push(at);
                }
                NexmarkColumn::Event { kind, fields }
            }
        };
        out.push(column);
    }
    Ok(out)
}
