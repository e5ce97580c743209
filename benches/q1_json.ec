# q1 over data/events.json, the JSON-lines copy of data/events.txt, read as
# table.file.format=json: the JSON reader's cost beside q1's delimited text (run.sh).
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=data/events.json
table.file.format=json

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/q1_json.csv
table.emit=final
