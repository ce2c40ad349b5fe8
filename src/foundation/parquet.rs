//! Parquet as cpiq writes it, for exports and rollups alike: zstd, row
//! groups of up to 1M rows, rows handed over in fixed-size batches (so the
//! same rows give the same bytes), key-value metadata for provenance.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use super::atomic::AtomicFile;
use super::error::Result;

/// Rows per batch handed to the Parquet writer: fixed, so that the file's
/// bytes do not depend on how the engine happened to split its batches.
const WRITE_BATCH: usize = 8192;

/// Counts of what was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// Bytes of the file (exports only).
    pub bytes: u64,
}

/// Write `stream` as Parquet into `out` with key-value `metadata`; returns
/// the rows written.
pub async fn write<W: Write + Send>(
    mut stream: SendableRecordBatchStream,
    out: W,
    metadata: &[(String, String)],
) -> Result<u64> {
    use datafusion::parquet::file::metadata::KeyValue;
    let kv: Vec<KeyValue> = metadata
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(1 << 20))
        .set_created_by(format!("cpiq {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata((!kv.is_empty()).then_some(kv))
        .build();
    let schema = stream.schema();
    let mut w = ArrowWriter::try_new(out, schema.clone(), Some(props))?;
    let mut rows = 0u64;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0usize;
    while let Some(b) = stream.next().await {
        let b = b?;
        rows += b.num_rows() as u64;
        pending_rows += b.num_rows();
        pending.push(b);
        while pending_rows >= WRITE_BATCH {
            let all = datafusion::arrow::compute::concat_batches(&schema, &pending)?;
            w.write(&all.slice(0, WRITE_BATCH))?;
            let rest = all.slice(WRITE_BATCH, all.num_rows() - WRITE_BATCH);
            pending_rows = rest.num_rows();
            pending = vec![rest];
        }
    }
    if pending_rows > 0 {
        w.write(&datafusion::arrow::compute::concat_batches(
            &schema, &pending,
        )?)?;
    }
    w.close()?;
    Ok(rows)
}

/// Write `stream` as Parquet to `path`, atomically.
pub async fn write_file(
    stream: SendableRecordBatchStream,
    path: &std::path::Path,
    metadata: &[(String, String)],
) -> Result<Written> {
    let mut file = AtomicFile::create(path)?;
    let rows = write(stream, &mut file, metadata).await?;
    let bytes = file.commit()?;
    Ok(Written { rows, bytes })
}
