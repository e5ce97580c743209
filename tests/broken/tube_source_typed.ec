# expect: 9:1: TubeMQ (`table.tube.master`: EasyCount's queue) is not a source tally reads; put the stream on Kafka and describe `src` with `table.type=kafka`, `table.kafka.brokers` (instead of `table.tube.master` and `table.tube.port`) and `table.kafka.topic` (instead of `table.topic` and `table.interfaceId`)
[system]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=tube
table.tube.master=10.0.0.1
table.topic=clicks
[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
