//! The one error type of cpiq.
//!
//! [`CpiqError`] wraps the errors of the libraries cpiq stands on (DataFusion,
//! Arrow, Parquet, IO, TOML) and adds variants for cpiq's own failures. Every
//! variant that comes from a file carries the file and, where there is one, the
//! line, so a message reads like a compiler's: `queries/cpis/fcr.sql:4: unknown
//! unit "percnt"`. Front ends map errors to exit codes with
//! [`CpiqError::exit_code`]; nothing in the library panics on bad input.

use std::fmt;
use std::io;
use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use datafusion::parquet::errors::ParquetError;

/// A location in a file: `path:line` (line is 1-based; 0 means "the file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it or as resolved against the workspace.
    pub path: PathBuf,
    /// 1-based line number, or 0 when the problem concerns the whole file.
    pub line: usize,
}

impl Location {
    /// A location at `line` of `path`.
    pub fn new(path: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            path: path.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.path.display())
        } else {
            write!(f, "{}:{}", self.path.display(), self.line)
        }
    }
}

/// Everything that can go wrong in cpiq.
#[derive(Debug, thiserror::Error)]
pub enum CpiqError {
    /// The workspace configuration (`cpiq.toml`) is missing or wrong.
    #[error("{location}: {message}")]
    Config {
        /// Where the problem is.
        location: Location,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A rollup cannot be built or read.
    #[error("rollup of {cpi}: {message}")]
    Rollup {
        /// The CPI the rollup belongs to.
        cpi: String,
        /// What went wrong.
        message: String,
    },
    /// A CPI definition file is malformed or does not plan.
    #[error("{location}: {message}")]
    Definition {
        /// Where the problem is.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// A statement of a script failed.
    #[error("{location}: {source}")]
    Statement {
        /// The script and the first line of the failing statement.
        location: Location,
        /// Why it failed.
        #[source]
        source: Box<CpiqError>,
    },
    /// A table's data files are missing, unreadable or inconsistent.
    #[error("table {table}: {message}")]
    Data {
        /// The table, as named in `cpiq.toml`.
        table: String,
        /// What is wrong, naming the file(s).
        message: String,
    },
    /// A parameter is unknown, missing, or its value was refused.
    #[error("parameter {name}: {message}")]
    Param {
        /// The parameter's name.
        name: String,
        /// Why it was refused.
        message: String,
    },
    /// The user asked for something that cannot be done as asked (bad flag
    /// value, unknown CPI, unknown format). Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// The Ballista cluster cannot be reached or used.
    #[error("cluster {url}: {message}")]
    Cluster {
        /// The cluster's address (`df://HOST:PORT`).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A chart could not be drawn or encoded.
    #[error("chart: {0}")]
    Chart(String),
    /// `cpiq check` found problems (each already reported).
    #[error("{} found", problems(*.0))]
    Check(usize),
    /// A query was cancelled (Ctrl-C, SIGINT). Exit code 130.
    #[error("query cancelled")]
    Cancelled,
    /// The process was asked to stop (SIGTERM). Exit code 143.
    #[error("terminated")]
    Terminated,
    /// An error from the DataFusion query engine.
    #[error("{}", strip_df(.0))]
    DataFusion(#[from] DataFusionError),
    /// An error from Arrow.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// An error from the Parquet reader or writer.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// An IO error, with the path it concerns when known.
    #[error("{}", io_message(.path.as_deref(), .source))]
    Io {
        /// The file or directory, when known.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// `Result` with [`CpiqError`].
pub type Result<T, E = CpiqError> = std::result::Result<T, E>;

impl From<io::Error> for CpiqError {
    fn from(source: io::Error) -> Self {
        CpiqError::Io { path: None, source }
    }
}

fn problems(n: usize) -> String {
    if n == 1 {
        "1 problem".into()
    } else {
        format!("{n} problems")
    }
}

fn io_message(path: Option<&std::path::Path>, e: &io::Error) -> String {
    match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    }
}

/// DataFusion prefixes its messages with the error class ("Error during
/// planning: ..."); keep the class, drop the nesting noise.
/// Running out of the memory pool says so first, with what to do.
fn strip_df(e: &DataFusionError) -> String {
    if let DataFusionError::ResourcesExhausted(detail) = e.find_root() {
        return format!(
            "memory limit reached: {}\nhint: raise memory_limit in [settings] of cpiq.toml \
             (`cpiq check` shows the limit), or ask for fewer groups: fewer dimensions, \
             a coarser period, a shorter time range",
            detail.trim_end()
        );
    }
    // A CPI view that does not plan: its definition's own message
    // (`file:line: what is wrong`), not DataFusion's wrapping of it.
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(cpi) = err.downcast_ref::<std::sync::Arc<CpiqError>>() {
            return cpi.to_string();
        }
        source = err.source();
    }
    let s = e.to_string();
    s.trim_end().to_string()
}

impl CpiqError {
    /// An IO error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        CpiqError::Io {
            path: Some(path.into()),
            source,
        }
    }

    /// A configuration error at `path:line`.
    pub fn config(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        CpiqError::Config {
            location: Location::new(path, line),
            message: message.into(),
        }
    }

    /// A definition error at `path:line`.
    pub fn definition(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        CpiqError::Definition {
            location: Location::new(path, line),
            message: message.into(),
        }
    }

    /// A parameter error.
    pub fn param(name: impl Into<String>, message: impl Into<String>) -> Self {
        CpiqError::Param {
            name: name.into(),
            message: message.into(),
        }
    }

    /// The process exit code for this error: 2 for usage errors, 130 for a
    /// cancelled query, 143 when terminated, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CpiqError::Usage(_) => exit::USAGE,
            CpiqError::Cancelled => exit::INTERRUPTED,
            CpiqError::Terminated => exit::TERMINATED,
            CpiqError::Statement { source, .. } => match **source {
                CpiqError::Cancelled => exit::INTERRUPTED,
                CpiqError::Terminated => exit::TERMINATED,
                _ => exit::FAILED,
            },
            _ => exit::FAILED,
        }
    }

    /// True when the error is a write to a closed pipe (`cpiq sql … | head`),
    /// which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        if crate::foundation::stdout::Stdout::closed() {
            return true;
        }
        fn io_is_pipe(e: &io::Error) -> bool {
            e.kind() == io::ErrorKind::BrokenPipe
        }
        fn arrow_is_pipe(e: &ArrowError) -> bool {
            match e {
                ArrowError::IoError(_, e) => io_is_pipe(e),
                ArrowError::ExternalError(e) => {
                    e.downcast_ref::<io::Error>().is_some_and(io_is_pipe)
                }
                _ => false,
            }
        }
        match self {
            CpiqError::Io { source, .. } => io_is_pipe(source),
            CpiqError::Arrow(e) => arrow_is_pipe(e),
            CpiqError::DataFusion(DataFusionError::IoError(e)) => io_is_pipe(e),
            CpiqError::DataFusion(DataFusionError::ArrowError(e, _)) => arrow_is_pipe(e),
            CpiqError::Statement { source, .. } => source.is_broken_pipe(),
            _ => false,
        }
    }

    /// Attach a script location to an error raised while running a statement.
    pub fn at(self, path: impl Into<PathBuf>, line: usize) -> Self {
        match self {
            // Already located errors keep their own, more precise location.
            e @ (CpiqError::Statement { .. }
            | CpiqError::Definition { .. }
            | CpiqError::Config { .. }) => e,
            e => CpiqError::Statement {
                location: Location::new(path, line),
                source: Box::new(e),
            },
        }
    }
}

/// A failure talking to (or starting) the cluster at `url`.
pub fn cluster_error(url: impl fmt::Display, message: impl Into<String>) -> CpiqError {
    CpiqError::Cluster {
        url: url.to_string(),
        message: message.into(),
    }
}

/// The exit codes of cpiq, in one table (the README's "Exit codes").
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A query, definition or data error; a job's statement failed.
    pub const FAILED: u8 = 1;
    /// A usage error: a bad flag, argument, setting or command.
    pub const USAGE: u8 = 2;
    /// A CPI missed its target, with `--fail-on-missed-target`.
    pub const MISSED_TARGET: u8 = 3;
    /// Stopped by SIGINT (Ctrl-C).
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM.
    pub const TERMINATED: u8 = 143;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_like_compiler_messages() {
        let e = CpiqError::definition("queries/cpis/fcr.sql", 4, "unknown unit \"percnt\"");
        assert_eq!(
            e.to_string(),
            "queries/cpis/fcr.sql:4: unknown unit \"percnt\""
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn usage_errors_exit_2_and_pipes_are_not_failures() {
        assert_eq!(CpiqError::Usage("bad".into()).exit_code(), 2);
        let pipe = CpiqError::from(io::Error::new(io::ErrorKind::BrokenPipe, "x"));
        assert!(pipe.is_broken_pipe());
        let arrow = CpiqError::Arrow(ArrowError::IoError(
            "w".into(),
            io::Error::new(io::ErrorKind::BrokenPipe, "x"),
        ));
        assert!(arrow.is_broken_pipe());
        assert!(!CpiqError::Cancelled.is_broken_pipe());
    }

    #[test]
    fn statement_errors_name_file_and_line() {
        let e = CpiqError::Usage("no such CPI".into()).at("job.sql", 7);
        assert_eq!(e.to_string(), "job.sql:7: no such CPI");
        // A failed statement of a script is a query error, whatever its cause.
        assert_eq!(e.exit_code(), 1);
    }
}
