//! The typed workspace the rest of cpiq reads: tables, KPI tables with
//! their measures and directions, settings and storage options.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// `[storage]`: how object storage (s3://, gs://, az:// table paths and
/// exports) is reached. Credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// The endpoint of an S3-compatible server (MinIO, a local test server).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region (S3).
    #[serde(default)]
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint (local test servers only).
    #[serde(default)]
    pub allow_http: Option<bool>,
}

/// URL schemes of object stores cpiq reads and writes.
pub const OBJECT_STORE_SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "adl", "abfs", "abfss"];

/// The object-store URL `path` names (`s3://bucket/prefix/`), if it names one.
pub fn object_store_url(path: &str) -> Option<&str> {
    let (scheme, _) = path.split_once("://")?;
    OBJECT_STORE_SCHEMES
        .contains(&scheme.to_ascii_lowercase().as_str())
        .then_some(path)
}

/// A loaded, validated workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The directory relative paths resolve against.
    pub root: PathBuf,
    /// The `cpiq.toml` this workspace was read from.
    pub config_path: PathBuf,
    /// The directory of CPI definition files.
    pub cpis_dir: PathBuf,
    /// Where cpiq keeps what it derives from the data (rollups):
    /// `[workspace] cache`, by default `.cpiq` beside `cpiq.toml`.
    pub cache_dir: PathBuf,
    /// Event tables, in name order.
    pub tables: Vec<TableSpec>,
    /// KPI tables, in name order.
    pub kpis: Vec<KpiSpec>,
    /// Session settings.
    pub settings: Settings,
    /// Object storage settings.
    pub storage: Storage,
}

impl Workspace {
    /// The workspace's name: the name of the folder holding `cpiq.toml`
    /// (`..` and links resolved), `cpiq` for a root without one.
    pub fn name(&self) -> String {
        self.root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cpiq".to_string())
    }
}

/// How a table's files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
}

impl FileKind {
    /// The file extension (with the dot) DataFusion lists for this kind.
    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Parquet => ".parquet",
            FileKind::Csv => ".csv",
        }
    }
}

/// A table of the workspace: a name and where its files are.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The SQL name it is registered under.
    pub name: String,
    /// The path as written in `cpiq.toml`.
    pub path_as_written: String,
    /// The resolved path: a file, a directory, or a glob.
    pub path: PathBuf,
    /// Parquet or CSV.
    pub kind: FileKind,
    /// The line of `cpiq.toml` that names the path.
    pub line: usize,
    /// Skip unreadable files (reporting them) instead of failing the table.
    pub skip_bad_files: bool,
    /// The object-store URL when the path is one (`s3://bucket/orders/`).
    pub url: Option<String>,
}

/// How a KPI column rolls up to a coarser period or segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The mean of the finer values.
    Avg,
    /// Their sum.
    Sum,
    /// Their minimum.
    Min,
    /// Their maximum.
    Max,
    /// Their median.
    Median,
}

impl Aggregation {
    /// The SQL aggregate function implementing this roll-up.
    pub fn sql_function(self) -> &'static str {
        match self {
            Aggregation::Avg => "avg",
            Aggregation::Sum => "sum",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::Median => "median",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Aggregation> {
        Some(match s {
            "avg" | "mean" => Aggregation::Avg,
            "sum" => Aggregation::Sum,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "median" => Aggregation::Median,
            _ => return None,
        })
    }
}

/// A KPI table: a table plus its time column, dimensions and measures.
#[derive(Debug, Clone)]
pub struct KpiSpec {
    /// The table itself.
    pub table: TableSpec,
    /// The column that places a row in time.
    pub time: String,
    /// The line of the `time` key.
    pub time_line: usize,
    /// Columns the KPI can be split by (e.g. `segment`).
    pub dimensions: Vec<String>,
    /// Each measure column and how it rolls up.
    pub measures: Vec<(String, Aggregation)>,
    /// Measures whose direction is declared: `true` when higher is better.
    pub directions: BTreeMap<String, bool>,
    /// The line of the `[kpis.NAME]` section.
    pub line: usize,
}

/// `[settings] memory_limit`: a size, `"none"`, or unset for the engine's
/// default (a share of the machine's memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimit {
    /// Not set: the engine chooses from the machine's memory.
    Default,
    /// A pool of this many bytes.
    Bytes(usize),
    /// `"none"`: no pool limit (the kernel's limit applies).
    Unlimited,
}

/// Session settings from `[settings]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Memory pool size for query operators; beyond it they spill to disk
    /// or fail with a "memory limit" error.
    pub memory_limit: MemoryLimit,
    /// Where operators spill; `None` for the engine's default.
    pub spill_dir: Option<PathBuf>,
    /// Number of partitions (threads) queries run with.
    pub target_partitions: Option<usize>,
    /// The month (1-12) the fiscal year starts in; quarters and years follow it.
    pub fiscal_year_start: u32,
    /// The zone periods are cut in, for time columns that carry a zone.
    pub timezone: Option<String>,
    /// Refuse statements and commands that write (shared analyst machines).
    pub read_only: bool,
    /// Build a CPI's day rollup in the background after a long-lived session
    /// slices it from raw events.
    pub auto_rollups: bool,
    /// Run queries on this Ballista cluster instead of in-process.
    pub cluster: Option<crate::workspace::ClusterUrl>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            memory_limit: MemoryLimit::Default,
            spill_dir: None,
            target_partitions: None,
            fiscal_year_start: 1,
            timezone: None,
            read_only: false,
            auto_rollups: true,
            cluster: None,
        }
    }
}
