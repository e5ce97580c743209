# ec-sql.md's billing reconciliation: two billing streams tagged and combined with UNION ALL,
# summed per user per minute, the difference of the two sums kept per user and per minute.
[system]
sql=WITH (SELECT uid, amount, t, 'charged' side FROM charges \
      UNION ALL SELECT uid, amount, t, 'paid' side FROM payments) bills \
INSERT INTO per_minute SELECT uid, AGGRTIME, sum(if(side = 'charged', amount, 0)), \
      sum(if(side = 'paid', amount, 0)), \
      sum(if(side = 'charged', amount, 0)) - sum(if(side = 'paid', amount, 0)) \
      FROM bills GROUP BY uid COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS; \
INSERT INTO open_balance SELECT uid, sum(if(side = 'charged', amount, -amount)) FROM bills \
      GROUP BY uid HAVING sum(if(side = 'charged', amount, -amount)) != 0

[tabledesc-charges]
table.name=charges
table.fields=uid,string,:amount,bigint,:t,bigint,
table.type=file
table.file.path=charges.txt

[tabledesc-payments]
table.name=payments
table.fields=uid,string,:amount,int,:t,bigint,
table.type=file
table.file.path=payments.txt
table.file.format=csv

[tabledesc-per_minute]
table.name=per_minute
table.fields=uid,string,:minute,bigint,:charged,bigint,:paid,bigint,:diff,bigint,
table.type=csv
table.csv.path=out/per_minute.csv
table.emit=final

[tabledesc-open_balance]
table.name=open_balance
table.fields=uid,string,:balance,bigint,
table.type=csv
table.csv.path=out/open_balance.csv
