-- expect: 3:5: `table.exec.source.idle-timeout` is a Flink setting tally does not implement: use `idle.timeout.seconds`
SET 'lateness.seconds' = '5';
SET 'table.exec.source.idle-timeout' = '5 s';
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
