# Results are tables kept exact: an unwindowed count per key changes as rows come in (one row per
# batch), so queries reading it through WITH see each old count retracted and the new one added:
# the histogram, min/max/sum over the counts and the HAVING filter (a leaves `small` once its
# count reaches 3) must end as a batch engine would compute them.
[system]
chunk.rows=1
sql=WITH (SELECT k, count(1) c FROM src GROUP BY k) tmp \
INSERT INTO histogram SELECT c, count(1) FROM tmp GROUP BY c \
INSERT INTO stats SELECT min(c), max(c), sum(c), count(1), countd(c) FROM tmp GROUP BY 1 \
INSERT INTO small SELECT k, count(1) FROM src GROUP BY k HAVING count(1) < 3 \
INSERT INTO copies SELECT c, k FROM tmp WHERE c >= 2

[tabledesc-src]
table.name=src
table.fields=k,string,
table.type=file
table.file.path=src.txt

[tabledesc-histogram]
table.name=histogram
table.fields=c,bigint,:keys,bigint,
table.type=csv
table.csv.path=out/histogram.csv

[tabledesc-stats]
table.name=stats
table.fields=min_c,bigint,:max_c,bigint,:sum_c,bigint,:keys,bigint,:distinct_c,bigint,
table.type=csv
table.csv.path=out/stats.csv

[tabledesc-small]
table.name=small
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/small.csv

[tabledesc-copies]
table.name=copies
table.fields=c,bigint,:k,string,
table.type=csv
table.csv.path=out/copies.csv
