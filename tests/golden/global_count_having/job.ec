# EasyCount examples: count(1) over the whole table, and sum(if(error,1,0)) per appid kept only
# when HAVING holds. Two INSERTs in one script; two malformed records are skipped.
[system]
sql=INSERT INTO total SELECT count(1) FROM productTbl \
INSERT INTO errs SELECT appid, sum(if(error, 1, 0)) FROM productTbl GROUP BY appid \
HAVING sum(if(error, 1, 0)) > 1

[tabledesc-src]
table.name=productTbl
table.fields=appid,string,:error,boolean,:qq,string,
table.type=file
table.file.path=product.txt
table.field.splitter=;

[tabledesc-total]
table.name=total
table.fields=cnt,bigint,
table.type=csv
table.csv.path=out/total.csv

[tabledesc-errs]
table.name=errs
table.fields=appid,string,:errors,bigint,
table.type=csv
table.csv.path=out/errs.csv
