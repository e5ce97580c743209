# expect: 4:20: unknown column `kk`
[system]
  sql =  INSERT INTO dest SELECT k, count(1) \
	FROM src GROUP BY kk

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
