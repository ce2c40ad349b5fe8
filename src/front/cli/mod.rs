//! The one-shot command line: the definition of the interface plus glue.
//!
//! Arguments are read in two stages: clap fills [`Args`] (raw flags), then
//! [`Args::resolve`] checks them into the settings the rest of the program
//! uses. Every subcommand ends in the same [`Session`] the shell uses.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::EngineOptions;
use crate::exec::{Command, Flow, Session};
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::interrupt::interrupted;
use crate::front::generate::{GenerateOptions, generate};
use crate::present::output::Format;
use crate::workspace::{MemoryLimit, Workspace};

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
        #[arg(long, default_value = "month", value_name = "GRAIN")]
        per: String,
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
        #[arg(long, default_value = "2024-01-01")]
        start: String,
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

fn parse_scheduler(s: &str) -> std::result::Result<crate::workspace::ClusterUrl, String> {
    if s.contains("://") {
        s.parse()
    } else {
        format!("df://{s}").parse()
    }
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

fn parse_memory_limit(s: &str) -> std::result::Result<MemoryLimit, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit::Unlimited);
    }
    crate::workspace::parse_size(s)
        .map(MemoryLimit::Bytes)
        .ok_or_else(|| format!("{s:?} is not a size (for example 2GiB or 512MB, or none)"))
}

/// `cpiq cluster scheduler|executor`: run the process until it is stopped.
fn run_cluster(role: &ClusterCmd, memory_limit: MemoryLimit) -> Result<ExitCode> {
    #[cfg(feature = "distributed")]
    {
        use crate::front::cluster::{ExecutorOptions, SchedulerOptions};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            // Ballista plans deep trees on the scheduler, as its own binary
            // allows for.
            .thread_stack_size(32 << 20)
            .build()
            .map_err(CpiqError::from)?;
        runtime.block_on(async {
            match role {
                ClusterCmd::Scheduler {
                    bind,
                    external_host,
                    executor_timeout,
                } => {
                    crate::front::cluster::run_scheduler(SchedulerOptions {
                        bind: bind.clone(),
                        external_host: external_host.clone(),
                        executor_timeout: *executor_timeout,
                    })
                    .await
                }
                ClusterCmd::Executor {
                    scheduler,
                    bind,
                    grpc_port,
                    external_host,
                    slots,
                    work_dir,
                    heartbeat,
                } => {
                    crate::front::cluster::run_executor(ExecutorOptions {
                        scheduler: scheduler.clone(),
                        bind: bind.clone(),
                        grpc_port: *grpc_port,
                        external_host: external_host.clone(),
                        slots: *slots,
                        work_dir: work_dir.clone(),
                        memory_limit,
                        heartbeat: *heartbeat,
                    })
                    .await
                }
            }
        })?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = memory_limit;
        Err(crate::engine::cluster::not_built(match role {
            ClusterCmd::Scheduler { bind, .. } => format!("df://{bind}"),
            ClusterCmd::Executor { scheduler, .. } => scheduler.to_string(),
        }))
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
        if args.read_only {
            return Err(CpiqError::Usage(
                "read-only session: generate writes files and is refused".into(),
            ));
        }
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

    if let Some(Cmd::Cluster(role)) = &args.command {
        return run_cluster(role, args.memory_limit.unwrap_or(MemoryLimit::Default));
    }
    if let Some(Cmd::Inspect { file }) = &args.command {
        let mut out = std::io::BufWriter::new(crate::foundation::stdout::Stdout::new());
        crate::present::output::inspect(file, &mut out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CpiqError::from)?;
    let mut session = runtime.block_on(async {
        let mut workspace = Workspace::discover(args.workspace.as_deref())?;
        if let Some(limit) = args.memory_limit {
            workspace.settings.memory_limit = limit;
        }
        if let Some(url) = &args.cluster {
            workspace.settings.cluster = Some(url.clone());
        }
        let engine = crate::analysis::plan::open(
            workspace,
            EngineOptions {
                params: settings.params.clone(),
                // A job's parameters fill its own ${name} placeholders too.
                lenient_params: matches!(args.command, Some(Cmd::Run { .. } | Cmd::Report { .. })),
                ..Default::default()
            },
        )
        .await?;
        if !matches!(args.command, Some(Cmd::Check)) {
            for p in engine.problems() {
                eprintln!("warning: {p}");
            }
        }
        // A report's statements go to the HTML file, not the terminal.
        let stdout: Box<dyn std::io::Write + Send> = match args.command {
            Some(Cmd::Report { .. }) => Box::new(std::io::sink()),
            _ => Box::new(std::io::BufWriter::new(crate::foundation::stdout::Stdout::new())),
        };
        let mut session = Session::new(engine, settings.format, stdout);
        let read_only = args.read_only || session.engine().workspace().settings.read_only;
        session.set_read_only(read_only);
        if read_only && (settings.output.is_some() || matches!(&args.command, Some(Cmd::Run { report: Some(_), .. } | Cmd::Run { output_dir: Some(_), .. } | Cmd::Report { .. }))) {
            return Err(CpiqError::Usage(
                "read-only session: --output, --output-dir, --report and report --html write files and are refused".into(),
            ));
        }
        session.set_color(crate::front::term::use_color(args.no_color));
        session.set_terminal(Some(Box::new(crate::front::term::Tty)));
        session.set_partition_by(
            args.partition_by
                .as_deref()
                .map(crate::analysis::slice::split_list)
                .unwrap_or_default(),
        );
        if args.partition_by.is_some() {
            if let Some(o) = &settings.output
                && o.extension().is_some()
            {
                return Err(CpiqError::Usage(format!(
                    "--partition-by writes a directory: give --output a directory name, not {}",
                    o.display()
                )));
            }
            session.set_output_dir_output(settings.output.clone());
        } else {
            session.set_output(settings.output.clone())?;
        }
        Ok::<_, CpiqError>(session)
    })?;

    if args.command.is_none() && std::io::stdin().is_terminal() {
        return crate::front::shell::run(
            &runtime,
            session,
            crate::front::term::use_color(args.no_color),
        );
    }
    if let Some(Cmd::Run {
        files,
        output_dir,
        report,
        fail_on_missed_target,
    }) = &args.command
    {
        // A job races its scripts against signals itself, to write its report.
        let result = runtime.block_on(run_jobs(
            &mut session,
            files,
            output_dir.as_deref(),
            report.as_deref(),
            *fail_on_missed_target,
            &settings.params,
            None,
        ));
        return finish(runtime, result);
    }
    if let Some(Cmd::Report {
        files,
        html,
        output_dir,
        per,
        fail_on_missed_target,
    }) = &args.command
    {
        let per: crate::model::calendar::Grain = per.parse()?;
        if matches!(
            per,
            crate::model::calendar::Grain::All | crate::model::calendar::Grain::Day
        ) {
            return Err(CpiqError::Usage(
                "--per: the scorecard is per week, month, quarter or year".into(),
            ));
        }
        let result = runtime.block_on(run_jobs(
            &mut session,
            files,
            output_dir.as_deref(),
            None,
            *fail_on_missed_target,
            &settings.params,
            Some((html.as_path(), per)),
        ));
        return finish(runtime, result);
    }
    let work = async {
        match &args.command {
            Some(Cmd::Sql { query }) => {
                session
                    .run_script(query, std::path::Path::new("<sql>"))
                    .await?;
            }
            Some(Cmd::Run { .. } | Cmd::Report { .. }) => unreachable!("handled above"),
            Some(Cmd::Inspect { .. } | Cmd::Cluster(_)) => unreachable!("handled above"),
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
            Some(Cmd::Rollup(args)) => {
                session
                    .run_command(Command::Rollup(Box::new(args.clone())))
                    .await?;
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
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = work => r,
            e = interrupted() => Err(e),
        }
    });
    finish(runtime, result)
}

/// End a one-shot run. After SIGINT or SIGTERM, the stopped work's writers
/// may still be finishing on other threads: give them a moment, then remove
/// whatever temporary they left, so no partial file remains.
fn finish(runtime: tokio::runtime::Runtime, result: Result<ExitCode>) -> Result<ExitCode> {
    if let Err(CpiqError::Cancelled | CpiqError::Terminated) = &result {
        runtime.shutdown_timeout(std::time::Duration::from_millis(500));
        crate::foundation::atomic::remove_temporaries();
    }
    result
}

/// Run job scripts: parameters substituted up front (nothing runs if one is
/// missing or refused), exports resolved against `output_dir`, a report
/// written even on failure, exit 3 on a missed target when asked, 130 when
/// interrupted.
async fn run_jobs(
    session: &mut Session,
    files: &[PathBuf],
    output_dir: Option<&std::path::Path>,
    report: Option<&std::path::Path>,
    fail_on_missed: bool,
    params: &[(String, String)],
    html: Option<(&std::path::Path, crate::model::calendar::Grain)>,
) -> Result<ExitCode> {
    // Substitute every script before running any of them.
    let mut scripts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| CpiqError::io(f, e))?;
        let text = crate::model::cpi::substitute(&text, |name| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        })
        .map_err(|e| CpiqError::Usage(format!("{}: {e}", f.display())))?;
        scripts.push((f.clone(), text));
    }
    if let Some(dir) = output_dir {
        std::fs::create_dir_all(dir).map_err(|e| CpiqError::io(dir, e))?;
    }
    session.set_output_dir(output_dir.map(std::path::Path::to_path_buf));
    session.set_job_params(params.to_vec());
    session.start_report();
    if html.is_some() {
        session.start_capture();
    }
    // `\\export FILE` writes the previous statement's result.
    session.keep_last_result(true);
    let mut outcome: Result<()> = Ok(());
    for (path, text) in &scripts {
        let r = tokio::select! {
            r = session.run_script(text, path) => r,
            e = interrupted() => Err(e),
        };
        match r {
            Ok(Flow::Quit) => break,
            Ok(Flow::Continue) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let code: u8 = match &outcome {
        Err(e) => e.exit_code(),
        Ok(()) if fail_on_missed && session.missed_target() => 3,
        Ok(()) => 0,
    };
    let status = match (&outcome, code) {
        (Err(CpiqError::Cancelled), _) => "interrupted",
        (Err(CpiqError::Terminated), _) => "terminated",
        (Err(_), _) => "failed",
        (Ok(()), 3) => "missed_target",
        _ => "ok",
    };
    if let Some((path, per)) = html
        && !matches!(outcome, Err(CpiqError::Cancelled | CpiqError::Terminated))
    {
        let path = match output_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        let written = write_html_report(session, files, status, params, &path, per).await?;
        eprintln!("wrote report {} ({written} bytes)", path.display());
    }
    if let Some(report_path) = report {
        let r = crate::exec::job::Report {
            script: files.first().cloned().unwrap_or_default(),
            status: status.into(),
            exit_code: code,
            params: params.to_vec(),
            statements: session.report_entries(),
        };
        let text = serde_json::to_string_pretty(&r).map_err(|e| CpiqError::Usage(e.to_string()))?;
        let mut f = crate::foundation::atomic::AtomicFile::create(report_path)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.commit()?;
    }
    outcome?;
    if code == 3 {
        eprintln!("a CPI missed its target (--fail-on-missed-target)");
    }
    Ok(ExitCode::from(code))
}

/// The HTML report of the statements `session` captured, with the
/// scorecard of every CPI that planned, written atomically to `path`.
async fn write_html_report(
    session: &Session,
    files: &[PathBuf],
    status: &str,
    params: &[(String, String)],
    path: &std::path::Path,
    per: crate::model::calendar::Grain,
) -> Result<u64> {
    let engine = session.engine();
    let defs = engine.definitions();
    let scores = crate::present::report::scorecard(engine, &defs, per).await;
    let run = crate::present::report::html::RunInfo {
        script: files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        status: status.to_string(),
        params: params.to_vec(),
        workspace: engine.workspace().config_path.display().to_string(),
        created: crate::exec::job::created_at(),
        per: per.name(),
    };
    let text = crate::present::report::html::render(&run, &scores, &session.captured(), &defs)?;
    let mut f = crate::foundation::atomic::AtomicFile::create(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.commit()
}
