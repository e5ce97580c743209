# A web access log followed like `tail -F` (data/access.log: `ts ip url status bytes`, ts in
# epoch ms, space separated): per minute, requests, distinct client IPs, bytes sent and 5xx
# responses, upserted into the MySQL table test.weblog_minute (created if missing, primary key
# `minute`). Runs until stopped; append lines to the log to see the current minute change.
# Needs MySQL or MariaDB on 127.0.0.1:3306, user root, no password, database `test`.
# Run: cargo run --release -- run examples/weblog_to_mysql.ec
[system]
sql=INSERT INTO weblog_minute SELECT from_unixtime(AGGRTIME DIV 1000, 'yyyy-MM-dd HH:mm:ss'), \
count(1), countd(ip), sum(bytes), sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) \
FROM weblog GROUP BY 1 COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS

[tabledesc-weblog]
table.name=weblog
table.fields=ts,bigint,:ip,string,:url,string,:status,bigint,:bytes,bigint,
table.type=file
table.file.path=data/access.log
table.file.follow=true
table.field.splitter=\x20

[tabledesc-weblog_minute]
table.name=weblog_minute
table.fields=minute,string,:requests,bigint,:visitors,bigint,:bytes,bigint,:errors,bigint,
table.type=mysql
table.mysql.host=127.0.0.1
table.mysql.port=3306
table.mysql.db=test
table.mysql.user=root
table.mysql.create=true
