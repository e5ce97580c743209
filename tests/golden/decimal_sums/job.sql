-- DECIMAL sums are exact: 0.10 + 0.20 + 0.30 is 0.60 (a double sum would print
-- 0.6000000000000001), a sum may outgrow DECIMAL(10,2), and values keep their scale of 2.
-- 'format' in DDL WITH becomes file.format. An empty amount is NULL; `abc` is a bad row.
CREATE TABLE pay (acct STRING, amount DECIMAL(10,2))
  WITH ('connector' = 'file', 'path' = 'pay.csv', 'format' = 'csv');
CREATE TABLE totals (acct STRING, n BIGINT, total DECIMAL(20,2), biggest DECIMAL(10,2), smallest DECIMAL(10,2))
  WITH ('connector' = 'csv', 'path' = 'out/totals.csv');
INSERT INTO totals SELECT acct, count(amount), sum(amount), max(amount), min(amount) FROM pay GROUP BY acct;
