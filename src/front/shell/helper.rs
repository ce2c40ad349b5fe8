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
use std::collections::BTreeMap;

use datafusion::sql::parser::DFParser;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::exec::COMMANDS;
use crate::foundation::script::{self, Item};
use crate::model::calendar::Grain;

/// What the completer knows about the workspace.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Every table, KPI table and view, with its columns.
    pub tables: BTreeMap<String, Vec<String>>,
    /// Every CPI with its dimensions.
    pub cpis: BTreeMap<String, Vec<String>>,
    /// Every CPI parameter name.
    pub params: Vec<String>,
    /// KPI measures as `kpi_table.column`.
    pub kpi_columns: Vec<String>,
}

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
        if let Item::Sql { text, .. } = item
            && let Err(e) = DFParser::parse_sql(&text)
        {
            return Readiness::Invalid(e.to_string());
        }
    }
    Readiness::Ready
}

const SQL_KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "WITH",
    "OVER",
    "PARTITION",
    "CAST",
    "DATE",
    "TIMESTAMP",
    "INTERVAL",
    "CREATE",
    "VIEW",
    "TABLE",
    "COPY",
    "TO",
    "EXPLAIN",
    "DESC",
    "ASC",
    "TRUE",
    "FALSE",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "EXISTS",
    "DROP",
    "SHOW",
    "TABLES",
    "VALUES",
    "INSERT",
    "INTO",
    "EXCEPT",
    "INTERSECT",
    "FILTER",
    "WINDOW",
    "ROWS",
    "RANGE",
    "PRECEDING",
    "FOLLOWING",
    "CURRENT",
    "ROW",
    "NULLS",
    "FIRST",
    "LAST",
];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Colour SQL: keywords bold blue, strings green, numbers yellow, comments
/// grey. Backslash commands are shown in cyan.
pub fn highlight_sql(line: &str) -> String {
    const KW: &str = "\x1b[1;34m";
    const STR: &str = "\x1b[32m";
    const NUM: &str = "\x1b[33m";
    const COMMENT: &str = "\x1b[90m";
    const CMD: &str = "\x1b[36m";
    const RESET: &str = "\x1b[0m";
    if line.trim_start().starts_with('\\') {
        let end = line.find(char::is_whitespace).unwrap_or(line.len());
        return format!("{CMD}{}{RESET}{}", &line[..end], &line[end..]);
    }
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 32);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map(|p| i + p)
                .unwrap_or(chars.len());
            out.push_str(COMMENT);
            out.extend(&chars[i..end]);
            out.push_str(RESET);
            i = end;
        } else if c == '\'' {
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            out.push_str(STR);
            out.extend(&chars[i..end]);
            out.push_str(RESET);
            i = end;
        } else if c.is_ascii_digit() && (i == 0 || !is_word_char(chars[i - 1])) {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            out.push_str(NUM);
            out.extend(&chars[i..j]);
            out.push_str(RESET);
            i = j;
        } else if is_word_char(c) {
            let mut j = i;
            while j < chars.len() && is_word_char(chars[j]) {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            if SQL_KEYWORDS.contains(&word.to_ascii_uppercase().as_str()) {
                out.push_str(KW);
                out.push_str(&word);
                out.push_str(RESET);
            } else {
                out.push_str(&word);
            }
            i = j;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The candidates for the word being typed at the end of `before`; returns
/// the byte offset where that word starts.
pub fn candidates(catalog: &Catalog, before: &str) -> (usize, Vec<String>) {
    let start = before
        .rfind(|c: char| !(is_word_char(c) || c == '\\' || c == '?' || c == '.' || c == '-'))
        .map(|i| i + 1)
        .unwrap_or(0);
    let word = &before[start..];
    let lower = word.to_ascii_lowercase();
    let words: Vec<&str> = before[..start]
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let prev = words
        .last()
        .map(|w| w.trim_start_matches("--").to_ascii_lowercase())
        .unwrap_or_default();
    let first = before.split_whitespace().next().unwrap_or("");
    let mut out: Vec<String> = Vec::new();
    let mut offer = |items: &mut dyn Iterator<Item = String>| {
        for s in items {
            if s.to_ascii_lowercase().starts_with(&lower) {
                out.push(s);
            }
        }
    };

    // A command name.
    if word.starts_with('\\') && words.is_empty() {
        offer(
            &mut COMMANDS
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                .map(|n| format!("\\{n}")),
        );
        return (start, dedup(out));
    }
    let in_command = first.starts_with('\\');
    let cmd = first.trim_start_matches('\\');
    if in_command {
        match cmd {
            "set" | "unset" if words.len() == 1 => offer(&mut catalog.params.iter().cloned()),
            "cpi" if words.len() == 1 => offer(&mut catalog.cpis.keys().cloned()),
            "d" | "describe" if words.len() == 1 => offer(&mut catalog.tables.keys().cloned()),
            "rollup" if words.len() == 1 => offer(
                &mut ["build", "refresh", "status", "drop"]
                    .iter()
                    .map(|s| s.to_string()),
            ),
            "rollup" if prev == "grain" => {
                offer(&mut Grain::ALL.iter().map(|g| g.name().to_string()))
            }
            "rollup" => {
                offer(&mut catalog.cpis.keys().cloned());
                offer(&mut std::iter::once("grain".to_string()));
            }
            "slice" | "compare" | "explain" | "explain-change" => {
                // The CPI list is the first argument.
                let named: Vec<String> = before
                    .split_whitespace()
                    .nth(1)
                    .map(|s| s.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                let after_by = {
                    // `by a, b` continues a dimension list.
                    let rest: Vec<&str> = before[..start].split_whitespace().collect();
                    let last_kw = rest.iter().rposition(|w| {
                        [
                            "by",
                            "--by",
                            "per",
                            "--per",
                            "where",
                            "--where",
                            "from",
                            "--from",
                            "to",
                            "--to",
                            "compare",
                            "--compare",
                        ]
                        .contains(w)
                    });
                    last_kw.is_some_and(|k| {
                        rest[k].trim_start_matches("--") == "by"
                            && (k + 1 == rest.len()
                                || rest[rest.len() - 1].ends_with(',')
                                || before[..start].trim_end().ends_with(','))
                    })
                };
                if words.len() == 1 {
                    offer(&mut catalog.cpis.keys().cloned());
                } else if after_by {
                    let mut dims: Vec<String> = named
                        .iter()
                        .filter_map(|c| catalog.cpis.get(c))
                        .flatten()
                        .cloned()
                        .collect();
                    dims.sort();
                    offer(&mut dims.into_iter());
                } else if prev == "per" {
                    offer(&mut Grain::ALL.iter().map(|g| g.name().to_string()));
                } else if prev == "compare" {
                    offer(&mut ["previous", "year"].iter().map(|s| s.to_string()));
                } else if prev == "with" {
                    offer(&mut catalog.kpi_columns.iter().cloned());
                } else {
                    offer(
                        &mut [
                            "by",
                            "per",
                            "where",
                            "from",
                            "to",
                            "compare",
                            "fill",
                            "explain",
                            "raw",
                            "with",
                            "from-period",
                            "to-period",
                        ]
                        .iter()
                        .map(|s| s.to_string()),
                    );
                }
            }
            _ => {}
        }
        return (start, dedup(out));
    }
    if prev == "with" {
        offer(&mut catalog.kpi_columns.iter().cloned());
        return (start, dedup(out));
    }
    // SQL: after FROM or JOIN, relations; elsewhere the columns of the
    // relations the statement names, then relations and keywords.
    if matches!(prev.as_str(), "from" | "join") {
        offer(&mut catalog.tables.keys().cloned());
        return (start, dedup(out));
    }
    let mentioned: Vec<&String> = catalog
        .tables
        .keys()
        .filter(|t| {
            before
                .split(|c: char| !is_word_char(c))
                .any(|w| w.eq_ignore_ascii_case(t))
        })
        .collect();
    let mut cols: Vec<String> = mentioned
        .iter()
        .flat_map(|t| catalog.tables[*t].iter().cloned())
        .collect();
    cols.sort();
    offer(&mut cols.into_iter());
    offer(&mut catalog.tables.keys().cloned());
    if !word.is_empty() {
        let upper = word.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        offer(&mut SQL_KEYWORDS.iter().map(|k| {
            if upper {
                k.to_string()
            } else {
                k.to_ascii_lowercase()
            }
        }));
    }
    (start, dedup(out))
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
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

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.tables.insert(
            "orders".into(),
            vec!["order_id".into(), "ordered_at".into(), "channel".into()],
        );
        c.tables.insert(
            "on_time_delivery".into(),
            vec!["promised_at".into(), "channel".into(), "segment".into()],
        );
        c.tables.insert(
            "support_cases".into(),
            vec!["case_id".into(), "opened_at".into()],
        );
        c.cpis.insert(
            "on_time_delivery".into(),
            vec!["channel".into(), "segment".into(), "region".into()],
        );
        c.cpis.insert(
            "first_contact_resolution".into(),
            vec!["channel".into(), "category".into()],
        );
        c.params = vec!["sla_hours".into(), "days".into()];
        c.kpi_columns = vec!["kpi_monthly.nps".into(), "kpi_monthly.churn_rate".into()];
        c
    }

    fn complete(before: &str) -> Vec<String> {
        candidates(&catalog(), before).1
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
