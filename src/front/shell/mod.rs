//! The interactive shell: read a statement or command, run it in the shared
//! [`Session`], print the result, and keep going.
//!
//! Ctrl-C while a query runs cancels the query (the plan is dropped, which
//! stops its tasks), not the shell; Ctrl-C at the prompt clears the line;
//! Ctrl-D or `\q` leaves. History persists in `$CPIQ_HISTORY`, else
//! `$XDG_STATE_HOME/cpiq/history`, else `~/.local/state/cpiq/history`.

mod complete; // what to complete where the cursor is
mod helper; // the rustyline helper: validation, and the hooks to the rooms below
mod highlight; // colouring SQL and commands
mod prompt; // where the session is, shortened to the terminal

pub use complete::Catalog;
pub use helper::CpiqHelper;

use std::path::PathBuf;
use std::process::ExitCode;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};
use tokio::runtime::Runtime;

use crate::exec::{Command, Flow, Screen, Session};
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::script;

/// Where the shell keeps its history.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CPIQ_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("cpiq").join("history"))
}

/// What the completer offers: every table and view with its columns, the
/// CPIs with their dimensions, parameters and KPI measures.
pub fn completion_catalog(runtime: &Runtime, session: &Session) -> Catalog {
    let engine = session.engine();
    let ctx = engine.ctx();
    let mut catalog = Catalog::default();
    if let Some(schema) = ctx.catalog("cpiq").and_then(|c| c.schema("public")) {
        for t in schema.table_names() {
            let cols = match runtime.block_on(schema.table(&t)) {
                Ok(Some(provider)) => provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                _ => Vec::new(),
            };
            catalog.tables.insert(t, cols);
        }
    }
    for d in engine.definitions() {
        catalog
            .params
            .extend(d.params.iter().map(|p| p.name.clone()));
        catalog.cpis.insert(d.name.clone(), d.dimensions.clone());
    }
    catalog.params.sort();
    catalog.params.dedup();
    for k in &engine.workspace().kpis {
        catalog.kpi_columns.extend(
            k.measures
                .iter()
                .map(|(m, _)| format!("{}.{m}", k.table.name)),
        );
    }
    catalog
}

/// Run one item against Ctrl-C; a panic is a bug: it is reported as an
/// error and the shell goes on.
fn run_guarded(runtime: &Runtime, session: &mut Session, item: &script::Item) -> Result<Flow> {
    runtime.block_on(async {
        let guarded =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(session.run_item(item)));
        tokio::select! {
            r = guarded => r.unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown".into());
                Err(CpiqError::Usage(format!("internal error (a bug in cpiq, please report it): {msg}")))
            }),
            _ = tokio::signal::ctrl_c() => Err(CpiqError::Cancelled),
        }
    })
}

/// True when `item` may change what completion offers (CPIs, parameters,
/// tables), so the catalog is read again.
fn changes_catalog(item: &script::Item) -> bool {
    match item {
        script::Item::Command { text, .. } => text
            .parse::<Command>()
            .is_ok_and(|c| matches!(c, Command::Reload | Command::Set(_) | Command::Unset(_))),
        script::Item::Sql { text, .. } => text.to_ascii_lowercase().contains("create"),
    }
}

/// Run the shell until `\q` or Ctrl-D.
pub fn run(runtime: &Runtime, mut session: Session, color: bool) -> Result<ExitCode> {
    let config = Config::builder().auto_add_history(false).build();
    let mut editor: Editor<CpiqHelper, FileHistory> = Editor::with_config(config)
        .map_err(|e| CpiqError::Usage(format!("cannot start the shell: {e}")))?;
    editor.set_helper(Some(CpiqHelper::new(
        completion_catalog(runtime, &session),
        color,
    )));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let ws = session.engine().workspace();
    let ok = session.engine().cpis().iter().filter(|c| c.is_ok()).count();
    println!(
        "cpiq {} on {} ({} CPIs, {} tables). \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION"),
        ws.config_path.display(),
        ok,
        ws.tables.len() + ws.kpis.len()
    );
    session.set_timing(false);
    // Fit results to the screen only when they go to one.
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        session.set_screen(Some(Screen::default()));
    }
    session.keep_last_result(true);
    session.set_auto_rollups(true);
    loop {
        let prompt = prompt::prompt(&session.whereabouts(), crate::front::term::prompt_width());
        match editor.readline(&prompt) {
            Ok(mut input) => {
                if input.trim().is_empty() {
                    continue;
                }
                // On a terminal the validator already waits for the `;`; on
                // one rustyline cannot drive, keep reading lines here.
                while !script::is_complete(&input) {
                    match editor.readline("   ...> ") {
                        Ok(more) => {
                            input.push('\n');
                            input.push_str(&more);
                        }
                        Err(_) => break,
                    }
                }
                let _ = editor.add_history_entry(input.trim_end());
                let mut quit = false;
                for item in script::split(&input) {
                    let result = run_guarded(runtime, &mut session, &item);
                    match result {
                        Ok(Flow::Quit) => {
                            quit = true;
                            break;
                        }
                        Ok(Flow::Continue) => {
                            let refresh = changes_catalog(&item);
                            if refresh && let Some(h) = editor.helper_mut() {
                                h.catalog = completion_catalog(runtime, &session);
                            }
                        }
                        Err(e) => {
                            if matches!(e, CpiqError::Cancelled) {
                                session.stop_background();
                            }
                            eprintln!("Error: {e}");
                            break;
                        }
                    }
                }
                if quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt also stops a background rollup build.
                session.stop_background();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CpiqError::Usage(format!("shell: {e}"))),
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = editor.save_history(h) {
            eprintln!("warning: could not save history to {}: {e}", h.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
