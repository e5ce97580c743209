# The WITH ... tmp chain with out-of-order rows (one row per batch, 10 s of lateness): line 5
# (u4 at 55 s, after 65 s was seen) still counts in minute 0, line 7 (u5 at 50 s, after 80 s) is
# late, line 9 (u6 at 119 s, after 125 s) counts in minute 1. Downstream queries see tmp's rows as
# its sink would: a closed minute is kept, never retracted, so the unwindowed GROUP BY agtime and
# the global count keep counting closed minutes.
[system]
lateness.seconds=10
chunk.rows=1
sql=WITH (SELECT AGGRTIME agtime, qq FROM src GROUP BY qq COORDINATE BY dTime \
WITH AGGR INTERVAL 60 SECONDS) tmp \
INSERT INTO windowed SELECT AGGRTIME, count(1) FROM tmp GROUP BY 1 \
COORDINATE BY agtime WITH AGGR INTERVAL 60 SECONDS, \
INSERT INTO unwindowed SELECT agtime, count(1) FROM tmp GROUP BY agtime \
INSERT INTO everything SELECT count(1), count(DISTINCT qq) FROM tmp GROUP BY 1

[tabledesc-1]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,
table.type=file
table.file.path=clicks.txt

[tabledesc-2]
table.name=windowed
table.fields=minute,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/windowed.csv

[tabledesc-3]
table.name=unwindowed
table.fields=minute,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/unwindowed.csv

[tabledesc-4]
table.name=everything
table.fields=user_minutes,bigint,:users,bigint,
table.type=csv
table.csv.path=out/everything.csv
