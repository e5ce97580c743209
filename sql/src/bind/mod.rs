//! The binder: names resolved in scopes, types checked, implicit casts inserted
//! ([`coerce`]), aggregates collected ([`aggregate`]), FOREACH / EXECUTE locals (`execute.rs`).
//! Its output is bound [`ScalarExpr`]s over column indexes, gathered per SELECT and JOIN in
//! [`select::BoundSelect`] and [`select::BoundJoin`]: what [`crate::lower`] turns into plan
//! nodes.

pub mod aggregate;
pub mod coerce;
mod execute;
pub mod select;
pub mod settings;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use chrono::FixedOffset;
use sqlparser::ast::{
    AccessExpr, BinaryOperator, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Spanned, Subscript, UnaryOperator, Value as SqlValue,
};

use crate::ast::{self, WindowMod};
use crate::error::{Pos, SqlError, SqlResult};
use crate::expr::collections::CollFunc;
use crate::expr::date::TimeUnit;
use crate::expr::{BinOp, Func, LikePattern, ScalarExpr};
use crate::types::{DataType, Field, Schema, Value};

use aggregate::AGGREGATES;
pub use aggregate::{contains_aggregate, AggState};
use coerce::{
    arith_operand, arith_type, arithmetic_types, coerce, common_type, compare_type, implicit_cast,
    mismatch,
};

/// A column visible to expressions.
#[derive(Clone, Debug)]
pub struct Column {
    pub qualifier: Option<String>,
    pub name: String,
    pub ty: DataType,
    /// Part of the result key (a group key or AGGRTIME), for sinks.
    pub key: bool,
    /// Computed from AGGRTIME, with the window's size in ms.
    pub window_ms: Option<u64>,
    /// Declared TIMESTAMP or DATE (held as text): `COORDINATE BY` reads it as a point in time.
    pub temporal: bool,
    /// A time attribute (Flink's rowtime): the `WATERMARK` delay of the table it comes from,
    /// through views and subqueries that read it as it is. A window on it has this lateness.
    pub watermark_ms: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub cols: Vec<Column>,
}

impl Scope {
    pub fn from_schema(schema: &Schema, qualifier: &str) -> Scope {
        Scope {
            cols: schema
                .fields
                .iter()
                .map(|f| Column {
                    qualifier: Some(qualifier.to_string()),
                    name: f.name.clone(),
                    ty: f.ty.clone(),
                    key: false,
                    window_ms: None,
                    temporal: false,
                    watermark_ms: None,
                })
                .collect(),
        }
    }

    pub fn requalify(mut self, qualifier: &str) -> Scope {
        for c in &mut self.cols {
            c.qualifier = Some(qualifier.to_string());
        }
        self
    }

    pub fn schema(&self) -> Schema {
        Schema::new(
            self.cols
                .iter()
                .map(|c| Field {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                })
                .collect(),
        )
    }

    pub fn resolve(
        &self,
        qualifier: Option<&str>,
        name: &str,
        pos: Pos,
    ) -> SqlResult<Option<usize>> {
        let hits: Vec<usize> = self
            .cols
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.name.eq_ignore_ascii_case(name)
                    && qualifier.is_none_or(|q| {
                        c.qualifier
                            .as_deref()
                            .is_some_and(|cq| cq.eq_ignore_ascii_case(q))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        match hits[..] {
            [] => Ok(None),
            [i] => Ok(Some(i)),
            _ => Err(SqlError::new(
                pos,
                format!("column `{name}` is ambiguous: qualify it with its table name"),
            )),
        }
    }

    pub fn names(&self) -> String {
        self.cols
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn pos_of(e: &Expr) -> Pos {
    let s = e.span().start;
    Pos::new(s.line.max(1) as u32, s.column.max(1) as u32)
}

fn function_name(f: &sqlparser::ast::Function) -> String {
    f.name.to_string()
}

/// The arguments of a call written with a list.
fn function_args(f: &sqlparser::ast::Function) -> &[FunctionArg] {
    match &f.args {
        FunctionArguments::List(l) => &l.args,
        _ => &[],
    }
}

pub struct Binder<'a> {
    scope: &'a Scope,
    agg: Option<&'a AggState>,
    clause: &'static str,
    tz: FixedOffset,
    /// The local variables of the FOREACH / EXECUTE being bound, innermost last; a variable's
    /// slot is its index.
    locals: Rc<RefCell<Vec<(String, DataType)>>>,
    max_iterations: u64,
    /// Flink SQL's literals: `0.908` is DECIMAL(3,3), where Hive reads it as a DOUBLE.
    pub flink: bool,
}

pub type Bound = (ScalarExpr, DataType);

impl<'a> Binder<'a> {
    /// A binder of expressions over `scope`; with `agg`, over the groups of an aggregate.
    /// `clause` names where the expressions are written, for errors.
    pub fn new(
        scope: &'a Scope,
        agg: Option<&'a AggState>,
        clause: &'static str,
        tz: FixedOffset,
        max_iterations: u64,
    ) -> Binder<'a> {
        Binder {
            scope,
            agg,
            clause,
            tz,
            locals: Rc::default(),
            max_iterations,
            flink: false,
        }
    }
}

impl Binder<'_> {
    fn row(&self, clause: &'static str) -> Binder<'_> {
        Binder {
            scope: self.scope,
            agg: None,
            clause,
            tz: self.tz,
            locals: self.locals.clone(),
            max_iterations: self.max_iterations,
            flink: self.flink,
        }
    }

    pub fn bind(&self, e: &Expr) -> SqlResult<Bound> {
        if let Some(agg) = self.agg {
            if !matches!(e, Expr::Value(_)) {
                if let Ok((b, _)) = self.row(self.clause).bind(e) {
                    if let Some(i) = agg.keys.iter().position(|k| *k == b) {
                        return Ok((ScalarExpr::Column(i), agg.key_types[i].clone()));
                    }
                }
            }
        }
        let pos = pos_of(e);
        match e {
            Expr::Identifier(id) => match self.local(&id.value) {
                Some(b) => Ok(b),
                None => self.column(None, &id.value, pos),
            },
            Expr::CompoundIdentifier(parts) => self.compound(parts, pos),
            Expr::CompoundFieldAccess { root, access_chain } => {
                let mut b = self.bind(root)?;
                for a in access_chain {
                    b = match a {
                        AccessExpr::Dot(Expr::Identifier(f)) => self.field(b, &f.value, pos)?,
                        AccessExpr::Subscript(Subscript::Index { index }) => {
                            let (i, it) = self.bind(index)?;
                            self.subscript(b, (i, it), pos_of(index))?
                        }
                        _ => {
                            return Err(SqlError::new(
                                pos,
                                "unsupported access: use a[i], m['key'] or s.field",
                            ))
                        }
                    };
                }
                Ok(b)
            }
            Expr::Value(v) => match &v.value {
                SqlValue::Placeholder(p) if p.starts_with('$') => {
                    self.local(&p[1..]).ok_or_else(|| {
                        SqlError::new(
                            pos,
                            format!("unknown variable `{p}`: DEFINE it in the EXECUTE"),
                        )
                    })
                }
                v => literal(v, self.flink, pos),
            },
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => Err(SqlError::new(
                pos,
                "`:=` assigns a variable only as a statement of an EXECUTE block",
            )),
            Expr::Nested(inner) => self.bind(inner),
            // `EXTRACT(HOUR FROM ts)`: Hive's function of that part.
            Expr::Extract { field, expr, .. } => {
                use sqlparser::ast::DateTimeField as F;
                let name = match field {
                    F::Year | F::Years => "year",
                    F::Month | F::Months => "month",
                    F::Day | F::Days => "dayofmonth",
                    F::Week(None) | F::Weeks => "weekofyear",
                    F::Hour | F::Hours => "hour",
                    F::Minute | F::Minutes => "minute",
                    F::Second | F::Seconds => "second",
                    other => {
                        return Err(SqlError::new(
                            pos,
                            format!(
                                "EXTRACT({other} FROM ...) is not supported: YEAR, MONTH, DAY, \
                                 WEEK, HOUR, MINUTE or SECOND"
                            ),
                        ))
                    }
                };
                self.call(name, &[expr], pos)
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, pos),
            Expr::UnaryOp { op, expr } => {
                let (x, t) = self.bind(expr)?;
                match op {
                    UnaryOperator::Plus => Ok((x, t)),
                    UnaryOperator::Minus => {
                        let nt = arith_type(&t).ok_or_else(|| {
                            SqlError::new(pos, format!("type mismatch: cannot negate {t}"))
                        })?;
                        Ok((ScalarExpr::Neg(Box::new(coerce(x, &t, &nt))), nt))
                    }
                    UnaryOperator::Not | UnaryOperator::BangNot => {
                        self.expect_bool(&t, pos, "NOT")?;
                        Ok((ScalarExpr::Not(Box::new(x)), DataType::Boolean))
                    }
                    other => Err(SqlError::new(pos, format!("unsupported operator {other}"))),
                }
            }
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let (b, _) = self.bind(x)?;
                Ok((
                    ScalarExpr::IsNull {
                        expr: Box::new(b),
                        negated: matches!(e, Expr::IsNotNull(_)),
                    },
                    DataType::Boolean,
                ))
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let ge = self.compare(BinOp::GtEq, expr, low, pos)?;
                let le = self.compare(BinOp::LtEq, expr, high, pos)?;
                let both = ScalarExpr::And(Box::new(ge), Box::new(le));
                let out = if *negated {
                    ScalarExpr::Not(Box::new(both))
                } else {
                    both
                };
                Ok((out, DataType::Boolean))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let (x, xt) = self.bind(expr)?;
                let items: Vec<Bound> = list
                    .iter()
                    .map(|i| self.bind(i))
                    .collect::<Result<_, _>>()?;
                let mut t = xt.clone();
                for (_, it) in &items {
                    t = compare_type(&t, it).ok_or_else(|| mismatch(pos, "compare", &xt, it))?;
                }
                Ok((
                    ScalarExpr::InList {
                        expr: Box::new(coerce(x, &xt, &t)),
                        list: items
                            .into_iter()
                            .map(|(i, it)| coerce(i, &it, &t))
                            .collect(),
                        negated: *negated,
                    },
                    DataType::Boolean,
                ))
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            } => {
                if *any || escape_char.is_some() {
                    return Err(SqlError::new(pos, "LIKE ANY and ESCAPE are not supported"));
                }
                let (x, xt) = self.bind(expr)?;
                let (p, pt) = self.bind(pattern)?;
                for t in [&xt, &pt] {
                    if !implicit_cast(t, &DataType::String) {
                        return Err(SqlError::new(
                            pos,
                            format!("type mismatch: LIKE needs STRING, found {t}"),
                        ));
                    }
                }
                let compiled = match &p {
                    ScalarExpr::Literal(Value::Str(s)) => Some(LikePattern::new(s)),
                    _ => None,
                };
                Ok((
                    ScalarExpr::Like {
                        expr: Box::new(coerce(x, &xt, &DataType::String)),
                        compiled,
                        pattern: Box::new(coerce(p, &pt, &DataType::String)),
                        negated: *negated,
                    },
                    DataType::Boolean,
                ))
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut whens = Vec::new();
                let mut results = Vec::new();
                for c in conditions {
                    let cond = match operand {
                        Some(op) => {
                            self.compare(BinOp::Eq, op, &c.condition, pos_of(&c.condition))?
                        }
                        None => {
                            let (b, t) = self.bind(&c.condition)?;
                            self.expect_bool(&t, pos_of(&c.condition), "CASE WHEN")?;
                            b
                        }
                    };
                    whens.push(cond);
                    results.push(self.bind(&c.result)?);
                }
                let otherwise = match else_result {
                    Some(e) => self.bind(e)?,
                    None => (ScalarExpr::Literal(Value::Null), DataType::Null),
                };
                let mut t = otherwise.1.clone();
                for (_, rt) in &results {
                    t = common_type(&t, rt)
                        .ok_or_else(|| mismatch(pos, "mix in one CASE", &t, rt))?;
                }
                let whens = whens
                    .into_iter()
                    .zip(results)
                    .map(|(c, (r, rt))| (c, coerce(r, &rt, &t)))
                    .collect();
                Ok((
                    ScalarExpr::Case {
                        whens,
                        otherwise: Box::new(coerce(otherwise.0, &otherwise.1, &t)),
                    },
                    t,
                ))
            }
            Expr::Cast {
                expr, data_type, ..
            } => {
                // The casts Hive does not do as the implicit conversion are its cast functions
                // (`cast(300 AS tinyint)` wraps to 44, timestamp text to BIGINT is seconds).
                let written = data_type.to_string().to_ascii_lowercase();
                let base = written.split('(').next().unwrap_or_default().trim();
                if matches!(
                    base,
                    "tinyint" | "smallint" | "int" | "integer" | "bigint" | "double" | "float"
                ) {
                    return self.call(base, &[expr.as_ref()], pos);
                }
                let (x, xt) = self.bind(expr)?;
                let to = DataType::parse_checked(&data_type.to_string()).map_err(|why| {
                    SqlError::new(
                        pos,
                        why.unwrap_or_else(|| format!("unsupported type {data_type} in CAST")),
                    )
                })?;
                Ok((coerce(x, &xt, &to), to))
            }
            Expr::Ceil { expr, .. } => self.call("ceil", &[expr.as_ref()], pos),
            Expr::Floor { expr, .. } => self.call("floor", &[expr.as_ref()], pos),
            Expr::Trim {
                expr,
                trim_where: None,
                trim_what: None,
                trim_characters: None,
            } => self.call("trim", &[expr.as_ref()], pos),
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args: Vec<&Expr> = vec![expr];
                args.extend(substring_from.as_deref());
                args.extend(substring_for.as_deref());
                self.call("substr", &args, pos)
            }
            Expr::Function(f) => self.function(f, pos),
            other => Err(SqlError::new(
                pos,
                format!("unsupported expression `{}`", ast::display_expr(other)),
            )),
        }
    }

    /// A FOREACH or EXECUTE variable by name (the innermost wins).
    fn local(&self, name: &str) -> Option<Bound> {
        let locals = self.locals.borrow();
        locals
            .iter()
            .rposition(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|slot| (ScalarExpr::Local(slot), locals[slot].1.clone()))
    }

    /// `t.col`, `t.col.field...` or `col.field...` (`s.f` on a STRUCT column).
    fn compound(&self, parts: &[sqlparser::ast::Ident], pos: Pos) -> SqlResult<Bound> {
        let qualified = parts.len() >= 2
            && self.local(&parts[0].value).is_none()
            && self
                .scope
                .resolve(Some(&parts[0].value), &parts[1].value, pos)?
                .is_some();
        let (mut b, rest) = if qualified {
            (
                self.column(Some(&parts[0].value), &parts[1].value, pos)?,
                &parts[2..],
            )
        } else if let Some(l) = self.local(&parts[0].value) {
            (l, &parts[1..])
        } else if parts.len() == 2 && self.scope.resolve(None, &parts[0].value, pos)?.is_none() {
            // `t.col` where `t.col` does not exist: report it as a qualified column.
            return self.column(Some(&parts[0].value), &parts[1].value, pos);
        } else {
            (self.column(None, &parts[0].value, pos)?, &parts[1..])
        };
        for f in rest {
            b = self.field(b, &f.value, pos)?;
        }
        Ok(b)
    }

    /// `s.name` on a STRUCT.
    fn field(&self, (e, t): Bound, name: &str, pos: Pos) -> SqlResult<Bound> {
        let DataType::Struct(fields) = &t else {
            return Err(SqlError::new(
                pos,
                format!("`.{name}` reads a STRUCT field, but the value is {t}"),
            ));
        };
        let Some(i) = fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            return Err(SqlError::new(
                pos,
                format!("{t} has no field `{name}`; fields: {}", names.join(", ")),
            ));
        };
        let ty = fields[i].1.clone();
        Ok((
            ScalarExpr::Call {
                func: Func::Coll(CollFunc::Field(i)),
                args: vec![e],
            },
            ty,
        ))
    }

    /// `a[i]` on an ARRAY (0-based), `m[k]` on a MAP.
    fn subscript(&self, (e, t): Bound, (i, it): Bound, pos: Pos) -> SqlResult<Bound> {
        let func = match &t {
            DataType::Array(_) => CollFunc::ArrayGet,
            DataType::Map(..) => CollFunc::MapGet,
            other => {
                return Err(SqlError::new(
                    pos,
                    format!(
                        "[...] reads an ARRAY element or a MAP value, but the value is {other}"
                    ),
                ))
            }
        };
        let (casts, ret) = func
            .signature(&[t.clone(), it.clone()])
            .map_err(|m| SqlError::new(pos, format!("type mismatch: {m}")))?;
        Ok((
            ScalarExpr::Call {
                func: Func::Coll(func),
                args: vec![e, coerce(i, &it, &casts[1])],
            },
            ret,
        ))
    }

    /// The arguments of a call, which must all be plain expressions.
    fn plain_args<'f>(
        &self,
        f: &'f sqlparser::ast::Function,
        pos: Pos,
    ) -> SqlResult<Vec<&'f Expr>> {
        function_args(f)
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                _ => Err(SqlError::new(
                    pos,
                    format!("bad argument to `{}`", function_name(f)),
                )),
            })
            .collect()
    }

    /// `named_struct('a', x, 'b', y)`.
    fn named_struct(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        if args.is_empty() || !args.len().is_multiple_of(2) {
            return Err(SqlError::new(
                pos,
                "named_struct() takes 'name', value pairs",
            ));
        }
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut values = Vec::new();
        let mut types = Vec::new();
        for pair in args.chunks(2) {
            let name = match pair[0] {
                Expr::Value(v) => match &v.value {
                    SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => s,
                    _ => "",
                },
                _ => "",
            };
            if name.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(SqlError::new(
                    pos_of(pair[0]),
                    "named_struct() needs distinct field names as quoted strings",
                ));
            }
            names.push(Arc::from(crate::parser::unescape_string(name)));
            let (e, t) = self.bind(pair[1])?;
            values.push(e);
            types.push(t);
        }
        let func = CollFunc::NamedStruct(names.into());
        let (casts, ret) = func
            .signature(&types)
            .map_err(|m| SqlError::new(pos, format!("type mismatch: {m}")))?;
        let args = values
            .into_iter()
            .zip(types)
            .zip(casts)
            .map(|((e, t), to)| coerce(e, &t, &to))
            .collect();
        Ok((
            ScalarExpr::Call {
                func: Func::Coll(func),
                args,
            },
            ret,
        ))
    }

    pub fn expect_bool(&self, t: &DataType, pos: Pos, what: &str) -> SqlResult<()> {
        if matches!(t, DataType::Boolean | DataType::Null) {
            Ok(())
        } else {
            Err(SqlError::new(
                pos,
                format!("type mismatch: {what} needs BOOLEAN, found {t}"),
            ))
        }
    }

    fn column(&self, qualifier: Option<&str>, name: &str, pos: Pos) -> SqlResult<Bound> {
        let found = self.scope.resolve(qualifier, name, pos)?;
        if let Some(agg) = self.agg {
            if qualifier.is_none() && name.eq_ignore_ascii_case("AGGRTIME") && agg.windowed {
                return Ok((ScalarExpr::Column(agg.keys.len()), DataType::Int));
            }
            if found.is_some() {
                return Err(SqlError::new(
                    pos,
                    format!("column `{name}` must appear in GROUP BY or be inside an aggregate"),
                ));
            }
        } else if let Some(i) = found {
            return Ok((ScalarExpr::Column(i), self.scope.cols[i].ty.clone()));
        }
        if name.eq_ignore_ascii_case("AGGRTIME") {
            return Err(SqlError::new(
                pos,
                "AGGRTIME is only defined in the SELECT or HAVING of a query with \
                 WITH AGGR INTERVAL",
            ));
        }
        let full = match qualifier {
            Some(q) => format!("{q}.{name}"),
            None => name.to_string(),
        };
        Err(SqlError::new(
            pos,
            format!("unknown column `{full}`; available: {}", self.scope.names()),
        ))
    }

    fn compare(&self, op: BinOp, l: &Expr, r: &Expr, pos: Pos) -> SqlResult<ScalarExpr> {
        let (a, at) = self.bind(l)?;
        let (b, bt) = self.bind(r)?;
        let t = compare_type(&at, &bt).ok_or_else(|| mismatch(pos, "compare", &at, &bt))?;
        Ok(ScalarExpr::Binary {
            op,
            left: Box::new(coerce(a, &at, &t)),
            right: Box::new(coerce(b, &bt, &t)),
        })
    }

    fn binary(&self, l: &Expr, op: &BinaryOperator, r: &Expr, pos: Pos) -> SqlResult<Bound> {
        if let Some(bound) = self.interval_arithmetic(l, op, r, pos) {
            return bound;
        }
        let cmp =
            |o: BinOp| -> SqlResult<Bound> { Ok((self.compare(o, l, r, pos)?, DataType::Boolean)) };
        match op {
            BinaryOperator::Eq => return cmp(BinOp::Eq),
            BinaryOperator::NotEq => return cmp(BinOp::NotEq),
            BinaryOperator::Lt => return cmp(BinOp::Lt),
            BinaryOperator::LtEq => return cmp(BinOp::LtEq),
            BinaryOperator::Gt => return cmp(BinOp::Gt),
            BinaryOperator::GtEq => return cmp(BinOp::GtEq),
            BinaryOperator::StringConcat => return self.call("concat", &[l, r], pos),
            _ => {}
        }
        let (a, at) = self.bind(l)?;
        let (b, bt) = self.bind(r)?;
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let word = if matches!(op, BinaryOperator::And) {
                    "AND"
                } else {
                    "OR"
                };
                self.expect_bool(&at, pos_of(l), word)?;
                self.expect_bool(&bt, pos_of(r), word)?;
                let (a, b) = (Box::new(a), Box::new(b));
                let e = if matches!(op, BinaryOperator::And) {
                    ScalarExpr::And(a, b)
                } else {
                    ScalarExpr::Or(a, b)
                };
                return Ok((e, DataType::Boolean));
            }
            BinaryOperator::MyIntegerDivide | BinaryOperator::DuckIntegerDivide => {
                for t in [&at, &bt] {
                    arith_type(t).ok_or_else(|| mismatch(pos, "apply DIV to", &at, &bt))?;
                }
                let e = ScalarExpr::Binary {
                    op: BinOp::IntDiv,
                    left: Box::new(coerce(a, &at, &DataType::Int)),
                    right: Box::new(coerce(b, &bt, &DataType::Int)),
                };
                return Ok((e, DataType::Int));
            }
            _ => {}
        }
        let bop = match op {
            BinaryOperator::Plus => BinOp::Add,
            BinaryOperator::Minus => BinOp::Sub,
            BinaryOperator::Multiply => BinOp::Mul,
            BinaryOperator::Divide => BinOp::Div,
            BinaryOperator::Modulo => BinOp::Mod,
            other => return Err(SqlError::new(pos, format!("unsupported operator {other}"))),
        };
        let what = format!("apply {} to", bop.symbol());
        let (t, result) =
            arithmetic_types(bop, &at, &bt).ok_or_else(|| mismatch(pos, &what, &at, &bt))?;
        let e = ScalarExpr::Binary {
            op: bop,
            left: Box::new(coerce(a, &at, &arith_operand(&at, &t))),
            right: Box::new(coerce(b, &bt, &arith_operand(&bt, &t))),
        };
        // An exact DECIMAL result is brought to its type's scale and precision (Hive's
        // rounding, NULL on overflow).
        let e = match result {
            DataType::Decimal { .. } => e.cast(result.clone()),
            _ => e,
        };
        Ok((e, result))
    }

    fn call(&self, name: &str, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let func = Func::lookup(name, self.tz)
            .ok_or_else(|| SqlError::new(pos, format!("unknown function `{name}`")))?;
        self.call_func(func, args, pos)
    }

    /// Flink's `TIMESTAMPADD(unit, n, ts)` and `TIMESTAMPDIFF(unit, a, b)`: the first argument
    /// names the unit.
    fn timestamp_unit_call(&self, name: &str, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let upper = name.to_ascii_uppercase();
        let Some((unit, rest)) = args.split_first() else {
            return Err(SqlError::new(
                pos,
                format!("{upper}(unit, ...) needs a unit first: SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR"),
            ));
        };
        let unit = match unit {
            Expr::Identifier(i) => TimeUnit::parse(&i.value),
            _ => None,
        }
        .ok_or_else(|| {
            SqlError::new(
                pos_of(unit),
                format!(
                    "the unit of {upper} is SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or \
                     YEAR, found `{unit}`"
                ),
            )
        })?;
        let func = if name == "timestampadd" {
            Func::TimestampAdd { unit }
        } else {
            Func::TimestampDiff { unit }
        };
        self.call_func(func, rest, pos)
    }

    /// `ts + INTERVAL 'n' unit`, `INTERVAL 'n' unit + ts` and `ts - INTERVAL 'n' unit`, when
    /// one side is an INTERVAL; `None` otherwise.
    fn interval_arithmetic(
        &self,
        l: &Expr,
        op: &BinaryOperator,
        r: &Expr,
        pos: Pos,
    ) -> Option<SqlResult<Bound>> {
        let (ts, interval, sign) = match (l, op, r) {
            (_, BinaryOperator::Plus | BinaryOperator::Minus, Expr::Interval(i)) => (
                l,
                i,
                if matches!(op, BinaryOperator::Minus) {
                    -1
                } else {
                    1
                },
            ),
            (Expr::Interval(i), BinaryOperator::Plus, _) => (r, i, 1),
            (Expr::Interval(_), _, _) | (_, _, Expr::Interval(_)) => {
                return Some(Err(SqlError::new(
                    pos,
                    "an INTERVAL is only added to or subtracted from a TIMESTAMP",
                )))
            }
            _ => return None,
        };
        Some((|| {
            let (n, unit) = ast::interval_value(interval).ok_or_else(|| {
                SqlError::new(
                    pos,
                    "an INTERVAL in an expression is `INTERVAL 'n' unit`, n a whole number and \
                     unit SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR",
                )
            })?;
            let (e, t) = self.bind(ts)?;
            if t != DataType::String && t != DataType::Null {
                return Err(SqlError::new(
                    pos_of(ts),
                    format!("an INTERVAL is added to a TIMESTAMP, not to {t}"),
                ));
            }
            let args = vec![ScalarExpr::Literal(Value::Int(sign * n)), e];
            Ok((
                ScalarExpr::Call {
                    func: Func::TimestampAdd { unit },
                    args,
                },
                DataType::String,
            ))
        })())
    }

    fn call_func(&self, func: Func, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let bound: Vec<Bound> = args
            .iter()
            .map(|a| self.bind(a))
            .collect::<Result<_, _>>()?;
        let types: Vec<DataType> = bound.iter().map(|(_, t)| t.clone()).collect();
        let (casts, ret) = func
            .signature(&types)
            .map_err(|m| SqlError::new(pos, format!("type mismatch: {m}")))?;
        let args: Vec<ScalarExpr> = bound
            .into_iter()
            .zip(casts)
            .map(|((e, t), to)| coerce(e, &t, &to))
            .collect();
        let literals: Vec<Option<&Value>> = args
            .iter()
            .map(|a| match a {
                ScalarExpr::Literal(v) => Some(v),
                _ => None,
            })
            .collect();
        let func = func.specialize(&literals);
        Ok((ScalarExpr::Call { func, args }, ret))
    }

    fn function(&self, f: &sqlparser::ast::Function, pos: Pos) -> SqlResult<Bound> {
        let full = function_name(f);
        let (modifier, name) = ast::split_window_mod(&full);
        let name = name.to_ascii_lowercase();
        if (name == "timestampadd" || name == "timestampdiff") && f.over.is_none() {
            let args: Vec<&Expr> = function_args(f)
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                    _ => Err(SqlError::new(
                        pos,
                        format!("{name}() takes plain arguments"),
                    )),
                })
                .collect::<SqlResult<_>>()?;
            return self.timestamp_unit_call(&name, &args, pos);
        }
        if f.over.is_some() {
            return Err(SqlError::new(
                pos,
                "OVER windows are not supported, but for Flink's top-N: `SELECT ... FROM \
                 (SELECT ..., ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...) AS rn FROM t) \
                 WHERE rn <= N`; for windows, use a window TVF or COORDINATE BY",
            ));
        }
        if f.filter.is_some() && !AGGREGATES.contains(&name.as_str()) {
            return Err(SqlError::new(
                pos,
                format!("FILTER (WHERE ...) only applies to aggregates, not `{name}`"),
            ));
        }
        let distinct = match &f.args {
            FunctionArguments::List(l) => {
                matches!(l.duplicate_treatment, Some(DuplicateTreatment::Distinct))
            }
            _ => false,
        };
        if AGGREGATES.contains(&name.as_str()) {
            if !self.locals.borrow().is_empty() {
                return Err(SqlError::new(
                    pos,
                    format!("aggregate `{name}` cannot be used inside FOREACH or EXECUTE"),
                ));
            }
            return self.aggregate(&name, modifier, distinct, f, pos);
        }
        match name.as_str() {
            "__foreach" => return self.foreach(&self.plain_args(f, pos)?, pos),
            "__execute" => return self.execute(&self.plain_args(f, pos)?, pos),
            "named_struct" => return self.named_struct(&self.plain_args(f, pos)?, pos),
            // SQL's MOD(a, b) is `a % b`: the remainder has the sign of `a` (Hive's pmod takes
            // the divisor's).
            "mod" => {
                let args = self.plain_args(f, pos)?;
                let [a, b] = args.as_slice() else {
                    return Err(SqlError::new(pos, "MOD(a, b) takes two arguments"));
                };
                return self.binary(a, &BinaryOperator::Modulo, b, pos);
            }
            "__define" | "__block" => {
                return Err(SqlError::new(pos, format!("`{name}` is reserved")))
            }
            _ => {}
        }
        if modifier != WindowMod::Aggr {
            return Err(SqlError::new(
                pos,
                format!("ACCU and SW only apply to aggregates, not `{name}`"),
            ));
        }
        if distinct {
            return Err(SqlError::new(
                pos,
                format!("DISTINCT only applies to aggregates, not `{name}`"),
            ));
        }
        let mut args = Vec::new();
        for a in function_args(f) {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push(e),
                _ => return Err(SqlError::new(pos, format!("bad argument to `{name}`"))),
            }
        }
        // Flink's REGEXP_EXTRACT is NULL where the pattern does not match (Hive's is '').
        let name = match name.as_str() {
            "regexp_extract" if self.flink => "__flink_regexp_extract".to_string(),
            _ => name,
        };
        self.call(&name, &args, pos)
    }
}

/// The conjuncts of an AND chain.
pub fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

/// A literal's value and type. A number with a point is a DOUBLE in Hive and EC-SQL, and an
/// exact DECIMAL of its digits in Flink SQL (`flink`): `0.908` is DECIMAL(3,3), `12.50`
/// DECIMAL(4,2); with an exponent it is a DOUBLE in both.
fn literal(v: &SqlValue, flink: bool, pos: Pos) -> SqlResult<Bound> {
    Ok(match v {
        SqlValue::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => (ScalarExpr::lit(i), DataType::Int),
            Err(_) if flink && !n.contains(['e', 'E']) => {
                let (int, frac) = n.split_once('.').unwrap_or((n, ""));
                let int = int.trim_start_matches('0');
                let scale = frac.len() as u32;
                let precision = (int.len() as u32 + scale).max(1);
                match n.parse::<rust_decimal::Decimal>() {
                    Ok(d) if precision <= u32::from(DataType::MAX_PRECISION) => {
                        let ty = DataType::decimal(precision, scale);
                        (ScalarExpr::Literal(Value::Decimal(d)), ty)
                    }
                    _ => return Err(SqlError::new(pos, format!("bad number `{n}`"))),
                }
            }
            Err(_) => match n.parse::<f64>() {
                Ok(d) => (ScalarExpr::lit(d), DataType::Double),
                Err(_) => return Err(SqlError::new(pos, format!("bad number `{n}`"))),
            },
        },
        // The parser keeps a literal's escapes as written; Hive's rule reads them here.
        SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => (
            ScalarExpr::lit(crate::parser::unescape_string(s)),
            DataType::String,
        ),
        SqlValue::Boolean(b) => (ScalarExpr::lit(*b), DataType::Boolean),
        SqlValue::Null => (ScalarExpr::Literal(Value::Null), DataType::Null),
        other => return Err(SqlError::new(pos, format!("unsupported literal {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Statement;

    /// The first SELECT item of `SELECT <expr> FROM t`, parsed as a job's script is.
    fn expr(text: &str) -> Expr {
        let script = crate::parser::parse_script(&format!("SELECT {text} FROM t")).unwrap();
        match &script.statements[0] {
            Statement::Select { query } => match &query.items[0] {
                ast::SelectItem::Expr { expr, .. } => expr.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn field(name: &str, ty: DataType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    /// Columns `a BIGINT, s STRING, k STRING` of table `t`, then `k STRING, n BIGINT` of `d`.
    fn joined() -> Scope {
        let t = Schema::new(vec![
            field("a", DataType::Int),
            field("s", DataType::String),
            field("k", DataType::String),
        ]);
        let d = Schema::new(vec![
            field("k", DataType::String),
            field("n", DataType::Int),
        ]);
        let mut scope = Scope::from_schema(&t, "t");
        scope.cols.extend(Scope::from_schema(&d, "d").cols);
        scope
    }

    fn bind(scope: &Scope, text: &str) -> SqlResult<(String, DataType)> {
        let utc = FixedOffset::east_opt(0).unwrap();
        Binder::new(scope, None, "SELECT", utc, 10)
            .bind(&expr(text))
            .map(|(e, t)| (e.to_string(), t))
    }

    #[test]
    fn names_resolve_in_their_scope() {
        let scope = joined();
        assert_eq!(bind(&scope, "a").unwrap(), ("#0".into(), DataType::Int));
        assert_eq!(
            bind(&scope, "d.k").unwrap(),
            ("#3".into(), DataType::String)
        );
        assert_eq!(bind(&scope, "T.K").unwrap().0, "#2", "names ignore case");
        let e = bind(&scope, "k").unwrap_err();
        assert!(e.message.contains("column `k` is ambiguous"), "{e:?}");
        let e = bind(&scope, "a + nope").unwrap_err();
        assert_eq!(e.pos, Pos::new(1, 12));
        assert_eq!(e.message, "unknown column `nope`; available: a, s, k, k, n");
        let e = bind(&scope, "x.a").unwrap_err();
        assert!(e.message.starts_with("unknown column `x.a`"), "{e:?}");
        let e = bind(&scope, "AGGRTIME").unwrap_err();
        assert!(e.message.contains("WITH AGGR INTERVAL"), "{e:?}");
    }

    #[test]
    fn implicit_casts_are_inserted() {
        let scope = joined();
        assert_eq!(
            bind(&scope, "a + s").unwrap(),
            (
                "(CAST(#0 AS DOUBLE) + CAST(#1 AS DOUBLE))".into(),
                DataType::Double
            )
        );
        assert_eq!(
            bind(&scope, "s = 1").unwrap(),
            ("(CAST(#1 AS DOUBLE) = 1.0)".into(), DataType::Boolean)
        );
        assert_eq!(bind(&scope, "a / n").unwrap().1, DataType::Double);
        let e = bind(&scope, "a AND n").unwrap_err();
        assert!(
            e.message.contains("AND needs BOOLEAN, found BIGINT"),
            "{e:?}"
        );
    }

    #[test]
    fn aggregates_need_a_group() {
        let scope = joined();
        let e = bind(&scope, "count(a)").unwrap_err();
        assert_eq!(
            e.message,
            "aggregate function `count` is not allowed in SELECT"
        );
        assert!(contains_aggregate(&expr("1 + max(a)")));
        assert!(!contains_aggregate(&expr("upper(s)")));
    }

    #[test]
    fn foreach_locals_shadow_columns() {
        let scope = Scope::from_schema(
            &Schema::new(vec![field("a", DataType::Array(Box::new(DataType::Int)))]),
            "t",
        );
        assert_eq!(
            bind(&scope, "FOREACH(a IN a GENERATE a + 1)").unwrap(),
            (
                "FOREACH($%0 IN #0 GENERATE ($%0 + 1))".into(),
                DataType::Array(Box::new(DataType::Int))
            )
        );
    }
}
