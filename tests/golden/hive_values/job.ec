# Values as Hive gives them. w: columns named `sw` and `accu` inside aggregates, with and
# without the ACCU / SW modifiers (windows of docs/windows.md: AGGR 60 s, ACCU 180 s, SW 120 s;
# rows at 00:10, 01:20, 02:30, 03:40 past 2023-11-14T22:00:00Z). v: Hive's string escapes
# (`'(\\d+)'` is the regex `(\d+)`), round / bround on the decimal value, casts narrowing to
# TINYINT / INT, TIMESTAMP values to seconds, and an EXECUTE written in EasyCount's
# comma-less spelling.
[system]
sql=INSERT INTO w SELECT AGGRTIME - 1699999200000, max(sw), count(accu), countd(sw), \
  count(sw SW), count(accu ACCU), max(sw ACCU) FROM src GROUP BY 1 COORDINATE BY t \
  WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 180 SECONDS WITH SW INTERVAL 120 SECONDS \
INSERT INTO v SELECT id, regexp_extract(s, '(\\d+)', 1), round(d, 2), bround(d, 2), \
  cast(n AS tinyint), cast(n AS int), unix_timestamp(ts), cast(ts AS bigint), \
  EXECUTE(DEFINE i int DEFAULT 0; DEFINE c bigint DEFAULT 0; { \
    FOR($i < k $c := $c + $i $i := $i + 1) } EMIT $c) FROM vals

[tabledesc-src]
table.name=src
table.fields=sw,bigint,:accu,string,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-vals]
table.name=vals
table.fields=id,bigint,:s,string,:d,double,:n,bigint,:ts,timestamp,:k,bigint,
table.type=file
table.file.path=vals.txt
table.field.splitter=|

[tabledesc-w]
table.name=w
table.fields=offset_ms,bigint,:max_sw,bigint,:n_accu,bigint,:nd_sw,bigint,:n_sw_sw,bigint,:n_accu_accu,bigint,:max_sw_accu,bigint,
table.type=csv
table.csv.path=out/w.csv

[tabledesc-v]
table.name=v
table.fields=id,bigint,:digits,string,:r,double,:br,double,:t8,bigint,:t32,bigint,:ut,bigint,:secs,bigint,:total,bigint,
table.type=csv
table.csv.path=out/v.csv
