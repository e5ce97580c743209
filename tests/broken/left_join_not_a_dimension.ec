# expect: 3:64: `gen` cannot be a dimension: dimension tables are file, mysql, postgres or redis tables
[system]
sql=INSERT INTO dest SELECT src.k, count(1) FROM src LEFT JOIN gen ON src.k = gen.appId GROUP BY src.k

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
