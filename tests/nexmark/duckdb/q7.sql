-- Tumbling 10 s windows aligned to the epoch; a window's end is its start + 10 s.
WITH w AS (
    SELECT max(price) AS maxprice,
           epoch_ms(epoch_ms(dateTime) // 10000 * 10000 + 10000) AS dateTime
    FROM bid
    GROUP BY epoch_ms(dateTime) // 10000
)
SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
FROM bid B JOIN w ON B.price = w.maxprice
WHERE B.dateTime BETWEEN w.dateTime - INTERVAL 10 SECOND AND w.dateTime;
