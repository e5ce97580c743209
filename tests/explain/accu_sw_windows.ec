# ec-sql.md / EasyCount's headline job: per app, the count of each minute, the count since the
# start of the hour (ACCU) and the count of the last 30 minutes (SW), on the generator.
[system]
sql=INSERT INTO dest SELECT appId, from_unixtime(AGGRTIME DIV 1000, 'yyyy-MM-dd HH:mm:ss'), \
count(qq), count(qq ACCU), count(qq SW), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 3600 SECONDS \
WITH SW INTERVAL 1800 SECONDS

[tabledesc-src]
table.name=src
table.type=generator
table.generator.rows=500000

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:minute,string,:cnt1m,bigint,:cnt_accu,bigint,:cnt_sw,bigint,:uv1m,bigint,
table.type=csv
table.csv.path=out/accu_sw.csv
table.emit=final
