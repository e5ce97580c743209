# ec-sql.md: the friends each qq interacted with, per 5-minute window, as a set.
[system]
sql=INSERT INTO dest SELECT qq, collect_set(qq_friend) FROM src GROUP BY qq \
      COORDINATE BY dttime WITH AGGR INTERVAL 300 SECONDS

[tabledesc-src]
table.name=src
table.fields=qq,string,:qq_friend,string,:dttime,bigint,
table.type=file
table.file.path=data/friends.txt

[tabledesc-dest]
table.name=dest
table.type=stdout
