# expect: 3:66: ACCU and SW only apply to aggregates
[system]
sql=INSERT INTO dest SELECT k, upper(qq SW) FROM src GROUP BY k, upper(qq SW) COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS WITH SW INTERVAL 120 SECONDS

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
