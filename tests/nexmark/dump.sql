-- The events of the `nexmark` table, each kind into its own CSV file: what the DuckDB
-- reference of tests/nexmark.rs reads.
CREATE TABLE person_csv (
    id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
    state VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR
) WITH ('connector' = 'csv', 'path' = 'person.csv');
CREATE TABLE auction_csv (
    id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
    dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR
) WITH ('connector' = 'csv', 'path' = 'auction.csv');
CREATE TABLE bid_csv (
    auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
    dateTime TIMESTAMP(3), extra VARCHAR
) WITH ('connector' = 'csv', 'path' = 'bid.csv');

INSERT INTO person_csv SELECT * FROM person;
INSERT INTO auction_csv SELECT * FROM auction;
INSERT INTO bid_csv SELECT * FROM bid;
