-- expect: 3:23: unknown table type `filez`
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'filez', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
