//! Compile-time errors that point at the job file.

use std::fmt;

/// A position in a job file, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

/// An error found before anything runs: syntax, unknown name, type mismatch, bad table
/// description. Displays as `file:line:col: error: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.pos.line, self.pos.col, self.message
        )
    }
}

/// An error before positions are mapped back to the file: a position in the SQL text plus a
/// message. [`crate::job::Job`] turns it into a [`Diagnostic`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    pub pos: Pos,
    pub message: String,
}

impl SqlError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        SqlError {
            pos,
            message: message.into(),
        }
    }
}

pub type SqlResult<T> = Result<T, SqlError>;
