# FOREACH and EXECUTE. paths_out is ec-sql.md's FOREACH example as written: each window of
# three consecutive pages of a click path (NULL where fewer than three remain). exec_out runs
# EXECUTE blocks with a FOR loop, an IF and a FOREACH inside. stuck_out is the loop of
# EasyCount's documentation that never advances its index: every row whose path is not empty
# hits `execute.max.iterations` and is skipped (counted as a bad row); the job goes on and the
# row with an empty path comes through.
[system]
execute.max.iterations=1000
sql=INSERT INTO paths_out SELECT qq, FOREACH(idx OF path GENERATE if(idx < size(path)-2, \
    array(array_get(path, idx), array_get(path, idx+1), array_get(path, idx+2)), null)), \
    FOREACH(p IN path GENERATE upper(p)) FROM tbl \
INSERT INTO exec_out SELECT qq, \
    EXECUTE(DEFINE i AS int DEFAULT 0, total AS bigint DEFAULT 0, last AS string { \
        FOR($i < size(path), $total := $total + length(path[$i]), $last := path[$i], $i := $i + 1), \
        IF($total > 10 { $total := $total * 100 }) \
    } EMIT concat($last, ':', $total)), \
    EXECUTE(DEFINE n AS int DEFAULT 3 { IF($n > 2, $n := $n - 1) } \
        EMIT FOREACH(x IN path GENERATE concat(x, '#', $n))) \
    FROM tbl \
INSERT INTO stuck_out SELECT qq, EXECUTE(DEFINE i AS int DEFAULT 0, s AS string DEFAULT '' { \
    FOR($i < size(path), $s := concat($s, path[$i])) } EMIT $s) FROM tbl

[tabledesc-tbl]
table.name=tbl
table.fields=qq,string,:path,array<string>,
table.type=file
table.file.path=tbl.txt
table.field.splitter=|
table.collection.splitter=,

[tabledesc-paths_out]
table.name=paths_out
table.fields=qq,string,:triples,array<array<string>>,:upper_path,array<string>,
table.type=csv
table.csv.path=out/paths_out.csv

[tabledesc-exec_out]
table.name=exec_out
table.fields=qq,string,:summary,string,:tagged,array<string>,
table.type=csv
table.csv.path=out/exec_out.csv

[tabledesc-stuck_out]
table.name=stuck_out
table.fields=qq,string,:s,string,
table.type=csv
table.csv.path=out/stuck_out.csv
