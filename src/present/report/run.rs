//! The run log of a job as the report renders it: each statement's status,
//! rows, time and files. The session core ([`crate::exec`]) records it.

use std::path::PathBuf;

use serde::Serialize;

use crate::foundation::spelled::spelled_enum;

spelled_enum! {
    /// How one statement of a run ended.
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum StatementStatus {
        /// It ran.
        Ok = "ok",
        /// It failed (the run stops there).
        Failed = "failed",
        /// It did not run, after an earlier failure.
        NotRun = "not_run",
    }
}

spelled_enum! {
    /// How a whole run ended; each has its exit code (see the README's table).
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RunStatus {
        /// Every statement ran (exit 0).
        Ok = "ok",
        /// A statement failed (its error's exit code).
        Failed = "failed",
        /// Stopped by SIGINT (exit 130).
        Interrupted = "interrupted",
        /// Stopped by SIGTERM (exit 143).
        Terminated = "terminated",
        /// Every statement ran, and a CPI missed its target with
        /// `--fail-on-missed-target` (exit 3).
        MissedTarget = "missed_target",
    }
}

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
    /// How it ended.
    pub status: StatementStatus,
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
    /// How the run ended.
    pub status: RunStatus,
    /// The exit code the run ended with.
    pub exit_code: u8,
    /// Job parameters.
    pub params: Vec<(String, String)>,
    /// One entry per statement.
    pub statements: Vec<ReportEntry>,
}
