-- expect: 9:7: expected `BY`
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest
SELECT k, count(1)
FROM src
GROUP k;
