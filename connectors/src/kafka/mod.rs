//! Kafka: a source whose partitions are spread over all workers of all processes, and a sink
//! that writes a result table's change log (upserts and tombstones keyed by the result key).
//!
//! The source assigns partitions itself (`partition % peers == worker`), so any worker count
//! reads the topic once; the group is used for the committed offsets. An offset is committed
//! only once every sink has written the effects of the rows before it (`Source::applied`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tally_sql::catalog::{KafkaOffset, KafkaSource as KafkaConfig};
use tally_sql::{Row, Schema};

use crate::format::RecordParser;
use crate::{now_ms, Change, ConnectorError, Poll, Sink, Source, WorkerInfo};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How often offsets are committed while the job runs.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

fn kafka_err(what: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::Other(format!("kafka: {what}: {e}"))
}

pub struct KafkaSource {
    consumer: BaseConsumer,
    topic: String,
    parser: RecordParser,
    chunk_rows: usize,
    /// Per assigned partition: the offset of the next record to read.
    next: BTreeMap<i32, i64>,
    /// Bounded mode: per partition, the end offset seen at the start.
    end: Option<BTreeMap<i32, i64>>,
    last_epoch: u64,
    /// For each epoch with records: the next offsets after it.
    offsets_by_epoch: BTreeMap<u64, BTreeMap<i32, i64>>,
    /// Offsets that every sink has applied, not yet committed.
    to_commit: BTreeMap<i32, i64>,
    last_commit: Instant,
    line: String,
}

impl KafkaSource {
    pub fn open(
        config: &KafkaConfig,
        parser: RecordParser,
        worker: WorkerInfo,
        chunk_rows: usize,
    ) -> Result<Self, ConnectorError> {
        let reset = match config.offset {
            KafkaOffset::Latest => "latest",
            _ => "earliest",
        };
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", reset)
            .set("enable.partition.eof", "false")
            .create()
            .map_err(|e| kafka_err("cannot create a consumer", e))?;
        let metadata = consumer
            .fetch_metadata(Some(&config.topic), TIMEOUT)
            .map_err(|e| kafka_err(&format!("cannot reach {}", config.brokers), e))?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == config.topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| {
                ConnectorError::Other(format!(
                    "kafka: topic {} does not exist on {}",
                    config.topic, config.brokers
                ))
            })?;
        let mine: Vec<i32> = topic
            .partitions()
            .iter()
            .map(|p| p.id())
            .filter(|p| (*p as usize) % worker.peers == worker.index)
            .collect();
        let committed = if config.offset == KafkaOffset::Committed && !mine.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for &p in &mine {
                tpl.add_partition(&config.topic, p);
            }
            Some(
                consumer
                    .committed_offsets(tpl, TIMEOUT)
                    .map_err(|e| kafka_err("cannot read the committed offsets", e))?,
            )
        } else {
            None
        };
        let mut next = BTreeMap::new();
        let mut end = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for &p in &mine {
            let (low, high) = consumer
                .fetch_watermarks(&config.topic, p, TIMEOUT)
                .map_err(|e| kafka_err("cannot read the partition offsets", e))?;
            let stored = committed.as_ref().and_then(|c| {
                match c.find_partition(&config.topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                }
            });
            let start = match config.offset {
                KafkaOffset::Earliest => low,
                KafkaOffset::Latest => high,
                KafkaOffset::Committed => stored.unwrap_or(low),
            }
            .clamp(low, high);
            next.insert(p, start);
            end.insert(p, high);
            tpl.add_partition_offset(&config.topic, p, Offset::Offset(start))
                .map_err(|e| kafka_err("bad offset", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_err("cannot assign partitions", e))?;
        Ok(KafkaSource {
            consumer,
            topic: config.topic.clone(),
            parser,
            chunk_rows,
            next,
            end: config.bounded.then_some(end),
            last_epoch: 0,
            offsets_by_epoch: BTreeMap::new(),
            to_commit: BTreeMap::new(),
            last_commit: Instant::now(),
            line: String::new(),
        })
    }

    fn finished(&self) -> bool {
        match &self.end {
            Some(end) => end
                .iter()
                .all(|(p, e)| self.next.get(p).is_some_and(|n| n >= e)),
            None => self.next.is_empty(),
        }
    }

    fn commit(&mut self, mode: CommitMode) {
        if self.to_commit.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &self.to_commit {
            if tpl
                .add_partition_offset(&self.topic, p, Offset::Offset(o))
                .is_err()
            {
                return;
            }
        }
        match self.consumer.commit(&tpl, mode) {
            Ok(()) => self.to_commit.clear(),
            Err(e) => tracing::warn!("kafka {}: cannot commit offsets: {e}", self.topic),
        }
        self.last_commit = Instant::now();
    }
}

impl Source for KafkaSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        if self.finished() {
            return Ok(Poll::Done);
        }
        let mut read = 0;
        let mut touched = false;
        while read < self.chunk_rows {
            let Some(message) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    // The client reconnects by itself; a broker that went away is only logged.
                    tracing::warn!("kafka {}: {e}", self.topic);
                    break;
                }
            };
            let p = message.partition();
            if self
                .end
                .as_ref()
                .and_then(|e| e.get(&p))
                .is_some_and(|&e| message.offset() >= e)
            {
                continue;
            }
            self.next.insert(p, message.offset() + 1);
            touched = true;
            read += 1;
            let payload = message.payload().unwrap_or_default();
            match std::str::from_utf8(payload) {
                Ok(text) => {
                    self.parser.parse_into(text.trim_end_matches('\n'), out);
                }
                Err(_) => {
                    self.line = String::from_utf8_lossy(payload).into_owned();
                    self.parser.reject("not UTF-8 text", &self.line);
                }
            }
        }
        if !touched {
            return Ok(if self.finished() {
                Poll::Done
            } else {
                Poll::Idle
            });
        }
        self.parser.count(out.len());
        let epoch = now_ms().max(self.last_epoch);
        self.last_epoch = epoch;
        self.offsets_by_epoch.insert(epoch, self.next.clone());
        Ok(Poll::Batch { epoch })
    }

    fn next_epoch(&self) -> u64 {
        now_ms().max(self.last_epoch)
    }

    fn applied(&mut self, frontier: Option<u64>) {
        while let Some((&epoch, _)) = self.offsets_by_epoch.first_key_value() {
            if frontier.is_some_and(|f| epoch >= f) {
                break;
            }
            let (_, offsets) = self.offsets_by_epoch.pop_first().expect("non-empty");
            self.to_commit.extend(offsets);
        }
        if frontier.is_none() {
            self.commit(CommitMode::Sync);
        } else if self.last_commit.elapsed() >= COMMIT_EVERY {
            self.commit(CommitMode::Async);
        }
    }
}

/// Counts records the brokers refused, so a flush can be retried.
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if self.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                tracing::warn!("kafka: a record was not delivered: {e}");
            }
        }
    }
}

/// Writes a result table's changes to a topic: key = the result key as a JSON object, value =
/// the row as a JSON object, or no value (a tombstone) for a delete.
pub struct KafkaSink {
    producer: BaseProducer<Deliveries>,
    topic: String,
    schema: Schema,
    key: Vec<usize>,
    all: Vec<usize>,
}

impl KafkaSink {
    pub fn open(
        brokers: &str,
        topic: &str,
        schema: &Schema,
        key: Option<&[usize]>,
    ) -> Result<Self, ConnectorError> {
        let producer: BaseProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .map_err(|e| kafka_err("cannot create a producer", e))?;
        producer
            .client()
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| kafka_err(&format!("cannot reach {brokers}"), e))?;
        let all: Vec<usize> = (0..schema.len()).collect();
        Ok(KafkaSink {
            producer,
            topic: topic.to_string(),
            schema: schema.clone(),
            key: key.map_or_else(|| all.clone(), <[usize]>::to_vec),
            all,
        })
    }
}

impl Sink for KafkaSink {
    fn flush(&mut self, changes: &[Change], _table: &[Row]) -> Result<(), ConnectorError> {
        let failed_before = self.producer.context().failed.load(Ordering::Relaxed);
        for change in changes {
            let (row, upsert) = match change {
                Change::Insert(r) | Change::Update(r) => (r, true),
                Change::Delete(r) => (r, false),
            };
            let key = crate::json_object(&self.schema, row, &self.key);
            let value = upsert.then(|| crate::json_object(&self.schema, row, &self.all));
            loop {
                let mut record = BaseRecord::to(&self.topic).key(&key);
                if let Some(v) = &value {
                    record = record.payload(v);
                }
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        _,
                    )) => {
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(kafka_err("cannot send", e)),
                }
            }
        }
        self.producer
            .flush(TIMEOUT)
            .map_err(|e| ConnectorError::Unavailable(format!("kafka {}: {e}", self.topic)))?;
        if self.producer.context().failed.load(Ordering::Relaxed) > failed_before {
            return Err(ConnectorError::Unavailable(format!(
                "kafka {}: records were not delivered",
                self.topic
            )));
        }
        Ok(())
    }
}
