//! `Node::Map`: evaluates the expressions on each row.

use std::sync::Arc;

use tally_connectors::Metrics;
use tally_sql::expr::ScalarExpr;
use tally_sql::Row;

use super::Rows;

pub fn render<'s>(
    rows: Rows<'s>,
    exprs: Vec<ScalarExpr>,
    label: &str,
    metrics: &Arc<Metrics>,
) -> Rows<'s> {
    if !exprs.iter().any(ScalarExpr::can_fail) {
        return rows.map(move |row| exprs.iter().map(|e| e.eval(&row)).collect::<Row>());
    }
    let (label, metrics) = (label.to_string(), metrics.clone());
    rows.flat_map(move |row| super::try_eval_all(&exprs, &row, &label, &metrics))
}
