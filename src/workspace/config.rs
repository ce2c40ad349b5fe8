//! Parsing and validating `cpiq.toml`.
//!
//! Two stages, as for command-line flags: serde reads the raw file (unknown
//! keys and wrong types are rejected with their line), then [`Workspace::load`]
//! checks what serde cannot (names, paths that exist, aggregations, sizes) and
//! resolves relative paths against the workspace directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::foundation::error::{CpiqError, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    workspace: RawWorkspaceSection,
    #[serde(default)]
    tables: BTreeMap<String, Spanned<RawTable>>,
    #[serde(default)]
    kpis: BTreeMap<String, Spanned<RawKpi>>,
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    storage: Storage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkspaceSection {
    cpis: Spanned<String>,
    #[serde(default)]
    cache: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    path: Spanned<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    on_bad_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    path: Spanned<String>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    time: Spanned<String>,
    #[serde(default)]
    dimensions: Vec<Spanned<String>>,
    #[serde(default)]
    measures: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    directions: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    memory_limit: Option<Spanned<String>>,
    #[serde(default)]
    target_partitions: Option<Spanned<i64>>,
    #[serde(default)]
    fiscal_year_start: Option<Spanned<i64>>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    read_only: Option<bool>,
    #[serde(default)]
    spill_dir: Option<Spanned<String>>,
    #[serde(default)]
    cluster: Option<Spanned<String>>,
}

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

    fn parse(s: &str) -> Option<Aggregation> {
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
            cluster: None,
        }
    }
}

/// 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// True for names usable unquoted in SQL: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse a size such as `4GiB`, `512MB`, `1.5G` or `1048576` into bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0f64.powi(4),
        _ => return None,
    };
    let bytes = num * mult;
    (bytes.is_finite() && bytes >= 1.0).then_some(bytes as usize)
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Workspace {
    /// Read and validate the `cpiq.toml` at `config_path`.
    pub fn load(config_path: &Path) -> Result<Workspace> {
        let text =
            std::fs::read_to_string(config_path).map_err(|e| CpiqError::io(config_path, e))?;
        Workspace::parse(config_path, &text)
    }

    /// Validate the text of a `cpiq.toml` found at `config_path`.
    pub fn parse(config_path: &Path, text: &str) -> Result<Workspace> {
        let err =
            |offset: usize, msg: String| CpiqError::config(config_path, line_of(text, offset), msg);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            CpiqError::config(config_path, line, e.message().trim().to_string())
        })?;
        let root = config_path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let root = std::path::absolute(&root).map_err(|e| CpiqError::io(&root, e))?;
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                root.join(p)
            }
        };

        let cpis_dir = resolve(raw.workspace.cpis.get_ref());
        if !cpis_dir.is_dir() {
            return Err(err(
                raw.workspace.cpis.span().start,
                format!("workspace.cpis: {} is not a directory", cpis_dir.display()),
            ));
        }

        let cache_dir = raw
            .workspace
            .cache
            .as_ref()
            .map(|c| resolve(c.get_ref()))
            .unwrap_or_else(|| root.join(".cpiq"));

        let table_spec = |section: &str,
                          name: &str,
                          path: &Spanned<String>,
                          format: &Option<Spanned<String>>|
         -> Result<TableSpec> {
            let at = path.span().start;
            if !is_identifier(name) {
                return Err(err(
                    at,
                    format!(
                        "[{section}.{name}]: the name must be a plain SQL identifier (letters, digits, _)"
                    ),
                ));
            }
            let written = path.get_ref().clone();
            if let Some((scheme, _)) = written.split_once("://")
                && object_store_url(&written).is_none()
            {
                return Err(err(
                    at,
                    format!(
                        "{section}.{name}.path: cpiq does not read \"{scheme}://\" (object stores: s3://, gs://, az://, abfss://)"
                    ),
                ));
            }
            let url = object_store_url(&written).map(str::to_string);
            let resolved = if url.is_some() {
                PathBuf::from(&written)
            } else {
                resolve(&written)
            };
            let kind = match format.as_ref().map(|f| f.get_ref().as_str()) {
                Some("parquet") => FileKind::Parquet,
                Some("csv") => FileKind::Csv,
                Some(other) => {
                    return Err(err(
                        format.as_ref().map(|f| f.span().start).unwrap_or(at),
                        format!(
                            "{section}.{name}.format: unknown format \"{other}\" (expected parquet or csv)"
                        ),
                    ));
                }
                None if written.to_ascii_lowercase().ends_with(".csv") => FileKind::Csv,
                None => FileKind::Parquet,
            };
            if url.is_none() && !has_glob(&written) && !resolved.exists() {
                return Err(err(
                    at,
                    format!(
                        "{section}.{name}.path: {} does not exist",
                        resolved.display()
                    ),
                ));
            }
            Ok(TableSpec {
                name: name.to_string(),
                path_as_written: written,
                path: resolved,
                kind,
                line: line_of(text, at),
                skip_bad_files: false,
                url,
            })
        };

        let mut tables = Vec::new();
        for (name, t) in &raw.tables {
            let mut spec = table_spec("tables", name, &t.get_ref().path, &t.get_ref().format)?;
            if let Some(mode) = &t.get_ref().on_bad_file {
                spec.skip_bad_files = match mode.get_ref().as_str() {
                    "skip" => true,
                    "error" => false,
                    other => {
                        return Err(err(
                            mode.span().start,
                            format!(
                                "tables.{name}.on_bad_file: \"{other}\" (expected \"error\" or \"skip\")"
                            ),
                        ));
                    }
                };
            }
            tables.push(spec);
        }
        let mut kpis = Vec::new();
        for (name, k) in &raw.kpis {
            let span = k.span().start;
            let k = k.get_ref();
            if raw.tables.contains_key(name) {
                return Err(err(
                    span,
                    format!(
                        "[kpis.{name}]: a table of the same name is already declared in [tables]"
                    ),
                ));
            }
            let table = table_spec("kpis", name, &k.path, &k.format)?;
            let mut measures = Vec::new();
            for (col, agg) in &k.measures {
                let a = Aggregation::parse(agg.get_ref()).ok_or_else(|| {
                    err(
                        agg.span().start,
                        format!(
                            "kpis.{name}.measures.{col}: unknown aggregation \"{}\" (expected avg, sum, min, max or median)",
                            agg.get_ref()
                        ),
                    )
                })?;
                measures.push((col.clone(), a));
            }
            let mut directions = BTreeMap::new();
            for (col, dir) in &k.directions {
                let higher = match dir.get_ref().as_str() {
                    "higher_is_better" => true,
                    "lower_is_better" => false,
                    other => {
                        return Err(err(
                            dir.span().start,
                            format!(
                                "kpis.{name}.directions.{col}: unknown direction \"{other}\" (expected higher_is_better or lower_is_better)"
                            ),
                        ));
                    }
                };
                if !measures.iter().any(|(m, _)| m == col) {
                    return Err(err(
                        dir.span().start,
                        format!(
                            "kpis.{name}.directions.{col}: \"{col}\" is not one of the table's measures"
                        ),
                    ));
                }
                directions.insert(col.clone(), higher);
            }
            kpis.push(KpiSpec {
                directions,
                table,
                time: k.time.get_ref().clone(),
                time_line: line_of(text, k.time.span().start),
                dimensions: k.dimensions.iter().map(|d| d.get_ref().clone()).collect(),
                measures,
                line: line_of(text, span),
            });
        }

        let mut settings = Settings::default();
        if let Some(m) = &raw.settings.memory_limit {
            settings.memory_limit = if m.get_ref().trim().eq_ignore_ascii_case("none") {
                MemoryLimit::Unlimited
            } else {
                MemoryLimit::Bytes(parse_size(m.get_ref()).ok_or_else(|| {
                    err(
                        m.span().start,
                        format!(
                            "settings.memory_limit: \"{}\" is not a size (for example \"4GiB\" or \"512MB\", or \"none\")",
                            m.get_ref()
                        ),
                    )
                })?)
            };
        }
        if let Some(d) = &raw.settings.spill_dir {
            if d.get_ref().trim().is_empty() {
                return Err(err(
                    d.span().start,
                    "settings.spill_dir: an empty path".into(),
                ));
            }
            settings.spill_dir = Some(root.join(d.get_ref()));
        }
        if let Some(c) = &raw.settings.cluster {
            settings.cluster = Some(
                c.get_ref()
                    .parse()
                    .map_err(|e: String| err(c.span().start, format!("settings.cluster: {e}")))?,
            );
        }
        if let Some(t) = &raw.settings.target_partitions {
            let n = *t.get_ref();
            if n < 1 {
                return Err(err(
                    t.span().start,
                    "settings.target_partitions: must be at least 1".into(),
                ));
            }
            settings.target_partitions = Some(n as usize);
        }

        if let Some(m) = &raw.settings.fiscal_year_start {
            let n = *m.get_ref();
            if !(1..=12).contains(&n) {
                return Err(err(
                    m.span().start,
                    format!("settings.fiscal_year_start: {n} is not a month number (1-12)"),
                ));
            }
            settings.fiscal_year_start = n as u32;
        }
        if let Some(tz) = &raw.settings.timezone {
            let z = tz.get_ref();
            let valid = z.parse::<datafusion::arrow::array::timezone::Tz>().is_ok();
            if !valid {
                return Err(err(
                    tz.span().start,
                    format!(
                        "settings.timezone: unknown time zone \"{z}\" (for example \"Europe/Berlin\" or \"+02:00\")"
                    ),
                ));
            }
            settings.timezone = Some(z.clone());
        }
        settings.read_only = raw.settings.read_only.unwrap_or(false);
        Ok(Workspace {
            root,
            config_path: config_path.to_path_buf(),
            cpis_dir,
            cache_dir,
            tables,
            kpis,
            settings,
            storage: raw.storage,
        })
    }

    /// Every table, event and KPI alike, in registration order.
    pub fn all_tables(&self) -> impl Iterator<Item = &TableSpec> {
        self.tables.iter().chain(self.kpis.iter().map(|k| &k.table))
    }

    /// The KPI table called `name`.
    pub fn kpi(&self, name: &str) -> Option<&KpiSpec> {
        self.kpis.iter().find(|k| k.table.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("queries/cpis")).unwrap();
        std::fs::write(d.path().join("orders.parquet"), b"").unwrap();
        d
    }

    fn load(d: &tempfile::TempDir, text: &str) -> Result<Workspace> {
        Workspace::parse(&d.path().join("cpiq.toml"), text)
    }

    #[test]
    fn a_valid_config_resolves_paths_against_the_workspace() {
        let d = ws_dir();
        let ws = load(
            &d,
            r#"
[workspace]
cpis = "queries/cpis"
[tables.orders]
path = "orders.parquet"
[kpis.kpi_monthly]
path = "orders.parquet"
time = "month"
dimensions = ["segment"]
measures = { nps = "avg", revenue = "sum" }
[settings]
memory_limit = "4GiB"
"#,
        )
        .unwrap();
        assert_eq!(ws.tables[0].path, d.path().join("orders.parquet"));
        assert_eq!(ws.tables[0].line, 5);
        assert_eq!(ws.kpis[0].measures[0], ("nps".into(), Aggregation::Avg));
        assert_eq!(ws.settings.memory_limit, MemoryLimit::Bytes(4 << 30));
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let d = ws_dir();
        let e = load(&d, "[workspace]\ncpis = \"queries/cpis\"\ncolour = 1\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cpiq.toml:3:"), "{msg}");
        assert!(msg.contains("unknown field `colour`"), "{msg}");
    }

    #[test]
    fn wrong_types_and_missing_sections_are_reported() {
        let d = ws_dir();
        let e = load(&d, "[workspace]\ncpis = 3\n").unwrap_err().to_string();
        assert!(e.contains("cpiq.toml:2:"), "{e}");
        let e = load(&d, "[tables.x]\npath = \"orders.parquet\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `workspace`"), "{e}");
    }

    #[test]
    fn missing_files_name_table_and_line() {
        let d = ws_dir();
        let e = load(
            &d,
            "[workspace]\ncpis = \"queries/cpis\"\n\n[tables.returns]\npath = \"nope/returns\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cpiq.toml:5: tables.returns.path:"), "{e}");
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn bad_aggregations_and_sizes_are_refused() {
        let d = ws_dir();
        let e = load(
            &d,
            "[workspace]\ncpis = \"queries/cpis\"\n[kpis.k]\npath = \"orders.parquet\"\ntime = \"m\"\nmeasures = { nps = \"average\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":6: kpis.k.measures.nps: unknown aggregation"),
            "{e}"
        );
        let e = load(
            &d,
            "[workspace]\ncpis = \"queries/cpis\"\n[settings]\nmemory_limit = \"lots\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":4: settings.memory_limit"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4GiB"), Some(4 << 30));
        assert_eq!(parse_size("512MB"), Some(512_000_000));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("0"), None);
    }
}
