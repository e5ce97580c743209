//! Types and coercions in one place: which type operands are brought to, and the implicit
//! casts the binder inserts (Hive's rules: strings read as doubles in arithmetic and
//! comparisons, INT widens to DECIMAL and DOUBLE).

use crate::error::{Pos, SqlError};
use crate::expr::{BinOp, ScalarExpr};
use crate::plan::AggFunc;
use crate::types::DataType;

pub use crate::expr::functions::{common_type, implicit_cast};

/// A type mismatch at `pos`: "cannot {what} {a} and {b}".
pub fn mismatch(pos: Pos, what: &str, a: &DataType, b: &DataType) -> SqlError {
    SqlError::new(pos, format!("type mismatch: cannot {what} {a} and {b}"))
}

/// Casts `e` from `from` to `to` when they differ (NULL needs no cast).
pub fn coerce(e: ScalarExpr, from: &DataType, to: &DataType) -> ScalarExpr {
    if from == to || *from == DataType::Null || *to == DataType::Null {
        e
    } else if let ScalarExpr::Literal(v) = &e {
        ScalarExpr::Literal(v.cast(to))
    } else {
        e.cast(to.clone())
    }
}

/// The casts that bring a row of columns of types `from` to the types `to`, as the
/// expressions of a Map; `None` when every column has its type already (a NULL column needs
/// no cast).
pub fn cast_row(from: &[DataType], to: &[DataType]) -> Option<Vec<ScalarExpr>> {
    if from
        .iter()
        .zip(to)
        .all(|(f, t)| f == t || *f == DataType::Null)
    {
        return None;
    }
    let casts = from
        .iter()
        .zip(to)
        .enumerate()
        .map(|(i, (f, t))| coerce(ScalarExpr::Column(i), f, t))
        .collect();
    Some(casts)
}

/// Whether a query column of type `from` may be written to a sink field declared `to`: the
/// same type, or a cast that keeps every value exactly (a BIGINT to DECIMAL, or to DOUBLE,
/// exact up to 2^53; anything to STRING, its text). `Err` says what any other cast would
/// lose: such an INSERT is refused, as Flink refuses an INSERT whose types are not
/// implicitly castable, instead of writing NULLs.
pub fn sink_cast(from: &DataType, to: &DataType) -> Result<(), &'static str> {
    use DataType::*;
    match (from, to) {
        _ if from == to => Ok(()),
        (Null, _) => Ok(()),
        (Int, Double) => Ok(()),
        // A BIGINT has 19 digits.
        (Int, Decimal { precision, scale }) if precision - scale >= 19 => Ok(()),
        (Int, Decimal { .. }) => Err("a BIGINT needs 19 digits before the point"),
        (
            Decimal {
                precision: p1,
                scale: s1,
            },
            Decimal {
                precision: p2,
                scale: s2,
            },
        ) if s2 >= s1 && p2 - s2 >= p1 - s1 => Ok(()),
        (Decimal { .. }, Decimal { .. }) => {
            Err("the field has fewer digits before or after the point")
        }
        (_, String) => Ok(()),
        (Array(x), Array(y)) => sink_cast(x, y),
        (Map(k1, v1), Map(k2, v2)) => sink_cast(k1, k2).and_then(|()| sink_cast(v1, v2)),
        (Struct(a), Struct(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .try_for_each(|((_, x), (_, y))| sink_cast(x, y)),
        (String, t) if t.is_numeric() => Err("text that is not a number would be written as NULL"),
        (String, Boolean) => Err("text that is not a boolean would be written as NULL"),
        (Double, Int) | (Decimal { .. }, Int) => Err("the fractions would be lost"),
        (Double, Decimal { .. }) | (Decimal { .. }, Double) => {
            Err("not every value is exact in the other type")
        }
        (Boolean, _) | (_, Boolean) => Err("a boolean is not a number"),
        _ => Err("the types do not convert"),
    }
}

/// The type arithmetic operands are brought to (strings read as doubles).
pub fn arith_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::String => Some(DataType::Double),
        DataType::Int | DataType::Double | DataType::Decimal { .. } | DataType::Null => {
            Some(t.clone())
        }
        _ => None,
    }
}

/// The common type of a comparison.
pub fn compare_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    match (a, b) {
        (String, t) | (t, String) if t.is_numeric() => Some(Double),
        _ => common_type(a, b),
    }
}

/// The type both operands of `a op b` (`+ - * / %`) are cast to, and the result's type: a
/// string is read as a DOUBLE, NULL alone is INT, `/` of INTs is DOUBLE. `None`: not numbers.
///
/// With a DECIMAL operand (and no DOUBLE) the result is Hive's DECIMAL of the operands'
/// precisions and scales (a BIGINT counting as DECIMAL(19,0)), cut to 38 digits as
/// [`DataType::decimal`] does: `+ -` scale max(s1,s2), precision max(p1-s1,p2-s2)+scale+1;
/// `*` p1+p2+1, s1+s2; `/` scale max(6, s1+p2+1), precision p1-s1+s2+scale; `%` scale
/// max(s1,s2), precision min(p1-s1,p2-s2)+scale. A DECIMAL operand keeps its own type
/// ([`arith_operand`]): the exact operation needs no common scale.
pub fn arithmetic_types(op: BinOp, a: &DataType, b: &DataType) -> Option<(DataType, DataType)> {
    let (a, b) = (arith_type(a)?, arith_type(b)?);
    let mut t = common_type(&a, &b)?;
    if t == DataType::Null {
        t = DataType::Int;
    }
    let result = match (op, &t) {
        (BinOp::Div, DataType::Int) => DataType::Double,
        (_, DataType::Decimal { .. }) => {
            let parts = |x: &DataType| x.decimal_parts().unwrap_or((1, 0));
            let ((p1, s1), (p2, s2)) = (parts(&a), parts(&b));
            let (p, s) = match op {
                BinOp::Add | BinOp::Sub => {
                    let s = s1.max(s2);
                    ((p1 - s1).max(p2 - s2) + s + 1, s)
                }
                BinOp::Mul => (p1 + p2 + 1, s1 + s2),
                BinOp::Div => {
                    let s = (s1 + p2 + 1).max(6);
                    (p1 - s1 + s2 + s, s)
                }
                _ => {
                    let s = s1.max(s2);
                    ((p1 - s1).min(p2 - s2) + s, s)
                }
            };
            DataType::decimal(p, s)
        }
        _ => t.clone(),
    };
    Some((t, result))
}

/// The type an operand of type `from` is cast to in arithmetic computed in `t` (from
/// [`arithmetic_types`]): a DECIMAL stays as it is when `t` is a DECIMAL, the rest become `t`.
pub fn arith_operand(from: &DataType, t: &DataType) -> DataType {
    match (from, t) {
        (DataType::Decimal { .. }, DataType::Decimal { .. }) => from.clone(),
        _ => t.clone(),
    }
}

/// The type an aggregate's argument of type `t` is cast to, and the aggregate's result type.
/// `None`: sum and avg of something that is not a number.
pub fn aggregate_types(func: AggFunc, t: &DataType) -> Option<(DataType, DataType)> {
    Some(match func {
        AggFunc::Count | AggFunc::CountDistinct | AggFunc::CountDistinctHll => {
            (t.clone(), DataType::Int)
        }
        AggFunc::HllSketch => (t.clone(), DataType::String),
        AggFunc::CollectSet | AggFunc::CollectList => {
            let et = if *t == DataType::Null {
                DataType::String
            } else {
                t.clone()
            };
            (et.clone(), DataType::Array(Box::new(et)))
        }
        AggFunc::Min | AggFunc::Max => (t.clone(), t.clone()),
        // Hive: sum of DECIMAL(p,s) is DECIMAL(p+10,s), avg DECIMAL(p+4,s+4) (at most 38).
        AggFunc::Sum | AggFunc::SumDistinct => match arith_type(t)? {
            DataType::Null => (DataType::Double, DataType::Double),
            DataType::Decimal { precision, scale } => {
                let p = (u32::from(precision) + 10).min(38);
                (t.clone(), DataType::decimal(p, u32::from(scale)))
            }
            nt => (nt.clone(), nt),
        },
        AggFunc::Avg | AggFunc::AvgDistinct => match arith_type(t)? {
            DataType::Decimal { precision, scale } => {
                let p = (u32::from(precision) + 4).min(38);
                let s = (u32::from(scale) + 4).min(38);
                (t.clone(), DataType::decimal(p, s))
            }
            _ => (DataType::Double, DataType::Double),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    fn arr(t: DataType) -> DataType {
        Array(Box::new(t))
    }

    fn dec(p: u32, s: u32) -> DataType {
        DataType::decimal(p, s)
    }

    /// Hive's DECIMAL result types (operands, then result), a BIGINT as DECIMAL(19,0).
    #[test]
    fn decimal_arithmetic_types() {
        let d10_2 = dec(10, 2);
        let cases = [
            (BinOp::Add, dec(10, 2), dec(5, 3), dec(11, 3), dec(12, 3)),
            (BinOp::Sub, dec(10, 2), dec(10, 2), dec(10, 2), dec(11, 2)),
            (BinOp::Mul, dec(10, 2), dec(5, 3), dec(11, 3), dec(16, 5)),
            (BinOp::Div, dec(10, 2), dec(5, 3), dec(11, 3), dec(19, 8)),
            (BinOp::Mod, dec(10, 2), dec(5, 3), dec(11, 3), dec(5, 3)),
            (BinOp::Add, Int, d10_2.clone(), dec(21, 2), dec(22, 2)),
            (BinOp::Div, Int, d10_2.clone(), dec(21, 2), dec(32, 11)),
            (BinOp::Div, d10_2.clone(), Int, dec(21, 2), dec(30, 22)),
            (BinOp::Add, Null, d10_2.clone(), d10_2.clone(), dec(11, 2)),
            // Past 38 digits: the integer digits stay, the scale shrinks (not below 6).
            (
                BinOp::Mul,
                dec(38, 10),
                dec(38, 10),
                dec(38, 10),
                dec(38, 6),
            ),
            (BinOp::Add, dec(38, 2), dec(38, 2), dec(38, 2), dec(38, 2)),
        ];
        for (op, a, b, operands, result) in cases {
            assert_eq!(
                arithmetic_types(op, &a, &b),
                Some((operands, result)),
                "{a} {} {b}",
                op.symbol()
            );
        }
        // A DECIMAL operand keeps its type; a BIGINT becomes the common DECIMAL.
        assert_eq!(arith_operand(&dec(5, 3), &dec(11, 3)), dec(5, 3));
        assert_eq!(arith_operand(&Int, &dec(21, 2)), dec(21, 2));
        assert_eq!(arith_operand(&Int, &Double), Double);
    }

    /// Hive's table: what `a + b` and `a / b` are computed in and give.
    #[test]
    fn arithmetic_table() {
        let cases = [
            (Int, Int, Some((Int, Int)), Some((Int, Double))),
            (Int, Double, Some((Double, Double)), Some((Double, Double))),
            (
                dec(10, 2),
                Double,
                Some((Double, Double)),
                Some((Double, Double)),
            ),
            (String, Int, Some((Double, Double)), Some((Double, Double))),
            (
                String,
                String,
                Some((Double, Double)),
                Some((Double, Double)),
            ),
            (Null, Null, Some((Int, Int)), Some((Int, Double))),
            (Boolean, Int, None, None),
            (arr(Int), Int, None, None),
        ];
        for (a, b, add, div) in cases {
            assert_eq!(arithmetic_types(BinOp::Add, &a, &b), add, "{a} + {b}");
            assert_eq!(arithmetic_types(BinOp::Add, &b, &a), add, "{b} + {a}");
            assert_eq!(arithmetic_types(BinOp::Div, &a, &b), div, "{a} / {b}");
        }
    }

    /// Comparisons read a string against a number as DOUBLE; otherwise the common type.
    #[test]
    fn comparison_table() {
        let cases = [
            (Int, Int, Some(Int)),
            (String, Int, Some(Double)),
            (dec(10, 2), String, Some(Double)),
            (String, String, Some(String)),
            (Int, dec(10, 2), Some(dec(21, 2))),
            (dec(10, 2), dec(5, 4), Some(dec(12, 4))),
            (Int, Double, Some(Double)),
            (Null, Boolean, Some(Boolean)),
            (Boolean, Int, None),
            (arr(Int), arr(Double), Some(arr(Double))),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_type(&a, &b), want, "{a} = {b}");
            assert_eq!(compare_type(&b, &a), want, "{b} = {a}");
        }
    }

    /// Argument and result types of each aggregate.
    #[test]
    fn aggregate_table() {
        let cases = [
            (AggFunc::Count, String, Some((String, Int))),
            (AggFunc::CountDistinct, Double, Some((Double, Int))),
            (AggFunc::HllSketch, Int, Some((Int, String))),
            (AggFunc::Sum, Int, Some((Int, Int))),
            (AggFunc::Sum, String, Some((Double, Double))),
            (AggFunc::Sum, Null, Some((Double, Double))),
            (AggFunc::Sum, dec(10, 2), Some((dec(10, 2), dec(20, 2)))),
            (AggFunc::Sum, dec(35, 2), Some((dec(35, 2), dec(38, 2)))),
            (AggFunc::Avg, Int, Some((Double, Double))),
            (AggFunc::Avg, dec(10, 2), Some((dec(10, 2), dec(14, 6)))),
            (AggFunc::Min, String, Some((String, String))),
            (AggFunc::CollectSet, Null, Some((String, arr(String)))),
            (AggFunc::CollectList, Int, Some((Int, arr(Int)))),
            (AggFunc::Sum, Boolean, None),
            (AggFunc::Avg, arr(Int), None),
        ];
        for (func, t, want) in cases {
            assert_eq!(aggregate_types(func, &t), want, "{}({t})", func.name());
        }
    }

    /// A row is cast only where a column's type differs; a NULL column is left as it is.
    #[test]
    fn row_casts() {
        assert!(cast_row(&[Int, Null], &[Int, String]).is_none());
        let casts = cast_row(&[Int, String], &[Double, String]).unwrap();
        let casts: Vec<std::string::String> = casts.iter().map(|e| e.to_string()).collect();
        assert_eq!(casts, ["CAST(#0 AS DOUBLE)", "#1"]);
    }

    /// What a sink field may receive: only casts that keep every value.
    #[test]
    fn sink_cast_table() {
        let ok = [
            (Int, Int),
            (Null, Int),
            (Int, Double),
            (Int, dec(19, 0)),
            (Int, dec(22, 2)),
            (dec(10, 2), dec(12, 3)),
            (Int, String),
            (Double, String),
            (dec(10, 2), String),
            (Boolean, String),
            (arr(Int), arr(Double)),
            (arr(Int), String),
        ];
        for (from, to) in ok {
            assert_eq!(sink_cast(&from, &to), Ok(()), "{from} into {to}");
        }
        let refused = [
            (String, Int),
            (String, Double),
            (String, dec(10, 2)),
            (Int, dec(10, 2)),
            (dec(10, 2), dec(10, 3)),
            (dec(10, 2), dec(12, 1)),
            (String, Boolean),
            (Double, Int),
            (dec(10, 2), Int),
            (Double, dec(10, 2)),
            (dec(10, 2), Double),
            (Boolean, Int),
            (Int, Boolean),
            (arr(String), arr(Int)),
            (arr(Int), Int),
        ];
        for (from, to) in refused {
            assert!(sink_cast(&from, &to).is_err(), "{from} into {to}");
        }
    }

    /// A cast is inserted only between two different known types; a literal is cast now.
    #[test]
    fn coerce_inserts_casts() {
        let col = ScalarExpr::Column(0);
        assert_eq!(coerce(col.clone(), &Int, &Int).to_string(), "#0");
        assert_eq!(coerce(col.clone(), &Null, &Int).to_string(), "#0");
        assert_eq!(
            coerce(col, &String, &Double).to_string(),
            "CAST(#0 AS DOUBLE)"
        );
        assert_eq!(
            coerce(ScalarExpr::lit("2.5"), &String, &Double).to_string(),
            "2.5"
        );
    }
}
