//! Binding and planning: names resolved, types checked, implicit casts inserted, and each
//! statement lowered to [`crate::plan`] nodes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use chrono::FixedOffset;
use sqlparser::ast::{
    AccessExpr, BinaryOperator, DuplicateTreatment, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Spanned, Subscript, UnaryOperator, Value as SqlValue,
};

use crate::ast::{self, FromItem, Select, SelectItem, Statement, WindowMod};
use crate::catalog::{self, Emit, SinkConfig, SinkOptions};
use crate::error::{Diagnostic, Pos, SqlError, SqlResult};
use crate::expr::collections::CollFunc;
use crate::expr::date::parse_offset;
use crate::expr::functions::{common_type, implicit_cast};
use crate::expr::{BinOp, Func, LikePattern, Program, ScalarExpr, Stmt};
use crate::job::Job;
use crate::plan::*;
use crate::types::{DataType, Field, Schema, Value};

/// Plans a loaded job.
pub fn plan(job: &Job) -> Result<Plan, Diagnostic> {
    let settings = job_settings(job)?;
    let tz = match job.settings.get("timezone") {
        None => FixedOffset::east_opt(0).expect("UTC"),
        Some(s) => parse_offset(&s.value).ok_or_else(|| {
            job.error_at(
                s.pos,
                format!(
                    "bad timezone `{}`: use UTC or an offset such as +08:00",
                    s.value
                ),
            )
        })?,
    };
    let mut p = Planner {
        job,
        tz,
        settings,
        sources: Vec::new(),
        source_nodes: HashMap::new(),
        nodes: Vec::new(),
        withs: HashMap::new(),
        sinks: Vec::new(),
    };
    for stmt in &job.script.statements {
        p.statement(stmt)?;
    }
    let mut plan = Plan {
        settings: p.settings,
        sources: p.sources,
        nodes: p.nodes,
        sinks: p.sinks,
    };
    // Watermarks per lane: a live Kafka topic keeps one per partition, and a windowed query
    // over several streams (a union) one per source, so that a stream behind in event time is
    // not made late by another.
    let live_kafka = plan
        .sources
        .iter()
        .any(|s| matches!(&s.config, crate::catalog::SourceConfig::Kafka(k) if !k.bounded));
    let upstream = plan.stream_sources();
    let merged_streams = plan
        .nodes
        .iter()
        .zip(&upstream)
        .any(|(n, srcs)| Plan::keeps_watermark(&n.node) && srcs.len() > 1);
    if live_kafka || merged_streams {
        plan.settings.lanes = LANES;
    }
    Ok(plan)
}

fn job_settings(job: &Job) -> Result<JobSettings, Diagnostic> {
    let mut s = JobSettings::default();
    let num = |key: &str| -> Result<Option<u64>, Diagnostic> {
        match job.settings.get(key) {
            None => Ok(None),
            Some(v) => v.value.parse::<u64>().map(Some).map_err(|_| {
                job.error_at(
                    v.pos,
                    format!("`{key}` must be a whole number, found `{}`", v.value),
                )
            }),
        }
    };
    if let Some(l) = num("lateness.seconds")? {
        s.lateness_ms = l * 1000;
    }
    if let Some(l) = num("idle.timeout.seconds")? {
        s.idle_timeout_ms = l * 1000;
    }
    if let Some(c) = num("chunk.rows")? {
        s.chunk_rows = Some(c.max(1) as usize);
    }
    if let Some(n) = num("execute.max.iterations")? {
        s.max_iterations = n;
    }
    Ok(s)
}

/// A column visible to expressions.
#[derive(Clone, Debug)]
struct Column {
    qualifier: Option<String>,
    name: String,
    ty: DataType,
    /// Part of the result key (a group key or AGGRTIME), for sinks.
    key: bool,
    /// Computed from AGGRTIME, with the window's size in ms.
    window_ms: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct Scope {
    cols: Vec<Column>,
}

impl Scope {
    fn from_schema(schema: &Schema, qualifier: &str) -> Scope {
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
                })
                .collect(),
        }
    }

    fn requalify(mut self, qualifier: &str) -> Scope {
        for c in &mut self.cols {
            c.qualifier = Some(qualifier.to_string());
        }
        self
    }

    fn schema(&self) -> Schema {
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

    fn resolve(&self, qualifier: Option<&str>, name: &str, pos: Pos) -> SqlResult<Option<usize>> {
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

    fn names(&self) -> String {
        self.cols
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn pos_of(e: &Expr) -> Pos {
    let s = e.span().start;
    Pos::new(s.line.max(1) as u32, s.column.max(1) as u32)
}

const AGGREGATES: &[&str] = &[
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

fn function_name(f: &sqlparser::ast::Function) -> String {
    f.name.to_string()
}

/// Whether an expression contains an aggregate call.
fn contains_aggregate(e: &Expr) -> bool {
    match e {
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

fn function_args(f: &sqlparser::ast::Function) -> &[FunctionArg] {
    match &f.args {
        FunctionArguments::List(l) => &l.args,
        _ => &[],
    }
}

/// What aggregate binding needs: the bound group keys and the aggregates found so far.
struct AggState {
    /// Display form of each bound key, to recognise a key written again in SELECT.
    keys: Vec<String>,
    key_types: Vec<DataType>,
    windowed: bool,
    /// Whether the query has WITH ACCU / WITH SW intervals.
    accu: bool,
    sw: bool,
    calls: RefCell<Vec<(String, AggCall)>>,
    /// Where each aggregate of `calls` is first written.
    call_pos: RefCell<Vec<Pos>>,
}

impl AggState {
    fn first_agg_column(&self) -> usize {
        self.keys.len() + self.windowed as usize
    }
}

struct Binder<'a> {
    scope: &'a Scope,
    agg: Option<&'a AggState>,
    clause: &'static str,
    tz: FixedOffset,
    /// The local variables of the FOREACH / EXECUTE being bound, innermost last; a variable's
    /// slot is its index.
    locals: Rc<RefCell<Vec<(String, DataType)>>>,
    max_iterations: u64,
}

type Bound = (ScalarExpr, DataType);

fn mismatch(pos: Pos, what: &str, a: &DataType, b: &DataType) -> SqlError {
    SqlError::new(pos, format!("type mismatch: cannot {what} {a} and {b}"))
}

/// Casts `e` from `from` to `to` when they differ (NULL needs no cast).
fn coerce(e: ScalarExpr, from: &DataType, to: &DataType) -> ScalarExpr {
    if from == to || *from == DataType::Null || *to == DataType::Null {
        e
    } else if let ScalarExpr::Literal(v) = &e {
        ScalarExpr::Literal(v.cast(to))
    } else {
        e.cast(to.clone())
    }
}

/// The type arithmetic operands are brought to (strings read as doubles).
fn arith_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::String => Some(DataType::Double),
        DataType::Int | DataType::Double | DataType::Decimal | DataType::Null => Some(t.clone()),
        _ => None,
    }
}

/// The common type of a comparison.
fn compare_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    match (a, b) {
        (String, t) | (t, String) if t.is_numeric() => Some(Double),
        _ => common_type(a, b),
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
        }
    }

    fn bind(&self, e: &Expr) -> SqlResult<Bound> {
        if let Some(agg) = self.agg {
            if !matches!(e, Expr::Value(_)) {
                if let Ok((b, _)) = self.row(self.clause).bind(e) {
                    let shown = b.to_string();
                    if let Some(i) = agg.keys.iter().position(|k| *k == shown) {
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
                v => literal(v, pos),
            },
            Expr::BinaryOp {
                op: BinaryOperator::Assignment,
                ..
            } => Err(SqlError::new(
                pos,
                "`:=` assigns a variable only as a statement of an EXECUTE block",
            )),
            Expr::Nested(inner) => self.bind(inner),
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
                let to = DataType::parse(&data_type.to_string()).ok_or_else(|| {
                    SqlError::new(pos, format!("unsupported type {data_type} in CAST"))
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

    /// `__foreach(var, 'of' | 'in', over, body)`, as the parser rewrites FOREACH.
    fn foreach(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let [Expr::Identifier(var), Expr::Value(kind), over, body] = args else {
            return Err(SqlError::new(
                pos,
                "FOREACH is written FOREACH(var OF|IN expr GENERATE expr)",
            ));
        };
        let indexes = kind.value == SqlValue::SingleQuotedString("of".into());
        let (o, ot) = self.bind(over)?;
        let item = match (&ot, indexes) {
            (DataType::Array(_), true) => DataType::Int,
            (DataType::Array(t), false) => (**t).clone(),
            (DataType::Map(k, _), true) => (**k).clone(),
            (DataType::Map(_, v), false) => (**v).clone(),
            (other, _) => {
                return Err(SqlError::new(
                    pos_of(over),
                    format!("FOREACH iterates over an ARRAY or a MAP, but this is {other}"),
                ))
            }
        };
        let slot = {
            let mut locals = self.locals.borrow_mut();
            locals.push((var.value.clone(), item));
            locals.len() - 1
        };
        let bound = self.bind(body);
        self.locals.borrow_mut().truncate(slot);
        let (b, bt) = bound?;
        let bt = if bt == DataType::Null {
            DataType::String
        } else {
            bt
        };
        Ok((
            ScalarExpr::Foreach {
                slot,
                indexes,
                over: Box::new(o),
                body: Box::new(b),
            },
            DataType::Array(Box::new(bt)),
        ))
    }

    /// `__execute(__define(v, CAST(d AS t)), ..., __block(statements), emit)`, as the parser
    /// rewrites EXECUTE.
    fn execute(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let depth = self.locals.borrow().len();
        let bound = self.execute_inner(args, pos);
        self.locals.borrow_mut().truncate(depth);
        bound
    }

    fn execute_inner(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let Some((emit, rest)) = args.split_last() else {
            return Err(SqlError::new(pos, "EXECUTE needs a block and EMIT"));
        };
        let Some((Expr::Function(block), defines)) = rest.split_last() else {
            return Err(SqlError::new(pos, "EXECUTE needs a { ... } block"));
        };
        let mut defs = Vec::new();
        for d in defines {
            let Expr::Function(f) = d else {
                return Err(SqlError::new(pos_of(d), "expected a DEFINE"));
            };
            let fargs = self.plain_args(f, pos_of(d))?;
            let [Expr::Identifier(name), init] = fargs[..] else {
                return Err(SqlError::new(
                    pos_of(d),
                    "expected `DEFINE v AS type DEFAULT value`",
                ));
            };
            let (e, t) = self.bind(init)?;
            let mut locals = self.locals.borrow_mut();
            let depth = locals.len() - defs.len();
            if locals[depth..]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&name.value))
            {
                return Err(SqlError::new(
                    pos_of(d),
                    format!("variable `{}` is defined twice", name.value),
                ));
            }
            locals.push((name.value.clone(), t));
            defs.push((locals.len() - 1, e));
        }
        let stmts = self.plain_args(block, pos_of(rest[rest.len() - 1]))?;
        let block = stmts
            .iter()
            .map(|s| self.statement(s))
            .collect::<SqlResult<Vec<_>>>()?;
        let (emit, et) = self.bind(emit)?;
        Ok((
            ScalarExpr::Execute(Arc::new(Program {
                defines: defs,
                block,
                emit,
                max_iterations: self.max_iterations,
            })),
            et,
        ))
    }

    /// One statement of an EXECUTE block.
    fn statement(&self, s: &Expr) -> SqlResult<Stmt> {
        let pos = pos_of(s);
        match s {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Assignment,
                right,
            } => {
                let name = match left.as_ref() {
                    Expr::Value(v) => match &v.value {
                        SqlValue::Placeholder(p) => p.trim_start_matches('$').to_string(),
                        _ => String::new(),
                    },
                    Expr::Identifier(id) => id.value.clone(),
                    _ => String::new(),
                };
                let Some((ScalarExpr::Local(slot), vt)) = self.local(&name) else {
                    return Err(SqlError::new(
                        pos,
                        format!("`{left}` is not a variable: DEFINE it in the EXECUTE"),
                    ));
                };
                let (e, t) = self.bind(right)?;
                if !implicit_cast(&t, &vt) || (t.is_complex() && !vt.is_complex()) {
                    return Err(SqlError::new(
                        pos,
                        format!("type mismatch: cannot assign {t} to `${name}`, a {vt}"),
                    ));
                }
                Ok(Stmt::Set(slot, coerce(e, &t, &vt)))
            }
            Expr::Function(f)
                if ["if", "for"]
                    .iter()
                    .any(|w| function_name(f).eq_ignore_ascii_case(w)) =>
            {
                let word = function_name(f).to_ascii_uppercase();
                let args = self.plain_args(f, pos)?;
                let Some((cond, body)) = args.split_first() else {
                    return Err(SqlError::new(
                        pos,
                        format!("{word} is written {word}(condition, statements...)"),
                    ));
                };
                let (c, ct) = self.bind(cond)?;
                self.expect_bool(&ct, pos_of(cond), &word)?;
                let body = body
                    .iter()
                    .map(|s| self.statement(s))
                    .collect::<SqlResult<Vec<_>>>()?;
                Ok(if word == "IF" {
                    Stmt::If(c, body)
                } else {
                    Stmt::For(c, body)
                })
            }
            other => Err(SqlError::new(
                pos,
                format!(
                    "an EXECUTE block holds `$v := expr`, IF(condition, ...) and \
                     FOR(condition, ...) statements, not `{}`",
                    ast::display_expr(other)
                ),
            )),
        }
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

    fn expect_bool(&self, t: &DataType, pos: Pos, what: &str) -> SqlResult<()> {
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
        let (na, nb) = match (arith_type(&at), arith_type(&bt)) {
            (Some(x), Some(y)) => (x, y),
            _ => return Err(mismatch(pos, &what, &at, &bt)),
        };
        let mut t = common_type(&na, &nb).ok_or_else(|| mismatch(pos, &what, &at, &bt))?;
        if t == DataType::Null {
            t = DataType::Int;
        }
        let result = match (bop, &t) {
            (BinOp::Div, DataType::Int) => DataType::Double,
            _ => t.clone(),
        };
        let e = ScalarExpr::Binary {
            op: bop,
            left: Box::new(coerce(a, &at, &t)),
            right: Box::new(coerce(b, &bt, &t)),
        };
        Ok((e, result))
    }

    fn call(&self, name: &str, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
        let func = Func::lookup(name, self.tz)
            .ok_or_else(|| SqlError::new(pos, format!("unknown function `{name}`")))?;
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
        if f.over.is_some() || f.filter.is_some() {
            return Err(SqlError::new(
                pos,
                "OVER and FILTER are not supported; use COORDINATE BY windows",
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
        self.call(&name, &args, pos)
    }

    fn aggregate(
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
                let (at, rt) = match func {
                    AggFunc::Count | AggFunc::CountDistinct | AggFunc::CountDistinctHll => {
                        (t.clone(), DataType::Int)
                    }
                    AggFunc::HllSketch => (t.clone(), DataType::String),
                    AggFunc::CollectSet | AggFunc::CollectList => {
                        let et = if t == DataType::Null {
                            DataType::String
                        } else {
                            t.clone()
                        };
                        (et.clone(), DataType::Array(Box::new(et)))
                    }
                    AggFunc::Min | AggFunc::Max => (t.clone(), t.clone()),
                    AggFunc::Sum | AggFunc::SumDistinct => {
                        let nt = arith_type(&t).ok_or_else(|| {
                            SqlError::new(
                                pos,
                                format!("type mismatch: {name} needs a number, found {t}"),
                            )
                        })?;
                        let nt = if nt == DataType::Null {
                            DataType::Double
                        } else {
                            nt
                        };
                        (nt.clone(), nt)
                    }
                    AggFunc::Avg | AggFunc::AvgDistinct => {
                        let nt = arith_type(&t).ok_or_else(|| {
                            SqlError::new(
                                pos,
                                format!("type mismatch: {name} needs a number, found {t}"),
                            )
                        })?;
                        let nt = if nt == DataType::Decimal {
                            nt
                        } else {
                            DataType::Double
                        };
                        (nt.clone(), nt)
                    }
                };
                (Some(coerce(e, &t, &at)), at, rt)
            }
        };
        let key = format!(
            "{:?}({}){:?}",
            func,
            arg.as_ref().map_or("*".to_string(), |a| a.to_string()),
            modifier
        );
        let mut calls = agg.calls.borrow_mut();
        let idx = match calls.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                agg.call_pos.borrow_mut().push(pos);
                calls.push((
                    key,
                    AggCall {
                        func,
                        arg,
                        arg_type,
                        result_type: result_type.clone(),
                        window: modifier,
                    },
                ));
                calls.len() - 1
            }
        };
        Ok((
            ScalarExpr::Column(agg.first_agg_column() + idx),
            result_type,
        ))
    }
}

/// The conjuncts of an AND chain.
fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
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

fn literal(v: &SqlValue, pos: Pos) -> SqlResult<Bound> {
    Ok(match v {
        SqlValue::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => (ScalarExpr::lit(i), DataType::Int),
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

struct Planner<'a> {
    job: &'a Job,
    tz: FixedOffset,
    settings: JobSettings,
    sources: Vec<SourcePlan>,
    /// Source node per table (lower case) or `__innertable(ms)`.
    source_nodes: HashMap<String, (NodeId, Scope)>,
    nodes: Vec<PlanNode>,
    withs: HashMap<String, (NodeId, Scope)>,
    sinks: Vec<SinkPlan>,
}

impl Planner<'_> {
    fn err(&self, pos: Pos, msg: impl Into<String>) -> Diagnostic {
        self.job.diagnostic(SqlError::new(pos, msg))
    }

    fn sql(&self, e: SqlError) -> Diagnostic {
        self.job.diagnostic(e)
    }

    fn add(&mut self, node: Node, schema: Schema, label: &str) -> NodeId {
        self.nodes.push(PlanNode {
            node,
            schema,
            label: label.to_string(),
        });
        self.nodes.len() - 1
    }

    fn binder<'s>(
        &self,
        scope: &'s Scope,
        agg: Option<&'s AggState>,
        clause: &'static str,
    ) -> Binder<'s> {
        Binder {
            scope,
            agg,
            clause,
            tz: self.tz,
            locals: Rc::default(),
            max_iterations: self.settings.max_iterations,
        }
    }

    fn statement(&mut self, stmt: &Statement) -> Result<(), Diagnostic> {
        match stmt {
            Statement::With { name, query } => {
                let key = name.name.to_ascii_lowercase();
                if self.withs.contains_key(&key) || self.job.table(&name.name).is_some() {
                    return Err(self.err(name.pos, format!("`{}` is already defined", name.name)));
                }
                let label = format!("WITH {}", name.name);
                let (node, scope) = self.select(query, &label, Emit::Changes, false)?;
                self.withs.insert(key, (node, scope.requalify(&name.name)));
            }
            Statement::Insert { table, key, query } => self.insert(table, key.as_ref(), query)?,
            Statement::Select { query } => {
                let label = "SELECT".to_string();
                let (node, scope) = self.select(query, &label, Emit::Changes, false)?;
                let key = key_of(&scope, query);
                self.sinks.push(SinkPlan {
                    input: node,
                    version: None,
                    frozen_after_ms: None,
                    table: "stdout".into(),
                    schema: scope.schema(),
                    key,
                    config: SinkConfig::Stdout,
                    options: SinkOptions {
                        emit: Emit::Changes,
                        flush_ms: 1000,
                    },
                });
            }
        }
        Ok(())
    }

    fn insert(
        &mut self,
        table: &ast::Ident,
        key: Option<&ast::Ident>,
        query: &Select,
    ) -> Result<(), Diagnostic> {
        let desc = self.job.table(&table.name).ok_or_else(|| {
            self.err(
                table.pos,
                format!(
                    "unknown table `{}`: describe it in the job file",
                    table.name
                ),
            )
        })?;
        let (mut config, options) =
            catalog::sink_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
        if let SinkConfig::Csv { path, .. } = &mut config {
            *path = self.job.dir.join(&*path);
        }
        let label = format!("INSERT INTO {}", table.name);
        let (mut node, scope) = self.select(query, &label, options.emit, true)?;
        // A windowed result carries its window start in a hidden last column.
        let hidden = self.nodes[node].schema.len() > scope.cols.len();
        // Whether the key holds the window: then a row is frozen once its window is final.
        let window_in_key = scope
            .cols
            .iter()
            .find_map(|c| c.window_ms.filter(|_| c.key));
        let schema = if desc.schema.is_empty() {
            scope.schema()
        } else {
            desc.schema.clone()
        };
        if schema.len() != scope.cols.len() {
            return Err(self.err(
                query.pos,
                format!(
                    "INSERT INTO {}: the SELECT gives {} column{} but the table has {} field{} ({})",
                    table.name,
                    scope.cols.len(),
                    if scope.cols.len() == 1 { "" } else { "s" },
                    schema.len(),
                    if schema.len() == 1 { "" } else { "s" },
                    schema.names().join(", ")
                ),
            ));
        }
        let mut casts = Vec::new();
        let mut needs_cast = false;
        for (i, (col, field)) in scope.cols.iter().zip(&schema.fields).enumerate() {
            if !implicit_cast(&col.ty, &field.ty) && col.ty != DataType::Boolean {
                let pos = item_pos(query, i).unwrap_or(query.pos);
                return Err(self.err(
                    pos,
                    format!(
                        "type mismatch: column {} ({}) is {} but field `{}` of {} is {}",
                        i + 1,
                        col.name,
                        col.ty,
                        field.name,
                        table.name,
                        field.ty
                    ),
                ));
            }
            needs_cast |= col.ty != field.ty && col.ty != DataType::Null;
            casts.push(coerce(ScalarExpr::Column(i), &col.ty, &field.ty));
        }
        if needs_cast {
            node = self.add(
                Node::Map {
                    input: node,
                    exprs: casts,
                },
                schema.clone(),
                &label,
            );
        }
        let key = match key {
            Some(k) => {
                let i = schema.index_of(&k.name).ok_or_else(|| {
                    self.err(
                        k.pos,
                        format!("`{}` is not a field of {}", k.name, table.name),
                    )
                })?;
                Some(vec![i])
            }
            None => key_of(&scope, query),
        };
        catalog::check_sink(desc, &config, &schema, key.as_deref())
            .map_err(|(p, m)| self.job.error_at(p, m))?;
        let key_has_window = match &key {
            Some(cols) => cols.iter().any(|&i| scope.cols[i].window_ms.is_some()),
            None => false,
        };
        self.sinks.push(SinkPlan {
            input: node,
            table: desc.name.clone(),
            version: hidden.then_some(schema.len()),
            frozen_after_ms: window_in_key.filter(|_| hidden && key_has_window),
            schema,
            key,
            config,
            options,
        });
        Ok(())
    }

    fn from(&mut self, item: &FromItem, label: &str) -> Result<(NodeId, Scope), Diagnostic> {
        match item {
            FromItem::Table { name, alias } => {
                let qualifier = alias.as_ref().unwrap_or(name).name.clone();
                if let Some((node, scope)) = self.withs.get(&name.name.to_ascii_lowercase()) {
                    return Ok((*node, scope.clone().requalify(&qualifier)));
                }
                let key = name.name.to_ascii_lowercase();
                if let Some((node, scope)) = self.source_nodes.get(&key) {
                    return Ok((*node, scope.clone().requalify(&qualifier)));
                }
                let desc = self.job.table(&name.name).ok_or_else(|| {
                    let mut known: Vec<String> =
                        self.job.tables.iter().map(|t| t.name.clone()).collect();
                    known.extend(self.withs.keys().cloned());
                    self.err(
                        name.pos,
                        format!(
                            "unknown table `{}`; defined: {}",
                            name.name,
                            known.join(", ")
                        ),
                    )
                })?;
                let (mut config, schema) =
                    catalog::source_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
                match &mut config {
                    catalog::SourceConfig::File { path, .. } => *path = self.job.dir.join(&*path),
                    catalog::SourceConfig::Database { .. }
                    | catalog::SourceConfig::Redis { .. } => {
                        return Err(self.err(
                            name.pos,
                            format!(
                                "`{}` is a dimension table (read whole and kept current): join \
                                 it with `LEFT JOIN {}` instead of reading it in FROM",
                                name.name, name.name
                            ),
                        ))
                    }
                    _ => {}
                }
                self.sources.push(SourcePlan {
                    table: desc.name.clone(),
                    schema: schema.clone(),
                    config,
                    dimension: false,
                });
                let node = self.add(
                    Node::Source {
                        source: self.sources.len() - 1,
                    },
                    schema.clone(),
                    &format!("table {}", desc.name),
                );
                let scope = Scope::from_schema(&schema, &desc.name);
                self.source_nodes.insert(key, (node, scope.clone()));
                Ok((node, scope.requalify(&qualifier)))
            }
            FromItem::InnerTable { interval_ms, .. } => {
                let key = format!("__innertable({interval_ms})");
                if let Some((node, scope)) = self.source_nodes.get(&key) {
                    return Ok((*node, scope.clone()));
                }
                self.sources.push(SourcePlan {
                    table: key.clone(),
                    schema: Schema::default(),
                    config: catalog::SourceConfig::InnerTable {
                        interval_ms: *interval_ms,
                    },
                    dimension: false,
                });
                let node = self.add(
                    Node::Source {
                        source: self.sources.len() - 1,
                    },
                    Schema::default(),
                    &key,
                );
                self.source_nodes.insert(key, (node, Scope::default()));
                Ok((node, Scope::default()))
            }
            FromItem::Subquery { query, alias } => {
                let (node, scope) = self.select(query, label, Emit::Changes, false)?;
                Ok((node, scope.requalify(&alias.name)))
            }
            FromItem::LeftJoin {
                left,
                right,
                alias,
                on,
            } => self.left_join(left, right, alias.as_ref(), on, label),
            FromItem::UnionAll { queries, .. } => {
                let mut planned = Vec::new();
                for q in queries {
                    planned.push(self.select(q, label, Emit::Changes, false)?);
                }
                let width = planned[0].1.cols.len();
                let mut types: Vec<DataType> =
                    planned[0].1.cols.iter().map(|c| c.ty.clone()).collect();
                for (q, (_, scope)) in queries.iter().zip(&planned).skip(1) {
                    if scope.cols.len() != width {
                        return Err(self.err(
                            q.pos,
                            format!(
                                "UNION ALL: this SELECT gives {} columns, the first gives {width}",
                                scope.cols.len()
                            ),
                        ));
                    }
                    for (i, c) in scope.cols.iter().enumerate() {
                        types[i] = common_type(&types[i], &c.ty).ok_or_else(|| {
                            self.err(
                                item_pos(q, i).unwrap_or(q.pos),
                                format!(
                                    "type mismatch: UNION ALL column {} is {} here and {} in the first SELECT",
                                    i + 1,
                                    c.ty,
                                    types[i]
                                ),
                            )
                        })?;
                    }
                }
                let mut out = planned[0].1.clone();
                for (c, t) in out.cols.iter_mut().zip(&types) {
                    c.ty = t.clone();
                    c.key = false;
                }
                let mut inputs = Vec::new();
                for (node, scope) in planned {
                    let casts: Vec<ScalarExpr> = scope
                        .cols
                        .iter()
                        .zip(&types)
                        .enumerate()
                        .map(|(i, (c, t))| coerce(ScalarExpr::Column(i), &c.ty, t))
                        .collect();
                    let node = if scope
                        .cols
                        .iter()
                        .zip(&types)
                        .any(|(c, t)| c.ty != *t && c.ty != DataType::Null)
                    {
                        self.add(
                            Node::Map {
                                input: node,
                                exprs: casts,
                            },
                            out.schema(),
                            label,
                        )
                    } else {
                        node
                    };
                    inputs.push(node);
                }
                let node = self.add(Node::Union { inputs }, out.schema(), label);
                Ok((node, out))
            }
        }
    }

    /// Whether a node's rows can be retracted (an aggregate's revisions, a changing dimension).
    fn may_retract(&self, node: NodeId) -> bool {
        match &self.nodes[node].node {
            Node::Source { .. } => false,
            Node::Filter { input, .. } | Node::Map { input, .. } => self.may_retract(*input),
            Node::Union { inputs } => inputs.iter().any(|i| self.may_retract(*i)),
            Node::Aggregate(_) | Node::Upsert { .. } => true,
            Node::LeftJoin(j) => self.may_retract(j.stream) || self.dimension_changes(j.dim),
        }
    }

    /// Whether a dimension node receives rows after the job starts.
    fn dimension_changes(&self, node: NodeId) -> bool {
        match &self.nodes[node].node {
            Node::Source { source } => {
                let s = &self.sources[*source];
                !s.dimension || !s.config.is_bounded()
            }
            Node::Upsert { input, .. } => self.dimension_changes(*input),
            _ => true,
        }
    }

    /// A dimension table's rows, read whole when the job starts (and, for a followed file, kept
    /// current), upserted by its key (`table.field.key` or PRIMARY KEY) when it has one. Planned
    /// once per table and shared by every join that reads it.
    fn dimension(&mut self, name: &ast::Ident) -> Result<(NodeId, Scope), Diagnostic> {
        let key = format!("dim:{}", name.name.to_ascii_lowercase());
        if let Some((node, scope)) = self.source_nodes.get(&key) {
            return Ok((*node, scope.clone()));
        }
        let desc = self.job.table(&name.name).ok_or_else(|| {
            // A WITH query is a stream of results, not a table read whole: say so rather than
            // calling a name the user has just defined unknown.
            let what = if self.withs.contains_key(&key[4..]) {
                "is a WITH query, not a dimension table: LEFT JOIN reads a file, mysql, postgres \
                 or redis table described in the job file"
            } else {
                "is not a table: describe the dimension table in the job file"
            };
            self.err(
                name.pos,
                format!("cannot LEFT JOIN `{}`: it {what}", name.name),
            )
        })?;
        let (mut config, schema) =
            catalog::source_config(desc).map_err(|(p, m)| self.job.error_at(p, m))?;
        match &mut config {
            catalog::SourceConfig::File { path, .. } => *path = self.job.dir.join(&*path),
            catalog::SourceConfig::Database { .. } | catalog::SourceConfig::Redis { .. } => {}
            _ => {
                return Err(self.err(
                    name.pos,
                    format!(
                        "`{}` cannot be a dimension: dimension tables are file, mysql, postgres \
                         or redis tables",
                        name.name
                    ),
                ))
            }
        }
        // `table.file.replay=true`: the file is a changelog of the dimension, read in batches in
        // step with the stream instead of whole when the job starts.
        let replay =
            catalog::parse_bool(desc, "file.replay").map_err(|(p, m)| self.job.error_at(p, m))?;
        self.sources.push(SourcePlan {
            table: desc.name.clone(),
            schema: schema.clone(),
            config,
            dimension: !replay,
        });
        let mut node = self.add(
            Node::Source {
                source: self.sources.len() - 1,
            },
            schema.clone(),
            &format!("dimension {}", desc.name),
        );
        let upsert_key = desc
            .get("field.key")
            .or_else(|| desc.get("primary.key"))
            .map(|s| {
                s.value
                    .split(',')
                    .map(|c| {
                        schema.index_of(c.trim()).ok_or_else(|| {
                            self.job.error_at(
                                s.pos,
                                format!(
                                    "key column `{}` is not a field of `{}`",
                                    c.trim(),
                                    desc.name
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<usize>, Diagnostic>>()
            })
            .transpose()?;
        if let Some(k) = upsert_key {
            node = self.add(
                Node::Upsert {
                    input: node,
                    key: k,
                },
                schema.clone(),
                &format!("dimension {}", desc.name),
            );
        }
        let scope = Scope::from_schema(&schema, &desc.name);
        self.source_nodes.insert(key, (node, scope.clone()));
        Ok((node, scope))
    }

    fn left_join(
        &mut self,
        left: &FromItem,
        right: &ast::Ident,
        alias: Option<&ast::Ident>,
        on: &Expr,
        label: &str,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let (stream, lscope) = self.from(left, label)?;
        let (dim, dscope) = self.dimension(right)?;
        let qualifier = alias.unwrap_or(right).name.clone();
        let dscope = dscope.requalify(&qualifier);
        let lw = lscope.cols.len();
        let mut joined = lscope.clone();
        joined.cols.extend(dscope.cols.iter().cloned());
        let mut conjuncts = Vec::new();
        split_and(on, &mut conjuncts);
        let binder = self.binder(&joined, None, "ON");
        let mut stream_key = Vec::new();
        let mut dim_key = Vec::new();
        let mut residual: Option<ScalarExpr> = None;
        let side = |e: &ScalarExpr| -> Option<bool> {
            let cols = e.columns();
            if cols.is_empty() {
                None
            } else if cols.iter().all(|c| *c < lw) {
                Some(true)
            } else if cols.iter().all(|c| *c >= lw) {
                Some(false)
            } else {
                None
            }
        };
        for c in conjuncts {
            if let Expr::BinaryOp {
                left: a,
                op: BinaryOperator::Eq,
                right: b,
            } = c
            {
                let (ea, ta) = binder.bind(a).map_err(|e| self.sql(e))?;
                let (eb, tb) = binder.bind(b).map_err(|e| self.sql(e))?;
                let pair = match (side(&ea), side(&eb)) {
                    (Some(true), Some(false)) => Some(((ea, ta), (eb, tb))),
                    (Some(false), Some(true)) => Some(((eb, tb), (ea, ta))),
                    _ => None,
                };
                if let Some(((se, st), (de, dt))) = pair {
                    let t = compare_type(&st, &dt)
                        .ok_or_else(|| self.sql(mismatch(pos_of(c), "compare", &st, &dt)))?;
                    stream_key.push(coerce(se, &st, &t));
                    dim_key.push(coerce(de, &dt, &t).shift_columns(lw));
                    continue;
                }
            }
            let (e, t) = binder.bind(c).map_err(|e| self.sql(e))?;
            binder
                .expect_bool(&t, pos_of(c), "ON")
                .map_err(|e| self.sql(e))?;
            residual = Some(match residual {
                None => e,
                Some(r) => ScalarExpr::And(Box::new(r), Box::new(e)),
            });
        }
        if stream_key.is_empty() {
            return Err(self.err(
                pos_of(on),
                format!(
                    "LEFT JOIN needs an equality between the stream and a column of `{qualifier}`"
                ),
            ));
        }
        let node = self.add(
            Node::LeftJoin(JoinPlan {
                stream,
                dim,
                stream_key,
                dim_key,
                residual,
                dim_width: dscope.cols.len(),
                retain: None,
            }),
            joined.schema(),
            label,
        );
        Ok((node, joined))
    }

    /// Plans a SELECT. With `hide_window`, a windowed aggregate whose output does not show
    /// AGGRTIME gets it as a hidden last column (not in the returned scope), so a sink can keep
    /// each group's newest window.
    fn select(
        &mut self,
        q: &Select,
        label: &str,
        emit: Emit,
        hide_window: bool,
    ) -> Result<(NodeId, Scope), Diagnostic> {
        let (mut input, scope) = self.from(&q.from, label)?;
        let join_node = matches!(q.from, FromItem::LeftJoin { .. }).then_some(input);
        let before_where = input;
        if let Some(w) = &q.selection {
            let (pred, t) = self
                .binder(&scope, None, "WHERE")
                .bind(w)
                .map_err(|e| self.sql(e))?;
            self.binder(&scope, None, "WHERE")
                .expect_bool(&t, pos_of(w), "WHERE")
                .map_err(|e| self.sql(e))?;
            input = self.add(
                Node::Filter {
                    input,
                    predicate: pred,
                },
                scope.schema(),
                label,
            );
        }
        let item_exprs = q.items.iter().filter_map(|i| match i {
            SelectItem::Expr { expr, .. } => Some(expr),
            SelectItem::Wildcard(_) => None,
        });
        let aggregated = q.group_by.is_some()
            || item_exprs.clone().any(contains_aggregate)
            || q.having.as_ref().is_some_and(contains_aggregate);
        let c = &q.coordinate;
        if let Some(aggr) = c.aggr {
            for (which, iv) in [("ACCU", c.accu), ("SW", c.sw)] {
                if let Some(iv) = iv.filter(|iv| iv.seconds % aggr.seconds != 0) {
                    return Err(self.err(
                        iv.pos,
                        format!(
                            "the {which} interval ({} s) must be a whole multiple of the AGGR interval ({} s)",
                            iv.seconds, aggr.seconds
                        ),
                    ));
                }
            }
        }
        if c.aggr.is_none() {
            if let Some(other) = c.accu.or(c.sw) {
                return Err(self.err(other.pos, "WITH ACCU / WITH SW need WITH AGGR INTERVAL"));
            }
            if let Some(by) = &c.by {
                return Err(self.err(
                    c.by_pos.unwrap_or_else(|| pos_of(by)),
                    "COORDINATE BY needs WITH AGGR INTERVAL n SECONDS",
                ));
            }
        }
        if !aggregated {
            if let Some(h) = &q.having {
                return Err(self.err(pos_of(h), "HAVING needs GROUP BY or an aggregate"));
            }
            if let Some(aggr) = c.aggr {
                return Err(self.err(
                    aggr.pos,
                    "WITH AGGR INTERVAL needs GROUP BY or an aggregate",
                ));
            }
            let (exprs, out) = self.project(q, &scope, None)?;
            let node = self.add(Node::Map { input, exprs }, out.schema(), label);
            return Ok((node, out));
        }

        // Group keys; `GROUP BY 1` (an integer literal) means one global group.
        let mut keys = Vec::new();
        let mut key_types = Vec::new();
        let mut key_names = Vec::new();
        for k in q.group_by.iter().flatten() {
            if matches!(k, Expr::Value(v) if matches!(v.value, SqlValue::Number(_, _))) {
                continue;
            }
            let (b, t) = self
                .binder(&scope, None, "GROUP BY")
                .bind(k)
                .map_err(|e| self.sql(e))?;
            key_names.push(match k {
                Expr::Identifier(i) => i.value.clone(),
                Expr::CompoundIdentifier(p) => {
                    p.last().map(|i| i.value.clone()).unwrap_or_default()
                }
                other => ast::display_expr(other),
            });
            keys.push(b);
            key_types.push(t);
        }
        let window = match c.aggr {
            None => None,
            Some(aggr) => {
                let time = match &c.by {
                    Some(by) => {
                        let (b, t) = self
                            .binder(&scope, None, "COORDINATE BY")
                            .bind(by)
                            .map_err(|e| self.sql(e))?;
                        if !(t.is_numeric() || t == DataType::String) {
                            return Err(self.err(
                                pos_of(by),
                                format!("type mismatch: COORDINATE BY needs epoch milliseconds (a number), found {t}"),
                            ));
                        }
                        coerce(b, &t, &DataType::Int)
                    }
                    None => ScalarExpr::Binary {
                        op: BinOp::Mul,
                        left: Box::new(ScalarExpr::Call {
                            func: Func::Now,
                            args: vec![],
                        }),
                        right: Box::new(ScalarExpr::lit(1000)),
                    },
                };
                Some(WindowPlan {
                    time,
                    size_ms: aggr.seconds * 1000,
                    accu_ms: c.accu.map(|i| i.seconds * 1000),
                    sw_ms: c.sw.map(|i| i.seconds * 1000),
                    lateness_ms: self.settings.lateness_ms,
                })
            }
        };
        let window_size = window.as_ref().map(|w| w.size_ms);
        // Stream rows of a join are kept until their window is final, when the window's time
        // can be read from the stream row alone.
        if let (Some(j), Some(w)) = (join_node, &window) {
            let stream_width = match &self.nodes[j].node {
                Node::LeftJoin(plan) => self.nodes[plan.stream].schema.len(),
                _ => 0,
            };
            if let Node::LeftJoin(plan) = &mut self.nodes[j].node {
                if w.time.columns().iter().all(|c| *c < stream_width) {
                    plan.retain = Some(Retention {
                        time: w.time.clone(),
                        size_ms: w.size_ms,
                        lateness_ms: w.lateness_ms,
                    });
                }
            }
        }
        let state = AggState {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            key_types: key_types.clone(),
            windowed: window.is_some(),
            accu: c.accu.is_some() && c.aggr.is_some(),
            sw: c.sw.is_some() && c.aggr.is_some(),
            calls: RefCell::new(Vec::new()),
            call_pos: RefCell::new(Vec::new()),
        };
        // Bind SELECT and HAVING over the aggregate's output; this collects the aggregates.
        let agg_scope = scope.clone();
        let (exprs, mut out) = self.project(q, &agg_scope, Some(&state))?;
        let having = match &q.having {
            None => None,
            Some(h) => {
                let b = self.binder(&agg_scope, Some(&state), "HAVING");
                let (pred, t) = b.bind(h).map_err(|e| self.sql(e))?;
                b.expect_bool(&t, pos_of(h), "HAVING")
                    .map_err(|e| self.sql(e))?;
                Some(pred)
            }
        };
        let call_pos = state.call_pos.borrow().clone();
        let calls: Vec<AggCall> = state
            .calls
            .borrow()
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        // Sketches cannot take a retraction: their input must only add rows.
        if let Some(i) = calls.iter().position(|c| c.func.append_only()) {
            if self.may_retract(input) {
                return Err(self.err(
                    call_pos[i],
                    format!(
                        "`{}` needs an input that only adds rows; this one revises rows (it reads \
                         an aggregate, or a dimension that changes): use countd",
                        calls[i].func.name()
                    ),
                ));
            }
        }
        let mut fields: Vec<Field> = key_names
            .iter()
            .zip(&key_types)
            .map(|(n, t)| Field {
                name: n.clone(),
                ty: t.clone(),
            })
            .collect();
        if window.is_some() {
            fields.push(Field {
                name: "AGGRTIME".into(),
                ty: DataType::Int,
            });
        }
        for (i, c) in calls.iter().enumerate() {
            fields.push(Field {
                name: format!("_agg{i}_{}", c.func.name()),
                ty: c.result_type.clone(),
            });
        }
        let nkeys = state.keys.len() + state.windowed as usize;
        let mut node = self.add(
            Node::Aggregate(AggregatePlan {
                input,
                watermark_from: (input != before_where && window.is_some()).then_some(before_where),
                keys,
                window,
                aggs: calls,
                emit,
            }),
            Schema::new(fields.clone()),
            label,
        );
        if let Some(pred) = having {
            node = self.add(
                Node::Filter {
                    input: node,
                    predicate: pred,
                },
                Schema::new(fields),
                label,
            );
        }
        // A column computed from group keys (or AGGRTIME) alone is part of the result key.
        let window_col = state.keys.len();
        let window_ms = window_size;
        for (col, e) in out.cols.iter_mut().zip(&exprs) {
            let cols = e.columns();
            col.key = !cols.is_empty() && cols.iter().all(|i| *i < nkeys);
            col.window_ms = window_ms.filter(|_| cols.contains(&window_col));
        }
        let mut schema = out.schema();
        let mut exprs = exprs;
        // A sink reads each row's window from a hidden last column.
        if hide_window && state.windowed {
            exprs.push(ScalarExpr::Column(window_col));
            schema.fields.push(Field {
                name: "AGGRTIME".into(),
                ty: DataType::Int,
            });
        }
        let node = self.add(Node::Map { input: node, exprs }, schema, label);
        Ok((node, out))
    }

    /// Binds the SELECT list; returns the expressions and the output columns.
    fn project(
        &self,
        q: &Select,
        scope: &Scope,
        agg: Option<&AggState>,
    ) -> Result<(Vec<ScalarExpr>, Scope), Diagnostic> {
        let binder = self.binder(scope, agg, "SELECT");
        let mut exprs = Vec::new();
        let mut out = Scope::default();
        for item in &q.items {
            match item {
                SelectItem::Wildcard(pos) => {
                    if agg.is_some() {
                        return Err(
                            self.err(*pos, "SELECT * cannot be used with GROUP BY or aggregates")
                        );
                    }
                    for (i, c) in scope.cols.iter().enumerate() {
                        exprs.push(ScalarExpr::Column(i));
                        out.cols.push(Column {
                            qualifier: None,
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                            key: false,
                            window_ms: None,
                        });
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let (b, t) = binder.bind(expr).map_err(|e| self.sql(e))?;
                    let name = match (alias, expr) {
                        (Some(a), _) => a.name.clone(),
                        (None, Expr::Identifier(i)) => i.value.clone(),
                        (None, Expr::CompoundIdentifier(p)) => {
                            p.last().map(|i| i.value.clone()).unwrap_or_default()
                        }
                        (None, other) => ast::display_expr(other),
                    };
                    exprs.push(b);
                    out.cols.push(Column {
                        qualifier: None,
                        name,
                        ty: if t == DataType::Null {
                            DataType::String
                        } else {
                            t
                        },
                        key: false,
                        window_ms: None,
                    });
                }
            }
        }
        Ok((exprs, out))
    }
}

/// The result key of a select: its group-key and AGGRTIME columns when it aggregates, the whole
/// row otherwise.
fn key_of(scope: &Scope, q: &Select) -> Option<Vec<usize>> {
    let aggregated = q.group_by.is_some()
        || q.items
            .iter()
            .any(|i| matches!(i, SelectItem::Expr { expr, .. } if contains_aggregate(expr)));
    if aggregated {
        Some(
            scope
                .cols
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key)
                .map(|(i, _)| i)
                .collect(),
        )
    } else {
        None
    }
}

fn item_pos(q: &Select, i: usize) -> Option<Pos> {
    match q.items.get(i)? {
        SelectItem::Expr { expr, .. } => Some(pos_of(expr)),
        SelectItem::Wildcard(p) => Some(*p),
    }
}
