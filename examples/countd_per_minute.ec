# ec-sql.md: exact distinct users per minute of processing time, on the generator.
[system]
sql=INSERT INTO dest SELECT countd(qq) FROM src GROUP BY 1 COORDINATE BY unix_timestamp()*1000 \
      WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.type=generator
table.generator.rows=50000
table.generator.rate=10000

[tabledesc-dest]
table.name=dest
table.fields=uv,bigint,
table.type=stdout
