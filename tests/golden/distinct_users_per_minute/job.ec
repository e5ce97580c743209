# EasyCount examples: distinct users per minute, once through the WITH ... tmp chain (one row per
# user per minute, then count(1) per minute) and once with countd over a minute window. Event time
# is the dTime column. `latest` does not select AGGRTIME: it keeps only the newest minute.
[system]
sql=WITH (SELECT AGGRTIME agtime, qq FROM src GROUP BY qq COORDINATE BY dTime \
WITH AGGR INTERVAL 60 SECONDS) tmp \
INSERT INTO latest SELECT count(1) FROM tmp GROUP BY 1 COORDINATE BY agtime WITH AGGR INTERVAL 60 SECONDS, \
INSERT INTO by_minute SELECT AGGRTIME, from_unixtime(AGGRTIME DIV 1000, 'HH:mm'), count(1) FROM tmp \
GROUP BY 1 COORDINATE BY agtime WITH AGGR INTERVAL 60 SECONDS \
INSERT INTO countd_by_minute SELECT AGGRTIME, countd(qq) FROM src GROUP BY 1 \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=clicks.txt

[tabledesc-2]
table.name=latest
table.fields=uv,bigint,
table.type=csv
table.csv.path=out/latest.csv

[tabledesc-3]
table.name=by_minute
table.fields=minute,bigint,:hhmm,string,:uv,bigint,
table.type=csv
table.csv.path=out/by_minute.csv

[tabledesc-4]
table.name=countd_by_minute
table.fields=minute,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/countd_by_minute.csv
