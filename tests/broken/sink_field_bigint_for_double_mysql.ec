# expect: 14:9: column `total` of `dest` is BIGINT but the query gives DOUBLE (column 2, `total`): the fractions would be lost
[system]
sql=INSERT INTO dest SELECT appId, sum(price) total FROM src GROUP BY appId

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:\
  total,bigint,
table.type=mysql
table.mysql.table=dest
