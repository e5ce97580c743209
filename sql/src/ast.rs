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

/// Shows a script in EC-SQL, one statement per line; parsing the text gives the same script.
impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.statements {
            match s {
                Statement::With { name, query } => writeln!(f, "WITH ({query}) {}", name.name)?,
                Statement::Insert { table, key, query } => {
                    write!(f, "INSERT INTO {}", table.name)?;
                    if let Some(k) = key {
                        write!(f, " WITH {} AS KEY", k.name)?;
                    }
                    writeln!(f, " {query}")?;
                }
                Statement::Select { query } => writeln!(f, "{query}")?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let FromItem::UnionAll { queries, .. } = &self.from {
            if matches!(self.items.as_slice(), [SelectItem::Wildcard(_)])
                && self.selection.is_none()
            {
                let parts: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
                return f.write_str(&parts.join(" UNION ALL "));
            }
        }
        f.write_str("SELECT ")?;
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match item {
                SelectItem::Wildcard(_) => f.write_str("*")?,
                SelectItem::Expr { expr, alias } => {
                    f.write_str(&display_expr(expr))?;
                    if let Some(a) = alias {
                        write!(f, " AS {}", a.name)?;
                    }
                }
            }
        }
        write!(f, " FROM {}", self.from)?;
        if let Some(w) = &self.selection {
            write!(f, " WHERE {}", display_expr(w))?;
        }
        if let Some(keys) = &self.group_by {
            let k: Vec<String> = keys.iter().map(display_expr).collect();
            write!(f, " GROUP BY {}", k.join(", "))?;
        }
        if let Some(by) = &self.coordinate.by {
            write!(f, " COORDINATE BY {}", display_expr(by))?;
        }
        for (kind, iv) in [
            ("AGGR", self.coordinate.aggr),
            ("ACCU", self.coordinate.accu),
            ("SW", self.coordinate.sw),
        ] {
            if let Some(iv) = iv {
                write!(f, " WITH {kind} INTERVAL {} SECONDS", iv.seconds)?;
            }
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {}", display_expr(h))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for FromItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FromItem::Table { name, alias } => {
                f.write_str(&name.name)?;
                if let Some(a) = alias {
                    write!(f, " {}", a.name)?;
                }
                Ok(())
            }
            FromItem::Subquery { query, alias } => write!(f, "({query}) {}", alias.name),
            FromItem::InnerTable { interval_ms, .. } => write!(f, "__innertable({interval_ms})"),
            FromItem::LeftJoin {
                left,
                right,
                alias,
                on,
            } => {
                write!(f, "{left} LEFT JOIN {}", right.name)?;
                if let Some(a) = alias {
                    write!(f, " {}", a.name)?;
                }
                write!(f, " ON {}", display_expr(on))
            }
            FromItem::UnionAll { queries, .. } => {
                let parts: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
                write!(f, "({}) union_all", parts.join(" UNION ALL "))
            }
        }
    }
}
