-- expect: 2:31: unsupported column type BIGNUM
CREATE TABLE src (k STRING, v BIGNUM, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
