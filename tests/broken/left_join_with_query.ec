# expect: 3:91: cannot LEFT JOIN `w`: it is a WITH query, not a dimension table
[system]
sql=WITH (SELECT k FROM src) w INSERT INTO dest SELECT src.k, count(1) FROM src LEFT JOIN w ON src.k = w.k GROUP BY src.k

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
