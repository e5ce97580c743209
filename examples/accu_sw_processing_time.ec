# ec-sql.md: count, count ACCU and count SW of processing time (unix_timestamp()*1000).
[system]
sql=INSERT INTO dest SELECT count(qq), count(qq ACCU), count(qq SW) FROM src GROUP BY 1 \
COORDINATE BY unix_timestamp()*1000 WITH AGGR INTERVAL 60 SECONDS \
WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 300 SECONDS

[tabledesc-src]
table.name=src
table.type=generator
table.generator.rows=30000
table.generator.rate=10000

[tabledesc-dest]
table.name=dest
table.fields=cnt,bigint,:cnt_accu,bigint,:cnt_sw,bigint,
table.type=stdout
