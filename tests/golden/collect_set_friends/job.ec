# ec-sql.md's collect_set example as written (the friends of each qq per 5-minute window),
# with collect_list (duplicates kept) and both over ACCU (15 minutes) and SW (10 minutes)
# windows. Values come out in value order; NULL is left out, as in Hive.
[system]
sql=INSERT INTO dest SELECT qq, collect_set(qq_friend) FROM src GROUP BY qq \
      COORDINATE BY dttime WITH AGGR INTERVAL 300 SECONDS \
INSERT INTO lists SELECT qq, AGGRTIME, collect_list(qq_friend), collect_set(qq_friend ACCU), \
      collect_list(qq_friend SW) FROM src GROUP BY qq COORDINATE BY dttime \
      WITH AGGR INTERVAL 300 SECONDS WITH ACCU INTERVAL 900 SECONDS WITH SW INTERVAL 600 SECONDS

[tabledesc-src]
table.name=src
table.fields=qq,string,:qq_friend,string,:dttime,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=qq,string,:friends,array<string>,
table.type=csv
table.csv.path=out/dest.csv

[tabledesc-lists]
table.name=lists
table.fields=qq,string,:aggrtime,bigint,:friends,array<string>,:friends_accu,array<string>,:friends_sw,array<string>,
table.type=csv
table.csv.path=out/lists.csv
