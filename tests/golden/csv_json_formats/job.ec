# table.file.format=csv (quoted fields with commas and doubled quotes) and =json (fields taken by
# name, a missing field or null is NULL, extra fields are ignored). Malformed records (a bad
# number, a wrong field count, bad JSON) are skipped. Output strings with commas or quotes are
# quoted in the result CSV.
[system]
sql=INSERT INTO by_name SELECT name, sum(amount) FROM people GROUP BY name \
INSERT INTO by_city SELECT city, count(1), sum(amount) FROM people GROUP BY city \
INSERT INTO scores SELECT uid, count(1), count(score), sum(score), sum(if(ok, 1, 0)) FROM events GROUP BY uid

[tabledesc-people]
table.name=people
table.fields=name,string,:city,string,:amount,bigint,
table.type=file
table.file.path=people.csv
table.file.format=csv

[tabledesc-events]
table.name=events
table.fields=uid,string,:score,double,:ok,boolean,
table.type=file
table.file.path=events.json
table.file.format=json

[tabledesc-by_name]
table.name=by_name
table.fields=name,string,:total,bigint,
table.type=csv
table.csv.path=out/by_name.csv

[tabledesc-by_city]
table.name=by_city
table.fields=city,string,:n,bigint,:total,bigint,
table.type=csv
table.csv.path=out/by_city.csv

[tabledesc-scores]
table.name=scores
table.fields=uid,string,:n,bigint,:n_score,bigint,:total,double,:oks,bigint,
table.type=csv
table.csv.path=out/scores.csv
