//! A SELECT bound over the columns of its FROM, and a LEFT JOIN's ON bound over the joined
//! row: the input of lowering ([`crate::lower`] turns them into plan nodes), and what
//! `tally explain` prints as the bound query.
//!
//! Binding resolves every name to a column index (`#i`), checks types and makes every implicit
//! cast explicit; it decides nothing about nodes, operators or state.

use std::cell::RefCell;
use std::fmt;

use chrono::FixedOffset;
use sqlparser::ast::{BinaryOperator, Expr, Value as SqlValue};

use super::coerce::{coerce, compare_type, mismatch};
use super::{contains_aggregate, pos_of, split_and, AggState, Binder, Column, Scope};
use crate::ast::{self, Select, SelectItem, WindowMod};
use crate::error::{Pos, SqlError, SqlResult};
use crate::expr::{BinOp, Func, ScalarExpr};
use crate::plan::{AggCall, WindowPlan};
use crate::types::{DataType, Field, Schema};

/// What binding needs from the job: its time zone, lateness and EXECUTE limit, and whether
/// it is Flink SQL (a `.sql` job).
#[derive(Clone, Copy, Debug)]
pub struct Context {
    pub tz: FixedOffset,
    pub lateness_ms: u64,
    pub max_iterations: u64,
    pub flink: bool,
}

impl Context {
    fn binder<'s>(
        &self,
        scope: &'s Scope,
        agg: Option<&'s AggState>,
        clause: &'static str,
    ) -> Binder<'s> {
        let mut b = Binder::new(scope, agg, clause, self.tz, self.max_iterations);
        b.flink = self.flink;
        b
    }
}

/// A LEFT JOIN's ON clause: the equalities between a stream expression and a dimension
/// expression are the key; the rest is a residual predicate.
#[derive(Clone, Debug)]
pub struct BoundJoin {
    /// The statement (`INSERT INTO dest`, `WITH tmp`).
    pub label: String,
    /// The dimension as the query names it.
    pub dim: String,
    /// The joined row: the stream's columns, then the dimension's.
    pub columns: Scope,
    /// Over the stream row.
    pub stream_key: Vec<ScalarExpr>,
    /// Over the dimension row, pairwise equal to `stream_key` (cast to one type).
    pub dim_key: Vec<ScalarExpr>,
    /// Over the joined row.
    pub residual: Option<ScalarExpr>,
}

/// GROUP BY, the window and the aggregates of SELECT and HAVING.
#[derive(Clone, Debug)]
pub struct BoundGroup {
    /// Key expressions over the FROM's columns; `GROUP BY 1` has none.
    pub keys: Vec<ScalarExpr>,
    /// The aggregate's output: the keys, `AGGRTIME` when windowed, one column per aggregate.
    pub output: Schema,
    pub window: Option<WindowPlan>,
    /// Each distinct aggregate once, arguments over the FROM's columns. Their slots are
    /// numbered by lowering.
    pub aggs: Vec<AggCall>,
    /// Where each aggregate is first written.
    pub agg_pos: Vec<Pos>,
}

/// A SELECT with every name resolved and every cast explicit.
#[derive(Clone, Debug)]
pub struct BoundSelect {
    /// The statement (`INSERT INTO dest`, `WITH tmp`, `SELECT`).
    pub label: String,
    /// The FROM's columns, which `filter`, the group's keys, window and aggregate arguments
    /// read.
    pub from: Scope,
    pub filter: Option<ScalarExpr>,
    /// `None`: the SELECT maps each row of its FROM.
    pub group: Option<BoundGroup>,
    /// Over the group's output.
    pub having: Option<ScalarExpr>,
    /// The SELECT list, over the group's output when there is a group, else over the FROM.
    pub exprs: Vec<ScalarExpr>,
    /// The output columns, with whether each is part of the result key (computed from group
    /// keys or AGGRTIME alone) and computed from AGGRTIME.
    pub out: Scope,
}

/// What lowering read, statement by statement: each JOIN and SELECT in the order they were
/// bound (a FROM before the SELECT that reads it).
#[derive(Clone, Debug, Default)]
pub struct BoundQuery {
    pub parts: Vec<Bound>,
}

/// One bound part of a statement.
#[derive(Clone, Debug)]
pub enum Bound {
    Join(BoundJoin),
    Select(Box<BoundSelect>),
}

/// Binds a LEFT JOIN's ON over the joined row, whose first `stream_width` columns are the
/// stream's.
pub fn join_on(
    joined: &Scope,
    stream_width: usize,
    on: &Expr,
    dim: &str,
    cx: &Context,
) -> SqlResult<(Vec<ScalarExpr>, Vec<ScalarExpr>, Option<ScalarExpr>)> {
    let lw = stream_width;
    let mut conjuncts = Vec::new();
    split_and(on, &mut conjuncts);
    let binder = cx.binder(joined, None, "ON");
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
            let (ea, ta) = binder.bind(a)?;
            let (eb, tb) = binder.bind(b)?;
            let pair = match (side(&ea), side(&eb)) {
                (Some(true), Some(false)) => Some(((ea, ta), (eb, tb))),
                (Some(false), Some(true)) => Some(((eb, tb), (ea, ta))),
                _ => None,
            };
            if let Some(((se, st), (de, dt))) = pair {
                let t = compare_type(&st, &dt)
                    .ok_or_else(|| mismatch(pos_of(c), "compare", &st, &dt))?;
                stream_key.push(coerce(se, &st, &t));
                dim_key.push(coerce(de, &dt, &t).shift_columns(lw));
                continue;
            }
        }
        let (e, t) = binder.bind(c)?;
        binder.expect_bool(&t, pos_of(c), "ON")?;
        residual = Some(match residual {
            None => e,
            Some(r) => ScalarExpr::And(Box::new(r), Box::new(e)),
        });
    }
    if stream_key.is_empty() {
        let message = if dim == "JOIN" {
            "a join of two streams needs an equality between a column of each side (a join on \
             other conditions alone is not supported)"
                .to_string()
        } else {
            format!("LEFT JOIN needs an equality between the stream and a column of `{dim}`")
        };
        return Err(SqlError::new(pos_of(on), message));
    }
    Ok((stream_key, dim_key, residual))
}

/// Binds a SELECT over `from`, the columns of its FROM.
pub fn select(q: &Select, from: Scope, label: &str, cx: &Context) -> SqlResult<BoundSelect> {
    let filter = match &q.selection {
        None => None,
        Some(w) => {
            let binder = cx.binder(&from, None, "WHERE");
            let (pred, t) = binder.bind(w)?;
            binder.expect_bool(&t, pos_of(w), "WHERE")?;
            Some(pred)
        }
    };
    let item_exprs = q.items.iter().filter_map(|i| match i {
        SelectItem::Expr { expr, .. } => Some(expr),
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard { .. } => None,
    });
    let aggregated = q.group_by.is_some()
        || item_exprs.clone().any(contains_aggregate)
        || q.having.as_ref().is_some_and(contains_aggregate);
    let c = &q.coordinate;
    if let Some(aggr) = c.aggr {
        for (which, iv) in [("ACCU", c.accu), ("SW", c.sw)] {
            if let Some(iv) = iv.filter(|iv| iv.seconds % aggr.seconds != 0) {
                return Err(SqlError::new(
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
            return Err(SqlError::new(
                other.pos,
                "WITH ACCU / WITH SW need WITH AGGR INTERVAL",
            ));
        }
        if let Some(by) = &c.by {
            return Err(SqlError::new(
                c.by_pos.unwrap_or_else(|| pos_of(by)),
                "COORDINATE BY needs WITH AGGR INTERVAL n SECONDS",
            ));
        }
    }
    if !aggregated {
        if let Some(h) = &q.having {
            return Err(SqlError::new(
                pos_of(h),
                "HAVING needs GROUP BY or an aggregate",
            ));
        }
        if let Some(aggr) = c.aggr {
            return Err(SqlError::new(
                aggr.pos,
                "WITH AGGR INTERVAL needs GROUP BY or an aggregate",
            ));
        }
        let (exprs, out) = project(q, &from, None, cx)?;
        return Ok(BoundSelect {
            label: label.to_string(),
            from,
            filter,
            group: None,
            having: None,
            exprs,
            out,
        });
    }

    // Group keys; `GROUP BY 1` (an integer literal) means one global group.
    let mut keys = Vec::new();
    let mut key_types = Vec::new();
    let mut key_names = Vec::new();
    for k in q.group_by.iter().flatten() {
        if matches!(k, Expr::Value(v) if matches!(v.value, SqlValue::Number(_, _))) {
            continue;
        }
        let (b, t) = cx.binder(&from, None, "GROUP BY").bind(k)?;
        key_names.push(match k {
            Expr::Identifier(i) => i.value.clone(),
            Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.clone()).unwrap_or_default(),
            other => ast::display_expr(other),
        });
        keys.push(b);
        key_types.push(t);
    }
    // The WATERMARK delay of the time column, when it is a table's time attribute.
    let mut attribute_delay = None;
    let window = match c.aggr {
        None => None,
        Some(aggr) => {
            let time = match &c.by {
                Some(by) => {
                    let (b, t) = cx.binder(&from, None, "COORDINATE BY").bind(by)?;
                    if let ScalarExpr::Column(i) = b {
                        attribute_delay = from.cols[i].watermark_ms;
                    }
                    let temporal = matches!(b, ScalarExpr::Column(i) if from.cols[i].temporal);
                    if temporal {
                        // TIMESTAMP text, read in the job's time zone, as epoch ms.
                        ScalarExpr::Call {
                            func: Func::TimestampMillis { tz: cx.tz },
                            args: vec![b],
                        }
                    } else if t.is_numeric() {
                        coerce(b, &t, &DataType::Int)
                    } else {
                        let hint = if t == DataType::String {
                            ": write CAST(x AS BIGINT) for milliseconds held as text, or \
                             unix_timestamp(x, 'yyyy-MM-dd HH:mm:ss') * 1000 for a date's text"
                        } else {
                            ""
                        };
                        return Err(SqlError::new(
                            pos_of(by),
                            format!("type mismatch: COORDINATE BY needs epoch milliseconds (a number) or a TIMESTAMP column, found {t}{hint}"),
                        ));
                    }
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
                lateness_ms: c.lateness_ms.or(attribute_delay).unwrap_or(cx.lateness_ms),
            })
        }
    };
    let state = AggState {
        keys: keys.clone(),
        key_types: key_types.clone(),
        windowed: window.is_some(),
        accu: c.accu.is_some() && c.aggr.is_some(),
        sw: c.sw.is_some() && c.aggr.is_some(),
        calls: RefCell::new(Vec::new()),
        call_pos: RefCell::new(Vec::new()),
    };
    // Bind SELECT and HAVING over the aggregate's output; this collects the aggregates.
    let (exprs, mut out) = project(q, &from, Some(&state), cx)?;
    let having = match &q.having {
        None => None,
        Some(h) => {
            let b = cx.binder(&from, Some(&state), "HAVING");
            let (pred, t) = b.bind(h)?;
            b.expect_bool(&t, pos_of(h), "HAVING")?;
            Some(pred)
        }
    };
    let agg_pos = state.call_pos.borrow().clone();
    let aggs: Vec<AggCall> = state.calls.borrow().clone();
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
    for (i, c) in aggs.iter().enumerate() {
        fields.push(Field {
            name: format!("_agg{i}_{}", c.func.name()),
            ty: c.result_type.clone(),
        });
    }
    // A column computed from group keys (or AGGRTIME) alone is part of the result key.
    let nkeys = keys.len() + window.is_some() as usize;
    let window_col = keys.len();
    let window_ms = window.as_ref().map(|w| w.size_ms);
    for (col, e) in out.cols.iter_mut().zip(&exprs) {
        let cols = e.columns();
        col.key = !cols.is_empty() && cols.iter().all(|i| *i < nkeys);
        col.window_ms = window_ms.filter(|_| cols.contains(&window_col));
    }
    Ok(BoundSelect {
        label: label.to_string(),
        from,
        filter,
        group: Some(BoundGroup {
            keys,
            output: Schema::new(fields),
            window,
            aggs,
            agg_pos,
        }),
        having,
        exprs,
        out,
    })
}

/// Binds the SELECT list; returns the expressions and the output columns.
fn project(
    q: &Select,
    scope: &Scope,
    agg: Option<&AggState>,
    cx: &Context,
) -> SqlResult<(Vec<ScalarExpr>, Scope)> {
    let binder = cx.binder(scope, agg, "SELECT");
    let mut exprs = Vec::new();
    let mut out = Scope::default();
    for item in &q.items {
        match item {
            SelectItem::Wildcard(pos) | SelectItem::QualifiedWildcard { pos, .. } => {
                if agg.is_some() {
                    return Err(SqlError::new(
                        *pos,
                        "SELECT * cannot be used with GROUP BY or aggregates",
                    ));
                }
                let qualifier = match item {
                    SelectItem::QualifiedWildcard { qualifier, .. } => Some(qualifier),
                    _ => None,
                };
                if let Some(q) = qualifier {
                    let known = scope.cols.iter().any(|c| {
                        c.qualifier
                            .as_ref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(q))
                    });
                    if !known {
                        return Err(SqlError::new(
                            *pos,
                            format!("`{q}.*`: FROM has no table or alias `{q}`"),
                        ));
                    }
                }
                for (i, c) in scope.cols.iter().enumerate() {
                    if let Some(q) = qualifier {
                        if !c
                            .qualifier
                            .as_ref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(q))
                        {
                            continue;
                        }
                    }
                    exprs.push(ScalarExpr::Column(i));
                    out.cols.push(Column {
                        qualifier: None,
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        key: false,
                        window_ms: None,
                        temporal: c.temporal,
                        watermark_ms: c.watermark_ms,
                    });
                }
            }
            SelectItem::Expr { expr, alias } => {
                let (b, t) = binder.bind(expr)?;
                let name = match (alias, expr) {
                    (Some(a), _) => a.name.clone(),
                    (None, Expr::Identifier(i)) => i.value.clone(),
                    (None, Expr::CompoundIdentifier(p)) => {
                        p.last().map(|i| i.value.clone()).unwrap_or_default()
                    }
                    (None, other) => ast::display_expr(other),
                };
                // A TIMESTAMP column read as it is, or a window TVF's bound (TIMESTAMP text).
                let temporal = (agg.is_none()
                    && matches!(b, ScalarExpr::Column(i) if scope.cols[i].temporal))
                    || matches!(
                        b,
                        ScalarExpr::Call {
                            func: Func::TimestampText { .. },
                            ..
                        }
                    );
                let watermark_ms = match b {
                    ScalarExpr::Column(i) if agg.is_none() => scope.cols[i].watermark_ms,
                    _ => None,
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
                    temporal,
                    watermark_ms,
                });
            }
        }
    }
    Ok((exprs, out))
}

/// `#0 src.k STRING, #1 src.v BIGINT`: columns by index, with their qualifier and type.
fn columns(scope: &Scope) -> String {
    let cols: Vec<String> = scope
        .cols
        .iter()
        .enumerate()
        .map(|(i, c)| match &c.qualifier {
            Some(q) => format!("#{i} {q}.{} {}", c.name, c.ty),
            None => format!("#{i} {} {}", c.name, c.ty),
        })
        .collect();
    cols.join(", ")
}

fn list(exprs: &[ScalarExpr]) -> String {
    let items: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
    items.join(", ")
}

/// `count(#1 ACCU) BIGINT`: an aggregate as bound (lowering gives it its slot).
fn aggregate(c: &AggCall) -> String {
    let m = match c.window {
        WindowMod::Aggr => "",
        WindowMod::Accu => " ACCU",
        WindowMod::Sw => " SW",
    };
    let arg = c.arg.as_ref().map_or("*".to_string(), |a| a.to_string());
    format!("{}({arg}{m}) {}", c.func.name(), c.result_type)
}

impl fmt::Display for BoundJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] LEFT JOIN {}", self.label, self.dim)?;
        writeln!(f, "  columns: {}", columns(&self.columns))?;
        writeln!(
            f,
            "  key: stream [{}] = dimension [{}] (dimension columns from #0)",
            list(&self.stream_key),
            list(&self.dim_key)
        )?;
        if let Some(r) = &self.residual {
            writeln!(f, "  and: {r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for BoundSelect {
    /// The FROM's columns, then one line per clause: the group's output columns by index
    /// (keys, AGGRTIME, aggregates), then the SELECT's columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] SELECT", self.label)?;
        writeln!(f, "  from: {}", columns(&self.from))?;
        if let Some(w) = &self.filter {
            writeln!(f, "  where: {w}")?;
        }
        if let Some(g) = &self.group {
            let fields = &g.output.fields;
            for (i, k) in g.keys.iter().enumerate() {
                writeln!(
                    f,
                    "  group key #{i}: {} {} = {k}",
                    fields[i].name, fields[i].ty
                )?;
            }
            if let Some(w) = &g.window {
                write!(
                    f,
                    "  window #{} AGGRTIME: {} ms on {}",
                    g.keys.len(),
                    w.size_ms,
                    w.time
                )?;
                if let Some(a) = w.accu_ms {
                    write!(f, ", accu {a} ms")?;
                }
                if let Some(s) = w.sw_ms {
                    write!(f, ", sw {s} ms")?;
                }
                writeln!(f, ", lateness {} ms", w.lateness_ms)?;
            }
            let first = g.keys.len() + g.window.is_some() as usize;
            for (i, c) in g.aggs.iter().enumerate() {
                writeln!(f, "  aggregate #{}: {}", first + i, aggregate(c))?;
            }
        }
        if let Some(h) = &self.having {
            writeln!(f, "  having: {h}")?;
        }
        for (i, (c, e)) in self.out.cols.iter().zip(&self.exprs).enumerate() {
            write!(f, "  column {i}: {} {} = {e}", c.name, c.ty)?;
            match (c.key, c.window_ms.is_some()) {
                (true, true) => write!(f, " (key, window)")?,
                (true, false) => write!(f, " (key)")?,
                (false, true) => write!(f, " (window)")?,
                (false, false) => {}
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for BoundQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p {
                Bound::Join(j) => write!(f, "{j}")?,
                Bound::Select(s) => write!(f, "{s}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Statement;

    fn context() -> Context {
        Context {
            tz: FixedOffset::east_opt(0).unwrap(),
            lateness_ms: 5000,
            max_iterations: 10,
            flink: false,
        }
    }

    fn from() -> Scope {
        let field = |name: &str, ty| Field {
            name: name.into(),
            ty,
        };
        Scope::from_schema(
            &Schema::new(vec![
                field("k", DataType::String),
                field("v", DataType::String),
                field("t", DataType::Int),
            ]),
            "src",
        )
    }

    fn bind(sql: &str) -> SqlResult<BoundSelect> {
        let script = crate::parser::parse_script(sql).unwrap();
        let Statement::Select { query } = &script.statements[0] else {
            panic!("not a SELECT")
        };
        select(query, from(), "SELECT", &context())
    }

    /// Keys written again in SELECT read the key column; an aggregate written twice is bound
    /// once; the string argument of sum is cast; columns of keys and AGGRTIME are the key.
    #[test]
    fn a_grouped_select_binds_over_its_group() {
        let b = bind(
            "SELECT upper(k), AGGRTIME, sum(v), sum(v) + 1 FROM src WHERE t > 0 \
             GROUP BY upper(k) COORDINATE BY t WITH AGGR INTERVAL 60 SECONDS",
        )
        .unwrap();
        assert_eq!(
            b.to_string(),
            "[SELECT] SELECT\n\
             \x20 from: #0 src.k STRING, #1 src.v STRING, #2 src.t BIGINT\n\
             \x20 where: (#2 > 0)\n\
             \x20 group key #0: upper(k) STRING = upper(#0)\n\
             \x20 window #1 AGGRTIME: 60000 ms on #2, lateness 5000 ms\n\
             \x20 aggregate #2: sum(CAST(#1 AS DOUBLE)) DOUBLE\n\
             \x20 column 0: upper(k) STRING = #0 (key)\n\
             \x20 column 1: AGGRTIME BIGINT = #1 (key, window)\n\
             \x20 column 2: sum(v) DOUBLE = #2\n\
             \x20 column 3: sum(v) + 1 DOUBLE = (#2 + 1.0)\n"
        );
        let g = b.group.unwrap();
        assert_eq!(g.aggs.len(), 1);
        assert_eq!(g.output.names(), ["upper(k)", "AGGRTIME", "_agg0_sum"]);
    }

    #[test]
    fn clause_errors() {
        let e = bind("SELECT k FROM src HAVING k = 'a'").unwrap_err();
        assert_eq!(e.message, "HAVING needs GROUP BY or an aggregate");
        let e = bind(
            "SELECT k, count(1) FROM src GROUP BY k WITH AGGR INTERVAL 60 SECONDS \
                      WITH ACCU INTERVAL 90 SECONDS",
        )
        .unwrap_err();
        assert!(e.message.contains("whole multiple"), "{e:?}");
        let e = bind("SELECT v, count(1) FROM src GROUP BY k").unwrap_err();
        assert!(e.message.contains("must appear in GROUP BY"), "{e:?}");
    }
}
