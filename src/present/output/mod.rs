//! Output: rendering result streams for people and writing them to files.
//!
//! [`Format`] names the formats; [`write_stream`] renders a stream of record
//! batches to any writer (table, csv, json, ndjson, markdown) and
//! [`export`] writes one to a file chosen by extension (`.parquet`, `.csv`,
//! `.json`, `.ndjson`, `.md`), atomically. This module does not plan or run
//! queries.

mod csv; // CSV as Arrow's writer makes it, written faster
mod display;
mod table;

pub use crate::foundation::parquet::Written;
pub use display::{DISPLAY_ONLY, display_batch, display_correlation};
pub use table::{Expanded, TableOptions};

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::json;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::foundation::atomic::AtomicFile;
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::parquet;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A boxed table for people.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    /// Apache Parquet (files only).
    Parquet,
}

impl FromStr for Format {
    type Err = CpiqError;

    fn from_str(s: &str) -> Result<Format> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "markdown" | "md" => Format::Markdown,
            "parquet" => Format::Parquet,
            other => {
                return Err(CpiqError::Usage(format!(
                    "unknown format \"{other}\" (expected table, csv, json, ndjson or markdown)"
                )));
            }
        })
    }
}

impl Format {
    /// The format a file is written in, by its extension.
    pub fn for_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "md" => Ok(Format::Markdown),
            _ => Err(CpiqError::Usage(format!(
                "cannot tell the format of {} from its extension (use .parquet, .csv, .json, .ndjson or .md)",
                path.display()
            ))),
        }
    }
}

/// Render `stream` to `out` in `format`. Parquet is refused here (it is for
/// files: use [`export`]). Returns the number of rows.
pub async fn write_stream(
    stream: SendableRecordBatchStream,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64> {
    write_stream_with(stream, format, out, &TableOptions::default()).await
}

/// [`write_stream`], with screen-fitting options for the table format.
pub async fn write_stream_with(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: &mut dyn Write,
    table_opts: &TableOptions,
) -> Result<u64> {
    let schema = stream.schema();
    let rows = match format {
        Format::Table => {
            let (batches, rows) = collect(&mut stream).await?;
            table::render(&schema, &batches, out, table_opts)?;
            rows
        }
        Format::Csv => {
            let mut w = csv::CsvWriter::new(&mut *out);
            let rows = each_batch(&mut stream, |b| w.write(b)).await?;
            // The header alone for an empty result.
            w.finish(&schema)?;
            rows
        }
        Format::Json => {
            let rows = write_json::<json::writer::JsonArray>(&mut stream, out).await?;
            out.write_all(b"\n")?;
            rows
        }
        Format::Ndjson => write_json::<json::writer::LineDelimited>(&mut stream, out).await?,
        Format::Markdown => {
            let (batches, rows) = collect(&mut stream).await?;
            write_markdown(&schema, &batches, out)?;
            rows
        }
        Format::Parquet => {
            return Err(CpiqError::Usage(
                "parquet output needs a file: use --output FILE.parquet".into(),
            ));
        }
    };
    out.flush()?;
    Ok(rows)
}

/// Hand every batch of `stream` to `write`, in order; returns the rows seen.
async fn each_batch(
    stream: &mut SendableRecordBatchStream,
    mut write: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<u64> {
    let mut rows = 0u64;
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        write(&b)?;
    }
    Ok(rows)
}

/// `stream` as JSON of the layout `F` (an array, or one object a line),
/// NULLs written out.
async fn write_json<F: json::writer::JsonFormat>(
    stream: &mut SendableRecordBatchStream,
    out: &mut dyn Write,
) -> Result<u64> {
    let mut w = json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, F>(out);
    let rows = each_batch(stream, |b| Ok(w.write(b)?)).await?;
    w.finish()?;
    Ok(rows)
}

/// Every batch of `stream` (renderers that size columns first), and the rows.
async fn collect(stream: &mut SendableRecordBatchStream) -> Result<(Vec<RecordBatch>, u64)> {
    let mut batches = Vec::new();
    let rows = each_batch(stream, |b| {
        batches.push(b.clone());
        Ok(())
    })
    .await?;
    Ok((batches, rows))
}

/// Write `stream` to `path` in the format its extension names, with
/// key-value metadata for Parquet files (provenance). The file appears only
/// when complete; on any error nothing is left at `path`.
/// Parquet is written as [`parquet::write`] writes it.
pub async fn export_with(
    stream: SendableRecordBatchStream,
    path: &Path,
    metadata: &[(String, String)],
) -> Result<Written> {
    let format = Format::for_path(path)?;
    let mut file = AtomicFile::create(path)?;
    let rows = match format {
        Format::Parquet => parquet::write(stream, &mut file, metadata).await?,
        f => {
            let mut buf = std::io::BufWriter::new(&mut file);
            let rows = write_stream(stream, f, &mut buf).await?;
            buf.flush()?;
            drop(buf);
            rows
        }
    };
    let bytes = file.commit()?;
    Ok(Written { rows, bytes })
}

/// A formatter for each column of `batch`.
pub(crate) fn formatters<'a>(
    batch: &'a RecordBatch,
    opts: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>> {
    let columns = batch.columns().iter();
    Ok(columns
        .map(|c| ArrayFormatter::try_new(c.as_ref(), opts))
        .collect::<std::result::Result<_, _>>()?)
}

/// Formatting options shared by the text renderers: NULL shown as `NULL`.
pub(crate) fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
}

fn write_markdown(
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<()> {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let names: Vec<String> = schema.fields().iter().map(|f| esc(f.name())).collect();
    writeln!(out, "| {} |", names.join(" | "))?;
    let aligns: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "|{}|", aligns.join("|"))?;
    let opts = format_options();
    for b in batches {
        let fmts = formatters(b, &opts)?;
        for r in 0..b.num_rows() {
            let cells: Vec<String> = fmts.iter().map(|f| esc(&f.value(r).to_string())).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}

/// Print a Parquet file's provenance metadata (keys starting with `cpiq.`),
/// its other metadata keys, schema, row groups and row count.
pub fn inspect(path: &Path, out: &mut dyn Write) -> Result<()> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| CpiqError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| {
        CpiqError::Usage(format!(
            "{}: not a readable Parquet file: {e}",
            path.display()
        ))
    })?;
    let meta = reader.metadata();
    let fm = meta.file_metadata();
    writeln!(out, "file        {}", path.display())?;
    writeln!(out, "rows        {}", fm.num_rows())?;
    writeln!(out, "row groups  {}", meta.num_row_groups())?;
    writeln!(out, "created by  {}", fm.created_by().unwrap_or("unknown"))?;
    if let Some(kv) = fm.key_value_metadata() {
        for e in kv.iter().filter(|e| e.key != "ARROW:schema") {
            writeln!(out, "{:<11} {}", e.key, e.value.as_deref().unwrap_or(""))?;
        }
    }
    let schema = datafusion::parquet::arrow::parquet_to_arrow_schema(
        fm.schema_descr(),
        fm.key_value_metadata(),
    )?;
    writeln!(out, "schema")?;
    for f in schema.fields() {
        writeln!(
            out,
            "  {} {}{}",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "" } else { " NOT NULL" }
        )?;
    }
    out.flush()?;
    Ok(())
}
