# expect: 4:7: unknown column `amout`
[system]
sql=INSERT INTO dest SELECT k, \
  sum(amout) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
