//! Flink's `nexmark` source: the Nexmark benchmark's person, auction and bid events, made by
//! the `nexmark` crate's generator (the port of the Java generator Flink's nexmark connector
//! runs).
//!
//! Event `i` of the table is the same at any worker count: its fields are seeded by its number
//! and its time follows from the rate. The events are cut into blocks dealt to the workers in
//! turn, as the other generators are (block `b` is epoch `b`); within a block the event times
//! rise. Each row is `event_type` and one ROW per kind of event, NULL but for its own kind, as
//! Flink's nexmark DDL declares the table.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use nexmark::event::Event;
use nexmark::EventGenerator;
use tally_sql::catalog::{NexmarkColumn, NexmarkConfig, NexmarkKind, RateShape};
use tally_sql::{DataType, Row, Schema, Value};

use crate::generator::Blocks;
use crate::{ConnectorError, Metrics, Poll, Position, Source, WorkerInfo};

/// One column as the source fills it: `event_type`, or a kind's ROW with the names of its
/// declared fields and which event field each is.
enum Column {
    EventType,
    Event {
        kind: NexmarkKind,
        fields: Vec<(Arc<str>, usize)>,
    },
}

/// One worker's share of a `nexmark` table.
pub struct NexmarkSource {
    generator: EventGenerator,
    columns: Vec<Column>,
    blocks: Blocks,
    metrics: Arc<Metrics>,
}

impl NexmarkSource {
    pub fn new(
        config: &NexmarkConfig,
        schema: &Schema,
        worker: WorkerInfo,
        chunk_rows: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let columns = config
            .columns
            .iter()
            .zip(&schema.fields)
            .map(|(c, f)| match c {
                NexmarkColumn::EventType => Column::EventType,
                NexmarkColumn::Event { kind, fields } => {
                    let names: Vec<Arc<str>> = match &f.ty {
                        DataType::Struct(declared) => declared
                            .iter()
                            .map(|(n, _)| Arc::from(n.as_str()))
                            .collect(),
                        _ => Vec::new(),
                    };
                    Column::Event {
                        kind: *kind,
                        fields: names.into_iter().zip(fields.iter().copied()).collect(),
                    }
                }
            })
            .collect();
        let rate = config.rate_limited.then_some(config.first_rate as f64);
        NexmarkSource {
            generator: EventGenerator::new(generator_config(config)),
            columns,
            blocks: Blocks::new(config.events, rate, worker, chunk_rows),
            metrics,
        }
    }

    /// Makes block `self.blocks.next` into `out`.
    fn make(&self, out: &mut Vec<Row>) -> u64 {
        let b = self.blocks.next;
        let n = self.blocks.rows_in(b);
        let first = b * self.blocks.rows;
        out.reserve(n as usize);
        let events = self.generator.clone().with_offset(first).take(n as usize);
        for event in events {
            out.push(self.columns.iter().map(|c| column(c, &event)).collect());
        }
        n
    }
}

/// The crate's generator settings for a table's options (one generator: every worker makes
/// its blocks of the one sequence of events).
fn generator_config(c: &NexmarkConfig) -> nexmark::config::NexmarkConfig {
    let n = |v: u64| v as usize;
    nexmark::config::NexmarkConfig {
        first_rate: n(c.first_rate),
        next_rate: n(c.next_rate),
        rate_shape: match c.rate_shape {
            RateShape::Square => nexmark::config::RateShape::Square,
            RateShape::Sine => nexmark::config::RateShape::Sine,
        },
        rate_period: n(c.rate_period_s),
        person_proportion: n(c.person_proportion),
        auction_proportion: n(c.auction_proportion),
        bid_proportion: n(c.bid_proportion),
        avg_person_byte_size: n(c.avg_person_bytes),
        avg_auction_byte_size: n(c.avg_auction_bytes),
        avg_bid_byte_size: n(c.avg_bid_bytes),
        hot_auction_ratio: n(c.hot_auction_ratio),
        hot_bidder_ratio: n(c.hot_bidder_ratio),
        hot_seller_ratio: n(c.hot_seller_ratio),
        base_time: c.base_time_ms.max(0) as u64,
        num_event_generators: 1,
        // The words of Flink's (Java) generator, which the crate writes in lower case: Flink's
        // q3 looks for the states `OR`, `ID` and `CA`.
        us_states: words("AZ,CA,ID,OR,WA,WY"),
        us_cities: words(
            "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne",
        ),
        first_names: words("Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter"),
        last_names: words("Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris"),
        ..Default::default()
    }
}

fn words(list: &str) -> Vec<String> {
    list.split(',').map(String::from).collect()
}

fn column(c: &Column, event: &Event) -> Value {
    match c {
        Column::EventType => Value::Int(match event {
            Event::Person(_) => NexmarkKind::Person.code(),
            Event::Auction(_) => NexmarkKind::Auction.code(),
            Event::Bid(_) => NexmarkKind::Bid.code(),
        }),
        Column::Event { kind, fields } => {
            let value = |i: usize| field(*kind, event, i);
            match (kind, event) {
                (NexmarkKind::Person, Event::Person(_))
                | (NexmarkKind::Auction, Event::Auction(_))
                | (NexmarkKind::Bid, Event::Bid(_)) => Value::Struct(
                    fields
                        .iter()
                        .map(|(name, i)| (name.clone(), value(*i).unwrap_or(Value::Null)))
                        .collect(),
                ),
                _ => Value::Null,
            }
        }
    }
}

/// Field `i` of [`NexmarkKind::fields`] of `event` (`None` when `event` is another kind).
fn field(kind: NexmarkKind, event: &Event, i: usize) -> Option<Value> {
    let int = |v: usize| Value::Int(v as i64);
    let text = |s: &str| Value::str(s);
    let time = |ms: u64| timestamp(ms as i64);
    Some(match (kind, event) {
        (NexmarkKind::Person, Event::Person(p)) => match i {
            0 => int(p.id),
            1 => text(&p.name),
            2 => text(&p.email_address),
            3 => text(&p.credit_card),
            4 => text(&p.city),
            5 => text(&p.state),
            6 => time(p.date_time),
            _ => text(&p.extra),
        },
        (NexmarkKind::Auction, Event::Auction(a)) => match i {
            0 => int(a.id),
            1 => text(&a.item_name),
            2 => text(&a.description),
            3 => int(a.initial_bid),
            4 => int(a.reserve),
            5 => time(a.date_time),
            6 => time(a.expires),
            7 => int(a.seller),
            8 => int(a.category),
            _ => text(&a.extra),
        },
        (NexmarkKind::Bid, Event::Bid(b)) => match i {
            0 => int(b.auction),
            1 => int(b.bidder),
            2 => int(b.price),
            3 => text(&b.channel),
            4 => text(&b.url),
            5 => time(b.date_time),
            _ => text(&b.extra),
        },
        _ => return None,
    })
}

/// Epoch milliseconds as TIMESTAMP(3) text in UTC (`2026-01-01 00:00:00.000`), as Flink's
/// nexmark source makes its TIMESTAMP(3) fields: 23 bytes, held inline by the value.
pub fn timestamp(ms: i64) -> Value {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return Value::Null;
    }
    let mut buf = *b"0000-00-00 00:00:00.000";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for k in (0..width).rev() {
            buf[at + k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1000 % 60);
    put(20, 3, in_day % 1000);
    Value::str(std::str::from_utf8(&buf).expect("ASCII digits"))
}

impl Source for NexmarkSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        let epoch = match self.blocks.due_block() {
            Ok(block) => block,
            Err(poll) => return Ok(poll),
        };
        let n = self.make(out);
        self.blocks.next += 1;
        self.metrics.rows_in.fetch_add(n, Ordering::Relaxed);
        Ok(Poll::Batch { epoch })
    }

    fn next_epoch(&self) -> u64 {
        self.blocks.next_epoch()
    }

    fn position(&self) -> Position {
        Position::Epoch
    }

    /// Skips the blocks before `epoch` (they are in the restored state).
    fn resume(&mut self, epoch: u64, _positions: &[Position]) -> Result<(), ConnectorError> {
        self.blocks.resume(epoch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use tally_sql::catalog::NexmarkType;
    use tally_sql::Field;

    /// A table of `event_type`, and the bid and person ROWs with some of their fields in
    /// another order than Flink's (the auction column left out).
    fn table() -> (NexmarkConfig, Schema) {
        let row = |kind: NexmarkKind, names: &[&str]| {
            let fields: Vec<usize> = names
                .iter()
                .map(|n| kind.fields().iter().position(|(f, _)| f == n).unwrap())
                .collect();
            let ty = DataType::Struct(
                fields
                    .iter()
                    .map(|&i| {
                        let (name, t) = kind.fields()[i];
                        let t = match t {
                            NexmarkType::Bigint => DataType::Int,
                            _ => DataType::String,
                        };
                        (name.to_string(), t)
                    })
                    .collect(),
            );
            (NexmarkColumn::Event { kind, fields }, ty)
        };
        let (bid, bid_ty) = row(NexmarkKind::Bid, &["price", "auction", "dateTime", "url"]);
        let (person, person_ty) = row(NexmarkKind::Person, &["name", "id", "state"]);
        let config = NexmarkConfig {
            events: Some(1_000),
            first_rate: 1_000,
            next_rate: 1_000,
            rate_shape: RateShape::Square,
            rate_period_s: 600,
            rate_limited: false,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            hot_auction_ratio: 2,
            hot_bidder_ratio: 4,
            hot_seller_ratio: 4,
            base_time_ms: 1_767_225_600_000,
            columns: vec![NexmarkColumn::EventType, bid, person],
        };
        let schema = Schema::new(vec![
            Field {
                name: "event_type".into(),
                ty: DataType::Int,
            },
            Field {
                name: "bid".into(),
                ty: bid_ty,
            },
            Field {
                name: "person".into(),
                ty: person_ty,
            },
        ]);
        (config, schema)
    }

    /// Every row of the table at `peers` workers, by event number.
    fn rows(peers: usize) -> Vec<Row> {
        let (config, schema) = table();
        let mut all: Vec<(u64, Row)> = Vec::new();
        for index in 0..peers {
            let mut source = NexmarkSource::new(
                &config,
                &schema,
                WorkerInfo { index, peers },
                64,
                Arc::new(Metrics::default()),
            );
            let mut buf = Vec::new();
            while let Poll::Batch { epoch } = source.poll(&mut buf).unwrap() {
                all.extend(
                    buf.drain(..)
                        .enumerate()
                        .map(|(i, r)| (epoch * 64 + i as u64, r)),
                );
            }
        }
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, r)| r).collect()
    }

    #[test]
    fn each_row_holds_the_crates_event_in_the_declared_fields_at_any_worker_count() {
        let (config, _) = table();
        let events = EventGenerator::new(generator_config(&config)).take(1_000);
        let text = |s: &str| Value::str(s);
        let want: Vec<Row> = events
            .map(|e| match e {
                Event::Person(p) => vec![
                    Value::Int(0),
                    Value::Null,
                    Value::Struct(Arc::from(vec![
                        (Arc::from("name"), text(&p.name)),
                        (Arc::from("id"), Value::Int(p.id as i64)),
                        (Arc::from("state"), text(&p.state)),
                    ])),
                ],
                Event::Auction(_) => vec![Value::Int(1), Value::Null, Value::Null],
                Event::Bid(b) => vec![
                    Value::Int(2),
                    Value::Struct(Arc::from(vec![
                        (Arc::from("price"), Value::Int(b.price as i64)),
                        (Arc::from("auction"), Value::Int(b.auction as i64)),
                        (Arc::from("dateTime"), timestamp(b.date_time as i64)),
                        (Arc::from("url"), text(&b.url)),
                    ])),
                    Value::Null,
                ],
            })
            .collect();
        assert_eq!(rows(1), want);
        assert_eq!(rows(3), want);
        // Flink's vocabulary: upper-case states.
        assert!(want.iter().any(|r| matches!(&r[2], Value::Struct(f)
            if ["AZ", "CA", "ID", "OR", "WA", "WY"].iter().any(|s| f[2].1 == Value::str(s)))));
        // The first event is at the base time, in UTC.
        assert_eq!(
            timestamp(1_767_225_600_000),
            Value::str("2026-01-01 00:00:00.000")
        );
    }

    #[test]
    fn timestamps_are_the_text_chrono_gives() {
        let mut ms = -86_400_000i64 * 400;
        while ms < 4_102_444_800_000 {
            let want = DateTime::from_timestamp_millis(ms)
                .unwrap()
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string();
            assert_eq!(timestamp(ms), Value::from(want), "at {ms}");
            ms += 86_400_000 / 7 + 12_345;
        }
    }
}
