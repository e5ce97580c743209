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

/// The candidate closest to `word` by edit distance, when it is close enough to be a
/// misspelling of it (at most 2 edits, and at most a third of the word), for "did you mean".
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = 2.min(word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = [
            "lateness.seconds",
            "idle.timeout.seconds",
            "chunk.rows",
            "timezone",
        ];
        assert_eq!(
            did_you_mean("latenes.seconds", known),
            Some("lateness.seconds")
        );
        assert_eq!(
            did_you_mean("LATENESS.SECOND", known),
            Some("lateness.seconds")
        );
        assert_eq!(did_you_mean("chunk.row", known), Some("chunk.rows"));
        assert_eq!(did_you_mean("timzeone", known), Some("timezone"));
        assert_eq!(did_you_mean("parallelism.default", known), None);
        assert_eq!(did_you_mean("ab", ["cd"]), None);
    }
}
