//! The backslash commands shared by the shell and scripts.
//!
//! Every command is a variant of [`Command`], parsed in one place
//! ([`Command::from_str`]); [`COMMANDS`] lists each one's name, aliases,
//! argument syntax and description, and the `\?` help is generated from that
//! list so it cannot drift from the parser.

use std::path::PathBuf;
use std::str::FromStr;

use super::args::{ExplainArgs, SliceArgs, parse_explain, parse_slice};
use crate::error::{CpiqError, Result};
use crate::output::Format;

/// A backslash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `\q`: leave the shell.
    Quit,
    /// `\?`: list the commands.
    Help,
    /// `\cpis`: list the CPIs.
    Cpis,
    /// `\d [NAME]`: list tables and views, or describe one.
    Describe(Option<String>),
    /// `\check`: report every problem of the workspace.
    Check,
    /// `\set [NAME VALUE]`: set a CPI parameter, or list the parameters.
    Set(Option<(String, String)>),
    /// `\format FORMAT`: choose how results are shown.
    Format(Format),
    /// `\o [FILE]`: send results to a file (by extension), or back to the screen.
    Output(Option<PathBuf>),
    /// `\i FILE`: run the statements and commands of a file.
    Include(PathBuf),
    /// `\timing [on|off]`: show how long each statement took.
    Timing(Option<bool>),
    /// `\slice CPI[,CPI…] [by DIM,…] [per GRAIN] …`: slice CPIs.
    Slice(Box<SliceArgs>),
    /// `\explain CPI by DIM from-period P1 to-period P2 [per GRAIN]`: why a CPI moved.
    Explain(Box<ExplainArgs>),
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
}

/// Every command, in the order `\?` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cpis",
        aliases: &[],
        args: "",
        help: "list the CPIs: label, unit, direction, target, parameters",
    },
    CommandSpec {
        name: "slice",
        aliases: &[],
        args: "CPI[,CPI…] [by DIM,…] [per GRAIN] [where PRED] [from DATE] [to DATE] [compare previous|year] [fill]",
        help: "slice CPIs by dimensions and period, against their targets",
    },
    CommandSpec {
        name: "explain",
        aliases: &["explain-change"],
        args: "CPI by DIM from-period P1 to-period P2 [per GRAIN]",
        help: "split a CPI's change between two periods into rate and mix effects",
    },
    CommandSpec {
        name: "d",
        aliases: &["describe"],
        args: "[NAME]",
        help: "list tables, KPI tables and CPI views, or show the columns of one",
    },
    CommandSpec {
        name: "check",
        aliases: &[],
        args: "",
        help: "report every problem found in the workspace",
    },
    CommandSpec {
        name: "set",
        aliases: &[],
        args: "[NAME VALUE]",
        help: "set a CPI parameter for this session, or list parameters",
    },
    CommandSpec {
        name: "format",
        aliases: &[],
        args: "table|csv|json|ndjson|markdown",
        help: "choose how results are shown",
    },
    CommandSpec {
        name: "o",
        aliases: &["output"],
        args: "[FILE]",
        help: "write results to FILE (.parquet, .csv, .json, .ndjson, .md), or back to the screen",
    },
    CommandSpec {
        name: "i",
        aliases: &["include"],
        args: "FILE",
        help: "run the statements and commands of FILE",
    },
    CommandSpec {
        name: "timing",
        aliases: &[],
        args: "[on|off]",
        help: "show how long each statement takes",
    },
    CommandSpec {
        name: "?",
        aliases: &["help", "h"],
        args: "",
        help: "show this help",
    },
    CommandSpec {
        name: "q",
        aliases: &["quit", "exit"],
        args: "",
        help: "leave the shell (also Ctrl-D)",
    },
];

/// The `\?` text, generated from [`COMMANDS`].
pub fn help_text() -> String {
    let mut lines = Vec::new();
    let width = COMMANDS
        .iter()
        .map(|c| c.name.len() + c.args.len() + 2)
        .max()
        .unwrap_or(0);
    for c in COMMANDS {
        let usage = if c.args.is_empty() {
            format!("\\{}", c.name)
        } else {
            format!("\\{} {}", c.name, c.args)
        };
        let aliases = if c.aliases.is_empty() {
            String::new()
        } else {
            format!(
                " (also {})",
                c.aliases
                    .iter()
                    .map(|a| format!("\\{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        lines.push(format!("  {usage:<width$}  {}{aliases}", c.help));
    }
    format!(
        "Commands:\n{}\n\nSQL statements end with ';' and may span lines. Every CPI is a view: \
         SELECT * FROM on_time_delivery LIMIT 5;\n",
        lines.join("\n")
    )
}

fn spec_of(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name == word || c.aliases.contains(&word))
}

impl FromStr for Command {
    type Err = CpiqError;

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
        let usage = || CpiqError::Usage(format!("usage: \\{} {}", spec.name, spec.args));
        let no_args = |c: Command| if rest.is_empty() { Ok(c) } else { Err(usage()) };
        match spec.name {
            "q" => no_args(Command::Quit),
            "?" => no_args(Command::Help),
            "cpis" => no_args(Command::Cpis),
            "check" => no_args(Command::Check),
            "d" => Ok(Command::Describe(
                (!rest.is_empty()).then(|| rest.to_string()),
            )),
            "set" => {
                if rest.is_empty() {
                    return Ok(Command::Set(None));
                }
                let (name, value) = rest
                    .split_once(|c: char| c.is_whitespace() || c == '=')
                    .ok_or_else(usage)?;
                let value = value.trim().trim_start_matches('=').trim();
                let value = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value);
                if value.is_empty() {
                    return Err(usage());
                }
                Ok(Command::Set(Some((name.to_string(), value.to_string()))))
            }
            "format" => {
                if rest.is_empty() {
                    return Err(usage());
                }
                let f: Format = rest.parse()?;
                if f == Format::Parquet {
                    return Err(CpiqError::Usage(
                        "parquet is for files: use \\o FILE.parquet".into(),
                    ));
                }
                Ok(Command::Format(f))
            }
            "o" => Ok(Command::Output(
                (!rest.is_empty()).then(|| PathBuf::from(rest)),
            )),
            "i" => {
                if rest.is_empty() {
                    return Err(usage());
                }
                Ok(Command::Include(PathBuf::from(rest)))
            }
            "timing" => match rest {
                "" => Ok(Command::Timing(None)),
                "on" => Ok(Command::Timing(Some(true))),
                "off" => Ok(Command::Timing(Some(false))),
                _ => Err(usage()),
            },
            "slice" => Ok(Command::Slice(Box::new(parse_slice(rest)?))),
            "explain" => Ok(Command::Explain(Box::new(parse_explain(rest)?))),
            other => unreachable!("command {other} is listed but not parsed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_command_and_alias_parses() {
        for c in COMMANDS {
            for name in std::iter::once(&c.name).chain(c.aliases) {
                let line = match c.name {
                    "format" => format!("\\{name} csv"),
                    "i" => format!("\\{name} job.sql"),
                    "slice" => format!("\\{name} on_time_delivery"),
                    "explain" => format!("\\{name} x by c from-period 2024-01 to-period 2024-02"),
                    _ => format!("\\{name}"),
                };
                assert!(line.parse::<Command>().is_ok(), "{line}");
            }
        }
    }

    #[test]
    fn arguments_are_parsed() {
        assert_eq!(
            "\\set sla_hours 48".parse::<Command>().unwrap(),
            Command::Set(Some(("sla_hours".into(), "48".into())))
        );
        assert_eq!(
            "\\set sla_hours = 48".parse::<Command>().unwrap(),
            Command::Set(Some(("sla_hours".into(), "48".into())))
        );
        assert_eq!(
            "\\d orders".parse::<Command>().unwrap(),
            Command::Describe(Some("orders".into()))
        );
        assert_eq!(
            "\\format json".parse::<Command>().unwrap(),
            Command::Format(Format::Json)
        );
        assert_eq!(
            "\\timing on".parse::<Command>().unwrap(),
            Command::Timing(Some(true))
        );
        assert_eq!("\\o".parse::<Command>().unwrap(), Command::Output(None));
    }

    #[test]
    fn mistakes_are_usage_errors() {
        let e = "\\frobnicate".parse::<Command>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown command \\frobnicate (\\? lists the commands)"
        );
        assert_eq!(e.exit_code(), 2);
        assert!("\\q now".parse::<Command>().is_err());
        assert!("\\format yaml".parse::<Command>().is_err());
        assert!("\\timing maybe".parse::<Command>().is_err());
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text();
        for c in COMMANDS {
            assert!(help.contains(&format!("\\{}", c.name)), "{}", c.name);
        }
    }
}
