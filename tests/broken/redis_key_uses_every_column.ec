# expect: 14:17: every column of `dest` (k, n) is in the redis key, so nothing is left to write as a value
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
table.redis.key=dest:{k}:{n}
