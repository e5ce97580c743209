# A windowed query that selects AGGRTIME keeps a row per group per minute; one that does not keeps
# one row per group: its newest minute. Line 3 updates x's first minute after x's second minute
# exists: the sinks without AGGRTIME must still show x's newest minute (count 1), not the minute
# written last. Line 6 is late (watermark 90 s - 30 s = 60 s = the end of minute 0).
[system]
chunk.rows=1
sql=INSERT INTO by_window SELECT k, AGGRTIME, count(1) FROM src GROUP BY k \
COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS \
INSERT INTO latest SELECT k, count(1) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS \
INSERT INTO latest_final SELECT k, count(1) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=k,string,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-by_window]
table.name=by_window
table.fields=k,string,:minute,bigint,:n,bigint,
table.type=csv
table.csv.path=out/by_window.csv

[tabledesc-latest]
table.name=latest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/latest.csv

[tabledesc-latest_final]
table.name=latest_final
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/latest_final.csv
table.emit=final
