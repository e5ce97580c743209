# expect: 13:12: a mysql sink upserts by the result key, and `dest` gets a result without one (no GROUP BY columns); group by a column or write `INSERT INTO dest WITH col AS KEY`
[system]
sql=INSERT INTO dest SELECT count(1) n FROM src GROUP BY 1

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=mysql
table.mysql.table=dest
