# Tumbling 10-second windows with 5 seconds of lateness, one input row per batch (chunk.rows=1),
# so the watermark is the largest event time of the earlier lines minus 5 s. Out-of-order rows
# inside the lateness correct their window; rows whose window has ended at or before the
# watermark are late and dropped (lines 5, 9, 11 and 13 of events.txt). The same result goes to a
# sink with emit=changes and one with emit=final: once the input has ended both hold the same table.
[system]
lateness.seconds=5
chunk.rows=1
sql=INSERT INTO live SELECT k, AGGRTIME, count(1), sum(v) FROM events GROUP BY k \
COORDINATE BY t WITH AGGR INTERVAL 10 SECONDS \
INSERT INTO closed SELECT k, AGGRTIME, count(1), sum(v) FROM events GROUP BY k \
COORDINATE BY t WITH AGGR INTERVAL 10 SECONDS

[tabledesc-events]
table.name=events
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=events.txt

[tabledesc-live]
table.name=live
table.fields=k,string,:w,bigint,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/live.csv
table.emit=changes

[tabledesc-closed]
table.name=closed
table.fields=k,string,:w,bigint,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/closed.csv
table.emit=final
