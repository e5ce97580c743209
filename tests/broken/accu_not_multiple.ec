# expect: 4:66: must be a whole multiple of the AGGR interval
[system]
sql=INSERT INTO dest SELECT k, count(qq ACCU) FROM src GROUP BY k \
COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 90 SECONDS

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:flag,boolean,:t,bigint,:qq,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
