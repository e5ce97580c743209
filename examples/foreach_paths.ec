# ec-sql.md: every three consecutive pages of each user's click path (FOREACH), and the path's
# total length computed by an EXECUTE loop. The path column is an ARRAY read from delimited
# text: fields split by `|`, the array's elements by `,`.
[system]
sql=SELECT qq, FOREACH(idx OF path GENERATE if(idx < size(path)-2, \
      array(array_get(path, idx), array_get(path, idx+1), array_get(path, idx+2)), null)) FROM tbl, \
    SELECT qq, EXECUTE(DEFINE i AS int DEFAULT 0, total AS bigint DEFAULT 0 { \
      FOR($i < size(path), $total := $total + length(path[$i]), $i := $i + 1) } EMIT $total) FROM tbl

[tabledesc-tbl]
table.name=tbl
table.fields=qq,string,:path,array<string>,
table.type=file
table.file.path=data/paths.txt
table.field.splitter=|
table.collection.splitter=,
