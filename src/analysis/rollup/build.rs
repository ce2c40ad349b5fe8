//! Building, refreshing (folding new files in) and dropping rollups.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider};
use datafusion::datasource::ViewTable;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::SessionContext;

use super::freshness::{Drift, chosen, current_sources, drift, identity_problem, short};
use super::lineage;
use super::manifest::{
    FORMAT, FileStamp, Manifest, Part, RESERVED, calendar_key, dir_of, lock, now, read_manifest,
    remove_unlisted, rollup_err, write_manifest,
};
use super::status::{Row, report};
use crate::engine::Engine;
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::CpiDefinition;

/// Aggregate CPI `def` (its view as registered in `ctx`) at `grain` and
/// write the result as part `name` in `dir`.
pub(super) async fn write_part(
    ctx: &SessionContext,
    cal: &Calendar,
    def: &CpiDefinition,
    grain: Grain,
    dir: &Path,
    name: &str,
) -> Result<Part> {
    let time_type = crate::analysis::slice::time_type(ctx, def).await?;
    let binary = crate::analysis::slice::binary_by_definition(ctx, def).await;
    let sql = crate::analysis::slice::rollup_sql(def, &time_type, binary, cal, grain);
    let stream = ctx.sql(&sql).await?.execute_stream().await?;
    let written = crate::foundation::parquet::write_file(
        stream,
        &dir.join(name),
        &[("cpiq.rollup".to_string(), def.name.clone())],
    )
    .await?;
    Ok(Part {
        file: name.to_string(),
        rows: written.rows,
        bytes: written.bytes,
    })
}

/// Build the rollup of `def` from scratch, replacing any previous one.
/// The caller holds the rollup's [`lock`].
pub(super) async fn build_one(
    engine: &Engine,
    def: &CpiDefinition,
    grain: Grain,
    origin: Option<String>,
) -> Result<Manifest> {
    if grain == Grain::All {
        return Err(CpiqError::Usage(
            "--grain all keeps no periods: use day, week, month, quarter or year".into(),
        ));
    }
    if let Some(d) = def
        .dimensions
        .iter()
        .find(|d| RESERVED.contains(&d.as_str()))
    {
        return Err(rollup_err(
            &def.name,
            format!("dimension \"{d}\" has the name of a rollup column; rename it in the CPI"),
        ));
    }
    let dir = dir_of(engine, &def.name);
    std::fs::create_dir_all(&dir).map_err(|e| CpiqError::io(&dir, e))?;
    let previous = read_manifest(&dir).ok().flatten();
    let generation = previous.as_ref().map_or(1, |m| m.generation + 1);
    // The files are listed before the aggregation reads them: a file added
    // meanwhile is then seen as new by the next status or refresh.
    let sources = current_sources(engine, def).await?;
    let name = format!("part-{generation:06}-0.parquet");
    let part = write_part(engine.ctx(), &engine.calendar(), def, grain, &dir, &name).await?;
    let m = Manifest {
        format: FORMAT,
        cpi: def.name.clone(),
        grain: grain.to_string(),
        dimensions: def.dimensions.clone(),
        definition: def.render(engine.params())?,
        calendar: calendar_key(&engine.calendar()),
        built_at: now(),
        generation,
        sources,
        parts: vec![part],
        origin,
    };
    write_manifest(&dir, &m)?;
    remove_unlisted(&dir, &m);
    Ok(m)
}

/// `cpiq rollup build [CPI…] [--grain G]`: build (or rebuild) the rollups
/// of the named CPIs, or of every CPI. One row per CPI.
pub async fn build(engine: &Engine, cpis: &[String], grain: Grain) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for def in chosen(engine, cpis)? {
        let t = Instant::now();
        let _lock = lock(&dir_of(engine, &def.name), true)?;
        let m = build_one(engine, &def, grain, None).await?;
        rows.push(Row::of(
            &m,
            "built",
            String::new(),
            t.elapsed().as_secs_f64(),
        ));
    }
    report(rows)
}

/// `cpiq rollup refresh [CPI…]`: bring existing rollups up to date. New
/// files in one table the CPI reads row by row are aggregated alone and
/// added as a new part; a changed or removed file, a new definition,
/// parameter values or calendar rebuild the rollup; a fresh one is left.
pub async fn refresh(engine: &Engine, cpis: &[String]) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for def in chosen(engine, cpis)? {
        let t = Instant::now();
        let dir = dir_of(engine, &def.name);
        let _lock = if dir.exists() {
            lock(&dir, true)?
        } else {
            None
        };
        // Without names: every CPI with a readable rollup.
        let m = match read_manifest(&dir) {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) if cpis.is_empty() => continue,
            Ok(None) => {
                return Err(CpiqError::Usage(format!(
                    "CPI {} has no rollup to refresh (cpiq rollup build {})",
                    def.name, def.name
                )));
            }
            Err(e) => return Err(e),
        };
        let grain = m.grain()?;
        let mut rebuild = identity_problem(engine, &def, &m)?;
        let mut fold: Option<(String, Vec<FileStamp>)> = None;
        if rebuild.is_none() {
            let now = current_sources(engine, &def).await?;
            match drift(&m.sources, &now) {
                Drift::None => {
                    rows.push(Row::of(
                        &m,
                        "unchanged",
                        String::new(),
                        t.elapsed().as_secs_f64(),
                    ));
                    continue;
                }
                Drift::Changed(why) => rebuild = Some(why),
                Drift::Added { table, files } => {
                    match lineage::row_by_row(engine.ctx(), &def.name, &table).await? {
                        Ok(()) => fold = Some((table, files)),
                        Err(why) => {
                            rebuild =
                                Some(format!("{} new files in {table}, but {why}", files.len()))
                        }
                    }
                }
            }
        }
        if let Some(why) = rebuild {
            let m = build_one(engine, &def, grain, None).await?;
            rows.push(Row::of(&m, "rebuilt", why, t.elapsed().as_secs_f64()));
            continue;
        }
        let Some((table, files)) = fold else {
            continue;
        };
        let m = fold_in(engine, &def, m, &table, &files, &dir).await?;
        let detail = format!(
            "{} new file{} of {table}: {}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            files
                .iter()
                .map(|f| short(&f.path))
                .collect::<Vec<_>>()
                .join(", ")
        );
        rows.push(Row::of(&m, "folded in", detail, t.elapsed().as_secs_f64()));
    }
    report(rows)
}

/// Aggregate only `files` of `table` (the CPI's view planned over them
/// alone, in a scratch session sharing the engine's memory pool) into a new
/// part of rollup `m`.
pub(super) async fn fold_in(
    engine: &Engine,
    def: &CpiDefinition,
    mut m: Manifest,
    table: &str,
    files: &[FileStamp],
    dir: &Path,
) -> Result<Manifest> {
    let original = engine
        .ctx()
        .table_provider(table)
        .await
        .map_err(|e| rollup_err(&def.name, e.to_string()))?;
    let Some(listing) = original.downcast_ref::<ListingTable>() else {
        return Err(rollup_err(
            &def.name,
            format!("table {table} is not a listing table"),
        ));
    };
    let store_url = listing
        .table_paths()
        .first()
        .map(|u| u.object_store())
        .ok_or_else(|| rollup_err(&def.name, format!("table {table} has no path")))?;
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(format!("{}{}", store_url.as_str(), f.path)))
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    let only_new = ListingTable::try_new(
        ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(listing.options().clone())
            .with_schema(datafusion::catalog::TableProvider::schema(listing)),
    )?;
    let plan = lineage::with_table(engine.ctx(), &def.name, table, Arc::new(only_new)).await?;
    let scratch =
        crate::engine::local_context(engine.ctx().copied_config(), engine.ctx().runtime_env());
    if scratch.catalog("cpiq").is_none() {
        let catalog = Arc::new(datafusion::catalog::MemoryCatalogProvider::new());
        catalog.register_schema("public", Arc::new(MemorySchemaProvider::new()))?;
        scratch.register_catalog("cpiq", catalog);
    }
    scratch.register_table(def.name.as_str(), Arc::new(ViewTable::new(plan, None)))?;
    m.generation += 1;
    let name = format!("part-{:06}-{}.parquet", m.generation, m.parts.len());
    let part = write_part(&scratch, &engine.calendar(), def, m.grain()?, dir, &name).await?;
    m.parts.push(part);
    if let Some(s) = m.sources.iter_mut().find(|s| s.table == table) {
        s.files.extend(files.iter().cloned());
        s.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    m.built_at = now();
    write_manifest(dir, &m)?;
    remove_unlisted(dir, &m);
    Ok(m)
}

/// `cpiq rollup drop [CPI…]`: remove rollups.
pub async fn drop_rollups(engine: &Engine, cpis: &[String]) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for def in chosen(engine, cpis)? {
        let dir = dir_of(engine, &def.name);
        if let Ok(Some(m)) = read_manifest(&dir) {
            std::fs::remove_dir_all(&dir).map_err(|e| CpiqError::io(&dir, e))?;
            rows.push(Row::of(&m, "dropped", String::new(), f64::NAN));
        } else if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| CpiqError::io(&dir, e))?;
        }
    }
    report(rows)
}
