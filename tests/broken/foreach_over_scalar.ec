# expect: 3:45: FOREACH iterates over an ARRAY or a MAP, but this is STRING
[system]
sql=INSERT INTO dest SELECT k, FOREACH(x IN k GENERATE upper(x)) FROM src

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:tags,array<string>,:m,map<string,bigint>,:s,struct<a:bigint,b:string>,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:x,string,
table.type=csv
table.csv.path=out/dest.csv
