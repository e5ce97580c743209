-- expect: 2:36: DECIMAL scale 5 is above its precision 2
CREATE TABLE src (k STRING, amount DECIMAL(2,5), t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
