# expect: 3:34: type mismatch: a key of MAP<STRING,BIGINT> cannot be ARRAY<S
[system]
sql=INSERT INTO dest SELECT k, m[tags] FROM src

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
