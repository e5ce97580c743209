# benchmarks.md q1: count(qq), countd(qq) per appId per minute, from a file of generated events.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/q1.csv
table.emit=final
