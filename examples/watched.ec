# A job to watch: endless generated clicks at 20,000 a second, counted per app per minute (with
# exact distinct users) and per app in total. Run it with the console on:
#   tally run examples/watched.ec --http 127.0.0.1:9249
# and open http://127.0.0.1:9249/ (Ctrl-C stops it).
[system]
sql=INSERT INTO per_minute SELECT appId, AGGRTIME, count(qq) pv, countd(qq) uv FROM src \
GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \
INSERT INTO totals SELECT appId, count(qq) pv, countd(qq) uv FROM src GROUP BY appId
http.address=127.0.0.1:9249

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=generator
table.generator.rate=20000

[tabledesc-2]
table.name=per_minute
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/watched_per_minute.csv

[tabledesc-3]
table.name=totals
table.fields=appId,string,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/watched_totals.csv
