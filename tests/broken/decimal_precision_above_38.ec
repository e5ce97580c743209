# expect: 7:31: bad type `decimal(40,2)` for field `amount` in table.fields: DECIMAL precision must be 1 to 38, not 40
[system]
sql=INSERT INTO dest SELECT k, sum(amount) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:amount,decimal(40,2),:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:total,decimal(38,2),
table.type=csv
table.csv.path=out/dest.csv
