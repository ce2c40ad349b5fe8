//! The thin layer above the analyses that answers requests on an engine:
//! a slice reads each CPI from a fresh rollup that covers it, or else from
//! its view ([`slice`], [`explain_slice`]); correlations and explain-change
//! run on the engine's definitions and calendar. It also names the table
//! functions the analyses add to every session ([`extensions`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use super::correlate::series::Inputs;
use super::correlate::{self, CorrelateRequest, Correlation};
use super::drivers::{self, Drivers, DriversRequest};
use super::granger::{self, Granger, GrangerRequest};
use super::rollup::{self, Choice};
use super::slice::{self, CpiSliceFunction, ExplainRequest, RollupSource, SliceRequest};
use crate::engine::{Engine, EngineOptions, Extension};
use crate::foundation::error::Result;
use crate::model::calendar::Calendar;
use crate::model::cpi::CpiDefinition;
use crate::workspace::Workspace;

/// How one CPI of a slice is answered: `source` is `rollup` or `raw`,
/// `detail` which rollup, or why none serves; `sql` the aggregate it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicePlan {
    /// The CPI.
    pub cpi: String,
    /// `rollup` or `raw`.
    pub source: String,
    /// Which rollup, or why none serves.
    pub detail: String,
    /// The aggregate SQL.
    pub sql: String,
}

/// Open an engine on `workspace` with the analyses' table functions.
pub async fn open(workspace: Workspace, mut options: EngineOptions) -> Result<Engine> {
    options.extensions.extend(extensions());
    Engine::open(workspace, options).await
}

/// The table functions the analyses add to a session: `cpi_slice(…)`.
pub fn extensions() -> Vec<Arc<dyn Extension>> {
    vec![Arc::new(SliceFunction)]
}

/// Registers `cpi_slice(…)` over the session's usable CPIs.
struct SliceFunction;

impl Extension for SliceFunction {
    fn register(&self, ctx: &SessionContext, definitions: &[CpiDefinition], calendar: &Calendar) {
        let udtf = CpiSliceFunction::new(definitions.to_vec(), calendar.clone());
        ctx.register_udtf("cpi_slice", Arc::new(udtf));
    }
}

/// Run a slice of CPIs, each from a fresh rollup that covers it or else
/// from its view; also returns the aggregate SQL it ran.
pub async fn slice(engine: &Engine, req: &SliceRequest) -> Result<(RecordBatch, Vec<String>)> {
    let (batch, sql, _) = slice_noting_raw(engine, req).await?;
    Ok((batch, sql))
}

/// [`slice`], and the CPIs it read from raw events that a day rollup would
/// have answered: they have none, or a stale one (not `--raw`, nor a rollup
/// of another grain or shape someone built on purpose).
pub async fn slice_noting_raw(
    engine: &Engine,
    req: &SliceRequest,
) -> Result<(RecordBatch, Vec<String>, Vec<String>)> {
    let p = Prepared::new(engine, req).await?;
    let (batch, sql) = slice::run_with_sql(engine.ctx(), &p.defs, &p.cal, req, &p.rollups).await?;
    Ok((batch, sql, p.uncovered()))
}

/// [`slice_noting_raw`] streamed: the slice's rows arrive on
/// [`slice::SliceRun::batches`] while they are made.
pub async fn slice_started(
    engine: &Engine,
    req: &SliceRequest,
) -> Result<(slice::SliceRun, Vec<String>)> {
    let p = Prepared::new(engine, req).await?;
    let run = slice::start(engine.ctx(), &p.defs, &p.cal, req, &p.rollups).await?;
    Ok((run, p.uncovered()))
}

/// What a slice runs on: the engine's definitions (once the request is
/// checked against them), its calendar, and how each CPI is answered.
struct Prepared {
    defs: Vec<CpiDefinition>,
    cal: Calendar,
    choices: BTreeMap<String, Choice>,
    rollups: HashMap<String, RollupSource>,
}

impl Prepared {
    async fn new(engine: &Engine, req: &SliceRequest) -> Result<Prepared> {
        let defs = engine.definitions();
        req.validate(&defs)?;
        let choices = rollup::choose(engine, req).await?;
        let rollups = rollups_of(&choices);
        let cal = engine.calendar();
        Ok(Prepared {
            defs,
            cal,
            choices,
            rollups,
        })
    }

    /// The CPIs read from raw events that a day rollup would have answered.
    fn uncovered(&self) -> Vec<String> {
        self.choices
            .iter()
            .filter(|(_, c)| matches!(c, Choice::Unbuilt(_)))
            .map(|(cpi, _)| cpi.clone())
            .collect()
    }
}

/// How each CPI of `req` would be sliced, without running it.
pub async fn explain_slice(engine: &Engine, req: &SliceRequest) -> Result<Vec<SlicePlan>> {
    let p = Prepared::new(engine, req).await?;
    let statements = slice::statements(engine.ctx(), &p.defs, &p.cal, req, &p.rollups).await?;
    Ok(statements
        .into_iter()
        .map(|(cpi, sql)| {
            let (source, detail) = match p.choices.get(&cpi) {
                Some(Choice::Rollup(r)) => ("rollup", r.about.clone()),
                Some(Choice::Raw(why) | Choice::Unbuilt(why)) => ("raw", why.clone()),
                None => ("raw", String::new()),
            };
            SlicePlan {
                cpi,
                source: source.to_string(),
                detail,
                sql,
            }
        })
        .collect())
}

/// Correlate CPIs with KPIs.
pub async fn correlate(engine: &Engine, req: &CorrelateRequest) -> Result<Correlation> {
    let (defs, cal) = (engine.definitions(), engine.calendar());
    correlate::run(inputs(engine, &defs, &cal), req).await
}

/// Granger tests of CPIs and KPIs, both directions.
pub(crate) async fn granger(engine: &Engine, req: &GrangerRequest) -> Result<Granger> {
    let (defs, cal) = (engine.definitions(), engine.calendar());
    granger::run(inputs(engine, &defs, &cal), req).await
}

/// Rank CPIs as drivers of a KPI.
pub(crate) async fn drivers(engine: &Engine, req: &DriversRequest) -> Result<Drivers> {
    let (defs, cal) = (engine.definitions(), engine.calendar());
    let bodies = defs
        .iter()
        .filter_map(|d| Some((d.name.clone(), engine.rendered(d).ok()?)))
        .collect();
    drivers::run(inputs(engine, &defs, &cal), &bodies, req).await
}

/// What the time-series analyses read of `engine`.
fn inputs<'a>(engine: &'a Engine, defs: &'a [CpiDefinition], cal: &'a Calendar) -> Inputs<'a> {
    Inputs {
        ctx: engine.ctx(),
        defs,
        kpis: &engine.workspace().kpis,
        cal,
    }
}

/// Explain the change of a CPI between two periods.
pub async fn explain_change(engine: &Engine, req: &ExplainRequest) -> Result<RecordBatch> {
    slice::explain_change(engine.ctx(), &engine.definitions(), &engine.calendar(), req).await
}

/// The rollups among per-CPI choices of source.
fn rollups_of(choices: &BTreeMap<String, Choice>) -> HashMap<String, RollupSource> {
    choices
        .iter()
        .filter_map(|(cpi, c)| match c {
            Choice::Rollup(r) => Some((cpi.clone(), r.clone())),
            Choice::Raw(_) | Choice::Unbuilt(_) => None,
        })
        .collect()
}
