# docs/jobs.md: a keyed dimension with a version column. The price file lists item b's
# versions out of order (3, then 1) and item a's in order: the greatest version wins, not the
# later line. Item c has no version 2: its one row stands.
[system]
sql=INSERT INTO dest SELECT s.item, p.price, p.version FROM src s LEFT JOIN prices p ON s.item = p.item

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
table.field.splitter=|
table.field.key=item
table.field.version=version

[tabledesc-dest]
table.name=dest
table.fields=item,string,:price,int,:version,bigint,
table.type=csv
table.csv.path=out/dest.csv
