//! The backslash commands shared by the shell and scripts.
//!
//! Every command is a variant of [`Command`], parsed in one place
//! ([`Command::from_str`]); [`COMMANDS`] lists each one's name, aliases,
//! argument syntax and description, and the `\?` help is generated from that
//! list so it cannot drift from the parser.

use std::path::PathBuf;
use std::str::FromStr;

use super::args::{
    self, CorrelateArgs, DriversArgs, ExplainArgs, GrangerArgs, RollupArgs, SliceArgs,
    parse_correlate, parse_drivers, parse_explain, parse_granger, parse_rollup, parse_slice,
};
use crate::foundation::error::{CpiqError, Result};
use crate::present::output::{Expanded, Format};

/// A backslash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `\q`: leave the shell.
    Quit,
    /// `\? [COMMAND]`: list the commands, or explain one.
    Help(Option<String>),
    /// `\cpis`: list the CPIs.
    Cpis,
    /// `\cpi NAME`: everything about one CPI, with its SQL.
    Cpi(String),
    /// `\d [NAME]`: list tables and views, or describe one.
    Describe(Option<String>),
    /// `\summarize NAME|QUERY`: per-column figures, as DuckDB's `SUMMARIZE`.
    Summarize(String),
    /// `\check`: report every problem of the workspace.
    Check,
    /// `\slice CPI[,CPI…] [by DIM,…] [per GRAIN] …`: slice CPIs.
    Slice(Box<SliceArgs>),
    /// `\compare …`: a slice compared with the previous period (or `compare year`).
    Compare(Box<SliceArgs>),
    /// `\correlate CPI[,CPI…] with KPI[,KPI…] [per GRAIN] [by DIM] [lags 0..3] …`.
    Correlate(Box<CorrelateArgs>),
    /// `\granger CPI[,CPI…] with KPI[,KPI…] [per GRAIN] [by DIM] [lags N | max-lag M] …`.
    Granger(Box<GrangerArgs>),
    /// `\drivers KPI [cpis CPI,…] [per GRAIN] [by DIM] [max-lag M] …`: rank CPIs as drivers.
    Drivers(Box<DriversArgs>),
    /// `\explain CPI by DIM from-period P1 to-period P2 [per GRAIN]`: why a CPI moved.
    Explain(Box<ExplainArgs>),
    /// `\rollup build|refresh|status|drop [CPI…] [grain GRAIN]`: manage rollups.
    Rollup(Box<RollupArgs>),
    /// `\set [NAME VALUE]`: set a CPI parameter, or list the parameters.
    Set(Option<(String, String)>),
    /// `\unset NAME`: back to the CPIs' default for a parameter.
    Unset(String),
    /// `\format FORMAT`: choose how results are shown.
    Format(Format),
    /// `\maxrows N|all`: how many rows a table shows on the screen.
    MaxRows(Option<usize>),
    /// `\x [on|off|auto]`: expanded rows.
    Expanded(Option<Expanded>),
    /// `\pager [on|off]`: page results taller than the screen.
    Pager(Option<bool>),
    /// `\timing [on|off]`: show how long each statement took.
    Timing(Option<bool>),
    /// `\export FILE [QUERY]`: write the last result, or a query's, to a file.
    Export(PathBuf, Option<String>),
    /// `\o [FILE]`: send results to a file (by extension), or back to the screen.
    Output(Option<PathBuf>),
    /// `\i FILE`: run the statements and commands of a file.
    Include(PathBuf),
    /// `\sql`: show the SQL the last slice ran.
    Sql,
    /// `\chart [FILE]`: draw the last slice or correlation, on the screen or
    /// to an SVG/PNG file.
    Chart(Option<PathBuf>),
    /// `\reload`: re-read the workspace and report what changed.
    Reload,
}

/// How a command is written and what it does; the source of `\?`.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The canonical name, without the backslash.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// The argument syntax.
    pub args: &'static str,
    /// One line of description.
    pub help: &'static str,
    /// What its arguments name, for completion.
    pub grammar: Grammar,
}

/// What the arguments of a command name: the shell completes from this, and
/// for commands with keywords it is the very definition the parser reads
/// (clap's, in [`super::args`]), so the two cannot drift.
#[derive(Debug, Clone, Copy)]
pub enum Grammar {
    /// Nothing to complete.
    None,
    /// One operand of a kind.
    Operand(Operand),
    /// A positional and keywords (`by`, `per`, …) with their values, as the
    /// command's clap definition declares them.
    Keywords(fn() -> clap::Command),
}

/// The kind of a command's single operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A CPI's name.
    Cpi,
    /// A CPI parameter.
    Param,
    /// A table, KPI table or CPI view.
    Relation,
}

const fn spec(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    help: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases,
        args,
        help,
        grammar: Grammar::None,
    }
}

impl CommandSpec {
    /// The same command with the grammar of its arguments.
    const fn with(self, grammar: Grammar) -> CommandSpec {
        CommandSpec { grammar, ..self }
    }
}

/// Every command, in the order `\?` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "cpis",
        &[],
        "",
        "list the CPIs: label, unit, direction, target, parameters",
    ),
    spec(
        "cpi",
        &[],
        "NAME",
        "show one CPI: label, description, unit, target, dimensions, parameters, SQL",
    )
    .with(Grammar::Operand(Operand::Cpi)),
    spec(
        "slice",
        &[],
        "CPI[,CPI…] [by DIM,…] [per GRAIN] [where PRED] [from DATE] [to DATE] [compare previous|year] [fill] [explain] [raw]",
        "slice CPIs by dimensions and period, against their targets",
    )
    .with(Grammar::Keywords(args::slice_grammar)),
    spec(
        "compare",
        &[],
        "CPI[,CPI…] [by DIM,…] [per GRAIN] … [compare previous|year]",
        "a slice with each period's change against the previous one (or a year earlier)",
    )
    .with(Grammar::Keywords(args::slice_grammar)),
    spec(
        "correlate",
        &[],
        "CPI[,CPI…] with KPI[,KPI…] [per GRAIN] [by DIM] [lags 0..3] [method pearson|spearman|both] [per-entity] [difference] [prewhiten [max-lag M]]",
        "correlate CPIs with KPIs, lagged, with p-, q-values and a verdict",
    )
    .with(Grammar::Keywords(args::correlate_grammar)),
    spec(
        "granger",
        &[],
        "CPI[,CPI…] with KPI[,KPI…] [per GRAIN] [by DIM] [lags N | max-lag M] [trend c|ct] [augment D]",
        "Granger tests both ways: does the CPI lead the KPI, or the KPI the CPI?",
    )
    .with(Grammar::Keywords(args::granger_grammar)),
    spec(
        "drivers",
        &[],
        "KPI [cpis CPI,…] [per GRAIN] [by DIM] [max-lag M] [trend c|ct] [holdout K] [placebos N] [seed S]",
        "rank CPIs as drivers of a KPI: lead, Granger both ways, forecast gain, placebo, importance",
    )
    .with(Grammar::Keywords(args::drivers_grammar)),
    spec(
        "explain",
        &["explain-change"],
        "CPI by DIM from-period P1 to-period P2 [per GRAIN]",
        "split a CPI's change between two periods into rate and mix effects",
    )
    .with(Grammar::Keywords(args::explain_grammar)),
    spec(
        "chart",
        &[],
        "[FILE.svg|FILE.png]",
        "draw the last slice (CPI per period against target) or correlation (scatter at the best lag)",
    ),
    spec(
        "rollup",
        &[],
        "build|refresh|status|drop [CPI…] [grain GRAIN]",
        "pre-aggregate CPIs so slices answer in milliseconds; fold in new files; show freshness",
    )
    .with(Grammar::Keywords(args::rollup_grammar)),
    spec(
        "d",
        &["describe"],
        "[NAME]",
        "list tables, KPI tables and CPI views, or show the columns of one",
    )
    .with(Grammar::Operand(Operand::Relation)),
    spec(
        "summarize",
        &[],
        "NAME|SELECT …",
        "per column: type, min, max, approx. distinct, mean, std, quartiles, count, null % (as DuckDB's SUMMARIZE)",
    )
    .with(Grammar::Operand(Operand::Relation)),
    spec(
        "check",
        &[],
        "",
        "report every problem found in the workspace",
    ),
    spec(
        "set",
        &[],
        "[NAME VALUE]",
        "set a CPI parameter for this session, or list parameters",
    )
    .with(Grammar::Operand(Operand::Param)),
    spec(
        "unset",
        &[],
        "NAME",
        "drop a session parameter: back to the CPIs' default",
    )
    .with(Grammar::Operand(Operand::Param)),
    spec(
        "format",
        &[],
        "table|csv|json|ndjson|markdown",
        "choose how results are shown",
    ),
    spec(
        "maxrows",
        &[],
        "N|all",
        "show at most N rows of a table on the screen (first and last)",
    ),
    spec(
        "x",
        &["expanded"],
        "[on|off|auto]",
        "show rows expanded, one line per column (auto: when too wide)",
    ),
    spec(
        "pager",
        &[],
        "[on|off]",
        "page results taller than the screen with $PAGER (default less -S)",
    ),
    spec(
        "timing",
        &[],
        "[on|off]",
        "show how long each statement takes",
    ),
    spec(
        "export",
        &[],
        "FILE [QUERY]",
        "write the last result (or QUERY's) to FILE by extension; .parquet if none",
    ),
    spec(
        "o",
        &["output"],
        "[FILE]",
        "write every result to FILE (.parquet, .csv, .json, .ndjson, .md), or back to the screen",
    ),
    spec(
        "i",
        &["include"],
        "FILE",
        "run the statements and commands of FILE",
    ),
    spec("sql", &[], "", "show the SQL the last slice ran"),
    spec(
        "reload",
        &[],
        "",
        "re-read cpiq.toml and the CPI files, and report what changed",
    ),
    spec(
        "?",
        &["help", "h"],
        "[COMMAND]",
        "show this help, or one command's",
    ),
    spec("q", &["quit", "exit"], "", "leave the shell (also Ctrl-D)"),
];

fn usage_of(c: &CommandSpec) -> String {
    if c.args.is_empty() {
        format!("\\{}", c.name)
    } else {
        format!("\\{} {}", c.name, c.args)
    }
}

/// The `\?` text, generated from [`COMMANDS`].
pub fn help_text() -> String {
    let mut lines = Vec::new();
    for c in COMMANDS {
        let name = format!("\\{}", c.name);
        lines.push(format!("  {name:<11} {}", c.help));
    }
    format!(
        "Commands (\\? COMMAND for its arguments):\n{}\n\nSQL statements end with ';' and may span lines. Every CPI is a view:\n  SELECT * FROM on_time_delivery LIMIT 5;\nSlices: \\slice on_time_delivery by channel, segment per month compare year\n",
        lines.join("\n")
    )
}

/// The help of one command.
pub fn command_help(name: &str) -> Result<String> {
    let name = name.trim_start_matches('\\');
    let c = spec_of(name).ok_or_else(|| {
        CpiqError::Usage(format!("unknown command \\{name} (\\? lists the commands)"))
    })?;
    let aliases = if c.aliases.is_empty() {
        String::new()
    } else {
        format!(
            "\n  also: {}",
            c.aliases
                .iter()
                .map(|a| format!("\\{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok(format!("{}\n  {}{aliases}\n", usage_of(c), c.help))
}

/// The command called `word` (its name or an alias, without the backslash).
pub fn spec_of(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

fn on_off(s: &str) -> Option<bool> {
    match s {
        "on" | "true" => Some(true),
        "off" | "false" => Some(false),
        _ => None,
    }
}

impl FromStr for Command {
    type Err = CpiqError;

    // Whole by design: one arm per command, in the order of `COMMANDS`.
    fn from_str(line: &str) -> Result<Command> {
        let line = line.trim();
        let body = line.strip_prefix('\\').ok_or_else(|| {
            CpiqError::Usage(format!("not a command: {line:?} (commands start with \\)"))
        })?;
        let body = body.trim_end_matches(';').trim();
        let (word, rest) = match body.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (body, ""),
        };
        let spec = spec_of(word).ok_or_else(|| {
            CpiqError::Usage(format!("unknown command \\{word} (\\? lists the commands)"))
        })?;
        let usage = || CpiqError::Usage(format!("usage: {}", usage_of(spec)));
        let no_args = |c: Command| if rest.is_empty() { Ok(c) } else { Err(usage()) };
        let one_arg = || {
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                Err(usage())
            } else {
                Ok(rest.to_string())
            }
        };
        let toggle = || {
            if rest.is_empty() {
                Ok(None)
            } else {
                on_off(rest).map(Some).ok_or_else(usage)
            }
        };
        match spec.name {
            "q" => no_args(Command::Quit),
            "?" => Ok(Command::Help((!rest.is_empty()).then(|| rest.to_string()))),
            "cpis" => no_args(Command::Cpis),
            "cpi" => Ok(Command::Cpi(one_arg()?)),
            "check" => no_args(Command::Check),
            "sql" => no_args(Command::Sql),
            "reload" => no_args(Command::Reload),
            "d" => Ok(Command::Describe(
                (!rest.is_empty()).then(|| rest.to_string()),
            )),
            "summarize" if rest.is_empty() => Err(usage()),
            "summarize" => Ok(Command::Summarize(rest.to_string())),
            "slice" => Ok(Command::Slice(Box::new(parse_slice(rest)?))),
            "rollup" => Ok(Command::Rollup(Box::new(parse_rollup(rest)?))),
            "compare" => {
                let mut args = parse_slice(rest)?;
                if args.compare.is_none() {
                    args.compare = Some("previous".into());
                }
                Ok(Command::Compare(Box::new(args)))
            }
            "explain" => Ok(Command::Explain(Box::new(parse_explain(rest)?))),
            "correlate" => Ok(Command::Correlate(Box::new(parse_correlate(rest)?))),
            "granger" => Ok(Command::Granger(Box::new(parse_granger(rest)?))),
            "drivers" => Ok(Command::Drivers(Box::new(parse_drivers(rest)?))),
            "set" => parse_set(rest).ok_or_else(usage),
            "unset" => Ok(Command::Unset(one_arg()?)),
            "format" => parse_format(rest).unwrap_or_else(|| Err(usage())),
            "maxrows" => match rest {
                "all" => Ok(Command::MaxRows(None)),
                n => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(|n| Command::MaxRows(Some(n)))
                    .ok_or_else(usage),
            },
            "x" => match rest {
                "" => Ok(Command::Expanded(None)),
                "auto" => Ok(Command::Expanded(Some(Expanded::Auto))),
                r => on_off(r)
                    .map(|b| Command::Expanded(Some(if b { Expanded::On } else { Expanded::Off })))
                    .ok_or_else(usage),
            },
            "pager" => Ok(Command::Pager(toggle()?)),
            "timing" => Ok(Command::Timing(toggle()?)),
            "export" => parse_export(rest).ok_or_else(usage),
            "chart" => Ok(Command::Chart(if rest.is_empty() {
                None
            } else {
                Some(PathBuf::from(
                    one_arg()?.trim_matches(|c| c == '\'' || c == '"'),
                ))
            })),
            "o" => Ok(Command::Output(
                (!rest.is_empty()).then(|| PathBuf::from(rest)),
            )),
            "i" => {
                if rest.is_empty() {
                    return Err(usage());
                }
                Ok(Command::Include(PathBuf::from(rest)))
            }
            other => unreachable!("command {other} is listed but not parsed"),
        }
    }
}

/// `\set` alone (list), or `\set NAME VALUE` / `NAME = 'VALUE'`; None when
/// the value is missing.
fn parse_set(rest: &str) -> Option<Command> {
    if rest.is_empty() {
        return Some(Command::Set(None));
    }
    let (name, value) = rest.split_once(|c: char| c.is_whitespace() || c == '=')?;
    let value = value.trim().trim_start_matches('=').trim();
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(value);
    (!value.is_empty()).then(|| Command::Set(Some((name.to_string(), value.to_string()))))
}

/// `\format NAME`: None when no name is given; Parquet is for files only.
fn parse_format(rest: &str) -> Option<Result<Command>> {
    if rest.is_empty() {
        return None;
    }
    Some(rest.parse::<Format>().and_then(|f| {
        if f == Format::Parquet {
            Err(CpiqError::Usage(
                "parquet is for files: use \\export FILE.parquet".into(),
            ))
        } else {
            Ok(Command::Format(f))
        }
    }))
}

/// `\export FILE [QUERY]`: a FILE without extension is Parquet.
fn parse_export(rest: &str) -> Option<Command> {
    if rest.is_empty() {
        return None;
    }
    let (file, query) = match rest.split_once(char::is_whitespace) {
        Some((f, q)) => (f, Some(q.trim().trim_end_matches(';').to_string())),
        None => (rest, None),
    };
    let mut path = PathBuf::from(file.trim_matches(|c| c == '\'' || c == '"'));
    if path.extension().is_none() {
        path.set_extension("parquet");
    }
    Some(Command::Export(path, query.filter(|q| !q.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> String {
        match name {
            "format" => "csv".into(),
            "i" | "include" => "job.sql".into(),
            "cpi" | "unset" | "summarize" => "x".into(),
            "slice" | "compare" => "on_time_delivery".into(),
            "correlate" | "granger" => "on_time_delivery with kpi_monthly.nps".into(),
            "drivers" => "kpi_monthly.nps".into(),
            "explain" | "explain-change" => "x by c from-period 2024-01 to-period 2024-02".into(),
            "maxrows" => "10".into(),
            "export" => "out.parquet".into(),
            "rollup" => "status".into(),
            _ => String::new(),
        }
    }

    #[test]
    fn every_listed_command_and_alias_parses() {
        for c in COMMANDS {
            for name in std::iter::once(&c.name).chain(c.aliases) {
                let line = format!("\\{name} {}", example(c.name));
                assert!(
                    line.parse::<Command>().is_ok(),
                    "{line}: {:?}",
                    line.parse::<Command>()
                );
            }
        }
    }

    #[test]
    fn arguments_are_parsed() {
        let p = |s: &str| s.parse::<Command>().unwrap();
        assert_eq!(
            p("\\set sla_hours 48"),
            Command::Set(Some(("sla_hours".into(), "48".into())))
        );
        assert_eq!(
            p("\\set sla_hours = 48"),
            Command::Set(Some(("sla_hours".into(), "48".into())))
        );
        assert_eq!(p("\\d orders"), Command::Describe(Some("orders".into())));
        assert_eq!(p("\\format json"), Command::Format(Format::Json));
        assert_eq!(p("\\timing on"), Command::Timing(Some(true)));
        assert_eq!(p("\\o"), Command::Output(None));
        assert_eq!(p("\\maxrows all"), Command::MaxRows(None));
        assert_eq!(p("\\x auto"), Command::Expanded(Some(Expanded::Auto)));
        assert_eq!(
            p("\\export out"),
            Command::Export("out.parquet".into(), None)
        );
        assert_eq!(
            p("\\export o.csv SELECT 1;"),
            Command::Export("o.csv".into(), Some("SELECT 1".into()))
        );
        match p("\\compare otd by channel") {
            Command::Compare(a) => assert_eq!(a.compare.as_deref(), Some("previous")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistakes_are_usage_errors() {
        let e = "\\frobnicate".parse::<Command>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown command \\frobnicate (\\? lists the commands)"
        );
        assert_eq!(e.exit_code(), 2);
        for bad in [
            "\\q now",
            "\\format yaml",
            "\\timing maybe",
            "\\maxrows 0",
            "\\cpi",
            "\\unset a b",
            "\\export",
        ] {
            assert!(bad.parse::<Command>().is_err(), "{bad}");
        }
    }

    #[test]
    fn help_lists_every_command_and_explains_one() {
        let help = help_text();
        for c in COMMANDS {
            assert!(help.contains(&format!("\\{} ", c.name)), "{}", c.name);
            assert!(command_help(c.name).unwrap().contains(c.args));
        }
        assert!(command_help("\\quit").unwrap().starts_with("\\q\n"));
    }
}
