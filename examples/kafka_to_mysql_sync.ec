# Detail rows synced from Kafka to MySQL: each JSON record of the topic `orders`
# ({"order_id": 1, "user_id": "u1", "amount": 9.5, "ts": 1700000000000}) is upserted into the
# MySQL table test.orders_sync by order_id (created if missing, primary key order_id). A record
# read later with the same order_id replaces the row, also within one batch: the last version
# read wins (docs/semantics.md). The offsets of the group tally-orders are committed once MySQL has the
# rows, so a restart resumes after them. Runs until stopped.
# Needs a Kafka broker on 127.0.0.1:9092 with the topic `orders`, and MySQL or MariaDB on
# 127.0.0.1:3306, user root, no password, database `test`.
# Run: cargo run --release -- run examples/kafka_to_mysql_sync.ec
[system]
sql=INSERT INTO orders_sync WITH order_id AS KEY SELECT order_id, user_id, amount, ts FROM orders

[tabledesc-orders]
table.name=orders
table.fields=order_id,bigint,:user_id,string,:amount,double,:ts,bigint,
table.type=kafka
table.kafka.brokers=127.0.0.1:9092
table.kafka.topic=orders
table.kafka.format=json

[tabledesc-orders_sync]
table.name=orders_sync
table.fields=order_id,bigint,:user_id,string,:amount,double,:ts,bigint,
table.type=mysql
table.mysql.db=test
table.mysql.create=true
