# ec-sql.md: count per country per minute of a stream joined with an ip -> country dimension.
# 9.9.9.9 has no country (NULL group); the dimension file repeats 2.2.2.2, and its key
# (table.field.key=ip) makes the later line replace the earlier one. A second query joins the
# same dimension with an extra ON predicate (only ads dimension rows) and keeps detail rows.
[system]
sql=INSERT INTO dest SELECT country_id, AGGRTIME, count(qq), countd(qq) FROM src \
  LEFT JOIN dim ON src.ip = dim.ip GROUP BY dim.country_id \
  COORDINATE BY dtTime WITH AGGR INTERVAL 60 SECONDS; \
INSERT INTO detail SELECT s.qq, s.ip, d.country_id, d.kind FROM src s \
  LEFT JOIN dim d ON d.ip = s.ip AND d.kind = 'ads' WHERE s.dtTime < 1700000040000

[tabledesc-src]
table.name=src
table.fields=qq,string,:ip,string,:dtTime,bigint,
table.type=file
table.file.path=data/clicks.txt
table.field.splitter=|

[tabledesc-dim]
table.name=dim
table.fields=ip,string,:country_id,int,:kind,string,
table.type=file
table.file.path=data/ips.csv
table.file.format=csv
table.field.key=ip

[tabledesc-dest]
table.name=dest
table.fields=country_id,int,:minute,bigint,:pv,bigint,:uv,bigint,
table.type=csv
table.csv.path=out/join_dest.csv

[tabledesc-detail]
table.name=detail
table.fields=qq,string,:ip,string,:country_id,int,:kind,string,
table.type=csv
table.csv.path=out/join_detail.csv
