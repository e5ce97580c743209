# expect: 3:46: expected `ALL` (only UNION ALL is supported)
[system]
sql=INSERT INTO dest SELECT k FROM src UNION SELECT k FROM src

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
