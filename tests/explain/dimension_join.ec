# Joins on expressions. The dimension's codes are lower case; orders write them in any case.
# by_order and per_region join on lower(o.code) = d.code, the same key of the same dimension
# (they share one join operator), each with an extra predicate that is not an equality: the
# order must reach the region's minimum amount (and, for per_region, be above 0). An order whose
# predicate is false for its dimension row joins to NULL, as a LEFT JOIN does. exact_case joins
# on another key (o.code = upper(d.code)): only orders written in upper case match.
[system]
sql=INSERT INTO by_order SELECT o.oid, o.code, o.amount, d.region FROM orders o \
  LEFT JOIN dims d ON lower(o.code) = d.code AND o.amount >= d.min_amount \
INSERT INTO per_region SELECT d.region, AGGRTIME, count(1), sum(o.amount) FROM orders o \
  LEFT JOIN dims d ON d.code = lower(o.code) AND d.min_amount <= o.amount AND o.amount > 0 \
  GROUP BY d.region COORDINATE BY o.t WITH AGGR INTERVAL 60 SECONDS \
INSERT INTO exact_case SELECT o.oid, d.region FROM orders o \
  LEFT JOIN dims d ON o.code = upper(d.code) AND d.min_amount < o.amount

[tabledesc-orders]
table.name=orders
table.fields=oid,string,:code,string,:amount,bigint,:t,bigint,
table.type=file
table.file.path=orders.txt
table.field.splitter=|

[tabledesc-dims]
table.name=dims
table.fields=code,string,:min_amount,bigint,:region,string,
table.type=file
table.file.path=dims.csv
table.file.format=csv
table.field.key=code

[tabledesc-by_order]
table.name=by_order
table.fields=oid,string,:code,string,:amount,bigint,:region,string,
table.type=csv
table.csv.path=out/by_order.csv

[tabledesc-per_region]
table.name=per_region
table.fields=region,string,:minute,bigint,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/per_region.csv

[tabledesc-exact_case]
table.name=exact_case
table.fields=oid,string,:region,string,
table.type=csv
table.csv.path=out/exact_case.csv
