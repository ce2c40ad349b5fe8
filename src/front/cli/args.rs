//! The command line as clap reads it ([`Args`], [`Cmd`]), and its checked
//! form ([`Settings`]): stage one and stage two of reading arguments.

use std::io::IsTerminal;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::Grain;
use crate::present::output::Format;
use crate::workspace::MemoryLimit;

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
    #[arg(short = 'f', long, global = true, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,

    /// Write results to FILE instead of standard output; the format follows
    /// the extension (.parquet, .csv, .json, .ndjson, .md). Written atomically.
    #[arg(short = 'o', long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write --output / \\export results as hive-style folders partitioned by
    /// these columns (published as a whole).
    #[arg(long, global = true, value_name = "COLUMN[,COLUMN…]")]
    pub partition_by: Option<String>,

    /// Set a CPI parameter, overriding its default (repeatable).
    #[arg(short = 'p', long = "param", global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Refuse DDL, DML, COPY, \\export and every file write (also
    /// `[settings] read_only = true`).
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Memory for query operators, beyond which they spill to disk or fail
    /// with a "memory limit" error: a size such as 2GiB, or "none" (overrides
    /// `[settings] memory_limit`; the default is half the machine's memory).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<MemoryLimit>,

    /// Run queries on the Ballista cluster whose scheduler is at
    /// df://HOST:PORT (overrides `[settings] cluster`). Needs a build with
    /// the `distributed` feature.
    #[arg(long, global = true, value_name = "df://HOST:PORT")]
    pub cluster: Option<crate::workspace::ClusterUrl>,

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
    ///
    /// `${name}` in a script takes the value of `--param name=VALUE` (escaped
    /// inside quoted strings; elsewhere a number, ISO date or identifier only).
    /// A missing or refused parameter fails before anything runs.
    Run {
        /// Script files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Resolve relative export paths (\export, \o, --output, COPY … TO) here.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Write a JSON report of the run (also on failure): one entry per statement.
        #[arg(long, value_name = "RUN.json")]
        report: Option<PathBuf>,
        /// Exit with code 3 when any printed or exported CPI row has status `missed`.
        #[arg(long)]
        fail_on_missed_target: bool,
    },
    /// Run job scripts like `run` and write one self-contained HTML report:
    /// the CPI scorecard (latest value, target, status, change, sparkline),
    /// the correlation verdicts, and each statement's table and chart.
    Report {
        /// Script files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The HTML file to write (atomically, also when a statement fails).
        #[arg(long, value_name = "OUT.html")]
        html: PathBuf,
        /// Resolve relative export paths (\export, \chart, COPY … TO) here.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// The scorecard's grain: week, month, quarter or year.
        #[arg(long, default_value = "month", value_name = "GRAIN", value_parser = crate::exec::args::parse_grain)]
        per: Grain,
        /// Exit with code 3 when any printed or exported CPI row has status `missed`.
        #[arg(long)]
        fail_on_missed_target: bool,
    },
    /// Show an exported Parquet file: cpiq's provenance metadata, schema and row count.
    Inspect {
        /// The Parquet file.
        file: PathBuf,
    },
    /// List the CPIs: name, label, unit, direction, target, parameters.
    Cpis,
    /// Slice CPIs by dimensions and period: value, counts, target status,
    /// Wilson interval, and optionally the change against an earlier period.
    Slice(crate::exec::args::SliceArgs),
    /// Correlate CPIs with KPIs over lags: Pearson/Spearman, p-values,
    /// Fisher intervals, Benjamini–Hochberg q-values, best lag, verdicts.
    Correlate(crate::exec::args::CorrelateArgs),
    /// Granger tests in both directions per CPI × KPI (× dimension value):
    /// does the CPI lead the KPI (`cpi_leads`), or the KPI the CPI
    /// (`kpi_leads`)? F tests with a trend by default, lag order by AIC,
    /// Toda–Yamamoto augmentation, Benjamini–Hochberg q-values, verdicts.
    Granger(crate::exec::args::GrangerArgs),
    /// Rank CPIs as drivers of a KPI over time: lead, Granger both ways,
    /// out-of-sample forecast gain, placebo p-value, a multivariate model
    /// with Newey–West errors and Shapley importance, and a verdict.
    Drivers(crate::exec::args::DriversArgs),
    /// Split the change of a CPI between two periods into rate and mix
    /// effects per value of one dimension (guards against Simpson's paradox).
    ExplainChange(crate::exec::args::ExplainArgs),
    /// Load the workspace, plan every CPI, and report every problem (exit 1 if any).
    Check,
    /// Rollups: CPIs pre-aggregated by day (or --grain) and every dimension,
    /// kept in the workspace's cache folder. Slices they cover are answered
    /// from them automatically while they are fresh.
    ///
    /// build: aggregate the CPIs (all, or those named) now. refresh: fold
    /// files added since into each rollup, rebuilding those whose files,
    /// definition or parameters changed. status: size and freshness. drop:
    /// remove them.
    Rollup(crate::exec::args::RollupArgs),
    /// Start a Ballista scheduler or executor from this binary, so a
    /// cluster needs nothing else installed (`distributed` feature).
    #[command(subcommand)]
    Cluster(ClusterCmd),
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
        #[arg(long, default_value = "2024-01-01", value_parser = parse_start)]
        start: NaiveDate,
    },
}

/// `cpiq cluster …`: the processes of a Ballista cluster.
#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Start a scheduler: clients (`--cluster df://HOST:PORT`) submit
    /// queries to it; it splits them into stages and hands the tasks to the
    /// executors. Runs until SIGINT or SIGTERM.
    Scheduler {
        /// Address to listen on; 0.0.0.0:50050 to accept other machines.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: String,
        /// Host name clients and executors use to reach this scheduler
        /// (default: the bind host; this machine's name for 0.0.0.0).
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Seconds without a heartbeat after which an executor counts as
        /// lost and its tasks are run again elsewhere.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        executor_timeout: u64,
    },
    /// Start an executor: it registers with the scheduler, runs the tasks it
    /// is given, and serves their results over Arrow Flight on --bind (the
    /// task service listens on the next port). Runs until SIGINT or SIGTERM.
    Executor {
        /// The scheduler: df://HOST:PORT (or HOST:PORT).
        #[arg(long, value_name = "df://HOST:PORT", value_parser = parse_scheduler)]
        scheduler: crate::workspace::ClusterUrl,
        /// Address of the Arrow Flight service; the task service uses PORT + 1.
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        bind: String,
        /// Port of the task service (default: the --bind port + 1).
        #[arg(long, value_name = "PORT")]
        grpc_port: Option<u16>,
        /// Host name the scheduler, other executors and clients use to reach
        /// this executor (default: the bind host; this machine's name for 0.0.0.0).
        #[arg(long, value_name = "HOST")]
        external_host: Option<String>,
        /// Tasks run at once (default: the number of cores).
        #[arg(long, value_name = "N")]
        slots: Option<usize>,
        /// Folder for shuffle files and spills (default: a fresh folder in
        /// the system's temporary directory, removed at exit).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, default_value_t = 5, value_name = "SECS")]
        heartbeat: u64,
    },
}

pub(super) fn parse_scheduler(
    s: &str,
) -> std::result::Result<crate::workspace::ClusterUrl, String> {
    if s.contains("://") {
        s.parse()
    } else {
        format!("df://{s}").parse()
    }
}

/// Checked settings shared by every subcommand.
pub(super) struct Settings {
    pub(super) format: Format,
    pub(super) output: Option<PathBuf>,
    pub(super) params: Vec<(String, String)>,
}

impl Args {
    pub(super) fn resolve(&self) -> Result<Settings> {
        let format = match self.format {
            Some(f) => {
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
        if let Some(o) = &self.output
            && self.partition_by.is_none()
        {
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

pub(super) fn parse_memory_limit(s: &str) -> std::result::Result<MemoryLimit, String> {
    MemoryLimit::parse(s)
        .ok_or_else(|| format!("{s:?} is not a size (for example 2GiB or 512MB, or none)"))
}

/// `--format` as clap reads it: the output module's parser and message.
fn parse_format(s: &str) -> std::result::Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// `--start YYYY-MM-DD`.
fn parse_start(s: &str) -> std::result::Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?}: expected YYYY-MM-DD"))
}
