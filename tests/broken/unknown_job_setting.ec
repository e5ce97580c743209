# expect: 4:1: unknown job setting `latenes.seconds`: did you mean `lateness.seconds`? tally reads lateness.seconds, idle.timeout.seconds, chunk.rows, timezone, execute.max.iterations, execution.checkpointing.interval, execution.checkpointing.dir, state.checkpoints.dir, execution.checkpointing.num-retained, state.checkpoints.num-retained, execution.checkpointing.tolerable-failed-checkpoints, s3.endpoint, s3.access-key, s3.secret-key, s3.path.style.access, s3.region, http.address, http.token, http.result-rows; `properties.latenes.seconds` would keep it in the job, unread
[system]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS
latenes.seconds=10

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
