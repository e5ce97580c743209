# expect: 14:1: `table.postgres.host` is another name of `table.tpg.db.host`, which is set already
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
table.tpg.db.host=db1
table.postgres.host=db2
