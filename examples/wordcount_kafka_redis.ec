# Streaming word count from Kafka into Redis. EC-SQL in this version cannot split a line into
# words (no split/explode/FOREACH yet), so each record of the topic `words` is one word (the
# producer splits the lines); the splitter \001 never occurs, so the whole record is the word.
# The count of each word is kept in the Redis hash `wc:<word>`, field `n`, updated every second.
# Runs until stopped. A restarted job resumes after the committed offsets, but its counts
# start again from zero (docs/connectors.md, Known limits).
# Needs a Kafka broker on 127.0.0.1:9092 with the topic `words`, and Redis on 127.0.0.1:6379.
# Run: cargo run --release -- run examples/wordcount_kafka_redis.ec
[system]
sql=INSERT INTO wc SELECT word, count(1) n FROM words GROUP BY word

[tabledesc-words]
table.name=words
table.fields=word,string,
table.type=kafka
table.kafka.brokers=127.0.0.1:9092
table.kafka.topic=words
table.field.splitter=\001

[tabledesc-wc]
table.name=wc
table.fields=word,string,:n,bigint,
table.type=redis
table.redis.key=wc:{word}
