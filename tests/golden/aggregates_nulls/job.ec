# count/sum/avg/min/max, with and without DISTINCT, and countd, over NULLs (\N and, for numbers,
# the empty field). Aggregates skip NULLs; over no non-NULL value sum/avg/min/max are NULL and
# count/countd are 0. avg is a double.
[system]
sql=INSERT INTO ints SELECT g, count(1), count(v), count(DISTINCT v), sum(v), sum(DISTINCT v), \
avg(v), avg(DISTINCT v), min(v), max(v), min(name), max(name), countd(name) FROM t GROUP BY g \
INSERT INTO doubles SELECT g, sum(d), avg(d), min(d), max(d), count(*) FROM t GROUP BY g

[tabledesc-t]
table.name=t
table.fields=g,string,:v,bigint,:d,double,:name,string,
table.type=file
table.file.path=t.txt

[tabledesc-ints]
table.name=ints
table.fields=g,string,:n,bigint,:n_v,bigint,:nd_v,bigint,:sum_v,bigint,:sumd_v,bigint,:avg_v,double,:avgd_v,double,:min_v,bigint,:max_v,bigint,:min_name,string,:max_name,string,:uv,bigint,
table.type=csv
table.csv.path=out/ints.csv

[tabledesc-doubles]
table.name=doubles
table.fields=g,string,:sum_d,double,:avg_d,double,:min_d,double,:max_d,double,:n,bigint,
table.type=csv
table.csv.path=out/doubles.csv
