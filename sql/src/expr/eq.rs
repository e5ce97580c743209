//! Structural equality and hashing of bound expressions, so that the planner can recognise an
//! expression written twice (a GROUP BY key in SELECT, an aggregate argument, a join key)
//! without comparing printed text.
//!
//! Two expressions are equal when they have the same shape and the same leaves. A literal
//! equals a literal of the same type and the same representation: doubles by their bits (so
//! `0.0` and `-0.0` differ, and a NaN equals itself), decimals by value and scale (`1.0` and
//! `1.00` print differently, so they differ). A LIKE pattern and a function's fixed pattern
//! compare by their source text, a table function by its name.
//!
//! A variant added to [`ScalarExpr`] needs an arm in both [`PartialEq`] and [`Hash`] below;
//! the hash's match has no catch-all, so the compiler points at both.

use std::hash::{Hash, Hasher};

use super::hive::Simple;
use super::{LikePattern, ScalarExpr};
use crate::types::Value;

/// Whether two literals are the same value of the same type, written the same way.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Decimal(x), Value::Decimal(y)) => x == y && x.scale() == y.scale(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_value(x, y))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| same_value(k1, k2) && same_value(v1, v2))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((n1, v1), (n2, v2))| n1 == n2 && same_value(v1, v2))
        }
        // The remaining kinds have one representation per value; a different kind differs.
        _ => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
    }
}

impl PartialEq for ScalarExpr {
    fn eq(&self, other: &Self) -> bool {
        use ScalarExpr::*;
        match (self, other) {
            (Column(a), Column(b)) | (Local(a), Local(b)) => a == b,
            (Literal(a), Literal(b)) => same_value(a, b),
            (
                Binary { op, left, right },
                Binary {
                    op: op2,
                    left: left2,
                    right: right2,
                },
            ) => op == op2 && left == left2 && right == right2,
            (Neg(a), Neg(b)) | (Not(a), Not(b)) => a == b,
            (And(a, b), And(a2, b2)) | (Or(a, b), Or(a2, b2)) => a == a2 && b == b2,
            (
                IsNull { expr, negated },
                IsNull {
                    expr: expr2,
                    negated: negated2,
                },
            ) => negated == negated2 && expr == expr2,
            (Cast { expr, to }, Cast { expr: e2, to: t2 }) => to == t2 && expr == e2,
            (
                Case { whens, otherwise },
                Case {
                    whens: w2,
                    otherwise: o2,
                },
            ) => whens == w2 && otherwise == o2,
            (
                InList {
                    expr,
                    list,
                    negated,
                },
                InList {
                    expr: e2,
                    list: l2,
                    negated: n2,
                },
            ) => negated == n2 && expr == e2 && list == l2,
            (
                Like {
                    expr,
                    compiled,
                    pattern,
                    negated,
                },
                Like {
                    expr: e2,
                    compiled: c2,
                    pattern: p2,
                    negated: n2,
                },
            ) => negated == n2 && expr == e2 && pattern == p2 && compiled == c2,
            (Call { func, args }, Call { func: f2, args: a2 }) => func == f2 && args == a2,
            (
                Foreach {
                    slot,
                    indexes,
                    over,
                    body,
                },
                Foreach {
                    slot: s2,
                    indexes: i2,
                    over: o2,
                    body: b2,
                },
            ) => slot == s2 && indexes == i2 && over == o2 && body == b2,
            (Execute(a), Execute(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for ScalarExpr {}

impl Hash for ScalarExpr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        use ScalarExpr::*;
        std::mem::discriminant(self).hash(h);
        match self {
            Column(i) | Local(i) => i.hash(h),
            // Equal literals are equal values, and equal values hash alike.
            Literal(v) => v.hash(h),
            Binary { op, left, right } => {
                op.hash(h);
                left.hash(h);
                right.hash(h);
            }
            Neg(e) | Not(e) => e.hash(h),
            And(a, b) | Or(a, b) => {
                a.hash(h);
                b.hash(h);
            }
            IsNull { expr, negated } => {
                expr.hash(h);
                negated.hash(h);
            }
            Cast { expr, to } => {
                expr.hash(h);
                to.hash(h);
            }
            Case { whens, otherwise } => {
                whens.hash(h);
                otherwise.hash(h);
            }
            InList {
                expr,
                list,
                negated,
            } => {
                expr.hash(h);
                list.hash(h);
                negated.hash(h);
            }
            Like {
                expr,
                compiled,
                pattern,
                negated,
            } => {
                expr.hash(h);
                compiled.hash(h);
                pattern.hash(h);
                negated.hash(h);
            }
            Call { func, args } => {
                func.hash(h);
                args.hash(h);
            }
            Foreach {
                slot,
                indexes,
                over,
                body,
            } => {
                slot.hash(h);
                indexes.hash(h);
                over.hash(h);
                body.hash(h);
            }
            Execute(p) => p.hash(h),
        }
    }
}

/// A compiled LIKE pattern is its regular expression's source.
impl PartialEq for LikePattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for LikePattern {}

impl Hash for LikePattern {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.as_str().hash(h);
    }
}

/// A function of the table is its row, named uniquely (an alias is a row of its own).
impl PartialEq for Simple {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Simple {}

impl Hash for Simple {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.name.hash(h);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::sync::Arc;

    use chrono::FixedOffset;

    use super::*;
    use crate::expr::{BinOp, Func};
    use crate::types::DataType;

    fn hash(e: &ScalarExpr) -> u64 {
        let mut h = DefaultHasher::new();
        e.hash(&mut h);
        h.finish()
    }

    fn add(a: ScalarExpr, b: ScalarExpr) -> ScalarExpr {
        ScalarExpr::Binary {
            op: BinOp::Add,
            left: Box::new(a),
            right: Box::new(b),
        }
    }

    fn call(name: &str, args: Vec<ScalarExpr>) -> ScalarExpr {
        let utc = FixedOffset::east_opt(0).unwrap();
        ScalarExpr::Call {
            func: Func::lookup(name, utc).unwrap(),
            args,
        }
    }

    fn assert_same(a: &ScalarExpr, b: &ScalarExpr) {
        assert_eq!(a, b);
        assert_eq!(hash(a), hash(b), "{a} and {b} are equal but hash apart");
    }

    #[test]
    fn equal_shapes_are_equal_and_hash_alike() {
        let c = ScalarExpr::Column;
        assert_same(
            &add(c(0), ScalarExpr::lit(1)),
            &add(c(0), ScalarExpr::lit(1)),
        );
        assert_ne!(add(c(0), ScalarExpr::lit(1)), add(ScalarExpr::lit(1), c(0)));
        assert_ne!(c(0), ScalarExpr::Local(0));
        assert_same(
            &call("lower", vec![c(3)]),
            &call("lcase", vec![c(3)]).clone(),
        );
        assert_ne!(call("lower", vec![c(3)]), call("upper", vec![c(3)]));
        // Table functions compare by name; regexes by their pattern.
        assert_same(&call("sqrt", vec![c(1)]), &call("sqrt", vec![c(1)]));
        assert_ne!(call("sqrt", vec![c(1)]), call("exp", vec![c(1)]));
        let like = |p: &str| ScalarExpr::Like {
            expr: Box::new(c(0)),
            compiled: Some(LikePattern::new(p)),
            pattern: Box::new(ScalarExpr::lit(p)),
            negated: false,
        };
        assert_same(&like("a%"), &like("a%"));
        assert_ne!(like("a%"), like("a_"));
        // Casts differ by their target.
        assert_ne!(c(0).cast(DataType::Double), c(0).cast(DataType::DECIMAL));
    }

    /// Literals: same type, same bits. A double is not the integer it equals, -0.0 is not 0.0,
    /// 1.0 is not 1.00 (they print differently), a NaN is itself.
    #[test]
    fn literals_compare_by_representation() {
        let lit = |v: Value| ScalarExpr::Literal(v);
        assert_same(&lit(Value::Double(0.5)), &lit(Value::Double(0.5)));
        assert_same(&lit(Value::Double(f64::NAN)), &lit(Value::Double(f64::NAN)));
        assert_ne!(lit(Value::Double(0.0)), lit(Value::Double(-0.0)));
        assert_ne!(lit(Value::Double(1.0)), lit(Value::Int(1)));
        let dec = |s: &str| lit(Value::Decimal(s.parse().unwrap()));
        assert_same(&dec("1.5"), &dec("1.5"));
        assert_ne!(dec("1.0"), dec("1.00"));
        assert_same(&lit(Value::str("a")), &lit(Value::str("a")));
        assert_ne!(lit(Value::str("1")), lit(Value::Int(1)));
        let arr = |v: Vec<Value>| lit(Value::Array(Arc::from(v)));
        assert_same(
            &arr(vec![Value::Int(1), Value::Null]),
            &arr(vec![Value::Int(1), Value::Null]),
        );
        assert_ne!(
            arr(vec![Value::Double(0.0)]),
            arr(vec![Value::Double(-0.0)])
        );
    }
}
