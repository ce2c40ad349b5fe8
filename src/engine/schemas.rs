//! Opening a workspace without reading every footer: each local Parquet
//! table's schema (the union of its files' columns) is kept in the cache
//! folder, `.cpiq/schemas/TABLE.arrows`, under the listing it was read from.
//!
//! A table's schema is the union of every file's footer, so opening a
//! workspace used to read them all, for every table, whatever the statement:
//! 123 small files a table cost 35 ms before `select 1` could answer. The
//! listing (every file's name, size and modification time, which a folder
//! listing gives for free) says whether the files are the ones the schema was
//! read from; while it is, the footers wait until a query reads that table.
//!
//! Owns: the cache files' format and their check against a listing. Must not
//! touch: how schemas are read or merged (`register`), object storage
//! (tables there are always read from their footers), anything in read-only
//! sessions but reading.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use object_store::ObjectMeta;

use crate::foundation::atomic::AtomicFile;
use crate::foundation::error::{CpiqError, Result};

/// The schema metadata key holding the listing a cached schema was read from.
const LISTING_KEY: &str = "cpiq.listing";

/// Where a table's schema is cached and the listing it must match.
pub(super) struct CachedSchema {
    dir: PathBuf,
    path: PathBuf,
    listing: String,
}

impl CachedSchema {
    /// The cache entry of table `name` for these files, or `None` when the
    /// table's name cannot be a file name.
    pub(super) fn new(cache_dir: &Path, name: &str, files: &[ObjectMeta]) -> Option<CachedSchema> {
        let path = cache_file(cache_dir, "schemas", name)?;
        Some(CachedSchema {
            dir: cache_dir.join("schemas"),
            path,
            listing: listing(files),
        })
    }

    /// The cached schema if it was read from exactly these files (by name,
    /// size and modification time) by this version of cpiq; anything else —
    /// no file, another listing, a damaged file — is a miss.
    pub(super) fn get(&self) -> Option<Arc<Schema>> {
        let file = std::fs::File::open(&self.path).ok()?;
        let reader = StreamReader::try_new(std::io::BufReader::new(file), None).ok()?;
        let schema = reader.schema();
        if schema.metadata().get(LISTING_KEY) != Some(&self.listing) {
            return None;
        }
        Some(Arc::new(Schema::new(schema.fields().clone())))
    }

    /// Keep `schema` for this listing. Best effort: a cache that cannot be
    /// written (a read-only folder) only means footers are read next time;
    /// the file appears whole or not at all.
    pub(super) fn put(&self, schema: &Schema) {
        let _ = self.write(schema);
    }

    fn write(&self, schema: &Schema) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| CpiqError::io(&self.dir, e))?;
        let tagged = Schema::new_with_metadata(
            schema.fields().clone(),
            [(LISTING_KEY.to_string(), self.listing.clone())].into(),
        );
        let mut file = AtomicFile::create(&self.path)?;
        {
            let mut writer = StreamWriter::try_new(&mut file, &tagged)?;
            writer.finish()?;
        }
        file.commit()?;
        Ok(())
    }
}

/// One line a file, in name order: name, size and modification time (ns),
/// after the version of cpiq that read them (a newer one may read types
/// differently).
fn listing(files: &[ObjectMeta]) -> String {
    let mut lines: Vec<String> = files
        .iter()
        .map(|f| {
            let modified = f
                .last_modified
                .timestamp_nanos_opt()
                .unwrap_or_else(|| f.last_modified.timestamp_micros());
            format!("{}\t{}\t{modified}", f.location, f.size)
        })
        .collect();
    lines.sort();
    format!("cpiq {}\n{}", env!("CARGO_PKG_VERSION"), lines.join("\n"))
}

/// `cache_dir/folder/NAME.arrows`, where table `name` keeps what the cache
/// folder holds for it; `None` for a name that cannot be a file name.
pub(super) fn cache_file(cache_dir: &Path, folder: &str, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    Some(cache_dir.join(folder).join(format!("{name}.arrows")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use datafusion::arrow::datatypes::{DataType, Field};

    fn meta(name: &str, size: u64, secs: i64) -> ObjectMeta {
        ObjectMeta {
            location: object_store::path::Path::from(name),
            last_modified: Utc.timestamp_opt(secs, 7).unwrap(),
            size,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn a_schema_is_found_again_only_under_the_same_listing() {
        let dir = tempfile::tempdir().unwrap();
        let files = [meta("t/b.parquet", 10, 5), meta("t/a.parquet", 20, 6)];
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("at", DataType::Utf8View, true),
        ]);
        let entry = CachedSchema::new(dir.path(), "t", &files).unwrap();
        assert!(entry.get().is_none(), "nothing cached yet");
        entry.put(&schema);
        assert_eq!(
            entry.get().as_deref(),
            Some(&schema),
            "no metadata leaks in"
        );
        // The same files in another order are the same listing.
        let same = CachedSchema::new(dir.path(), "t", &[files[1].clone(), files[0].clone()]);
        assert!(same.unwrap().get().is_some());
        // A file rewritten (size, time), added or removed is a miss.
        for other in [
            vec![meta("t/b.parquet", 11, 5), files[1].clone()],
            vec![meta("t/b.parquet", 10, 9), files[1].clone()],
            vec![files[0].clone()],
            vec![
                files[0].clone(),
                files[1].clone(),
                meta("t/c.parquet", 1, 1),
            ],
        ] {
            assert!(
                CachedSchema::new(dir.path(), "t", &other)
                    .unwrap()
                    .get()
                    .is_none()
            );
        }
        // A damaged cache file is a miss, not an error.
        std::fs::write(dir.path().join("schemas/t.arrows"), b"not arrow").unwrap();
        assert!(entry.get().is_none());
        assert!(CachedSchema::new(dir.path(), "../t", &files).is_none());
    }
}
