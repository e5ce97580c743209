# EasyCount: pv and exact uv per ad, no windows.
[system]
sql=INSERT INTO dest SELECT adid, count(qq) pv, countd(qq) uv FROM productTbl GROUP BY adid

[tabledesc-src]
table.name=productTbl
table.fields=adid,string,:qq,string,
table.type=file
table.file.path=clicks.txt
table.field.splitter=|

[tabledesc-dest]
table.name=dest
table.fields=adid,string,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/dest.csv
