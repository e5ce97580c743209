# SELECT * passes every column in order; GROUP BY an expression (the selected expression is the
# key); a windowed query whose HAVING keeps only busy minutes.
[system]
sql=INSERT INTO copy SELECT * FROM src WHERE v <> 2 \
INSERT INTO by_prefix SELECT upper(substr(k, 1, 1)), count(1), sum(v) FROM src GROUP BY upper(substr(k, 1, 1)) \
INSERT INTO busy SELECT AGGRTIME, count(1) FROM src GROUP BY 1 COORDINATE BY t \
WITH AGGR INTERVAL 60 SECONDS HAVING count(1) >= 2

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-copy]
table.name=copy
table.fields=k,string,:v,bigint,:t,bigint,
table.type=csv
table.csv.path=out/copy.csv

[tabledesc-by_prefix]
table.name=by_prefix
table.fields=prefix,string,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/by_prefix.csv

[tabledesc-busy]
table.name=busy
table.fields=minute,bigint,:n,bigint,
table.type=csv
table.csv.path=out/busy.csv
