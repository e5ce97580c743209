# expect: 13:19: `table.tpg.db.port` must be a number, found `54x2`
[system]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=src.txt
[tabledesc-dest]
table.name=dest
table.type=tpg
table.tpg.db.port=54x2
table.field.splitter=;
