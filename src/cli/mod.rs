//! The one-shot command line: the definition of the interface plus glue.
//!
//! Arguments are read in two stages: clap fills [`Args`] (raw flags), then
//! [`Args::resolve`] checks them into the settings the rest of the program
//! uses. Every subcommand ends in the same [`Session`] the shell uses.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::{Engine, EngineOptions};
use crate::error::{CpiqError, Result};
use crate::exec::{Command, Flow, Session};
use crate::generate::{GenerateOptions, generate};
use crate::output::Format;
use crate::workspace::Workspace;

/// cpiq: Customer Performance Indicators on your own data.
///
/// Without a subcommand, cpiq opens an interactive shell on the workspace
/// (or, when standard input is not a terminal, runs the statements it reads).
#[derive(Debug, Parser)]
#[command(name = "cpiq", version, about, long_about = None)]
pub struct Args {
    /// The workspace directory (holding cpiq.toml), or the cpiq.toml itself.
    /// Default: ./cpiq.toml, else the sample bundled with cpiq.
    #[arg(short = 'w', long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Output format: table, csv, json, ndjson or markdown.
    /// Default: table on a terminal, csv otherwise.
    #[arg(short = 'f', long, global = true, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Write results to FILE instead of standard output; the format follows
    /// the extension (.parquet, .csv, .json, .ndjson, .md). Written atomically.
    #[arg(short = 'o', long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Set a CPI parameter, overriding its default (repeatable).
    #[arg(short = 'p', long = "param", global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// No colours in the shell (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run SQL (one or more ;-separated statements) and print the results.
    Sql {
        /// The SQL text.
        query: String,
    },
    /// Run the statements and backslash commands of script files, in order.
    /// Stops at the first error (exit 1), naming the file and line.
    Run {
        /// Script files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the CPIs: name, label, unit, direction, target, parameters.
    Cpis,
    /// Slice CPIs by dimensions and period: value, counts, target status,
    /// Wilson interval, and optionally the change against an earlier period.
    Slice(crate::exec::args::SliceArgs),
    /// Correlate CPIs with KPIs over lags: Pearson/Spearman, p-values,
    /// Fisher intervals, Benjamini–Hochberg q-values, best lag, verdicts.
    Correlate(crate::exec::args::CorrelateArgs),
    /// Split the change of a CPI between two periods into rate and mix
    /// effects per value of one dimension (guards against Simpson's paradox).
    ExplainChange(crate::exec::args::ExplainArgs),
    /// Load the workspace, plan every CPI, and report every problem (exit 1 if any).
    Check,
    /// Write a deterministic sample workspace: Parquet event tables, KPI
    /// tables, cpiq.toml and the CPI library, with planted CPI→KPI relations.
    Generate {
        /// The directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Number of customers (about 1.4 events per customer per month).
        #[arg(long, default_value_t = 10_000)]
        customers: u64,
        /// Months of history.
        #[arg(long, default_value_t = 24)]
        months: u32,
        /// Random seed; the same seed gives the same files.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First month of the history (YYYY-MM-DD).
        #[arg(long, default_value = "2024-01-01")]
        start: String,
    },
}

/// Checked settings shared by every subcommand.
struct Settings {
    format: Format,
    output: Option<PathBuf>,
    params: Vec<(String, String)>,
}

impl Args {
    fn resolve(&self) -> Result<Settings> {
        let format = match &self.format {
            Some(f) => {
                let f: Format = f.parse()?;
                if f == Format::Parquet && self.output.is_none() {
                    return Err(CpiqError::Usage(
                        "parquet output needs a file: use --output FILE.parquet".into(),
                    ));
                }
                f
            }
            None if std::io::stdout().is_terminal() => Format::Table,
            None => Format::Csv,
        };
        if let Some(o) = &self.output {
            Format::for_path(o)?;
        }
        let params = self
            .params
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .filter(|(n, _)| !n.is_empty())
                    .ok_or_else(|| CpiqError::Usage(format!("--param {p:?}: expected NAME=VALUE")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Settings {
            format,
            output: self.output.clone(),
            params,
        })
    }
}

/// Run cpiq with parsed arguments; returns the exit code on success.
pub fn run(args: Args) -> Result<ExitCode> {
    let settings = args.resolve()?;
    if let Some(Cmd::Generate {
        out,
        customers,
        months,
        seed,
        start,
    }) = &args.command
    {
        let start = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
            .map_err(|_| CpiqError::Usage(format!("--start {start:?}: expected YYYY-MM-DD")))?;
        let t = std::time::Instant::now();
        let summary = generate(&GenerateOptions {
            out: out.clone(),
            customers: *customers,
            months: *months,
            seed: *seed,
            start,
            progress: true,
        })?;
        eprintln!(
            "generated {} events and {} survey responses in {} files under {} ({:.1} s)",
            summary.events,
            summary.surveys,
            summary.files,
            out.display(),
            t.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CpiqError::from)?;
    let mut session = runtime.block_on(async {
        let workspace = Workspace::discover(args.workspace.as_deref())?;
        let engine = Engine::open(
            workspace,
            EngineOptions {
                params: settings.params.clone(),
            },
        )
        .await?;
        if !matches!(args.command, Some(Cmd::Check)) {
            for p in engine.problems() {
                eprintln!("warning: {p}");
            }
        }
        let stdout: Box<dyn std::io::Write + Send> =
            Box::new(std::io::BufWriter::new(crate::output::Stdout::new()));
        let mut session = Session::new(engine, settings.format, stdout);
        session.set_output(settings.output.clone())?;
        Ok::<_, CpiqError>(session)
    })?;

    if args.command.is_none() && std::io::stdin().is_terminal() {
        return crate::shell::run(&runtime, session, crate::shell::use_color(args.no_color));
    }
    runtime.block_on(async {
        match &args.command {
            Some(Cmd::Sql { query }) => {
                session
                    .run_script(query, std::path::Path::new("<sql>"))
                    .await?;
            }
            Some(Cmd::Run { files }) => {
                for f in files {
                    let text = std::fs::read_to_string(f).map_err(|e| CpiqError::io(f, e))?;
                    if session.run_script(&text, f).await? == Flow::Quit {
                        break;
                    }
                }
            }
            Some(Cmd::Slice(args)) => {
                session
                    .run_command(Command::Slice(Box::new(args.clone())))
                    .await?;
            }
            Some(Cmd::Correlate(args)) => {
                session
                    .run_command(Command::Correlate(Box::new(args.clone())))
                    .await?;
            }
            Some(Cmd::ExplainChange(args)) => {
                session
                    .run_command(Command::Explain(Box::new(args.clone())))
                    .await?;
            }
            Some(Cmd::Cpis) => {
                session.run_command(Command::Cpis).await?;
            }
            Some(Cmd::Check) => {
                session.run_command(Command::Check).await?;
            }
            Some(Cmd::Generate { .. }) => unreachable!("handled above"),
            None => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                session
                    .run_script(&text, std::path::Path::new("<stdin>"))
                    .await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
