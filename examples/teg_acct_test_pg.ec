# EasyCount's teg_acct_test.ec (ec-sql.md) with its PostgreSQL sink (`tpg`), the source moved
# from EasyCount's queue (tube) to Kafka: per appId, the count of the current minute, the count
# since the start of the hour (ACCU) and of the last 30 minutes (SW). AGGRTIME is not selected,
# so the table teg_acct_test holds one row per appId, its newest minute (primary key appId; the
# table is created if missing). Records of the topic `teg_acct`: `appId;qq;dTime`, dTime in
# epoch ms. Runs until stopped. teg_acct_test.ec is the same job into MySQL; the two use
# different consumer groups, so both can run at once.
# Needs a Kafka broker on 127.0.0.1:9092 with the topic `teg_acct`, and PostgreSQL on
# 127.0.0.1:5432, user postgres with no password, database `test` (for a password add
# `table.postgres.password=${PGPASSWORD}`).
# Run: cargo run --release -- run examples/teg_acct_test_pg.ec
[system]
sql=INSERT INTO dest SELECT appId, count(qq), count(qq ACCU), count(qq SW) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 1800 SECONDS

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=kafka            # EasyCount said tube
table.field.splitter=;
table.kafka.brokers=127.0.0.1:9092
table.kafka.topic=teg_acct
table.kafka.group=teg_acct_test_pg

[tabledesc-2]
table.name=dest
table.fields=appId,string,:cnt1m,bigint,:cnt_accu,bigint,:cnt_sw,bigint,
table.type=tpg              # PostgreSQL, EasyCount's name
table.postgres.table=teg_acct_test
table.postgres.create=true
