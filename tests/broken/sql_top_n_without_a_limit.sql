-- expect: 7:67: ROW_NUMBER() OVER is supported as Flink's top-N: read the subquery with `WHERE rn <= N` (or `= 1` to deduplicate)
CREATE TABLE src (k STRING, v BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, v BIGINT, rn BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC) AS rn FROM src) WHERE v > 0;
