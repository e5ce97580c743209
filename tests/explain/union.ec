# A union of a dense stream (20 rows a minute) and a sparse one (1 a minute), read in batches of
# 10 rows: after the first batch the sparse stream is 9 minutes ahead in event time. The
# windowed query's watermark is the minimum over the two streams, so no dense row is late.
# (With one watermark over the union, 150 of the 200 dense rows were dropped as late.)
[system]
chunk.rows=10
sql=INSERT INTO per_minute SELECT tag, AGGRTIME, count(1) FROM \
  (SELECT 'dense' AS tag, t FROM dense UNION ALL SELECT 'sparse' AS tag, t FROM sparse) u \
  GROUP BY tag COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS

[tabledesc-dense]
table.name=dense
table.fields=who,string,:t,bigint,
table.type=file
table.file.path=dense.txt

[tabledesc-sparse]
table.name=sparse
table.fields=who,string,:t,bigint,
table.type=file
table.file.path=sparse.txt

[tabledesc-per_minute]
table.name=per_minute
table.fields=tag,string,:aggrtime,bigint,:n,bigint,
table.type=csv
table.csv.path=out/per_minute.csv
