# expect: 3:42: expected OF or IN
[system]
sql=INSERT INTO dest SELECT k, FOREACH(x tags GENERATE x) FROM src

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
