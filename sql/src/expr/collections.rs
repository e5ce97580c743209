//! Functions on ARRAY, MAP and STRUCT values, with Hive's semantics: `array(...)`, `map(...)`,
//! `named_struct(...)`, `size`, `array_get`, `array_contains`, `split`, `map_keys`,
//! `map_values`, `sort_array`, `str_to_map`, and the access forms `a[i]`, `m['k']`, `s.f`.
//! Indexes are 0-based; an index out of range or a missing key is NULL.

use std::sync::Arc;

use super::functions::{common_type, implicit_cast};
use crate::types::{DataType, Value};

type Msg = std::string::String;

/// Whether a value of `from` can be looked up among values of `to`: an implicit cast, but a
/// complex value is never turned into text for it.
fn fits(from: &DataType, to: &DataType) -> bool {
    implicit_cast(from, to) && (from.is_complex() == to.is_complex() || *from == DataType::Null)
}

/// The common type of some values of `name`'s arguments.
fn common_of<'a>(name: &str, types: impl Iterator<Item = &'a DataType>) -> Result<DataType, Msg> {
    let mut acc = DataType::Null;
    for t in types {
        acc = common_type(&acc, t)
            .ok_or_else(|| format!("the values of {name}() have no common type ({acc} and {t})"))?;
    }
    Ok(acc)
}

/// A collection function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CollFunc {
    /// `array(a, b, ...)`.
    Array,
    /// `map(k1, v1, k2, v2, ...)`.
    Map,
    /// `named_struct('a', x, 'b', y)`: the names, fixed at plan time (the name arguments are
    /// dropped from the call).
    NamedStruct(Arc<[Arc<str>]>),
    /// `size(array | map)`: -1 for NULL, as in Hive.
    Size,
    /// `array_get(a, i)` and `a[i]`: 0-based.
    ArrayGet,
    /// `m[k]`.
    MapGet,
    /// `s.f`: the field at this position.
    Field(usize),
    ArrayContains,
    /// `split(text, regex)`.
    Split,
    MapKeys,
    MapValues,
    SortArray,
    /// `str_to_map(text[, entry delimiter[, key delimiter]])` (defaults `,` and `:`).
    StrToMap,
}

impl CollFunc {
    pub fn lookup(name: &str) -> Option<CollFunc> {
        Some(match name {
            "array" => CollFunc::Array,
            "map" => CollFunc::Map,
            "size" => CollFunc::Size,
            "array_get" => CollFunc::ArrayGet,
            "array_contains" => CollFunc::ArrayContains,
            "split" => CollFunc::Split,
            "map_keys" => CollFunc::MapKeys,
            "map_values" => CollFunc::MapValues,
            "sort_array" => CollFunc::SortArray,
            "str_to_map" => CollFunc::StrToMap,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            CollFunc::Array => "array",
            CollFunc::Map => "map",
            CollFunc::NamedStruct(_) => "named_struct",
            CollFunc::Size => "size",
            CollFunc::ArrayGet => "array_get",
            CollFunc::MapGet => "map_get",
            CollFunc::Field(_) => "struct_field",
            CollFunc::ArrayContains => "array_contains",
            CollFunc::Split => "split",
            CollFunc::MapKeys => "map_keys",
            CollFunc::MapValues => "map_values",
            CollFunc::SortArray => "sort_array",
            CollFunc::StrToMap => "str_to_map",
        }
    }

    /// The type each argument is cast to and the result type.
    pub fn signature(&self, args: &[DataType]) -> Result<(Vec<DataType>, DataType), String> {
        use DataType::*;
        let name = self.name();
        let n = args.len();
        let arity = |lo: usize, hi: usize| -> Result<(), Msg> {
            if n < lo || n > hi {
                Err(format!(
                    "{name}() takes {} arguments, got {n}",
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo} to {hi}")
                    }
                ))
            } else {
                Ok(())
            }
        };
        let array_arg = |i: usize| -> Result<DataType, Msg> {
            match &args[i] {
                Array(t) => Ok((**t).clone()),
                Null => Ok(Null),
                t => Err(format!(
                    "argument {} of {name}() must be an ARRAY, found {t}",
                    i + 1
                )),
            }
        };
        let map_arg = |i: usize| -> Result<(DataType, DataType), Msg> {
            match &args[i] {
                Map(k, v) => Ok(((**k).clone(), (**v).clone())),
                Null => Ok((Null, Null)),
                t => Err(format!(
                    "argument {} of {name}() must be a MAP, found {t}",
                    i + 1
                )),
            }
        };
        let string = |i: usize| -> Result<DataType, Msg> {
            if implicit_cast(&args[i], &String) && !args[i].is_complex() {
                Ok(String)
            } else {
                Err(format!(
                    "argument {} of {name}() must be STRING, found {}",
                    i + 1,
                    args[i]
                ))
            }
        };
        let index = |i: usize| -> Result<DataType, Msg> {
            if matches!(args[i], Int | Null) {
                Ok(Int)
            } else {
                Err(format!(
                    "the index of {name}() must be an integer, found {}",
                    args[i]
                ))
            }
        };
        Ok(match self {
            CollFunc::Array => {
                let t = common_of(name, args.iter())?;
                let t = if t == Null { String } else { t };
                (vec![t.clone(); n], Array(Box::new(t)))
            }
            CollFunc::Map => {
                if !n.is_multiple_of(2) {
                    return Err("map() takes key, value pairs: an even number of arguments".into());
                }
                let k = common_of(name, args.iter().step_by(2))?;
                let v = common_of(name, args.iter().skip(1).step_by(2))?;
                let k = if k == Null { String } else { k };
                let v = if v == Null { String } else { v };
                let casts = (0..n)
                    .map(|i| if i % 2 == 0 { k.clone() } else { v.clone() })
                    .collect();
                (casts, Map(Box::new(k), Box::new(v)))
            }
            CollFunc::NamedStruct(names) => {
                if n != names.len() {
                    return Err("named_struct() takes name, value pairs".into());
                }
                let fields = names
                    .iter()
                    .zip(args)
                    .map(|(name, t)| {
                        let t = if *t == Null { String } else { t.clone() };
                        (name.to_string(), t)
                    })
                    .collect::<Vec<_>>();
                let casts = fields.iter().map(|(_, t)| t.clone()).collect();
                (casts, Struct(fields))
            }
            CollFunc::Size => {
                arity(1, 1)?;
                match &args[0] {
                    Array(_) | Map(..) | Null => (args.to_vec(), Int),
                    t => return Err(format!("size() needs an ARRAY or a MAP, found {t}")),
                }
            }
            CollFunc::ArrayGet => {
                arity(2, 2)?;
                let t = array_arg(0)?;
                (vec![args[0].clone(), index(1)?], t)
            }
            CollFunc::MapGet => {
                arity(2, 2)?;
                let (k, v) = map_arg(0)?;
                if !fits(&args[1], &k) {
                    return Err(format!("a key of {} cannot be {}", args[0], args[1]));
                }
                (vec![args[0].clone(), k], v)
            }
            CollFunc::Field(i) => match &args[0] {
                Struct(fields) if *i < fields.len() => (args.to_vec(), fields[*i].1.clone()),
                t => return Err(format!("field access needs a STRUCT, found {t}")),
            },
            CollFunc::ArrayContains => {
                arity(2, 2)?;
                let t = array_arg(0)?;
                if !fits(&args[1], &t) {
                    return Err(format!(
                        "array_contains() cannot look for {} in {}",
                        args[1], args[0]
                    ));
                }
                (vec![args[0].clone(), t], Boolean)
            }
            CollFunc::Split => {
                arity(2, 2)?;
                (vec![string(0)?, string(1)?], Array(Box::new(String)))
            }
            CollFunc::MapKeys => {
                arity(1, 1)?;
                let (k, _) = map_arg(0)?;
                (args.to_vec(), Array(Box::new(k)))
            }
            CollFunc::MapValues => {
                arity(1, 1)?;
                let (_, v) = map_arg(0)?;
                (args.to_vec(), Array(Box::new(v)))
            }
            CollFunc::SortArray => {
                arity(1, 1)?;
                array_arg(0)?;
                (args.to_vec(), args[0].clone())
            }
            CollFunc::StrToMap => {
                arity(1, 3)?;
                let casts = (0..n).map(string).collect::<Result<_, _>>()?;
                (casts, Map(Box::new(String), Box::new(String)))
            }
        })
    }

    /// Evaluates on arguments already cast to the signature's types.
    pub fn eval(&self, a: &[Value]) -> Value {
        match self {
            CollFunc::Array => Value::Array(a.iter().cloned().collect()),
            CollFunc::Map => Value::map_from(a.chunks(2).map(|kv| (kv[0].clone(), kv[1].clone()))),
            CollFunc::NamedStruct(names) => Value::Struct(
                names
                    .iter()
                    .zip(a)
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect(),
            ),
            CollFunc::Size => match &a[0] {
                Value::Array(x) => Value::Int(x.len() as i64),
                Value::Map(m) => Value::Int(m.len() as i64),
                _ => Value::Int(-1),
            },
            CollFunc::ArrayGet => match (&a[0], &a[1]) {
                (Value::Array(x), Value::Int(i)) if *i >= 0 => {
                    x.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => Value::Null,
            },
            CollFunc::MapGet => match &a[0] {
                Value::Map(m) => m
                    .binary_search_by(|(k, _)| k.cmp(&a[1]))
                    .map_or(Value::Null, |i| m[i].1.clone()),
                _ => Value::Null,
            },
            CollFunc::Field(i) => match &a[0] {
                Value::Struct(fields) => fields.get(*i).map(|(_, v)| v.clone()).unwrap_or_default(),
                _ => Value::Null,
            },
            CollFunc::ArrayContains => match &a[0] {
                Value::Array(_) if a[1].is_null() => Value::Null,
                Value::Array(x) => Value::Bool(x.contains(&a[1])),
                _ => Value::Null,
            },
            CollFunc::Split => match (&a[0], &a[1]) {
                (Value::Str(s), Value::Str(p)) => super::hive::with_regex(p, |re| {
                    Value::Array(re.split(s).map(Value::str).collect())
                }),
                _ => Value::Null,
            },
            CollFunc::MapKeys => match &a[0] {
                Value::Map(m) => Value::Array(m.iter().map(|(k, _)| k.clone()).collect()),
                _ => Value::Null,
            },
            CollFunc::MapValues => match &a[0] {
                Value::Map(m) => Value::Array(m.iter().map(|(_, v)| v.clone()).collect()),
                _ => Value::Null,
            },
            CollFunc::SortArray => match &a[0] {
                Value::Array(x) => {
                    let mut v = x.to_vec();
                    v.sort();
                    Value::array(v)
                }
                _ => Value::Null,
            },
            CollFunc::StrToMap => {
                let Value::Str(s) = &a[0] else {
                    return Value::Null;
                };
                let delim = |i: usize, d: &str| -> Option<String> {
                    match a.get(i) {
                        None => Some(d.to_string()),
                        Some(Value::Str(x)) => Some(x.to_string()),
                        Some(_) => None,
                    }
                };
                let (Some(entries), Some(kv)) = (delim(1, ","), delim(2, ":")) else {
                    return Value::Null;
                };
                let (Some(entry_re), Some(kv_re)) = (
                    super::hive::cached_regex(&entries),
                    super::hive::cached_regex(&kv),
                ) else {
                    return Value::Null;
                };
                Value::map_from(entry_re.split(s).map(|e| {
                    let mut parts = kv_re.splitn(e, 2);
                    let k = parts.next().unwrap_or("");
                    (Value::str(k), parts.next().map_or(Value::Null, Value::str))
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: CollFunc, args: &[(Value, DataType)]) -> Value {
        let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
        let (casts, _) = f.signature(&types).unwrap();
        let vals: Vec<Value> = args
            .iter()
            .zip(casts)
            .map(|((v, _), t)| v.cast(&t))
            .collect();
        f.eval(&vals)
    }

    fn s(x: &str) -> (Value, DataType) {
        (Value::str(x), DataType::String)
    }

    fn i(x: i64) -> (Value, DataType) {
        (Value::Int(x), DataType::Int)
    }

    #[test]
    fn arrays() {
        let a = call(
            CollFunc::Array,
            &[i(3), i(1), (Value::Null, DataType::Null)],
        );
        assert_eq!(a.to_string(), "[3,1,null]");
        let at = DataType::Array(Box::new(DataType::Int));
        let arr = (a.clone(), at.clone());
        assert_eq!(
            call(CollFunc::Size, std::slice::from_ref(&arr)),
            Value::Int(3)
        );
        assert_eq!(
            call(CollFunc::Size, &[(Value::Null, at.clone())]),
            Value::Int(-1)
        );
        assert_eq!(
            call(CollFunc::ArrayGet, &[arr.clone(), i(1)]),
            Value::Int(1)
        );
        assert_eq!(call(CollFunc::ArrayGet, &[arr.clone(), i(3)]), Value::Null);
        assert_eq!(call(CollFunc::ArrayGet, &[arr.clone(), i(-1)]), Value::Null);
        assert_eq!(
            call(CollFunc::ArrayContains, &[arr.clone(), i(1)]),
            Value::Bool(true)
        );
        assert_eq!(
            call(CollFunc::ArrayContains, &[arr.clone(), i(7)]),
            Value::Bool(false)
        );
        assert_eq!(
            call(CollFunc::SortArray, std::slice::from_ref(&arr)).to_string(),
            "[null,1,3]"
        );
        // Mixed element types take their common type.
        let mixed = call(
            CollFunc::Array,
            &[i(1), (Value::Double(0.5), DataType::Double)],
        );
        assert_eq!(mixed.to_string(), "[1.0,0.5]");
        assert!(CollFunc::Array
            .signature(&[DataType::Int, DataType::Boolean])
            .is_err());
        assert!(CollFunc::Size.signature(&[DataType::String]).is_err());
        assert!(CollFunc::ArrayGet
            .signature(&[at.clone(), DataType::String])
            .is_err());
    }

    #[test]
    fn maps_and_strings() {
        let m = call(CollFunc::Map, &[s("b"), i(2), s("a"), i(1)]);
        assert_eq!(m.to_string(), r#"{"a":1,"b":2}"#);
        let mt = DataType::Map(Box::new(DataType::String), Box::new(DataType::Int));
        let mm = (m, mt.clone());
        assert_eq!(call(CollFunc::MapGet, &[mm.clone(), s("b")]), Value::Int(2));
        assert_eq!(call(CollFunc::MapGet, &[mm.clone(), s("z")]), Value::Null);
        assert_eq!(
            call(CollFunc::Size, std::slice::from_ref(&mm)),
            Value::Int(2)
        );
        assert_eq!(
            call(CollFunc::MapKeys, std::slice::from_ref(&mm)).to_string(),
            r#"["a","b"]"#
        );
        assert_eq!(
            call(CollFunc::MapValues, std::slice::from_ref(&mm)).to_string(),
            "[1,2]"
        );
        assert!(CollFunc::Map.signature(&[DataType::String]).is_err());
        assert_eq!(
            call(CollFunc::Split, &[s("a,b,,c"), s(",")]).to_string(),
            r#"["a","b","","c"]"#
        );
        assert_eq!(
            call(CollFunc::Split, &[s("a1b22c"), s("[0-9]+")]).to_string(),
            r#"["a","b","c"]"#
        );
        assert_eq!(
            call(CollFunc::StrToMap, &[s("a:1,b:2,c")]).to_string(),
            r#"{"a":"1","b":"2","c":null}"#
        );
        assert_eq!(
            call(CollFunc::StrToMap, &[s("a=1;b=2"), s(";"), s("=")]).to_string(),
            r#"{"a":"1","b":"2"}"#
        );
    }

    #[test]
    fn structs() {
        let f = CollFunc::NamedStruct(vec![Arc::from("name"), Arc::from("n")].into());
        let (_, t) = f.signature(&[DataType::String, DataType::Int]).unwrap();
        assert_eq!(t.to_string(), "STRUCT<name:STRING,n:BIGINT>");
        let v = f.eval(&[Value::str("x"), Value::Int(2)]);
        assert_eq!(v.to_string(), r#"{"name":"x","n":2}"#);
        assert_eq!(
            call(CollFunc::Field(1), &[(v.clone(), t.clone())]),
            Value::Int(2)
        );
        assert!(CollFunc::Field(2).signature(&[t]).is_err());
    }
}
