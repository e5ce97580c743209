# expect: 3:3: unknown section `[sytem]`: did you mean `[system]`? a job has a [system] section and [tabledesc-N] sections

  [sytem]
sql=INSERT INTO dest SELECT k, count(1) FROM src GROUP BY k

[tabledesc-src]
table.name=src
table.fields=k,string,:v,bigint,:t,bigint,
table.type=file
table.file.path=src.txt

[tabledesc-dest]
table.name=dest
table.fields=k,string,:n,bigint,
table.type=csv
table.csv.path=out/dest.csv
