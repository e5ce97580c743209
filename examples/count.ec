# ec-sql.md: SELECT count(1) FROM productTbl (a bare SELECT prints its change log).
[system]
sql=SELECT count(1) FROM productTbl

[tabledesc-products]
table.name=productTbl
table.fields=appid,string,:adid,string,:qq,string,:error,boolean,:dtTime,bigint,
table.type=file
table.file.path=data/products.txt
table.field.splitter=|

