//! The front-end-independent core that runs statements and commands.
//!
//! A [`Session`] is an [`Engine`] plus the user's output settings (format,
//! output file, timing). The shell, `cpiq sql`, `cpiq run` and job scripts all
//! end in [`Session::run_script`] / [`Session::run_item`], so a feature is
//! written once and reached from all of them. This module does not read
//! terminals or parse flags: a front end lends it a [`Terminal`].

pub mod args;
pub mod command;
pub mod job;
mod terminal;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::physical_plan::memory::MemoryStream;

pub use command::{COMMANDS, Command, CommandSpec, command_help, help_text};
pub use terminal::Terminal;

use crate::analysis::plan::SlicePlan;
use crate::engine::Engine;
use crate::foundation::atomic::{AtomicFile, Staged};
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::script::{self, Item};
use crate::present::chart::Chart;
use crate::present::output::{self, Expanded, Format, TableOptions};
use crate::present::report::{Captured, CapturedResult, ResultKind};

/// Columns and rows of a result table without a terminal.
const TABLE_SIZE: (usize, usize) = (100, 40);
/// Columns and rows of a text chart without a terminal.
const CHART_SIZE: (usize, usize) = (100, 30);

/// A fresh private folder for an export on its way to object storage.
fn tempfile_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let dir = base.join(format!("cpiq-upload-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CpiqError::io(&dir, e)),
        }
    }
    Err(CpiqError::Usage(
        "no free temporary folder for an upload".into(),
    ))
}

fn item_text(item: &Item) -> &str {
    match item {
        Item::Sql { text, .. } | Item::Command { text, .. } => text,
    }
}

/// The kind of a statement that writes (DDL, DML, COPY), or `None` for a
/// query (SELECT, WITH, VALUES, EXPLAIN, SHOW, SET of a session option).
fn writing_statement(sql: &str) -> Option<&'static str> {
    use datafusion::sql::parser::{DFParser, Statement as DFStatement};
    use datafusion::sql::sqlparser::ast::Statement as S;
    let Ok(statements) = DFParser::parse_sql(sql) else {
        return None; // the engine reports the syntax error
    };
    for st in statements {
        let kind = match st {
            DFStatement::CopyTo(_) => "COPY",
            DFStatement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
            DFStatement::Explain(_) | DFStatement::Reset(_) => continue,
            DFStatement::Statement(s) => match *s {
                S::Query(_)
                | S::Explain { .. }
                | S::ExplainTable { .. }
                | S::ShowTables { .. }
                | S::ShowColumns { .. }
                | S::ShowVariable { .. }
                | S::Set(_) => continue,
                S::Insert(_) => "INSERT",
                S::Update { .. } => "UPDATE",
                S::Delete(_) => "DELETE",
                S::Truncate { .. } => "TRUNCATE",
                S::CreateView { .. }
                | S::CreateTable(_)
                | S::CreateSchema { .. }
                | S::CreateDatabase { .. }
                | S::CreateFunction(_)
                | S::CreateIndex(_) => "CREATE",
                S::Drop { .. } | S::DropFunction { .. } => "DROP",
                S::AlterTable { .. } => "ALTER",
                _ => "this statement",
            },
        };
        return Some(kind);
    }
    None
}

/// True when `batch` is CPI rows (a `cpi` and a `status` column) with a
/// row whose status is `missed`.
fn batch_has_missed(batch: &RecordBatch) -> bool {
    if batch.column_by_name("cpi").is_none() {
        return false;
    }
    let Some(status) = batch.column_by_name("status") else {
        return false;
    };
    let Ok(status) = datafusion::arrow::compute::cast(status, &DataType::Utf8) else {
        return false;
    };
    status
        .as_any()
        .downcast_ref::<StringArray>()
        .is_some_and(|s| s.iter().any(|v| v == Some("missed")))
}

/// The row count a DataFusion write (`COPY`, `write_parquet`) reports.
fn rows_written(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| a.iter().flatten().sum::<u64>())
        })
        .sum()
}

/// Fault injection for the tests of cpiq's own safety nets: with
/// `CPIQ_FAULT_INJECTION=panic` in the environment, a statement containing
/// `cpiq_fault_panic` panics, as a bug would. Never set in normal use.
fn failpoint(statement: &str) {
    if statement.contains("cpiq_fault_panic")
        && std::env::var_os("CPIQ_FAULT_INJECTION").is_some_and(|v| v == "panic")
    {
        panic!("fault injected by CPIQ_FAULT_INJECTION");
    }
}

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
    read_only: bool,
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
}

impl Session {
    /// A session printing to `out` in `format`.
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
            read_only: false,
            color: false,
            terminal: None,
            last_kind: ResultKind::Query,
            last_scatters: Vec::new(),
            last_verdicts: Vec::new(),
            last_gen: 0,
            captures: None,
        }
    }

    /// Resolve relative export paths (`\\export`, `\\o`, `--output`,
    /// `COPY … TO`) against `dir`.
    pub fn set_output_dir(&mut self, dir: Option<PathBuf>) {
        self.output_dir = dir;
    }

    /// Refuse every statement and command that writes: DDL, DML, COPY,
    /// `\\export`, `\\o` and output files.
    pub fn set_read_only(&mut self, on: bool) {
        self.read_only = on;
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<()> {
        if self.read_only {
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

    /// Remember a result: for `\export`, `\chart` and the report.
    fn remember(
        &mut self,
        kind: ResultKind,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        scatters: Vec<crate::present::chart::Scatter>,
        verdicts: Vec<String>,
    ) {
        self.last_gen += 1;
        // Query results can be large: kept only when asked. Slices,
        // correlations and listings are small, and `\\chart` draws them.
        if self.keep_last || self.captures.is_some() || kind != ResultKind::Query {
            self.last = Some((schema, batches));
        }
        self.last_kind = kind;
        self.last_scatters = scatters;
        self.last_verdicts = verdicts;
    }

    /// Write exports as hive-style folders partitioned by these columns.
    pub fn set_partition_by(&mut self, columns: Vec<String>) {
        self.partition_by = columns;
    }

    /// Write `df` as a hive-style directory partitioned by the session's
    /// columns, built aside and published whole.
    async fn write_partitioned(
        &mut self,
        df: datafusion::dataframe::DataFrame,
        target: &Path,
        inputs: &[String],
    ) -> Result<output::Written> {
        use datafusion::common::config::TableParquetOptions;
        use datafusion::dataframe::DataFrameWriteOptions;
        if let Some(url) = target.to_str().and_then(crate::workspace::object_store_url) {
            return Err(CpiqError::Usage(format!(
                "{url}: a partitioned export is published as one local folder; to object storage use COPY (…) TO '{url}' PARTITIONED BY (…), which publishes each file whole"
            )));
        }
        let staged = Staged::new(target, true)?;
        let mut opts = TableParquetOptions::default();
        opts.global.compression = Some("zstd(3)".into());
        opts.key_value_metadata = job::provenance(
            &self.command,
            &self.job_params,
            &self.engine.workspace().config_path,
            inputs,
        )
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
        let batches = df
            .write_parquet(
                &staged.location(),
                DataFrameWriteOptions::new().with_partition_by(self.partition_by.clone()),
                Some(opts),
            )
            .await?;
        let rows = rows_written(&batches);
        let bytes = staged.publish()?;
        self.statement_rows += rows;
        self.statement_outputs.push(job::OutputFile {
            path: target.to_path_buf(),
            rows,
            bytes,
        });
        Ok(output::Written { rows, bytes })
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

    /// Run every statement and command of `text` in order, stopping at the
    /// first error, which is located at `path` and the item's line.
    pub async fn run_script(&mut self, text: &str, path: &Path) -> Result<Flow> {
        let items = script::split(text);
        for (i, item) in items.iter().enumerate() {
            let (line, text) = match item {
                Item::Sql { line, text } | Item::Command { line, text } => (*line, text.clone()),
            };
            self.statement_outputs.clear();
            self.statement_rows = 0;
            let started = Instant::now();
            let gen_before = self.last_gen;
            let reported_before = self.report.as_ref().map_or(0, Vec::len);
            let result = self.run_item(item).await;
            if let Some(report) = &mut self.report {
                report.push(job::ReportEntry {
                    text,
                    line,
                    status: if result.is_ok() { "ok" } else { "failed" },
                    rows: self.statement_rows,
                    elapsed_ms: started.elapsed().as_millis(),
                    outputs: std::mem::take(&mut self.statement_outputs),
                    error: result.as_ref().err().map(|e| e.to_string()),
                });
                if result.is_err() {
                    for rest in &items[i + 1..] {
                        let (line, text) = match rest {
                            Item::Sql { line, text } | Item::Command { line, text } => {
                                (*line, text.clone())
                            }
                        };
                        report.push(job::ReportEntry {
                            text,
                            line,
                            status: "not_run",
                            rows: 0,
                            elapsed_ms: 0,
                            outputs: Vec::new(),
                            error: None,
                        });
                    }
                }
            }
            if let (Some(captures), Some(report)) = (&mut self.captures, &self.report) {
                for (k, entry) in report[reported_before..].iter().enumerate() {
                    let produced = k == 0 && self.last_gen != gen_before;
                    captures.push(Captured {
                        entry: entry.clone(),
                        result: match (&self.last, produced) {
                            (Some((schema, batches)), true) => Some(CapturedResult {
                                kind: self.last_kind,
                                schema: schema.clone(),
                                batches: batches.clone(),
                                scatters: self.last_scatters.clone(),
                                verdicts: self.last_verdicts.clone(),
                            }),
                            _ => None,
                        },
                    });
                }
            }
            match result {
                Ok(Flow::Quit) => return Ok(Flow::Quit),
                Ok(Flow::Continue) => {}
                Err(e) => {
                    let first_line = item_text(item).lines().next().unwrap_or("").to_string();
                    return Err(match e.at(path, line) {
                        CpiqError::Statement { location, source } => CpiqError::Statement {
                            location,
                            source: Box::new(CpiqError::Usage(format!(
                                "{source}\n  in: {first_line}"
                            ))),
                        },
                        other => other,
                    });
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Run one statement or command.
    pub async fn run_item(&mut self, item: &Item) -> Result<Flow> {
        self.command = item_text(item).to_string();
        failpoint(&self.command);
        let result = self.run_item_inner(item).await;
        self.settle_watchers();
        result
    }

    async fn run_item_inner(&mut self, item: &Item) -> Result<Flow> {
        match item {
            Item::Sql { text, .. } => {
                self.run_sql(text).await?;
                Ok(Flow::Continue)
            }
            Item::Command { text, .. } => {
                let cmd: Command = text.parse()?;
                self.run_command(cmd).await
            }
        }
    }

    /// Plan and run one SQL statement and write its result.
    pub async fn run_sql(&mut self, sql: &str) -> Result<()> {
        let started = Instant::now();
        if self.read_only {
            if let Some(kind) = writing_statement(sql) {
                self.refuse_if_read_only(kind)?;
            }
            if self.output.is_some() {
                self.refuse_if_read_only("writing results to a file")?;
            }
        }
        if let Some(copy) = self.atomic_copy(sql).await? {
            self.statement_outputs.push(copy);
            return Ok(());
        }
        let df = self.engine.sql(sql).await?;
        if let Some(path) = self.output.clone()
            && !self.partition_by.is_empty()
            && !df.schema().fields().is_empty()
        {
            let path = self.resolve_out(&path);
            let plan = df.clone().create_physical_plan().await?;
            let inputs = job::input_files(&plan);
            let written = self.write_partitioned(df, &path, &inputs).await?;
            eprintln!(
                "wrote {} rows to {} ({} bytes, partitioned by {})",
                written.rows,
                path.display(),
                written.bytes,
                self.partition_by.join(", ")
            );
            return Ok(());
        }
        // DDL (CREATE VIEW, SET …) has no result columns: print nothing.
        if df.schema().fields().is_empty() {
            return Ok(());
        }
        if self.keep_last {
            let plan = df.create_physical_plan().await?;
            let stream = datafusion::physical_plan::execute_stream(
                plan.clone(),
                self.engine.ctx().task_ctx(),
            )?;
            let schema = stream.schema();
            self.last_source = LastSource {
                command: self.command.clone(),
                files: job::input_files(&plan),
                cpis: Vec::new(),
            };
            let progress = match (&self.screen, self.terminal.as_deref_mut()) {
                (Some(_), Some(t)) => Some(t),
                _ => None,
            };
            let batches = terminal::collect_with_progress(&plan, stream, progress).await?;
            self.remember(
                ResultKind::Query,
                schema.clone(),
                batches.clone(),
                Vec::new(),
                Vec::new(),
            );
            let elapsed = started.elapsed();
            self.emit_memory(schema, batches, Some(elapsed)).await?;
        } else {
            let plan = df.create_physical_plan().await?;
            let inputs = job::input_files(&plan);
            let stream =
                datafusion::physical_plan::execute_stream(plan, self.engine.ctx().task_ctx())?;
            self.emit_with_inputs(stream, &inputs).await?;
        }
        if self.timing {
            writeln!(self.out, "Time: {:.3} s", started.elapsed().as_secs_f64())?;
            self.out.flush()?;
        }
        Ok(())
    }

    async fn emit_memory(
        &mut self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        elapsed: Option<Duration>,
    ) -> Result<()> {
        if self.output.is_none()
            && self.format == Format::Table
            && let Some(screen) = self.screen.clone()
        {
            let (width, height) = self.table_size();
            let opts = TableOptions {
                width: Some(width),
                max_rows: screen.max_rows,
                expanded: screen.expanded,
                elapsed,
            };
            let stream = MemoryStream::try_new(batches, schema.clone(), None)?;
            let mut buf: Vec<u8> = Vec::new();
            output::write_stream_with(Box::pin(stream), Format::Table, &mut buf, &opts).await?;
            let lines = buf.iter().filter(|b| **b == b'\n').count();
            if screen.pager
                && lines + 2 > height
                && self.terminal.as_mut().is_some_and(|t| t.page(&buf))
            {
                return Ok(());
            }
            self.out.write_all(&buf)?;
            self.out.flush()?;
            return Ok(());
        }
        let stream = MemoryStream::try_new(batches, schema, None)?;
        self.emit(Box::pin(stream)).await
    }

    async fn emit(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<()> {
        self.emit_with_inputs(stream, &[]).await
    }

    /// Write a result where it goes; exported Parquet records `inputs`.
    async fn emit_with_inputs(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
        inputs: &[String],
    ) -> Result<()> {
        let stream = self.watch(stream);
        if let Some(path) = self.output.clone() {
            let path = self.resolve_out(&path);
            let written = self.write_file(stream, &path, inputs).await?;
            eprintln!(
                "wrote {} row{} to {} ({} bytes)",
                written.rows,
                if written.rows == 1 { "" } else { "s" },
                path.display(),
                written.bytes
            );
            return Ok(());
        }
        self.emit_plain(stream).await
    }

    /// Count rows and notice CPI rows whose status is `missed`.
    fn watch(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> datafusion::execution::SendableRecordBatchStream {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let schema = stream.schema();
        let missed = Arc::new(AtomicBool::new(false));
        let rows = Arc::new(AtomicU64::new(0));
        let (m, r) = (missed.clone(), rows.clone());
        let watched = futures::StreamExt::inspect(stream, move |b| {
            if let Ok(b) = b {
                r.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                if batch_has_missed(b) {
                    m.store(true, Ordering::Relaxed);
                }
            }
        });
        self.watchers.push((missed, rows));
        Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, watched))
    }

    /// Write `stream` to `path` atomically, with provenance metadata.
    async fn write_file(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
        path: &Path,
        inputs: &[String],
    ) -> Result<output::Written> {
        let meta = job::provenance(
            &self.command,
            &self.job_params,
            &self.engine.workspace().config_path,
            inputs,
        );
        let written = match path.to_str().and_then(crate::workspace::object_store_url) {
            // Object storage: written whole to a local temporary, then
            // uploaded; the object appears only when the upload completes.
            Some(url) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "export".into());
                let dir = tempfile_dir()?;
                let local = dir.join(&name);
                let result = async {
                    let w = output::export_with(stream, &local, &meta).await?;
                    let bytes = crate::engine::storage::upload(
                        &local,
                        url,
                        &self.engine.workspace().storage,
                    )
                    .await?;
                    Ok::<_, CpiqError>(output::Written {
                        rows: w.rows,
                        bytes,
                    })
                }
                .await;
                let _ = std::fs::remove_dir_all(&dir);
                result?
            }
            None => output::export_with(stream, path, &meta).await?,
        };
        self.statement_outputs.push(job::OutputFile {
            path: path.to_path_buf(),
            rows: written.rows,
            bytes: written.bytes,
        });
        Ok(written)
    }

    async fn emit_plain(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<()> {
        output::write_stream(stream, self.format, &mut self.out).await?;
        self.out.flush()?;
        Ok(())
    }

    /// Fold the row counts and `missed` flags of the streams written since
    /// the last call into the statement's totals.
    fn settle_watchers(&mut self) {
        use std::sync::atomic::Ordering;
        for (missed, rows) in self.watchers.drain(..) {
            self.statement_rows += rows.load(Ordering::Relaxed);
            self.missed |= missed.load(Ordering::Relaxed);
        }
    }

    /// Run `COPY … TO target` atomically: into a temporary sibling, then
    /// renamed over the target (a directory target is swapped whole).
    /// Returns `None` when `sql` is not a COPY.
    async fn atomic_copy(&mut self, sql: &str) -> Result<Option<job::OutputFile>> {
        use datafusion::sql::parser::{DFParser, Statement as DFStatement};
        let Ok(mut statements) = DFParser::parse_sql(sql) else {
            return Ok(None);
        };
        if statements.len() != 1 {
            return Ok(None);
        }
        let Some(DFStatement::CopyTo(mut copy)) = statements.pop_front() else {
            return Ok(None);
        };
        if copy.target.contains("://") {
            // COPY to object storage: DataFusion uploads each file in parts
            // and the store publishes it only when complete.
            if crate::workspace::object_store_url(&copy.target).is_some() {
                crate::engine::storage::register(
                    &self.engine.ctx().runtime_env(),
                    &copy.target,
                    &self.engine.workspace().storage,
                )?;
            }
            return Ok(None);
        }
        let target = self.resolve_out(Path::new(&copy.target));
        let is_dir =
            !copy.partitioned_by.is_empty() || target.extension().is_none() || target.is_dir();
        let staged = Staged::new(&target, is_dir)?;
        copy.target = staged.location();
        let state = self.engine.ctx().state();
        let plan = state.statement_to_plan(DFStatement::CopyTo(copy)).await?;
        let batches = self
            .engine
            .ctx()
            .execute_logical_plan(plan)
            .await?
            .collect()
            .await?;
        let rows = rows_written(&batches);
        let bytes = staged.publish()?;
        self.statement_rows += rows;
        writeln!(
            self.out,
            "Copied {rows} row{} to {}.",
            if rows == 1 { "" } else { "s" },
            target.display()
        )?;
        self.out.flush()?;
        Ok(Some(job::OutputFile {
            path: target,
            rows,
            bytes,
        }))
    }

    /// Emit a slice result: on the terminal table, values in their units.
    async fn emit_slice(&mut self, batch: RecordBatch) -> Result<()> {
        if self.format == Format::Table && self.output.is_none() {
            let units = self
                .engine
                .definitions()
                .into_iter()
                .map(|d| (d.name, d.unit))
                .collect();
            let shown = crate::present::output::display_batch(&batch, &units)?;
            let elapsed = self.last_elapsed.take();
            return self.emit_memory(shown.schema(), vec![shown], elapsed).await;
        }
        self.emit_memory(batch.schema(), vec![batch], None).await
    }

    async fn emit_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let schema = batch.schema();
        self.remember(
            ResultKind::Listing,
            schema.clone(),
            vec![batch.clone()],
            Vec::new(),
            Vec::new(),
        );
        self.emit_memory(schema, vec![batch], None).await
    }

    /// The charts of the last result, and how many were left out: a
    /// correlation's scatters (strongest first, at most
    /// [`crate::present::chart::MAX_SCATTERS`]), else one trend per CPI of a
    /// slice-shaped result.
    fn last_charts(&self) -> Result<(Vec<Chart>, usize)> {
        if self.last_kind == ResultKind::Correlation {
            let shown = self
                .last_scatters
                .len()
                .min(crate::present::chart::MAX_SCATTERS);
            let charts = self.last_scatters[..shown]
                .iter()
                .cloned()
                .map(Chart::Scatter)
                .collect();
            return Ok((charts, self.last_scatters.len() - shown));
        }
        let (_, batches) = self.last.as_ref().ok_or_else(|| {
            CpiqError::Usage(
                "nothing to chart yet: run a slice (\\slice … per month) or a correlation first"
                    .into(),
            )
        })?;
        Ok((
            crate::present::chart::charts_of_slice(batches, &self.engine.definitions())?,
            0,
        ))
    }

    /// The format of chart file `p`, refused (before anything runs) in a
    /// read-only session, on object storage, or for another extension.
    fn chart_file_format(&self, p: &Path) -> Result<crate::present::chart::image::ImageFormat> {
        self.refuse_if_read_only("writing a chart")?;
        if let Some(url) = p.to_str().and_then(crate::workspace::object_store_url) {
            return Err(CpiqError::Usage(format!(
                "{url}: charts are written to local files"
            )));
        }
        crate::present::chart::image::ImageFormat::for_path(p)
    }

    /// Draw `charts` on `out` (fitted to the front end's terminal), or write them to `path` as SVG or PNG, atomically.
    fn draw(&mut self, charts: &[Chart], path: Option<&Path>, more: usize) -> Result<()> {
        use crate::present::chart::{image, text};
        match path {
            None => {
                let (width, height) = self
                    .terminal
                    .as_ref()
                    .map_or(CHART_SIZE, |t| t.chart_size());
                let opts = text::TextOptions::for_terminal(width, height, self.color);
                for (i, c) in charts.iter().enumerate() {
                    if i > 0 {
                        writeln!(self.out)?;
                    }
                    write!(self.out, "{}", text::render(c, &opts))?;
                }
                if more > 0 {
                    writeln!(
                        self.out,
                        "({more} weaker relation{} not drawn)",
                        if more == 1 { "" } else { "s" }
                    )?;
                }
                self.out.flush()?;
            }
            Some(p) => {
                let p = self.resolve_out(p);
                let bytes = image::encode(charts, self.chart_file_format(&p)?)?;
                let mut f = AtomicFile::create(&p)?;
                f.write_all(&bytes)?;
                let size = f.commit()?;
                self.statement_outputs.push(job::OutputFile {
                    path: p.clone(),
                    rows: 0,
                    bytes: size,
                });
                // On stderr, as for --output: stdout stays the result's.
                eprintln!(
                    "Wrote {} chart{} to {} ({size} bytes).",
                    charts.len(),
                    if charts.len() == 1 { "" } else { "s" },
                    p.display()
                );
            }
        }
        Ok(())
    }

    /// Run one backslash command.
    pub async fn run_command(&mut self, cmd: Command) -> Result<Flow> {
        match cmd {
            Command::Quit => return Ok(Flow::Quit),
            Command::Help(None) => {
                write!(self.out, "{}", help_text())?;
                self.out.flush()?;
            }
            Command::Help(Some(name)) => {
                write!(self.out, "{}", command_help(&name)?)?;
                self.out.flush()?;
            }
            Command::Cpi(name) => self.show_cpi(&name)?,
            Command::Unset(name) => self.engine.unset_param(&name).await?,
            Command::MaxRows(n) => {
                self.screen.get_or_insert_with(Screen::default).max_rows = n;
            }
            Command::Expanded(mode) => {
                let screen = self.screen.get_or_insert_with(Screen::default);
                screen.expanded = mode.unwrap_or(if screen.expanded == Expanded::Off {
                    Expanded::On
                } else {
                    Expanded::Off
                });
                writeln!(self.out, "Expanded display is {:?}.", screen.expanded)?;
            }
            Command::Pager(on) => {
                let screen = self.screen.get_or_insert_with(Screen::default);
                screen.pager = on.unwrap_or(!screen.pager);
                writeln!(
                    self.out,
                    "Pager is {}.",
                    if screen.pager { "on" } else { "off" }
                )?;
            }
            Command::Export(path, query) => {
                self.refuse_if_read_only("\\export")?;
                self.export(&path, query.as_deref()).await?
            }
            Command::Sql => {
                if self.last_sql.is_empty() {
                    return Err(CpiqError::Usage(
                        "no slice has run yet in this session".into(),
                    ));
                }
                for s in &self.last_sql {
                    writeln!(self.out, "{s};")?;
                }
                self.out.flush()?;
            }
            Command::Reload => self.reload().await?,
            Command::Cpis => {
                // On the screen, each CPI's last 12 months as a sparkline
                // (one slice per CPI; rollups make it instant on big data).
                let on_screen = self.format == Format::Table && self.output.is_none();
                let sparks = if on_screen {
                    let defs = self.engine.definitions();
                    let scores = crate::present::report::scorecard(
                        &self.engine,
                        &defs,
                        crate::model::calendar::Grain::Month,
                    )
                    .await;
                    Some(
                        scores
                            .into_iter()
                            .map(|(name, s)| {
                                let line = match s {
                                    Ok(s) => crate::present::chart::spark::blocks(&s.history),
                                    Err(e) => format!("(error: {e})"),
                                };
                                (name, line)
                            })
                            .collect(),
                    )
                } else {
                    None
                };
                let batch = self.cpis_batch(sparks)?;
                self.emit_batch(batch).await?;
            }
            Command::Describe(None) => {
                let batch = self.relations_batch().await?;
                self.emit_batch(batch).await?;
            }
            Command::Describe(Some(name)) => {
                let batch = self.columns_batch(&name).await?;
                self.emit_batch(batch).await?;
            }
            Command::Check => self.check()?,
            Command::Set(None) => {
                let batch = self.params_batch()?;
                self.emit_batch(batch).await?;
            }
            Command::Set(Some((name, value))) => self.engine.set_param(&name, &value).await?,
            Command::Format(f) => self.format = f,
            Command::Output(path) => {
                if path.is_some() {
                    self.refuse_if_read_only("\\o FILE")?;
                }
                self.set_output(path)?
            }
            Command::Include(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| CpiqError::io(&path, e))?;
                return Box::pin(self.run_script(&text, &path)).await;
            }
            Command::Slice(args) | Command::Compare(args) if args.explain => {
                let req = args.to_request()?;
                let rows = crate::analysis::plan::explain_slice(&self.engine, &req).await?;
                let column = |f: fn(&SlicePlan) -> &str| -> ArrayRef {
                    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
                };
                let schema = Arc::new(Schema::new(
                    ["cpi", "source", "detail", "sql"]
                        .map(|n| Field::new(n, DataType::Utf8, false))
                        .to_vec(),
                ));
                let batch = RecordBatch::try_new(
                    schema,
                    vec![
                        column(|r| &r.cpi),
                        column(|r| &r.source),
                        column(|r| &r.detail),
                        column(|r| &r.sql),
                    ],
                )?;
                self.emit_batch(batch).await?;
            }
            Command::Rollup(args) => {
                use crate::exec::args::RollupAction;
                let cpis = args.cpi_names();
                if matches!(
                    args.action,
                    RollupAction::Build | RollupAction::Refresh | RollupAction::Drop
                ) {
                    self.refuse_if_read_only("rollup build, refresh and drop")?;
                }
                let engine = &self.engine;
                let batch = match args.action {
                    RollupAction::Build => {
                        crate::analysis::rollup::build(engine, &cpis, args.grain.parse()?).await?
                    }
                    RollupAction::Refresh => {
                        crate::analysis::rollup::refresh(engine, &cpis).await?
                    }
                    RollupAction::Status => crate::analysis::rollup::status(engine, &cpis).await?,
                    RollupAction::Drop => {
                        crate::analysis::rollup::drop_rollups(engine, &cpis).await?
                    }
                };
                self.emit_batch(batch).await?;
            }
            Command::Slice(args) | Command::Compare(args) => {
                let req = args.to_request()?;
                if let Some(Some(p)) = &args.chart {
                    self.chart_file_format(p)?;
                }
                if args.chart.is_some() && req.per == crate::model::calendar::Grain::All {
                    return Err(CpiqError::Usage(
                        "--chart draws CPIs over periods: slice per day, week, month, quarter or year"
                            .into(),
                    ));
                }
                let started = Instant::now();
                let (batch, sql) = crate::analysis::plan::slice(&self.engine, &req).await?;
                self.last_elapsed = Some(started.elapsed());
                self.last_sql = sql;
                self.missed |= batch_has_missed(&batch);
                // The CPIs' input files are only looked up if the result is exported.
                self.last_source = LastSource {
                    command: self.command.clone(),
                    files: Vec::new(),
                    cpis: req.cpis.clone(),
                };
                self.remember(
                    ResultKind::Slice,
                    batch.schema(),
                    vec![batch.clone()],
                    Vec::new(),
                    Vec::new(),
                );
                match &args.chart {
                    None => self.emit_slice(batch).await?,
                    Some(path) => {
                        let charts = crate::present::chart::charts_of_slice(
                            std::slice::from_ref(&batch),
                            &self.engine.definitions(),
                        )?;
                        if path.is_some() {
                            self.emit_slice(batch).await?;
                        }
                        self.draw(&charts, path.as_deref(), 0)?;
                    }
                }
            }
            Command::Chart(path) => {
                let (charts, more) = self.last_charts()?;
                self.draw(&charts, path.as_deref(), more)?;
            }
            Command::Correlate(args) => {
                let req = args.to_request()?;
                let result = crate::analysis::plan::correlate(&self.engine, &req).await?;
                for n in &result.notes {
                    eprintln!("{n}");
                }
                if let Some(Some(p)) = &args.chart {
                    self.chart_file_format(p)?;
                }
                let on_screen = self.output.is_none() && self.format == Format::Table;
                self.remember(
                    ResultKind::Correlation,
                    result.batch.schema(),
                    vec![result.batch.clone()],
                    result.scatters.clone(),
                    result.verdicts.clone(),
                );
                if let Some(None) = &args.chart {
                    for v in &result.verdicts {
                        writeln!(self.out, "{v}")?;
                    }
                    writeln!(self.out)?;
                    let (charts, more) = self.last_charts()?;
                    return self.draw(&charts, None, more).map(|()| Flow::Continue);
                }
                let shown = if on_screen {
                    crate::present::output::display_correlation(&result.batch)?
                } else {
                    result.batch
                };
                self.emit_memory(shown.schema(), vec![shown], None).await?;
                if on_screen {
                    for v in &result.verdicts {
                        writeln!(self.out, "{v}")?;
                    }
                    self.out.flush()?;
                }
                if let Some(Some(p)) = &args.chart {
                    let (charts, _) = self.last_charts()?;
                    self.draw(&charts, Some(p), 0)?;
                }
            }
            Command::Explain(args) => {
                let req = args.to_request(&self.engine.calendar())?;
                let batch = crate::analysis::plan::explain_change(&self.engine, &req).await?;
                self.emit_batch(batch).await?;
            }
            Command::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                writeln!(
                    self.out,
                    "Timing is {}.",
                    if self.timing { "on" } else { "off" }
                )?;
            }
        }
        Ok(Flow::Continue)
    }

    /// Write the last result, or `query`'s, to `path` (atomically).
    async fn export(&mut self, path: &Path, query: Option<&str>) -> Result<()> {
        let path = self.resolve_out(path);
        let written = match query {
            Some(q) if !self.partition_by.is_empty() => {
                let df = self.engine.sql(q).await?;
                let plan = df.clone().create_physical_plan().await?;
                let inputs = job::input_files(&plan);
                self.write_partitioned(df, &path, &inputs).await?
            }
            None if !self.partition_by.is_empty() => {
                let (_, batches) = self
                    .last
                    .clone()
                    .ok_or_else(|| CpiqError::Usage("no result to export yet".into()))?;
                let df = self.engine.ctx().read_batches(batches)?;
                let inputs = self.last_inputs().await;
                self.write_partitioned(df, &path, &inputs).await?
            }
            Some(q) => {
                let df = self.engine.sql(q).await?;
                let plan = df.create_physical_plan().await?;
                let inputs = job::input_files(&plan);
                let stream =
                    datafusion::physical_plan::execute_stream(plan, self.engine.ctx().task_ctx())?;
                let stream = self.watch(stream);
                self.write_file(stream, &path, &inputs).await?
            }
            None => {
                let (schema, batches) = self.last.clone().ok_or_else(|| {
                    CpiqError::Usage("no result to export yet: run a query or a slice first, or give \\export FILE QUERY".into())
                })?;
                self.missed |= batches.iter().any(batch_has_missed);
                let stream = MemoryStream::try_new(batches, schema, None)?;
                let inputs = self.last_inputs().await;
                let combined = format!("{}\n{}", self.last_source.command, self.command);
                let export_command = std::mem::replace(&mut self.command, combined);
                let written = self.write_file(Box::pin(stream), &path, &inputs).await;
                self.command = export_command;
                written?
            }
        };
        writeln!(
            self.out,
            "Wrote {} row{} to {} ({} bytes).",
            written.rows,
            if written.rows == 1 { "" } else { "s" },
            path.display(),
            written.bytes
        )?;
        self.out.flush()?;
        Ok(())
    }

    /// The input files behind the last result: those its query read, or
    /// every file of the tables its CPIs read.
    async fn last_inputs(&self) -> Vec<String> {
        let mut inputs = self.last_source.files.clone();
        for cpi in &self.last_source.cpis {
            if let Ok(df) = self.engine.ctx().table(cpi.as_str()).await
                && let Ok(plan) = df.create_physical_plan().await
            {
                inputs.extend(job::input_files(&plan));
            }
        }
        inputs.sort();
        inputs.dedup();
        inputs
    }

    /// Everything about one CPI, with the SQL its view runs.
    fn show_cpi(&mut self, name: &str) -> Result<()> {
        let entry = self
            .engine
            .cpis()
            .iter()
            .find(|c| c.definition.as_ref().is_some_and(|d| d.name == name))
            .ok_or_else(|| {
                let mut known: Vec<String> = self
                    .engine
                    .definitions()
                    .into_iter()
                    .map(|d| d.name)
                    .collect();
                known.sort();
                CpiqError::Usage(format!(
                    "unknown CPI \"{name}\" (known: {})",
                    known.join(", ")
                ))
            })?;
        let d = entry
            .definition
            .as_ref()
            .ok_or_else(|| CpiqError::Usage(format!("CPI \"{name}\" did not load")))?;
        let params = self.engine.params();
        let mut text = String::new();
        let mut line = |k: &str, v: String| text.push_str(&format!("{k:<16} {v}\n"));
        line("cpi", d.name.clone());
        line("label", d.label.clone());
        line("description", d.description.clone());
        line("unit", d.unit.to_string());
        line("direction", d.direction.to_string());
        line(
            "target",
            d.target
                .map(|t| crate::model::cpi::format_value(d.unit, t))
                .unwrap_or_else(|| "none".into()),
        );
        line(
            "min_denominator",
            d.min_denominator
                .map(|m| m.to_string())
                .unwrap_or_else(|| "none".into()),
        );
        line("time", d.time.clone());
        line("dimensions", d.dimensions.join(", "));
        line(
            "parameters",
            d.params
                .iter()
                .map(|p| match params.get(&p.name) {
                    Some(v) => format!("{} = {v} (default {})", p.name, p.default),
                    None => format!("{} = {}", p.name, p.default),
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
        line("file", entry.path.display().to_string());
        if let Some(p) = &entry.problem {
            line("problem", p.to_string());
        }
        let sql = d.render(params).unwrap_or_else(|_| d.body.clone());
        write!(self.out, "{text}\n{sql}\n")?;
        self.out.flush()?;
        Ok(())
    }

    /// Re-read the workspace and report what changed.
    async fn reload(&mut self) -> Result<()> {
        let describe = |e: &Engine| -> std::collections::BTreeMap<String, String> {
            e.cpis()
                .iter()
                .filter_map(|c| c.definition.as_ref())
                .map(|d| {
                    (
                        d.name.clone(),
                        format!(
                            "{:?}{:?}{:?}{:?}{:?}{}",
                            d.unit, d.direction, d.target, d.dimensions, d.params, d.body
                        ),
                    )
                })
                .collect()
        };
        let before = describe(&self.engine);
        let ws = crate::workspace::Workspace::load(&self.engine.workspace().config_path)?;
        let params: Vec<(String, String)> = self
            .engine
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let engine = crate::analysis::plan::open(
            ws,
            crate::engine::EngineOptions {
                params,
                lenient_params: true,
                ..Default::default()
            },
        )
        .await?;
        let after = describe(&engine);
        let mut report = Vec::new();
        for (name, text) in &after {
            match before.get(name) {
                None => report.push(format!("added {name}")),
                Some(old) if old != text => report.push(format!("changed {name}")),
                _ => {}
            }
        }
        for name in before.keys() {
            if !after.contains_key(name) {
                report.push(format!("removed {name}"));
            }
        }
        for p in engine.problems() {
            report.push(format!("problem: {p}"));
        }
        self.engine = engine;
        if report.is_empty() {
            writeln!(self.out, "Reloaded: nothing changed.")?;
        } else {
            writeln!(self.out, "Reloaded: {}", report.join("; "))?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// Report every problem; an error when there is any.
    fn check(&mut self) -> Result<()> {
        let problems = self.engine.problems();
        for p in &problems {
            writeln!(self.out, "error: {p}")?;
        }
        let tables = self
            .engine
            .tables()
            .iter()
            .filter(|t| t.problem.is_none())
            .count();
        let cpis = self.engine.cpis().iter().filter(|c| c.is_ok()).count();
        writeln!(
            self.out,
            "{} of {} tables registered, {} of {} CPIs planned",
            tables,
            self.engine.tables().len(),
            cpis,
            self.engine.cpis().len()
        )?;
        writeln!(self.out, "{}", self.engine.resources().describe())?;
        if let Some(url) = &self.engine.workspace().settings.cluster {
            writeln!(
                self.out,
                "queries run on the Ballista cluster at {url} (its executors' memory limits apply there)"
            )?;
        }
        self.out.flush()?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CpiqError::Check(problems.len()))
        }
    }

    fn cpis_batch(
        &self,
        sparks: Option<std::collections::HashMap<String, String>>,
    ) -> Result<RecordBatch> {
        let defs: Vec<_> = self
            .engine
            .cpis()
            .iter()
            .filter(|c| c.is_ok())
            .filter_map(|c| c.definition.as_ref())
            .collect();
        let strings = |f: &dyn Fn(&crate::model::cpi::CpiDefinition) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(defs.iter().map(|d| f(d))))
        };
        let params = self.engine.params();
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("label", DataType::Utf8, false),
            Field::new("unit", DataType::Utf8, false),
            Field::new("direction", DataType::Utf8, false),
            Field::new("target", DataType::Float64, true),
            Field::new("parameters", DataType::Utf8, false),
            Field::new("dimensions", DataType::Utf8, false),
            Field::new("time", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            strings(&|d| d.name.clone()),
            strings(&|d| d.label.clone()),
            strings(&|d| d.unit.to_string()),
            strings(&|d| d.direction.to_string()),
            Arc::new(Float64Array::from(
                defs.iter().map(|d| d.target).collect::<Vec<_>>(),
            )),
            strings(&|d| {
                d.params
                    .iter()
                    .map(|p| format!("{}={}", p.name, params.get(&p.name).unwrap_or(&p.default)))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            strings(&|d| d.dimensions.join(", ")),
            strings(&|d| d.time.clone()),
        ];
        let (schema, columns) = match sparks {
            None => (schema, columns),
            Some(sparks) => {
                let mut fields: Vec<Field> =
                    schema.fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.push(Field::new("last_12_months", DataType::Utf8, false));
                let mut columns = columns;
                columns.push(strings(&|d| {
                    sparks.get(&d.name).cloned().unwrap_or_default()
                }));
                (Arc::new(Schema::new(fields)), columns)
            }
        };
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    fn params_batch(&self) -> Result<RecordBatch> {
        let mut rows: Vec<(String, String, String, String)> = Vec::new();
        for def in self
            .engine
            .cpis()
            .iter()
            .filter_map(|c| c.definition.as_ref())
        {
            for p in &def.params {
                let value = self
                    .engine
                    .params()
                    .get(&p.name)
                    .cloned()
                    .unwrap_or_else(|| p.default.clone());
                rows.push((p.name.clone(), value, p.default.clone(), def.name.clone()));
            }
        }
        rows.sort();
        let col = |f: fn(&(String, String, String, String)) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("parameter", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
            Field::new("default", DataType::Utf8, false),
            Field::new("cpi", DataType::Utf8, false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![col(|r| &r.0), col(|r| &r.1), col(|r| &r.2), col(|r| &r.3)],
        )?)
    }

    async fn relations_batch(&self) -> Result<RecordBatch> {
        let ws = self.engine.workspace();
        let mut names = Vec::new();
        if let Some(schema) = self
            .engine
            .ctx()
            .catalog("cpiq")
            .and_then(|c| c.schema("public"))
        {
            names = schema.table_names();
        }
        names.sort();
        let mut rows: Vec<(String, &'static str, String)> = Vec::new();
        for n in names {
            let (kind, about) = if let Some(d) = self.engine.cpi(&n) {
                ("cpi", d.label.clone())
            } else if let Some(k) = ws.kpi(&n) {
                ("kpi", k.table.path_as_written.clone())
            } else if let Some(t) = ws.tables.iter().find(|t| t.name == n) {
                ("table", t.path_as_written.clone())
            } else {
                ("session", String::new())
            };
            rows.push((n, kind, about));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("about", DataType::Utf8, false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.0.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.2.as_str()),
                )),
            ],
        )?)
    }

    async fn columns_batch(&self, name: &str) -> Result<RecordBatch> {
        let table = self.engine.ctx().table(name).await.map_err(|_| {
            CpiqError::Usage(format!(
                "no table, KPI table or CPI named \"{name}\" (\\d lists them)"
            ))
        })?;
        let schema = table.schema().as_arrow().clone();
        let fields = schema.fields();
        let out = Arc::new(Schema::new(vec![
            Field::new("column", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("nullable", DataType::Utf8, false),
            Field::new("position", DataType::UInt64, false),
        ]));
        Ok(RecordBatch::try_new(
            out,
            vec![
                Arc::new(StringArray::from_iter_values(
                    fields.iter().map(|f| f.name().as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    fields.iter().map(|f| f.data_type().to_string()),
                )),
                Arc::new(StringArray::from_iter_values(
                    fields
                        .iter()
                        .map(|f| if f.is_nullable() { "yes" } else { "no" }),
                )),
                Arc::new(UInt64Array::from_iter_values(1..=fields.len() as u64)),
            ],
        )?)
    }
}
