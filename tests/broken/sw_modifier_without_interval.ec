# expect: 3:32: `count(... SW)` needs WITH SW INTERVAL n SECONDS
[system]
sql=INSERT INTO dest SELECT k, count(qq SW) FROM src GROUP BY k COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 120 SECONDS

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-gen]
table.name=gen
table.type=generator

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
