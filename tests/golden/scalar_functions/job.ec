# Scalar functions and operators over a few rows, with Hive's NULL rules: row 3 is all NULL, row 5
# holds empty strings and zeros, row 4 has a bad number and is skipped. No GROUP BY: the result
# key is the whole row, so rows come out sorted by id.
[system]
sql=INSERT INTO str_out SELECT id, concat(s, '#', id), concat_ws('-', s, NULL, 'z'), \
substr(s, 2, 3), substring(s, -3), upper(s), lcase(s), \
concat('[', trim(s), ']'), concat('[', ltrim(s), ']'), concat('[', rtrim(s), ']'), \
length(s), nvl(s, 'none'), coalesce(s, dt, 'both-null'), isnull(s), isnotnull(s), \
s LIKE '%o W%', s NOT LIKE '_b%' FROM vals \
INSERT INTO num_out SELECT id, n + 1, n - d, n * 2, n / 2, n DIV 2, n % 3, pmod(n, 3), \
round(d), round(d * 1.5, 1), floor(d), ceil(d), abs(n), abs(d), \
cast(n AS string), cast(d AS bigint), cast(s AS bigint), \
if(n > 0, 'pos', 'nonpos'), CASE WHEN n > 0 THEN 'p' WHEN n < 0 THEN 'n' ELSE 'z' END, \
n BETWEEN -7 AND 0, n IN (7, 0), NOT (n = 7), \
from_unixtime(ts), from_unixtime(ts, 'yyyy-MM-dd'), unix_timestamp(dt), \
unix_timestamp(dt, 'yyyy/MM/dd'), n / 0 FROM vals

[tabledesc-vals]
table.name=vals
table.fields=id,bigint,:s,string,:n,bigint,:d,double,:ts,bigint,:dt,string,
table.type=file
table.file.path=vals.txt
table.field.splitter=|

[tabledesc-str_out]
table.name=str_out
table.fields=id,bigint,:c_concat,string,:c_concat_ws,string,:c_substr,string,:c_substr_neg,string,:c_upper,string,:c_lower,string,:c_trim,string,:c_ltrim,string,:c_rtrim,string,:c_length,bigint,:c_nvl,string,:c_coalesce,string,:c_isnull,boolean,:c_isnotnull,boolean,:c_like,boolean,:c_not_like,boolean,
table.type=csv
table.csv.path=out/str_out.csv

[tabledesc-num_out]
table.name=num_out
table.fields=id,bigint,:plus1,bigint,:minus_d,double,:times2,bigint,:half,double,:idiv,bigint,:modulo,bigint,:pm,bigint,:r0,double,:r1,double,:fl,bigint,:ce,bigint,:abs_n,bigint,:abs_d,double,:n_str,string,:d_int,bigint,:s_int,bigint,:sign_if,string,:sign_case,string,:btw,boolean,:inn,boolean,:not7,boolean,:fu,string,:fu_day,string,:ut,bigint,:ut_fmt,bigint,:div0,double,
table.type=csv
table.csv.path=out/num_out.csv
