//! The run log of a job as the report renders it: each statement's status,
//! rows, time and files. The session core ([`crate::exec`]) records it.

use std::path::PathBuf;

use serde::Serialize;

/// One file a statement wrote.
#[derive(Debug, Clone, Serialize)]
pub struct OutputFile {
    /// Where it was published.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// One statement of a run, as the report records it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportEntry {
    /// The statement or command, as written (parameters substituted).
    pub text: String,
    /// Its first line in the script.
    pub line: usize,
    /// `ok`, `failed`, or `not_run` (after a failure).
    pub status: &'static str,
    /// Rows it produced (printed or exported).
    pub rows: u64,
    /// How long it took.
    pub elapsed_ms: u128,
    /// Files it wrote.
    pub outputs: Vec<OutputFile>,
    /// The error, when it failed.
    pub error: Option<String>,
}

/// The report of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The script.
    pub script: PathBuf,
    /// `ok`, `failed`, `interrupted` or `missed_target`.
    pub status: String,
    /// The exit code the run ended with.
    pub exit_code: u8,
    /// Job parameters.
    pub params: Vec<(String, String)>,
    /// One entry per statement.
    pub statements: Vec<ReportEntry>,
}
