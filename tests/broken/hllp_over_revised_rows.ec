# expect: 4:28: `countd_hllp` needs an input that only adds rows
[system]
sql=WITH (SELECT k, count(1) n FROM src GROUP BY k) c \
INSERT INTO dest SELECT 1, countd_hllp(n) FROM c GROUP BY 1

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
