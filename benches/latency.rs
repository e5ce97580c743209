//! Kafka -> tally -> Redis: the delay from a record's arrival in Kafka to its effect being
//! readable in Redis, at a steady rate (benchmarks.md). Run by `benches/run.sh`, which starts a
//! broker; by hand:
//!
//! `cargo bench --bench latency -- BROKERS TOPIC RATE SECONDS [FLUSH_MS]`
//!
//! It starts the release `tally` on a job that counts the topic's records into one Redis hash
//! (`table.flush.ms` = FLUSH_MS, default 20), sends RATE records a second for SECONDS seconds,
//! and polls the count every millisecond: when the count exceeds k, the k-th record to arrive
//! became visible then. A record's arrival is the broker's acknowledgement of it (so the
//! producer's batching and the broker's own ingest are not counted). Prints
//! `bench=kafka_redis_latency rate=... records=... p50_ms=... p99_ms=... max_ms=...`.
//! Under `cargo test` (no `--bench`) it only checks its percentile arithmetic.

use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

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
            if *seq < acks.len() {
                acks[*seq] = Some(Instant::now());
            }
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

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if !std::env::args().any(|a| a == "--bench") {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        println!("latency: percentile check passed (the measurement needs --bench and a broker)");
        return;
    }
    let [brokers, topic, rate, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: latency BROKERS TOPIC RATE SECONDS [FLUSH_MS]");
        std::process::exit(2);
    };
    let rate: u64 = rate.parse().expect("RATE");
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let flush_ms: u64 = rest.first().map_or(20, |f| f.parse().expect("FLUSH_MS"));
    let hash = format!("tally_latency_{}", std::process::id());
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
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the release tally binary (cargo build --release)");
    // Let it take its partitions (offset=latest) before anything is sent.
    std::thread::sleep(Duration::from_secs(3));

    let total = rate * seconds;
    let acks = Acks(Arc::new(Mutex::new(vec![None; total as usize])));
    let producer: BaseProducer<Acks> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create_with_context(acks.clone())
        .unwrap();
    let reader = {
        let hash = hash.clone();
        std::thread::spawn(move || {
            let mut r = redis::Client::open("redis://127.0.0.1:6379/")
                .unwrap()
                .get_connection()
                .unwrap();
            let mut seen: Vec<(u64, Instant)> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(seconds + 30);
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
                if n >= total || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let _: () = redis::cmd("DEL").arg(&hash).query(&mut r).unwrap();
            seen
        })
    };
    let start = Instant::now();
    for seq in 0..total {
        let due = start + Duration::from_secs_f64(seq as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
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
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let seen = reader.join().unwrap();
    let _ = job.kill();
    let _ = job.wait();
    std::fs::remove_dir_all(&dir).unwrap();

    // Record k (0-based) is visible from the first moment the count exceeded k. Records reach
    // the topic in about the order they were sent (per partition exactly), so the k-th count
    // stands for the k-th acknowledged record.
    let mut arrivals: Vec<Instant> = acks.0.lock().unwrap().iter().flatten().copied().collect();
    arrivals.sort();
    let mut delays: Vec<f64> = Vec::with_capacity(total as usize);
    let mut j = 0;
    for (k, at) in arrivals.iter().enumerate() {
        while j < seen.len() && seen[j].0 <= k as u64 {
            j += 1;
        }
        if j == seen.len() {
            break;
        }
        delays.push(seen[j].1.saturating_duration_since(*at).as_secs_f64() * 1000.0);
    }
    let visible = delays.len();
    delays.sort_by(f64::total_cmp);
    println!(
        "bench=kafka_redis_latency rate={rate} records={total} visible={visible} flush_ms={flush_ms} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        delays.last().copied().unwrap_or(f64::NAN)
    );
}
