# A subquery in FROM, and WHERE with LIKE (case-sensitive), IN, BETWEEN (inclusive), IS NULL and
# their NOT forms under Hive's NULL rules: a NULL status or ms makes the condition NULL, so the row
# is filtered out. `odd` has no GROUP BY: its rows come out sorted by the whole row.
[system]
sql=INSERT INTO api SELECT region, count(1) n, sum(ms) AS total FROM \
(SELECT nvl(region, 'unknown') region, ms FROM logs \
WHERE url LIKE '/api/%' AND status IN (200, 201, 204) AND ms BETWEEN 10 AND 100) t \
GROUP BY region \
INSERT INTO odd SELECT url, status, ms FROM logs \
WHERE region IS NULL OR status NOT IN (200, 201) OR ms NOT BETWEEN 0 AND 500 OR url NOT LIKE '/%'

[tabledesc-logs]
table.name=logs
table.fields=url,string,:status,bigint,:ms,bigint,:region,string,
table.type=file
table.file.path=logs.txt
table.field.splitter=;

[tabledesc-api]
table.name=api
table.fields=region,string,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/api.csv

[tabledesc-odd]
table.name=odd
table.fields=url,string,:status,bigint,:ms,bigint,
table.type=csv
table.csv.path=out/odd.csv
