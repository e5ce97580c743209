-- expect: 9:7: unknown column `vv`
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest
SELECT k, count(1)
FROM src
WHERE vv > 1
GROUP BY k;
