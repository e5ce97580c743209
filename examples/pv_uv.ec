# ec-sql.md: pv and exact uv per ad, into a CSV file (out/pv_uv.csv).
[system]
sql=INSERT INTO dest SELECT adid, count(qq) pv, countd(qq) uv FROM productTbl GROUP BY adid

[tabledesc-products]
table.name=productTbl
table.fields=appid,string,:adid,string,:qq,string,:error,boolean,:dtTime,bigint,
table.type=file
table.file.path=data/products.txt
table.field.splitter=|

[tabledesc-dest]
table.name=dest
table.fields=adid,string,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/pv_uv.csv
