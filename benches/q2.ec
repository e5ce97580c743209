# benchmarks.md q2: count(qq ACCU) per appId per minute, ACCU 3600 s.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq ACCU) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/q2.csv
table.emit=final
