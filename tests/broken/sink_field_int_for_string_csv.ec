# expect: 14:20: column `appId` of `dest` is INT but the query gives STRING (column 1, `appId`): text that is not a number would be written as NULL; declare the column STRING, or convert in the SELECT with CAST(... AS INT)
[system]
sql=INSERT INTO dest SELECT appId, count(qq) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=appId,int,:cnt,bigint,
table.type=csv
table.csv.path=out/dest.csv
