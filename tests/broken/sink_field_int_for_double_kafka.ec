# expect: 13:38: column `avg_price` of `dest` is INT but the query gives DOUBLE (column 2, `avg_price`): the fractions would be lost
[system]
sql=INSERT INTO dest SELECT appId, avg(price) avg_price FROM src GROUP BY appId

[tabledesc-src]
table.name=src
table.fields=appId,string,:qq,string,:dTime,bigint,:price,double,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=appId,string,:avg_price,int,
table.type=kafka
table.kafka.brokers=localhost:9092
table.kafka.topic=dest
