# q1 over data/events.csv, the comma-separated copy of data/events.txt, read as
# table.file.format=csv: the CSV reader's cost beside q1's delimited text (run.sh).
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.csv
table.file.format=csv

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/q1_csv.csv
table.emit=final
