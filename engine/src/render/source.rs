//! `Node::Source`: a differential input that the worker loop feeds from the connector.

use differential_dataflow::input::{Input, InputSession};
use tally_sql::Row;
use timely::dataflow::Scope;

use super::Rows;

pub fn render<'s>(scope: Scope<'s, u64>) -> (InputSession<u64, Row, isize>, Rows<'s>) {
    let (input, rows) = scope.new_collection::<Row, isize>();
    // Consumers always read an input through a pipeline operator: an Exchange pact fed directly
    // by an InputSession was seen (timely 0.31, -w 2) never to deliver a batch of a followed
    // dimension file; with a pipeline operator in between it is delivered (tests/cli.rs,
    // `a_dimension_change_revises_open_windows_only`).
    (input, rows.map(|row| row))
}
