//! Each Parquet file's statistics (row count, and per column null count,
//! minimum and maximum), kept for the table that read them: in memory for
//! the session, and for a local table in a writable workspace also in the
//! cache folder, `.cpiq/stats/TABLE.arrows`, for the next process.
//!
//! DataFusion plans a scan from every file's statistics: it prunes files
//! whose minimum and maximum cannot match the filter before opening them,
//! and answers `count(*)` from row counts. Without a cache it reads every
//! footer again at every statement (37 files of returns: 10 ms of a 40 ms
//! slice, before a row is read). A listed file's entry is used while its
//! size and modification time are the ones it was read at and the table's
//! file schema is the one they were read under (DataFusion checks both);
//! anything else reads the footer again.
//!
//! Owns: the cache's entries, their file format and when it is written
//! (when the session that added entries ends; a damaged or foreign file is
//! a miss, two processes writing leave one of their files whole). Must not
//! touch: how statistics are read from a footer (DataFusion's
//! `ParquetFormat`), schemas (`schemas`, `register`), anything in read-only
//! sessions or on object storage but memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, NullArray, RecordBatch, StringArray, UInt8Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics, TableReference};
use datafusion::execution::cache::cache_manager::{
    CachedFileMetadata, SchemaFingerprint, TableScopedPath,
};
use datafusion::execution::cache::{Cache, CacheEntryInfo, CacheValue};
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;

use crate::foundation::atomic::AtomicFile;
use crate::foundation::error::Result;

/// The schema metadata key holding the cpiq version and file schema the
/// statistics were read under.
const SCHEMA_KEY: &str = "cpiq.file_schema";

/// An entry and how often DataFusion found it.
struct Entry {
    value: CachedFileMetadata,
    hits: usize,
}

/// Where a table's statistics are kept between processes.
struct Store {
    path: PathBuf,
    /// The file schema's description (see [`describe`]).
    schema: String,
    /// False in read-only sessions, which read the file but never write it.
    writable: bool,
}

/// One table's file statistics cache, plugged into its `ListingTable`.
/// DataFusion asks it for a file's entry and checks the entry itself.
pub(super) struct FileStats {
    entries: Mutex<HashMap<ObjectPath, Entry>>,
    /// Whether an entry was added since the cache was read or written.
    dirty: std::sync::atomic::AtomicBool,
    limit: AtomicUsize,
    file_schema: Arc<Schema>,
    store: Option<Store>,
}

impl std::fmt::Debug for FileStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileStats({})", self.len())
    }
}

impl FileStats {
    /// A cache in memory only (read-only sessions, object storage).
    pub(super) fn in_memory(file_schema: Arc<Schema>) -> FileStats {
        FileStats {
            entries: Mutex::new(HashMap::new()),
            dirty: false.into(),
            limit: AtomicUsize::new(usize::MAX),
            file_schema,
            store: None,
        }
    }

    /// The cache of table `name` kept under `cache_dir`, holding what an
    /// earlier process read for these `files` (the ones whose size and
    /// modification time are unchanged) under this `file_schema`, and
    /// written there when new entries were added unless not `writable`. A
    /// table name that cannot be a file name keeps its cache in memory.
    pub(super) fn open(
        cache_dir: &Path,
        name: &str,
        file_schema: Arc<Schema>,
        files: &[ObjectMeta],
        writable: bool,
    ) -> FileStats {
        let mut stats = FileStats::in_memory(file_schema);
        let Some(path) = super::schemas::cache_file(cache_dir, "stats", name) else {
            return stats;
        };
        let store = Store {
            path,
            schema: describe(&stats.file_schema),
            writable,
        };
        let fingerprint = Arc::new(SchemaFingerprint::from_schema(&stats.file_schema));
        if let Some(loaded) = read(&store, &stats.file_schema, files, &fingerprint) {
            stats.entries = Mutex::new(
                loaded
                    .into_iter()
                    .map(|value| (value.meta.location.clone(), Entry { value, hits: 0 }))
                    .collect(),
            );
        }
        stats.store = Some(store);
        stats
    }

    /// Write the entries to the cache folder if any was added since it was
    /// read. Best effort: a folder that cannot be written only means the
    /// footers are read again next time; the file appears whole or not at
    /// all, and of two processes writing at once the last one's stays.
    pub(super) fn persist(&self) {
        let Some(store) = self.store.as_ref().filter(|s| s.writable) else {
            return;
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let entries: Vec<CachedFileMetadata> = {
            let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let mut values: Vec<_> = map.values().map(|e| e.value.clone()).collect();
            values.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
            values
        };
        if let Some(batch) = encode(&self.file_schema, &entries, &store.schema) {
            let _ = write(&store.path, &batch);
        }
    }
}

impl Drop for FileStats {
    fn drop(&mut self) {
        self.persist();
    }
}

impl Cache<TableScopedPath, CachedFileMetadata> for FileStats {
    fn get(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get_mut(&key.path)?;
        entry.hits += 1;
        Some(entry.value.clone())
    }

    fn put(&self, key: &TableScopedPath, value: CachedFileMetadata) -> Option<CachedFileMetadata> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let used: usize = map.values().map(|e| e.value.size()).sum();
        if used.saturating_add(value.size()) > self.limit.load(Ordering::Relaxed) {
            return None;
        }
        self.dirty.store(true, Ordering::Release);
        map.insert(key.path.clone(), Entry { value, hits: 0 })
            .map(|e| e.value)
    }

    fn remove(&self, key: &TableScopedPath) -> Option<CachedFileMetadata> {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let removed = map.remove(&key.path).map(|e| e.value);
        if removed.is_some() {
            self.dirty.store(true, Ordering::Release);
        }
        removed
    }

    fn contains_key(&self, key: &TableScopedPath) -> bool {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.contains_key(&key.path)
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.dirty.store(true, Ordering::Release);
    }

    fn name(&self) -> String {
        "cpiq file statistics".to_string()
    }

    fn cache_limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Entries already in stay; a put that would pass the limit is refused.
    fn update_cache_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Entries never expire: each is checked against its file's size and
    /// modification time when it is used.
    fn cache_ttl(&self) -> Option<Duration> {
        None
    }

    fn update_cache_ttl(&self, _ttl: Option<Duration>) {}

    /// The cache holds one table's files: any table's drop clears it.
    fn drop_table_entries(&self, _table_ref: &TableReference) -> datafusion::common::Result<()> {
        self.clear();
        Ok(())
    }

    fn list_entries(
        &self,
    ) -> datafusion::common::HashMap<TableScopedPath, CacheEntryInfo<CachedFileMetadata>> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .map(|(path, entry)| {
                (
                    TableScopedPath {
                        table: None,
                        path: path.clone(),
                    },
                    CacheEntryInfo {
                        value: entry.value.clone(),
                        size_bytes: entry.value.size(),
                        hits: entry.hits,
                        expires: None,
                    },
                )
            })
            .collect()
    }
}

/// The version of cpiq and one line a column of the file schema: the
/// statistics of another schema, or read by another version (which may read
/// types differently), are not these.
fn describe(schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}\t{}\t{}", f.name(), f.data_type(), f.is_nullable()))
        .collect();
    format!("cpiq {}\n{}", env!("CARGO_PKG_VERSION"), columns.join("\n"))
}

fn modified_ns(meta: &ObjectMeta) -> i64 {
    meta.last_modified
        .timestamp_nanos_opt()
        .unwrap_or_else(|| meta.last_modified.timestamp_micros())
}

/// How a [`Precision`] is stored: its kind beside its value.
const ABSENT: u8 = 0;
const EXACT: u8 = 1;
const INEXACT: u8 = 2;

fn kind<T: std::fmt::Debug + Clone + PartialEq + Eq + PartialOrd>(p: &Precision<T>) -> u8 {
    match p {
        Precision::Absent => ABSENT,
        Precision::Exact(_) => EXACT,
        Precision::Inexact(_) => INEXACT,
    }
}

fn precision<T: std::fmt::Debug + Clone + PartialEq + Eq + PartialOrd>(
    kind: u8,
    value: Option<T>,
) -> Option<Precision<T>> {
    match (kind, value) {
        (ABSENT, _) => Some(Precision::Absent),
        (EXACT, Some(v)) => Some(Precision::Exact(v)),
        (INEXACT, Some(v)) => Some(Precision::Inexact(v)),
        _ => None,
    }
}

/// A count statistic of every entry: a kind column and a value column.
fn counts(
    name: &str,
    values: &[&Precision<usize>],
    fields: &mut Vec<Field>,
    columns: &mut Vec<ArrayRef>,
) {
    let kinds: UInt8Array = values.iter().map(|p| Some(kind(p))).collect();
    let numbers: UInt64Array = values
        .iter()
        .map(|p| p.get_value().map(|v| *v as u64))
        .collect();
    fields.push(Field::new(format!("{name}.kind"), DataType::UInt8, false));
    fields.push(Field::new(name, DataType::UInt64, true));
    columns.push(Arc::new(kinds));
    columns.push(Arc::new(numbers));
}

/// A value statistic (minimum, maximum, sum) of every entry, in the type of
/// its values; `None` when the entries' values disagree on their type.
fn values(
    name: &str,
    values: &[&Precision<ScalarValue>],
    fields: &mut Vec<Field>,
    columns: &mut Vec<ArrayRef>,
) -> Option<()> {
    let kinds: UInt8Array = values.iter().map(|p| Some(kind(p))).collect();
    let data_type = values
        .iter()
        .find_map(|p| p.get_value().map(|v| v.data_type()));
    let array: ArrayRef = match data_type {
        None => Arc::new(NullArray::new(values.len())),
        Some(data_type) => {
            let null = ScalarValue::try_from(&data_type).ok()?;
            let scalars = values
                .iter()
                .map(|p| p.get_value().cloned().unwrap_or_else(|| null.clone()));
            let array = ScalarValue::iter_to_array(scalars).ok()?;
            if array.data_type() != &data_type {
                return None;
            }
            array
        }
    };
    fields.push(Field::new(format!("{name}.kind"), DataType::UInt8, false));
    fields.push(Field::new(name, array.data_type().clone(), true));
    columns.push(Arc::new(kinds));
    columns.push(array);
    Some(())
}

/// One row an entry: its file (path, size, modification time), then each
/// statistic as a kind and a value. Entries with an ordering (which is not
/// kept) or of another layout are left out; `None` when there is nothing to
/// write or the values cannot be written as columns.
fn encode(
    schema: &Schema,
    entries: &[CachedFileMetadata],
    description: &str,
) -> Option<RecordBatch> {
    let width = schema.fields().len();
    let entries: Vec<&CachedFileMetadata> = entries
        .iter()
        .filter(|e| e.ordering.is_none() && e.statistics.column_statistics.len() == width)
        .collect();
    if entries.is_empty() {
        return None;
    }
    let mut fields = vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("modified", DataType::Int64, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            entries.iter().map(|e| e.meta.location.as_ref()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            entries.iter().map(|e| e.meta.size),
        )),
        Arc::new(Int64Array::from_iter_values(
            entries.iter().map(|e| modified_ns(&e.meta)),
        )),
    ];
    let stats: Vec<&Statistics> = entries.iter().map(|e| e.statistics.as_ref()).collect();
    let rows: Vec<_> = stats.iter().map(|s| &s.num_rows).collect();
    counts("rows", &rows, &mut fields, &mut columns);
    let bytes: Vec<_> = stats.iter().map(|s| &s.total_byte_size).collect();
    counts("bytes", &bytes, &mut fields, &mut columns);
    for i in 0..width {
        let column: Vec<&ColumnStatistics> =
            stats.iter().map(|s| &s.column_statistics[i]).collect();
        let nulls: Vec<_> = column.iter().map(|c| &c.null_count).collect();
        counts(&format!("{i}.nulls"), &nulls, &mut fields, &mut columns);
        let min: Vec<_> = column.iter().map(|c| &c.min_value).collect();
        values(&format!("{i}.min"), &min, &mut fields, &mut columns)?;
        let max: Vec<_> = column.iter().map(|c| &c.max_value).collect();
        values(&format!("{i}.max"), &max, &mut fields, &mut columns)?;
        let sum: Vec<_> = column.iter().map(|c| &c.sum_value).collect();
        values(&format!("{i}.sum"), &sum, &mut fields, &mut columns)?;
        let distinct: Vec<_> = column.iter().map(|c| &c.distinct_count).collect();
        counts(
            &format!("{i}.distinct"),
            &distinct,
            &mut fields,
            &mut columns,
        );
        let size: Vec<_> = column.iter().map(|c| &c.byte_size).collect();
        counts(&format!("{i}.bytes"), &size, &mut fields, &mut columns);
    }
    let schema = Schema::new_with_metadata(
        fields,
        [(SCHEMA_KEY.to_string(), description.to_string())].into(),
    );
    RecordBatch::try_new(Arc::new(schema), columns).ok()
}

fn write(path: &Path, batch: &RecordBatch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::foundation::error::CpiqError::io(dir, e))?;
    }
    let mut file = AtomicFile::create(path)?;
    {
        let mut writer = StreamWriter::try_new(&mut file, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    file.commit()?;
    Ok(())
}

/// The entries kept in `store` for those of `files` that are unchanged;
/// `None` when there is no cache file, it was written for another schema or
/// version, or it is damaged.
fn read(
    store: &Store,
    schema: &Schema,
    files: &[ObjectMeta],
    fingerprint: &Arc<SchemaFingerprint>,
) -> Option<Vec<CachedFileMetadata>> {
    let file = std::fs::File::open(&store.path).ok()?;
    let reader = StreamReader::try_new(std::io::BufReader::new(file), None).ok()?;
    if reader.schema().metadata().get(SCHEMA_KEY) != Some(&store.schema) {
        return None;
    }
    let listed: HashMap<&str, &ObjectMeta> =
        files.iter().map(|f| (f.location.as_ref(), f)).collect();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.ok()?;
        let decoded = Decoder::new(&batch, schema.fields().len())?;
        for row in 0..batch.num_rows() {
            let Some(meta) = listed.get(decoded.path.value(row)) else {
                continue;
            };
            if meta.size != decoded.size.value(row)
                || modified_ns(meta) != decoded.modified.value(row)
            {
                continue;
            }
            out.push(CachedFileMetadata::new(
                (*meta).clone(),
                Arc::clone(fingerprint),
                Arc::new(decoded.statistics(row)?),
                None,
            ));
        }
    }
    Some(out)
}

/// A cache file's columns, by what they hold.
struct Decoder<'a> {
    path: &'a StringArray,
    size: &'a UInt64Array,
    modified: &'a Int64Array,
    batch: &'a RecordBatch,
    width: usize,
}

impl<'a> Decoder<'a> {
    fn new(batch: &'a RecordBatch, width: usize) -> Option<Decoder<'a>> {
        // path, size, modified; rows and bytes; six statistics a column.
        if batch.num_columns() != 3 + 4 + width * 12 {
            return None;
        }
        Some(Decoder {
            path: batch.column(0).as_any().downcast_ref()?,
            size: batch.column(1).as_any().downcast_ref()?,
            modified: batch.column(2).as_any().downcast_ref()?,
            batch,
            width,
        })
    }

    fn kind(&self, column: usize, row: usize) -> Option<u8> {
        let kinds: &UInt8Array = self.batch.column(column).as_any().downcast_ref()?;
        Some(kinds.value(row))
    }

    fn count(&self, column: usize, row: usize) -> Option<Precision<usize>> {
        let numbers: &UInt64Array = self.batch.column(column + 1).as_any().downcast_ref()?;
        let value = numbers
            .is_valid(row)
            .then(|| usize::try_from(numbers.value(row)).ok())
            .flatten();
        precision(self.kind(column, row)?, value)
    }

    fn value(&self, column: usize, row: usize) -> Option<Precision<ScalarValue>> {
        let array = self.batch.column(column + 1);
        let value = if array.is_valid(row) {
            Some(ScalarValue::try_from_array(array, row).ok()?)
        } else {
            None
        };
        precision(self.kind(column, row)?, value)
    }

    fn statistics(&self, row: usize) -> Option<Statistics> {
        let column_statistics = (0..self.width)
            .map(|i| {
                let at = 7 + i * 12;
                Some(ColumnStatistics {
                    null_count: self.count(at, row)?,
                    min_value: self.value(at + 2, row)?,
                    max_value: self.value(at + 4, row)?,
                    sum_value: self.value(at + 6, row)?,
                    distinct_count: self.count(at + 8, row)?,
                    byte_size: self.count(at + 10, row)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Statistics {
            num_rows: self.count(3, row)?,
            total_byte_size: self.count(5, row)?,
            column_statistics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn meta(name: &str, size: u64, secs: i64) -> ObjectMeta {
        ObjectMeta {
            location: ObjectPath::from(name),
            last_modified: Utc.timestamp_opt(secs, 7).unwrap(),
            size,
            e_tag: None,
            version: None,
        }
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("channel", DataType::Utf8View, true),
            Field::new("empty", DataType::Float64, true),
        ]))
    }

    fn statistics(rows: usize, low: i64, high: i64, channel: &str) -> Statistics {
        Statistics {
            num_rows: Precision::Exact(rows),
            total_byte_size: Precision::Inexact(rows * 24),
            column_statistics: vec![
                ColumnStatistics {
                    null_count: Precision::Exact(0),
                    min_value: Precision::Exact(ScalarValue::Int64(Some(low))),
                    max_value: Precision::Exact(ScalarValue::Int64(Some(high))),
                    sum_value: Precision::Absent,
                    distinct_count: Precision::Absent,
                    byte_size: Precision::Exact(rows * 8),
                },
                ColumnStatistics {
                    null_count: Precision::Exact(1),
                    min_value: Precision::Exact(ScalarValue::Utf8View(Some(channel.into()))),
                    max_value: Precision::Inexact(ScalarValue::Utf8View(Some("web".into()))),
                    sum_value: Precision::Absent,
                    distinct_count: Precision::Inexact(3),
                    byte_size: Precision::Absent,
                },
                ColumnStatistics::new_unknown(),
            ],
        }
    }

    fn key(name: &str) -> TableScopedPath {
        TableScopedPath {
            table: Some(TableReference::bare("t")),
            path: ObjectPath::from(name),
        }
    }

    fn put(cache: &FileStats, file: &ObjectMeta, stats: Statistics) {
        let fingerprint = Arc::new(SchemaFingerprint::from_schema(&schema()));
        cache.put(
            &key(file.location.as_ref()),
            CachedFileMetadata::new(file.clone(), fingerprint, Arc::new(stats), None),
        );
    }

    #[test]
    fn statistics_are_found_again_by_the_next_process_while_the_file_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let files = [meta("t/a.parquet", 10, 5), meta("t/b.parquet", 20, 6)];
        let first = FileStats::open(dir.path(), "t", schema(), &files, true);
        assert_eq!(first.len(), 0, "nothing cached yet");
        put(&first, &files[0], statistics(3, -4, 9, "email"));
        put(&first, &files[1], statistics(5, 10, 99, "phone"));
        drop(first);
        assert!(dir.path().join("stats/t.arrows").exists());

        let fingerprint = Arc::new(SchemaFingerprint::from_schema(&schema()));
        let second = FileStats::open(dir.path(), "t", schema(), &files, true);
        assert_eq!(second.len(), 2);
        let a = second.get(&key("t/a.parquet")).unwrap();
        assert!(a.is_valid_for(&files[0], &fingerprint));
        assert_eq!(*a.statistics, statistics(3, -4, 9, "email"));
        let b = second.get(&key("t/b.parquet")).unwrap();
        assert_eq!(*b.statistics, statistics(5, 10, 99, "phone"));
        assert_eq!(
            second
                .list_entries()
                .values()
                .map(|e| e.hits)
                .sum::<usize>(),
            2
        );
        drop(second);

        // A file rewritten (size or time) is a miss; the others stay.
        for changed in [meta("t/a.parquet", 11, 5), meta("t/a.parquet", 10, 8)] {
            let cache = FileStats::open(
                dir.path(),
                "t",
                schema(),
                &[changed, files[1].clone()],
                true,
            );
            assert!(cache.get(&key("t/a.parquet")).is_none());
            assert!(cache.get(&key("t/b.parquet")).is_some());
        }
        // Another file schema (a column added) is a miss for every file.
        let mut fields = schema().fields().to_vec();
        fields.push(Arc::new(Field::new("more", DataType::Int32, true)));
        let wider = Arc::new(Schema::new(fields));
        assert_eq!(
            FileStats::open(dir.path(), "t", wider, &files, true).len(),
            0
        );
        // A read-only session reads the entries and writes none.
        let cached = std::fs::read(dir.path().join("stats/t.arrows")).unwrap();
        let added = meta("t/c.parquet", 1, 1);
        let read_only = FileStats::open(
            dir.path(),
            "t",
            schema(),
            &[files[0].clone(), added.clone()],
            false,
        );
        assert_eq!(read_only.len(), 1);
        put(&read_only, &added, statistics(1, 0, 0, "app"));
        drop(read_only);
        assert_eq!(
            std::fs::read(dir.path().join("stats/t.arrows")).unwrap(),
            cached
        );
        // A damaged cache file is a miss, not an error.
        std::fs::write(dir.path().join("stats/t.arrows"), b"not arrow").unwrap();
        assert_eq!(
            FileStats::open(dir.path(), "t", schema(), &files, true).len(),
            0
        );
    }

    #[test]
    fn a_session_that_added_nothing_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = [meta("t/a.parquet", 10, 5)];
        drop(FileStats::open(dir.path(), "t", schema(), &files, true));
        assert!(!dir.path().join("stats").exists());
        assert!(
            FileStats::open(dir.path(), "../t", schema(), &files, true)
                .store
                .is_none()
        );
    }
}
