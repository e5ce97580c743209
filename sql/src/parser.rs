//! EC-SQL's front layer. sqlparser tokenizes the text and parses every expression; this module
//! parses what sqlparser's closed AST cannot hold: the script structure (`WITH (select) alias`,
//! several INSERTs), `COORDINATE BY`, the `WITH AGGR|ACCU|SW INTERVAL` clauses, `agg(x ACCU)`,
//! `__innertable(ms)`, and the `.sql` form's `CREATE TABLE ... WITH (...)` and `SET`.

use std::collections::BTreeMap;

use sqlparser::ast::Expr;
use sqlparser::dialect::{Dialect, SparkSqlDialect};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::ast::*;
use crate::error::{Pos, SqlError, SqlResult};
use crate::job::{FieldDecl, Setting, TableDesc};
use crate::types::{DataType, Field, Schema};

static DIALECT: SparkSqlDialect = SparkSqlDialect {};

/// The tokenizer's dialect: Spark's words and quotes, but a backslash escapes the next character
/// of a string literal as in Hive (`'it\'s'`), and string literals keep their escapes as written:
/// the binder reads an expression's literal with [`unescape_string`], while a DDL or SET value
/// keeps its text for the setting's own escapes (`'field.splitter' = '\x01'`).
#[derive(Debug)]
struct TokenDialect;

static TOKEN_DIALECT: TokenDialect = TokenDialect;

impl Dialect for TokenDialect {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        DIALECT.is_delimited_identifier_start(ch)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        DIALECT.identifier_quote_style(identifier)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        DIALECT.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        DIALECT.is_identifier_part(ch)
    }

    fn supports_nested_comments(&self) -> bool {
        DIALECT.supports_nested_comments()
    }

    fn supports_pipe_operator(&self) -> bool {
        DIALECT.supports_pipe_operator()
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }
}

/// The value of a string literal as Hive reads it (`BaseSemanticAnalyzer.unescapeSQLString`),
/// from the text the parser keeps (a doubled or escaped quote already single): `\\` `\'` `\"`
/// `\0` `\b` `\n` `\r` `\t` `\Z` (U+001A), `\uXXXX`, octal `\000` to `\177` (an ASCII character); `\%` and `\_`
/// stay escaped (LIKE reads them as a literal `%` / `_`); any other `\c` is `c`.
pub fn unescape_string(raw: &str) -> String {
    let c: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] != '\\' || i + 1 == c.len() {
            out.push(c[i]);
            i += 1;
            continue;
        }
        // `\uXXXX`: four hex digits.
        if c[i + 1] == 'u' && i + 5 < c.len() {
            let hex: String = c[i + 2..i + 6].iter().collect();
            if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                out.push(ch);
                i += 6;
                continue;
            }
        }
        // Octal `\[01][0-7][0-7]`: one ASCII character (at most 0o177).
        if i + 3 < c.len()
            && matches!(c[i + 1], '0'..='1')
            && matches!(c[i + 2], '0'..='7')
            && matches!(c[i + 3], '0'..='7')
        {
            let digit = |k: usize| c[k] as u32 - '0' as u32;
            let byte = digit(i + 1) * 64 + digit(i + 2) * 8 + digit(i + 3);
            out.push(char::from(byte as u8));
            i += 4;
            continue;
        }
        match c[i + 1] {
            '0' => out.push('\0'),
            'b' => out.push('\u{8}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'Z' => out.push('\u{1A}'),
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            other => out.push(other),
        }
        i += 2;
    }
    out
}

/// Sqlparser's tokenizer, told to keep a literal as written, leaves a doubled quote (`''`, a
/// quoted name's doubled backtick) and an escaped quote (`\'`) as two characters: make them the
/// one quote they stand for, and keep every other escape for [`unescape_string`].
fn normalize_quotes(token: &mut Token) {
    fn collapse(s: &str, quote: char, backslash: bool) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if backslash && c == '\\' {
                match chars.next() {
                    Some(n) if n == quote => out.push(n),
                    Some(n) => {
                        out.push(c);
                        out.push(n);
                    }
                    None => out.push(c),
                }
            } else if c == quote && chars.peek() == Some(&quote) {
                chars.next();
                out.push(c);
            } else {
                out.push(c);
            }
        }
        out
    }
    match token {
        Token::SingleQuotedString(s) => *s = collapse(s, '\'', true),
        Token::DoubleQuotedString(s) => *s = collapse(s, '"', true),
        Token::Word(w) => {
            if let Some(q) = w.quote_style {
                w.value = collapse(&w.value, q, false);
            }
        }
        _ => {}
    }
}

/// Words that end a clause, so they are never taken as an implicit alias.
const CLAUSE_WORDS: &[&str] = &[
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "COORDINATE",
    "WITH",
    "UNION",
    "LEFT",
    "RIGHT",
    "INNER",
    "FULL",
    "JOIN",
    "ON",
    "INSERT",
    "SELECT",
    "ORDER",
    "LIMIT",
    "AS",
    "CREATE",
    "SET",
];

/// The parts of a `.sql` job file.
#[derive(Debug)]
pub struct SqlFile {
    pub settings: BTreeMap<String, Setting>,
    pub tables: Vec<TableDesc>,
    pub script: Script,
}

/// Parses an EC-SQL script (the `sql=` of an `.ec` file).
pub fn parse_script(sql: &str) -> SqlResult<Script> {
    let file = parse(sql, false).map_err(|mut errors| errors.swap_remove(0))?;
    Ok(file.script)
}

/// Parses a `.sql` job file: DDL, SET and EC-SQL statements. Every wrong statement gives its
/// error, in the order of the file.
pub fn parse_sql_file(text: &str) -> Result<SqlFile, Vec<SqlError>> {
    parse(text, true)
}

fn pos_of(loc: Location) -> Pos {
    Pos::new(loc.line.max(1) as u32, loc.column.max(1) as u32)
}

/// Converts a sqlparser error, reading the position out of its message.
fn parser_error(e: ParserError, fallback: Pos) -> SqlError {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".to_string(),
    };
    if let Some(i) = msg.rfind(" at Line: ") {
        let loc = &msg[i + " at Line: ".len()..];
        if let Some((l, c)) = loc.split_once(", Column: ") {
            if let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse()) {
                return SqlError::new(Pos::new(l, c), tidy(&msg[..i]));
            }
        }
    }
    SqlError::new(fallback, tidy(&msg))
}

fn tidy(msg: &str) -> String {
    msg.replace("Expected: ", "expected ")
        .replace(", found: ", ", found ")
}

fn tokenize(sql: &str) -> SqlResult<Vec<TokenWithSpan>> {
    let mut tokens = Tokenizer::new(&TOKEN_DIALECT, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| SqlError::new(pos_of(e.location), e.message))?;
    tokens
        .iter_mut()
        .for_each(|t| normalize_quotes(&mut t.token));
    rewrite_window_modifiers(&mut tokens);
    rewrite_foreach_execute(&mut tokens)?;
    let end = tokens
        .iter()
        .rev()
        .find(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| t.span.end)
        .unwrap_or(Location::new(1, 1));
    tokens.push(TokenWithSpan::at(Token::EOF, end, end));
    Ok(tokens)
}

/// The name of the column a top-N subquery holds its rank in until the rank is known.
pub const TOP_N_RANK: &str = "__top_n_rank";

/// Flink's top-N pattern: a subquery in FROM with a `ROW_NUMBER() OVER (PARTITION BY ...
/// ORDER BY ...) AS rank` item, read by a query whose WHERE keeps `rank <= N`, `rank < N` or
/// `rank = 1` (the rest of the WHERE stays a filter). Any other use of ROW_NUMBER, or of OVER,
/// is refused by the binder.
fn top_n(from: &mut FromItem, selection: Option<&Expr>) -> SqlResult<()> {
    let FromItem::Subquery { query, alias } = from else {
        return Ok(());
    };
    let Some((at, f, rank)) = query
        .items
        .iter()
        .enumerate()
        .find_map(|(i, item)| match item {
            SelectItem::Expr {
                expr: Expr::Function(f),
                alias: Some(rank),
            } if f.name.to_string().eq_ignore_ascii_case("row_number") && f.over.is_some() => {
                Some((i, f.clone(), rank.clone()))
            }
            _ => None,
        })
    else {
        return Ok(());
    };
    let Some(sqlparser::ast::WindowType::WindowSpec(spec)) = &f.over else {
        return Err(SqlError::new(
            rank.pos,
            "ROW_NUMBER() needs OVER (PARTITION BY ... ORDER BY ...)",
        ));
    };
    if spec.order_by.is_empty() || spec.window_frame.is_some() {
        return Err(SqlError::new(
            rank.pos,
            "ROW_NUMBER() OVER (...) needs ORDER BY, and no window frame (Flink's top-N)",
        ));
    }
    let is_rank = |e: &Expr| match e {
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case(&rank.name),
        Expr::CompoundIdentifier(p) => p
            .last()
            .is_some_and(|i| i.value.eq_ignore_ascii_case(&rank.name)),
        _ => false,
    };
    let number = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let mut conjuncts = Vec::new();
    if let Some(w) = selection {
        crate::bind::split_and(w, &mut conjuncts);
    }
    let limit = conjuncts.iter().find_map(|c| match c {
        Expr::BinaryOp { left, op, right } => {
            use sqlparser::ast::BinaryOperator as B;
            let (n, op) = if is_rank(left) {
                (number(right)?, op.clone())
            } else if is_rank(right) {
                let flipped = match op {
                    B::GtEq => B::LtEq,
                    B::Gt => B::Lt,
                    other => other.clone(),
                };
                (number(left)?, flipped)
            } else {
                return None;
            };
            match op {
                B::LtEq => Some(n),
                B::Lt => Some(n.saturating_sub(1)),
                B::Eq if n == 1 => Some(1),
                _ => None,
            }
        }
        _ => None,
    });
    let Some(limit) = limit.filter(|n| *n > 0) else {
        return Err(SqlError::new(
            rank.pos,
            format!(
                "ROW_NUMBER() OVER is supported as Flink's top-N: read the subquery with `WHERE \
                 {} <= N` (or `= 1` to deduplicate)",
                rank.name
            ),
        ));
    };
    // The ROW_NUMBER item is a NULL placeholder in the subquery, where the rank goes.
    let mut inner = (**query).clone();
    inner.items[at] = SelectItem::Expr {
        expr: Expr::Value(sqlparser::ast::Value::Null.into()),
        alias: Some(Ident {
            name: TOP_N_RANK.to_string(),
            pos: rank.pos,
        }),
    };
    let order = spec
        .order_by
        .iter()
        .map(|o| {
            let desc = matches!(o.options.sort, Some(sqlparser::ast::OrderBySort::Desc));
            (o.expr.clone(), desc)
        })
        .collect();
    *from = FromItem::TopN {
        query: Box::new(inner),
        alias: alias.clone(),
        rank,
        partition: spec.partition_by.clone(),
        order,
        limit,
    };
    Ok(())
}

/// A comma join's condition is its query's WHERE (an inner join's ON and WHERE mean the
/// same): the equalities of the two sides become the join's keys.
fn comma_join_condition(from: &mut FromItem, selection: Option<&Expr>) -> SqlResult<()> {
    if let FromItem::Join { left, on, pos, .. } = from {
        comma_join_condition(left, selection)?;
        if on.is_none() {
            let Some(w) = selection else {
                return Err(SqlError::new(
                    *pos,
                    "a join of two streams needs a condition: `FROM a, b WHERE a.k = b.k` or \
                     `FROM a JOIN b ON a.k = b.k` (a cross join is not supported)",
                ));
            };
            *on = Some(Box::new(w.clone()));
        }
    }
    Ok(())
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

/// Words after which an operand is still to come, so an `ACCU` / `SW` that follows one is a
/// column (`count(DISTINCT sw)`, `max(a AND sw)`), not a modifier.
const OPERAND_EXPECTED: &[&str] = &[
    "DISTINCT", "ALL", "NOT", "AND", "OR", "IS", "IN", "LIKE", "RLIKE", "REGEXP", "BETWEEN",
    "CASE", "WHEN", "THEN", "ELSE", "DIV", "AS", "INTERVAL", "GENERATE", "EMIT", "DEFAULT", "OF",
];

/// Whether `t` can end an expression: a name, a literal or a closing bracket.
fn ends_expression(t: &Token) -> bool {
    match t {
        Token::Word(w) => {
            w.quote_style.is_some()
                || !OPERAND_EXPECTED
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k))
        }
        Token::Number(..)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::Placeholder(_)
        | Token::RParen
        | Token::RBracket => true,
        _ => false,
    }
}

/// Whether the token before an `ACCU` / `SW` word ends an argument, so that the word is the
/// modifier of `agg(x ACCU)`: a name, a literal, a closing bracket, or the `*` of `count(*)`.
/// After `(`, `,`, `.`, an operator or a keyword that wants an operand, the word is a column
/// named `accu` or `sw` (`max(sw)`, `count(t.accu)`, `sum(a + sw)`).
fn ends_argument(tokens: &[TokenWithSpan], prev: usize) -> bool {
    match &tokens[prev].token {
        // `count(* ACCU)`, but not `max(a * sw)`.
        Token::Mul => (0..prev)
            .rev()
            .find(|&k| significant(&tokens[k]))
            .is_some_and(|k| tokens[k].token == Token::LParen),
        t => ends_expression(t),
    }
}

/// `count(qq ACCU)` -> `__accu__count(qq)`, `count(qq SW)` -> `__sw__count(qq)`. Only the
/// word written after an argument, last in the call, is the modifier: `max(sw)` and
/// `count(DISTINCT accu)` read the columns `sw` and `accu`.
fn rewrite_window_modifiers(tokens: &mut Vec<TokenWithSpan>) {
    let mut i = 0;
    while i < tokens.len() {
        let prefix = if is_word(&tokens[i].token, "ACCU") {
            ACCU_PREFIX
        } else if is_word(&tokens[i].token, "SW") {
            SW_PREFIX
        } else {
            i += 1;
            continue;
        };
        let next = tokens[i + 1..].iter().find(|t| significant(t));
        let prev = (0..i).rev().find(|&k| significant(&tokens[k]));
        if !matches!(next.map(|t| &t.token), Some(Token::RParen))
            || !prev.is_some_and(|p| ends_argument(tokens, p))
        {
            i += 1;
            continue;
        }
        // Find the call's opening parenthesis and the function name before it.
        let mut depth = 0usize;
        let mut open = None;
        for k in (0..i).rev() {
            match tokens[k].token {
                Token::RParen => depth += 1,
                Token::LParen if depth == 0 => {
                    open = Some(k);
                    break;
                }
                Token::LParen => depth -= 1,
                _ => {}
            }
        }
        let name_at = open.and_then(|o| (0..o).rev().find(|&k| significant(&tokens[k])));
        if let Some(n) = name_at {
            // A function's name, not a keyword before a parenthesis (`FROM (... t sw)`).
            let keyword = |w: &str| {
                CLAUSE_WORDS
                    .iter()
                    .chain(OPERAND_EXPECTED)
                    .any(|k| w.eq_ignore_ascii_case(k))
            };
            if let Token::Word(w) = &tokens[n].token {
                if w.quote_style.is_none() && keyword(&w.value) {
                    i += 1;
                    continue;
                }
                let renamed = format!("{prefix}{}", w.value);
                tokens[n].token = Token::make_word(&renamed, None);
                tokens.remove(i);
                continue;
            }
        }
        i += 1;
    }
}

fn significant(t: &TokenWithSpan) -> bool {
    !matches!(t.token, Token::Whitespace(_))
}

/// The index of the bracket closing the one at `open` (`(`/`)` or `{`/`}`).
fn matching(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen | Token::LBrace | Token::LBracket => depth += 1,
            Token::RParen | Token::RBrace | Token::RBracket => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn token_at(token: Token, at: &TokenWithSpan) -> TokenWithSpan {
    TokenWithSpan::new(token, at.span)
}

fn word_at(w: &str, at: &TokenWithSpan) -> TokenWithSpan {
    token_at(Token::make_word(w, None), at)
}

fn err_at(t: &TokenWithSpan, msg: impl Into<String>) -> SqlError {
    SqlError::new(pos_of(t.span.start), msg)
}

/// Rewrites EC-SQL's `FOREACH(...)` and `EXECUTE(...)` into calls sqlparser can hold:
///
/// - `FOREACH(v OF e GENERATE g)` -> `__foreach(v, 'of', e, g)` (`IN` -> `'in'`);
/// - `EXECUTE(DEFINE v AS t DEFAULT d, ... { s, ... } EMIT e)` ->
///   `__execute(__define(v, CAST(d AS t)), ..., __block(s, ...), e)`. The statements stay as
///   written: `$v := x` parses as an assignment, `IF(c, s...)` and `FOR(c, s...)` as calls; a
///   block inside them loses its braces. The binder ([`crate::planner`]) gives them meaning.
///
/// Every token keeps the position it was written at, so errors point into the user's text.
fn rewrite_foreach_execute(tokens: &mut Vec<TokenWithSpan>) -> SqlResult<()> {
    // Innermost first: a construct nested in another comes later in the text.
    let mut i = tokens.len();
    while i > 0 {
        i -= 1;
        let is_foreach = is_word(&tokens[i].token, "FOREACH");
        let is_execute = is_word(&tokens[i].token, "EXECUTE");
        if !is_foreach && !is_execute {
            continue;
        }
        let Some(open) = (i + 1..tokens.len()).find(|&k| significant(&tokens[k])) else {
            continue;
        };
        if tokens[open].token != Token::LParen {
            continue;
        }
        let close = matching(tokens, open)
            .ok_or_else(|| err_at(&tokens[i], "this call's parenthesis is never closed"))?;
        let inner = &tokens[open + 1..close];
        let at = tokens[i].clone();
        let mut out = if is_foreach {
            rewrite_foreach(&at, inner)?
        } else {
            rewrite_execute(&at, inner)?
        };
        out.push(token_at(Token::RParen, &tokens[close]));
        tokens.splice(i..=close, out);
    }
    Ok(())
}

fn rewrite_foreach(at: &TokenWithSpan, inner: &[TokenWithSpan]) -> SqlResult<Vec<TokenWithSpan>> {
    const SHAPE: &str = "FOREACH is written FOREACH(var OF|IN expr GENERATE expr)";
    let toks: Vec<&TokenWithSpan> = inner.iter().filter(|t| significant(t)).collect();
    let var = match toks.first() {
        Some(t) if matches!(t.token, Token::Word(_)) => (*t).clone(),
        Some(t) => return Err(err_at(t, format!("{SHAPE}: expected a variable name"))),
        None => return Err(err_at(at, format!("{SHAPE}: it is empty"))),
    };
    let kind = match toks.get(1) {
        Some(t) if is_word(&t.token, "OF") => "of",
        Some(t) if is_word(&t.token, "IN") => "in",
        Some(t) => return Err(err_at(t, format!("{SHAPE}: expected OF or IN"))),
        None => return Err(err_at(&var, format!("{SHAPE}: expected OF or IN"))),
    };
    let kind_tok = toks[1];
    let mut depth = 0usize;
    let mut generate = None;
    for (k, t) in toks.iter().enumerate().skip(2) {
        match t.token {
            Token::LParen | Token::LBrace | Token::LBracket => depth += 1,
            Token::RParen | Token::RBrace | Token::RBracket => depth = depth.saturating_sub(1),
            _ if depth == 0 && is_word(&t.token, "GENERATE") => {
                generate = Some(k);
                break;
            }
            _ => {}
        }
    }
    let Some(g) = generate else {
        return Err(err_at(at, format!("{SHAPE}: GENERATE is missing")));
    };
    if g == 2 {
        return Err(err_at(toks[g], format!("{SHAPE}: nothing to iterate over")));
    }
    if g + 1 == toks.len() {
        return Err(err_at(toks[g], format!("{SHAPE}: nothing after GENERATE")));
    }
    let mut out = vec![
        word_at("__foreach", at),
        token_at(Token::LParen, at),
        var,
        token_at(Token::Comma, kind_tok),
        token_at(Token::SingleQuotedString(kind.to_string()), kind_tok),
        token_at(Token::Comma, kind_tok),
    ];
    out.extend(toks[2..g].iter().map(|t| (*t).clone()));
    out.push(token_at(Token::Comma, toks[g]));
    out.extend(toks[g + 1..].iter().map(|t| (*t).clone()));
    Ok(out)
}

/// One `DEFINE v [AS] type [DEFAULT value]`, as tokens.
struct Define {
    name: TokenWithSpan,
    ty: Vec<TokenWithSpan>,
    default: Option<Vec<TokenWithSpan>>,
}

/// The definitions before an EXECUTE's block. EasyCount's scripts write them in more than one
/// way, and every one is accepted: `DEFINE a AS int DEFAULT 0, b AS string`, one DEFINE per
/// variable (`DEFINE a int; DEFINE b int;`, `DEFINE a AS int, DEFINE b AS int`), with or without
/// `AS`, separated by commas, semicolons or nothing but the next DEFINE.
fn parse_defines(shape: &str, defs: &[TokenWithSpan]) -> SqlResult<Vec<Define>> {
    let Some(first) = defs.first() else {
        return Ok(Vec::new());
    };
    if !is_word(&first.token, "DEFINE") {
        return Err(err_at(first, format!("{shape}: expected DEFINE or {{")));
    }
    // Split at separators and DEFINE words outside brackets and type parameters (`map<k,v>`).
    let mut groups: Vec<Vec<TokenWithSpan>> = vec![Vec::new()];
    let (mut depth, mut angle) = (0usize, 0usize);
    for t in defs {
        let group = groups.last_mut().expect("starts non-empty");
        // A type's `<` follows a word; DEFAULT's value compares with `<` and `>` freely.
        let in_type = !group.iter().any(|g| is_word(&g.token, "DEFAULT"));
        match t.token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            Token::Lt if in_type => angle += 1,
            Token::Gt if in_type => angle = angle.saturating_sub(1),
            Token::ShiftRight if in_type => angle = angle.saturating_sub(2),
            Token::Comma | Token::SemiColon if depth == 0 && angle == 0 => {
                groups.push(Vec::new());
                continue;
            }
            _ if depth == 0 && is_word(&t.token, "DEFINE") => {
                angle = 0;
                groups.push(Vec::new());
                continue;
            }
            _ => {}
        }
        group.push(t.clone());
    }
    let mut out = Vec::new();
    for def in groups.into_iter().filter(|g| !g.is_empty()) {
        let name = def[0].clone();
        if !matches!(name.token, Token::Word(_)) {
            return Err(err_at(&name, format!("{shape}: expected `name AS type`")));
        }
        let ty_start = if def.get(1).is_some_and(|t| is_word(&t.token, "AS")) {
            2
        } else {
            1
        };
        let default = def.iter().position(|t| is_word(&t.token, "DEFAULT"));
        let ty = def[ty_start.min(def.len())..default.unwrap_or(def.len())].to_vec();
        if ty.is_empty() {
            return Err(err_at(
                &name,
                format!("{shape}: `{}` has no type", name.token),
            ));
        }
        let default = match default {
            Some(d) if d + 1 < def.len() => Some(def[d + 1..].to_vec()),
            Some(d) => return Err(err_at(&def[d], format!("{shape}: DEFAULT needs a value"))),
            None => None,
        };
        out.push(Define { name, ty, default });
    }
    if out.is_empty() {
        return Err(err_at(first, format!("{shape}: DEFINE needs a variable")));
    }
    Ok(out)
}

/// Whether `t` begins a statement of an EXECUTE block: `$v :=`, `IF(` or `FOR(`.
fn starts_statement(t: &Token, next: Option<&Token>) -> bool {
    match t {
        Token::Placeholder(p) if p.starts_with('$') => next == Some(&Token::Assignment),
        _ => (is_word(t, "IF") || is_word(t, "FOR")) && next == Some(&Token::LParen),
    }
}

/// `IF(cond) { ... }` and `FOR(cond) { ... }`, written as in C, as the block inside the call:
/// `FOR(cond { ... })`.
fn blocks_inside(body: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut body = body.to_vec();
    let mut k = 0;
    while k + 1 < body.len() {
        let call = (is_word(&body[k].token, "IF") || is_word(&body[k].token, "FOR"))
            && body[k + 1].token == Token::LParen;
        if call {
            if let Some(close) = matching(&body, k + 1) {
                if body
                    .get(close + 1)
                    .is_some_and(|t| t.token == Token::LBrace)
                {
                    if let Some(block_end) = matching(&body, close + 1) {
                        let paren = body.remove(close);
                        body.insert(block_end, paren);
                    }
                }
            }
        }
        k += 1;
    }
    body
}

/// Whether the token before `toks[k]` (after `toks[open]`) is an operator or a keyword that
/// wants an operand, so that `toks[k]` continues an expression (`DEFAULT if(...)`).
fn continues_expression(toks: &[TokenWithSpan], k: usize, open: usize) -> bool {
    k > open + 1 && {
        let prev = &toks[k - 1].token;
        !matches!(prev, Token::Comma | Token::SemiColon) && !ends_expression(prev)
    }
}

/// The statements of an EXECUTE block as call arguments: an inner block's braces only group,
/// statements are separated by commas or semicolons, and a statement written straight after
/// a condition or another statement (`FOR($i < 3 $i := $i + 1)`, `FOR($i < 3 { ... })`) is
/// separated from it as if a comma were there.
fn block_arguments(body: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(body.len());
    let push_comma = |out: &mut Vec<TokenWithSpan>, at: &TokenWithSpan| {
        out.push(token_at(Token::Comma, at));
    };
    for (k, t) in body.iter().enumerate() {
        match t.token {
            Token::LBrace | Token::RBrace | Token::SemiColon => push_comma(&mut out, t),
            _ => {
                let next = body.get(k + 1).map(|n| &n.token);
                if starts_statement(&t.token, next)
                    && out.last().is_some_and(|p| ends_expression(&p.token))
                {
                    push_comma(&mut out, t);
                }
                out.push(t.clone());
            }
        }
    }
    // No empty arguments: drop a comma after `(` or another comma, or before `)` or the end.
    let mut tidy: Vec<TokenWithSpan> = Vec::with_capacity(out.len());
    for (k, t) in out.iter().enumerate() {
        if t.token == Token::Comma {
            let after_open = matches!(
                tidy.last().map(|p| &p.token),
                None | Some(Token::LParen) | Some(Token::Comma)
            );
            let before_close =
                matches!(out.get(k + 1).map(|n| &n.token), None | Some(Token::RParen));
            if after_open || before_close {
                continue;
            }
        }
        tidy.push(t.clone());
    }
    tidy
}

fn rewrite_execute(at: &TokenWithSpan, inner: &[TokenWithSpan]) -> SqlResult<Vec<TokenWithSpan>> {
    const SHAPE: &str =
        "EXECUTE is written EXECUTE(DEFINE v AS type DEFAULT value, ... { statements } EMIT expr)";
    let toks: Vec<TokenWithSpan> = inner.iter().filter(|t| significant(t)).cloned().collect();
    let Some(brace) = toks.iter().position(|t| t.token == Token::LBrace) else {
        return Err(err_at(
            at,
            format!("{SHAPE}: the {{ statements }} block is missing"),
        ));
    };
    let end = matching(&toks, brace)
        .ok_or_else(|| err_at(&toks[brace], "this block's brace is never closed"))?;
    // DEFINEs may also open the block (`{ DEFINE a int; $a := 1 }`): up to its first statement.
    let mut defs = toks[..brace].to_vec();
    let mut body_start = brace + 1;
    if toks
        .get(brace + 1)
        .is_some_and(|t| is_word(&t.token, "DEFINE"))
    {
        let mut depth = 0usize;
        body_start = end;
        for k in brace + 1..end {
            match toks[k].token {
                Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
                Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
                _ if depth == 0
                    && starts_statement(&toks[k].token, toks.get(k + 1).map(|n| &n.token))
                    && !continues_expression(&toks, k, brace) =>
                {
                    body_start = k;
                    break;
                }
                _ => {}
            }
        }
        defs.extend(toks[brace + 1..body_start].iter().cloned());
    }
    let mut out = vec![word_at("__execute", at), token_at(Token::LParen, at)];
    for Define { name, ty, default } in parse_defines(SHAPE, &defs)? {
        let value = default.unwrap_or_else(|| vec![word_at("NULL", &name)]);
        out.extend([
            word_at("__define", &name),
            token_at(Token::LParen, &name),
            name.clone(),
            token_at(Token::Comma, &name),
            word_at("CAST", &name),
            token_at(Token::LParen, &name),
        ]);
        out.extend(value);
        out.push(word_at("AS", &name));
        out.extend(ty);
        out.push(token_at(Token::RParen, &name));
        out.push(token_at(Token::RParen, &name));
        out.push(token_at(Token::Comma, &name));
    }
    out.push(word_at("__block", &toks[brace]));
    out.push(token_at(Token::LParen, &toks[brace]));
    out.extend(block_arguments(&blocks_inside(&toks[body_start..end])));
    out.push(token_at(Token::RParen, &toks[end]));
    // EMIT expr
    match toks.get(end + 1) {
        Some(t) if is_word(&t.token, "EMIT") && end + 2 < toks.len() => {
            out.push(token_at(Token::Comma, t));
            out.extend(toks[end + 2..].iter().cloned());
        }
        Some(t) if is_word(&t.token, "EMIT") => {
            return Err(err_at(t, format!("{SHAPE}: nothing after EMIT")))
        }
        Some(t) => return Err(err_at(t, format!("{SHAPE}: expected EMIT"))),
        None => return Err(err_at(&toks[end], format!("{SHAPE}: EMIT is missing"))),
    }
    Ok(out)
}

/// A window table function read in FROM, kept for the SELECT around it.
struct Tvf {
    pos: Pos,
    /// The time column (`DESCRIPTOR(col)`).
    time: Ident,
    size_ms: u64,
    /// The table's watermark delay, when its WATERMARK is on this column.
    lateness_ms: Option<u64>,
}

/// The columns a window TVF adds, in the order [`P::lower_tvf`] gives their offsets from the
/// window's start.
const WINDOW_BOUNDS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// A table with computed columns, as its queries read it: `WITH t AS (SELECT *, expr AS col
/// FROM t)` before every statement (the view's own FROM is the table: a WITH is known only
/// after its query).
fn computed_views(tables: Vec<(Ident, Vec<(Ident, Expr)>)>) -> Vec<Statement> {
    tables
        .into_iter()
        .map(|(table, cols)| {
            let mut items = vec![SelectItem::Wildcard(table.pos)];
            items.extend(cols.into_iter().map(|(col, expr)| SelectItem::Expr {
                expr,
                alias: Some(col),
            }));
            Statement::With {
                name: table.clone(),
                query: Select {
                    pos: table.pos,
                    items,
                    from: FromItem::Table {
                        name: table,
                        alias: None,
                    },
                    selection: None,
                    group_by: None,
                    coordinate: Coordinate::default(),
                    having: None,
                },
            }
        })
        .collect()
}

/// Flink's Kafka connector options as tally's: `properties.group.id` is the group,
/// `scan.startup.mode` where to start, `scan.bounded.mode` where to stop. Others pass as they
/// are (`topic`, `format`, `properties.bootstrap.servers` and other `properties.*`).
fn flink_kafka_option(key: String, v: &mut Setting) -> SqlResult<String> {
    let value = v.value.to_ascii_lowercase();
    let (key, value) = match key.as_str() {
        "properties.group.id" => ("group", v.value.clone()),
        "scan.startup.mode" => match value.as_str() {
            "earliest-offset" => ("offset", "earliest".into()),
            "latest-offset" => ("offset", "latest".into()),
            "group-offsets" => ("offset", "committed".into()),
            _ => {
                return Err(SqlError::new(
                    v.pos,
                    format!(
                        "'scan.startup.mode' = '{}' is not supported: earliest-offset, \
                         latest-offset or group-offsets",
                        v.value
                    ),
                ))
            }
        },
        "scan.bounded.mode" => match value.as_str() {
            "latest-offset" => ("bounded", "true".into()),
            "unbounded" => ("bounded", "false".into()),
            _ => {
                return Err(SqlError::new(
                    v.pos,
                    format!(
                        "'scan.bounded.mode' = '{}' is not supported: latest-offset (read what \
                         the topic holds at start, then stop) or unbounded",
                        v.value
                    ),
                ))
            }
        },
        _ => return Ok(key),
    };
    v.value = value;
    Ok(key.to_string())
}

/// A window from Flink's syntax as the query's `COORDINATE BY col WITH AGGR INTERVAL size`,
/// with the table's watermark delay as its lateness. (Either form of a window was refused when
/// the query also names one of its own.)
fn set_window(q: &mut Select, w: &Tvf) -> SqlResult<()> {
    if q.coordinate.by.is_some() || q.coordinate.aggr.is_some() {
        return Err(SqlError::new(
            q.coordinate.by_pos.unwrap_or(w.pos),
            "Flink's TUMBLE is the query's window: COORDINATE BY and WITH AGGR INTERVAL \
             cannot be added to it",
        ));
    }
    q.coordinate.by = Some(Expr::Identifier(sqlparser::ast::Ident::new(
        w.time.name.clone(),
    )));
    q.coordinate.by_pos = Some(w.time.pos);
    q.coordinate.aggr = Some(Interval {
        seconds: w.size_ms / 1000,
        pos: w.pos,
    });
    q.coordinate.lateness_ms = w.lateness_ms;
    Ok(())
}

/// `INTERVAL 'n' unit` as sqlparser holds it, in ms (units SECOND to DAY, a whole number).
fn interval_expr_ms(e: &Expr) -> Option<u64> {
    use crate::expr::date::TimeUnit as U;
    let Expr::Interval(i) = e else { return None };
    let (n, unit) = interval_value(i)?;
    if !matches!(unit, U::Second | U::Minute | U::Hour | U::Day) {
        return None;
    }
    u64::try_from(n).ok()?.checked_mul(unit.fixed_ms()? as u64)
}

/// The window's start plus `offset` ms as TIMESTAMP(3) text, in the job's time zone.
fn window_bound(offset: u64) -> Expr {
    let text = if offset == 0 {
        "__timestamp_text(AGGRTIME)".to_string()
    } else {
        format!("__timestamp_text(AGGRTIME + {offset})")
    };
    Parser::new(&DIALECT)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .expect("a window bound parses")
}

struct P<'a> {
    p: Parser<'a>,
    ddl: bool,
    /// Each table's `WATERMARK FOR col AS col - INTERVAL ...`: (lower-case table, column,
    /// delay in ms), from the CREATE TABLEs read so far.
    watermarks: Vec<(String, String, u64)>,
    /// A window TVF just read as a FROM item, for the SELECT it belongs to.
    tvf: Option<Tvf>,
    /// Each table's computed columns (`ts AS expr`), read as the table through a view that
    /// adds them ([`computed_views`]).
    computed: Vec<(Ident, Vec<(Ident, Expr)>)>,
}

/// Parses a script; a `.sql` file (`ddl`) is read on after a statement that is wrong, from
/// the next `;`, so every statement's error is reported (an `.ec` script stops at the first).
fn parse(text: &str, ddl: bool) -> Result<SqlFile, Vec<SqlError>> {
    let tokens = tokenize(text).map_err(|e| vec![e])?;
    let mut p = P {
        p: Parser::new(&DIALECT).with_tokens_with_locations(tokens),
        ddl,
        watermarks: Vec::new(),
        tvf: None,
        computed: Vec::new(),
    };
    let mut out = SqlFile {
        settings: BTreeMap::new(),
        tables: Vec::new(),
        script: Script::default(),
    };
    let mut errors = Vec::new();
    // Where an open `EXECUTE STATEMENT SET BEGIN` (or `BEGIN STATEMENT SET`) began.
    let mut statement_set: Option<Pos> = None;
    loop {
        while p.p.consume_token(&Token::SemiColon) || p.p.consume_token(&Token::Comma) {}
        if p.peek() == Token::EOF {
            if let Some(at) = statement_set {
                errors.push(SqlError::new(
                    at,
                    "this STATEMENT SET is not closed with END",
                ));
            }
            break;
        }
        if let Err(e) = p.statement(&mut out, &mut statement_set) {
            errors.push(e);
            if !ddl {
                return Err(errors);
            }
            // On from the end of the wrong statement.
            while !matches!(p.peek(), Token::SemiColon | Token::EOF) {
                p.p.next_token();
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let views = computed_views(std::mem::take(&mut p.computed));
    out.script.statements.splice(0..0, views);
    if out.script.statements.is_empty()
        || !out
            .script
            .statements
            .iter()
            .any(|s| !matches!(s, Statement::With { .. }))
    {
        return Err(vec![SqlError::new(
            p.pos(),
            "the script has no INSERT or SELECT statement",
        )]);
    }
    Ok(out)
}

impl P<'_> {
    /// Parses one statement (or the opening or closing of a statement set) into `out`.
    fn statement(&mut self, out: &mut SqlFile, statement_set: &mut Option<Pos>) -> SqlResult<()> {
        let p = self;
        if p.ddl
            && ((p.word("EXECUTE") && p.nth_word(1, "STATEMENT"))
                || (p.word("BEGIN") && p.nth_word(1, "STATEMENT")))
        {
            // Flink's statement sets: the INSERTs inside run as one job, as every INSERT of a
            // tally job does.
            let at = p.pos();
            if statement_set.is_some() {
                return Err(SqlError::new(at, "a STATEMENT SET cannot hold another"));
            }
            let execute = p.eat("EXECUTE");
            p.expect(if execute { "STATEMENT" } else { "BEGIN" })?;
            if !execute {
                p.expect("STATEMENT")?;
            }
            p.expect("SET")?;
            if execute {
                p.expect("BEGIN")?;
            }
            *statement_set = Some(at);
        } else if p.ddl && p.word("END") {
            if statement_set.take().is_none() {
                return Err(SqlError::new(
                    p.pos(),
                    "END without a STATEMENT SET to close",
                ));
            }
            p.p.next_token();
        } else if p.ddl && p.word("CREATE") && (p.nth_word(1, "VIEW") || p.nth_word(1, "TEMPORARY"))
        {
            let stmt = p.create_view()?;
            out.script.statements.push(stmt);
        } else if p.word("WITH") {
            p.with_definitions(&mut out.script)?;
        } else if p.word("INSERT") {
            let stmt = p.insert()?;
            out.script.statements.push(stmt);
        } else if p.word("SELECT") {
            let query = p.query()?;
            out.script.statements.push(Statement::Select { query });
        } else if p.ddl && p.word("CREATE") {
            out.tables.push(p.create_table()?);
        } else if p.ddl && p.word("SET") {
            let (k, v) = p.set()?;
            out.settings.insert(k, v);
        } else {
            let what = if p.ddl {
                "CREATE TABLE, CREATE VIEW, SET, WITH, INSERT or SELECT"
            } else {
                "WITH, INSERT or SELECT"
            };
            return Err(p.expected(what));
        }
        Ok(())
    }

    fn peek(&self) -> Token {
        self.p.peek_token_ref().token.clone()
    }

    fn pos(&self) -> Pos {
        pos_of(self.p.peek_token_ref().span.start)
    }

    /// True when the next token is the (unquoted) word `w`.
    fn word(&self, w: &str) -> bool {
        is_word(&self.p.peek_token_ref().token, w)
    }

    fn nth_word(&self, n: usize, w: &str) -> bool {
        is_word(&self.p.peek_nth_token_ref(n).token, w)
    }

    fn eat(&mut self, w: &str) -> bool {
        if self.word(w) {
            self.p.next_token();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, w: &str) -> SqlResult<()> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{w}`")))
        }
    }

    fn expect_token(&mut self, t: Token) -> SqlResult<()> {
        if self.p.consume_token(&t) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{t}`")))
        }
    }

    fn expected(&self, what: &str) -> SqlError {
        let found = match self.peek() {
            Token::EOF => "the end of the script".to_string(),
            t => format!("`{t}`"),
        };
        SqlError::new(self.pos(), format!("expected {what}, found {found}"))
    }

    fn expr(&mut self) -> SqlResult<Expr> {
        let at = self.pos();
        if let Token::Word(w) = self.peek() {
            if w.quote_style.is_none()
                && CLAUSE_WORDS.iter().any(|c| w.value.eq_ignore_ascii_case(c))
            {
                return Err(self.expected("an expression"));
            }
        }
        self.p.parse_expr().map_err(|e| parser_error(e, at))
    }

    fn ident(&mut self) -> SqlResult<Ident> {
        let pos = self.pos();
        match self.peek() {
            Token::Word(w) => {
                self.p.next_token();
                Ok(Ident { name: w.value, pos })
            }
            _ => Err(self.expected("a name")),
        }
    }

    /// An implicit alias: a name that is not a clause keyword.
    fn implicit_alias(&mut self) -> SqlResult<Option<Ident>> {
        if self.eat("AS") {
            return self.ident().map(Some);
        }
        match self.peek() {
            Token::Word(w)
                if w.quote_style.is_some()
                    || !CLAUSE_WORDS.iter().any(|c| w.value.eq_ignore_ascii_case(c)) =>
            {
                self.ident().map(Some)
            }
            _ => Ok(None),
        }
    }

    fn uint(&mut self) -> SqlResult<u64> {
        match self.peek() {
            Token::Number(n, _) => {
                let v = n
                    .parse::<u64>()
                    .map_err(|_| self.expected("a whole number"))?;
                self.p.next_token();
                Ok(v)
            }
            _ => Err(self.expected("a whole number")),
        }
    }

    /// Consumes a comma that continues a list; a comma followed by the start of the next
    /// statement (`INSERT`, `SELECT`, `WITH (`) separates statements instead and is left alone.
    fn list_continues(&mut self) -> bool {
        if self.p.peek_token_ref().token != Token::Comma {
            return false;
        }
        let next = &self.p.peek_nth_token_ref(1).token;
        let starts_statement = is_word(next, "INSERT")
            || is_word(next, "SELECT")
            || (is_word(next, "WITH")
                && matches!(
                    self.p.peek_nth_token_ref(2).token,
                    Token::LParen | Token::Word(_)
                )
                && !self.nth_word(2, "AGGR")
                && !self.nth_word(2, "ACCU")
                && !self.nth_word(2, "SW"));
        if starts_statement {
            return false;
        }
        self.p.next_token();
        true
    }

    /// `WITH (select) alias, (select) alias` or `WITH name AS (select), ...`.
    fn with_definitions(&mut self, script: &mut Script) -> SqlResult<()> {
        self.expect("WITH")?;
        loop {
            if self.p.consume_token(&Token::LParen) {
                let query = self.query()?;
                self.expect_token(Token::RParen)?;
                self.eat("AS");
                let name = self.ident()?;
                script.statements.push(Statement::With { name, query });
            } else {
                let name = self.ident()?;
                self.expect("AS")?;
                self.expect_token(Token::LParen)?;
                let query = self.query()?;
                self.expect_token(Token::RParen)?;
                script.statements.push(Statement::With { name, query });
            }
            // A comma continues the list only when another definition follows.
            let more = self.p.peek_token_ref().token == Token::Comma
                && match &self.p.peek_nth_token_ref(1).token {
                    Token::LParen => true,
                    Token::Word(_) => self.nth_word(2, "AS"),
                    _ => false,
                };
            if !more {
                return Ok(());
            }
            self.p.next_token();
        }
    }

    fn insert(&mut self) -> SqlResult<Statement> {
        self.expect("INSERT")?;
        self.expect("INTO")?;
        let table = self.ident()?;
        let key = if self.word("WITH") && !self.nth_word(1, "SELECT") {
            self.expect("WITH")?;
            let k = self.ident()?;
            self.expect("AS")?;
            self.expect("KEY")?;
            Some(k)
        } else {
            None
        };
        let query = self.query()?;
        Ok(Statement::Insert { table, key, query })
    }

    /// `select (UNION ALL select)*`; a union reads as a select of `*` over the union.
    fn query(&mut self) -> SqlResult<Select> {
        let pos = self.pos();
        let first = self.select()?;
        if !self.word("UNION") {
            return Ok(first);
        }
        let mut queries = vec![first];
        while self.word("UNION") {
            self.p.next_token();
            if !self.eat("ALL") {
                return Err(self.expected("`ALL` (only UNION ALL is supported)"));
            }
            queries.push(self.select()?);
        }
        Ok(Select::union_wrapper(queries, pos))
    }

    fn select(&mut self) -> SqlResult<Select> {
        let pos = self.pos();
        self.expect("SELECT")?;
        let distinct = self.word("DISTINCT").then(|| self.pos());
        if distinct.is_some() {
            self.p.next_token();
        }
        let mut items = Vec::new();
        loop {
            if self.p.peek_token_ref().token == Token::Mul {
                items.push(SelectItem::Wildcard(self.pos()));
                self.p.next_token();
            } else if matches!(self.p.peek_token_ref().token, Token::Word(_))
                && self.p.peek_nth_token_ref(1).token == Token::Period
                && self.p.peek_nth_token_ref(2).token == Token::Mul
            {
                let pos = self.pos();
                let qualifier = self.ident()?.name;
                self.p.next_token();
                self.p.next_token();
                items.push(SelectItem::QualifiedWildcard { qualifier, pos });
            } else {
                let expr = self.expr()?;
                let alias = self.implicit_alias()?;
                items.push(SelectItem::Expr { expr, alias });
            }
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect("FROM")?;
        let from = self.parse_from()?;
        let tvf = self.tvf.take();
        let selection = if self.eat("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut from = from;
        comma_join_condition(&mut from, selection.as_ref())?;
        top_n(&mut from, selection.as_ref())?;
        let mut group_by = None;
        let mut having = None;
        if self.eat("GROUP") {
            self.expect("BY")?;
            let mut keys = vec![self.expr()?];
            while self.list_continues() {
                keys.push(self.expr()?);
            }
            group_by = Some(keys);
        }
        if self.eat("HAVING") {
            having = Some(self.expr()?);
        }
        let coordinate = self.coordinate()?;
        if having.is_none() && self.eat("HAVING") {
            having = Some(self.expr()?);
        }
        if let Some(at) = distinct {
            // `SELECT DISTINCT a, b` is `SELECT a, b ... GROUP BY a, b`: one row per value.
            if group_by.is_some() || having.is_some() || coordinate.aggr.is_some() {
                return Err(SqlError::new(
                    at,
                    "SELECT DISTINCT with GROUP BY, HAVING or a window is not supported; \
                     group by the columns instead",
                ));
            }
            let mut keys = Vec::new();
            for item in &items {
                match item {
                    SelectItem::Expr { expr, .. } => keys.push(expr.clone()),
                    SelectItem::Wildcard(p) | SelectItem::QualifiedWildcard { pos: p, .. } => {
                        return Err(SqlError::new(
                            *p,
                            "SELECT DISTINCT * is not supported: name the columns",
                        ))
                    }
                }
            }
            group_by = Some(keys);
        }
        let mut select = Select {
            pos,
            items,
            from,
            selection,
            group_by,
            coordinate,
            having,
        };
        if let Some(tvf) = tvf {
            self.lower_tvf(&mut select, tvf)?;
        } else {
            self.lower_group_window(&mut select)?;
        }
        Ok(select)
    }

    /// The watermark delay of `table`'s column `col`, if its CREATE TABLE gave one.
    fn watermark_delay(&self, table: &str, col: &str) -> Option<u64> {
        self.watermarks
            .iter()
            .find(|(t, c, _)| t.eq_ignore_ascii_case(table) && c.eq_ignore_ascii_case(col))
            .map(|w| w.2)
    }

    /// Flink's legacy group window, `GROUP BY TUMBLE(col, INTERVAL 'n' unit), ...` with
    /// `TUMBLE_START(...)`, `TUMBLE_END(...)` and `TUMBLE_ROWTIME(...)` in SELECT and HAVING: the
    /// same windowed aggregate as the TUMBLE TVF.
    fn lower_group_window(&mut self, q: &mut Select) -> SqlResult<()> {
        let Some(keys) = q.group_by.as_mut() else {
            return Ok(());
        };
        fn call(e: &Expr) -> Option<(String, &sqlparser::ast::Function)> {
            match e {
                Expr::Function(f) => Some((f.name.to_string().to_ascii_uppercase(), f)),
                _ => None,
            }
        }
        let Some(at) = keys.iter().position(|k| {
            call(k).is_some_and(|(n, _)| matches!(n.as_str(), "TUMBLE" | "HOP" | "SESSION"))
        }) else {
            return Ok(());
        };
        let key = keys.remove(at);
        let pos = super::bind::pos_of(&key);
        let (name, f) = call(&key).expect("a call");
        if name != "TUMBLE" {
            return Err(SqlError::new(
                pos,
                format!(
                    "the group window {name} is not supported yet; TUMBLE is. EC-SQL's \
                     `WITH SW INTERVAL` with `agg(x SW)` slides (docs/windows.md)"
                ),
            ));
        }
        let args: Vec<&Expr> = match &f.args {
            sqlparser::ast::FunctionArguments::List(l) => l
                .args
                .iter()
                .filter_map(|a| match a {
                    sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(e),
                    ) => Some(e),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let (time, size_ms) = match args.as_slice() {
            [Expr::Identifier(col), size] => match interval_expr_ms(size) {
                Some(ms) if ms > 0 => (col.value.clone(), ms),
                _ => {
                    return Err(SqlError::new(
                        super::bind::pos_of(size),
                        "TUMBLE's size is an interval of whole seconds or more, such as \
                         INTERVAL '1' MINUTE",
                    ))
                }
            },
            _ => {
                return Err(SqlError::new(
                    pos,
                    "a group window is written TUMBLE(time_column, INTERVAL 'n' unit)",
                ))
            }
        };
        if keys.is_empty() {
            keys.push(Expr::value(sqlparser::ast::Value::Number(
                "1".into(),
                false,
            )));
        }
        let bounds = [
            ("TUMBLE_START", 0),
            ("TUMBLE_END", size_ms),
            ("TUMBLE_ROWTIME", size_ms - 1),
        ];
        let replace = |e: &mut Expr| {
            let _ = sqlparser::ast::visit_expressions_mut(e, |e| {
                let offset =
                    call(e).and_then(|(n, _)| bounds.iter().find(|b| b.0 == n).map(|b| b.1));
                if let Some(offset) = offset {
                    *e = window_bound(offset);
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        };
        for item in &mut q.items {
            if let SelectItem::Expr { expr, .. } = item {
                replace(expr);
            }
        }
        if let Some(h) = q.having.as_mut() {
            replace(h);
        }
        let lateness_ms = match &q.from {
            FromItem::Table { name, .. } => self.watermark_delay(&name.name, &time),
            _ => None,
        };
        let time = Ident { name: time, pos };
        set_window(
            q,
            &Tvf {
                pos,
                time,
                size_ms,
                lateness_ms,
            },
        )
    }

    /// `CREATE [TEMPORARY] VIEW [IF NOT EXISTS] name AS select`: a named query, as EC-SQL's
    /// `WITH name AS (select)` is.
    fn create_view(&mut self) -> SqlResult<Statement> {
        self.expect("CREATE")?;
        self.eat("TEMPORARY");
        self.expect("VIEW")?;
        if self.eat("IF") {
            self.expect("NOT")?;
            self.expect("EXISTS")?;
        }
        let name = self.ident()?;
        self.expect("AS")?;
        let query = self.query()?;
        Ok(Statement::With { name, query })
    }

    /// `WATERMARK FOR col AS col [- INTERVAL 'n' unit]` in a CREATE TABLE: the table's event
    /// time column and how late its rows may come (the delay), in ms.
    fn watermark(&mut self, columns: &[&str]) -> SqlResult<(String, u64)> {
        self.expect("WATERMARK")?;
        self.expect("FOR")?;
        let col = self.ident()?;
        if !columns.iter().any(|c| c.eq_ignore_ascii_case(&col.name)) {
            return Err(SqlError::new(
                col.pos,
                format!(
                    "WATERMARK FOR `{}`: no such column declared before it",
                    col.name
                ),
            ));
        }
        self.expect("AS")?;
        let at = self.pos();
        let same = self.ident()?;
        if !same.name.eq_ignore_ascii_case(&col.name) {
            return Err(SqlError::new(
                at,
                format!(
                    "a watermark is written `WATERMARK FOR {0} AS {0} - INTERVAL 'n' SECOND`: \
                     tally takes the delay behind the column itself, not another expression",
                    col.name
                ),
            ));
        }
        let delay_ms = if self.p.consume_token(&Token::Minus) {
            self.interval_ms()?
        } else {
            0
        };
        Ok((col.name, delay_ms))
    }

    /// `INTERVAL 'n' unit` (or `INTERVAL n unit`), unit one of SECOND, MINUTE, HOUR, DAY (or
    /// their plurals): milliseconds.
    fn interval_ms(&mut self) -> SqlResult<u64> {
        self.expect("INTERVAL")?;
        let at = self.pos();
        let n = match self.peek() {
            Token::SingleQuotedString(s) | Token::Number(s, _) => s,
            _ => return Err(self.expected("the interval's length, such as '10'")),
        };
        let n: u64 = n.trim().parse().map_err(|_| {
            SqlError::new(
                at,
                format!("an interval's length must be a whole number, found `{n}`"),
            )
        })?;
        self.p.next_token();
        let unit = self.ident()?;
        let ms = match unit.name.to_ascii_uppercase().as_str() {
            "SECOND" | "SECONDS" => 1_000,
            "MINUTE" | "MINUTES" => 60_000,
            "HOUR" | "HOURS" => 3_600_000,
            "DAY" | "DAYS" => 86_400_000,
            other => {
                return Err(SqlError::new(
                    unit.pos,
                    format!("expected SECOND, MINUTE, HOUR or DAY after an interval's length, found `{other}`"),
                ))
            }
        };
        Ok(n * ms)
    }

    /// `TABLE(TUMBLE(TABLE t, DESCRIPTOR(col), INTERVAL 'n' unit)) [alias]`, Flink's window
    /// table function: the table, with the window kept for [`P::lower_tvf`].
    fn window_tvf(&mut self) -> SqlResult<FromItem> {
        self.expect("TABLE")?;
        self.expect_token(Token::LParen)?;
        let func = self.ident()?;
        let kind = func.name.to_ascii_uppercase();
        match kind.as_str() {
            "TUMBLE" => {}
            "HOP" | "CUMULATE" | "SESSION" => {
                return Err(SqlError::new(
                    func.pos,
                    format!(
                        "the window TVF {kind} is not supported yet; TUMBLE is. EC-SQL's \
                         windows do what HOP and CUMULATE do: `WITH SW INTERVAL` with \
                         `agg(x SW)` slides, `WITH ACCU INTERVAL` with `agg(x ACCU)` \
                         accumulates (docs/windows.md)"
                    ),
                ))
            }
            _ => {
                return Err(SqlError::new(
                    func.pos,
                    format!(
                        "`TABLE({})` is no window table function tally knows: TUMBLE is",
                        func.name
                    ),
                ))
            }
        }
        self.expect_token(Token::LParen)?;
        self.expect("TABLE")?;
        let table = self.ident()?;
        self.expect_token(Token::Comma)?;
        self.expect("DESCRIPTOR")?;
        self.expect_token(Token::LParen)?;
        let time = self.ident()?;
        self.expect_token(Token::RParen)?;
        self.expect_token(Token::Comma)?;
        let at = self.pos();
        let size_ms = self.interval_ms()?;
        if size_ms == 0 {
            return Err(SqlError::new(at, "a window must be at least 1 second long"));
        }
        self.expect_token(Token::RParen)?;
        self.expect_token(Token::RParen)?;
        let alias = self.implicit_alias()?;
        let lateness_ms = self.watermark_delay(&table.name, &time.name);
        self.tvf = Some(Tvf {
            pos: func.pos,
            time,
            size_ms,
            lateness_ms,
        });
        Ok(FromItem::Table { name: table, alias })
    }

    /// A SELECT over a window TVF as the windowed aggregate it is: `COORDINATE BY col WITH
    /// AGGR INTERVAL size`, `window_start` and `window_end` out of GROUP BY (the window is
    /// the aggregate's), and `window_start`, `window_end`, `window_time` in SELECT and HAVING
    /// as the window's bounds (TIMESTAMP(3) text, `window_time` the last millisecond in it).
    fn lower_tvf(&mut self, q: &mut Select, tvf: Tvf) -> SqlResult<()> {
        let Some(keys) = q.group_by.as_mut() else {
            return Err(SqlError::new(
                tvf.pos,
                "a window TVF is read by an aggregate with `GROUP BY window_start, window_end, \
                 ...`; reading its rows otherwise is not supported yet",
            ));
        };
        let bound = |e: &Expr| match e {
            Expr::Identifier(i) => WINDOW_BOUNDS
                .iter()
                .position(|b| i.value.eq_ignore_ascii_case(b)),
            _ => None,
        };
        let found: Vec<usize> = keys.iter().filter_map(bound).collect();
        if !(found.contains(&0) && found.contains(&1)) {
            return Err(SqlError::new(
                q.pos,
                "a window TVF's aggregate must GROUP BY window_start and window_end (as Flink \
                 requires)",
            ));
        }
        keys.retain(|k| bound(k).is_none());
        if keys.is_empty() {
            keys.push(Expr::value(sqlparser::ast::Value::Number(
                "1".into(),
                false,
            )));
        }
        let size = tvf.size_ms;
        let offsets = [0, size, size - 1];
        let replace = |e: &mut Expr| {
            let _ = sqlparser::ast::visit_expressions_mut(e, |e| {
                if let Some(b) = bound(e) {
                    *e = window_bound(offsets[b]);
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        };
        for item in &mut q.items {
            if let SelectItem::Expr { expr, alias } = item {
                if let (None, Expr::Identifier(i)) = (&alias, &*expr) {
                    if bound(expr).is_some() {
                        *alias = Some(Ident {
                            name: i.value.clone(),
                            pos: q.pos,
                        });
                    }
                }
                replace(expr);
            }
        }
        if let Some(h) = q.having.as_mut() {
            replace(h);
        }
        set_window(q, &tvf)
    }

    fn coordinate(&mut self) -> SqlResult<Coordinate> {
        let mut c = Coordinate::default();
        if self.word("COORDINATE") {
            c.by_pos = Some(self.pos());
            self.p.next_token();
            self.expect("BY")?;
            c.by = Some(self.expr()?);
        }
        while self.word("WITH")
            && (self.nth_word(1, "AGGR") || self.nth_word(1, "ACCU") || self.nth_word(1, "SW"))
        {
            self.p.next_token();
            let kind_pos = self.pos();
            let kind = self.ident()?.name.to_ascii_uppercase();
            self.expect("INTERVAL")?;
            let pos = self.pos();
            let seconds = self.uint()?;
            if !(self.eat("SECONDS") || self.eat("SECOND")) {
                return Err(self.expected("`SECONDS`"));
            }
            if seconds == 0 {
                return Err(SqlError::new(
                    pos,
                    "a window interval must be at least 1 second",
                ));
            }
            let slot = match kind.as_str() {
                "AGGR" => &mut c.aggr,
                "ACCU" => &mut c.accu,
                _ => &mut c.sw,
            };
            if slot.is_some() {
                return Err(SqlError::new(
                    kind_pos,
                    format!("WITH {kind} INTERVAL is given twice"),
                ));
            }
            *slot = Some(Interval { seconds, pos });
        }
        Ok(c)
    }

    fn parse_from(&mut self) -> SqlResult<FromItem> {
        let mut item = self.parse_from_primary()?;
        loop {
            let at = self.pos();
            if self.word("JOIN") || (self.word("INNER") && self.nth_word(1, "JOIN")) {
                self.eat("INNER");
                self.p.next_token();
                // Flink's lookup join of a dimension, `JOIN t FOR SYSTEM_TIME AS OF x.proctime`:
                // tally's dimension join, without the stream rows no dimension row matches.
                if self.nth_word(1, "FOR") && self.nth_word(2, "SYSTEM_TIME") {
                    item = self.lookup_join(item, true)?;
                    continue;
                }
                let right = self.parse_from_primary()?;
                self.expect("ON")?;
                let on = self.expr()?;
                item = FromItem::Join {
                    left: Box::new(item),
                    right: Box::new(right),
                    on: Some(Box::new(on)),
                    pos: at,
                };
                continue;
            }
            if self.comma_join_follows() {
                self.p.next_token();
                let right = self.parse_from_primary()?;
                item = FromItem::Join {
                    left: Box::new(item),
                    right: Box::new(right),
                    on: None,
                    pos: at,
                };
                continue;
            }
            if !self.word("LEFT") {
                break;
            }
            self.p.next_token();
            self.eat("OUTER");
            self.expect("JOIN")?;
            item = self.lookup_join(item, false)?;
        }
        if self.word("RIGHT") || self.word("FULL") || self.word("CROSS") {
            return Err(SqlError::new(
                self.pos(),
                "RIGHT, FULL and CROSS joins are not supported: write an inner JOIN ... ON of \
                 two streams, or a LEFT JOIN of a dimension table",
            ));
        }
        Ok(item)
    }

    /// `dim [FOR SYSTEM_TIME AS OF expr] [alias] ON expr` after LEFT JOIN (or, `inner`, after
    /// JOIN): a join of a dimension table, kept current, by key. The time is the stream's
    /// processing time in Flink's lookup joins, which is when tally joins a row.
    fn lookup_join(&mut self, left: FromItem, inner: bool) -> SqlResult<FromItem> {
        let right = self.ident()?;
        if self.eat("FOR") {
            self.expect("SYSTEM_TIME")?;
            self.expect("AS")?;
            self.expect("OF")?;
            self.expr()?;
        }
        let alias = if self.word("ON") {
            None
        } else {
            self.implicit_alias()?
        };
        self.expect("ON")?;
        let on = self.expr()?;
        Ok(FromItem::LeftJoin {
            left: Box::new(left),
            right,
            alias,
            on: Box::new(on),
            inner,
        })
    }

    /// A comma in FROM followed by another table or subquery: `FROM a, b WHERE a.k = b.k`. A
    /// comma before INSERT, WITH or SELECT separates EC-SQL statements instead.
    fn comma_join_follows(&self) -> bool {
        if self.p.peek_token_ref().token != Token::Comma {
            return false;
        }
        match &self.p.peek_nth_token_ref(1).token {
            Token::Word(w) => !["INSERT", "WITH", "SELECT"]
                .iter()
                .any(|k| w.value.eq_ignore_ascii_case(k)),
            Token::LParen => true,
            _ => false,
        }
    }

    fn parse_from_primary(&mut self) -> SqlResult<FromItem> {
        let pos = self.pos();
        if self.p.consume_token(&Token::LParen) {
            let query = self.query()?;
            self.expect_token(Token::RParen)?;
            // Flink lets a subquery go without a name (`FROM (SELECT ...) WHERE ...`).
            let alias = self.implicit_alias()?.unwrap_or_else(|| Ident {
                name: "__subquery".to_string(),
                pos,
            });
            return Ok(FromItem::Subquery {
                query: Box::new(query),
                alias,
            });
        }
        if self.word("TABLE") && self.p.peek_nth_token_ref(1).token == Token::LParen {
            return self.window_tvf();
        }
        if self.word("__innertable") {
            self.p.next_token();
            self.expect_token(Token::LParen)?;
            let at = self.pos();
            let interval_ms = self.uint()?;
            if interval_ms == 0 {
                return Err(SqlError::new(
                    at,
                    "__innertable needs an interval of at least 1 ms",
                ));
            }
            self.expect_token(Token::RParen)?;
            return Ok(FromItem::InnerTable { interval_ms, pos });
        }
        let name = self.ident()?;
        let alias = self.implicit_alias()?;
        Ok(FromItem::Table { name, alias })
    }

    fn set(&mut self) -> SqlResult<(String, Setting)> {
        self.expect("SET")?;
        let (key, key_pos) = self.string_or_word()?;
        self.expect_token(Token::Eq)?;
        let (value, pos) = self.string_or_word()?;
        Ok((
            key.to_ascii_lowercase(),
            Setting {
                value,
                pos,
                key_pos,
            },
        ))
    }

    fn string_or_word(&mut self) -> SqlResult<(String, Pos)> {
        let pos = self.pos();
        let s = match self.peek() {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
            Token::Number(n, _) => n,
            Token::Word(w) => {
                // Dotted keys such as lateness.seconds.
                self.p.next_token();
                let mut s = w.value;
                while self.p.consume_token(&Token::Period) {
                    s.push('.');
                    s.push_str(&self.ident()?.name);
                }
                return Ok((s, pos));
            }
            _ => return Err(self.expected("a quoted string")),
        };
        self.p.next_token();
        Ok((s, pos))
    }

    /// A column's type as text: sqlparser's reading of it, or Flink's `ROW<name type, ...>` /
    /// `ROW(name type, ...)` (which sqlparser does not read) as its tokens up to the bracket
    /// that closes it.
    fn column_type(&mut self) -> SqlResult<String> {
        let at = self.pos();
        if !self.word("ROW") {
            let ty = self.p.parse_data_type().map_err(|e| parser_error(e, at))?;
            return Ok(ty.to_string());
        }
        self.p.next_token();
        if !matches!(self.p.peek_token_ref().token, Token::Lt | Token::LParen) {
            return Err(self.expected("`<` or `(` after ROW"));
        }
        let mut text = String::from("ROW");
        let mut depth = 0i32;
        loop {
            let t = self.p.next_token();
            match &t.token {
                Token::Lt | Token::LParen => depth += 1,
                Token::Gt | Token::RParen => depth -= 1,
                // `ROW<a ROW<b INT>>`: the tokenizer reads the two closing brackets as one.
                Token::ShiftRight => depth -= 2,
                Token::EOF | Token::SemiColon => {
                    return Err(SqlError::new(at, "this ROW type is not closed".to_string()))
                }
                _ => {}
            }
            text.push(' ');
            match &t.token {
                Token::Word(w) => text.push_str(&w.value),
                other => text.push_str(&other.to_string()),
            }
            if depth <= 0 {
                break;
            }
        }
        Ok(text)
    }

    /// `CREATE TABLE name (col type, ... [, PRIMARY KEY (cols) NOT ENFORCED]) WITH ('k'='v', ...)`.
    fn create_table(&mut self) -> SqlResult<TableDesc> {
        let pos = self.pos();
        self.expect("CREATE")?;
        self.expect("TABLE")?;
        if self.eat("IF") {
            self.expect("NOT")?;
            self.expect("EXISTS")?;
        }
        let name = self.ident()?;
        let mut fields: Vec<Field> = Vec::new();
        let mut computed: Vec<(Ident, Expr)> = Vec::new();
        let mut decls = Vec::new();
        let mut settings = BTreeMap::new();
        self.expect_token(Token::LParen)?;
        loop {
            if self.eat("PRIMARY") {
                self.expect("KEY")?;
                let at = self.pos();
                self.expect_token(Token::LParen)?;
                let mut cols = vec![self.ident()?.name];
                while self.p.consume_token(&Token::Comma) {
                    cols.push(self.ident()?.name);
                }
                self.expect_token(Token::RParen)?;
                if self.eat("NOT") {
                    self.expect("ENFORCED")?;
                }
                settings.insert(
                    "primary.key".to_string(),
                    Setting {
                        value: cols.join(","),
                        pos: at,
                        key_pos: at,
                    },
                );
            } else if self.word("WATERMARK") {
                let mut names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                names.extend(
                    computed
                        .iter()
                        .map(|(c, _): &(Ident, Expr)| c.name.as_str()),
                );
                let (col, delay_ms) = self.watermark(&names)?;
                self.watermarks
                    .push((name.name.to_ascii_lowercase(), col, delay_ms));
            } else if matches!(self.p.peek_nth_token_ref(1).token, Token::Word(ref w) if w.value.eq_ignore_ascii_case("AS"))
            {
                // A computed column: `ts AS TO_TIMESTAMP_LTZ(dTime, 3)`.
                let col = self.ident()?;
                self.expect("AS")?;
                let expr = self.expr()?;
                computed.push((col, expr));
            } else {
                let col = self.ident()?;
                let at = self.pos();
                let ty = self.column_type()?;
                decls.push(FieldDecl {
                    ty: ty.clone(),
                    pos: at,
                });
                let ty = DataType::parse_checked(&ty).map_err(|why| {
                    SqlError::new(
                        at,
                        why.unwrap_or_else(|| format!("unsupported column type {ty}")),
                    )
                })?;
                if fields
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(&col.name))
                {
                    return Err(SqlError::new(
                        col.pos,
                        format!("column `{}` is declared twice", col.name),
                    ));
                }
                fields.push(Field { name: col.name, ty });
            }
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(Token::RParen)?;
        self.expect("WITH")?;
        self.expect_token(Token::LParen)?;
        let mut raw: Vec<(String, Setting)> = Vec::new();
        loop {
            let (k, key_pos) = self.string_or_word()?;
            self.expect_token(Token::Eq)?;
            let (v, at) = self.string_or_word()?;
            raw.push((
                k.to_ascii_lowercase(),
                Setting {
                    value: v,
                    pos: at,
                    key_pos,
                },
            ));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(Token::RParen)?;
        // 'connector' is Flink's name for the type; plain keys belong to the type's namespace.
        let ty = raw
            .iter()
            .find(|(k, _)| k == "connector" || k == "type")
            .map(|(_, v)| match v.value.to_ascii_lowercase().as_str() {
                "tpg" => "postgres".to_string(),
                "tube" => "kafka".to_string(),
                // Flink's filesystem connector reading a file is tally's `file` table.
                "filesystem" => "file".to_string(),
                // Flink's upsert-kafka sink is tally's kafka sink: a keyed change log.
                "upsert-kafka" => "kafka".to_string(),
                other => other.to_string(),
            })
            .ok_or_else(|| {
                SqlError::new(pos, format!("table `{}` needs 'connector'", name.name))
            })?;
        const TYPES: &[&str] = &[
            "file.",
            "generator.",
            "kafka.",
            "mysql.",
            "postgres.",
            "redis.",
            "csv.",
        ];
        for (k, mut v) in raw {
            let k = if ty == "kafka" {
                flink_kafka_option(k, &mut v)?
            } else {
                k
            };
            // Flink's csv format option, for any connector that reads a format.
            let k = if k == "csv.field-delimiter" {
                "field.splitter".to_string()
            } else {
                k
            };
            // tally always counts and skips a malformed record: what Flink's option asks.
            if k == "csv.ignore-parse-errors" || k == "json.ignore-parse-errors" {
                if v.value.eq_ignore_ascii_case("true") {
                    continue;
                }
                return Err(SqlError::new(
                    v.pos,
                    format!(
                        "'{k}' = '{}' is not supported: tally counts a malformed record and \
                         skips it (tally_bad_rows_total), which is 'true'",
                        v.value
                    ),
                ));
            }
            if (k == "connector" || k == "type") && v.value.eq_ignore_ascii_case("filesystem") {
                v.value = "file".to_string();
            }
            if (k == "connector" || k == "type") && v.value.eq_ignore_ascii_case("upsert-kafka") {
                v.value = "kafka".to_string();
                settings.insert(
                    "kafka.upsert".to_string(),
                    Setting {
                        value: "true".to_string(),
                        pos: v.pos,
                        key_pos: v.key_pos,
                    },
                );
            }
            // upsert-kafka's key and value are JSON objects, as tally's kafka sink writes them.
            if ty == "kafka" && (k == "key.format" || k == "value.format") {
                if v.value.eq_ignore_ascii_case("json") {
                    continue;
                }
                return Err(SqlError::new(
                    v.pos,
                    format!(
                        "'{k}' = '{}' is not supported: tally writes a Kafka record's key and \
                         value as JSON objects ('json')",
                        v.value
                    ),
                ));
            }
            let key = match k.as_str() {
                "connector" | "type" => "type".to_string(),
                "emit"
                | "flush.ms"
                | "field.splitter"
                | "collection.splitter"
                | "map.splitter"
                | "field.key"
                | "field.version"
                | "primary.key" => k,
                _ if TYPES.iter().any(|t| k.starts_with(t)) => k,
                // `'host'`, `'poll.ms'`: the type's own settings.
                _ => format!("{ty}.{k}"),
            };
            settings.insert(key, v);
        }
        if !computed.is_empty() {
            self.computed.push((name.clone(), computed));
        }
        let watermark = self
            .watermarks
            .iter()
            .rev()
            .find(|(t, _, _)| t.eq_ignore_ascii_case(&name.name))
            .map(|(_, c, d)| (c.clone(), *d));
        Ok(TableDesc {
            name: name.name,
            pos,
            schema: Schema::new(fields),
            decls,
            settings,
            watermark,
        })
    }
}

impl Select {
    /// `(a UNION ALL b) alias` as a select over the union, so a union reads like a subquery.
    fn union_wrapper(queries: Vec<Select>, pos: Pos) -> Select {
        Select {
            pos,
            items: vec![SelectItem::Wildcard(pos)],
            from: FromItem::UnionAll { queries, pos },
            selection: None,
            group_by: None,
            coordinate: Coordinate::default(),
            having: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one error of a `.sql` file that has exactly one.
    fn one_error(text: &str) -> SqlError {
        let mut errors = parse_sql_file(text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.remove(0)
    }

    fn one(sql: &str) -> Select {
        let script = parse_script(sql).unwrap();
        match script.statements.into_iter().last().unwrap() {
            Statement::Insert { query, .. } | Statement::Select { query } => query,
            Statement::With { query, .. } => query,
        }
    }

    #[test]
    fn coordinate_clauses() {
        let q = one(
            "INSERT INTO dest SELECT appId, count(qq), count(qq ACCU), count(qq SW) FROM src \
             GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \
             WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 1800 SECONDS",
        );
        assert_eq!(q.coordinate.aggr.unwrap().seconds, 60);
        assert_eq!(q.coordinate.accu.unwrap().seconds, 3600);
        assert_eq!(q.coordinate.sw.unwrap().seconds, 1800);
        assert_eq!(q.coordinate.by.unwrap().to_string(), "dTime");
        let SelectItem::Expr { expr, .. } = &q.items[2] else {
            panic!()
        };
        assert_eq!(expr.to_string(), "__accu__count(qq)");
        assert_eq!(display_expr(expr), "count(qq ACCU)");
        let SelectItem::Expr { expr, .. } = &q.items[3] else {
            panic!()
        };
        assert_eq!(display_expr(expr), "count(qq SW)");
    }

    #[test]
    fn modifiers_only_after_an_argument() {
        let q = one(
            "SELECT max(sw), count(accu), countd(sw), count(DISTINCT sw), sum(a + sw), \
             count(t.accu), max(a * sw), count(sw SW), count(accu ACCU), count(* ACCU), \
             count(1 SW), sum(if(x, 1, 0) ACCU) FROM t",
        );
        let shown: Vec<String> = q
            .items
            .iter()
            .map(|i| match i {
                SelectItem::Expr { expr, .. } => expr.to_string(),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard { .. } => {
                    panic!("no wildcard")
                }
            })
            .collect();
        assert_eq!(
            shown,
            [
                "max(sw)",
                "count(accu)",
                "countd(sw)",
                "count(DISTINCT sw)",
                "sum(a + sw)",
                "count(t.accu)",
                "max(a * sw)",
                "__sw__count(sw)",
                "__accu__count(accu)",
                "__accu__count(*)",
                "__sw__count(1)",
                "__accu__sum(if(x, 1, 0))",
            ]
        );
        // Nor after the words of FOREACH and EXECUTE, nor is a keyword before `(` a function.
        let q = one(
            "SELECT EXECUTE({ } EMIT sw), FOREACH(x IN a GENERATE accu) \
             FROM (SELECT a, sw, accu FROM t sw) q",
        );
        let shown: Vec<String> = q
            .items
            .iter()
            .map(|i| match i {
                SelectItem::Expr { expr, .. } => display_expr(expr),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard { .. } => {
                    panic!("no wildcard")
                }
            })
            .collect();
        assert_eq!(
            shown,
            ["EXECUTE({  } EMIT sw)", "FOREACH(x IN a GENERATE accu)"]
        );
        let FromItem::Subquery { query, .. } = &q.from else {
            panic!("a subquery")
        };
        assert!(
            matches!(&query.from, FromItem::Table { alias: Some(a), .. } if a.name == "sw"),
            "{:?}",
            query.from
        );
    }

    #[test]
    fn hive_string_escapes() {
        let cases = [
            (r"\\d+", r"\d+"),
            (r"it's", "it's"),
            (r"a\tb\nc\rd", "a\tb\nc\rd"),
            (r"\0\b\Z", "\0\u{8}\u{1a}"),
            (r#"\"q\""#, "\"q\""),
            (r"\%\_", r"\%\_"),
            (r"\d\q\u", "dqu"),
            (r"\u00e9\u4e2d", "\u{e9}\u{4e2d}"),
            (r"\u00zz", "u00zz"),
            (r"\101\011\177\200", "A\t\u{7f}200"),
            (r"\08", "\08"),
            (r"\\\\", r"\\"),
            (r"tail\", r"tail\"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape_string(raw), want, "{raw}");
        }
        // The parser keeps the escapes as written, with doubled and escaped quotes made one.
        let q = one(r#"SELECT 'a\'b''c\\', "x\"y""z", `we``ird` FROM t"#);
        let shown: Vec<String> = q
            .items
            .iter()
            .map(|i| match i {
                SelectItem::Expr { expr, .. } => format!("{expr:?}"),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard { .. } => {
                    panic!("no wildcard")
                }
            })
            .collect();
        assert!(
            shown[0].contains(r#"SingleQuotedString("a'b'c\\\\")"#),
            "{}",
            shown[0]
        );
        assert!(
            shown[1].contains(r#"DoubleQuotedString("x\"y\"z")"#),
            "{}",
            shown[1]
        );
        assert!(shown[2].contains(r#"value: "we`ird""#), "{}", shown[2]);
    }

    #[test]
    fn with_chains_and_aliases() {
        let s = parse_script(
            "WITH (SELECT AGGRTIME agtime, qq FROM src GROUP BY qq COORDINATE BY \
             unix_timestamp()*1000 WITH AGGR INTERVAL 60 SECONDS) tmp \
             INSERT INTO dest SELECT count(1) FROM tmp GROUP BY 1 COORDINATE BY agtime \
             WITH AGGR INTERVAL 60 SECONDS; INSERT INTO d2 SELECT adid, count(qq) pv, \
             countd(qq) AS uv FROM productTbl GROUP BY adid",
        )
        .unwrap();
        assert_eq!(s.statements.len(), 3);
        let Statement::With { name, query } = &s.statements[0] else {
            panic!()
        };
        assert_eq!(name.name, "tmp");
        let SelectItem::Expr { alias, .. } = &query.items[0] else {
            panic!()
        };
        assert_eq!(alias.as_ref().unwrap().name, "agtime");
        let Statement::Insert { query, .. } = &s.statements[2] else {
            panic!()
        };
        let SelectItem::Expr { alias, .. } = &query.items[2] else {
            panic!()
        };
        assert_eq!(alias.as_ref().unwrap().name, "uv");
    }

    #[test]
    fn standard_with_subquery_join_innertable() {
        let s = parse_script(
            "WITH a AS (SELECT x FROM t), b AS (SELECT x FROM a) INSERT INTO o SELECT x FROM b",
        )
        .unwrap();
        assert_eq!(s.statements.len(), 3);
        let q = one("SELECT n FROM (SELECT x n FROM t WHERE x > 1) s");
        assert!(matches!(q.from, FromItem::Subquery { .. }));
        let q = one("SELECT round(3.1415926, 4) FROM __innertable(1000)");
        assert!(matches!(
            q.from,
            FromItem::InnerTable {
                interval_ms: 1000,
                ..
            }
        ));
        let q = one("SELECT a FROM src LEFT JOIN dim d ON src.ip = d.ip GROUP BY d.c");
        assert!(matches!(q.from, FromItem::LeftJoin { .. }));
        let q = one(
            "INSERT INTO o SELECT a FROM t UNION ALL SELECT b FROM u UNION ALL SELECT c FROM v",
        );
        let FromItem::UnionAll { queries, .. } = &q.from else {
            panic!("a union")
        };
        assert_eq!(queries.len(), 3);
        let q = one("SELECT 7 DIV 2, a % 3 FROM t GROUP BY 1 HAVING count(1) > 3");
        assert!(q.having.is_some());
    }

    #[test]
    fn errors_have_positions() {
        let e = parse_script("INSERT INTO d SELECT a,\n  FROM t").unwrap_err();
        assert_eq!(e.pos, Pos::new(2, 3), "{e:?}");
        let e =
            parse_script("SELECT a FROM t GROUP BY a COORDINATE BY t WITH AGGR INTERVAL x SECONDS")
                .unwrap_err();
        assert!(e.message.contains("whole number"), "{e:?}");
        let e = parse_script("SELEC a FROM t").unwrap_err();
        assert_eq!(e.pos, Pos::new(1, 1));
        let e = parse_script("WITH (SELECT a FROM t) x").unwrap_err();
        assert!(e.message.contains("no INSERT"), "{e:?}");
    }

    #[test]
    fn ddl() {
        let f = parse_sql_file(
            "CREATE TABLE src (appId STRING, qq STRING, dTime BIGINT) WITH (\n\
             'connector' = 'file', 'path' = 'data.txt', 'field.splitter' = ';');\n\
             SET 'lateness.seconds' = '10';\n\
             INSERT INTO out SELECT appId, count(qq) FROM src GROUP BY appId;",
        )
        .unwrap();
        assert_eq!(f.tables[0].schema.names(), vec!["appId", "qq", "dTime"]);
        assert_eq!(f.tables[0].settings["type"].value, "file");
        assert_eq!(f.tables[0].settings["file.path"].value, "data.txt");
        assert_eq!(f.tables[0].settings["field.splitter"].value, ";");
        assert_eq!(f.settings["lateness.seconds"].value, "10");
    }

    const CLICKS: &str = "CREATE TABLE clicks (appId STRING, qq STRING, ts TIMESTAMP(3),\n\
         WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector' = 'file', 'path' = 'c');\n";

    #[test]
    fn a_tumble_tvf_is_the_windowed_aggregate_on_the_watermarked_column() {
        let f = parse_sql_file(&format!(
            "{CLICKS}INSERT INTO per_minute\n\
             SELECT appId, window_start, window_end AS we, window_time, COUNT(DISTINCT qq) uv\n\
             FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))\n\
             GROUP BY window_start, appId, window_end HAVING window_start > '2026'"
        ))
        .unwrap();
        assert_eq!(
            f.script.to_string(),
            "INSERT INTO per_minute SELECT appId, __timestamp_text(AGGRTIME) AS window_start, \
             __timestamp_text(AGGRTIME + 60000) AS we, \
             __timestamp_text(AGGRTIME + 59999) AS window_time, COUNT(DISTINCT qq) AS uv \
             FROM clicks GROUP BY appId COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS \
             HAVING __timestamp_text(AGGRTIME) > '2026'\n"
        );
        let Statement::Insert { query, .. } = &f.script.statements[0] else {
            panic!("{:?}", f.script)
        };
        // The table's watermark delay is the window's lateness.
        assert_eq!(query.coordinate.lateness_ms, Some(5_000));
        // Over a column without a WATERMARK (or in a .ec job), the job's lateness holds; a
        // window over the whole stream groups by 1.
        let q = one(
            "SELECT window_start, count(1) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(dTime), \
             INTERVAL '90' SECONDS)) GROUP BY window_start, window_end",
        );
        assert_eq!(q.coordinate.lateness_ms, None);
        assert_eq!(q.coordinate.aggr.map(|i| i.seconds), Some(90));
        assert_eq!(
            q.group_by.as_ref().map(|k| k[0].to_string()),
            Some("1".into())
        );
    }

    #[test]
    fn select_distinct_groups_by_its_columns() {
        let q = one("SELECT DISTINCT a, upper(b) AS u FROM t WHERE c > 1");
        assert_eq!(
            q.to_string(),
            "SELECT a, upper(b) AS u FROM t WHERE c > 1 GROUP BY a, upper(b)"
        );
        let e = parse_script("SELECT DISTINCT * FROM t").unwrap_err();
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                Pos::new(1, 17),
                "SELECT DISTINCT * is not supported: name the columns"
            )
        );
        let e = parse_script("SELECT DISTINCT a FROM t GROUP BY a").unwrap_err();
        assert_eq!(e.pos, Pos::new(1, 8), "{e:?}");
    }

    #[test]
    fn views_and_statement_sets_as_flink_writes_them() {
        let f = parse_sql_file(&format!(
            "{CLICKS}CREATE TEMPORARY VIEW app_a AS SELECT qq, ts FROM clicks WHERE appId = 'a';\n\
             CREATE VIEW IF NOT EXISTS app_b AS SELECT qq FROM clicks WHERE appId = 'b';\n\
             EXECUTE STATEMENT SET BEGIN\n\
             INSERT INTO o1 SELECT count(qq) FROM app_a GROUP BY 1;\n\
             INSERT INTO o2 SELECT count(qq) FROM app_b GROUP BY 1;\n\
             END;\n\
             BEGIN STATEMENT SET;\n\
             INSERT INTO o3 SELECT qq FROM app_b;\n\
             END;"
        ))
        .unwrap();
        assert_eq!(
            f.script.to_string(),
            "WITH (SELECT qq, ts FROM clicks WHERE appId = 'a') app_a\n\
             WITH (SELECT qq FROM clicks WHERE appId = 'b') app_b\n\
             INSERT INTO o1 SELECT count(qq) FROM app_a GROUP BY 1\n\
             INSERT INTO o2 SELECT count(qq) FROM app_b GROUP BY 1\n\
             INSERT INTO o3 SELECT qq FROM app_b\n"
        );
        let err = |sql: &str| {
            let e = one_error(&format!("{CLICKS}{sql}"));
            (e.pos.line, e.pos.col, e.message)
        };
        assert_eq!(
            err("EXECUTE STATEMENT SET BEGIN\nINSERT INTO o SELECT qq FROM clicks;"),
            (3, 1, "this STATEMENT SET is not closed with END".into())
        );
        assert_eq!(
            err("INSERT INTO o SELECT qq FROM clicks;\nEND;"),
            (4, 1, "END without a STATEMENT SET to close".into())
        );
    }

    #[test]
    fn a_legacy_group_window_is_the_same_windowed_aggregate() {
        let f = parse_sql_file(&format!(
            "{CLICKS}INSERT INTO per_minute\n\
             SELECT appId, TUMBLE_START(ts, INTERVAL '1' MINUTE) AS ws,\n\
             TUMBLE_END(ts, INTERVAL '1' MINUTE) AS we, COUNT(*) AS pv FROM clicks\n\
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), appId"
        ))
        .unwrap();
        assert_eq!(
            f.script.to_string(),
            "INSERT INTO per_minute SELECT appId, __timestamp_text(AGGRTIME) AS ws, \
             __timestamp_text(AGGRTIME + 60000) AS we, COUNT(*) AS pv \
             FROM clicks GROUP BY appId COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS\n"
        );
        let Statement::Insert { query, .. } = &f.script.statements[0] else {
            panic!("{:?}", f.script)
        };
        assert_eq!(query.coordinate.lateness_ms, Some(5_000));
        let e = one_error(&format!(
            "{CLICKS}INSERT INTO o SELECT COUNT(*) FROM clicks\n\
             GROUP BY SESSION(ts, INTERVAL '10' MINUTE)"
        ));
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                Pos::new(4, 10),
                "the group window SESSION is not supported yet; TUMBLE is. EC-SQL's \
                 `WITH SW INTERVAL` with `agg(x SW)` slides (docs/windows.md)"
            )
        );
    }

    #[test]
    fn what_a_window_tvf_cannot_be_is_said_where_it_is_written() {
        let err = |sql: &str| {
            let e = one_error(&format!("{CLICKS}{sql}"));
            (e.pos.line, e.pos.col, e.message)
        };
        let tvf = "FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))";
        assert_eq!(
            err(&format!(
                "INSERT INTO o SELECT count(1) {tvf} GROUP BY window_start"
            )),
            (
                3,
                15,
                "a window TVF's aggregate must GROUP BY window_start and window_end (as Flink \
                 requires)"
                    .into()
            )
        );
        assert_eq!(
            err(&format!("INSERT INTO o SELECT appId {tvf}")),
            (
                3,
                39,
                "a window TVF is read by an aggregate with `GROUP BY window_start, window_end, \
                 ...`; reading its rows otherwise is not supported yet"
                    .into()
            )
        );
        let (line, col, msg) = err(
            "INSERT INTO o SELECT count(1) FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)) GROUP BY window_start, window_end",
        );
        assert_eq!((line, col), (3, 42));
        assert!(
            msg.starts_with("the window TVF HOP is not supported yet; TUMBLE is."),
            "{msg}"
        );
        assert_eq!(
            err(&format!(
                "INSERT INTO o SELECT count(1) {tvf} GROUP BY window_start, window_end \
                 COORDINATE BY ts WITH AGGR INTERVAL 60 SECONDS"
            )),
            (
                3,
                135,
                "Flink's TUMBLE is the query's window: COORDINATE BY and WITH AGGR INTERVAL \
                 cannot be added to it"
                    .into()
            )
        );
        let e = one_error(
            "CREATE TABLE t (a STRING, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) \
             WITH ('connector' = 'file', 'path' = 'c');",
        );
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                Pos::new(1, 41),
                "WATERMARK FOR `ts`: no such column declared before it"
            )
        );
        let e = one_error(
            "CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' WEEK) \
             WITH ('connector' = 'file', 'path' = 'c');",
        );
        assert_eq!(
            (e.pos, e.message.as_str()),
            (
                Pos::new(1, 72),
                "expected SECOND, MINUTE, HOUR or DAY after an interval's length, found `WEEK`"
            )
        );
    }
}

/// Round trips: every EC-SQL extension parses, prints back as EC-SQL, and parses again to the
/// same script.
#[cfg(test)]
mod round_trip {
    use super::*;

    fn round_trip(sql: &str) -> String {
        let first = parse_script(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
            .to_string();
        let second = parse_script(&first)
            .unwrap_or_else(|e| panic!("{first}: {e:?}"))
            .to_string();
        assert_eq!(first, second, "printing is stable for {sql}");
        first
    }

    #[test]
    fn extensions_round_trip() {
        let cases = [
            (
                "insert into d select appId, count(qq), count(qq ACCU), count(qq SW) from src \
                 group by appId coordinate by dTime with aggr interval 60 seconds \
                 with accu interval 3600 seconds with sw interval 1800 seconds",
                "INSERT INTO d SELECT appId, count(qq), count(qq ACCU), count(qq SW) FROM src \
                 GROUP BY appId COORDINATE BY dTime WITH AGGR INTERVAL 60 SECONDS \
                 WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 1800 SECONDS\n",
            ),
            (
                "WITH (SELECT AGGRTIME agtime, qq FROM src GROUP BY qq COORDINATE BY \
                 unix_timestamp()*1000 WITH AGGR INTERVAL 60 SECONDS) tmp \
                 INSERT INTO dest SELECT count(1) FROM tmp GROUP BY 1",
                "WITH (SELECT AGGRTIME AS agtime, qq FROM src GROUP BY qq COORDINATE BY \
                 unix_timestamp() * 1000 WITH AGGR INTERVAL 60 SECONDS) tmp\n\
                 INSERT INTO dest SELECT count(1) FROM tmp GROUP BY 1\n",
            ),
            (
                "INSERT INTO t WITH k AS KEY SELECT k, v FROM s",
                "INSERT INTO t WITH k AS KEY SELECT k, v FROM s\n",
            ),
            (
                "SELECT country_id, count(qq) FROM src LEFT JOIN dim d ON src.ip = d.ip \
                 GROUP BY d.country_id HAVING count(qq) > 1",
                "SELECT country_id, count(qq) FROM src LEFT JOIN dim d ON src.ip = d.ip \
                 GROUP BY d.country_id HAVING count(qq) > 1\n",
            ),
            (
                "INSERT INTO o SELECT a FROM t UNION ALL SELECT b FROM u",
                "INSERT INTO o SELECT a FROM t UNION ALL SELECT b FROM u\n",
            ),
            (
                "SELECT round(3.5, 1) FROM __innertable(1000)",
                "SELECT round(3.5, 1) FROM __innertable(1000)\n",
            ),
            (
                "SELECT n FROM (SELECT x AS n FROM t WHERE x > 1) s",
                "SELECT n FROM (SELECT x AS n FROM t WHERE x > 1) s\n",
            ),
            (
                "SELECT qq, foreach(idx of path generate if(idx < size(path)-2, \
                 array(array_get(path, idx), path[idx+1]), null)) FROM tbl",
                "SELECT qq, FOREACH(idx OF path GENERATE if(idx < size(path) - 2, \
                 array(array_get(path, idx), path[idx + 1]), NULL)) FROM tbl\n",
            ),
            (
                "SELECT FOREACH(v IN m GENERATE FOREACH(w IN v GENERATE w.x)) FROM t",
                "SELECT FOREACH(v IN m GENERATE FOREACH(w IN v GENERATE w.x)) FROM t\n",
            ),
            (
                "SELECT execute(define i as int default 0, s as string default 'a,b' { \
                 for($i < 3, $s := concat($s, ','), IF($i > 1 { $s := 'x' }), $i := $i + 1) \
                 } emit $s) FROM t",
                "SELECT EXECUTE(DEFINE i AS INT DEFAULT 0, s AS STRING DEFAULT 'a,b' { \
                 for($i < 3, $s := concat($s, ','), IF($i > 1, $s := 'x'), $i := $i + 1) \
                 } EMIT $s) FROM t\n",
            ),
            // EasyCount's other spellings print in the one above.
            (
                "SELECT EXECUTE(DEFINE i int DEFAULT 0; DEFINE s AS bigint; { \
                 FOR($i < 3 $s := $s + $i; $i := $i + 1) } EMIT $s) FROM t",
                "SELECT EXECUTE(DEFINE i AS INT DEFAULT 0, s AS BIGINT DEFAULT NULL { \
                 FOR($i < 3, $s := $s + $i, $i := $i + 1) } EMIT $s) FROM t\n",
            ),
            (
                "SELECT EXECUTE({ } EMIT 1), EXECUTE(DEFINE a AS array<string> { } EMIT a[0]) \
                 FROM t",
                "SELECT EXECUTE({  } EMIT 1), EXECUTE(DEFINE a AS ARRAY<STRING> DEFAULT NULL \
                 {  } EMIT a[0]) FROM t\n",
            ),
            (
                r#"SELECT regexp_extract(s, '(\\d+)\'x', 1), 'it''s', 'a\tb', "q\"d""x", 'e\\' FROM t"#,
                "SELECT regexp_extract(s, '(\\\\d+)''x', 1), 'it''s', 'a\\tb', \"q\"\"d\"\"x\", 'e\\\\' FROM t\n",
            ),
            (
                "SELECT m['k'], s.m['a b'], m[concat('x', k)] FROM t WHERE m['k'] > 1",
                "SELECT m['k'], s.m['a b'], m[concat('x', k)] FROM t WHERE m['k'] > 1\n",
            ),
            (
                "SELECT c FROM src LEFT JOIN dim d ON lower(src.ip) = d.ip and d.since <= src.t \
                 AND NOT d.off",
                "SELECT c FROM src LEFT JOIN dim d ON lower(src.ip) = d.ip AND d.since <= src.t \
                 AND NOT d.off\n",
            ),
            // The standard form prints in EC-SQL's `WITH (query) name` form, which parses to the
            // same script.
            (
                "with a as (select x from t where x > 0), b AS (SELECT x, count(1) FROM a \
                 GROUP BY x) INSERT INTO o SELECT x FROM b",
                "WITH (SELECT x FROM t WHERE x > 0) a\n\
                 WITH (SELECT x, count(1) FROM a GROUP BY x) b\n\
                 INSERT INTO o SELECT x FROM b\n",
            ),
        ];
        for (sql, printed) in cases {
            assert_eq!(round_trip(sql), printed);
        }
    }
}
