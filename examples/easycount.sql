-- The main example in the Flink-style form: the same job as easycount.ec.
CREATE TABLE src (appId STRING, qq STRING, dTime BIGINT)
WITH ('connector' = 'generator', 'rows' = '200000', 'seed' = '42');

CREATE TABLE dest (appId STRING, minute BIGINT, pv BIGINT, uv BIGINT)
WITH ('connector' = 'stdout', 'emit' = 'final');

SET 'lateness.seconds' = '30';

INSERT INTO dest
SELECT appId, AGGRTIME, count(qq), countd(qq)
FROM src
GROUP BY appId
COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS;
