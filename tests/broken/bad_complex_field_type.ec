# expect: 7:29: unknown type `array<strung>` for field `tags` in table.field
[system]
sql=INSERT INTO dest SELECT k, tags[0] FROM src

[tabledesc-src]
table.name=src
table.fields=k,string,:tags,array<strung>,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:x,string,
table.type=csv
table.csv.path=out/dest.csv
