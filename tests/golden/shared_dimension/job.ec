# Three queries join one dimension on one key: they share one join operator, which keeps the
# dimension's rows once. The region of 1.1.1.1 and 3.3.3.3 changes in batch 1 and that of 2.2.2.2
# in batch 2 (table.file.replay, 10 lines a batch); each query's open windows move to the new
# region, each by its own window (1 and 2 minutes) or for good (no window). The expected files
# are what each query gives when it runs alone (its own operator).
[system]
chunk.rows=10
lateness.seconds=0
sql=INSERT INTO per_minute SELECT region, AGGRTIME, count(1) FROM clicks LEFT JOIN regions ON clicks.ip = regions.ip GROUP BY region COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS; INSERT INTO per_2min SELECT region, AGGRTIME, count(1) FROM clicks c LEFT JOIN regions r ON c.ip = r.ip GROUP BY region COORDINATE BY t WITH AGGR INTERVAL 120 SECONDS; INSERT INTO totals SELECT region, count(1) FROM clicks LEFT JOIN regions ON regions.ip = clicks.ip GROUP BY region

[tabledesc-clicks]
table.name=clicks
table.fields=ip,string,:t,bigint,
table.type=file
table.file.path=clicks.txt

[tabledesc-regions]
table.name=regions
table.fields=ip,string,:region,string,
table.type=file
table.file.path=regions.txt
table.file.replay=true
table.field.key=ip

[tabledesc-per_minute]
table.name=per_minute
table.fields=region,string,:aggrtime,bigint,:n,bigint,
table.type=csv
table.csv.path=out/per_minute.csv

[tabledesc-per_2min]
table.name=per_2min
table.fields=region,string,:aggrtime,bigint,:n,bigint,
table.type=csv
table.csv.path=out/per_2min.csv

[tabledesc-totals]
table.name=totals
table.fields=region,string,:n,bigint,
table.type=csv
table.csv.path=out/totals.csv
