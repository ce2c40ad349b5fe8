//! Reports: the CPI scorecard and the HTML report of a job.
//!
//! The scorecard is every CPI's latest period against its target, its
//! change on the period before and its last periods as a sparkline; `\cpis`
//! shows the sparklines and the HTML report the whole card. [`html`] turns
//! the statements a job ran, as [`Captured`] by the session, into one
//! self-contained HTML file. Running the job is the session's business.

pub mod html;
mod run;

pub use run::{OutputFile, Report, ReportEntry, RunStatus, StatementStatus};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;

use crate::analysis::slice::col;
use crate::foundation::error::Result;
use crate::model::cpi::{CpiDefinition, Unit};
use crate::present::chart::Scatter;
use crate::{
    analysis::slice::{Compare, SliceRequest},
    model::calendar::Grain,
};
use crate::{engine::Engine, foundation::columns};

/// What produced a captured result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// A SQL query.
    Query,
    /// A slice (`\slice`, `\compare`).
    Slice,
    /// A correlation.
    Correlation,
    /// Granger tests.
    Granger,
    /// Key drivers of a KPI.
    Drivers,
    /// A listing (`\cpis`, `\d`, rollup reports…).
    Listing,
}

/// A result a statement produced, kept for the report.
#[derive(Debug, Clone)]
pub struct CapturedResult {
    /// What produced it.
    pub kind: ResultKind,
    /// Its schema.
    pub schema: SchemaRef,
    /// Its rows.
    pub batches: Vec<RecordBatch>,
    /// For a correlation: the scatter at each best lag.
    pub scatters: Vec<Scatter>,
    /// For a correlation: the verdict lines.
    pub verdicts: Vec<String>,
}

/// One statement of a job, as the report shows it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The run report's entry (text, line, status, rows, time, files, error).
    pub entry: ReportEntry,
    /// The result it produced, if any.
    pub result: Option<CapturedResult>,
}

/// One CPI's line of the scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The CPI.
    pub cpi: String,
    /// Its label.
    pub label: String,
    /// Its unit.
    pub unit: Unit,
    /// Its target.
    pub target: Option<f64>,
    /// The latest period with events.
    pub period: Option<NaiveDate>,
    /// The value in that period.
    pub value: Option<f64>,
    /// met, missed, insufficient, or `None` without a target.
    pub status: Option<String>,
    /// Change against the period before.
    pub change: Option<f64>,
    /// The last periods' values, oldest first (gaps as `None`).
    pub history: Vec<Option<f64>>,
}

/// How many periods a sparkline shows.
pub const SPARK_PERIODS: usize = 12;

/// The scorecard of `defs` at `per`: one slice per CPI over all its data
/// (so one broken CPI does not hide the others; its error is returned in
/// place of its score).
pub async fn scorecard(
    engine: &Engine,
    defs: &[CpiDefinition],
    per: Grain,
) -> Vec<(String, Result<Score>)> {
    let mut out = Vec::new();
    for d in defs {
        out.push((d.name.clone(), score(engine, d, per).await));
    }
    out
}

async fn score(engine: &Engine, d: &CpiDefinition, per: Grain) -> Result<Score> {
    let req = SliceRequest {
        cpis: vec![d.name.clone()],
        by: Vec::new(),
        per,
        filter: None,
        from: None,
        to: None,
        compare: Some(Compare::Previous),
        fill: true,
        raw: false,
    };
    let (batch, _) = crate::analysis::plan::slice(engine, &req).await?;
    score_of(d, &batch)
}

/// The score of `d` from its slice (one row per period, oldest first).
fn score_of(d: &CpiDefinition, batch: &RecordBatch) -> Result<Score> {
    let n = batch.num_rows();
    let value = columns::floats(batch, col::VALUE)?;
    let periods = columns::dates(batch, col::PERIOD)?;
    let events = columns::floats(batch, col::EVENTS)?;
    let status = columns::strings(batch, col::STATUS)?;
    let change = columns::floats(batch, col::CHANGE)?;
    let get =
        |a: &datafusion::arrow::array::Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let history = (n.saturating_sub(SPARK_PERIODS)..n)
        .map(|i| get(&value, i))
        .collect();
    // The latest period with events (trailing filled periods are empty).
    let last = (0..n).rev().find(|&i| get(&events, i).unwrap_or(0.0) > 0.0);
    Ok(Score {
        cpi: d.name.clone(),
        label: d.label.clone(),
        unit: d.unit,
        target: d.target,
        period: last
            .map(|i| columns::date_of(periods.value(i)))
            .transpose()?,
        value: last.and_then(|i| get(&value, i)),
        status: last
            .filter(|&i| !status.is_null(i))
            .map(|i| status.value(i).to_string()),
        change: last.and_then(|i| get(&change, i)),
        history,
    })
}
