# expect: 3:34: [...] reads an ARRAY element or a MAP value, but the value i
[system]
sql=INSERT INTO dest SELECT k, k[0] FROM src

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
