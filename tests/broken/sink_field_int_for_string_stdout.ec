# expect: 13:20: column `appId` of `dest` is INT but the query gives STRING
[system]
sql=INSERT INTO dest SELECT appId, count(qq) FROM src GROUP BY appId

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=appId,int,:cnt,bigint,
table.type=stdout
