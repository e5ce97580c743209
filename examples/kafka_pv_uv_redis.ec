# Today's PV and exact UV of click events from Kafka (topic `clicks`, `appId;qq;dTime` like the
# generator's, dTime in epoch ms), refreshed every 20 s in the Redis hash `flink_pv_uv` (fields
# pv and uv). AGGRTIME is not selected, so the result keeps one row, that of the newest day
# (UTC): the first event of a new day starts the new day's counts. Runs until stopped. A
# restarted job resumes after the committed offsets, but its counts start again from zero
# (docs/connectors.md, Known limits).
# Needs a Kafka broker on 127.0.0.1:9092 with the topic `clicks`, and Redis on 127.0.0.1:6379.
# Run: cargo run --release -- run examples/kafka_pv_uv_redis.ec
[system]
sql=INSERT INTO pv_uv SELECT count(qq) pv, countd(qq) uv FROM clicks GROUP BY 1 \
COORDINATE BY dTime WITH AGGR INTERVAL 86400 SECONDS

[tabledesc-clicks]
table.name=clicks
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=kafka
table.kafka.brokers=127.0.0.1:9092
table.kafka.topic=clicks
table.field.splitter=;

[tabledesc-pv_uv]
table.name=pv_uv
table.fields=pv,bigint,:uv,bigint,
table.type=redis
table.redis.url=redis://127.0.0.1:6379/
table.redis.hash=flink_pv_uv
table.flush.ms=20000
