//! EC-SQL for tally: job files, the parser, the binder and planner, the plan handed to the
//! engine, and scalar expressions.
//!
//! The pipeline: job file -> [`job::Job`] (tables + [`ast::Script`]) -> [`planner::plan`] ->
//! [`plan::Plan`], a documented enum with no decisions left in it.

pub mod ast;
pub mod catalog;
pub mod error;
pub mod expr;
pub mod hll;
pub mod job;
pub mod parser;
pub mod plan;
pub mod planner;
pub mod types;

#[cfg(test)]
mod sql_tests;

pub use error::{Diagnostic, Pos};
pub use types::{DataType, Field, Row, Schema, Value};
