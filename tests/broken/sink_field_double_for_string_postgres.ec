# expect: 13:17: column `qq` of `dest` is DOUBLE but the query gives STRING
[system]
sql=INSERT INTO dest SELECT qq, count(1) n FROM src GROUP BY qq

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=qq,double,:n,bigint,
table.type=tpg
table.postgres.table=dest
