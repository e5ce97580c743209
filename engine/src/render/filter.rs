//! `Node::Filter`: keeps the rows whose predicate is true (NULL filters out).

use std::sync::Arc;

use tally_connectors::Metrics;
use tally_sql::expr::ScalarExpr;

use super::Rows;

pub fn render<'s>(
    rows: Rows<'s>,
    predicate: ScalarExpr,
    label: &str,
    metrics: &Arc<Metrics>,
) -> Rows<'s> {
    if !predicate.can_fail() {
        return rows.filter(move |row| predicate.eval(row).is_true());
    }
    let (label, metrics) = (label.to_string(), metrics.clone());
    let exprs = [predicate];
    rows.filter(move |row| {
        super::try_eval_all(&exprs, row, &label, &metrics).is_some_and(|v| v[0].is_true())
    })
}
