# expect: 3:37: DECIMAL scale 5 is above its precision 2
[system]
sql=INSERT INTO dest SELECT k, cast(v AS decimal(2,5)) FROM src

[tabledesc-src]
table.name=src
table.fields=k,string,:v,string,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.type=csv
table.csv.path=out/dest.csv
