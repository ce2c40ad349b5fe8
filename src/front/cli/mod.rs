//! The one-shot command line: the definition of the interface plus glue.
//!
//! Arguments are read in two stages: clap fills [`Args`] (raw flags), then
//! [`Args::resolve`] checks them into the settings the rest of the program
//! uses. Every subcommand ends in the same [`Session`] the shell uses.

mod args; // clap's Args and Cmd, and the checked Settings
mod cluster; // `cpiq cluster scheduler|executor`
mod jobs; // `cpiq run` and `cpiq report`

pub use args::{Args, ClusterCmd, Cmd};

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use crate::engine::EngineOptions;
use crate::exec::{Command, Session};
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::interrupt::interrupted;
use crate::foundation::stdout::Stdout;
use crate::front::generate::{GenerateOptions, generate};
use crate::front::term;
use crate::model::calendar::Grain;
use crate::workspace::{MemoryLimit, Workspace};
use args::Settings;
use cluster::run_cluster;
use jobs::{finish, run_jobs};

/// Run cpiq with parsed arguments; returns the exit code on success.
pub fn run(args: Args) -> Result<ExitCode> {
    let settings = args.resolve()?;
    match &args.command {
        Some(Cmd::Generate {
            out,
            customers,
            months,
            seed,
            start,
        }) => {
            let opts = GenerateOptions {
                out: out.clone(),
                customers: *customers,
                months: *months,
                seed: *seed,
                start: *start,
                progress: true,
            };
            return generate_sample(&opts, args.read_only);
        }
        Some(Cmd::Cluster(role)) => {
            return run_cluster(role, args.memory_limit.unwrap_or(MemoryLimit::Default));
        }
        Some(Cmd::Inspect { file }) => {
            let mut out = std::io::BufWriter::new(Stdout::new());
            crate::present::output::inspect(file, &mut out)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CpiqError::from)?;
    let mut session = runtime.block_on(open_session(&args, &settings))?;
    match &args.command {
        None if std::io::stdin().is_terminal() => {
            crate::front::shell::run(&runtime, session, term::use_color(args.no_color))
        }
        Some(Cmd::Run {
            files,
            output_dir,
            report,
            fail_on_missed_target,
        }) => {
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
            finish(runtime, result)
        }
        Some(Cmd::Report {
            files,
            html,
            output_dir,
            per,
            fail_on_missed_target,
        }) => {
            let per = *per;
            if matches!(per, Grain::All | Grain::Day) {
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
            finish(runtime, result)
        }
        command => {
            let result = runtime.block_on(async {
                tokio::select! {
                    r = one_shot(&mut session, command.as_ref()) => r,
                    e = interrupted() => Err(e),
                }
            });
            finish(runtime, result)
        }
    }
}

/// `cpiq generate`: write the sample workspace.
fn generate_sample(opts: &GenerateOptions, read_only: bool) -> Result<ExitCode> {
    if read_only {
        return Err(CpiqError::Usage(
            "read-only session: generate writes files and is refused".into(),
        ));
    }
    let t = std::time::Instant::now();
    let summary = generate(opts)?;
    eprintln!(
        "generated {} events, {} survey responses and {} callback requests in {} files under {} ({:.1} s)",
        summary.events,
        summary.surveys,
        summary.callbacks,
        summary.files,
        opts.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Open the workspace (with the command line's overrides) and a session on
/// it that prints to standard output, with the output settings applied.
async fn open_session(args: &Args, settings: &Settings) -> Result<Session> {
    let mut workspace = Workspace::discover(args.workspace.as_deref())?;
    // The engine writes nothing either (its schema cache) in a read-only session.
    workspace.settings.read_only |= args.read_only;
    if let Some(limit) = args.memory_limit {
        workspace.settings.memory_limit = limit;
    }
    if let Some(url) = &args.cluster {
        workspace.settings.cluster = Some(url.clone());
    }
    let mut engine = crate::analysis::plan::open(
        workspace,
        EngineOptions {
            params: settings.params.clone(),
            // A job's parameters fill its own ${name} placeholders too.
            lenient_params: matches!(args.command, Some(Cmd::Run { .. } | Cmd::Report { .. })),
            ..Default::default()
        },
    )
    .await?;
    // Each statement plans the CPI views it reads; what reports on every CPI
    // (and the shell, which greets with their count) plans them all.
    let shell = args.command.is_none() && std::io::stdin().is_terminal();
    if shell || matches!(args.command, Some(Cmd::Cpis)) {
        engine.plan_all().await;
    }
    if !matches!(args.command, Some(Cmd::Check)) {
        for p in engine.problems() {
            eprintln!("warning: {p}");
        }
    }
    // A report's statements go to the HTML file, not the terminal.
    let stdout: Box<dyn std::io::Write + Send> = match args.command {
        Some(Cmd::Report { .. }) => Box::new(std::io::sink()),
        _ => Box::new(std::io::BufWriter::new(Stdout::new())),
    };
    let mut session = Session::new(engine, settings.format, stdout);
    let read_only = session.engine().workspace().settings.read_only;
    let writes_files = settings.output.is_some()
        || matches!(
            &args.command,
            Some(
                Cmd::Run {
                    report: Some(_),
                    ..
                } | Cmd::Run {
                    output_dir: Some(_),
                    ..
                } | Cmd::Report { .. }
            )
        );
    if read_only && writes_files {
        return Err(CpiqError::Usage(
            "read-only session: --output, --output-dir, --report and report --html write files and are refused".into(),
        ));
    }
    session.set_color(term::use_color(args.no_color));
    session.set_terminal(Some(Box::new(term::Tty)));
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
    Ok(session)
}

/// A one-shot command (`sql`, `slice`, `correlate`, …), or a script on
/// standard input when there is none: the same commands the shell runs.
async fn one_shot(session: &mut Session, command: Option<&Cmd>) -> Result<ExitCode> {
    let command = match command {
        Some(Cmd::Sql { query }) => {
            session.run_script(query, Path::new("<sql>")).await?;
            return Ok(ExitCode::SUCCESS);
        }
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            session.run_script(&text, Path::new("<stdin>")).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Cmd::Slice(args)) => Command::Slice(Box::new(args.clone())),
        Some(Cmd::Correlate(args)) => Command::Correlate(Box::new(args.clone())),
        Some(Cmd::Granger(args)) => Command::Granger(Box::new(args.clone())),
        Some(Cmd::Drivers(args)) => Command::Drivers(Box::new(args.clone())),
        Some(Cmd::ExplainChange(args)) => Command::Explain(Box::new(args.clone())),
        Some(Cmd::Cpis) => Command::Cpis,
        Some(Cmd::Check) => Command::Check,
        Some(Cmd::Rollup(args)) => Command::Rollup(Box::new(args.clone())),
        Some(
            Cmd::Run { .. }
            | Cmd::Report { .. }
            | Cmd::Inspect { .. }
            | Cmd::Cluster(_)
            | Cmd::Generate { .. },
        ) => unreachable!("run before a session is opened"),
    };
    session.set_command(command_line());
    session.run_command(command).await?;
    Ok(ExitCode::SUCCESS)
}

/// This process's command line as a shell would read it back: `cpiq` and
/// its arguments, each quoted when it holds anything but safe characters.
fn command_line() -> String {
    let safe = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c))
    };
    std::iter::once("cpiq".to_string())
        .chain(std::env::args().skip(1).map(|a| {
            if safe(&a) {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}
