# DECIMAL(p,s) from table.fields (the parentheses hold the comma): inputs are rounded HALF_UP
# to the column's scale (1.005 reads 1.01) and a value too wide for the precision is NULL
# (123456789.99 in DECIMAL(10,2), 12.5 in DECIMAL(4,3)); `abc` is a bad row. Results take
# Hive's types: price * qty DECIMAL(30,2), price + fee DECIMAL(12,3), price / qty
# DECIMAL(30,22); CAST rounds HALF_UP and overflows to NULL; sum is DECIMAL(20,2) and avg
# DECIMAL(14,6). Every value prints with its type's scale.
[system]
sql=INSERT INTO priced SELECT item, price * qty AS cost, price + fee AS gross, \
      price / qty AS unit, cast(price AS decimal(5,1)) AS short, cast(fee AS decimal(3,2)) AS fee2 \
      FROM items; \
INSERT INTO per_kind SELECT kind, sum(price), avg(price), sum(price * qty) FROM items GROUP BY kind

[tabledesc-items]
table.name=items
table.fields=kind,string,:item,string,:price,decimal(10,2),:qty,bigint,:fee,decimal(4, 3),
table.type=file
table.file.path=items.txt

[tabledesc-priced]
table.name=priced
table.type=csv
table.csv.path=out/priced.csv

[tabledesc-per_kind]
table.name=per_kind
table.fields=kind,string,:total,decimal(20,2),:mean,decimal(14,6),:revenue,DECIMAL(38,2),
table.type=csv
table.csv.path=out/per_kind.csv
