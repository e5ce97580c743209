# expect: 14:16: `test-db` is not a valid mysql database name
[system]
sql=INSERT INTO dest SELECT k, count(1) n FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=mysql
table.mysql.db=test-db
