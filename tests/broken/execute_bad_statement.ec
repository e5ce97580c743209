# expect: 3:68: an EXECUTE block holds `$v := expr`, IF(condition, ...) and 
[system]
sql=INSERT INTO dest SELECT k, EXECUTE(DEFINE i AS int DEFAULT 0 { upper(k) } EMIT $i) FROM src

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
