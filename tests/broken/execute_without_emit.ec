# expect: 3:81: EMIT is missing
[system]
sql=INSERT INTO dest SELECT k, EXECUTE(DEFINE i AS int DEFAULT 0 { $i := $i + 1 }) FROM src

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
