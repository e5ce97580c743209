# expect: 4:15: type mismatch: COORDINATE BY needs epoch milliseconds (a number) or a TIMESTAMP column, found STRING: write CAST(x AS BIGINT)
[system]
sql=INSERT INTO dest SELECT appId, count(1) FROM src GROUP BY appId \
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:dTime,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
