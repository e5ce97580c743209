# expect: 3:61: EXECUTE is written EXECUTE(DEFINE v AS type DEFAULT value, ... { statements } EMIT expr): `j` has no type
[system]
sql=INSERT INTO dest SELECT k, EXECUTE(DEFINE i int; DEFINE j DEFAULT 0 { $i := 1 } EMIT $i) FROM src

[tabledesc-src]
table.name=src
table.fields=k,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
