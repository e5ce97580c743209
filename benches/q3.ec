# benchmarks.md q3: count(qq SW) per appId per minute, SW 1800 s.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq SW) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS WITH SW INTERVAL 1800 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/q3.csv
table.emit=final
