//! The argument syntax of the commands, shared by the
//! one-shot CLI (`cpiq slice …`), the shell (`\slice …`) and job scripts, so
//! the three cannot drift. In the shell the dashes may be left out:
//! `\slice on_time_delivery by channel per week compare year`.

use chrono::NaiveDate;
use clap::Args;

mod stats;

use crate::foundation::error::{CpiqError, Result};
use crate::{
    analysis::slice::{ExplainRequest, SliceRequest, split_list},
    model::calendar::{Calendar, Grain, parse_date, parse_period},
};
pub use stats::{
    CorrelateArgs, DriversArgs, GrangerArgs, GridArgs, PairArgs, RangeArgs, correlate_grammar,
    drivers_grammar, granger_grammar, parse_correlate, parse_drivers, parse_granger,
};

/// Options of a slice.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SliceArgs {
    /// CPIs to slice, comma-separated (they share the same slicing).
    #[arg(value_name = "CPI[,CPI…]")]
    pub cpis: String,
    /// Dimensions to split by, comma-separated.
    #[arg(long, value_name = "DIM[,DIM…]")]
    pub by: Option<String>,
    /// Time grain: day, week (ISO, from Monday), month, quarter, year, or all.
    #[arg(long, default_value = "month", value_name = "GRAIN", value_parser = parse_grain)]
    pub per: Grain,
    /// SQL predicate over the CPIs' dimensions and time column.
    #[arg(long = "where", value_name = "PREDICATE")]
    pub filter: Option<String>,
    /// First day to include (YYYY-MM-DD), on the CPI's time column.
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// First day to exclude (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Add previous_value, change and change_pct against the previous period or the same period a year earlier.
    #[arg(long, value_name = "previous|year")]
    pub compare: Option<String>,
    /// Add rows (value NULL, counts 0) for periods in the range without events.
    #[arg(long)]
    pub fill: bool,
    /// Do not run: show, per CPI, whether a rollup or the raw events would
    /// answer (and why), and the SQL.
    #[arg(long)]
    pub explain: bool,
    /// Read the raw events even where a fresh rollup covers the slice.
    #[arg(long)]
    pub raw: bool,
    /// Draw the slice: on the terminal instead of the table, or, with FILE,
    /// as FILE.svg or FILE.png (the table is printed too).
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub chart: Option<Option<std::path::PathBuf>>,
}

impl SliceArgs {
    /// The checked request.
    pub fn to_request(&self) -> Result<SliceRequest> {
        Ok(SliceRequest {
            cpis: split_list(&self.cpis),
            by: self.by.as_deref().map(split_list).unwrap_or_default(),
            per: self.per,
            filter: self.filter.clone().filter(|f| !f.trim().is_empty()),
            from: optional_date("--from", self.from.as_deref())?,
            to: optional_date("--to", self.to.as_deref())?,
            compare: self.compare.as_deref().map(str::parse).transpose()?,
            fill: self.fill,
            raw: self.raw,
        })
    }
}

/// What `rollup` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RollupAction {
    /// Build (or rebuild) rollups.
    Build,
    /// Fold new files into rollups; rebuild those whose files changed.
    Refresh,
    /// List rollups: grain, size, freshness.
    Status,
    /// Remove rollups.
    Drop,
}

/// Options of `rollup`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RollupArgs {
    /// build, refresh, status or drop.
    #[arg(value_enum, value_name = "build|refresh|status|drop")]
    pub action: RollupAction,
    /// CPIs (space- or comma-separated). Default: every CPI (for refresh,
    /// every CPI with a rollup).
    #[arg(value_name = "CPI")]
    pub cpis: Vec<String>,
    /// The finest period a built rollup keeps: day, week, month, quarter or
    /// year. Slices at this grain or a multiple of it can use it.
    #[arg(long, default_value = "day", value_name = "GRAIN", value_parser = parse_grain)]
    pub grain: Grain,
}

impl RollupArgs {
    /// The CPIs named, commas split.
    pub fn cpi_names(&self) -> Vec<String> {
        self.cpis.iter().flat_map(|c| split_list(c)).collect()
    }
}

/// Parse the arguments of `\rollup` (`grain` may be written without dashes).
pub fn parse_rollup(rest: &str) -> Result<RollupArgs> {
    parse_as(ROLLUP, flagify(words(rest)?, &keywords(&rollup_grammar())))
}

/// The words of a command line as flags of `grammar`, with lists written
/// `a, b` joined back into one word `a,b`.
pub(super) fn list_words(rest: &str, grammar: &clap::Command) -> Result<Vec<String>> {
    let mut args: Vec<String> = Vec::new();
    for w in flagify(words(rest)?, &keywords(grammar)) {
        match args.last_mut() {
            Some(prev) if prev.ends_with(',') || w.starts_with(',') => prev.push_str(&w),
            _ => args.push(w),
        }
    }
    Ok(args)
}

/// Options of explain-change.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ExplainArgs {
    /// The CPI whose change to explain.
    #[arg(value_name = "CPI")]
    pub cpi: String,
    /// The dimension to split the change by.
    #[arg(long, value_name = "DIM")]
    pub by: String,
    /// The earlier period: a date in it, YYYY-MM, YYYY-Qn or YYYY.
    #[arg(long, value_name = "PERIOD")]
    pub from_period: String,
    /// The later period.
    #[arg(long, value_name = "PERIOD")]
    pub to_period: String,
    /// The grain of the periods.
    #[arg(long, default_value = "month", value_name = "GRAIN", value_parser = parse_grain)]
    pub per: Grain,
}

impl ExplainArgs {
    /// The checked request.
    pub fn to_request(&self, cal: &Calendar) -> Result<ExplainRequest> {
        let per = self.per;
        Ok(ExplainRequest {
            cpi: self.cpi.clone(),
            by: self.by.clone(),
            per,
            from_period: parse_period(&self.from_period, per, cal)?,
            to_period: parse_period(&self.to_period, per, cal)?,
        })
    }
}

const SLICE: &str = "\\slice";
const EXPLAIN: &str = "\\explain";
const ROLLUP: &str = "\\rollup";

/// The grammar of the shell command `name` with the options `A`: no binary
/// name, and no `--help` flag (the shell has `\help`).
pub(super) fn grammar_of<A: Args>(name: &'static str) -> clap::Command {
    A::augment_args(
        clap::Command::new(name)
            .no_binary_name(true)
            .disable_help_flag(true),
    )
}

/// Parse `args`, by now written as flags, as the options `A` of the shell
/// command `name`.
pub(super) fn parse_as<A: Args>(name: &'static str, args: Vec<String>) -> Result<A> {
    let mut grammar = grammar_of::<A>(name);
    let mut matches = grammar.try_get_matches_from_mut(args).map_err(clap_usage)?;
    A::from_arg_matches_mut(&mut matches).map_err(|e| clap_usage(e.format(&mut grammar)))
}

/// The date of an optional `--from` / `--to` value.
pub(super) fn optional_date(flag: &str, value: Option<&str>) -> Result<Option<NaiveDate>> {
    value.map(|d| parse_date(flag, d)).transpose()
}

/// Split a command line into words: whitespace separates, single or double
/// quotes group (and are removed), a backslash escapes the next character.
pub fn words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(CpiqError::Usage(format!("unbalanced quote in: {s}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// The grammar of `\slice` and `\compare`: the one definition the parser
/// and the shell's completion read.
pub fn slice_grammar() -> clap::Command {
    grammar_of::<SliceArgs>(SLICE)
}

/// The grammar of `\explain`.
pub fn explain_grammar() -> clap::Command {
    grammar_of::<ExplainArgs>(EXPLAIN)
}

/// The grammar of `\rollup`.
pub fn rollup_grammar() -> clap::Command {
    grammar_of::<RollupArgs>(ROLLUP)
}

/// The keywords of a grammar: its flags' long names (`by`, `per-entity`),
/// which the shell may write without dashes.
pub fn keywords(grammar: &clap::Command) -> Vec<String> {
    grammar
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// A grain as clap reads it: the calendar's own parser and message.
pub fn parse_grain(s: &str) -> std::result::Result<Grain, String> {
    s.parse::<Grain>().map_err(|e| e.to_string())
}

/// Turn shell keywords (`by channel`) into flags (`--by channel`).
fn flagify(words: Vec<String>, keywords: &[String]) -> Vec<String> {
    words
        .into_iter()
        .map(|w| {
            let bare = w.replace('_', "-");
            if keywords.contains(&bare) {
                format!("--{bare}")
            } else {
                w
            }
        })
        .collect()
}

pub(super) fn clap_usage(e: clap::Error) -> CpiqError {
    CpiqError::Usage(e.to_string().trim_end().to_string())
}

/// Split into raw words, keeping quotes: whitespace outside quotes separates.
fn raw_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(CpiqError::Usage(format!("unbalanced quote in: {s}")));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Parse the arguments of `\slice`, written as flags or as words:
/// `\slice otd by channel, segment per month where region = 'EU' from 2025-01-01`.
/// A `where` predicate runs to the next keyword and keeps its quotes; list
/// values may have spaces after their commas.
pub fn parse_slice(rest: &str) -> Result<SliceArgs> {
    let keywords = keywords(&slice_grammar());
    let is_kw = |w: &str| keywords.iter().any(|k| k == w.trim_start_matches("--"));
    let raw = raw_words(rest)?;
    let mut args: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i].as_str();
        if is_kw(w) && w.trim_start_matches("--") == "where" {
            let mut pred = Vec::new();
            i += 1;
            while i < raw.len() && !is_kw(&raw[i]) {
                pred.push(raw[i].clone());
                i += 1;
            }
            let mut p = pred.join(" ");
            // A predicate quoted whole ("channel = 'web'") loses its outer quotes.
            if pred.len() == 1 && p.len() >= 2 && p.starts_with('"') && p.ends_with('"') {
                p = p[1..p.len() - 1].to_string();
            }
            args.push("--where".into());
            args.push(p);
            continue;
        }
        if is_kw(w) {
            args.push(format!("--{}", w.trim_start_matches("--")));
        } else {
            let word = words(w)?.concat();
            // `channel, segment`: join list items split by a space after the comma.
            match args.last_mut() {
                Some(prev) if prev.ends_with(',') || word.starts_with(',') => prev.push_str(&word),
                _ => args.push(word),
            }
        }
        i += 1;
    }
    parse_as(SLICE, args)
}

/// Parse the arguments of `\explain`.
pub fn parse_explain(rest: &str) -> Result<ExplainArgs> {
    let w = flagify(words(rest)?, &keywords(&explain_grammar()));
    parse_as(EXPLAIN, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_respect_quotes() {
        assert_eq!(
            words("a 'b c' \"d'e\" f\\ g").unwrap(),
            ["a", "b c", "d'e", "f g"]
        );
        assert!(words("a 'b").is_err());
    }

    #[test]
    fn shell_keywords_and_flags_both_work() {
        let a = parse_slice(
            "on_time_delivery by channel per week where \"channel = 'web'\" compare year fill",
        )
        .unwrap();
        let r = a.to_request().unwrap();
        assert_eq!(r.cpis, ["on_time_delivery"]);
        assert_eq!(r.by, ["channel"]);
        assert_eq!(r.per, Grain::Week);
        assert_eq!(r.filter.as_deref(), Some("channel = 'web'"));
        assert!(r.fill);
        let b =
            parse_slice("a,b --by x,y --per quarter --from 2024-01-01 --to 2025-01-01").unwrap();
        let r = b.to_request().unwrap();
        assert_eq!(r.cpis, ["a", "b"]);
        assert_eq!(r.by, ["x", "y"]);
        // A bad grain is refused where the arguments are parsed (typed).
        let e = parse_slice("a --per fortnight").unwrap_err().to_string();
        assert!(e.contains("unknown grain \"fortnight\""), "{e}");
        assert!(parse_slice("a --colour red").is_err());
        assert!(parse_slice("").is_err());
        let c = parse_slice("otd by channel, segment per month where region = 'EU' and x <> 'a b' from 2025-01-01 to 2025-07-01").unwrap();
        let r = c.to_request().unwrap();
        assert_eq!(r.by, ["channel", "segment"]);
        assert_eq!(r.filter.as_deref(), Some("region = 'EU' and x <> 'a b'"));
        assert_eq!(r.to.unwrap().to_string(), "2025-07-01");
    }
}
