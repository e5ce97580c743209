# Streaming word count: log lines in Kafka -> count per word -> Redis.
# Each record of the topic `lines` is a log line; `table.kafka.record.splitter=\x20` cuts every
# message at spaces, so each word is a record (the field splitter \001 never occurs, so the
# whole word is the one field). The count of each word is kept in the Redis hash `wc:<word>`,
# field `n`, updated every second.
# Runs until stopped. A restarted job resumes after the committed offsets, but its counts
# start again from zero (docs/connectors.md, Known limits).
# Needs a Kafka broker on 127.0.0.1:9092 with the topic `lines`, and Redis on 127.0.0.1:6379.
# Run: cargo run --release -- run examples/wordcount_kafka_redis.ec
[system]
sql=INSERT INTO wc SELECT word, count(1) n FROM lines GROUP BY word

[tabledesc-lines]
table.name=lines
table.fields=word,string,
table.type=kafka
table.kafka.brokers=127.0.0.1:9092
table.kafka.topic=lines
table.kafka.record.splitter=\x20
table.field.splitter=\001

[tabledesc-wc]
table.name=wc
table.fields=word,string,:n,bigint,
table.type=redis
table.redis.key=wc:{word}
