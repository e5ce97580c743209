# ec-sql.md: apps with more than N errors (N is 1 here, the data is small).
[system]
sql=SELECT appid, sum(if(error, 1, 0)) FROM productTbl GROUP BY appid HAVING sum(if(error, 1, 0)) > 1

[tabledesc-products]
table.name=productTbl
table.fields=appid,string,:adid,string,:qq,string,:error,boolean,:dtTime,bigint,
table.type=file
table.file.path=data/products.txt
table.field.splitter=|

