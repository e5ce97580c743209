-- The Flink form: CREATE TABLE ... WITH (...) (keys without a dot take the type's prefix:
-- 'path' is file.path / csv.path), SET for job settings, a standard WITH name AS (SELECT ...),
-- and a windowed INSERT. With lateness 0 and one row per batch, line 5 of orders.txt (59 s,
-- after 61 s was seen) is late; line 3 is filtered out by the WHERE.
CREATE TABLE orders (shop STRING, item STRING, price BIGINT, ts BIGINT)
  WITH ('connector' = 'file', 'path' = 'orders.txt', 'field.splitter' = ';');
CREATE TABLE per_shop (shop STRING, minute_start BIGINT, orders BIGINT, revenue BIGINT)
  WITH ('connector' = 'csv', 'path' = 'out/per_shop.csv');
SET 'lateness.seconds' = '0';
SET 'chunk.rows' = '1';

WITH paid AS (SELECT shop, price, ts FROM orders WHERE price > 0)
INSERT INTO per_shop
SELECT shop, AGGRTIME, count(1), sum(price)
FROM paid
GROUP BY shop
COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS;
