//! Registering a workspace table in the session.
//!
//! A table path is a file, a directory (hive-style `key=value` folders become
//! columns) or a glob. Each file's schema is read separately so that files
//! that disagree on a column's type are reported by name, and files that only
//! add columns are merged (missing columns read as NULL).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::FileStatisticsCache;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use super::file_stats::FileStats;
use super::schemas::CachedSchema;
use super::views::{Opened, Opener};
use crate::foundation::error::{CpiqError, Result};
use crate::model::cpi::CpiDefinition;
use crate::workspace::{FileKind, KpiSpec, Storage, TableSpec};

fn data_err(table: &TableSpec, message: String) -> CpiqError {
    CpiqError::Data {
        table: table.name.clone(),
        message,
    }
}

/// How the workspace table `spec` is opened when a statement first names
/// it ([`super::views`]): as [`open_table`] opens it, a KPI table's columns
/// checked too (a problem that leaves the table usable), its files'
/// statistics pushed to `stats` so that the session writes them when it
/// ends.
pub(super) fn opener(
    spec: TableSpec,
    kpi: Option<(KpiSpec, PathBuf)>,
    storage: Storage,
    cache: PathBuf,
    writable: bool,
    stats: Arc<Mutex<Vec<Arc<FileStats>>>>,
) -> Opener {
    Box::new(move |state| {
        let (spec, kpi, storage, cache, stats) = (
            spec.clone(),
            kpi.clone(),
            storage.clone(),
            cache.clone(),
            Arc::clone(&stats),
        );
        Box::pin(async move {
            match open_table(&state, &spec, &storage, &cache, writable).await {
                Ok((table, file_stats)) => {
                    if let Some(s) = file_stats {
                        stats.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                    }
                    let problem = kpi.and_then(|(kpi, config)| {
                        check_kpi(&table.schema(), &config, &kpi)
                            .err()
                            .map(Arc::new)
                    });
                    Opened {
                        table: Ok(table),
                        problem,
                    }
                }
                Err(e) => Opened {
                    table: Err(Arc::new(e)),
                    problem: None,
                },
            }
        })
    })
}

/// Open `spec` as a listing table, in the session whose snapshot `state` is.
///
/// A local Parquet table's schema is taken from the workspace's `cache`
/// folder ([`super::schemas`]) while its files are the ones it was read
/// from, and kept there after it is read unless not `writable` (read-only
/// sessions); so are its files' statistics ([`super::file_stats`], returned
/// so that the session writes them when it ends). Every Parquet table keeps
/// its files' statistics for the session.
pub(super) async fn open_table(
    state: &SessionState,
    spec: &TableSpec,
    storage: &Storage,
    cache: &Path,
    writable: bool,
) -> Result<(Arc<dyn TableProvider>, Option<Arc<FileStats>>)> {
    let (url, single_file) = locate(state.runtime_env(), spec, storage)?;
    let format: Arc<dyn FileFormat> = match spec.kind {
        FileKind::Parquet => Arc::new(parquet_format(spec.url.is_some())),
        FileKind::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(true)
                .with_newlines_in_values(true),
        ),
    };
    let extension = if single_file {
        // A single file is read whatever its extension.
        String::new()
    } else {
        spec.kind.extension().to_string()
    };
    let store = state.runtime_env().object_store(&url)?;
    let files = list_files(spec, state, &url, store.as_ref(), &extension).await?;
    let partitions = partition_columns(spec, &url, &files)?;
    let options = ListingOptions::new(format.clone())
        .with_file_extension(extension.clone())
        .with_table_partition_cols(
            partitions
                .into_iter()
                .map(|c| (c, DataType::Utf8))
                .collect(),
        );
    let cached = match (spec.kind, &spec.url) {
        (FileKind::Parquet, None) => CachedSchema::new(cache, &spec.name, &files),
        _ => None,
    };
    let (config, schema) = match cached.as_ref().and_then(CachedSchema::get) {
        Some(schema) => (ListingTableConfig::new(url), schema),
        None => {
            let (schemas, skipped) = file_schemas(spec, state, &store, &format, &files).await?;
            let schema = union_schema(spec, &schemas)?;
            if let Some(entry) = cached.as_ref().filter(|_| writable && skipped.is_empty()) {
                entry.put(&schema);
            }
            // With skipped files, the table is the explicit list of the good ones.
            let config = if skipped.is_empty() {
                ListingTableConfig::new(url)
            } else {
                let urls = schemas
                    .iter()
                    .map(|(name, _)| ListingTableUrl::parse(name))
                    .collect::<datafusion::common::Result<Vec<_>>>()?;
                ListingTableConfig::new_with_multi_paths(urls)
            };
            (config, schema)
        }
    };
    let stats = (spec.kind == FileKind::Parquet).then(|| {
        Arc::new(match &spec.url {
            None => FileStats::open(cache, &spec.name, Arc::clone(&schema), &files, writable),
            Some(_) => FileStats::in_memory(Arc::clone(&schema)),
        })
    });
    let config = config.with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config)?
        .with_cache(stats.clone().map(|s| s as Arc<FileStatisticsCache>));
    Ok((Arc::new(table), stats))
}

/// The Parquet format for files on object storage or a local disk (every
/// Parquet listing cpiq registers: tables, rollups). They differ in how many
/// bytes from a file's end are read for its footer at once: DataFusion reads
/// 512 KiB, one round trip on object storage; on a local disk that read (and
/// zeroing its buffer) is most of the cost of opening a workspace of small
/// files (123 files of 1 MB a table: 55 ms to `select 1`, 84% of it copying
/// and clearing footer buffers). Local files read the 8-byte tail, then
/// exactly the footer: two `pread`s.
pub(crate) fn parquet_format(object_storage: bool) -> ParquetFormat {
    ParquetFormat::default().with_metadata_size_hint(object_storage.then_some(512 * 1024))
}

/// The table's URL (its object store registered first) and whether it
/// names a single file. An object-store path names one object when it ends
/// in the table's extension (or holds a glob), else a prefix ("folder").
fn locate(
    runtime: &RuntimeEnv,
    spec: &TableSpec,
    storage: &Storage,
) -> Result<(ListingTableUrl, bool)> {
    let mut location = spec.path.to_string_lossy().into_owned();
    let single_file = match &spec.url {
        Some(url) => {
            super::storage::register(runtime, url, storage)
                .map_err(|e| data_err(spec, e.to_string()))?;
            location = url.clone();
            url.to_ascii_lowercase().ends_with(spec.kind.extension())
        }
        None => spec.path.is_file(),
    };
    let is_folder = match &spec.url {
        Some(url) => !single_file && !url.contains(['*', '?', '[']),
        None => spec.path.is_dir(),
    };
    if is_folder && !location.ends_with('/') {
        location.push('/');
    }
    let url = ListingTableUrl::parse(&location).map_err(|e| data_err(spec, e.to_string()))?;
    Ok((url, single_file))
}

/// The table's non-empty files; none is an error naming the path.
async fn list_files(
    spec: &TableSpec,
    state: &SessionState,
    url: &ListingTableUrl,
    store: &dyn ObjectStore,
    extension: &str,
) -> Result<Vec<ObjectMeta>> {
    let files: Vec<ObjectMeta> = url
        .list_all_files(state, store, extension)
        .await?
        .try_collect()
        .await
        .map_err(|e| data_err(spec, e.to_string()))?;
    let files: Vec<ObjectMeta> = files.into_iter().filter(|f| f.size > 0).collect();
    if files.is_empty() {
        return Err(data_err(
            spec,
            format!(
                "no {} files at {} (path \"{}\" in cpiq.toml line {})",
                spec.kind.extension(),
                spec.path.display(),
                spec.path_as_written,
                spec.line
            ),
        ));
    }
    Ok(files)
}

/// The hive-style partition columns (`dir/key=value/file`) of a listed
/// table, read as DataFusion's `ListingOptions::infer_partitions` reads them
/// (from the first ten files, all of which must agree), from the listing
/// already made: DataFusion's own inference lists the folder again, which
/// was a third of the `statx` calls of opening a workspace (two listings,
/// about three calls a file each).
fn partition_columns(
    spec: &TableSpec,
    url: &ListingTableUrl,
    files: &[ObjectMeta],
) -> Result<Vec<String>> {
    let keys: Vec<Vec<String>> = files
        .iter()
        .take(10)
        .filter_map(|f| url.strip_prefix(&f.location))
        .map(|parts| {
            let parts: Vec<&str> = parts.collect();
            let folders = &parts[..parts.len().saturating_sub(1)];
            folders
                .iter()
                .filter_map(|s| s.split_once('='))
                .map(|(key, _)| key.to_string())
                .collect()
        })
        .collect();
    let Some(first) = keys.first() else {
        return Ok(Vec::new());
    };
    match keys.iter().find(|k| *k != first) {
        None => Ok(first.clone()),
        Some(other) => {
            let mut diff = [first.clone(), other.clone()];
            diff.sort();
            Err(data_err(
                spec,
                format!("Error during planning: Found mixed partition values on disk {diff:?}"),
            ))
        }
    }
}

/// Every file's schema (its footer, or a sample of CSV rows), by file name,
/// and the files skipped as unreadable (with `on_bad_file = "skip"`; else
/// the first unreadable file is an error). Small local CSV files are first
/// checked row by row, so a malformed row is named.
async fn file_schemas(
    spec: &TableSpec,
    state: &SessionState,
    store: &Arc<dyn ObjectStore>,
    format: &Arc<dyn FileFormat>,
    files: &[ObjectMeta],
) -> Result<(Vec<(String, Arc<Schema>)>, Vec<String>)> {
    // Files are named by path, or by URL on object storage.
    let base: Option<String> = spec.url.as_ref().and_then(|u| {
        let u = url::Url::parse(u).ok()?;
        Some(format!("{}://{}/", u.scheme(), u.host_str()?))
    });
    let kind = spec.kind;
    let results: Vec<std::result::Result<(String, Arc<Schema>), String>> =
        // Owned metadata: a stream of borrowed items makes the opening
        // future not `Send` for every lifetime (rust-lang/rust#102211).
        futures::stream::iter(files.iter().cloned())
            .map(|meta: ObjectMeta| {
                let base = &base;
                async move {
                    let name = match &base {
                        Some(b) => format!("{b}{}", meta.location),
                        None => format!("/{}", meta.location),
                    };
                    let local = spec.url.is_none();
                    let schema = if local && kind == FileKind::Csv && meta.size <= CSV_CHECK_LIMIT {
                        // DataFusion infers from chunks of the byte stream and
                        // trips over quoted newlines across a chunk boundary
                        // (the Olist reviews); small files are read whole. If
                        // that fails, a second pass names the malformed rows.
                        infer_csv_schema(Path::new(&name)).map_err(|e| {
                            let problem = malformed_csv_rows(Path::new(&name))
                                .unwrap_or_else(|| format!("cannot read: {e}"));
                            format!("{name}: {problem}")
                        })?
                    } else {
                        format
                            .infer_schema(state, store, std::slice::from_ref(&meta))
                            .await
                            .map_err(|e| {
                                format!("{name}: cannot read: {}", first_line(&e.to_string()))
                            })?
                    };
                    Ok::<_, String>((name, schema))
                }
            })
            .buffered(16)
            .collect()
            .await;
    let mut schemas: Vec<(String, Arc<Schema>)> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for r in results {
        match r {
            Ok(s) => schemas.push(s),
            Err(m) if spec.skip_bad_files => skipped.push(m),
            Err(m) => {
                return Err(data_err(
                    spec,
                    format!(
                        "{m} (set on_bad_file = \"skip\" on [tables.{}] to read the other files)",
                        spec.name
                    ),
                ));
            }
        }
    }
    if schemas.is_empty() {
        return Err(data_err(
            spec,
            format!("no readable files; skipped: {}", skipped.join("; ")),
        ));
    }
    for s in &skipped {
        eprintln!("warning: table {}: skipped {s}", spec.name);
    }
    Ok((schemas, skipped))
}

/// The union of the files' columns; a column must have one type across files.
fn union_schema(spec: &TableSpec, schemas: &[(String, Arc<Schema>)]) -> Result<Arc<Schema>> {
    let mut fields: Vec<(Field, String)> = Vec::new();
    for (file, schema) in schemas {
        for f in schema.fields() {
            match fields.iter().find(|(g, _)| g.name() == f.name()) {
                None => fields.push((f.as_ref().clone().with_nullable(true), file.clone())),
                Some((g, first)) if g.data_type() != f.data_type() => {
                    return Err(data_err(
                        spec,
                        format!(
                            "files disagree on the type of column \"{}\": {} in {first}, {} in {file}",
                            f.name(),
                            g.data_type(),
                            f.data_type()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(Arc::new(Schema::new(
        fields.into_iter().map(|(f, _)| f).collect::<Vec<_>>(),
    )))
}

/// CSV files up to this size are read whole when a table is registered (and
/// their malformed rows named); larger ones are checked by DataFusion only as
/// they are read.
const CSV_CHECK_LIMIT: u64 = 32 << 20;

/// The schema of a whole CSV file with a header, as DataFusion's reader
/// would infer it.
fn infer_csv_schema(path: &Path) -> std::result::Result<Arc<Schema>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let (schema, _) = datafusion::arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(std::io::BufReader::new(file), None)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(schema))
}

/// The rows of a CSV file whose number of fields differs from its header's,
/// as "line N has F fields" (the first ten, then how many more), or `None`
/// when every row is well formed (or the file cannot be opened here; the
/// reader then reports it).
fn malformed_csv_rows(path: &Path) -> Option<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .ok()?;
    let expected = match reader.headers() {
        Ok(h) => h.len(),
        Err(e) => return Some(format!("unreadable header: {e}")),
    };
    let mut bad = Vec::new();
    let mut count = 0usize;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) if record.len() == expected => {}
            Ok(true) => {
                // An empty line in the middle is a one-field record; skip it.
                if record.len() == 1 && record[0].is_empty() {
                    continue;
                }
                count += 1;
                if bad.len() < 10 {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    bad.push(format!("line {line} has {} fields", record.len()));
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Some(format!("line {line}: {e}"));
            }
        }
    }
    if count == 0 {
        return None;
    }
    let more = if count > bad.len() {
        format!(" and {} more", count - bad.len())
    } else {
        String::new()
    };
    Some(format!(
        "{count} malformed row{} (the header has {expected} fields): {}{more}",
        if count == 1 { "" } else { "s" },
        bad.join(", ")
    ))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Check that a KPI table's columns (`schema`) hold its declared time
/// column, dimensions and numeric measures; errors name `config`'s lines.
fn check_kpi(schema: &Schema, config: &Path, kpi: &KpiSpec) -> Result<()> {
    let name = &kpi.table.name;
    let find = |c: &str| column_type(schema, c);
    let err = |m: String| CpiqError::config(config, kpi.line, m);
    let time_err = |m: String| CpiqError::config(config, kpi.time_line, m);
    match find(&kpi.time) {
        None => {
            return Err(time_err(format!(
                "kpis.{name}.time: the table has no column \"{}\"",
                kpi.time
            )));
        }
        Some(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {}
        Some(t) => {
            return Err(time_err(format!(
                "kpis.{name}.time: column \"{}\" is {t}, not a date or timestamp",
                kpi.time
            )));
        }
    }
    for d in &kpi.dimensions {
        if find(d).is_none() {
            return Err(err(format!(
                "kpis.{name}.dimensions: the table has no column \"{d}\""
            )));
        }
    }
    for (m, _) in &kpi.measures {
        match find(m) {
            None => {
                return Err(err(format!(
                    "kpis.{name}.measures: the table has no column \"{m}\""
                )));
            }
            Some(t) if t.is_numeric() => {}
            Some(t) => {
                return Err(err(format!(
                    "kpis.{name}.measures.{m}: column is {t}, not numeric"
                )));
            }
        }
    }
    Ok(())
}

/// The type of `schema`'s column `name`.
fn column_type(schema: &Schema, name: &str) -> Option<DataType> {
    schema
        .field_with_name(name)
        .ok()
        .map(|f| f.data_type().clone())
}

/// Check the planned columns of a CPI body against its header.
pub(super) fn check_cpi_schema(def: &CpiDefinition, df: &DataFrame) -> Result<()> {
    let schema = df.schema();
    let find = |name: &str| column_type(schema.as_arrow(), name);
    match find(&def.time) {
        None => {
            return Err(CpiqError::definition(
                &def.path,
                def.line_of("time"),
                format!("the body returns no time column \"{}\"", def.time),
            ));
        }
        Some(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => {}
        Some(other) => {
            return Err(CpiqError::definition(
                &def.path,
                def.line_of("time"),
                format!(
                    "time column \"{}\" is {other}, not a date or timestamp",
                    def.time
                ),
            ));
        }
    }
    if let Some(entity) = &def.entity
        && find(entity).is_none()
    {
        return Err(CpiqError::definition(
            &def.path,
            def.line_of("entity"),
            format!("the body returns no entity column \"{entity}\""),
        ));
    }
    for d in &def.dimensions {
        if find(d).is_none() {
            return Err(CpiqError::definition(
                &def.path,
                def.line_of("dimensions"),
                format!("the body returns no column for dimension \"{d}\""),
            ));
        }
    }
    for col in ["numerator", "denominator"] {
        match find(col) {
            None => {
                return Err(CpiqError::definition(
                    &def.path,
                    def.body_line,
                    format!("the body returns no \"{col}\" column"),
                ));
            }
            Some(t) if t.is_numeric() => {}
            Some(t) => {
                return Err(CpiqError::definition(
                    &def.path,
                    def.body_line,
                    format!("column \"{col}\" is {t}, not numeric"),
                ));
            }
        }
    }
    Ok(())
}
