# ec-sql.md: try a function without any source (runs until stopped with Ctrl-C).
[system]
sql=SELECT round(3.1415926, 4), from_unixtime(unix_timestamp(), 'yyyy-MM-dd HH:mm:ss') FROM __innertable(1000)
