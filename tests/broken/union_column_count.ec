# expect: 3:53: UNION ALL: this SELECT gives 1 columns, the first gives 2
[system]
sql=INSERT INTO dest SELECT k, v FROM src UNION ALL SELECT k FROM src

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
