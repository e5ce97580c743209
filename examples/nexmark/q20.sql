-- Nexmark q20, expand bids with their auctions: each bid on an auction of category 10, with
-- the auction's fields (a join of two streams).
CREATE TABLE nexmark_q20 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    bid_dateTime TIMESTAMP(3),
    bid_extra VARCHAR,
    itemName VARCHAR,
    description VARCHAR,
    initialBid BIGINT,
    reserve BIGINT,
    auction_dateTime TIMESTAMP(3),
    expires TIMESTAMP(3),
    seller BIGINT,
    category BIGINT,
    auction_extra VARCHAR
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q20
SELECT
    B.auction, B.bidder, B.price, B.channel, B.url, B.dateTime, B.extra,
    A.itemName, A.description, A.initialBid, A.reserve, A.dateTime, A.expires, A.seller,
    A.category, A.extra
FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id
WHERE A.category = 10;
