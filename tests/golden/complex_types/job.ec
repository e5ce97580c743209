# ARRAY, MAP and STRUCT columns read from nested delimited text (fields split by `;`, elements
# and map entries by `,`, a map's key from its value and an inner array's elements by `:`),
# with every access form and collection function. Row 3 holds empty collections and NULLs;
# rows 4 (a map value that is not a number) and 5 (a struct with one part too many) are
# malformed and skipped.
[system]
sql=INSERT INTO access_out SELECT id, tags[0], tags[5], attrs['os'], who.name, who.age, \
size(tags), size(attrs), array_contains(tags, 'b'), map_keys(attrs), map_values(attrs), \
sort_array(array('q', tags[0], 'c')), concat_ws('+', tags), split(path, '/'), \
array(id, id * 2), map('k', id, 'j', 0), named_struct('n', id, 's', who.name).s, \
str_to_map('a:1,b:2')['b'], grid[1][0], grid, cast(attrs AS map<string,string>), who \
FROM events

[tabledesc-events]
table.name=events
table.fields=id,bigint,:tags,array<string>,:attrs,map<string,int>,:who,struct<name:string,age:int>,:grid,array<array<int>>,:path,string,
table.type=file
table.file.path=events.txt
table.field.splitter=;
table.collection.splitter=,
table.map.splitter=:

[tabledesc-access_out]
table.name=access_out
table.fields=id,bigint,:tag0,string,:tag5,string,:os,bigint,:name,string,:age,bigint,:ntags,bigint,:nattrs,bigint,:has_b,boolean,:keys,array<string>,:vals,array<bigint>,:sorted,array<string>,:joined,string,:parts,array<string>,:pair,array<bigint>,:m,map<string,bigint>,:s,string,:b,string,:g10,bigint,:grid,array<array<bigint>>,:attrs_s,map<string,string>,:who,struct<name:string,age:bigint>,
table.type=csv
table.csv.path=out/access_out.csv
