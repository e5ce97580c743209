# expect: 3:71: type mismatch: IF needs BOOLEAN, found STRING
[system]
sql=INSERT INTO dest SELECT k, EXECUTE(DEFINE i AS int DEFAULT 0 { IF(k { $i := 1 }) } EMIT $i) FROM src

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
