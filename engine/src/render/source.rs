//! `Node::Source`: a differential input that the worker loop feeds from the connector.

use differential_dataflow::input::{Input, InputSession};
use tally_sql::Row;
use timely::dataflow::Scope;

use super::Rows;

pub fn render<'s>(scope: Scope<'s, u64>) -> (InputSession<u64, Row, isize>, Rows<'s>) {
    scope.new_collection::<Row, isize>()
}
