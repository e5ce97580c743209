# expect: 3:61: LEFT JOIN needs an equality between the stream and a column of `dim`
[system]
sql=INSERT INTO dest SELECT src.k FROM src LEFT JOIN dim ON src.k > dim.k

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
