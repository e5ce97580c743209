# expect: 14:32: column `cnt` of `dest` is DECIMAL(10,2) but the query gives BIGINT (column 2, `count(qq)`): a BIGINT needs 19 digits before the point
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
table.fields=appId,string,:cnt,decimal(10,2),
table.type=csv
table.csv.path=out/dest.csv
