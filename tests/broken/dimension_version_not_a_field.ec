# expect: 17:21: version column `revision` is not a field of `prices`
[system]
sql=INSERT INTO dest SELECT s.item, p.price FROM src s LEFT JOIN prices p ON s.item = p.item

[tabledesc-src]
table.name=src
table.fields=item,string,
table.type=file
table.file.path=orders.txt

[tabledesc-prices]
table.name=prices
table.fields=item,string,:price,int,:version,bigint,
table.type=file
table.file.path=prices.txt
table.field.key=item
table.field.version=revision

[tabledesc-dest]
table.name=dest
table.fields=item,string,:price,int,
table.type=csv
table.csv.path=out/dest.csv
