-- expect: 3:5: unknown job setting `idle.timeout.second`: did you mean `idle.timeout.seconds`?
-- expect: 4:5: unknown job setting `latenes.seconds`: did you mean `lateness.seconds`?
SET 'idle.timeout.second' = '5';
SET 'latenes.seconds' = '5';
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
