//! A rollup's manifest on disk: what it was built from (source files and
//! their stamps), its parts, grain and calendar; read and written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};

/// The schema rollup tables are registered in: `cpiq_rollup.CPI`.
pub const SCHEMA: &str = "cpiq_rollup";

/// The version of the manifest format this build writes and reads.
pub(super) const FORMAT: u32 = 1;

/// Column names a rollup uses itself; a dimension may not take them.
pub(super) const RESERVED: &[&str] = &[
    crate::analysis::slice::ROLLUP_PERIOD,
    "numerator",
    "denominator",
    "events",
    "is_binary",
];

/// One file a rollup was built from, as the object store lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileStamp {
    pub(super) path: String,
    pub(super) size: u64,
    pub(super) modified: String,
    pub(super) etag: Option<String>,
}

/// The files of one table a rollup was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SourceTable {
    pub(super) table: String,
    pub(super) files: Vec<FileStamp>,
}

/// One Parquet file of a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Part {
    pub(super) file: String,
    pub(super) rows: u64,
    pub(super) bytes: u64,
}

/// What `manifest.json` records about a rollup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) format: u32,
    pub(super) cpi: String,
    pub(super) grain: String,
    pub(super) dimensions: Vec<String>,
    /// The CPI's SQL with the parameter values it was built with.
    pub(super) definition: String,
    pub(super) calendar: String,
    pub(super) built_at: String,
    pub(super) generation: u64,
    pub(super) sources: Vec<SourceTable>,
    pub(super) parts: Vec<Part>,
    /// Why it was built when no one asked (`built automatically after …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) origin: Option<String>,
}

impl Manifest {
    pub(super) fn grain(&self) -> Result<Grain> {
        self.grain.parse()
    }
    pub(super) fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }
    pub(super) fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }
    pub(super) fn files(&self) -> usize {
        self.sources.iter().map(|s| s.files.len()).sum()
    }
    /// Identifies one state of a rollup on disk (for the session's cache of
    /// registered tables).
    pub(super) fn id(&self) -> String {
        format!("{}#{}", self.built_at, self.generation)
    }
}

pub(super) fn rollup_err(cpi: &str, message: impl Into<String>) -> CpiqError {
    CpiqError::Rollup {
        cpi: cpi.to_string(),
        message: message.into(),
    }
}

/// The folder of CPI `cpi`'s rollup.
pub(super) fn dir_of(engine: &Engine, cpi: &str) -> PathBuf {
    engine.workspace().cache_dir.join("rollups").join(cpi)
}

/// The rollup's build lock (`DIR/.lock`, an advisory file lock): one
/// builder at a time, across processes, from reading the manifest to
/// removing the parts it no longer lists. With `wait`, blocks until the
/// lock is free; without, `None` when another builder holds it.
pub(super) fn lock(dir: &Path, wait: bool) -> Result<Option<std::fs::File>> {
    std::fs::create_dir_all(dir).map_err(|e| CpiqError::io(dir, e))?;
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CpiqError::io(&path, e))?;
    if wait {
        file.lock().map_err(|e| CpiqError::io(&path, e))?;
        return Ok(Some(file));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(CpiqError::io(&path, e)),
    }
}

pub(super) fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join("manifest.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CpiqError::io(&path, e)),
    };
    let m: Manifest = serde_json::from_str(&text).map_err(|e| CpiqError::Config {
        location: crate::foundation::error::Location::new(&path, e.line()),
        message: format!("unreadable rollup manifest ({e}); rebuild it with cpiq rollup build"),
    })?;
    if m.format != FORMAT {
        return Err(CpiqError::Config {
            location: crate::foundation::error::Location::new(&path, 0),
            message: format!(
                "rollup manifest format {} (this cpiq reads {FORMAT}); rebuild it with cpiq rollup build",
                m.format
            ),
        });
    }
    Ok(Some(m))
}

pub(super) fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(m).map_err(|e| rollup_err(&m.cpi, e.to_string()))?;
    let mut f = crate::foundation::atomic::AtomicFile::create(&dir.join("manifest.json"))?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.commit()?;
    Ok(())
}

/// Remove the files of `dir` that are neither the manifest nor one of its parts.
pub(super) fn remove_unlisted(dir: &Path, m: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".parquet") && !m.parts.iter().any(|p| p.file == name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

pub(super) fn calendar_key(cal: &Calendar) -> String {
    format!(
        "fiscal_year_start={}; timezone={}",
        cal.fiscal_year_start,
        cal.timezone.as_deref().unwrap_or("(each column's own)")
    )
}

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
