# benchmarks.md q5: EasyCount's headline job: count, count ACCU, count SW and countd per appId per minute.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), count(qq ACCU), count(qq SW), countd(qq) \
FROM src GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \
WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 1800 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/q5.csv
table.emit=final
