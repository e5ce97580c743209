-- expect: 4:26: column `appId` of `dest` is INT but the query gives STRING
CREATE TABLE src (appId STRING, qq STRING, dTime BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (appId INT, cnt BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT appId, count(qq) FROM src GROUP BY appId;
