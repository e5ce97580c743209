//! EC-SQL for tally: job files, the parser, the binder and planner, the plan handed to the
//! engine, and scalar expressions.
//!
//! The pipeline: job file -> [`job::Job`] (tables + [`ast::Script`]) -> [`bind`] (names, types,
//! casts) -> [`lower`] (plan nodes) -> [`plan::Plan`], a documented enum with no decisions left
//! in it. [`planner::plan`] runs the whole of it.

pub mod ast;
pub mod bind;
pub mod catalog;
pub mod error;
pub mod expr;
pub mod hll;
pub mod job;
pub mod lower;
pub mod parser;
pub mod plan;
pub mod planner;
pub mod types;

#[cfg(test)]
mod sql_tests;

pub use error::{Diagnostic, Pos};
pub use types::{DataType, Field, Row, Schema, Value};
