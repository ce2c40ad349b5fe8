//! Completion: what may come next where the cursor is. A command name; in
//! a backslash command, what its grammar names (the parser's own definition,
//! [`crate::exec::command::Grammar`]): CPIs, a dimension after `by`, a grain
//! after `per`, a KPI column after `with`, a parameter after `\\set`; in SQL,
//! the tables and the columns of the tables the statement names, and keywords.

use std::collections::BTreeMap;

use crate::exec::COMMANDS;
use crate::exec::args::keywords;
use crate::exec::command::{CommandSpec, Grammar, Operand, spec_of};
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

pub(super) const SQL_KEYWORDS: &[&str] = &[
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

pub(super) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
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
    if first.starts_with('\\') {
        let spec = spec_of(first.trim_start_matches('\\'));
        let line = Line {
            before,
            start,
            words: &words,
            prev: &prev,
        };
        for candidate in spec.map_or_else(Vec::new, |s| command_candidates(catalog, s, &line)) {
            offer(&mut std::iter::once(candidate));
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

/// The line being completed, split as [`candidates`] splits it.
pub(super) struct Line<'a> {
    /// The text before the cursor.
    pub(super) before: &'a str,
    /// Where the word being typed starts.
    pub(super) start: usize,
    /// The words before it.
    pub(super) words: &'a [&'a str],
    /// The word before it, without dashes, lower case.
    pub(super) prev: &'a str,
}

/// What may come next in a backslash command, from its grammar: the
/// command's own definition, so completion offers what the parser reads.
pub(super) fn command_candidates(
    catalog: &Catalog,
    spec: &CommandSpec,
    line: &Line<'_>,
) -> Vec<String> {
    match spec.grammar {
        Grammar::None => Vec::new(),
        Grammar::Operand(op) if line.words.len() == 1 => match op {
            Operand::Cpi => catalog.cpis.keys().cloned().collect(),
            Operand::Param => catalog.params.clone(),
            Operand::Relation => catalog.tables.keys().cloned().collect(),
        },
        Grammar::Operand(_) => Vec::new(),
        Grammar::Keywords(grammar) => keyword_candidates(catalog, &grammar(), line),
    }
}

/// Candidates in a command with keywords: the positional's values first,
/// then a keyword's values after it (a dimension list goes on after its
/// commas), else the positional again when it repeats, and the keywords.
pub(super) fn keyword_candidates(
    catalog: &Catalog,
    grammar: &clap::Command,
    line: &Line<'_>,
) -> Vec<String> {
    let keywords = keywords(grammar);
    let positionals: Vec<&clap::Arg> = grammar.get_positionals().collect();
    let value_name = |a: &clap::Arg| {
        a.get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    // The CPIs named by the first positional, for their dimensions.
    let named: Vec<String> = line
        .before
        .split_whitespace()
        .nth(1)
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    if line.words.len() == 1 {
        return positionals
            .first()
            .map(|a| values_of(catalog, &value_name(a), &named))
            .unwrap_or_default();
    }
    if line.prev == "with" {
        return catalog.kpi_columns.clone();
    }
    // The last keyword before the cursor, and whether its value is still
    // being typed (just after it, or a list going on after a comma).
    let rest: Vec<&str> = line.before[..line.start].split_whitespace().collect();
    let last = rest
        .iter()
        .rposition(|w| keywords.iter().any(|k| k == w.trim_start_matches("--")));
    if let Some(k) = last {
        let name = rest[k].trim_start_matches("--");
        let arg = grammar.get_arguments().find(|a| a.get_long() == Some(name));
        let takes_value = arg.is_some_and(|a| a.get_action().takes_values());
        let listing = k + 1 == rest.len()
            || (rest[rest.len() - 1].ends_with(',')
                || line.before[..line.start].trim_end().ends_with(','));
        if takes_value && listing {
            let kind = arg.map(value_name).unwrap_or_default();
            let values = values_of(catalog, &kind, &named);
            // Free text (a predicate, a date) has no candidates: keywords follow.
            if !values.is_empty() {
                return values;
            }
        }
    }
    let mut out = Vec::new();
    // A repeated positional (`\rollup build a b`) goes on until a keyword.
    if last.is_none()
        && let Some(p) = positionals.last()
        && p.get_num_args().is_some_and(|n| n.max_values() > 1)
    {
        out.extend(values_of(catalog, &value_name(p), &named));
    }
    out.extend(keywords);
    out
}

/// The candidates for a value named `kind` in a grammar: `CPI`, `DIM`,
/// `GRAIN`, `KPI`, or literal alternatives such as `previous|year`.
pub(super) fn values_of(catalog: &Catalog, kind: &str, named: &[String]) -> Vec<String> {
    let kind = kind.split('[').next().unwrap_or(kind);
    match kind {
        "CPI" => catalog.cpis.keys().cloned().collect(),
        "DIM" => {
            let mut dims: Vec<String> = named
                .iter()
                .filter_map(|c| catalog.cpis.get(c))
                .flatten()
                .cloned()
                .collect();
            dims.sort();
            dims.dedup();
            dims
        }
        "GRAIN" => Grain::ALL.iter().map(|g| g.name().to_string()).collect(),
        "KPI" => catalog.kpi_columns.clone(),
        k if k.contains('|') => k.split('|').map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}
