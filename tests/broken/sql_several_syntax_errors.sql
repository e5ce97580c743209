-- expect: 7:3: expected `)`, found `WITH`
-- expect: 9:7: expected `BY`
-- expect: 12:1: expected CREATE TABLE, CREATE VIEW, SET, WITH, INSERT or SELECT, found `DELETE`
CREATE TABLE src (k STRING, v BIGINT, t BIGINT)
  WITH ('connector' = 'file', 'path' = 'src.txt');
CREATE TABLE dest (k STRING
  WITH ('connector' = 'csv', 'path' = 'out/dest.csv');
INSERT INTO dest SELECT k, count(1) FROM src
GROUP k;
INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k;
-- a statement tally does not know
DELETE FROM dest;
