-- A Flink SQL job as Flink writes it: the table's event time and watermark, a tumbling
-- window table function, and the window's bounds in the result.
CREATE TABLE page_views (
  page STRING,
  user_id STRING,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'file', 'path' = 'data/page_views.csv', 'field.splitter' = ',');

CREATE TABLE views_per_minute (
  page STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  views BIGINT,
  users BIGINT
) WITH ('connector' = 'stdout', 'emit' = 'final');

INSERT INTO views_per_minute
SELECT page, window_start, window_end, COUNT(*) AS views, COUNT(DISTINCT user_id) AS users
FROM TABLE(TUMBLE(TABLE page_views, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY page, window_start, window_end;
