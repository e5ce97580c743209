# expect: 10:1: unknown setting `table.file.pth` for table `src` of type file; did you mean `table.file.path`?
[system]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt
table.file.pth=other.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
