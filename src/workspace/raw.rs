//! `cpiq.toml` as serde reads it: the raw schema, with spans so that every
//! error can name its line. Nothing here is checked yet ([`super::validate`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::model::Storage;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) workspace: RawWorkspaceSection,
    #[serde(default)]
    pub(super) tables: BTreeMap<String, Spanned<RawTable>>,
    #[serde(default)]
    pub(super) kpis: BTreeMap<String, Spanned<RawKpi>>,
    #[serde(default)]
    pub(super) settings: RawSettings,
    #[serde(default)]
    pub(super) storage: Storage,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkspaceSection {
    pub(super) cpis: Spanned<String>,
    #[serde(default)]
    pub(super) cache: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) path: Spanned<String>,
    #[serde(default)]
    pub(super) format: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) on_bad_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKpi {
    pub(super) path: Spanned<String>,
    #[serde(default)]
    pub(super) format: Option<Spanned<String>>,
    pub(super) time: Spanned<String>,
    #[serde(default)]
    pub(super) dimensions: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) measures: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) directions: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    #[serde(default)]
    pub(super) memory_limit: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) target_partitions: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) fiscal_year_start: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) read_only: Option<bool>,
    #[serde(default)]
    pub(super) auto_rollups: Option<bool>,
    #[serde(default)]
    pub(super) spill_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) cluster: Option<Spanned<String>>,
}
