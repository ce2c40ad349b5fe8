//! The files a physical plan reads, as its scans list them, and the bytes
//! its Parquet scans will read.

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::ExecutionPlan;
use object_store::ObjectMeta;

/// Each data source of `plan`, as its file scan, or `None` for a source
/// that reads no files (a memory table, a stream).
fn each_scan(plan: &Arc<dyn ExecutionPlan>, mut each: impl FnMut(Option<&FileScanConfig>)) {
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if let Some(ds) = (p.as_ref() as &dyn Any).downcast_ref::<DataSourceExec>() {
            each((ds.data_source().as_ref() as &dyn Any).downcast_ref::<FileScanConfig>());
        }
        stack.extend(p.children().into_iter().cloned());
    }
}

/// Every file the scans of `plan` read (a file read twice is listed twice).
pub fn scanned_files(plan: &Arc<dyn ExecutionPlan>) -> Vec<ObjectMeta> {
    let mut out = Vec::new();
    each_scan(plan, |scan| {
        for group in scan.iter().flat_map(|cfg| &cfg.file_groups) {
            out.extend(group.files().iter().map(|f| f.object_meta.clone()));
        }
    });
    out
}

/// The bytes the Parquet scans of `plan` will read: the compressed column
/// chunks of the columns they project, from the footers the engine keeps
/// (read while planning). `None` when a scan is not of Parquet or a footer
/// is not at hand — then no share of the work can be told.
pub fn bytes_to_read(plan: &Arc<dyn ExecutionPlan>, runtime: &RuntimeEnv) -> Option<u64> {
    let cache = runtime.cache_manager.get_file_metadata_cache();
    let mut total = Some(0u64);
    each_scan(plan, |scan| {
        total = match (total, scan.and_then(|cfg| scan_bytes(cfg, cache.as_ref()))) {
            (Some(t), Some(b)) => Some(t + b),
            _ => None,
        };
    });
    total.filter(|t| *t > 0)
}

/// The compressed chunks of the projected columns of every file `cfg`
/// reads (a file split between partitions counts once).
fn scan_bytes(
    cfg: &FileScanConfig,
    cache: &datafusion::execution::cache::cache_manager::FileMetadataCache,
) -> Option<u64> {
    let projected = cfg.projected_schema().ok()?;
    let columns: HashSet<&str> = projected
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for f in cfg.file_groups.iter().flat_map(|g| g.files()) {
        if !seen.insert(f.object_meta.location.clone()) {
            continue;
        }
        let entry = cache.get(&f.object_meta.location)?;
        let metadata = parquet_metadata(entry.file_metadata.as_any())?;
        total += metadata
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns())
            .filter(|c| {
                c.column_path()
                    .parts()
                    .first()
                    .is_some_and(|top| columns.contains(top.as_str()))
            })
            .map(|c| c.compressed_size().max(0) as u64)
            .sum::<u64>();
    }
    Some(total)
}
/// A cached footer as Parquet metadata (DataFusion keeps it under either of
/// its two wrapper types).
fn parquet_metadata(
    cached: &dyn Any,
) -> Option<&Arc<datafusion::parquet::file::metadata::ParquetMetaData>> {
    use datafusion::datasource::physical_plan::parquet as pq;
    if let Some(m) = cached.downcast_ref::<pq::metadata::CachedParquetMetaData>() {
        return Some(m.parquet_metadata());
    }
    cached
        .downcast_ref::<pq::CachedParquetMetaData>()
        .map(|m| m.parquet_metadata())
}
