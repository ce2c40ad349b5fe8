//! Freshness: how a rollup's sources drifted since it was built (files
//! added, removed, changed) and whether it still answers a slice.

use std::collections::HashMap;

use datafusion::datasource::listing::ListingTable;
use futures::TryStreamExt;

use super::lineage;
use super::manifest::{FileStamp, Manifest, SourceTable, calendar_key};
use crate::engine::Engine;
use crate::foundation::error::Result;
use crate::model::calendar::Grain;
use crate::model::cpi::CpiDefinition;

/// The CPIs a rollup command applies to: those named, or every usable CPI.
pub(super) fn chosen(engine: &Engine, cpis: &[String]) -> Result<Vec<CpiDefinition>> {
    if cpis.is_empty() {
        return Ok(engine.definitions());
    }
    let defs = engine.definitions();
    cpis.iter()
        .map(|c| crate::analysis::slice::lookup(&defs, c).cloned())
        .collect()
}

/// Which grains a rollup at `rollup` grain can answer.
pub(super) fn grain_covers(rollup: Grain, per: Grain) -> bool {
    per == Grain::All
        || rollup == Grain::Day
        || rollup == per
        || (rollup == Grain::Month && matches!(per, Grain::Quarter | Grain::Year))
        || (rollup == Grain::Quarter && per == Grain::Year)
}

/// The current files of every table CPI `def` reads.
pub(super) async fn current_sources(
    engine: &Engine,
    def: &CpiDefinition,
) -> Result<Vec<SourceTable>> {
    let mut out = Vec::new();
    for (table, listing) in lineage::base_tables(engine.ctx(), &def.name).await? {
        let files = list_files(engine, &listing).await?;
        out.push(SourceTable { table, files });
    }
    Ok(out)
}

/// The files a listing table reads now, listed as its scans list them (the
/// engine keeps no listing cache, so this is what the next query reads).
pub(super) async fn list_files(engine: &Engine, table: &ListingTable) -> Result<Vec<FileStamp>> {
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
pub(super) enum Drift {
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

pub(super) fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub(super) fn drift(recorded: &[SourceTable], now: &[SourceTable]) -> Drift {
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
pub(super) fn identity_problem(
    engine: &Engine,
    def: &CpiDefinition,
    m: &Manifest,
) -> Result<Option<String>> {
    let sql = def.render(engine.params())?;
    Ok(if m.definition != sql {
        Some("built from another definition or other parameter values".into())
    } else if m.calendar != calendar_key(&engine.calendar()) {
        Some(format!("built with another calendar ({})", m.calendar))
    } else {
        None
    })
}

/// Why rollup `m` may not stand for `def` now, or `None` when it is fresh.
pub(super) async fn freshness(
    engine: &Engine,
    def: &CpiDefinition,
    m: &Manifest,
) -> Result<Option<String>> {
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
