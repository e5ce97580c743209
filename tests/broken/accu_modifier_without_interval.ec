# expect: 3:32: `count(... ACCU)` needs WITH ACCU INTERVAL n SECONDS
[system]
sql=INSERT INTO dest SELECT k, count(qq ACCU) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS

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
