//! The rustyline helper: when input is complete, what to complete, and how
//! to colour it.
//!
//! Input is incomplete until a `;` ends the last statement outside quotes and
//! comments (backslash commands are one line), and complete SQL is parsed
//! before it is accepted, so a syntax error is shown without running
//! anything. Completion looks at where the cursor is: a command name, a CPI,
//! a dimension after `by`, a grain after `per`, a KPI column after `with`, a
//! file after `\i`, `\export` or `\chart`, a parameter after `\set`, or in SQL the
//! tables and the columns of the tables the statement names. All of it is
//! plain functions, unit-tested without a terminal.

use std::borrow::Cow;

use datafusion::sql::parser::DFParser;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::complete::{Catalog, candidates};
use super::highlight::highlight_sql;
use crate::foundation::script::{self, Item};

/// Completion candidates, validation and highlighting for the shell.
pub struct CpiqHelper {
    /// What can be completed.
    pub catalog: Catalog,
    /// Colour SQL keywords, strings and numbers.
    pub color: bool,
    files: FilenameCompleter,
}

impl CpiqHelper {
    /// A helper over `catalog`.
    pub fn new(catalog: Catalog, color: bool) -> Self {
        CpiqHelper {
            catalog,
            color,
            files: FilenameCompleter::new(),
        }
    }
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
        let Item::Sql { text, .. } = item else {
            continue;
        };
        // `SUMMARIZE NAME` is cpiq's; `SUMMARIZE SELECT …` parses its query.
        let sql = match crate::exec::summarize_target(&text) {
            Some(target) if !crate::exec::is_query(target) => continue,
            Some(query) => query.trim_end_matches(';'),
            None => &text,
        };
        if let Err(e) = DFParser::parse_sql(sql) {
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
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let first = before.split_whitespace().next().unwrap_or("");
        if matches!(
            first,
            "\\i" | "\\include" | "\\export" | "\\o" | "\\output" | "\\chart"
        ) && before.trim_start().contains(char::is_whitespace)
        {
            return self.files.complete(line, pos, ctx);
        }
        let (start, items) = candidates(&self.catalog, before);
        Ok((
            start,
            items
                .into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for CpiqHelper {
    type Hint = String;
}

impl Highlighter for CpiqHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color {
            Cow::Owned(highlight_sql(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Helper for CpiqHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarize_is_ready_and_its_query_is_checked() {
        assert_eq!(readiness("SUMMARIZE orders;"), Readiness::Ready);
        assert_eq!(
            readiness("summarize SELECT * FROM orders;"),
            Readiness::Ready
        );
        assert!(matches!(
            readiness("SUMMARIZE SELECT 1 + ;"),
            Readiness::Invalid(_)
        ));
    }

    fn catalog() -> Catalog {
        let names = |list: &str| list.split(' ').map(String::from).collect::<Vec<_>>();
        let mut c = Catalog::default();
        for (table, columns) in [
            ("orders", "order_id ordered_at channel"),
            ("on_time_delivery", "promised_at channel segment"),
            ("support_cases", "case_id opened_at"),
        ] {
            c.tables.insert(table.into(), names(columns));
        }
        for (cpi, dimensions) in [
            ("on_time_delivery", "channel segment region"),
            ("first_contact_resolution", "channel category"),
        ] {
            c.cpis.insert(cpi.into(), names(dimensions));
        }
        c.params = names("sla_hours days");
        c.kpi_columns = names("kpi_monthly.nps kpi_monthly.churn_rate");
        c
    }

    fn complete(before: &str) -> Vec<String> {
        candidates(&catalog(), before).1
    }

    #[test]
    fn completion_comes_from_each_commands_grammar() {
        // Correlate: its own keywords and values (issue 18: one grammar).
        assert_eq!(
            complete("\\correlate on_time_delivery with kpi_monthly.c"),
            ["kpi_monthly.churn_rate"]
        );
        assert_eq!(complete("\\correlate on_time_delivery per qu"), ["quarter"]);
        assert_eq!(complete("\\correlate on_time_delivery by s"), ["segment"]);
        assert_eq!(
            complete("\\correlate on_time_delivery per-"),
            ["per-entity"]
        );
        // Rollup: actions first, then CPIs and `grain`, grains after it.
        assert_eq!(complete("\\rollup re"), ["refresh"]);
        assert_eq!(
            complete("\\rollup build "),
            ["first_contact_resolution", "on_time_delivery", "grain"]
        );
        assert_eq!(
            complete("\\rollup build on_time_delivery grain w"),
            ["week"]
        );
        assert_eq!(
            complete("\\explain on_time_delivery from-"),
            ["from-period"]
        );
        assert_eq!(complete("\\d ord"), ["orders"]);
    }

    #[test]
    fn every_keyword_the_parser_reads_is_offered() {
        use crate::exec::args::keywords;
        use crate::exec::command::Grammar;
        for spec in crate::exec::COMMANDS {
            let Grammar::Keywords(grammar) = spec.grammar else {
                continue;
            };
            let offered = complete(&format!("\\{} on_time_delivery ", spec.name));
            for k in keywords(&grammar()) {
                assert!(
                    offered.contains(&k),
                    "\\{}: {k} not offered: {offered:?}",
                    spec.name
                );
            }
        }
    }

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

    #[test]
    fn completion_follows_the_context() {
        assert_eq!(complete("\\sl"), ["\\slice"]);
        assert_eq!(complete("\\slice on_"), ["on_time_delivery"]);
        assert_eq!(
            complete("\\slice on_time_delivery by "),
            ["channel", "region", "segment"]
        );
        assert_eq!(
            complete("\\slice on_time_delivery by channel, s"),
            ["segment"]
        );
        assert_eq!(
            complete("\\slice first_contact_resolution,on_time_delivery by ca"),
            ["category"]
        );
        assert_eq!(
            complete("\\slice on_time_delivery by channel per q"),
            ["quarter"]
        );
        assert_eq!(
            complete("\\slice on_time_delivery per month compare "),
            ["previous", "year"]
        );
        assert_eq!(
            complete("\\slice on_time_delivery with kpi_monthly.n"),
            ["kpi_monthly.nps"]
        );
        assert_eq!(complete("\\set sla"), ["sla_hours"]);
        assert_eq!(complete("\\cpi fir"), ["first_contact_resolution"]);
        assert_eq!(complete("SELECT * FROM sup"), ["support_cases"]);
        assert!(complete("SELECT ord").contains(&"orders".to_string()));
        assert!(
            complete("SELECT * FROM orders WHERE ord")
                .starts_with(&["order_id".to_string(), "ordered_at".to_string()])
        );
        assert!(complete("SEL").contains(&"SELECT".to_string()));
    }

    #[test]
    fn highlighting_marks_keywords_strings_and_numbers() {
        let h = highlight_sql("SELECT 'it''s', 42 FROM t -- note");
        assert!(h.contains("\x1b[1;34mSELECT\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[32m'it''s'\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[33m42\x1b[0m"), "{h:?}");
        assert!(h.contains("\x1b[90m-- note\x1b[0m"), "{h:?}");
        // Only colour codes are added: stripping them gives the line back.
        let plain = h
            .replace("\x1b[1;34m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[90m", "")
            .replace("\x1b[0m", "");
        assert_eq!(plain, "SELECT 'it''s', 42 FROM t -- note");
    }
}
