# expect: 15:17: `table.redis.key` names `region`, which is not a column of `dest` (k, n)
[system]
sql=INSERT INTO dest SELECT k, count(1) n FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=redis
table.redis.url=redis://127.0.0.1:6379/
table.redis.key=dest:{region}
