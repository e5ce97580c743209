# "Statements may be separated by commas, semicolons or new lines": here on one line, a comma
# right after a GROUP BY list and after a WHERE, then a semicolon. INSERT cannot start an
# expression, so the comma after `GROUP BY k` ends the statement.
[system]
sql=INSERT INTO per_k SELECT k, count(1) FROM src GROUP BY k, INSERT INTO big SELECT k, v FROM src WHERE v > 1, INSERT INTO total SELECT count(1), sum(v) FROM src; INSERT INTO kept SELECT k, sum(v) FROM src GROUP BY k HAVING sum(v) > 2;

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-per_k]
table.name=per_k
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/per_k.csv

[tabledesc-big]
table.name=big
table.fields=k,string,:v,bigint,
table.type=csv
table.csv.path=out/big.csv

[tabledesc-total]
table.name=total
table.fields=n,bigint,:v,bigint,
table.type=csv
table.csv.path=out/total.csv

[tabledesc-kept]
table.name=kept
table.fields=k,string,:v,bigint,
table.type=csv
table.csv.path=out/kept.csv
