# INSERT INTO t WITH col AS KEY: detail rows upserted by uid, each batch one row (chunk.rows=1)
# so a later row of a user replaces the earlier one.
[system]
chunk.rows=1
sql=INSERT INTO latest WITH uid AS KEY SELECT uid, balance, upper(note) FROM events WHERE balance IS NOT NULL

[tabledesc-events]
table.name=events
table.fields=uid,string,:balance,bigint,:note,string,
table.type=file
table.file.path=events.txt

[tabledesc-latest]
table.name=latest
table.fields=uid,string,:balance,bigint,:note,string,
table.type=csv
table.csv.path=out/latest.csv
