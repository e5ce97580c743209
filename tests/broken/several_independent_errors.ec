# expect: 5:32: unknown column `vv`
# expect: 6:35: unknown table `nosuch`
# expect: 8:22: unknown column `zz`
[system]
sql=INSERT INTO dest SELECT k, vv FROM src \
INSERT INTO dest SELECT k, v FROM nosuch \
INSERT INTO dest SELECT k, v FROM src \
WITH w AS (SELECT k, zz FROM src) \
INSERT INTO dest SELECT k, v FROM w

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
