# A WHERE between a join and its aggregate does not hold the watermark back: the aggregate
# reads event times from the rows before the WHERE, as the join does, so both agree on which
# windows are final. Batch 0 (two lines each, chunk.rows=2) holds a kept click at 00:10 and a
# dropped one at 05:00; the region of 1.1.1.1 changes from A to B in batch 1. The minute of
# 00:10 is final once 05:00 was seen: the kept click at 00:20 in batch 1 is late, and the
# 00:10 click stays on A. (When the aggregate's watermark came only from kept rows, its window
# was still open while the join had already let go of the 00:10 row: the minute was split
# over A and B, neither old nor new.)
[system]
chunk.rows=2
lateness.seconds=0
sql=INSERT INTO per_region SELECT region, AGGRTIME, count(1) FROM clicks \
  LEFT JOIN regions ON clicks.ip = regions.ip WHERE kind = 'keep' \
  GROUP BY region COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS

[tabledesc-clicks]
table.name=clicks
table.fields=ip,string,:kind,string,:t,bigint,
table.type=file
table.file.path=clicks.txt

[tabledesc-regions]
table.name=regions
table.fields=ip,string,:region,string,
table.type=file
table.file.path=regions.txt
table.file.replay=true
table.field.key=ip

[tabledesc-per_region]
table.name=per_region
table.fields=region,string,:aggrtime,bigint,:n,bigint,
table.type=csv
table.csv.path=out/per_region.csv
