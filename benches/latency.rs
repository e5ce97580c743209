//! Kafka -> tally -> Redis: the delay from a record's arrival in Kafka to its effect being
//! readable in Redis (benchmarks.md). Run by `benches/run.sh`, which starts a broker; by hand:
//!
//! `cargo bench --bench latency -- BROKERS TOPIC RATE SECONDS [FLUSH_MS]`
//!
//! Each measurement starts the release `tally` on a job that counts the topic's records into one
//! Redis hash (`table.flush.ms` = FLUSH_MS, default 20), sends records for SECONDS seconds and
//! polls the count every millisecond: when the count exceeds k, the k-th record to arrive
//! became visible then. A record's arrival is the broker's acknowledgement of it (so the
//! producer's batching and the broker's own ingest are not counted).
//!
//! RATE is records a second, sent at a steady pace; `max` sends as fast as the producer can and
//! measures the path's rate (records over the time from the first arrival to the last record
//! being visible; the broker's own ingest rate, from the acknowledgements, is printed beside
//! it); `auto` measures the maximum rate, then the delay at half of it. Prints
//! `bench=kafka_redis_max_rate records=... acked_per_s=... visible_per_s=...` and
//! `bench=kafka_redis_latency rate=... records=... p50_ms=... p99_ms=... max_ms=...`.
//! Under `cargo test` (no `--bench`) it only checks its arithmetic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

/// When the broker acknowledged each record: its arrival.
#[derive(Clone, Default)]
struct Acks(Arc<Mutex<Vec<Option<Instant>>>>);

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<usize>) {
        if result.is_ok() {
            let mut acks = self.0.lock().unwrap();
            if *seq >= acks.len() {
                acks.resize(*seq + 1, None);
            }
            acks[*seq] = Some(Instant::now());
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Record k (0-based) is visible from the first moment the count exceeded k. Records reach the
/// topic in about the order they were sent (per partition exactly), so the k-th count stands
/// for the k-th acknowledged record. Returns the delays (ms), sorted.
fn delays(arrivals: &[Instant], seen: &[(u64, Instant)]) -> Vec<f64> {
    let mut out = Vec::with_capacity(arrivals.len());
    let mut j = 0;
    for (k, at) in arrivals.iter().enumerate() {
        while j < seen.len() && seen[j].0 <= k as u64 {
            j += 1;
        }
        if j == seen.len() {
            break;
        }
        out.push(seen[j].1.saturating_duration_since(*at).as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// One run of the job: the records' arrivals (sorted) and the counts seen in Redis, with when.
struct Measured {
    sent: u64,
    arrivals: Vec<Instant>,
    seen: Vec<(u64, Instant)>,
}

/// Starts tally on a fresh hash and group, sends records for `seconds` (at `rate` a second, or
/// as fast as the producer can when `None`), and follows the count until it has them all.
fn measure(brokers: &str, topic: &str, rate: Option<u64>, seconds: u64, flush_ms: u64) -> Measured {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let hash = format!(
        "tally_latency_{}_{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(&hash);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("job.ec"),
        format!(
            "[system]\nsql=INSERT INTO out SELECT count(1) n FROM src GROUP BY 1\n\
             [tabledesc-src]\ntable.name=src\ntable.type=kafka\ntable.kafka.brokers={brokers}\n\
             table.kafka.topic={topic}\ntable.kafka.offset=latest\ntable.kafka.group={hash}\n\
             table.fields=seq,bigint,\n\
             [tabledesc-out]\ntable.name=out\ntable.type=redis\ntable.redis.hash={hash}\n\
             table.flush.ms={flush_ms}\n"
        ),
    )
    .unwrap();
    let tally = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/tally");
    let mut job = std::process::Command::new(&tally)
        .args(["run", "job.ec", "-w", "2", "--progress", "0"])
        .current_dir(&dir)
        // LATENCY_TALLY_LOG=FILE keeps tally's stderr (with RUST_LOG, its debug lines).
        .stderr(match std::env::var_os("LATENCY_TALLY_LOG") {
            Some(f) => std::fs::File::create(f).unwrap().into(),
            None => std::process::Stdio::null(),
        })
        .spawn()
        .expect("the release tally binary (cargo build --release)");
    // Let it take its partitions (offset=latest) before anything is sent.
    std::thread::sleep(Duration::from_secs(3));

    let acks = Acks::default();
    let producer: BaseProducer<Acks> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create_with_context(acks.clone())
        .unwrap();
    // How many records the reader waits for: unknown until the sending ends.
    let target = Arc::new(AtomicU64::new(u64::MAX));
    let reader = {
        let (hash, target) = (hash.clone(), target.clone());
        std::thread::spawn(move || {
            let mut r = redis::Client::open("redis://127.0.0.1:6379/")
                .unwrap()
                .get_connection()
                .unwrap();
            let mut seen: Vec<(u64, Instant)> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(seconds + 60);
            loop {
                let n: Option<u64> = redis::cmd("HGET")
                    .arg(&hash)
                    .arg("n")
                    .query(&mut r)
                    .unwrap();
                let n = n.unwrap_or(0);
                if seen.last().is_none_or(|(m, _)| n > *m) {
                    seen.push((n, Instant::now()));
                }
                if n >= target.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
            seen
        })
    };
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut seq: u64 = 0;
    loop {
        match rate {
            Some(rate) => {
                if seq >= rate * seconds {
                    break;
                }
                let due = start + Duration::from_secs_f64(seq as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            None => {
                if seq.is_multiple_of(256) && Instant::now() >= until {
                    break;
                }
            }
        }
        let payload = seq.to_string();
        let key = (seq % 64).to_string();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(seq as usize))
            .key(&key)
            .payload(&payload);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(1));
        }
        producer.poll(Duration::ZERO);
        seq += 1;
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    target.store(seq, Ordering::Relaxed);
    let seen = reader.join().unwrap();
    let _ = job.kill();
    let _ = job.wait();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut arrivals: Vec<Instant> = acks.0.lock().unwrap().iter().flatten().copied().collect();
    arrivals.sort();
    Measured {
        sent: seq,
        arrivals,
        seen,
    }
}

/// The path's maximum rate: (acknowledged per second, visible per second).
fn max_rate(brokers: &str, topic: &str, seconds: u64, flush_ms: u64) -> (f64, f64) {
    let m = measure(brokers, topic, None, seconds, flush_ms);
    let (Some(first), Some(last)) = (m.arrivals.first(), m.arrivals.last()) else {
        println!("bench=kafka_redis_max_rate records=0 (nothing was acknowledged)");
        return (f64::NAN, f64::NAN);
    };
    let acked = m.arrivals.len() as f64 / last.duration_since(*first).as_secs_f64().max(1e-9);
    let (visible_n, visible_at) = m.seen.last().copied().unwrap_or((0, *first));
    let visible = visible_n as f64 / visible_at.duration_since(*first).as_secs_f64().max(1e-9);
    let d = delays(&m.arrivals, &m.seen);
    println!(
        "bench=kafka_redis_max_rate records={} acked={} visible={visible_n} seconds={seconds} \
         flush_ms={flush_ms} acked_per_s={acked:.0} visible_per_s={visible:.0} p50_ms={:.1} \
         p99_ms={:.1}",
        m.sent,
        m.arrivals.len(),
        percentile(&d, 50.0),
        percentile(&d, 99.0),
    );
    (acked, visible)
}

fn latency_at(brokers: &str, topic: &str, rate: u64, seconds: u64, flush_ms: u64) {
    let m = measure(brokers, topic, Some(rate), seconds, flush_ms);
    let d = delays(&m.arrivals, &m.seen);
    println!(
        "bench=kafka_redis_latency rate={rate} records={} visible={} flush_ms={flush_ms} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        m.sent,
        d.len(),
        percentile(&d, 50.0),
        percentile(&d, 99.0),
        d.last().copied().unwrap_or(f64::NAN)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if !std::env::args().any(|a| a == "--bench") {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let arrivals = [ms(0), ms(10), ms(20)];
        let seen = [(1, ms(5)), (3, ms(40))];
        assert_eq!(delays(&arrivals, &seen), vec![5.0, 20.0, 30.0]);
        println!("latency: arithmetic check passed (the measurement needs --bench and a broker)");
        return;
    }
    let [brokers, topic, rate, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: latency BROKERS TOPIC RATE|max|auto SECONDS [FLUSH_MS]");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let flush_ms: u64 = rest.first().map_or(20, |f| f.parse().expect("FLUSH_MS"));
    match rate.as_str() {
        "max" => {
            max_rate(brokers, topic, seconds, flush_ms);
        }
        "auto" => {
            let (acked, visible) = max_rate(brokers, topic, seconds, flush_ms);
            let half = (acked.min(visible) / 2.0).round().max(1.0) as u64;
            latency_at(brokers, topic, half, seconds, flush_ms);
        }
        r => latency_at(brokers, topic, r.parse().expect("RATE"), seconds, flush_ms),
    }
}
