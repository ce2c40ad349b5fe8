//! The workspace: what data and which CPIs exist.
//!
//! A workspace is a directory with a `cpiq.toml` that names the CPI definition
//! directory, the event tables and the KPI tables, and a few session settings.
//! This module reads and validates that file ([`Workspace::load`]) and finds it
//! ([`Workspace::discover`]); it does not touch the data or plan queries (that
//! is [`crate::engine`]'s job). Every error names `cpiq.toml`, the line and the
//! key.

mod cluster_url; // the `df://` address of a Ballista scheduler
mod model; // the typed workspace: tables, KPI tables, settings, storage
mod raw; // cpiq.toml as serde reads it, with spans
mod validate; // raw → model, every error at its line and key

pub use cluster_url::{ClusterUrl, DEFAULT_SCHEDULER_PORT};
pub use model::{
    Aggregation, FileKind, KpiSpec, MemoryLimit, OBJECT_STORE_SCHEMES, Settings, Storage,
    TableSpec, Workspace, object_store_url,
};
pub use validate::{is_identifier, parse_size};

use std::path::{Path, PathBuf};

use crate::foundation::error::{CpiqError, Result};

/// The name of the workspace configuration file.
pub const CONFIG_FILE: &str = "cpiq.toml";

impl Workspace {
    /// Find the workspace to open: `explicit` when given (a directory holding
    /// `cpiq.toml`, or the file itself); else `./cpiq.toml` when present; else
    /// the sample workspace bundled at the root of the cpiq repository.
    pub fn discover(explicit: Option<&Path>) -> Result<Workspace> {
        if let Some(p) = explicit {
            let file = if p.is_dir() {
                p.join(CONFIG_FILE)
            } else {
                p.to_path_buf()
            };
            if !file.exists() {
                return Err(CpiqError::Usage(format!(
                    "no workspace at {}: {} not found",
                    p.display(),
                    file.display()
                )));
            }
            return Workspace::load(&file);
        }
        let local = PathBuf::from(CONFIG_FILE);
        if local.is_file() {
            return Workspace::load(&local);
        }
        // `cargo run` names the checkout it runs from; a binary run directly
        // falls back to the checkout it was built from.
        let checkout = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let bundled = checkout.join(CONFIG_FILE);
        if bundled.is_file() {
            return Workspace::load(&bundled);
        }
        Err(CpiqError::Usage(format!(
            "no workspace: no {CONFIG_FILE} here and the bundled sample is gone; \
             pass -w DIR or create one with `cpiq generate --out DIR`"
        )))
    }
}
