//! The EC-SQL syntax tree: statements and clauses are tally's own; expressions are sqlparser's
//! [`Expr`], with EC-SQL's `agg(x ACCU)` / `agg(x SW)` modifiers encoded in the function name
//! (see [`WindowMod`]).

use sqlparser::ast::Expr;

use crate::error::Pos;

/// A name with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

/// A whole script: statements in order.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug)]
pub enum Statement {
    /// `WITH (select) alias` or `WITH alias AS (select)`: a named intermediate result.
    With { name: Ident, query: Select },
    /// `INSERT INTO table [WITH col AS KEY] select`.
    Insert {
        table: Ident,
        key: Option<Ident>,
        query: Select,
    },
    /// A bare `SELECT`: its result goes to standard output.
    Select { query: Select },
}

#[derive(Clone, Debug)]
pub struct Select {
    pub pos: Pos,
    pub items: Vec<SelectItem>,
    pub from: FromItem,
    pub selection: Option<Expr>,
    /// `GROUP BY` expressions; `GROUP BY 1` is kept as the literal and means one global group.
    pub group_by: Option<Vec<Expr>>,
    pub coordinate: Coordinate,
    pub having: Option<Expr>,
}

/// Nearly every item is an expression, so the size difference to `Wildcard` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SelectItem {
    Expr {
        expr: Expr,
        alias: Option<Ident>,
    },
    /// `*`: every column of the FROM source.
    Wildcard(Pos),
}

#[derive(Clone, Debug)]
pub enum FromItem {
    /// A table or a WITH alias.
    Table { name: Ident, alias: Option<Ident> },
    /// `(select) alias`.
    Subquery { query: Box<Select>, alias: Ident },
    /// `__innertable(ms)`: one empty row every `ms` milliseconds.
    InnerTable { interval_ms: u64, pos: Pos },
    /// `source LEFT JOIN table [alias] ON expr`.
    LeftJoin {
        left: Box<FromItem>,
        right: Ident,
        alias: Option<Ident>,
        on: Box<Expr>,
    },
    /// `select UNION ALL select ...`.
    UnionAll { queries: Vec<Select>, pos: Pos },
}

/// `COORDINATE BY expr WITH AGGR INTERVAL a SECONDS [WITH ACCU ...] [WITH SW ...]`.
#[derive(Clone, Debug, Default)]
pub struct Coordinate {
    pub by: Option<Expr>,
    /// Where `COORDINATE` is written.
    pub by_pos: Option<Pos>,
    pub aggr: Option<Interval>,
    pub accu: Option<Interval>,
    pub sw: Option<Interval>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub seconds: u64,
    pub pos: Pos,
}

/// The window an aggregate call runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowMod {
    /// Plain: the aggr window.
    Aggr,
    /// `agg(x ACCU)`: from the start of the accumulation period to the end of the aggr window.
    Accu,
    /// `agg(x SW)`: the sliding window ending with the aggr window.
    Sw,
}

/// Prefixes the parser gives a function name written with the ACCU / SW modifier.
pub const ACCU_PREFIX: &str = "__accu__";
pub const SW_PREFIX: &str = "__sw__";

/// Splits an encoded function name into its modifier and the real name.
pub fn split_window_mod(name: &str) -> (WindowMod, &str) {
    if let Some(n) = name.strip_prefix(ACCU_PREFIX) {
        (WindowMod::Accu, n)
    } else if let Some(n) = name.strip_prefix(SW_PREFIX) {
        (WindowMod::Sw, n)
    } else {
        (WindowMod::Aggr, name)
    }
}

/// Shows an expression as the user wrote it (modifiers back in place).
pub fn display_expr(expr: &Expr) -> String {
    let s = expr.to_string();
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("__") {
        let tail = &rest[i..];
        let (modifier, prefix_len) = if tail.starts_with(ACCU_PREFIX) {
            (" ACCU", ACCU_PREFIX.len())
        } else if tail.starts_with(SW_PREFIX) {
            (" SW", SW_PREFIX.len())
        } else {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        };
        out.push_str(&rest[..i]);
        let after = &tail[prefix_len..];
        // Copy the function name and its parenthesised arguments, then the modifier.
        let open = after.find('(').unwrap_or(after.len());
        out.push_str(&after[..open]);
        let mut depth = 0usize;
        let mut end = after.len();
        for (j, c) in after[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&after[open..end]);
        out.push_str(modifier);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}
