//! Choosing, per CPI of a slice, a fresh rollup that covers it or the raw
//! view, and registering the chosen rollup in the session.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};

use super::freshness::{freshness, grain_covers};
use super::manifest::{Manifest, SCHEMA, dir_of, read_manifest, rollup_err};
use crate::analysis::slice::{RollupSource, SliceRequest, predicate_columns};
use crate::engine::{Engine, parquet_format};
use crate::foundation::error::Result;
use crate::model::cpi::CpiDefinition;

/// Whether a slice of one CPI reads a rollup or the raw events.
#[derive(Debug, Clone)]
pub enum Choice {
    /// Read this rollup.
    Rollup(RollupSource),
    /// Read the CPI's view; the reason no rollup serves.
    Raw(String),
    /// Read the CPI's view because it has no rollup, or a stale one: a day
    /// rollup built now would answer the next such slice (the reason).
    Unbuilt(String),
}

/// Decide, for each CPI of `req`, whether a fresh rollup covers the slice,
/// registering the rollups that do as `cpiq_rollup.CPI`.
pub async fn choose(engine: &Engine, req: &SliceRequest) -> Result<BTreeMap<String, Choice>> {
    let filter_cols = match &req.filter {
        Some(f) => predicate_columns(f)?,
        None => Vec::new(),
    };
    let mut out = BTreeMap::new();
    for name in &req.cpis {
        let Some(def) = engine.cpi(name) else {
            continue; // the slice reports unknown CPIs
        };
        if req.raw {
            out.insert(name.clone(), Choice::Raw("--raw".into()));
            continue;
        }
        let choice = match choose_one(engine, def, req, &filter_cols).await {
            Ok(c) => c,
            Err(e) => Choice::Raw(format!("rollup unusable: {e}")),
        };
        out.insert(name.clone(), choice);
    }
    Ok(out)
}

pub(super) async fn choose_one(
    engine: &Engine,
    def: &CpiDefinition,
    req: &SliceRequest,
    filter_cols: &[String],
) -> Result<Choice> {
    let raw = |why: String| Ok(Choice::Raw(why));
    let dir = dir_of(engine, &def.name);
    let Some(m) = read_manifest(&dir)? else {
        return Ok(Choice::Unbuilt("no rollup".into()));
    };
    let grain = m.grain()?;
    if let Some(d) = req.by.iter().find(|d| !m.dimensions.contains(d)) {
        return raw(format!("the rollup does not keep \"{d}\""));
    }
    if let Some(c) = filter_cols
        .iter()
        .find(|c| !m.dimensions.iter().any(|d| d.eq_ignore_ascii_case(c)))
    {
        return raw(format!(
            "--where reads \"{c}\", which the rollup does not keep"
        ));
    }
    if !grain_covers(grain, req.per) {
        return raw(format!("a {grain} rollup cannot give {} periods", req.per));
    }
    let cal = engine.calendar();
    let aligned = |d: NaiveDate| cal.truncate(grain, d) == d;
    if let Some(d) = req.from.into_iter().chain(req.to).find(|d| !aligned(*d)) {
        return raw(format!("{d} is not the start of a {grain} of the rollup"));
    }
    if let Some(why) = freshness(engine, def, &m).await? {
        return Ok(Choice::Unbuilt(format!("rollup stale: {why}")));
    }
    let table = register(engine, &dir, &m).await?;
    Ok(Choice::Rollup(RollupSource {
        table,
        about: format!(
            "from rollup {} ({grain}, {} rows, built {})",
            def.name,
            m.rows(),
            m.built_at
        ),
    }))
}

/// Register rollup `m` as `cpiq_rollup.CPI`, unless this state of it is
/// registered already.
pub(super) async fn register(engine: &Engine, dir: &Path, m: &Manifest) -> Result<String> {
    let name = format!("{SCHEMA}.{}", m.cpi);
    if engine.registration(&registration_key(&m.cpi)).as_deref() == Some(m.id().as_str()) {
        return Ok(name);
    }
    let ctx = engine.ctx();
    let catalog = ctx
        .catalog("cpiq")
        .ok_or_else(|| rollup_err(&m.cpi, "the session has no cpiq catalog"))?;
    if catalog.schema(SCHEMA).is_none() {
        catalog.register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    }
    let urls = m
        .parts
        .iter()
        .map(|p| {
            let path = dir.join(&p.file);
            ListingTableUrl::parse(path.to_string_lossy())
        })
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    let options =
        // Rollups live in the workspace's local cache folder.
        ListingOptions::new(Arc::new(parquet_format(false))).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    let table = ListingTable::try_new(config)?;
    let _ = ctx.deregister_table(name.as_str());
    ctx.register_table(name.as_str(), Arc::new(table))?;
    engine.set_registration(&registration_key(&m.cpi), m.id());
    Ok(name)
}

/// The engine registration key of CPI `cpi`'s rollup.
pub(super) fn registration_key(cpi: &str) -> String {
    format!("rollup:{cpi}")
}
