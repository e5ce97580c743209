//! Bound scalar expressions and their evaluation.
//!
//! The binder ([`crate::bind`]) resolves names to column indexes, checks types and inserts
//! the implicit casts Hive would apply, so evaluation here never guesses: operands of a binary
//! operator already share one type. Evaluation never fails: a value that cannot be computed
//! (division by zero, a bad cast, an unparseable date) is NULL, as in Hive.

pub mod collections;
pub mod date;
mod eq;
pub mod functions;
pub mod hive;

use std::fmt;
use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use functions::Func;

use crate::types::{DataType, Value};

/// Binary operators whose operands have been cast to one common type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Integer division (`DIV`), truncating toward zero.
    IntDiv,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::IntDiv => "DIV",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::NotEq => "!=",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }
}

/// A LIKE pattern compiled to an anchored regular expression.
#[derive(Clone, Debug)]
pub struct LikePattern(pub Arc<Regex>);

impl LikePattern {
    /// Compiles a SQL LIKE pattern (`%` any run, `_` one character, `\` escapes).
    pub fn new(pattern: &str) -> LikePattern {
        let mut re = String::from("(?s)^");
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => re.push_str(".*"),
                '_' => re.push('.'),
                '\\' => match chars.next() {
                    Some(n) => re.push_str(&regex::escape(&n.to_string())),
                    None => re.push_str(&regex::escape("\\")),
                },
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        LikePattern(Arc::new(
            Regex::new(&re).expect("escaped LIKE pattern is a valid regex"),
        ))
    }

    pub fn matches(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

/// A scalar expression over the columns of one input row. Equality and hashing are
/// structural (see `eq.rs`): literals by type and bits, patterns by their text.
#[derive(Clone, Debug)]
pub enum ScalarExpr {
    Column(usize),
    Literal(Value),
    Binary {
        op: BinOp,
        left: Box<ScalarExpr>,
        right: Box<ScalarExpr>,
    },
    Neg(Box<ScalarExpr>),
    Not(Box<ScalarExpr>),
    /// Three-valued AND.
    And(Box<ScalarExpr>, Box<ScalarExpr>),
    /// Three-valued OR.
    Or(Box<ScalarExpr>, Box<ScalarExpr>),
    IsNull {
        expr: Box<ScalarExpr>,
        negated: bool,
    },
    Cast {
        expr: Box<ScalarExpr>,
        to: DataType,
    },
    /// `CASE WHEN c THEN v ... ELSE e END`; a simple CASE is bound to this form.
    Case {
        whens: Vec<(ScalarExpr, ScalarExpr)>,
        otherwise: Box<ScalarExpr>,
    },
    InList {
        expr: Box<ScalarExpr>,
        list: Vec<ScalarExpr>,
        negated: bool,
    },
    Like {
        expr: Box<ScalarExpr>,
        /// Compiled once when the pattern is a literal.
        compiled: Option<LikePattern>,
        pattern: Box<ScalarExpr>,
        negated: bool,
    },
    Call {
        func: Func,
        args: Vec<ScalarExpr>,
    },
    /// A local variable of FOREACH or EXECUTE, by slot.
    Local(usize),
    /// `FOREACH(var OF|IN over GENERATE body)`: `body` evaluated with the variable in `slot`
    /// set to each index (OF; for a map, each key) or element (IN; for a map, each value).
    Foreach {
        slot: usize,
        indexes: bool,
        over: Box<ScalarExpr>,
        body: Box<ScalarExpr>,
    },
    /// `EXECUTE(DEFINE ... { ... } EMIT ...)`.
    Execute(Arc<Program>),
}

/// The body of an EXECUTE: locals set to their defaults, statements run, a value emitted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    pub defines: Vec<(usize, ScalarExpr)>,
    pub block: Vec<Stmt>,
    pub emit: ScalarExpr,
    /// FOR iterations allowed per evaluation; past it the row fails (see [`EvalError`]).
    pub max_iterations: u64,
}

/// A statement of an EXECUTE block.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `$v := expr` (the value already cast to the variable's type).
    Set(usize, ScalarExpr),
    /// `IF(cond, statements...)`.
    If(ScalarExpr, Vec<Stmt>),
    /// `FOR(cond, statements...)`: runs while `cond` is true.
    For(ScalarExpr, Vec<Stmt>),
}

/// Why a row could not be evaluated: only an EXECUTE loop past its iteration limit. The row is
/// skipped and counted; the job goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What evaluation carries besides the row: local variables and the first error.
#[derive(Default)]
pub struct Env {
    locals: Vec<Value>,
    error: Option<EvalError>,
}

impl Env {
    fn set(&mut self, slot: usize, v: Value) {
        if self.locals.len() <= slot {
            self.locals.resize(slot + 1, Value::Null);
        }
        self.locals[slot] = v;
    }
}

impl Program {
    fn run(&self, row: &[Value], env: &mut Env) -> Value {
        for (slot, init) in &self.defines {
            let v = init.ev(row, env);
            env.set(*slot, v);
        }
        let mut iterations = 0u64;
        self.block(&self.block, row, env, &mut iterations);
        if env.error.is_some() {
            return Value::Null;
        }
        self.emit.ev(row, env)
    }

    fn block(&self, stmts: &[Stmt], row: &[Value], env: &mut Env, iterations: &mut u64) {
        for s in stmts {
            if env.error.is_some() {
                return;
            }
            match s {
                Stmt::Set(slot, e) => {
                    let v = e.ev(row, env);
                    env.set(*slot, v);
                }
                Stmt::If(cond, body) => {
                    if cond.ev(row, env).is_true() {
                        self.block(body, row, env, iterations);
                    }
                }
                Stmt::For(cond, body) => {
                    while env.error.is_none() && cond.ev(row, env).is_true() {
                        *iterations += 1;
                        if *iterations > self.max_iterations {
                            env.error = Some(EvalError(format!(
                                "EXECUTE stopped after {} loop iterations (FOR({cond}) did not \
                                 end; the limit is `execute.max.iterations`)",
                                self.max_iterations
                            )));
                            return;
                        }
                        self.block(body, row, env, iterations);
                    }
                }
            }
        }
    }
}

impl ScalarExpr {
    pub fn lit(v: impl Into<Value>) -> ScalarExpr {
        ScalarExpr::Literal(v.into())
    }

    pub fn cast(self, to: DataType) -> ScalarExpr {
        ScalarExpr::Cast {
            expr: Box::new(self),
            to,
        }
    }

    /// Evaluates the expression on one row. An expression that [can fail](Self::can_fail) is
    /// NULL where it failed; use [`Self::try_eval`] for it.
    pub fn eval(&self, row: &[Value]) -> Value {
        match self {
            // The common leaves need no environment.
            ScalarExpr::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            ScalarExpr::Literal(v) => v.clone(),
            _ => self.ev(row, &mut Env::default()),
        }
    }

    /// Evaluates the expression on one row, or says why the row cannot be evaluated.
    pub fn try_eval(&self, row: &[Value]) -> Result<Value, EvalError> {
        let mut env = Env::default();
        let v = self.ev(row, &mut env);
        match env.error {
            Some(e) => Err(e),
            None => Ok(v),
        }
    }

    /// Whether evaluation can fail (the expression has an EXECUTE, whose loops are limited).
    pub fn can_fail(&self) -> bool {
        if matches!(self, ScalarExpr::Execute(_)) {
            return true;
        }
        let mut found = false;
        self.visit_children(&mut |c| found |= c.can_fail());
        found
    }

    fn ev(&self, row: &[Value], env: &mut Env) -> Value {
        match self {
            ScalarExpr::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            ScalarExpr::Literal(v) => v.clone(),
            ScalarExpr::Binary { op, left, right } => {
                binary(*op, &left.ev(row, env), &right.ev(row, env))
            }
            ScalarExpr::Neg(e) => match e.ev(row, env) {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Double(d) => Value::Double(-d),
                Value::Decimal(d) => Value::Decimal(-d),
                _ => Value::Null,
            },
            ScalarExpr::Not(e) => match e.ev(row, env) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            ScalarExpr::And(a, b) => match a.ev(row, env) {
                Value::Bool(false) => Value::Bool(false),
                av => match (av, b.ev(row, env)) {
                    (_, Value::Bool(false)) => Value::Bool(false),
                    (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                    _ => Value::Null,
                },
            },
            ScalarExpr::Or(a, b) => match a.ev(row, env) {
                Value::Bool(true) => Value::Bool(true),
                av => match (av, b.ev(row, env)) {
                    (_, Value::Bool(true)) => Value::Bool(true),
                    (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                    _ => Value::Null,
                },
            },
            ScalarExpr::IsNull { expr, negated } => {
                Value::Bool(expr.ev(row, env).is_null() != *negated)
            }
            ScalarExpr::Cast { expr, to } => expr.ev(row, env).cast(to),
            ScalarExpr::Case { whens, otherwise } => {
                for (cond, value) in whens {
                    if cond.ev(row, env).is_true() {
                        return value.ev(row, env);
                    }
                }
                otherwise.ev(row, env)
            }
            ScalarExpr::InList {
                expr,
                list,
                negated,
            } => {
                let v = expr.ev(row, env);
                if v.is_null() {
                    return Value::Null;
                }
                let mut saw_null = false;
                for item in list {
                    let w = item.ev(row, env);
                    if w.is_null() {
                        saw_null = true;
                    } else if w == v {
                        return Value::Bool(!negated);
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            ScalarExpr::Like {
                expr,
                compiled,
                pattern,
                negated,
            } => {
                let Value::Str(s) = expr.ev(row, env) else {
                    return Value::Null;
                };
                let matched = match compiled {
                    Some(p) => p.matches(&s),
                    None => match pattern.ev(row, env) {
                        Value::Str(p) => LikePattern::new(&p).matches(&s),
                        _ => return Value::Null,
                    },
                };
                Value::Bool(matched != *negated)
            }
            ScalarExpr::Call { func, args } => {
                let vals: Vec<Value> = args.iter().map(|a| a.ev(row, env)).collect();
                func.eval(&vals)
            }
            ScalarExpr::Local(slot) => env.locals.get(*slot).cloned().unwrap_or_default(),
            ScalarExpr::Foreach {
                slot,
                indexes,
                over,
                body,
            } => {
                let items: Vec<Value> = match (over.ev(row, env), indexes) {
                    (Value::Array(a), true) => (0..a.len() as i64).map(Value::Int).collect(),
                    (Value::Array(a), false) => a.to_vec(),
                    (Value::Map(m), true) => m.iter().map(|(k, _)| k.clone()).collect(),
                    (Value::Map(m), false) => m.iter().map(|(_, v)| v.clone()).collect(),
                    _ => return Value::Null,
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    env.set(*slot, item);
                    out.push(body.ev(row, env));
                    if env.error.is_some() {
                        return Value::Null;
                    }
                }
                Value::array(out)
            }
            ScalarExpr::Execute(program) => program.run(row, env),
        }
    }

    /// The same expression reading column `i - by` where it read column `i`.
    pub fn shift_columns(mut self, by: usize) -> ScalarExpr {
        self.shift_in_place(by);
        self
    }

    fn shift_in_place(&mut self, by: usize) {
        match self {
            ScalarExpr::Column(i) => *i -= by,
            ScalarExpr::Literal(_) => {}
            ScalarExpr::Binary { left, right, .. } => {
                left.shift_in_place(by);
                right.shift_in_place(by);
            }
            ScalarExpr::Neg(e) | ScalarExpr::Not(e) => e.shift_in_place(by),
            ScalarExpr::And(a, b) | ScalarExpr::Or(a, b) => {
                a.shift_in_place(by);
                b.shift_in_place(by);
            }
            ScalarExpr::IsNull { expr, .. } | ScalarExpr::Cast { expr, .. } => {
                expr.shift_in_place(by)
            }
            ScalarExpr::Case { whens, otherwise } => {
                for (c, v) in whens {
                    c.shift_in_place(by);
                    v.shift_in_place(by);
                }
                otherwise.shift_in_place(by);
            }
            ScalarExpr::InList { expr, list, .. } => {
                expr.shift_in_place(by);
                list.iter_mut().for_each(|e| e.shift_in_place(by));
            }
            ScalarExpr::Like { expr, pattern, .. } => {
                expr.shift_in_place(by);
                pattern.shift_in_place(by);
            }
            ScalarExpr::Call { args, .. } => args.iter_mut().for_each(|e| e.shift_in_place(by)),
            ScalarExpr::Local(_) => {}
            ScalarExpr::Foreach { over, body, .. } => {
                over.shift_in_place(by);
                body.shift_in_place(by);
            }
            ScalarExpr::Execute(program) => {
                let p = Arc::make_mut(program);
                p.defines.iter_mut().for_each(|(_, e)| e.shift_in_place(by));
                shift_block(&mut p.block, by);
                p.emit.shift_in_place(by);
            }
        }
    }

    /// The columns the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns(&self, out: &mut Vec<usize>) {
        if let ScalarExpr::Column(i) = self {
            out.push(*i);
        }
        self.visit_children(&mut |c| c.collect_columns(out));
    }

    fn visit_children(&self, f: &mut dyn FnMut(&ScalarExpr)) {
        match self {
            ScalarExpr::Column(_) | ScalarExpr::Literal(_) => {}
            ScalarExpr::Binary { left, right, .. } => {
                f(left);
                f(right)
            }
            ScalarExpr::Neg(e) | ScalarExpr::Not(e) => f(e),
            ScalarExpr::And(a, b) | ScalarExpr::Or(a, b) => {
                f(a);
                f(b)
            }
            ScalarExpr::IsNull { expr, .. } | ScalarExpr::Cast { expr, .. } => f(expr),
            ScalarExpr::Case { whens, otherwise } => {
                for (c, v) in whens {
                    f(c);
                    f(v);
                }
                f(otherwise)
            }
            ScalarExpr::InList { expr, list, .. } => {
                f(expr);
                list.iter().for_each(f)
            }
            ScalarExpr::Like { expr, pattern, .. } => {
                f(expr);
                f(pattern)
            }
            ScalarExpr::Call { args, .. } => args.iter().for_each(f),
            ScalarExpr::Local(_) => {}
            ScalarExpr::Foreach { over, body, .. } => {
                f(over);
                f(body)
            }
            ScalarExpr::Execute(program) => {
                program.defines.iter().for_each(|(_, e)| f(e));
                visit_block(&program.block, f);
                f(&program.emit)
            }
        }
    }
}

fn shift_block(block: &mut [Stmt], by: usize) {
    for s in block {
        match s {
            Stmt::Set(_, e) => e.shift_in_place(by),
            Stmt::If(c, b) | Stmt::For(c, b) => {
                c.shift_in_place(by);
                shift_block(b, by);
            }
        }
    }
}

fn visit_block(block: &[Stmt], f: &mut dyn FnMut(&ScalarExpr)) {
    for s in block {
        match s {
            Stmt::Set(_, e) => f(e),
            Stmt::If(c, b) | Stmt::For(c, b) => {
                f(c);
                visit_block(b, f);
            }
        }
    }
}

fn fmt_block(block: &[Stmt], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, s) in block.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match s {
            Stmt::Set(slot, e) => write!(f, "$%{slot} := {e}")?,
            Stmt::If(c, b) | Stmt::For(c, b) => {
                let word = if matches!(s, Stmt::If(..)) {
                    "IF"
                } else {
                    "FOR"
                };
                write!(f, "{word}({c}, ")?;
                fmt_block(b, f)?;
                f.write_str(")")?;
            }
        }
    }
    Ok(())
}

fn decimal_result(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, Value::Decimal)
}

/// Applies a binary operator to two values of one type (NULL in, NULL out).
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    if a.is_null() || b.is_null() {
        return Value::Null;
    }
    if op.is_comparison() {
        let ord = a.cmp(b);
        return Value::Bool(match op {
            BinOp::Eq => ord.is_eq(),
            BinOp::NotEq => ord.is_ne(),
            BinOp::Lt => ord.is_lt(),
            BinOp::LtEq => ord.is_le(),
            BinOp::Gt => ord.is_gt(),
            _ => ord.is_ge(),
        });
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinOp::Add => Value::Int(x.wrapping_add(y)),
                BinOp::Sub => Value::Int(x.wrapping_sub(y)),
                BinOp::Mul => Value::Int(x.wrapping_mul(y)),
                BinOp::Div if y == 0 => Value::Null,
                BinOp::Div => Value::Double(x as f64 / y as f64),
                BinOp::IntDiv | BinOp::Mod if y == 0 => Value::Null,
                BinOp::IntDiv => Value::Int(x.wrapping_div(y)),
                BinOp::Mod => Value::Int(x.wrapping_rem(y)),
                _ => Value::Null,
            }
        }
        (Value::Double(x), Value::Double(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinOp::Add => Value::Double(x + y),
                BinOp::Sub => Value::Double(x - y),
                BinOp::Mul => Value::Double(x * y),
                BinOp::Div | BinOp::Mod | BinOp::IntDiv if y == 0.0 => Value::Null,
                BinOp::Div => Value::Double(x / y),
                BinOp::Mod => Value::Double(x % y),
                BinOp::IntDiv => Value::Int((x / y).trunc() as i64),
                _ => Value::Null,
            }
        }
        (Value::Decimal(x), Value::Decimal(y)) => match op {
            BinOp::Add => decimal_result(x.checked_add(*y)),
            BinOp::Sub => decimal_result(x.checked_sub(*y)),
            BinOp::Mul => decimal_result(x.checked_mul(*y)),
            BinOp::Div => decimal_result(x.checked_div(*y)),
            BinOp::Mod => decimal_result(x.checked_rem(*y)),
            BinOp::IntDiv => x
                .checked_div(*y)
                .and_then(|q| q.trunc().to_string().parse::<i64>().ok())
                .map_or(Value::Null, Value::Int),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Column(i) => write!(f, "#{i}"),
            ScalarExpr::Literal(Value::Str(s)) => write!(f, "'{s}'"),
            ScalarExpr::Literal(v) => write!(f, "{v}"),
            ScalarExpr::Binary { op, left, right } => {
                write!(f, "({left} {} {right})", op.symbol())
            }
            ScalarExpr::Neg(e) => write!(f, "-{e}"),
            ScalarExpr::Not(e) => write!(f, "NOT {e}"),
            ScalarExpr::And(a, b) => write!(f, "({a} AND {b})"),
            ScalarExpr::Or(a, b) => write!(f, "({a} OR {b})"),
            ScalarExpr::IsNull { expr, negated } => {
                write!(f, "{expr} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            ScalarExpr::Cast { expr, to } => write!(f, "CAST({expr} AS {to})"),
            ScalarExpr::Case { whens, otherwise } => {
                f.write_str("CASE")?;
                for (c, v) in whens {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                write!(f, " ELSE {otherwise} END")
            }
            ScalarExpr::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "{expr} {}IN (", if *negated { "NOT " } else { "" })?;
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            ScalarExpr::Like {
                expr,
                pattern,
                negated,
                ..
            } => write!(
                f,
                "{expr} {}LIKE {pattern}",
                if *negated { "NOT " } else { "" }
            ),
            ScalarExpr::Call { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, e) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            ScalarExpr::Local(slot) => write!(f, "$%{slot}"),
            ScalarExpr::Foreach {
                slot,
                indexes,
                over,
                body,
            } => write!(
                f,
                "FOREACH($%{slot} {} {over} GENERATE {body})",
                if *indexes { "OF" } else { "IN" }
            ),
            ScalarExpr::Execute(p) => {
                f.write_str("EXECUTE(")?;
                for (slot, e) in &p.defines {
                    write!(f, "$%{slot} := {e}, ")?;
                }
                f.write_str("{ ")?;
                fmt_block(&p.block, f)?;
                write!(f, " }} EMIT {})", p.emit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(i: usize) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Column(i))
    }

    #[test]
    fn arithmetic_and_nulls() {
        assert_eq!(
            binary(BinOp::Add, &Value::Int(2), &Value::Int(3)),
            Value::Int(5)
        );
        assert_eq!(
            binary(BinOp::Div, &Value::Int(7), &Value::Int(2)),
            Value::Double(3.5)
        );
        assert_eq!(
            binary(BinOp::Div, &Value::Int(7), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            binary(BinOp::IntDiv, &Value::Int(7), &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            binary(BinOp::IntDiv, &Value::Int(-7), &Value::Int(2)),
            Value::Int(-3)
        );
        assert_eq!(
            binary(BinOp::IntDiv, &Value::Int(7), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            binary(BinOp::Mod, &Value::Int(-7), &Value::Int(3)),
            Value::Int(-1)
        );
        assert_eq!(
            binary(BinOp::Mod, &Value::Int(7), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            binary(BinOp::Mod, &Value::Double(7.5), &Value::Double(2.0)),
            Value::Double(1.5)
        );
        assert_eq!(
            binary(BinOp::Add, &Value::Null, &Value::Int(3)),
            Value::Null
        );
        assert_eq!(binary(BinOp::Eq, &Value::Null, &Value::Null), Value::Null);
        assert_eq!(
            binary(BinOp::Lt, &Value::str("a"), &Value::str("b")),
            Value::Bool(true)
        );
        let d = |s: &str| Value::Decimal(s.parse().unwrap());
        assert_eq!(binary(BinOp::Add, &d("0.1"), &d("0.2")), d("0.3"));
        assert_eq!(binary(BinOp::Div, &d("1"), &d("0")), Value::Null);
    }

    #[test]
    fn three_valued_logic() {
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        let n = Value::Null;
        let and = ScalarExpr::And(col(0), col(1));
        let or = ScalarExpr::Or(col(0), col(1));
        assert_eq!(and.eval(&[n.clone(), f.clone()]), f);
        assert_eq!(and.eval(&[n.clone(), t.clone()]), n);
        assert_eq!(or.eval(&[n.clone(), t.clone()]), t);
        assert_eq!(or.eval(&[n.clone(), f.clone()]), n);
        assert_eq!(ScalarExpr::Not(col(0)).eval(std::slice::from_ref(&n)), n);
    }

    #[test]
    fn in_list_and_like() {
        let e = ScalarExpr::InList {
            expr: col(0),
            list: vec![ScalarExpr::lit(1), ScalarExpr::Literal(Value::Null)],
            negated: false,
        };
        assert_eq!(e.eval(&[Value::Int(1)]), Value::Bool(true));
        assert_eq!(e.eval(&[Value::Int(2)]), Value::Null);
        assert_eq!(e.eval(&[Value::Null]), Value::Null);
        let p = LikePattern::new("a%b_c.");
        assert!(p.matches("axxbyc."));
        assert!(!p.matches("axxbyc!"));
        assert!(LikePattern::new("100\\%").matches("100%"));
        assert!(!LikePattern::new("100\\%").matches("1000"));
    }

    #[test]
    fn case_picks_first_true() {
        let e = ScalarExpr::Case {
            whens: vec![
                (ScalarExpr::Literal(Value::Null), ScalarExpr::lit(1)),
                (ScalarExpr::lit(true), ScalarExpr::lit(2)),
            ],
            otherwise: Box::new(ScalarExpr::lit(3)),
        };
        assert_eq!(e.eval(&[]), Value::Int(2));
    }

    /// `EXECUTE(DEFINE i, j, n DEFAULT 0 { FOR($i < col0, $j := 0, FOR($j < col1, $j :=
    /// $j + step, $n := $n + 1), $i := $i + 1) } EMIT $n)` with a limit of 10 iterations: the
    /// limit counts every FOR iteration of one evaluation, inner loops included.
    fn nested_loops(step: i64) -> ScalarExpr {
        let local = |s| Box::new(ScalarExpr::Local(s));
        let add = |s, n: i64| ScalarExpr::Binary {
            op: BinOp::Add,
            left: local(s),
            right: Box::new(ScalarExpr::lit(n)),
        };
        let lt = |s, c| ScalarExpr::Binary {
            op: BinOp::Lt,
            left: local(s),
            right: col(c),
        };
        ScalarExpr::Execute(Arc::new(Program {
            defines: vec![
                (0, ScalarExpr::lit(0)),
                (1, ScalarExpr::lit(0)),
                (2, ScalarExpr::lit(0)),
            ],
            block: vec![Stmt::For(
                lt(0, 0),
                vec![
                    Stmt::Set(1, ScalarExpr::lit(0)),
                    Stmt::For(
                        lt(1, 1),
                        vec![Stmt::Set(1, add(1, step)), Stmt::Set(2, add(2, 1))],
                    ),
                    Stmt::Set(0, add(0, 1)),
                ],
            )],
            emit: ScalarExpr::Local(2),
            max_iterations: 10,
        }))
    }

    #[test]
    fn execute_loops_stop_at_the_iteration_limit() {
        let e = nested_loops(1);
        let row = |a: i64, b: i64| [Value::Int(a), Value::Int(b)];
        // 2 outer + 2 * 3 inner = 8 iterations: under the limit.
        assert_eq!(e.try_eval(&row(2, 3)).unwrap(), Value::Int(6));
        // 2 outer + 2 * 4 inner = 10: exactly the limit, still fine.
        assert_eq!(e.try_eval(&row(2, 4)).unwrap(), Value::Int(8));
        // 3 outer + 3 * 3 inner = 12: the inner loops count toward the limit too.
        let err = e.try_eval(&row(3, 3)).unwrap_err();
        assert!(
            err.0.contains("EXECUTE stopped after 10 loop iterations")
                && err.0.contains("`execute.max.iterations`"),
            "{err}"
        );
        // Each evaluation starts counting again.
        assert_eq!(e.try_eval(&row(2, 3)).unwrap(), Value::Int(6));
        // A loop that never advances (step 0) stops instead of hanging.
        let stuck = nested_loops(0);
        assert!(stuck.try_eval(&row(1, 1)).is_err());
        assert_eq!(stuck.try_eval(&row(1, 0)).unwrap(), Value::Int(0));
        // The failure reaches the top of an expression that holds the EXECUTE, which is why a
        // caller must know the expression can fail; unchecked evaluation gives NULL.
        let outer = ScalarExpr::Binary {
            op: BinOp::Add,
            left: Box::new(stuck),
            right: Box::new(ScalarExpr::lit(1)),
        };
        assert!(outer.can_fail());
        assert!(!ScalarExpr::Binary {
            op: BinOp::Add,
            left: col(0),
            right: col(1),
        }
        .can_fail());
        assert!(outer.try_eval(&row(1, 1)).is_err());
        assert_eq!(outer.eval(&row(1, 1)), Value::Null);
    }
}
