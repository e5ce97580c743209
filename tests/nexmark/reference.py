"""The reference side of tests/nexmark.rs: a Nexmark query evaluated as a batch by DuckDB.

    reference.py EVENTS_DIR QUERY.sql

EVENTS_DIR holds person.csv, auction.csv and bid.csv (with a header line), the events a
bounded `nexmark` table gave, and q13's side_input.csv. The query (DuckDB's SQL, written apart from tally's) reads the
tables person, auction and bid; its rows are written to standard output as CSV, NULL as an
empty field, timestamps as `yyyy-MM-dd HH:mm:ss.SSS`.
"""

import csv
import datetime
import decimal
import sys

import duckdb

COLUMNS = {
    "person": {
        "id": "BIGINT", "name": "VARCHAR", "emailAddress": "VARCHAR",
        "creditCard": "VARCHAR", "city": "VARCHAR", "state": "VARCHAR",
        "dateTime": "TIMESTAMP", "extra": "VARCHAR",
    },
    "auction": {
        "id": "BIGINT", "itemName": "VARCHAR", "description": "VARCHAR",
        "initialBid": "BIGINT", "reserve": "BIGINT", "dateTime": "TIMESTAMP",
        "expires": "TIMESTAMP", "seller": "BIGINT", "category": "BIGINT", "extra": "VARCHAR",
    },
    "bid": {
        "auction": "BIGINT", "bidder": "BIGINT", "price": "BIGINT", "channel": "VARCHAR",
        "url": "VARCHAR", "dateTime": "TIMESTAMP", "extra": "VARCHAR",
    },
}


def text(v):
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


def main():
    events, query = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    for table, columns in COLUMNS.items():
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv(?, header = true, "
            f"columns = {columns!r}, quote = '\"', escape = '\"', "
            f"timestampformat = '%Y-%m-%d %H:%M:%S.%g')",
            [f"{events}/{table}.csv"],
        )
    # q13's side input (key, value), without a header, as examples/nexmark ships it.
    con.execute(
        "CREATE TABLE side_input AS SELECT * FROM read_csv(?, header = false, "
        "columns = {'key': 'BIGINT', 'value': 'VARCHAR'})",
        [f"{events}/side_input.csv"],
    )
    with open(query) as f:
        rows = con.execute(f.read()).fetchall()
    out = csv.writer(sys.stdout, lineterminator="\n")
    for row in rows:
        out.writerow([text(v) for v in row])


if __name__ == "__main__":
    main()
