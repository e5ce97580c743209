# A sink field may be declared wider than the query's column when the cast keeps every value:
# a BIGINT count into DOUBLE, DECIMAL and STRING fields, a DOUBLE sum into STRING. (A STRING
# column into an INT field is refused by `tally check`: tests/broken/sink_field_int_for_string_csv.ec.)
[system]
sql=INSERT INTO dest SELECT appId, AGGRTIME, count(qq), count(qq), count(qq), sum(price), max(dTime) \
FROM src GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt
table.field.splitter=;

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:minute,bigint,:n_double,double,:n_decimal,decimal(19,0),:n_text,string,:total_text,string,:last_ms,int,
table.type=csv
table.csv.path=out/dest.csv
