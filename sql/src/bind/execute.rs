//! FOREACH and EXECUTE: local variables by slot, statements of an EXECUTE block.

use std::sync::Arc;

use sqlparser::ast::{BinaryOperator, Expr, Value as SqlValue};

use super::coerce::{coerce, implicit_cast};
use super::{function_name, pos_of, Binder, Bound};
use crate::ast;
use crate::error::{Pos, SqlError, SqlResult};
use crate::expr::{Program, ScalarExpr, Stmt};
use crate::types::DataType;

impl Binder<'_> {
    /// `__foreach(var, 'of' | 'in', over, body)`, as the parser rewrites FOREACH.
    pub(super) fn foreach(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
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
    pub(super) fn execute(&self, args: &[&Expr], pos: Pos) -> SqlResult<Bound> {
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
}
