-- expect: 3:5: `parallelism.default` is a Flink setting tally does not implement: the workers are `tally run -w N` (and `-n`/`-p` for processes); `properties.parallelism.default` would keep it in the job, unread
SET 'properties.pipeline.name' = 'counts';
SET 'parallelism.default' = '4';
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING, n BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
