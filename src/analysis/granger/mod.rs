//! Granger causality between CPIs and KPIs, in both directions: does the CPI
//! lead the KPI (`cpi_leads`), or the KPI the CPI (`kpi_leads`)?
//!
//! Series are built exactly as correlation builds them
//! ([`crate::analysis::correlate::series`]) and placed on one period grid,
//! so a lag is a calendar lag and a missing period drops the observations
//! that need it. The test itself is [`causality`]; this module runs it per
//! CPI × KPI × dimension value and direction, adds Benjamini–Hochberg
//! q-values over every row and a verdict per pair.

mod causality; // the F test of one direction on two gridded series
mod table; // the result table and its column names
mod verdict; // one line per CPI × KPI × dimension value

pub use causality::{Outcome, TestSpec, leads};
pub use table::col;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;

use crate::analysis::correlate::series::{self, Inputs, SeriesSpec};
use crate::analysis::correlate::stats::benjamini_hochberg;
use crate::foundation::error::{CpiqError, Result};
use crate::foundation::spelled::spelled_enum;
use crate::model::calendar::Grain;

spelled_enum! {
    /// The deterministic terms of both regressions.
    pub enum Trend {
        /// A constant only (statsmodels' `grangercausalitytests`).
        C = "c",
        /// A constant and a linear time trend: the default, so that two
        /// series that merely trend together are not taken for a lead.
        Ct = "ct",
    }
}

spelled_enum! {
    /// Which variable's lags are tested.
    pub enum Direction {
        /// H0: the CPI's lags add nothing to predicting the KPI.
        CpiLeads = "cpi_leads",
        /// H0: the KPI's lags add nothing to predicting the CPI.
        KpiLeads = "kpi_leads",
    }
}

/// The lag order: fixed, or chosen per row by AIC up to a maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagChoice {
    /// `--lags N`.
    Fixed(usize),
    /// `--max-lag M`.
    Max(usize),
}

/// The maximum lag order when neither `--lags` nor `--max-lag` is given.
pub const DEFAULT_MAX_LAG: usize = 6;

/// A Granger request.
#[derive(Debug, Clone)]
pub struct GrangerRequest {
    /// The CPIs.
    pub cpis: Vec<String>,
    /// The KPIs, as `kpi_table.column`.
    pub kpis: Vec<String>,
    /// The grain: week, month or quarter.
    pub per: Grain,
    /// An optional dimension both sides carry.
    pub by: Option<String>,
    /// Lags, trend and augmentation.
    pub spec: TestSpec,
    /// Inclusive start of both series.
    pub from: Option<NaiveDate>,
    /// Exclusive end of both series.
    pub to: Option<NaiveDate>,
}

/// One result row before q-values.
#[derive(Debug, Clone)]
struct Row {
    cpi: String,
    kpi: String,
    dim: Option<String>,
    direction: Direction,
    outcome: Outcome,
}

/// What a Granger run produced.
pub struct Granger {
    /// One row per CPI × KPI × dimension value × direction.
    pub batch: RecordBatch,
    /// Notes for stderr (too few observations).
    pub notes: Vec<String>,
    /// One verdict line per CPI × KPI × dimension value.
    pub verdicts: Vec<String>,
}

/// Run the tests.
pub async fn run(inputs: Inputs<'_>, req: &GrangerRequest) -> Result<Granger> {
    let (ctx, defs, kpis, cal) = inputs.parts();
    series::require_pairs(req.per, &req.cpis, &req.kpis, "a Granger test")?;
    match req.spec.lags {
        LagChoice::Fixed(0) | LagChoice::Max(0) => {
            return Err(CpiqError::Usage(
                "--lags and --max-lag must be at least 1".into(),
            ));
        }
        LagChoice::Fixed(n) | LagChoice::Max(n) if n + req.spec.augment > 24 => {
            return Err(CpiqError::Usage(
                "lags plus --augment must be at most 24 periods".into(),
            ));
        }
        _ => {}
    }
    let spec = SeriesSpec::levels(req.per, req.by.clone(), req.from, req.to);
    let mut rows = Vec::new();
    for cpi_name in &req.cpis {
        let def = series::resolve_cpi(defs, cpi_name)?;
        series::check_cpi(def, req.by.as_deref(), false)?;
        let cpi = series::cpi_series(ctx, def, cal, &spec).await?;
        for kpi_name in &req.kpis {
            let kref = series::resolve_kpi(kpis, kpi_name, req.by.as_deref())?;
            let kpi = series::kpi_series_within(ctx, &kref, cal, &spec).await?;
            let dims: BTreeSet<Option<String>> = cpi.keys().map(|(d, _, _)| d.clone()).collect();
            for dim in dims {
                let (_, x, y) = series::on_grid(&cpi, &kpi, &dim, cal, req.per);
                for (direction, outcome) in [
                    (Direction::CpiLeads, leads(&x, &y, &req.spec)),
                    (Direction::KpiLeads, leads(&y, &x, &req.spec)),
                ] {
                    rows.push(Row {
                        cpi: def.name.clone(),
                        kpi: kpi_name.clone(),
                        dim: dim.clone(),
                        direction,
                        outcome,
                    });
                }
            }
        }
    }
    let notes = rows
        .iter()
        .filter(|r| r.outcome.test.is_none())
        .map(|r| {
            format!(
                "note: {} × {}{} {}: {} observations at {} lags, fewer than 3·lags + 5 or a degenerate regression: no statistic",
                r.cpi,
                r.kpi,
                r.dim.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
                r.direction,
                r.outcome.n,
                r.outcome.lags
            )
        })
        .collect();
    let q = benjamini_hochberg(
        &rows
            .iter()
            .map(|r| r.outcome.test.map(|t| t.p))
            .collect::<Vec<_>>(),
    );
    let verdicts = verdict::lines(&rows, &q);
    let batch = table::batch(&rows, &q, req.by.as_deref(), &req.spec)?;
    Ok(Granger {
        batch,
        notes,
        verdicts,
    })
}
