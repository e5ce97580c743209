-- Flink's REGEXP_EXTRACT is NULL where the pattern does not match (DuckDB's: '').
WITH b AS (
    SELECT *,
        CASE WHEN regexp_matches(url, '(&|^)channel_id=([^&]*)')
             THEN regexp_extract(url, '(&|^)channel_id=([^&]*)', 2) END AS cid
    FROM bid
)
SELECT
    auction, bidder, price, channel,
    CASE lower(channel)
        WHEN 'apple' THEN '0'
        WHEN 'google' THEN '1'
        WHEN 'facebook' THEN '2'
        WHEN 'baidu' THEN '3'
        ELSE cid
    END
FROM b
WHERE cid IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu');
