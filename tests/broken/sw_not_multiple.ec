# expect: 4:48: the SW interval (150 s) must be a whole multiple of the AGGR interval (60 s)
[system]
sql=INSERT INTO dest SELECT k, count(qq SW) FROM src GROUP BY k COORDINATE BY t \
WITH AGGR INTERVAL 60 SECONDS WITH SW INTERVAL 150 SECONDS

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dim]
table.name=dim
table.fields=k,string,:region,string,
table.type=file
table.file.path=dim.txt

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
