//! The front-end-independent core that runs statements and commands.
//!
//! A [`Session`] is an [`Engine`] plus the user's output settings (format,
//! output file, timing). The shell, `cpiq sql`, `cpiq run` and job scripts all
//! end in [`Session::run_script`] / [`Session::run_item`], so a feature is
//! written once and reached from all of them. This module does not read
//! terminals or parse flags: a front end lends it a [`Terminal`].

pub mod args;
mod charts;
pub mod command;
mod commands;
pub(crate) mod job;
mod listings;
mod route;
mod run;
mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

pub use command::{COMMANDS, Command, CommandSpec, command_help, help_text};
pub use run::{is_query, summarize_target};
pub use terminal::{Progress, Terminal};

use crate::engine::Engine;
use crate::foundation::error::{CpiqError, Result};
use crate::present::output::{Expanded, Format};
use crate::present::report::{Captured, ResultKind};

/// Columns and rows of a result table without a terminal.
const TABLE_SIZE: (usize, usize) = (100, 40);
/// Columns and rows of a text chart without a terminal.
const CHART_SIZE: (usize, usize) = (100, 30);

/// What produced the last result: the statement, and the files its query
/// read or the CPIs it sliced (whose files are looked up only on export).
#[derive(Debug, Clone, Default)]
struct LastSource {
    command: String,
    files: Vec<String>,
    cpis: Vec<String>,
}

/// Whether to go on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// The user asked to leave (`\q`).
    Quit,
}

/// Where a session is, for a front end's prompt: the workspace, the
/// parameters whose values differ from their defaults, and the modes that
/// change what statements may do or where they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whereabouts {
    /// The workspace's name: the name of the folder holding `cpiq.toml`.
    pub workspace: String,
    /// `(parameter, value)` for each parameter set to something other than
    /// the default its CPIs declare, in name order.
    pub params: Vec<(String, String)>,
    /// `--read-only`.
    pub read_only: bool,
    /// Queries run on a cluster (`--cluster`, `[settings] cluster`).
    pub cluster: bool,
}

/// How results fit a terminal: only in the shell, never for pipes or files.
#[derive(Debug, Clone)]
pub struct Screen {
    /// Rows a table shows at most (first and last halves); `None`: all.
    pub max_rows: Option<usize>,
    /// Expanded display.
    pub expanded: Expanded,
    /// Page results taller than the screen.
    pub pager: bool,
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            max_rows: Some(40),
            expanded: Expanded::Off,
            pager: true,
        }
    }
}

/// An engine and where its results go.
pub struct Session {
    engine: Engine,
    format: Format,
    output: Option<PathBuf>,
    timing: bool,
    out: Box<dyn Write + Send>,
    screen: Option<Screen>,
    keep_last: bool,
    last: Option<(SchemaRef, Vec<RecordBatch>)>,
    last_sql: Vec<String>,
    /// What produced `last`, for the provenance of `\\export`.
    last_source: LastSource,
    last_elapsed: Option<Duration>,
    watchers: Vec<(
        Arc<std::sync::atomic::AtomicBool>,
        Arc<std::sync::atomic::AtomicU64>,
    )>,
    output_dir: Option<PathBuf>,
    job_params: Vec<(String, String)>,
    missed: bool,
    statement_outputs: Vec<job::OutputFile>,
    statement_rows: u64,
    report: Option<Vec<job::ReportEntry>>,
    command: String,
    partition_by: Vec<String>,
    /// ANSI colours in charts drawn to `out`.
    color: bool,
    /// The front end's terminal: sizes, pager, progress line.
    terminal: Option<Box<dyn Terminal>>,
    /// What produced `last`, and a correlation's scatters and verdicts.
    last_kind: ResultKind,
    last_scatters: Vec<crate::present::chart::Scatter>,
    last_verdicts: Vec<String>,
    /// Counts results, so a statement's own result can be told from an
    /// earlier one.
    last_gen: u64,
    /// Each statement's result, for the HTML report (when capturing).
    captures: Option<Vec<Captured>>,
    /// Build day rollups in the background after raw slices (sessions
    /// that outlive one query: the shell, jobs).
    auto_rollups: bool,
    /// The background rollup build, while there is one.
    background: Option<crate::analysis::rollup::Background>,
}

impl Session {
    /// A session printing to `out` in `format`. It refuses every statement
    /// and command that writes (DDL, DML, COPY, `\\export`, `\\o`, output
    /// files) when the workspace is read-only (`[settings] read_only`, or
    /// `--read-only` folded into it).
    pub fn new(engine: Engine, format: Format, out: Box<dyn Write + Send>) -> Session {
        Session {
            engine,
            format,
            output: None,
            timing: false,
            out,
            screen: None,
            keep_last: false,
            last: None,
            last_sql: Vec::new(),
            last_source: LastSource::default(),
            last_elapsed: None,
            watchers: Vec::new(),
            output_dir: None,
            job_params: Vec::new(),
            missed: false,
            statement_outputs: Vec::new(),
            statement_rows: 0,
            report: None,
            command: String::new(),
            partition_by: Vec::new(),
            color: false,
            terminal: None,
            last_kind: ResultKind::Query,
            last_scatters: Vec::new(),
            last_verdicts: Vec::new(),
            last_gen: 0,
            captures: None,
            auto_rollups: false,
            background: None,
        }
    }

    /// Where the session is (for the shell's prompt).
    pub fn whereabouts(&self) -> Whereabouts {
        let ws = self.engine.workspace();
        let declared: Vec<&crate::model::cpi::Param> = self
            .engine
            .cpis()
            .iter()
            .filter_map(|c| c.definition.as_ref())
            .flat_map(|d| d.params.iter())
            .collect();
        let mut params: Vec<(String, String)> = self
            .engine
            .params()
            .iter()
            .filter(|(name, value)| {
                declared
                    .iter()
                    .any(|p| &p.name == *name && &p.default != *value)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        params.sort();
        Whereabouts {
            workspace: ws.name(),
            params,
            read_only: self.read_only(),
            cluster: ws.settings.cluster.is_some(),
        }
    }

    /// Resolve relative export paths (`\\export`, `\\o`, `--output`,
    /// `COPY … TO`) against `dir`.
    pub fn set_output_dir(&mut self, dir: Option<PathBuf>) {
        self.output_dir = dir;
    }

    /// The command line a one-shot command came from, recorded in what it
    /// exports (`cpiq.command`).
    pub fn set_command(&mut self, text: String) {
        self.command = text;
    }

    /// Build a CPI's day rollup in the background after a slice reads its
    /// raw events (the shell and jobs turn this on; `[settings]
    /// auto_rollups = false` and read-only sessions keep it off).
    pub fn set_auto_rollups(&mut self, on: bool) {
        self.auto_rollups = on;
    }

    /// Stop a background rollup build (Ctrl-C); nothing half-written stays.
    pub fn stop_background(&mut self) {
        self.background = None;
    }

    /// True while a background rollup build runs.
    pub fn background_running(&self) -> bool {
        self.background.as_ref().is_some_and(|b| b.is_running())
    }

    /// After a slice read `cpis` from raw events: build their day rollups
    /// in the background, unless one is being built already.
    fn build_behind(&mut self, cpis: Vec<String>) {
        let settings = &self.engine.workspace().settings;
        if !self.auto_rollups
            || cpis.is_empty()
            || self.read_only()
            || !settings.auto_rollups
            || settings.cluster.is_some()
            || self.background_running()
        {
            return;
        }
        let origin = format!("built automatically after: {}", self.command.trim());
        self.background = Some(crate::analysis::rollup::Background::start(
            &self.engine,
            cpis,
            origin,
        ));
    }

    /// Whether the session refuses writes (the workspace's setting).
    fn read_only(&self) -> bool {
        self.engine.workspace().settings.read_only
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<()> {
        if self.read_only() {
            return Err(CpiqError::Usage(format!(
                "read-only session: {what} is refused (started with --read-only or [settings] read_only = true)"
            )));
        }
        Ok(())
    }

    /// The terminal results are shown on, lent by the front end.
    pub fn set_terminal(&mut self, terminal: Option<Box<dyn Terminal>>) {
        self.terminal = terminal;
    }

    /// Columns and rows a result table fits.
    fn table_size(&self) -> (usize, usize) {
        self.terminal
            .as_ref()
            .map_or(TABLE_SIZE, |t| t.table_size())
    }

    /// Draw charts with ANSI colours and Unicode (else plain ASCII).
    pub fn set_color(&mut self, on: bool) {
        self.color = on;
    }

    /// Keep every statement's result for [`Session::captured`] (the HTML
    /// report); implies [`Session::start_report`].
    pub fn start_capture(&mut self) {
        self.start_report();
        self.captures = Some(Vec::new());
    }

    /// The statements run since [`Session::start_capture`], with their results.
    pub fn captured(&self) -> Vec<Captured> {
        self.captures.clone().unwrap_or_default()
    }

    /// Write exports as hive-style folders partitioned by these columns.
    pub fn set_partition_by(&mut self, columns: Vec<String>) {
        self.partition_by = columns;
    }

    /// The job's parameters, recorded in exported files' metadata.
    pub fn set_job_params(&mut self, params: Vec<(String, String)>) {
        self.job_params = params;
    }

    /// Record one report entry per statement from now on.
    pub fn start_report(&mut self) {
        self.report = Some(Vec::new());
    }

    /// The report entries recorded so far.
    pub fn report_entries(&self) -> Vec<job::ReportEntry> {
        self.report.clone().unwrap_or_default()
    }

    /// True once any printed or exported CPI row had status `missed`.
    pub fn missed_target(&self) -> bool {
        self.missed
    }

    fn resolve_out(&self, p: &Path) -> PathBuf {
        if p.to_str()
            .and_then(crate::workspace::object_store_url)
            .is_some()
        {
            return p.to_path_buf();
        }
        match &self.output_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Fit results to the terminal (width, rows, pager) and keep the last
    /// result for `\export`: the shell's mode.
    pub fn set_screen(&mut self, screen: Option<Screen>) {
        self.screen = screen;
    }

    /// Keep each result in memory so `\export FILE` can write it without
    /// running the query again.
    pub fn keep_last_result(&mut self, keep: bool) {
        self.keep_last = keep;
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Send every result to `path` (format by extension) instead of `out`.
    pub fn set_output(&mut self, path: Option<PathBuf>) -> Result<()> {
        if let Some(p) = &path {
            Format::for_path(p)?;
        }
        self.output = path;
        Ok(())
    }

    /// Send results to the directory `path` (partitioned exports).
    pub fn set_output_dir_output(&mut self, path: Option<PathBuf>) {
        self.output = path;
    }

    /// Show elapsed time after each statement.
    pub fn set_timing(&mut self, on: bool) {
        self.timing = on;
    }
}
