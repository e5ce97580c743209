-- expect: 6:28: OVER windows are not supported, but for Flink's top-N: `SELECT ... FROM (SELECT ..., ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) AS rn FROM t) WHERE rn <= N`; for windows, use a window TVF or COORDINATE BY
CREATE TABLE src (k STRING, v BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, s BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, sum(v) OVER (PARTITION BY k ORDER BY v) AS s FROM src;
