-- expect: 8:54: a join of two streams needs a condition: `FROM a, b WHERE a.k = b.k` or `FROM a JOIN b ON a.k = b.k` (a cross join is not supported)
CREATE TABLE src (k STRING, v BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE other (k STRING, w BIGINT)
  WITH ('connector' = 'file', 'path' = 'other.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT a.k, count(1) AS n FROM src a, other b GROUP BY a.k;
