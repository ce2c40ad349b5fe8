//! `cpiq run` and `cpiq report`: job scripts with parameters, the run
//! report, the HTML report, exit codes, and clean-up after an interrupt.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exec::{Flow, Session};
use crate::foundation::error::{CpiqError, Result, exit};
use crate::foundation::interrupt::interrupted;
use crate::present::report::RunStatus;

/// End a one-shot run. After SIGINT or SIGTERM, the stopped work's writers
/// may still be finishing on other threads: give them a moment, then remove
/// whatever temporary they left, so no partial file remains.
pub(super) fn finish(
    runtime: tokio::runtime::Runtime,
    result: Result<ExitCode>,
) -> Result<ExitCode> {
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
pub(super) async fn run_jobs(
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
    session.set_auto_rollups(true);
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
        Ok(()) if fail_on_missed && session.missed_target() => exit::MISSED_TARGET,
        Ok(()) => exit::OK,
    };
    let status = match (&outcome, code) {
        (Err(CpiqError::Cancelled), _) => RunStatus::Interrupted,
        (Err(CpiqError::Terminated), _) => RunStatus::Terminated,
        (Err(_), _) => RunStatus::Failed,
        (Ok(()), exit::MISSED_TARGET) => RunStatus::MissedTarget,
        _ => RunStatus::Ok,
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
            status,
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
    if code == exit::MISSED_TARGET {
        eprintln!("a CPI missed its target (--fail-on-missed-target)");
    }
    Ok(ExitCode::from(code))
}

/// The HTML report of the statements `session` captured, with the
/// scorecard of every CPI that planned, written atomically to `path`.
pub(super) async fn write_html_report(
    session: &Session,
    files: &[PathBuf],
    status: RunStatus,
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
        status,
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
