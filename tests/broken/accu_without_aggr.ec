# expect: 3:86: WITH ACCU / WITH SW need WITH AGGR INTERVAL
[system]
sql=INSERT INTO dest SELECT k, count(qq ACCU) FROM src GROUP BY k WITH ACCU INTERVAL 3600 SECONDS

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
