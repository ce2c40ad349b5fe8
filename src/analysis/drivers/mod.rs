//! Key-driver analysis over time: which CPIs lead a KPI, improve its
//! forecasts and explain its variance — per dimension value, with a verdict.
//!
//! Series and alignment are those of [`crate::analysis::granger`]. Per
//! dimension value and CPI: the lead (prewhitened cross-correlation,
//! [`evidence`]), both Granger directions, the out-of-sample forecast gain
//! and a placebo p-value; per dimension value one multivariate model of the
//! KPI on every CPI at its lead ([`model`]: z-scored OLS, Newey–West errors,
//! Shapley shares of R²). The table is [`table`], the words [`summary`].

mod evidence; // lead, out-of-sample gain, placebo p-value of one CPI
pub mod model; // the multivariate model: HAC standard errors, Shapley importance
mod summary; // the ranked summary in words
mod table; // the result table and its column names

pub use table::col;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;

use crate::analysis::correlate::series::{self, Inputs, SeriesSpec};
use crate::analysis::correlate::shared_scan;
use crate::analysis::correlate::stats::{benjamini_hochberg, p_value, pearson};
use crate::analysis::granger::{LagChoice, TestSpec, Trend, leads};
use crate::analysis::timeseries::Grid;
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::spelled::spelled_enum;
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::{CpiDefinition, Direction};

spelled_enum! {
    /// What the evidence says of one CPI and the KPI.
    pub enum Verdict {
        /// Too few periods or observations to say.
        Insufficient = "insufficient",
        /// Each leads the other.
        Feedback = "feedback",
        /// The CPI leads the KPI and improves its forecasts.
        Drives = "drives",
        /// The KPI leads the CPI.
        Reverse = "reverse",
        /// Correlated in levels, but neither leads: a shared trend.
        TrendOnly = "trend_only",
        /// No evidence of a relation.
        None = "none",
    }
}

/// A drivers request.
#[derive(Debug, Clone)]
pub struct DriversRequest {
    /// The KPI, as `kpi_table.column`.
    pub kpi: String,
    /// The CPIs (every CPI of the catalog when empty).
    pub cpis: Vec<String>,
    /// The grain.
    pub per: Grain,
    /// An optional dimension both sides carry.
    pub by: Option<String>,
    /// The largest lead and Granger order considered.
    pub max_lag: usize,
    /// Deterministic terms of every regression.
    pub trend: Trend,
    /// Periods forecast out of sample (default min(12, n/4)).
    pub holdout: Option<usize>,
    /// Placebo shifts.
    pub placebos: usize,
    /// Seed of the placebo shifts.
    pub seed: u64,
    /// Inclusive start of the series.
    pub from: Option<NaiveDate>,
    /// Exclusive end of the series.
    pub to: Option<NaiveDate>,
}

/// The significance level of the verdicts.
const ALPHA: f64 = 0.05;

/// One output row before q-values.
#[derive(Debug, Clone)]
struct Row {
    cpi: String,
    dim: Option<String>,
    lead: Option<usize>,
    n: usize,
    r_levels: Option<f64>,
    r_prewhitened: Option<f64>,
    granger_p: Option<f64>,
    reverse_p: Option<f64>,
    granger_order: usize,
    granger_n: usize,
    oos_gain: Option<f64>,
    placebo_p: Option<f64>,
    term: Option<model::Term>,
    model_r2: Option<f64>,
    level_ps: Vec<Option<f64>>,
    expected: Option<&'static str>,
}

/// What a drivers run produced.
pub struct Drivers {
    /// One row per dimension value and CPI.
    pub batch: RecordBatch,
    /// The ranked summary in words, one line per dimension value.
    pub summary: Vec<String>,
    /// Notes for stderr.
    pub notes: Vec<String>,
}

/// Run the analysis.
pub async fn run(
    inputs: Inputs<'_>,
    bodies: &std::collections::HashMap<String, String>,
    req: &DriversRequest,
) -> Result<Drivers> {
    let (ctx, defs, kpis, cal) = inputs.parts();
    series::require_series_grain(req.per, "drivers")?;
    if req.max_lag == 0 || req.max_lag > 24 {
        return Err(CpiqError::Usage("--max-lag must be 1 to 24".into()));
    }
    let kref = series::resolve_kpi(kpis, &req.kpi, req.by.as_deref())?;
    let names: Vec<String> = if req.cpis.is_empty() {
        let mut all: Vec<String> = defs
            .iter()
            .filter(|d| req.by.as_ref().is_none_or(|b| d.dimensions.contains(b)))
            .map(|d| d.name.clone())
            .collect();
        all.sort();
        all
    } else {
        req.cpis.clone()
    };
    if names.is_empty() {
        return Err(CpiqError::Usage("no CPI carries that dimension".into()));
    }
    let spec = SeriesSpec::levels(req.per, req.by.clone(), req.from, req.to);
    let kpi = series::kpi_series_within(ctx, &kref, cal, &spec).await?;
    let mut chosen = Vec::new();
    for name in &names {
        let def = series::resolve_cpi(defs, name)?;
        series::check_cpi(def, req.by.as_deref(), false)?;
        chosen.push((def, bodies.get(&def.name).cloned().unwrap_or_default()));
    }
    // One pass over each event table for all of its CPIs.
    let all = shared_scan::cpi_series_all(ctx, &chosen, cal, &spec).await?;
    let cpi_series: Vec<(&CpiDefinition, series::Series)> =
        chosen.iter().map(|(d, _)| *d).zip(all).collect();
    let dims: BTreeSet<Option<String>> = kpi.keys().map(|(d, _, _)| d.clone()).collect();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for dim in &dims {
        rows.extend(dimension_rows(
            req,
            cal,
            &kpi,
            &cpi_series,
            dim,
            kref.spec.directions.get(kref.column).copied(),
            &mut notes,
        ));
    }
    // q-values: Granger over both directions of every row; levels
    // correlations over every lag 0..M of every row.
    let gp: Vec<Option<f64>> = rows
        .iter()
        .flat_map(|r| [r.granger_p, r.reverse_p])
        .collect();
    let gq = benjamini_hochberg(&gp);
    let lp: Vec<Option<f64>> = rows.iter().flat_map(|r| r.level_ps.clone()).collect();
    let lq = benjamini_hochberg(&lp);
    let m1 = req.max_lag + 1;
    let mut out = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        let (granger_q, reverse_q) = (gq[2 * i], gq[2 * i + 1]);
        let levels_significant = lq[i * m1..(i + 1) * m1]
            .iter()
            .any(|q| q.is_some_and(|q| q < ALPHA));
        let verdict = verdict(&r, req.max_lag, granger_q, reverse_q, levels_significant);
        out.push((r, granger_q, reverse_q, verdict));
    }
    out.sort_by(|a, b| a.0.dim.cmp(&b.0.dim).then(imp(&b.0).total_cmp(&imp(&a.0))));
    let summary = summary::lines(&req.kpi, req.per, &out);
    let batch = table::batch(&req.kpi, req.by.as_deref(), &out)?;
    Ok(Drivers {
        batch,
        summary,
        notes,
    })
}

fn imp(r: &Row) -> f64 {
    r.term.map_or(f64::NEG_INFINITY, |t| t.importance)
}

/// The verdict rules, in order.
fn verdict(
    r: &Row,
    max_lag: usize,
    granger_q: Option<f64>,
    reverse_q: Option<f64>,
    levels: bool,
) -> Verdict {
    let sig = |q: Option<f64>| q.is_some_and(|q| q < ALPHA);
    if r.n < 3 * max_lag + 10 || r.granger_n < 10 * r.granger_order.max(1) || granger_q.is_none() {
        Verdict::Insufficient
    } else if sig(granger_q) && sig(reverse_q) {
        Verdict::Feedback
    } else if sig(granger_q) && r.oos_gain.is_some_and(|g| g > 0.0) {
        Verdict::Drives
    } else if sig(reverse_q) {
        Verdict::Reverse
    } else if levels && !sig(granger_q) {
        Verdict::TrendOnly
    } else {
        Verdict::None
    }
}

/// The rows of one dimension value: per CPI its evidence, then the
/// multivariate model over all CPIs with a lead.
fn dimension_rows(
    req: &DriversRequest,
    cal: &Calendar,
    kpi: &series::Series,
    cpis: &[(&CpiDefinition, series::Series)],
    dim: &Option<String>,
    kpi_higher: Option<bool>,
    notes: &mut Vec<String>,
) -> Vec<Row> {
    let m = req.max_lag;
    let mut rows = Vec::new();
    let mut all: Vec<&series::Series> = cpis.iter().map(|(_, s)| s).collect();
    all.push(kpi);
    let (_, mut grids) = series::on_common_grid(&all, dim, cal, req.per);
    let y = grids.pop().unwrap_or_default();
    for ((def, _), x) in cpis.iter().zip(&grids) {
        let aligned = x
            .iter()
            .zip(&y)
            .filter(|(a, b)| a.is_some() && b.is_some())
            .count();
        let spec = TestSpec {
            lags: LagChoice::Max(m),
            trend: req.trend,
            augment: 0,
        };
        let forward = leads(x, &y, &spec);
        let backward = leads(&y, x, &spec);
        let white = evidence::prewhitened(x, &y, m);
        let lead = white.as_ref().and_then(|(e, f)| evidence::lead(e, f, m));
        // Levels correlation at every lag 0..M: its p-values feed the
        // trend_only verdict, its r at the lead is r_levels (M ≥ lead).
        let levels: Vec<(Option<f64>, usize)> = (0..=m)
            .map(|l| {
                let (a, b) = evidence::pairs(x, &y, l);
                (pearson(&a, &b), a.len())
            })
            .collect();
        let r_levels = lead.and_then(|(l, _)| levels[l].0);
        let level_ps = levels
            .iter()
            .map(|(r, n)| r.and_then(|r| p_value(r, *n)))
            .collect();
        let holdout = req.holdout.unwrap_or((aligned / 4).min(12));
        let oos_gain = evidence::oos_gain(x, &y, forward.lags, req.trend, holdout);
        let placebo_p = match (&white, lead) {
            (Some((e, f)), Some((l, r))) => {
                evidence::placebo_p(e, f, l, r, m, req.placebos, req.seed)
            }
            _ => None,
        };
        let expected = expected_sign(def, kpi_higher, lead);
        rows.push(Row {
            cpi: def.name.clone(),
            dim: dim.clone(),
            lead: lead.map(|(l, _)| l),
            n: aligned,
            r_levels,
            r_prewhitened: lead.map(|(_, r)| r),
            granger_p: forward.test.map(|t| t.p),
            reverse_p: backward.test.map(|t| t.p),
            granger_order: forward.lags,
            granger_n: forward.n,
            oos_gain,
            placebo_p,
            term: None,
            model_r2: None,
            level_ps,
            expected,
        });
    }
    fit_model(req, &y, &grids, &mut rows, dim, notes);
    rows
}

/// Whether the lead's sign agrees with the CPI's and the KPI's declared
/// directions (`None` when either is unknown or r is 0).
fn expected_sign(
    def: &CpiDefinition,
    kpi_higher: Option<bool>,
    lead: Option<(usize, f64)>,
) -> Option<&'static str> {
    match (kpi_higher, lead) {
        (Some(kh), Some((_, r))) if r != 0.0 => {
            let ch = def.direction == Direction::HigherIsBetter;
            Some(if (r > 0.0) == (ch == kh) {
                "agrees"
            } else {
                "contradicts"
            })
        }
        _ => None,
    }
}

/// The multivariate model over the CPIs that have a lead: fills their
/// `term` and `model_r2`, or notes why it cannot be fitted.
fn fit_model(
    req: &DriversRequest,
    y: &Grid,
    grids: &[Grid],
    rows: &mut [Row],
    dim: &Option<String>,
    notes: &mut Vec<String>,
) {
    let with_lead: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].lead.is_some())
        .collect();
    if with_lead.is_empty() {
        return;
    }
    let inputs: Vec<(&Grid, usize)> = with_lead
        .iter()
        .map(|&i| (&grids[i], rows[i].lead.unwrap_or(1)))
        .collect();
    match model::fit(y, &inputs, req.trend) {
        Some(fitted) => {
            for (j, &i) in with_lead.iter().enumerate() {
                rows[i].term = Some(fitted.terms[j]);
                rows[i].model_r2 = Some(fitted.r2);
            }
        }
        None => notes.push(format!(
            "note: {}{}: the multivariate model cannot be fitted (too few aligned periods for {} CPIs)",
            req.kpi,
            dim.as_ref().map(|d| format!(" [{d}]")).unwrap_or_default(),
            with_lead.len()
        )),
    }
}
