# ec-sql.md's approximate example (its Kafka source as a file): pv, approximate users since the
# start of the hour (ACCU) and in the last 5 minutes (SW), per activity per minute, with the
# event time parsed from text. A second query keeps sketches per activity and merges them.
[system]
sql=INSERT INTO test_result SELECT activityId, count(1) pv, countd_hllp(uiUin ACCU) huv, \
  countd_hllp(uiUin SW) fmuv, from_unixtime(AGGRTIME DIV 1000, 'yyyy-MM-dd HH:mm:ss') \
  FROM test_src_kafka GROUP BY activityId \
  COORDINATE BY unix_timestamp(dtevetTime, 'yyyy-MM-dd HH:mm:ss')*1000 \
  WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 300 SECONDS; \
WITH (SELECT activityId, hllp(uiUin) users FROM test_src_kafka GROUP BY activityId) s \
INSERT INTO sketches SELECT activityId, hllp_get(users), hllp_get(hllp_merge(users, users)) FROM s

[tabledesc-src]
table.name=test_src_kafka
table.fields=activityId,string,:uiUin,string,:dtevetTime,string,
table.type=file
table.file.path=events.txt
table.field.splitter=|

[tabledesc-result]
table.name=test_result
table.fields=activityId,string,:pv,bigint,:huv,bigint,:fmuv,bigint,:minute,string,
table.type=csv
table.csv.path=out/test_result.csv
table.emit=final

[tabledesc-sketches]
table.name=sketches
table.fields=activityId,string,:users,bigint,:users_again,bigint,
table.type=csv
table.csv.path=out/sketches.csv
