//! Rollups: each CPI's cells pre-aggregated by day (or a coarser grain) and
//! every declared dimension, kept as Parquet in the workspace's cache
//! folder, so that repeated slices read thousands of rows instead of
//! millions of events.
//!
//! This module owns the rollup's life: building ([`build`]), folding in new
//! files or rebuilding ([`refresh`]), reporting ([`status`]), removing
//! ([`drop_rollups`]), and deciding for each slice whether a rollup may
//! answer it ([`choose`]). A rollup answers only when it covers the slice
//! (its dimensions hold every `--by` and `--where` column, its grain divides
//! the slice's, `--from`/`--to` fall on its period boundaries) and is fresh:
//! built from the same definition, parameter values and calendar, and from
//! exactly the files its tables hold now (path, size, modification time and
//! e-tag). Anything else reads the raw events and says why, so a rollup is
//! never used silently when stale. The slice itself is computed by the slice
//! module from either source with the same code.
//!
//! On disk, `CACHE/rollups/CPI/` holds `manifest.json` (what the rollup was
//! built from) and its Parquet parts. A build or refresh writes new parts,
//! then replaces the manifest atomically, then removes parts no longer
//! listed: a reader sees the old rollup or the new one, never a mix.

mod lineage;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider};
use datafusion::datasource::ViewTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::text::human_size;
use crate::model::cpi::CpiDefinition;
use crate::{
    analysis::slice::{RollupSource, SliceRequest, predicate_columns},
    model::calendar::{Calendar, Grain},
};

/// The schema rollup tables are registered in: `cpiq_rollup.CPI`.
pub const SCHEMA: &str = "cpiq_rollup";

/// The version of the manifest format this build writes and reads.
const FORMAT: u32 = 1;

/// Column names a rollup uses itself; a dimension may not take them.
const RESERVED: &[&str] = &[
    crate::analysis::slice::ROLLUP_PERIOD,
    "numerator",
    "denominator",
    "events",
    "is_binary",
];

/// One file a rollup was built from, as the object store lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileStamp {
    path: String,
    size: u64,
    modified: String,
    etag: Option<String>,
}

/// The files of one table a rollup was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SourceTable {
    table: String,
    files: Vec<FileStamp>,
}

/// One Parquet file of a rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    file: String,
    rows: u64,
    bytes: u64,
}

/// What `manifest.json` records about a rollup.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    cpi: String,
    grain: String,
    dimensions: Vec<String>,
    /// The CPI's SQL with the parameter values it was built with.
    definition: String,
    calendar: String,
    built_at: String,
    generation: u64,
    sources: Vec<SourceTable>,
    parts: Vec<Part>,
}

impl Manifest {
    fn grain(&self) -> Result<Grain> {
        self.grain.parse()
    }
    fn rows(&self) -> u64 {
        self.parts.iter().map(|p| p.rows).sum()
    }
    fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.bytes).sum()
    }
    fn files(&self) -> usize {
        self.sources.iter().map(|s| s.files.len()).sum()
    }
    /// Identifies one state of a rollup on disk (for the session's cache of
    /// registered tables).
    fn id(&self) -> String {
        format!("{}#{}", self.built_at, self.generation)
    }
}

fn rollup_err(cpi: &str, message: impl Into<String>) -> CpiqError {
    CpiqError::Rollup {
        cpi: cpi.to_string(),
        message: message.into(),
    }
}

/// The folder of CPI `cpi`'s rollup.
fn dir_of(engine: &Engine, cpi: &str) -> PathBuf {
    engine.workspace().cache_dir.join("rollups").join(cpi)
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join("manifest.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CpiqError::io(&path, e)),
    };
    let m: Manifest = serde_json::from_str(&text).map_err(|e| CpiqError::Config {
        location: crate::foundation::error::Location::new(&path, e.line()),
        message: format!("unreadable rollup manifest ({e}); rebuild it with cpiq rollup build"),
    })?;
    if m.format != FORMAT {
        return Err(CpiqError::Config {
            location: crate::foundation::error::Location::new(&path, 0),
            message: format!(
                "rollup manifest format {} (this cpiq reads {FORMAT}); rebuild it with cpiq rollup build",
                m.format
            ),
        });
    }
    Ok(Some(m))
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let text = serde_json::to_string_pretty(m).map_err(|e| rollup_err(&m.cpi, e.to_string()))?;
    let mut f = crate::foundation::atomic::AtomicFile::create(&dir.join("manifest.json"))?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    f.commit()?;
    Ok(())
}

/// Remove the files of `dir` that are neither the manifest nor one of its parts.
fn remove_unlisted(dir: &Path, m: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".parquet") && !m.parts.iter().any(|p| p.file == name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn calendar_key(cal: &Calendar) -> String {
    format!(
        "fiscal_year_start={}; timezone={}",
        cal.fiscal_year_start,
        cal.timezone.as_deref().unwrap_or("(each column's own)")
    )
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The CPIs a rollup command applies to: those named, or every usable CPI.
fn chosen(engine: &Engine, cpis: &[String]) -> Result<Vec<CpiDefinition>> {
    if cpis.is_empty() {
        return Ok(engine.definitions());
    }
    let defs = engine.definitions();
    cpis.iter()
        .map(|c| crate::analysis::slice::lookup(&defs, c).cloned())
        .collect()
}

/// Which grains a rollup at `rollup` grain can answer.
fn grain_covers(rollup: Grain, per: Grain) -> bool {
    per == Grain::All
        || rollup == Grain::Day
        || rollup == per
        || (rollup == Grain::Month && matches!(per, Grain::Quarter | Grain::Year))
        || (rollup == Grain::Quarter && per == Grain::Year)
}

/// The current files of every table CPI `def` reads.
async fn current_sources(engine: &Engine, def: &CpiDefinition) -> Result<Vec<SourceTable>> {
    let mut out = Vec::new();
    for (table, listing) in lineage::base_tables(engine.ctx(), &def.name).await? {
        let files = list_files(engine, &listing).await?;
        out.push(SourceTable { table, files });
    }
    Ok(out)
}

/// The files a listing table reads now, listed as its scans list them (the
/// engine keeps no listing cache, so this is what the next query reads).
async fn list_files(engine: &Engine, table: &ListingTable) -> Result<Vec<FileStamp>> {
    let state = engine.ctx().state();
    let ext = &table.options().file_extension;
    let mut files = Vec::new();
    for url in table.table_paths() {
        let store = state.runtime_env().object_store(url)?;
        let metas: Vec<_> = url
            .list_all_files(&state, store.as_ref(), ext)
            .await?
            .try_collect()
            .await?;
        files.extend(metas.into_iter().map(|m| {
            FileStamp {
                path: m.location.to_string(),
                size: m.size,
                modified: m
                    .last_modified
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                etag: m.e_tag,
            }
        }));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup();
    Ok(files)
}

/// How a rollup's recorded files compare with the files there now.
#[derive(Debug)]
enum Drift {
    /// The same files.
    None,
    /// Only new files, all in one table.
    Added {
        table: String,
        files: Vec<FileStamp>,
    },
    /// Anything else: why the rollup no longer matches.
    Changed(String),
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn drift(recorded: &[SourceTable], now: &[SourceTable]) -> Drift {
    let names = |s: &[SourceTable]| s.iter().map(|t| t.table.clone()).collect::<Vec<_>>();
    if names(recorded) != names(now) {
        return Drift::Changed(format!(
            "the CPI now reads {} (built from {})",
            names(now).join(", "),
            names(recorded).join(", ")
        ));
    }
    let mut added: Vec<(String, Vec<FileStamp>)> = Vec::new();
    for (old, new) in recorded.iter().zip(now) {
        let current: HashMap<&str, &FileStamp> =
            new.files.iter().map(|f| (f.path.as_str(), f)).collect();
        for f in &old.files {
            match current.get(f.path.as_str()) {
                None => {
                    return Drift::Changed(format!(
                        "{}: {} was removed",
                        old.table,
                        short(&f.path)
                    ));
                }
                Some(g) if *g != f => {
                    return Drift::Changed(format!("{}: {} changed", old.table, short(&f.path)));
                }
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> =
            old.files.iter().map(|f| f.path.as_str()).collect();
        let new_files: Vec<FileStamp> = new
            .files
            .iter()
            .filter(|f| !known.contains(f.path.as_str()))
            .cloned()
            .collect();
        if !new_files.is_empty() {
            added.push((old.table.clone(), new_files));
        }
    }
    match added.len() {
        0 => Drift::None,
        1 => {
            let (table, files) = added.remove(0);
            Drift::Added { table, files }
        }
        _ => Drift::Changed(format!(
            "new files in {}",
            added
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

/// Why a rollup built as `m` cannot stand for CPI `def` as the session
/// defines it now (other SQL, parameter values or calendar), if it cannot.
fn identity_problem(engine: &Engine, def: &CpiDefinition, m: &Manifest) -> Result<Option<String>> {
    let sql = def.render(engine.params())?;
    Ok(if m.definition != sql {
        Some("built from another definition or other parameter values".into())
    } else if m.calendar != calendar_key(&engine.calendar()) {
        Some(format!("built with another calendar ({})", m.calendar))
    } else {
        None
    })
}

/// Aggregate CPI `def` (its view as registered in `ctx`) at `grain` and
/// write the result as part `name` in `dir`.
async fn write_part(
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
async fn build_one(engine: &Engine, def: &CpiDefinition, grain: Grain) -> Result<Manifest> {
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
        let m = build_one(engine, &def, grain).await?;
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
            let m = build_one(engine, &def, grain).await?;
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
async fn fold_in(
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

/// `cpiq rollup status [CPI…]`: every rollup (or those of the named CPIs)
/// with its grain, size and whether it is fresh; stale ones say why.
pub async fn status(engine: &Engine, cpis: &[String]) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for def in chosen(engine, cpis)? {
        let m = match read_manifest(&dir_of(engine, &def.name)) {
            Ok(Some(m)) => m,
            Ok(None) => {
                if !cpis.is_empty() {
                    rows.push(Row::missing(&def.name));
                }
                continue;
            }
            Err(e) => {
                let mut r = Row::missing(&def.name);
                r.state = "unreadable".into();
                r.detail = e.to_string();
                rows.push(r);
                continue;
            }
        };
        let (state, detail) = match freshness(engine, &def, &m).await? {
            None => ("fresh", String::new()),
            Some(why) => ("stale", why),
        };
        rows.push(Row::of(&m, state, detail, f64::NAN));
    }
    report(rows)
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

/// Why rollup `m` may not stand for `def` now, or `None` when it is fresh.
async fn freshness(engine: &Engine, def: &CpiDefinition, m: &Manifest) -> Result<Option<String>> {
    if let Some(why) = identity_problem(engine, def, m)? {
        return Ok(Some(why));
    }
    let now = current_sources(engine, def).await?;
    Ok(match drift(&m.sources, &now) {
        Drift::None => None,
        Drift::Added { table, files } => Some(format!(
            "{} new file{} in {table} (cpiq rollup refresh folds {} in)",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            if files.len() == 1 { "it" } else { "them" }
        )),
        Drift::Changed(why) => Some(why),
    })
}

/// Whether a slice of one CPI reads a rollup or the raw events.
#[derive(Debug, Clone)]
pub enum Choice {
    /// Read this rollup.
    Rollup(RollupSource),
    /// Read the CPI's view; the reason no rollup serves.
    Raw(String),
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

async fn choose_one(
    engine: &Engine,
    def: &CpiDefinition,
    req: &SliceRequest,
    filter_cols: &[String],
) -> Result<Choice> {
    let raw = |why: String| Ok(Choice::Raw(why));
    let dir = dir_of(engine, &def.name);
    let Some(m) = read_manifest(&dir)? else {
        return raw("no rollup".into());
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
        return raw(format!("rollup stale: {why}"));
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
async fn register(engine: &Engine, dir: &Path, m: &Manifest) -> Result<String> {
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
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
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

/// One row of a rollup command's report.
struct Row {
    cpi: String,
    grain: String,
    dimensions: String,
    rows: Option<u64>,
    bytes: Option<u64>,
    files: Option<u64>,
    built_at: String,
    state: String,
    detail: String,
    seconds: f64,
}

impl Row {
    fn of(m: &Manifest, state: &str, detail: String, seconds: f64) -> Row {
        Row {
            cpi: m.cpi.clone(),
            grain: m.grain.clone(),
            dimensions: m.dimensions.join(","),
            rows: Some(m.rows()),
            bytes: Some(m.bytes()),
            files: Some(m.files() as u64),
            built_at: m.built_at.clone(),
            state: state.into(),
            detail,
            seconds,
        }
    }
    fn missing(cpi: &str) -> Row {
        Row {
            cpi: cpi.into(),
            grain: String::new(),
            dimensions: String::new(),
            rows: None,
            bytes: None,
            files: None,
            built_at: String::new(),
            state: "none".into(),
            detail: format!("no rollup (cpiq rollup build {cpi})"),
            seconds: f64::NAN,
        }
    }
}

/// The report of a rollup command: cpi, grain, dimensions, rows, size,
/// source_files, built_at, state, detail and seconds.
fn report(rows: Vec<Row>) -> Result<RecordBatch> {
    let text = |f: fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let count = |f: fn(&Row) -> Option<u64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<UInt64Array>())
    };
    let schema = Schema::new(vec![
        Field::new("cpi", DataType::Utf8, false),
        Field::new("grain", DataType::Utf8, false),
        Field::new("dimensions", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, true),
        Field::new("size", DataType::Utf8, true),
        Field::new("source_files", DataType::UInt64, true),
        Field::new("built_at", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("seconds", DataType::Float64, true),
    ]);
    let size: StringArray = rows.iter().map(|r| r.bytes.map(human_size)).collect();
    let seconds: Float64Array = rows
        .iter()
        .map(|r| (!r.seconds.is_nan()).then_some((r.seconds * 1000.0).round() / 1000.0))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(|r| &r.cpi),
            text(|r| &r.grain),
            text(|r| &r.dimensions),
            count(|r| r.rows),
            Arc::new(size),
            count(|r| r.files),
            text(|r| &r.built_at),
            text(|r| &r.state),
            text(|r| &r.detail),
            Arc::new(seconds),
        ],
    )?)
}

/// The engine registration key of CPI `cpi`'s rollup.
fn registration_key(cpi: &str) -> String {
    format!("rollup:{cpi}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &str, size: u64) -> FileStamp {
        FileStamp {
            path: path.into(),
            size,
            modified: "2026-01-01T00:00:00Z".into(),
            etag: None,
        }
    }

    fn table(name: &str, files: &[FileStamp]) -> SourceTable {
        SourceTable {
            table: name.into(),
            files: files.to_vec(),
        }
    }

    #[test]
    fn drift_tells_additions_from_changes() {
        let a = stamp("t/a.parquet", 10);
        let b = stamp("t/b.parquet", 20);
        let old = vec![table("orders", std::slice::from_ref(&a))];
        assert!(matches!(drift(&old, &old), Drift::None));
        let added = vec![table("orders", &[a.clone(), b.clone()])];
        match drift(&old, &added) {
            Drift::Added { table, files } => {
                assert_eq!(table, "orders");
                assert_eq!(files, vec![b.clone()]);
            }
            other => panic!("{other:?}"),
        }
        let changed = vec![table("orders", &[stamp("t/a.parquet", 11)])];
        assert!(
            matches!(drift(&old, &changed), Drift::Changed(m) if m == "orders: a.parquet changed")
        );
        let removed = vec![table("orders", &[])];
        assert!(matches!(drift(&old, &removed), Drift::Changed(m) if m.contains("removed")));
        let two = vec![
            table("orders", std::slice::from_ref(&a)),
            table("returns", &[]),
        ];
        let two_added = vec![table("orders", &[a, b.clone()]), table("returns", &[b])];
        assert!(
            matches!(drift(&two, &two_added), Drift::Changed(m) if m.contains("orders and returns"))
        );
    }

    #[test]
    fn coarser_grains_are_covered_by_finer_rollups() {
        use Grain::*;
        assert!(grain_covers(Day, Week) && grain_covers(Day, Quarter) && grain_covers(Day, All));
        assert!(grain_covers(Month, Quarter) && grain_covers(Month, Year));
        assert!(
            !grain_covers(Month, Week) && !grain_covers(Week, Month) && !grain_covers(Month, Day)
        );
        assert!(grain_covers(Week, Week) && grain_covers(Week, All));
    }
}
