# expect: 10:38: unknown type `nosuchtype`
# expect: 16:1: expected `key=value`
# expect: 19:1: unknown section `[tabledes-x]`
[system]
sql=INSERT INTO dest SELECT k, v FROM src \
INSERT INTO dest SELECT k, v FROM src2

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:bad,nosuchtype,
table.type=file
table.file.path=src.txt

[tabledesc-src2]
table.name=src2
table.fields k,string,:v,bigint,
table.type=file

[tabledes-x]
table.name=x

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
