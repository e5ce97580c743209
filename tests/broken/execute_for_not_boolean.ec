# expect: 3:72: type mismatch: FOR needs BOOLEAN, found BIGINT
[system]
sql=INSERT INTO dest SELECT k, EXECUTE(DEFINE i AS int DEFAULT 0 { FOR($i + 1, $i := $i + 1) } EMIT $i) FROM src

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
