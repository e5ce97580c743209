# benchmarks.md q4: the events LEFT JOIN a 100-row dimension (appId -> category), count and countd per category per minute.
[system]
sql=INSERT INTO dest SELECT category, AGGRTIME, count(qq), countd(qq) FROM src \
LEFT JOIN apps ON src.appId = apps.appId GROUP BY category \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.txt
table.field.splitter=;

[tabledesc-apps]
table.name=apps
table.fields=appId,string,:category,string,
table.type=file
table.file.path=data/apps.txt
table.field.splitter=;
table.field.key=appId

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/q4.csv
table.emit=final
