# COORDINATE BY a TIMESTAMP(3) column: its text is read in the job's time zone (+08:00 here)
# as epoch milliseconds, fraction included (08:00:59.999 local is the minute that starts at
# 2024-01-01 00:00:00 UTC, 08:01:00.000 the next), and windows stay aligned to the epoch.
[system]
timezone=+08:00
sql=INSERT INTO per_minute SELECT AGGRTIME, from_unixtime(AGGRTIME DIV 1000, 'yyyy-MM-dd HH:mm:ss'), \
appId, count(1), min(ts) FROM src GROUP BY appId COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:ts,timestamp(3),
table.type=file
table.file.path=src.txt
table.field.splitter=;

[tabledesc-per_minute]
table.name=per_minute
table.fields=minute_ms,bigint,:minute_local,string,:appId,string,:n,bigint,:first_ts,timestamp(3),
table.type=csv
table.csv.path=out/per_minute.csv
