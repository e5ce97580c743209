# expect: 16:21: `table.field.version` orders the rows of one key: `prices` needs `table.field.key` too
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
table.field.version=version

[tabledesc-dest]
table.name=dest
table.fields=item,string,:price,int,
table.type=csv
table.csv.path=out/dest.csv
