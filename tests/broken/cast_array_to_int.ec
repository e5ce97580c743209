# expect: 3:37: type mismatch: cannot cast ARRAY<STRING> to int
[system]
sql=INSERT INTO dest SELECT k, CAST(tags AS int) FROM src

[tabledesc-src]
table.name=src
table.fields=k,string,:tags,array<string>,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
