//! `Node::Map`: evaluates the expressions on each row.

use tally_sql::expr::ScalarExpr;
use tally_sql::Row;

use super::Rows;

pub fn render(rows: Rows<'_>, exprs: Vec<ScalarExpr>) -> Rows<'_> {
    rows.map(move |row| exprs.iter().map(|e| e.eval(&row)).collect::<Row>())
}
