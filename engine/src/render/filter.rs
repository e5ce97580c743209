//! `Node::Filter`: keeps the rows whose predicate is true (NULL filters out).

use tally_sql::expr::ScalarExpr;

use super::Rows;

pub fn render(rows: Rows<'_>, predicate: ScalarExpr) -> Rows<'_> {
    rows.filter(move |row| predicate.eval(row).is_true())
}
