# EasyCount's headline counting job on the built-in generator: count and exact countd of users
# per app per minute, printed as a change log.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=generator
table.generator.rows=200000
table.generator.seed=42

[tabledesc-2]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=stdout
table.emit=final
