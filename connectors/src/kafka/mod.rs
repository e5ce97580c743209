//! Kafka: a source whose partitions are spread over all workers of all processes, and a sink
//! that writes a result table's change log (upserts and tombstones keyed by the result key).
//!
//! The source assigns partitions itself (`partition % peers == worker`), so any worker count
//! reads the topic once; the group is used for the committed offsets. An offset is committed
//! only once every sink has written the effects of the rows before it (`Source::applied`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tally_sql::catalog::{KafkaOffset, KafkaSource as KafkaConfig};
use tally_sql::{Row, Schema};

use crate::format::RecordParser;
use crate::{now_ms, Change, ConnectorError, Poll, Sink, Source, WorkerInfo};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fetch may wait at the broker for records (librdkafka's `fetch.wait.max.ms`,
/// default 500). A broker answers a fetch as soon as it has `fetch.min.bytes` (1) for it, so
/// this costs nothing while records flow; it bounds the delay of a record that arrives while a
/// fetch is parked at a broker that holds fetches for their whole wait (some Kafka-compatible
/// brokers do), at the price of this many ms between fetches of an idle partition.
const FETCH_WAIT_MS: &str = "10";
/// How often offsets are committed while the job runs.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

fn kafka_err(what: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::Other(format!("kafka: {what}: {e}"))
}

/// The consumer's callbacks: the end of a partition is an event, not an error; statistics
/// give each partition's end at the broker (for the consumer lag metric).
pub struct SourceContext {
    metrics: Arc<crate::Metrics>,
    table: String,
    topic: String,
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF) {
            tracing::warn!("kafka: {error}: {reason}");
        }
    }

    fn stats(&self, statistics: rdkafka::Statistics) {
        self.partition_ends(&statistics);
    }
}

impl ConsumerContext for SourceContext {}

impl SourceContext {
    fn partition_ends(&self, stats: &rdkafka::Statistics) {
        let Some(topic) = stats.topics.get(&self.topic) else {
            return;
        };
        for (p, s) in &topic.partitions {
            if *p >= 0 && s.hi_offset >= 0 {
                self.metrics
                    .partitions
                    .update(&self.table, *p, |m| m.high = s.hi_offset);
            }
        }
    }
}

pub struct KafkaSource {
    consumer: Arc<BaseConsumer<SourceContext>>,
    /// One queue per assigned partition, so partitions are read evenly, not one after another.
    queues: Vec<(i32, PartitionQueue<SourceContext>)>,
    topic: String,
    parser: RecordParser,
    /// What separates several records in one message.
    record_splitter: String,
    chunk_rows: usize,
    bounded: bool,
    /// Per partition: the offset of the first record read (known once one is read).
    start: BTreeMap<i32, i64>,
    /// Per partition: the offset of the next record to read (known once one is read).
    next: BTreeMap<i32, i64>,
    /// Bounded mode: partitions read to their end (the broker's end-of-partition event: the
    /// first time the job has caught up with the partition).
    done: BTreeSet<i32>,
    /// Live mode: partitions caught up (at their end since their last record).
    at_end: BTreeSet<i32>,
    /// Partitions whose records skipped offsets after the expected next one (logged once).
    gaps_seen: BTreeSet<i32>,
    /// Live mode: partitions that gave their share of the batch being gathered.
    contributed: BTreeSet<i32>,
    gathering_since: Option<Instant>,
    records_since_batch: usize,
    /// Live mode: how long a batch waits for a partition that has not given its share.
    idle: Duration,
    /// Live mode: each partition's rows of the batch being gathered.
    gathered: BTreeMap<i32, Vec<Row>>,
    /// Live mode: a gathered batch's partitions still to hand out, and the lane of the last.
    ready: std::collections::VecDeque<(i32, Vec<Row>)>,
    lane: u64,
    /// Every partition of the topic, this worker's or not.
    all_partitions: Vec<i32>,
    /// Bounded mode: the round being read. Round `r` is records `[r*chunk, (r+1)*chunk)` of
    /// every partition from its start; it is one epoch, so all partitions advance in step and
    /// the results do not depend on the worker count.
    round: u64,
    pending: Vec<Row>,
    last_epoch: u64,
    /// For each epoch with records: the next offsets after it.
    offsets_by_epoch: BTreeMap<u64, BTreeMap<i32, i64>>,
    /// Offsets that every sink has applied, not yet committed.
    to_commit: BTreeMap<i32, i64>,
    last_commit: Instant,
    line: String,
    /// The partitions and offsets to start at, assigned at the first poll (after a restart has
    /// set them from a checkpoint).
    assignment: Option<TopicPartitionList>,
    /// Per partition: the offset it was first read at and the next offset after the records
    /// handed out in batches (what a checkpoint keeps).
    handed: BTreeMap<i32, (i64, i64)>,
}

impl KafkaSource {
    pub fn open(
        config: &KafkaConfig,
        parser: RecordParser,
        worker: WorkerInfo,
        chunk_rows: usize,
        idle: Duration,
    ) -> Result<Self, ConnectorError> {
        let reset = match config.offset {
            KafkaOffset::Latest => "latest",
            _ => "earliest",
        };
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", reset)
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", FETCH_WAIT_MS)
            // Each partition's end, for the lag metric; served by the poll the source makes.
            .set("statistics.interval.ms", "1000");
        let consumer: BaseConsumer<SourceContext> = with_properties(client, &config.properties)
            .create_with_context(SourceContext {
                metrics: parser.metrics().clone(),
                table: parser.table().to_string(),
                topic: config.topic.clone(),
            })
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
        let mut tpl = TopicPartitionList::new();
        for &p in &mine {
            let stored = committed.as_ref().and_then(|c| {
                match c.find_partition(&config.topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => Some(o),
                    _ => None,
                }
            });
            let start = match (config.offset, stored) {
                (KafkaOffset::Earliest, _) | (KafkaOffset::Committed, None) => Offset::Beginning,
                (KafkaOffset::Latest, _) => Offset::End,
                (KafkaOffset::Committed, Some(o)) => Offset::Offset(o),
            };
            tpl.add_partition_offset(&config.topic, p, start)
                .map_err(|e| kafka_err("bad offset", e))?;
        }
        let consumer = Arc::new(consumer);
        // The source is opened on the worker's thread, which parks while it has nothing to do
        // (up to the worker loop's park timeout): a partition's first record after a quiet
        // spell wakes it at once.
        let worker_thread = std::thread::current();
        let queues = mine
            .iter()
            .filter_map(|&p| {
                let mut queue = consumer.split_partition_queue(&config.topic, p)?;
                let wake = worker_thread.clone();
                queue.set_nonempty_callback(move || wake.unpark());
                Some((p, queue))
            })
            .collect();
        Ok(KafkaSource {
            assignment: Some(tpl),
            handed: BTreeMap::new(),
            consumer,
            queues,
            topic: config.topic.clone(),
            parser,
            record_splitter: config.record_splitter.clone(),
            chunk_rows,
            bounded: config.bounded,
            start: BTreeMap::new(),
            next: BTreeMap::new(),
            done: BTreeSet::new(),
            at_end: BTreeSet::new(),
            gaps_seen: BTreeSet::new(),
            contributed: BTreeSet::new(),
            gathering_since: None,
            records_since_batch: 0,
            idle,
            gathered: BTreeMap::new(),
            ready: std::collections::VecDeque::new(),
            lane: 0,
            all_partitions: topic.partitions().iter().map(|p| p.id()).collect(),
            round: 0,
            pending: Vec::new(),
            last_epoch: 0,
            offsets_by_epoch: BTreeMap::new(),
            to_commit: BTreeMap::new(),
            last_commit: Instant::now(),
            line: String::new(),
        })
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
            Ok(()) => {
                let metrics = self.parser.metrics();
                for (&p, &o) in &self.to_commit {
                    metrics
                        .partitions
                        .update(self.parser.table(), p, |m| m.committed = o);
                }
                self.to_commit.clear()
            }
            Err(e) => tracing::warn!("kafka {}: cannot commit offsets: {e}", self.topic),
        }
        self.last_commit = Instant::now();
    }

    /// Reads up to `limit` records of partition queue `i` into `out`; returns how many.
    fn read_partition(&mut self, i: usize, limit: usize, out: &mut Vec<Row>) -> usize {
        let (rows_before, mut bytes) = (out.len(), 0u64);
        let bad_before = self.parser.rejected();
        let read = self.read_records(i, limit, out, &mut bytes);
        let bad = self.parser.rejected() - bad_before;
        if read > 0 {
            let metrics = self.parser.metrics();
            metrics.bytes_by_source.add(self.parser.table(), bytes);
            let (p, next) = (self.queues[i].0, self.next.get(&self.queues[i].0).copied());
            let rows = (out.len() - rows_before) as u64;
            metrics.partitions.update(self.parser.table(), p, |m| {
                m.rows += rows;
                m.bytes += bytes;
                m.bad += bad;
                m.position = next.unwrap_or(-1);
            });
        }
        read
    }

    fn read_records(
        &mut self,
        i: usize,
        limit: usize,
        out: &mut Vec<Row>,
        bytes: &mut u64,
    ) -> usize {
        let mut read = 0;
        let p = self.queues[i].0;
        while read < limit && !self.done.contains(&p) {
            let Some(message) = self.queues[i].1.poll(Duration::ZERO) else {
                break;
            };
            let message = match message {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(_)) => {
                    if self.bounded {
                        self.done.insert(p);
                    } else {
                        self.at_end.insert(p);
                    }
                    break;
                }
                Err(e) => {
                    // The client reconnects by itself; a broker that went away is only logged.
                    tracing::warn!("kafka {} partition {p}: {e}", self.topic);
                    break;
                }
            };
            let offset = message.offset();
            if let Some(&expected) = self.next.get(&p) {
                if offset > expected && self.gaps_seen.insert(p) {
                    // Normal for a compacted or transactional topic; otherwise the broker lost
                    // or skipped records (tansu 0.6 skips the rest of a batch a fetch starts in).
                    tracing::warn!(
                        "kafka {} partition {p}: expected offset {expected} next, got {offset} \
                         ({} offsets skipped; logged once per partition)",
                        self.topic,
                        offset - expected
                    );
                }
            }
            self.at_end.remove(&p);
            self.start.entry(p).or_insert(offset);
            self.next.insert(p, offset + 1);
            read += 1;
            self.records_since_batch += 1;
            let payload = message.payload().unwrap_or_default();
            *bytes += payload.len() as u64;
            match std::str::from_utf8(payload) {
                Ok(text) => {
                    for record in text.split(self.record_splitter.as_str()) {
                        if !record.is_empty() {
                            self.parser.parse_into(record, out);
                        }
                    }
                }
                Err(_) => {
                    self.line = String::from_utf8_lossy(payload).into_owned();
                    self.parser.reject("not UTF-8 text", &self.line);
                }
            }
        }
        read
    }

    /// Bounded mode: completes the current round from every partition; the round is a batch
    /// once each partition has given its share or reached its end.
    fn poll_round(&mut self, out: &mut Vec<Row>) -> Poll {
        let round_end = (self.round as i64 + 1).saturating_mul(self.chunk_rows as i64);
        let mut complete = true;
        let mut pending = std::mem::take(&mut self.pending);
        for i in 0..self.queues.len() {
            let p = self.queues[i].0;
            let at = match (self.start.get(&p), self.next.get(&p)) {
                (Some(s), Some(n)) => n - s,
                _ => 0,
            };
            let want = (round_end - at).max(0) as usize;
            if want > 0 && !self.done.contains(&p) {
                let got = self.read_partition(i, want, &mut pending);
                if got < want && !self.done.contains(&p) {
                    complete = false;
                }
            }
        }
        self.pending = pending;
        if !complete {
            return Poll::Idle;
        }
        let before = out.len();
        out.append(&mut self.pending);
        self.parser.count(out.len() - before);
        let epoch = self.round;
        self.round += 1;
        self.offsets_by_epoch.insert(epoch, self.next.clone());
        self.hand_out(None);
        Poll::Batch { epoch }
    }
}

impl KafkaSource {
    /// Records that partition `p`'s records read so far are handed out (`None`: every
    /// partition's).
    fn hand_out(&mut self, p: Option<i32>) {
        let parts: Vec<i32> = match p {
            Some(p) => vec![p],
            None => self.next.keys().copied().collect(),
        };
        for p in parts {
            if let (Some(&s), Some(&n)) = (self.start.get(&p), self.next.get(&p)) {
                self.handed.insert(p, (s, n));
            }
        }
    }

    /// Live mode: a batch takes up to an equal share from every partition, and waits (up to the
    /// idle timeout) for a partition that has records to come but has not given them yet, so a
    /// partition read first does not run ahead of the others in event time while the job
    /// catches up. A partition at its end (caught up, or empty) does not hold a batch back.
    fn poll_live(&mut self, out: &mut Vec<Row>) -> Poll {
        // A gathered batch goes out one partition at a time, each in its own watermark lane.
        if let Some((p, mut rows)) = self.ready.pop_front() {
            self.hand_out(Some(p));
            self.lane = lane_of(p);
            self.parser.count(rows.len());
            out.append(&mut rows);
            return Poll::Batch {
                epoch: self.last_epoch,
            };
        }
        let share = (self.chunk_rows / self.queues.len()).max(1);
        let started = *self.gathering_since.get_or_insert_with(Instant::now);
        let mut complete = true;
        for i in 0..self.queues.len() {
            let p = self.queues[i].0;
            if self.contributed.contains(&p) {
                continue;
            }
            let mut rows = self.gathered.remove(&p).unwrap_or_default();
            let got = self.read_partition(i, share, &mut rows);
            self.gathered.insert(p, rows);
            if got > 0 || self.at_end.contains(&p) {
                self.contributed.insert(p);
            } else {
                complete = false;
            }
        }
        // (Records that were all malformed still make a batch: their offsets count.)
        if self.records_since_batch == 0 {
            self.contributed.clear();
            self.gathering_since = None;
            return Poll::Idle;
        }
        if !complete && started.elapsed() < self.idle {
            return Poll::Idle;
        }
        self.contributed.clear();
        self.gathering_since = None;
        self.records_since_batch = 0;
        // One epoch for the whole gathered batch, later than any before it, its partitions in
        // increasing lanes.
        let epoch = now_ms().max(self.last_epoch + 1);
        self.last_epoch = epoch;
        self.offsets_by_epoch.insert(epoch, self.next.clone());
        let (mut parts, empty): (Vec<(i32, Vec<Row>)>, Vec<_>) = std::mem::take(&mut self.gathered)
            .into_iter()
            .partition(|(_, rows)| !rows.is_empty());
        // A partition whose records were all malformed has no rows to wait for.
        for (p, _) in empty {
            self.hand_out(Some(p));
        }
        parts.sort_by_key(|(p, _)| lane_of(*p));
        self.ready.extend(parts);
        match self.ready.pop_front() {
            Some((p, mut rows)) => {
                self.hand_out(Some(p));
                self.lane = lane_of(p);
                self.parser.count(rows.len());
                out.append(&mut rows);
            }
            None => self.lane = 0,
        }
        Poll::Batch { epoch }
    }
}

/// Every worker's partition offsets of one source in a checkpoint, as one map.
fn merged_offsets(positions: &[crate::Position]) -> BTreeMap<i32, (i64, i64)> {
    let mut merged = BTreeMap::new();
    for p in positions {
        if let crate::Position::Offsets(o) = p {
            merged.extend(o.iter().map(|(k, v)| (*k, *v)));
        }
    }
    merged
}

/// The watermark lane of a partition (lane 0 is for sources without partitions).
fn lane_of(partition: i32) -> u64 {
    (partition.max(0) as u64 % (tally_sql::plan::LANES - 1)) + 1
}

impl Source for KafkaSource {
    fn poll(&mut self, out: &mut Vec<Row>) -> Result<Poll, ConnectorError> {
        if let Some(tpl) = self.assignment.take() {
            self.consumer
                .assign(&tpl)
                .map_err(|e| kafka_err("cannot assign partitions", e))?;
        }
        // Serves the consumer's own events (errors, statistics); records come by partition.
        let _ = self.consumer.poll(Duration::ZERO);
        if self.bounded {
            if self.done.len() == self.queues.len() && self.pending.is_empty() {
                return Ok(Poll::Done);
            }
            return Ok(self.poll_round(out));
        }
        if self.queues.is_empty() {
            return Ok(Poll::Done);
        }
        Ok(self.poll_live(out))
    }

    fn next_epoch(&self) -> u64 {
        if self.bounded {
            self.round
        } else if !self.ready.is_empty() {
            // The rest of the gathered batch is still to come, at this epoch.
            self.last_epoch
        } else {
            now_ms().max(self.last_epoch)
        }
    }

    /// A live topic's rows carry their partition's lane; a bounded read's rounds advance every
    /// partition together under one watermark, so they all use lane 0.
    fn lane(&self) -> u64 {
        if self.bounded {
            0
        } else {
            self.lane
        }
    }

    fn lanes(&self) -> Vec<u64> {
        if self.bounded {
            Vec::new()
        } else {
            self.all_partitions.iter().map(|&p| lane_of(p)).collect()
        }
    }

    fn position(&self) -> crate::Position {
        crate::Position::Offsets(self.handed.clone())
    }

    /// Starts this worker's partitions at the checkpoint's offsets (never the group's), and a
    /// bounded read at the checkpoint's round.
    fn resume(&mut self, epoch: u64, positions: &[crate::Position]) -> Result<(), ConnectorError> {
        let Some(tpl) = self.assignment.as_mut() else {
            return Err(ConnectorError::Other(
                "kafka: resumed after reading began".into(),
            ));
        };
        let merged = merged_offsets(positions);
        for (p, _) in &self.queues {
            if let Some(&(start, next)) = merged.get(p) {
                tpl.set_partition_offset(&self.topic, *p, Offset::Offset(next))
                    .map_err(|e| kafka_err("bad offset", e))?;
                self.start.insert(*p, start);
                self.next.insert(*p, next);
                self.handed.insert(*p, (start, next));
            }
        }
        if self.bounded {
            self.round = epoch;
        }
        Ok(())
    }

    /// Commits the checkpoint's offsets of this worker's partitions to the group, so outside
    /// tools see the job's durable progress.
    fn checkpointed(&mut self, positions: &[crate::Position]) {
        let merged = merged_offsets(positions);
        self.to_commit.clear();
        for (p, _) in &self.queues {
            if let Some(&(_, next)) = merged.get(p) {
                self.to_commit.insert(*p, next);
            }
        }
        // Once per checkpoint, and the last one just before the job ends: wait for it.
        self.commit(CommitMode::Sync);
        // What `applied` would commit per epoch: not read while the job checkpoints, so it must
        // not pile up over an endless run.
        self.offsets_by_epoch.clear();
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

/// The user's `table.kafka.properties.*` on top of tally's settings (they win).
fn with_properties(mut client: ClientConfig, properties: &[(String, String)]) -> ClientConfig {
    for (k, v) in properties {
        client.set(k, v);
    }
    client
}

impl KafkaSink {
    pub fn open(
        brokers: &str,
        topic: &str,
        properties: &[(String, String)],
        schema: &Schema,
        key: Option<&[usize]>,
    ) -> Result<Self, ConnectorError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5");
        let producer: BaseProducer<Deliveries> = with_properties(client, properties)
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
