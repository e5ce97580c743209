# timezone=+08:00: from_unixtime and unix_timestamp read and write local (UTC+8) time, while
# windows stay aligned to the epoch: a one-day window starts at 08:00 local time.
[system]
timezone=+08:00
sql=INSERT INTO times SELECT id, from_unixtime(sec), from_unixtime(sec, 'yyyy-MM-dd'), \
unix_timestamp(local) FROM ev \
INSERT INTO days SELECT AGGRTIME, from_unixtime(AGGRTIME DIV 1000, 'yyyy-MM-dd HH:mm:ss'), count(1) \
FROM ev GROUP BY 1 COORDINATE BY sec * 1000 WITH AGGR INTERVAL 86400 SECONDS

[tabledesc-ev]
table.name=ev
table.fields=id,bigint,:sec,bigint,:local,string,
table.type=file
table.file.path=ev.txt

[tabledesc-times]
table.name=times
table.fields=id,bigint,:local_time,string,:local_day,string,:parsed,bigint,
table.type=csv
table.csv.path=out/times.csv

[tabledesc-days]
table.name=days
table.fields=day_start,bigint,:day_start_local,string,:n,bigint,
table.type=csv
table.csv.path=out/days.csv
