//! Running scripts, items and SQL statements: the run loop, the run log of
//! a report, read-only checks of writing statements, and `COPY … TO` made
//! atomic.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::command::Command;
use super::job;
use super::route::rows_written;
use super::terminal;
use super::{Flow, LastSource, Session};
use crate::foundation::atomic::Staged;
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::script::{self, Item};
use crate::present::report::StatementStatus;
use crate::present::report::{Captured, CapturedResult, ResultKind};

pub(super) fn item_text(item: &Item) -> &str {
    match item {
        Item::Sql { text, .. } | Item::Command { text, .. } => text,
    }
}

/// What `SUMMARIZE …` summarizes — a name, or a query (`SELECT …`,
/// `WITH …`, `(…)`) — when `sql` is DuckDB's `SUMMARIZE`, which DataFusion's
/// parser does not know; `None` for any other statement.
pub fn summarize_target(sql: &str) -> Option<&str> {
    let (word, target) = sql.trim_start().split_once(char::is_whitespace)?;
    word.eq_ignore_ascii_case("summarize")
        .then(|| target.trim())
}

/// True when a `SUMMARIZE` target is a query rather than a relation's name.
pub fn is_query(target: &str) -> bool {
    target.starts_with('(')
        || target
            .split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("select") || w.eq_ignore_ascii_case("with"))
}

/// The kind of a statement that writes (DDL, DML, COPY), or `None` for a
/// query (SELECT, WITH, VALUES, EXPLAIN, SHOW, SET of a session option).
pub(super) fn writing_statement(sql: &str) -> Option<&'static str> {
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

/// Fault injection for the tests of cpiq's own safety nets: with
/// `CPIQ_FAULT_INJECTION=panic` in the environment, a statement containing
/// `cpiq_fault_panic` panics, as a bug would. Never set in normal use.
pub(super) fn failpoint(statement: &str) {
    if statement.contains("cpiq_fault_panic")
        && std::env::var_os("CPIQ_FAULT_INJECTION").is_some_and(|v| v == "panic")
    {
        panic!("fault injected by CPIQ_FAULT_INJECTION");
    }
}

impl Session {
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
                    status: if result.is_ok() {
                        StatementStatus::Ok
                    } else {
                        StatementStatus::Failed
                    },
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
                            status: StatementStatus::NotRun,
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

    pub(super) async fn run_item_inner(&mut self, item: &Item) -> Result<Flow> {
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
        if let Some(target) = summarize_target(sql) {
            return self.summarize(target).await;
        }
        if self.read_only() {
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
        let df = if self.read_only() {
            // The text check above names most writes; the plan is the
            // authority (EXPLAIN ANALYZE COPY …, INSERT under EXPLAIN, a
            // write composed with cpi_slice()).
            let (plan, writes) = self.engine.plan_read_only(sql).await?;
            if let Some(kind) = writes {
                self.refuse_if_read_only(kind)?;
            }
            self.engine.execute(plan).await?
        } else {
            self.engine.sql(sql).await?
        };
        if let Some(path) = self.output.clone()
            && !self.partition_by.is_empty()
            && !df.schema().fields().is_empty()
        {
            let path = self.resolve_out(&path);
            let plan = df.clone().create_physical_plan().await?;
            let inputs = job::input_files(&plan);
            let written = self.write_partitioned(df, &path, &inputs).await?;
            self.report_partitioned(&written, &path);
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
            let batches = terminal::collect_with_progress(
                &plan,
                &self.engine.ctx().runtime_env(),
                stream,
                progress,
            )
            .await?;
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

    /// Run `COPY … TO target` atomically: into a temporary sibling, then
    /// renamed over the target (a directory target is swapped whole).
    /// Returns `None` when `sql` is not a COPY.
    pub(super) async fn atomic_copy(&mut self, sql: &str) -> Result<Option<job::OutputFile>> {
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
}
