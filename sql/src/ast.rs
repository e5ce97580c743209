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
    /// `t.*`: the columns of the FROM item named `t`.
    QualifiedWildcard {
        qualifier: String,
        pos: Pos,
    },
}

#[derive(Clone, Debug)]
pub enum FromItem {
    /// A table or a WITH alias.
    Table { name: Ident, alias: Option<Ident> },
    /// `(select) alias`.
    Subquery { query: Box<Select>, alias: Ident },
    /// `__innertable(ms)`: one empty row every `ms` milliseconds.
    InnerTable { interval_ms: u64, pos: Pos },
    /// `source LEFT JOIN table [alias] ON expr`; `inner`: `source JOIN table FOR SYSTEM_TIME
    /// AS OF ...` (Flink's lookup join), which drops the stream rows nothing matches.
    LeftJoin {
        left: Box<FromItem>,
        right: Ident,
        alias: Option<Ident>,
        on: Box<Expr>,
        inner: bool,
    },
    /// `source [INNER] JOIN source ON expr`, or `source, source` (whose condition is the
    /// query's WHERE): a regular join of two streams.
    Join {
        left: Box<FromItem>,
        right: Box<FromItem>,
        /// `None` until the parser gives a comma join its query's WHERE.
        on: Option<Box<Expr>>,
        /// Where JOIN (or the comma) is written.
        pos: Pos,
    },
    /// Flink's top-N: `(SELECT ..., ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rank
    /// FROM ...) alias` read by a query whose WHERE keeps `rank <= limit` (or `rank < n`,
    /// `rank = 1`). In `query` the ROW_NUMBER item is a NULL named
    /// [`TOP_N_RANK`](crate::parser::TOP_N_RANK), where the rank goes.
    TopN {
        query: Box<Select>,
        alias: Ident,
        rank: Ident,
        partition: Vec<Expr>,
        /// ORDER BY expressions, each `true` when DESC.
        order: Vec<(Expr, bool)>,
        limit: u64,
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
    /// The lateness of these windows when their time column has a `WATERMARK` (the table's
    /// delay), instead of the job's `lateness.seconds`.
    pub lateness_ms: Option<u64>,
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
/// `INTERVAL 'n' unit` (also `INTERVAL n unit`, `INTERVAL '-n' unit`): `n` and the unit;
/// `None` for any other form (`INTERVAL '1:30' HOUR TO MINUTE`).
pub fn interval_value(i: &sqlparser::ast::Interval) -> Option<(i64, crate::expr::date::TimeUnit)> {
    use sqlparser::ast::Value as V;
    if i.last_field.is_some() {
        return None;
    }
    let n: i64 = match &*i.value {
        Expr::Value(v) => match &v.value {
            V::SingleQuotedString(s) | V::Number(s, _) => s.trim().parse().ok()?,
            _ => return None,
        },
        _ => return None,
    };
    let unit = crate::expr::date::TimeUnit::parse(&i.leading_field.as_ref()?.to_string())?;
    Some((n, unit))
}

pub fn split_window_mod(name: &str) -> (WindowMod, &str) {
    if let Some(n) = name.strip_prefix(ACCU_PREFIX) {
        (WindowMod::Accu, n)
    } else if let Some(n) = name.strip_prefix(SW_PREFIX) {
        (WindowMod::Sw, n)
    } else {
        (WindowMod::Aggr, name)
    }
}

/// Shows an expression as the user wrote it (modifiers, FOREACH and EXECUTE back in place).
pub fn display_expr(expr: &Expr) -> String {
    restore_constructs(&restore_modifiers(&expr.to_string()))
}

/// Byte ranges of `s` outside single-quoted strings, as a predicate on positions.
fn outside_quotes(s: &str) -> Vec<bool> {
    let mut inside = false;
    s.bytes()
        .map(|b| {
            if b == b'\'' {
                inside = !inside;
                true
            } else {
                !inside
            }
        })
        .collect()
}

/// Splits at top-level commas (outside brackets and quotes), trimming each part.
fn split_args(s: &str) -> Vec<&str> {
    let free = outside_quotes(s);
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, b) in s.bytes().enumerate() {
        if !free[i] {
            continue;
        }
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s[start..].trim());
    parts
}

/// The index of the `)` closing the `(` at `open`.
fn closing(s: &str, open: usize) -> Option<usize> {
    let free = outside_quotes(s);
    let mut depth = 0i32;
    for (i, b) in s.bytes().enumerate().skip(open) {
        if !free[i] {
            continue;
        }
        match b {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `__foreach(...)` and `__execute(...)` (the parser's rewrite) back to FOREACH and EXECUTE.
fn restore_constructs(s: &str) -> String {
    let free = outside_quotes(s);
    let found = ["__foreach(", "__execute("]
        .iter()
        .filter_map(|p| {
            s.match_indices(p)
                .find(|(i, _)| free[*i])
                .map(|(i, _)| (i, *p))
        })
        .min();
    let Some((at, prefix)) = found else {
        return s.to_string();
    };
    let open = at + prefix.len() - 1;
    let Some(close) = closing(s, open) else {
        return s.to_string();
    };
    let args = split_args(&s[open + 1..close]);
    let inner: Vec<String> = args.iter().map(|a| restore_constructs(a)).collect();
    let shown = if prefix == "__foreach(" && inner.len() == 4 {
        let kind = if inner[1] == "'of'" { "OF" } else { "IN" };
        format!(
            "FOREACH({} {kind} {} GENERATE {})",
            inner[0], inner[2], inner[3]
        )
    } else if prefix == "__execute(" && inner.len() >= 2 {
        let (emit, rest) = inner.split_last().expect("two or more");
        let (block, defines) = rest.split_last().expect("one or more");
        let mut out = String::from("EXECUTE(");
        let defs: Vec<String> = defines.iter().map(|d| show_define(d)).collect();
        if !defs.is_empty() {
            out.push_str("DEFINE ");
            out.push_str(&defs.join(", "));
            out.push(' ');
        }
        let body = block
            .strip_prefix("__block(")
            .and_then(|b| b.strip_suffix(')'))
            .unwrap_or(block);
        out.push_str(&format!("{{ {body} }} EMIT {emit})"));
        out
    } else {
        s[at..=close].to_string()
    };
    format!("{}{shown}{}", &s[..at], restore_constructs(&s[close + 1..]))
}

/// `__define(v, CAST(d AS t))` -> `v AS t DEFAULT d`.
fn show_define(d: &str) -> String {
    let parts = d
        .strip_prefix("__define(")
        .and_then(|x| x.strip_suffix(')'))
        .map(split_args);
    if let Some([name, cast]) = parts.as_deref() {
        if let Some(inner) = cast.strip_prefix("CAST(").and_then(|c| c.strip_suffix(')')) {
            let free = outside_quotes(inner);
            if let Some((i, _)) = inner.match_indices(" AS ").filter(|(i, _)| free[*i]).last() {
                return format!("{name} AS {} DEFAULT {}", &inner[i + 4..], &inner[..i]);
            }
        }
    }
    d.to_string()
}

/// `__accu__count(x)` -> `count(x ACCU)`, `__sw__count(x)` -> `count(x SW)`.
fn restore_modifiers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
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
                SelectItem::QualifiedWildcard { qualifier, .. } => write!(f, "{qualifier}.*")?,
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
                inner,
            } => {
                let how = if *inner { "JOIN" } else { "LEFT JOIN" };
                write!(f, "{left} {how} {}", right.name)?;
                if let Some(a) = alias {
                    write!(f, " {}", a.name)?;
                }
                write!(f, " ON {}", display_expr(on))
            }
            FromItem::Join {
                left, right, on, ..
            } => match on {
                Some(on) => write!(f, "{left} JOIN {right} ON {}", display_expr(on)),
                None => write!(f, "{left}, {right}"),
            },
            FromItem::TopN {
                query,
                alias,
                rank,
                limit,
                ..
            } => write!(f, "({query}) {} top {limit} as {}", alias.name, rank.name),
            FromItem::UnionAll { queries, .. } => {
                let parts: Vec<String> = queries.iter().map(|q| q.to_string()).collect();
                write!(f, "({}) union_all", parts.join(" UNION ALL "))
            }
        }
    }
}
