# The EasyCount counting job with checkpoints: kill it at any moment (kill -9) and start it
# again, and it goes on where its latest checkpoint stands; out/checkpointed.csv ends exactly
# as an uninterrupted run's. The generator is paced (200,000 events/s) so there is time to kill.
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), countd(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS
execution.checkpointing.interval=1 s
execution.checkpointing.dir=out/state

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=generator
table.generator.rows=3000000
table.generator.rate=200000
table.generator.seed=42

[tabledesc-2]
table.name=dest
table.fields=appId,string,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/checkpointed.csv
