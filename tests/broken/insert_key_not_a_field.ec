# expect: 3:27: `nosuch` is not a field of dest
[system]
sql=INSERT INTO dest WITH nosuch AS KEY SELECT k, v FROM src

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
