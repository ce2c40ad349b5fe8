//! Where results go: the screen (fitted, paged), a format on the output, an
//! export file (atomic, with provenance), partitioned exports; and the last
//! result kept for `\\export` and `\\chart`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::physical_plan::memory::MemoryStream;

use super::Session;
use super::job;
use crate::analysis::slice::{Status, col};
use crate::foundation::atomic::Staged;
use crate::foundation::error::{CpiqError, Result};
use crate::present::output::{self, Format, TableOptions};
use crate::present::report::ResultKind;

/// A fresh private folder for an export on its way to object storage.
pub(super) fn tempfile_dir() -> Result<PathBuf> {
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

/// True when `batch` is CPI rows (a `cpi` and a `status` column) with a
/// row whose status is `missed`.
pub(super) fn batch_has_missed(batch: &RecordBatch) -> bool {
    if batch.column_by_name(col::CPI).is_none() {
        return false;
    }
    let Some(status) = batch.column_by_name(col::STATUS) else {
        return false;
    };
    let Ok(status) = datafusion::arrow::compute::cast(status, &DataType::Utf8) else {
        return false;
    };
    status
        .as_any()
        .downcast_ref::<StringArray>()
        .is_some_and(|s| s.iter().any(|v| v == Some(Status::Missed.as_str())))
}

/// The row count a DataFusion write (`COPY`, `write_parquet`) reports.
pub(super) fn rows_written(batches: &[RecordBatch]) -> u64 {
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

/// The name under which SQL reads the last result: `SELECT * FROM _`.
pub const LAST_RESULT: &str = "_";

impl Session {
    /// Remember a result: for `\export`, `\chart` and the report.
    pub(super) fn remember(
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
        let kept = self.keep_last || self.captures.is_some() || kind != ResultKind::Query;
        if kept {
            self.last = Some((schema, batches));
        }
        self.name_last(kept);
        self.last_kind = kind;
        self.last_scatters = scatters;
        self.last_verdicts = verdicts;
    }

    /// Register the last result as the table `_` (or drop `_` when the
    /// result was too large to keep), so SQL can read it.
    fn name_last(&self, kept: bool) {
        let ctx = self.engine.ctx();
        let _ = ctx.deregister_table(LAST_RESULT);
        if let (true, Some((schema, batches))) = (kept, &self.last)
            && let Ok(table) =
                datafusion::datasource::MemTable::try_new(schema.clone(), vec![batches.clone()])
        {
            let _ = ctx.register_table(LAST_RESULT, Arc::new(table));
        }
    }

    /// Write `df` as a hive-style directory partitioned by the session's
    /// columns, built aside and published whole.
    pub(super) async fn write_partitioned(
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

    pub(super) async fn emit_memory(
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
                color: self.color,
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

    /// Emit an analysis result (slice, correlation, Granger, drivers): as
    /// [`Session::emit_memory`], and an exported file records the input
    /// files of the result's CPIs and KPI tables ([`Session::last_inputs`]).
    pub(super) async fn emit_result(
        &mut self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        elapsed: Option<Duration>,
    ) -> Result<()> {
        let Some(path) = self.output.clone() else {
            return self.emit_memory(schema, batches, elapsed).await;
        };
        if !self.partition_by.is_empty() {
            return self.emit_partitioned(&path, schema, batches).await;
        }
        let stream = MemoryStream::try_new(batches, schema, None)?;
        self.emit_result_stream(Box::pin(stream)).await
    }

    /// Write an analysis result to `path` (the session's output) as
    /// hive-style folders partitioned by the session's columns
    /// (`--partition-by`).
    async fn emit_partitioned(
        &mut self,
        path: &Path,
        schema: SchemaRef,
        mut batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let path = self.resolve_out(path);
        let inputs = self.last_inputs().await;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        let df = self.engine.ctx().read_batches(batches)?;
        let written = self.write_partitioned(df, &path, &inputs).await?;
        self.report_partitioned(&written, &path);
        Ok(())
    }

    /// "wrote N rows to DIR (…, partitioned by …)" on standard error.
    pub(super) fn report_partitioned(&self, written: &output::Written, path: &Path) {
        eprintln!(
            "wrote {} rows to {} ({} bytes, partitioned by {})",
            written.rows,
            path.display(),
            written.bytes,
            self.partition_by.join(", ")
        );
    }

    /// [`Session::emit_result`] for rows still being made: written as
    /// they come (to a file, with the result's input files).
    pub(super) async fn emit_result_stream(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<()> {
        let inputs = match self.output {
            Some(_) => self.last_inputs().await,
            None => Vec::new(),
        };
        self.emit_with_inputs(stream, &inputs).await
    }

    pub(super) async fn emit(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<()> {
        self.emit_with_inputs(stream, &[]).await
    }

    /// Write a result where it goes; exported Parquet records `inputs`.
    pub(super) async fn emit_with_inputs(
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
    pub(super) fn watch(
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
    pub(super) async fn write_file(
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

    pub(super) async fn emit_plain(
        &mut self,
        stream: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<()> {
        output::write_stream(stream, self.format, &mut self.out).await?;
        self.out.flush()?;
        Ok(())
    }

    /// Fold the row counts and `missed` flags of the streams written since
    /// the last call into the statement's totals.
    pub(super) fn settle_watchers(&mut self) {
        use std::sync::atomic::Ordering;
        for (missed, rows) in self.watchers.drain(..) {
            self.statement_rows += rows.load(Ordering::Relaxed);
            self.missed |= missed.load(Ordering::Relaxed);
        }
    }

    /// Emit a slice result: on the terminal table, values in their units.
    pub(super) async fn emit_slice(&mut self, batch: RecordBatch) -> Result<()> {
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
        self.emit_result(batch.schema(), vec![batch], None).await
    }

    pub(super) async fn emit_batch(&mut self, batch: RecordBatch) -> Result<()> {
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

    /// Write the last result, or `query`'s, to `path` (atomically).
    pub(super) async fn export(&mut self, path: &Path, query: Option<&str>) -> Result<()> {
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
    pub(super) async fn last_inputs(&self) -> Vec<String> {
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
}

/// `stream`, also keeping each batch it yields in `kept` (batches are
/// shared, not copied), so a result can be written as it is made and still
/// be remembered.
pub(super) fn keeping(
    stream: datafusion::execution::SendableRecordBatchStream,
    kept: Arc<std::sync::Mutex<Vec<RecordBatch>>>,
) -> datafusion::execution::SendableRecordBatchStream {
    use futures::StreamExt;
    let schema = stream.schema();
    let stream = stream.map(move |b| {
        if let Ok(b) = &b {
            kept.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(b.clone());
        }
        b
    });
    Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream))
}
