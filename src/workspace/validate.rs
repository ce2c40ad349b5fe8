//! Validating `cpiq.toml`: the second of two stages, as for command-line
//! flags. serde reads the raw file ([`super::raw`]; unknown keys and wrong
//! types are rejected with their line), then [`Workspace::parse`] checks what
//! serde cannot (names, paths that exist, aggregations, sizes) and resolves
//! relative paths against the workspace directory, into the typed model
//! ([`super::model`]). Every error names the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{
    Aggregation, FileKind, KpiSpec, MemoryLimit, Settings, TableSpec, Workspace, object_store_url,
};
use super::raw::{RawConfig, RawKpi, RawSettings};
use crate::foundation::error::{CpiqError, Result};

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

impl MemoryLimit {
    /// `none` (no limit) or a size such as `4GiB`; `None` when neither.
    pub fn parse(s: &str) -> Option<MemoryLimit> {
        if s.trim().eq_ignore_ascii_case("none") {
            Some(MemoryLimit::Unlimited)
        } else {
            parse_size(s).map(MemoryLimit::Bytes)
        }
    }
}

/// What every check of one `cpiq.toml` needs: where it is, its text (for
/// lines) and the directory relative paths start from.
struct Checker<'a> {
    config_path: &'a Path,
    text: &'a str,
    root: PathBuf,
}

impl Checker<'_> {
    /// An error at byte `offset` of the file.
    fn err(&self, offset: usize, msg: String) -> CpiqError {
        CpiqError::config(self.config_path, line_of(self.text, offset), msg)
    }

    fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    /// `p` against the workspace directory, unless absolute.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// A `[tables.NAME]` or `[kpis.NAME]` table: its name, path (local,
    /// glob or object store) and file format.
    fn table_spec(
        &self,
        section: &str,
        name: &str,
        path: &Spanned<String>,
        format: &Option<Spanned<String>>,
    ) -> Result<TableSpec> {
        let at = path.span().start;
        if !is_identifier(name) {
            return Err(self.err(
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
            return Err(self.err(
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
            self.resolve(&written)
        };
        let kind = match format.as_ref().map(|f| f.get_ref().as_str()) {
            Some("parquet") => FileKind::Parquet,
            Some("csv") => FileKind::Csv,
            Some(other) => {
                return Err(self.err(
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
            return Err(self.err(
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
            line: self.line(at),
            skip_bad_files: false,
            url,
        })
    }

    /// The event tables of `[tables]`.
    fn tables(&self, raw: &RawConfig) -> Result<Vec<TableSpec>> {
        let mut tables = Vec::new();
        for (name, t) in &raw.tables {
            let mut spec =
                self.table_spec("tables", name, &t.get_ref().path, &t.get_ref().format)?;
            if let Some(mode) = &t.get_ref().on_bad_file {
                spec.skip_bad_files = match mode.get_ref().as_str() {
                    "skip" => true,
                    "error" => false,
                    other => {
                        return Err(self.err(
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
        Ok(tables)
    }

    /// The KPI tables of `[kpis]`.
    fn kpis(&self, raw: &RawConfig) -> Result<Vec<KpiSpec>> {
        let mut kpis = Vec::new();
        for (name, k) in &raw.kpis {
            let span = k.span().start;
            if raw.tables.contains_key(name) {
                return Err(self.err(
                    span,
                    format!(
                        "[kpis.{name}]: a table of the same name is already declared in [tables]"
                    ),
                ));
            }
            kpis.push(self.kpi(name, k.get_ref(), span)?);
        }
        Ok(kpis)
    }

    /// One `[kpis.NAME]`: its table, measures with their aggregations, and
    /// the directions of those measures.
    fn kpi(&self, name: &str, k: &RawKpi, span: usize) -> Result<KpiSpec> {
        let table = self.table_spec("kpis", name, &k.path, &k.format)?;
        let mut measures = Vec::new();
        for (col, agg) in &k.measures {
            let a = Aggregation::parse(agg.get_ref()).ok_or_else(|| {
                self.err(
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
                    return Err(self.err(
                        dir.span().start,
                        format!(
                            "kpis.{name}.directions.{col}: unknown direction \"{other}\" (expected higher_is_better or lower_is_better)"
                        ),
                    ));
                }
            };
            if !measures.iter().any(|(m, _)| m == col) {
                return Err(self.err(
                    dir.span().start,
                    format!(
                        "kpis.{name}.directions.{col}: \"{col}\" is not one of the table's measures"
                    ),
                ));
            }
            directions.insert(col.clone(), higher);
        }
        Ok(KpiSpec {
            directions,
            table,
            time: k.time.get_ref().clone(),
            time_line: self.line(k.time.span().start),
            dimensions: k.dimensions.iter().map(|d| d.get_ref().clone()).collect(),
            measures,
            line: self.line(span),
        })
    }

    /// `[settings]`, checked.
    fn settings(&self, raw: &RawSettings) -> Result<Settings> {
        let mut settings = Settings::default();
        if let Some(m) = &raw.memory_limit {
            settings.memory_limit = MemoryLimit::parse(m.get_ref()).ok_or_else(|| {
                self.err(
                    m.span().start,
                    format!(
                        "settings.memory_limit: \"{}\" is not a size (for example \"4GiB\" or \"512MB\", or \"none\")",
                        m.get_ref()
                    ),
                )
            })?;
        }
        if let Some(d) = &raw.spill_dir {
            if d.get_ref().trim().is_empty() {
                return Err(self.err(d.span().start, "settings.spill_dir: an empty path".into()));
            }
            settings.spill_dir = Some(self.root.join(d.get_ref()));
        }
        if let Some(c) = &raw.cluster {
            settings.cluster =
                Some(c.get_ref().parse().map_err(|e: String| {
                    self.err(c.span().start, format!("settings.cluster: {e}"))
                })?);
        }
        if let Some(t) = &raw.target_partitions {
            let n = *t.get_ref();
            if n < 1 {
                return Err(self.err(
                    t.span().start,
                    "settings.target_partitions: must be at least 1".into(),
                ));
            }
            settings.target_partitions = Some(n as usize);
        }
        if let Some(m) = &raw.fiscal_year_start {
            let n = *m.get_ref();
            if !(1..=12).contains(&n) {
                return Err(self.err(
                    m.span().start,
                    format!("settings.fiscal_year_start: {n} is not a month number (1-12)"),
                ));
            }
            settings.fiscal_year_start = n as u32;
        }
        if let Some(tz) = &raw.timezone {
            let z = tz.get_ref();
            if z.parse::<datafusion::arrow::array::timezone::Tz>().is_err() {
                return Err(self.err(
                    tz.span().start,
                    format!(
                        "settings.timezone: unknown time zone \"{z}\" (for example \"Europe/Berlin\" or \"+02:00\")"
                    ),
                ));
            }
            settings.timezone = Some(z.clone());
        }
        settings.read_only = raw.read_only.unwrap_or(false);
        settings.auto_rollups = raw.auto_rollups.unwrap_or(true);
        Ok(settings)
    }
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
        let at_line = |e: &toml::de::Error| e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        let de = toml::de::Deserializer::parse(text).map_err(|e| {
            CpiqError::config(config_path, at_line(&e), e.message().trim().to_string())
        })?;
        // The key path (`tables.dirty.path`) comes from serde_path_to_error,
        // the line from toml's span.
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            // toml::Spanned values add a private segment of their own.
            let key = e
                .path()
                .to_string()
                .split('.')
                .filter(|s| !s.starts_with("$__serde_spanned"))
                .collect::<Vec<_>>()
                .join(".");
            let inner = e.into_inner();
            let message = inner.message().trim();
            let message = if key.is_empty() || key == "." {
                message.to_string()
            } else {
                format!("{key}: {message}")
            };
            CpiqError::config(config_path, at_line(&inner), message)
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
        let check = Checker {
            config_path,
            text,
            root,
        };
        let cpis_dir = check.resolve(raw.workspace.cpis.get_ref());
        if !cpis_dir.is_dir() {
            return Err(check.err(
                raw.workspace.cpis.span().start,
                format!("workspace.cpis: {} is not a directory", cpis_dir.display()),
            ));
        }
        let cache_dir = raw
            .workspace
            .cache
            .as_ref()
            .map(|c| check.resolve(c.get_ref()))
            .unwrap_or_else(|| check.root.join(".cpiq"));
        let tables = check.tables(&raw)?;
        let kpis = check.kpis(&raw)?;
        let settings = check.settings(&raw.settings)?;
        Ok(Workspace {
            root: check.root,
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

    /// The message `text` is refused with.
    fn refused(d: &tempfile::TempDir, text: &str) -> String {
        load(d, text).unwrap_err().to_string()
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
    fn mistakes_name_their_line() {
        let d = ws_dir();
        let ws = "[workspace]\ncpis = \"queries/cpis\"\n";
        for (toml, wants) in [
            (
                format!("{ws}colour = 1\n"),
                ["cpiq.toml:3:", "unknown field `colour`"],
            ),
            (
                "[workspace]\ncpis = 3\n".into(),
                ["cpiq.toml:2:", "invalid type"],
            ),
            (
                "[tables.x]\npath = \"orders.parquet\"\n".into(),
                ["cpiq.toml:", "missing field `workspace`"],
            ),
            (
                format!("{ws}\n[tables.returns]\npath = \"nope/returns\"\n"),
                ["cpiq.toml:5: tables.returns.path:", "does not exist"],
            ),
            (
                format!(
                    "{ws}[kpis.k]\npath = \"orders.parquet\"\ntime = \"m\"\nmeasures = {{ nps = \"average\" }}\n"
                ),
                [
                    "cpiq.toml:6: kpis.k.measures.nps: unknown aggregation",
                    "average",
                ],
            ),
            (
                format!("{ws}[settings]\nmemory_limit = \"lots\"\n"),
                ["cpiq.toml:4: settings.memory_limit", "lots"],
            ),
        ] {
            let e = refused(&d, &toml);
            for want in wants {
                assert!(e.contains(want), "{toml:?}: wanted {want:?} in {e}");
            }
        }
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
