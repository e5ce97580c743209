//! `Node::Union`: UNION ALL is a concatenation of collections.

use super::Rows;

pub fn render<'s>(mut inputs: impl Iterator<Item = Rows<'s>>) -> Rows<'s> {
    let first = inputs.next().expect("a union has inputs");
    first.concatenate(inputs)
}
