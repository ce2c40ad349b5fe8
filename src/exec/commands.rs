//! One handler per backslash command: [`Session::run_command`] matches a
//! [`Command`] and calls its handler, so each command reads on its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;

use super::args::{
    CorrelateArgs, DriversArgs, ExplainArgs, GrangerArgs, RollupAction, RollupArgs, SliceArgs,
};
use super::command::{Command, command_help, help_text};
use super::route::{batch_has_missed, keeping};
use super::{Flow, LastSource, Screen, Session};
use crate::analysis::plan::{self, SlicePlan};
use crate::analysis::rollup;
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::Grain;
use crate::present::chart::{self, spark};
use crate::present::output::{self, Expanded, Format};
use crate::present::report::{self, ResultKind};

impl Session {
    /// Run one backslash command.
    pub async fn run_command(&mut self, cmd: Command) -> Result<Flow> {
        // What reports on every CPI plans every view first (statements plan
        // only the views they name).
        if matches!(
            cmd,
            Command::Cpi(_) | Command::Cpis | Command::Describe(None) | Command::Check
        ) {
            self.engine.plan_all().await;
        }
        match cmd {
            Command::Quit => return Ok(Flow::Quit),
            Command::Help(name) => self.help(name.as_deref())?,
            Command::Cpi(name) => self.show_cpi(&name)?,
            Command::Unset(name) => self.engine.unset_param(&name).await?,
            Command::MaxRows(n) => {
                self.screen.get_or_insert_with(Screen::default).max_rows = n;
            }
            Command::Expanded(mode) => self.expanded(mode)?,
            Command::Pager(on) => self.pager(on)?,
            Command::Export(path, query) => {
                self.refuse_if_read_only("\\export")?;
                self.export(&path, query.as_deref()).await?
            }
            Command::Sql => self.show_last_sql()?,
            Command::Reload => self.reload().await?,
            Command::Cpis => self.list_cpis().await?,
            Command::Describe(None) => {
                let batch = self.relations_batch().await?;
                self.emit_batch(batch).await?;
            }
            Command::Describe(Some(name)) => {
                let batch = self.columns_batch(&name).await?;
                self.emit_batch(batch).await?;
            }
            Command::Summarize(target) => self.summarize(&target).await?,
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
            Command::Include(path) => return self.include(&path).await,
            Command::Slice(args) | Command::Compare(args) if args.explain => {
                self.explain_slice(&args).await?
            }
            Command::Slice(args) | Command::Compare(args) => self.slice(&args).await?,
            Command::Rollup(args) => self.rollup(&args).await?,
            Command::Chart(path) => {
                let (charts, more) = self.last_charts()?;
                self.draw(&charts, path.as_deref(), more)?;
            }
            Command::Correlate(args) => self.correlate(&args).await?,
            Command::Granger(args) => self.granger(&args).await?,
            Command::Drivers(args) => self.drivers(&args).await?,
            Command::Explain(args) => self.explain_change(&args).await?,
            Command::Timing(on) => self.timing(on)?,
        }
        // What a command said (`Pager is off.`) shows before the next prompt.
        self.out.flush()?;
        Ok(Flow::Continue)
    }

    /// `\?` and `\? COMMAND`.
    fn help(&mut self, name: Option<&str>) -> Result<()> {
        match name {
            None => write!(self.out, "{}", help_text())?,
            Some(name) => write!(self.out, "{}", command_help(name)?)?,
        }
        self.out.flush()?;
        Ok(())
    }

    /// `\x [on|off|auto]`: toggles without an argument.
    fn expanded(&mut self, mode: Option<Expanded>) -> Result<()> {
        let screen = self.screen.get_or_insert_with(Screen::default);
        screen.expanded = mode.unwrap_or(if screen.expanded == Expanded::Off {
            Expanded::On
        } else {
            Expanded::Off
        });
        writeln!(self.out, "Expanded display is {:?}.", screen.expanded)?;
        Ok(())
    }

    /// `\pager [on|off]`: toggles without an argument.
    fn pager(&mut self, on: Option<bool>) -> Result<()> {
        let screen = self.screen.get_or_insert_with(Screen::default);
        screen.pager = on.unwrap_or(!screen.pager);
        let now = screen.pager;
        self.say_switch("Pager", now)
    }

    /// `\timing [on|off]`: toggles without an argument.
    fn timing(&mut self, on: Option<bool>) -> Result<()> {
        self.timing = on.unwrap_or(!self.timing);
        self.say_switch("Timing", self.timing)
    }

    /// `Pager is on.`, `Timing is off.`: what a switch is now.
    fn say_switch(&mut self, what: &str, on: bool) -> Result<()> {
        writeln!(self.out, "{what} is {}.", if on { "on" } else { "off" })?;
        Ok(())
    }

    /// `\sql`: the SQL the last slice ran.
    fn show_last_sql(&mut self) -> Result<()> {
        if self.last_sql.is_empty() {
            return Err(CpiqError::Usage(
                "no slice has run yet in this session".into(),
            ));
        }
        for s in &self.last_sql {
            writeln!(self.out, "{s};")?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// `\i FILE`.
    async fn include(&mut self, path: &Path) -> Result<Flow> {
        let text = std::fs::read_to_string(path).map_err(|e| CpiqError::io(path, e))?;
        let path: PathBuf = path.to_path_buf();
        Box::pin(self.run_script(&text, &path)).await
    }

    /// `\cpis`: on the screen, each CPI's last 12 months as a sparkline (one
    /// slice per CPI; rollups make it instant on big data).
    async fn list_cpis(&mut self) -> Result<()> {
        let on_screen = self.format == Format::Table && self.output.is_none();
        let sparks = if on_screen {
            let defs = self.engine.definitions();
            let scores = report::scorecard(&self.engine, &defs, Grain::Month).await;
            Some(
                scores
                    .into_iter()
                    .map(|(name, s)| {
                        let line = match s {
                            Ok(s) => spark::blocks(&s.history),
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
        self.emit_batch(batch).await
    }

    /// `\slice … explain`: how each CPI would be answered, without running.
    async fn explain_slice(&mut self, args: &SliceArgs) -> Result<()> {
        let req = args.to_request()?;
        let rows = plan::explain_slice(&self.engine, &req).await?;
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
        self.emit_batch(batch).await
    }

    /// `\rollup build|refresh|status|drop`.
    async fn rollup(&mut self, args: &RollupArgs) -> Result<()> {
        let cpis = args.cpi_names();
        if matches!(
            args.action,
            RollupAction::Build | RollupAction::Refresh | RollupAction::Drop
        ) {
            self.refuse_if_read_only("rollup build, refresh and drop")?;
        }
        let engine = &self.engine;
        let batch = match args.action {
            RollupAction::Build => rollup::build(engine, &cpis, args.grain).await?,
            RollupAction::Refresh => rollup::refresh(engine, &cpis).await?,
            RollupAction::Status => rollup::status(engine, &cpis).await?,
            RollupAction::Drop => rollup::drop_rollups(engine, &cpis).await?,
        };
        self.emit_batch(batch).await
    }

    /// `\slice` and `\compare`: run, remember, show or chart.
    async fn slice(&mut self, args: &SliceArgs) -> Result<()> {
        let req = args.to_request()?;
        if let Some(Some(p)) = &args.chart {
            self.chart_file_format(p)?;
        }
        if args.chart.is_some() && req.per == Grain::All {
            return Err(CpiqError::Usage(
                "--chart draws CPIs over periods: slice per day, week, month, quarter or year"
                    .into(),
            ));
        }
        let started = Instant::now();
        let (run, uncovered) = plan::slice_started(&self.engine, &req).await?;
        self.last_sql = run.statements;
        // The CPIs' input files are only looked up if the result is exported.
        self.last_source = LastSource {
            command: self.command.clone(),
            files: Vec::new(),
            cpis: req.cpis.clone(),
        };
        let schema = run.batches.schema();
        let on_screen = self.format == Format::Table && self.output.is_none();
        let partitioned = self.output.is_some() && !self.partition_by.is_empty();
        let streamed = args.chart.is_none() && !on_screen && !partitioned;
        let batches: Vec<RecordBatch> = if streamed {
            // Written as the rows are made; kept for `\export` and `_`.
            let kept = Arc::new(Mutex::new(Vec::new()));
            self.emit_result_stream(keeping(run.batches, Arc::clone(&kept)))
                .await?;
            std::mem::take(&mut *kept.lock().unwrap_or_else(PoisonError::into_inner))
        } else {
            run.batches.try_collect().await?
        };
        // Rollups are built behind once the slice no longer needs the cores.
        self.build_behind(uncovered);
        self.last_elapsed = Some(started.elapsed());
        self.missed |= batches.iter().any(batch_has_missed);
        self.remember(
            ResultKind::Slice,
            schema.clone(),
            batches.clone(),
            Vec::new(),
            Vec::new(),
        );
        if streamed {
            return Ok(());
        }
        let batch = concat_batches(&schema, &batches)?;
        match &args.chart {
            None => self.emit_slice(batch).await?,
            Some(path) => {
                let charts = chart::charts_of_slice(&batches, &self.engine.definitions())?;
                if path.is_some() {
                    self.emit_slice(batch).await?;
                }
                self.draw(&charts, path.as_deref(), 0)?;
            }
        }
        Ok(())
    }

    /// `\correlate`: notes on stderr, the table (formatted on the screen),
    /// verdicts, and charts when asked.
    async fn correlate(&mut self, args: &CorrelateArgs) -> Result<()> {
        let req = args.to_request()?;
        let r = plan::correlate(&self.engine, &req).await?;
        self.set_source(req.cpis.iter().chain(&req.kpis));
        let shown = Statistics::new(ResultKind::Correlation, r.batch, r.notes, r.verdicts);
        self.show_statistics(shown.with_scatters(r.scatters), args.chart.as_ref())
            .await
    }

    /// `\granger`: notes on stderr, the table (formatted on the screen),
    /// then one verdict line per CPI × KPI × dimension value.
    async fn granger(&mut self, args: &GrangerArgs) -> Result<()> {
        let req = args.to_request()?;
        let r = plan::granger(&self.engine, &req).await?;
        self.set_source(req.cpis.iter().chain(&req.kpis));
        let shown = Statistics::new(ResultKind::Granger, r.batch, r.notes, r.verdicts);
        self.show_statistics(shown, None).await
    }

    /// `\drivers`: notes on stderr, the table (formatted on the screen),
    /// then the ranked summary; importance bars with `chart`.
    async fn drivers(&mut self, args: &DriversArgs) -> Result<()> {
        let req = args.to_request()?;
        let result = plan::drivers(&self.engine, &req).await?;
        let cpis: Vec<String> =
            crate::foundation::columns::strings(&result.batch, crate::analysis::drivers::col::CPI)
                .map(|a| a.iter().flatten().map(String::from).collect())
                .unwrap_or_default();
        self.set_source(cpis.iter().chain(std::iter::once(&req.kpi)));
        let shown = Statistics::new(
            ResultKind::Drivers,
            result.batch,
            result.notes,
            result.summary,
        );
        self.show_statistics(shown, args.chart.as_ref()).await
    }

    /// Show a statistics result: its notes on stderr; with a bare `chart`,
    /// its lines and charts on the screen instead of the table; else the
    /// table and lines ([`Self::emit_statistics`]), then the charts into
    /// the file `chart` names, if it names one (its format checked before
    /// anything is shown).
    async fn show_statistics(
        &mut self,
        shown: Statistics,
        chart: Option<&Option<PathBuf>>,
    ) -> Result<()> {
        for n in &shown.notes {
            eprintln!("{n}");
        }
        if let Some(Some(p)) = chart {
            self.chart_file_format(p)?;
        }
        self.remember(
            shown.kind,
            shown.batch.schema(),
            vec![shown.batch.clone()],
            shown.scatters,
            shown.lines.clone(),
        );
        if let Some(None) = chart {
            for v in &shown.lines {
                writeln!(self.out, "{v}")?;
            }
            writeln!(self.out)?;
            let (charts, more) = self.last_charts()?;
            return self.draw(&charts, None, more);
        }
        self.emit_statistics(shown.batch, &shown.lines).await?;
        if let Some(Some(p)) = chart {
            let (charts, _) = self.last_charts()?;
            self.draw(&charts, Some(p), 0)?;
        }
        Ok(())
    }

    /// A statistics table (correlation, Granger, drivers): formatted for
    /// people and followed by its verdict `lines` on the screen, as it is
    /// when exported or piped.
    async fn emit_statistics(&mut self, batch: RecordBatch, lines: &[String]) -> Result<()> {
        let on_screen = self.output.is_none() && self.format == Format::Table;
        let shown = if on_screen {
            output::display_correlation(&batch)?
        } else {
            batch
        };
        self.emit_result(shown.schema(), vec![shown], None).await?;
        if on_screen {
            for v in lines {
                writeln!(self.out, "{v}")?;
            }
            self.out.flush()?;
        }
        Ok(())
    }

    /// `\explain`: why a CPI moved between two periods.
    async fn explain_change(&mut self, args: &ExplainArgs) -> Result<()> {
        let req = args.to_request(&self.engine.calendar())?;
        let batch = plan::explain_change(&self.engine, &req).await?;
        self.set_source(std::iter::once(&req.cpi));
        self.remember(
            ResultKind::Listing,
            batch.schema(),
            vec![batch.clone()],
            Vec::new(),
            Vec::new(),
        );
        self.emit_result(batch.schema(), vec![batch], None).await
    }

    /// Record what the next exported result is made from: the command, and
    /// the CPIs and KPIs (`kpi_table.column` counts as its table) whose
    /// input files [`Session::last_inputs`] lists.
    fn set_source<'a>(&mut self, names: impl Iterator<Item = &'a String>) {
        self.last_source = LastSource {
            command: self.command.clone(),
            files: Vec::new(),
            cpis: names
                .map(|n| n.split('.').next().unwrap_or(n).to_string())
                .collect(),
        };
    }
}

/// A statistics command's result, as [`Session::show_statistics`] shows it.
struct Statistics {
    kind: ResultKind,
    /// The table.
    batch: RecordBatch,
    /// Notes for stderr (series left out, samples shortened).
    notes: Vec<String>,
    /// The verdict or summary lines under the table.
    lines: Vec<String>,
    /// A correlation's scatters (nothing for the others).
    scatters: Vec<chart::Scatter>,
}

impl Statistics {
    fn new(kind: ResultKind, batch: RecordBatch, notes: Vec<String>, lines: Vec<String>) -> Self {
        Statistics {
            kind,
            batch,
            notes,
            lines,
            scatters: Vec::new(),
        }
    }

    fn with_scatters(self, scatters: Vec<chart::Scatter>) -> Self {
        Statistics { scatters, ..self }
    }
}
