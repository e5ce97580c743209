//! Aggregates: finding them in an expression, and binding a call over the rows of a group.

use std::cell::RefCell;

use sqlparser::ast::{AccessExpr, Expr, FunctionArg, FunctionArgExpr, Subscript};

use super::coerce::{aggregate_types, coerce};
use super::{function_args, function_name, pos_of, Binder, Bound};
use crate::ast::{self, WindowMod};
use crate::error::{Pos, SqlError, SqlResult};
use crate::expr::ScalarExpr;
use crate::plan::{AggCall, AggFunc};
use crate::types::{DataType, Value};

pub(super) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "countd",
    "countd_hllp",
    "hllp",
    "collect_set",
    "collect_list",
];

fn is_aggregate_name(name: &str) -> bool {
    let (_, base) = ast::split_window_mod(name);
    AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(base))
}

/// Whether an expression contains an aggregate call.
pub fn contains_aggregate(e: &Expr) -> bool {
    match e {
        // `agg(x) OVER (...)` is a window function, not a group's aggregate (the binder
        // refuses it, naming the forms that work).
        Expr::Function(f) if f.over.is_some() => false,
        Expr::Function(f) => {
            is_aggregate_name(&function_name(f))
                || function_args(f).iter().any(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => contains_aggregate(x),
                    _ => false,
                })
        }
        Expr::BinaryOp { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        Expr::CompoundFieldAccess { root, access_chain } => {
            contains_aggregate(root)
                || access_chain.iter().any(|a| match a {
                    AccessExpr::Subscript(Subscript::Index { index }) => contains_aggregate(index),
                    _ => false,
                })
        }
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::Cast { expr, .. }
        | Expr::Ceil { expr, .. }
        | Expr::Floor { expr, .. }
        | Expr::Trim { expr, .. } => contains_aggregate(expr),
        Expr::Between {
            expr, low, high, ..
        } => contains_aggregate(expr) || contains_aggregate(low) || contains_aggregate(high),
        Expr::InList { expr, list, .. } => {
            contains_aggregate(expr) || list.iter().any(contains_aggregate)
        }
        Expr::Like { expr, pattern, .. } => contains_aggregate(expr) || contains_aggregate(pattern),
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|c| contains_aggregate(&c.condition) || contains_aggregate(&c.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            contains_aggregate(expr)
                || substring_from.as_deref().is_some_and(contains_aggregate)
                || substring_for.as_deref().is_some_and(contains_aggregate)
        }
        _ => false,
    }
}

/// What aggregate binding needs: the bound group keys and the aggregates found so far.
pub struct AggState {
    /// The bound keys, to recognise a key written again in SELECT.
    pub keys: Vec<ScalarExpr>,
    pub key_types: Vec<DataType>,
    pub windowed: bool,
    /// Whether the query has WITH ACCU / WITH SW intervals.
    pub accu: bool,
    pub sw: bool,
    pub calls: RefCell<Vec<AggCall>>,
    /// Where each aggregate of `calls` is first written.
    pub call_pos: RefCell<Vec<Pos>>,
}

impl AggState {
    fn first_agg_column(&self) -> usize {
        self.keys.len() + self.windowed as usize
    }
}

impl Binder<'_> {
    pub(super) fn aggregate(
        &self,
        name: &str,
        modifier: WindowMod,
        distinct: bool,
        f: &sqlparser::ast::Function,
        pos: Pos,
    ) -> SqlResult<Bound> {
        let Some(agg) = self.agg else {
            return Err(SqlError::new(
                pos,
                format!(
                    "aggregate function `{name}` is not allowed in {}",
                    self.clause
                ),
            ));
        };
        match modifier {
            WindowMod::Accu if !agg.accu => {
                return Err(SqlError::new(
                    pos,
                    format!("`{name}(... ACCU)` needs WITH ACCU INTERVAL n SECONDS"),
                ))
            }
            WindowMod::Sw if !agg.sw => {
                return Err(SqlError::new(
                    pos,
                    format!("`{name}(... SW)` needs WITH SW INTERVAL n SECONDS"),
                ))
            }
            _ => {}
        }
        let args = function_args(f);
        let arg: Option<&Expr> = match args {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if name == "count" && !distinct => {
                None
            }
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
            _ => {
                return Err(SqlError::new(
                    pos,
                    format!("`{name}` takes exactly one argument"),
                ))
            }
        };
        let row = self.row(if distinct {
            "an aggregate"
        } else {
            "an aggregate argument"
        });
        let bound = arg.map(|a| row.bind(a)).transpose()?;
        // count(1), count('x'): a non-NULL constant counts rows.
        let bound = match bound {
            Some((ScalarExpr::Literal(v), _)) if name == "count" && !distinct && !v.is_null() => {
                None
            }
            b => b,
        };
        // `agg(x) FILTER (WHERE c)` is `agg(CASE WHEN c THEN x END)`: every aggregate skips
        // NULL (`count(*)` counts the rows where `c` holds).
        let bound = match &f.filter {
            None => bound,
            Some(cond) => {
                let (c, t) = row.bind(cond)?;
                if !matches!(t, DataType::Boolean | DataType::Null) {
                    return Err(SqlError::new(
                        pos_of(cond),
                        format!("type mismatch: FILTER (WHERE ...) needs a condition, found {t}"),
                    ));
                }
                let (x, t) = bound.unwrap_or((ScalarExpr::lit(1), DataType::Int));
                Some((
                    ScalarExpr::Case {
                        whens: vec![(c, x)],
                        otherwise: Box::new(ScalarExpr::Literal(Value::Null)),
                    },
                    t,
                ))
            }
        };
        let func = match (name, distinct) {
            ("count", false) => AggFunc::Count,
            ("count", true) | ("countd", _) => AggFunc::CountDistinct,
            ("sum", false) => AggFunc::Sum,
            ("sum", true) => AggFunc::SumDistinct,
            ("avg", false) => AggFunc::Avg,
            ("avg", true) => AggFunc::AvgDistinct,
            ("min", _) => AggFunc::Min,
            ("countd_hllp", _) => AggFunc::CountDistinctHll,
            ("hllp", _) => AggFunc::HllSketch,
            ("collect_set", _) => AggFunc::CollectSet,
            ("collect_list", _) => AggFunc::CollectList,
            _ => AggFunc::Max,
        };
        let int_arg = matches!(&bound, Some((_, DataType::Int)));
        let (arg, arg_type, result_type) = match bound {
            None if func.append_only() => {
                return Err(SqlError::new(
                    pos,
                    format!("`{name}` needs a value, not `*`"),
                ))
            }
            None => (None, DataType::Null, DataType::Int),
            Some((e, t)) => {
                let pos = arg.map_or(pos, pos_of);
                let (at, rt) = aggregate_types(func, &t).ok_or_else(|| {
                    SqlError::new(
                        pos,
                        format!("type mismatch: {name} needs a number, found {t}"),
                    )
                })?;
                (Some(coerce(e, &t, &at)), at, rt)
            }
        };
        // An aggregate written twice (same function, argument and window) is computed once.
        let mut calls = agg.calls.borrow_mut();
        let idx = match calls
            .iter()
            .position(|c| c.func == func && c.arg == arg && c.window == modifier)
        {
            Some(i) => i,
            None => {
                agg.call_pos.borrow_mut().push(pos);
                calls.push(AggCall {
                    func,
                    arg,
                    arg_type,
                    result_type: result_type.clone(),
                    window: modifier,
                    slot: 0,
                });
                calls.len() - 1
            }
        };
        let column = ScalarExpr::Column(agg.first_agg_column() + idx);
        // Flink's AVG of an integer is an integer, its fraction cut off (Hive's is a DOUBLE).
        if self.flink && int_arg && matches!(func, AggFunc::Avg | AggFunc::AvgDistinct) {
            return Ok((column.cast(DataType::Int), DataType::Int));
        }
        Ok((column, result_type))
    }
}
