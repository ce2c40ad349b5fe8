//! The rustyline helper: when input is complete, what to complete.
//!
//! Input is incomplete until a `;` ends the last statement outside quotes and
//! comments (backslash commands are one line), and complete SQL is parsed
//! before it is accepted, so a syntax error is shown without running
//! anything. Both rules are plain functions, unit-tested without a terminal.

use std::borrow::Cow;

use datafusion::sql::parser::DFParser;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::engine::script::{self, Item};
use crate::exec::COMMANDS;

/// Completion candidates and input validation for the shell.
pub struct CpiqHelper {
    /// Table, KPI table and CPI view names, and their columns.
    pub names: Vec<String>,
}

/// What the shell should do with the text typed so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Keep reading lines.
    Incomplete,
    /// Run it.
    Ready,
    /// Do not run it: the SQL does not parse.
    Invalid(String),
}

/// Decide whether `input` is ready to run.
pub fn readiness(input: &str) -> Readiness {
    if !script::is_complete(input) {
        return Readiness::Incomplete;
    }
    for item in script::split(input) {
        if let Item::Sql { text, .. } = item
            && let Err(e) = DFParser::parse_sql(&text)
        {
            return Readiness::Invalid(e.to_string());
        }
    }
    Readiness::Ready
}

impl Validator for CpiqHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(match readiness(ctx.input()) {
            Readiness::Incomplete => ValidationResult::Incomplete,
            Readiness::Ready => ValidationResult::Valid(None),
            Readiness::Invalid(msg) => ValidationResult::Invalid(Some(format!("\n  {msg}"))),
        })
    }
}

impl Completer for CpiqHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '\\' || c == '?'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let mut out: Vec<Pair> = Vec::new();
        if let Some(cmd) = word.strip_prefix('\\') {
            for c in COMMANDS {
                for name in std::iter::once(&c.name).chain(c.aliases) {
                    if name.starts_with(cmd) {
                        out.push(Pair {
                            display: format!("\\{name}"),
                            replacement: format!("\\{name}"),
                        });
                    }
                }
            }
        } else if !word.is_empty() {
            let lower = word.to_ascii_lowercase();
            for n in &self.names {
                if n.to_ascii_lowercase().starts_with(&lower) {
                    out.push(Pair {
                        display: n.clone(),
                        replacement: n.clone(),
                    });
                }
            }
        }
        out.dedup_by(|a, b| a.replacement == b.replacement);
        Ok((start, out))
    }
}

impl Hinter for CpiqHelper {
    type Hint = String;
}

impl Highlighter for CpiqHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Helper for CpiqHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_waits_for_the_semicolon() {
        assert_eq!(readiness("SELECT 1"), Readiness::Incomplete);
        assert_eq!(readiness("SELECT 1\n FROM t;"), Readiness::Ready);
        assert_eq!(readiness("SELECT ';'"), Readiness::Incomplete);
        assert_eq!(readiness("\\cpis"), Readiness::Ready);
    }

    #[test]
    fn syntax_errors_are_caught_before_running() {
        match readiness("SELEC 1;") {
            Readiness::Invalid(msg) => assert!(msg.contains("SELEC"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
