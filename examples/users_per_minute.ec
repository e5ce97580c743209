# ec-sql.md: one row per user per minute (processing time), then count them per minute.
# Runs on the built-in generator for ~20 s at 5,000 events/s.
[system]
sql=WITH (SELECT AGGRTIME agtime, qq FROM src GROUP BY qq COORDINATE BY unix_timestamp()*1000 \
      WITH AGGR INTERVAL 60 SECONDS) tmp \
INSERT INTO dest SELECT from_unixtime(AGGRTIME DIV 1000), count(1) FROM tmp GROUP BY 1 \
      COORDINATE BY agtime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.type=generator
table.generator.rows=100000
table.generator.rate=5000

[tabledesc-dest]
table.name=dest
table.fields=minute,string,:users,bigint,
table.type=stdout
