//! Sends each line of a file as one record (no key) to a Kafka topic: the sample input of the
//! Kafka example pipelines, used by `scripts/example.sh`.
//!
//! `cargo run --release --example produce -- TOPIC FILE [BROKERS]` (BROKERS defaults to
//! `127.0.0.1:9092`). Empty lines are skipped. Exits non-zero when a record is not delivered.

use std::process::exit;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(2..=3).contains(&args.len()) {
        eprintln!("usage: produce TOPIC FILE [BROKERS]  (BROKERS: 127.0.0.1:9092)");
        exit(2);
    }
    let (topic, file) = (&args[0], &args[1]);
    let brokers = args.get(2).map_or("127.0.0.1:9092", String::as_str);
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| {
        eprintln!("produce: cannot read {file}: {e}");
        exit(1);
    });
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap_or_else(|e| {
            eprintln!("produce: cannot create a producer for {brokers}: {e}");
            exit(1);
        });
    let mut sent = 0u64;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut record = BaseRecord::<(), str>::to(topic).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    eprintln!("produce: cannot send to {topic} at {brokers}: {e}");
                    exit(1);
                }
            }
        }
        sent += 1;
    }
    if let Err(e) = producer.flush(Duration::from_secs(30)) {
        eprintln!("produce: records not delivered to {topic} at {brokers}: {e}");
        exit(1);
    }
    println!("produced {sent} records from {file} to {topic} at {brokers}");
}
