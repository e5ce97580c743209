-- Ties in the ORDER BY are broken by the rest of the row, in column order, as tally does.
SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
       extra, auction, bidder, price, bid_dateTime, bid_extra
FROM (
    SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
        row_number() OVER (
            PARTITION BY A.id
            ORDER BY B.price DESC, B.dateTime ASC, A.id, A.itemName, A.description,
                A.initialBid, A.reserve, A.dateTime, A.expires, A.seller, A.category, A.extra,
                B.auction, B.bidder, B.price, B.dateTime, B.extra
        ) AS rownum
    FROM auction A JOIN bid B
      ON A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
)
WHERE rownum <= 1;
