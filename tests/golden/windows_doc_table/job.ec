# The table of docs/windows.md: AGGR 60 s, ACCU 180 s, SW 120 s; rows at 00:10, 01:20, 02:30,
# 03:40 past an hour boundary (2023-11-14T22:00:00Z = 1699999200000).
[system]
sql=INSERT INTO w SELECT AGGRTIME - 1699999200000, count(x), count(x ACCU), count(x SW), \
  min(x ACCU), max(x SW) FROM src GROUP BY 1 COORDINATE BY t \
  WITH AGGR INTERVAL 60 SECONDS WITH ACCU INTERVAL 180 SECONDS WITH SW INTERVAL 120 SECONDS

[tabledesc-src]
table.name=src
table.fields=x,bigint,:t,bigint,
table.type=file
table.file.path=rows.txt

[tabledesc-w]
table.name=w
table.fields=offset_ms,bigint,:n,bigint,:n_accu,bigint,:n_sw,bigint,:min_accu,bigint,:max_sw,bigint,
table.type=csv
table.csv.path=out/w.csv
