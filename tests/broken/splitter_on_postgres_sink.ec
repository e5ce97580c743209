# expect: 13:1: unknown setting `table.field.splitter` for table `dest` of type postgres
[system]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=src.txt
[tabledesc-dest]
table.name=dest
table.type=postgres
table.field.splitter=;
