//! Correlating CPIs with KPIs: lagged, with significance, per segment and
//! per customer.
//!
//! The CPI series is `SUM(numerator) / SUM(denominator)` per period (and per
//! `--by` value, or per entity and period with `--per-entity`); the KPI
//! series is the KPI column rolled up per period with its declared
//! aggregation. Lag k pairs the CPI in period t with the KPI in period t + k:
//! the CPI leads. Statistics live in [`stats`]; this module builds the
//! series, pairs them and assembles the result, which every front end
//! (`cpiq correlate`, `\correlate`, scripts) renders.

mod prewhiten; // the CPI's AR filter applied to both series before correlating
mod scatter; // the pairs behind a scatter chart
pub mod series; // CPI and KPI series per period, names resolved against the catalog
pub mod shared_scan; // the series of many CPIs from one pass over each table
pub mod stats; // Pearson, Spearman, p-values, Fisher intervals, Benjamini–Hochberg
mod table; // the result table and its column names
mod verdicts; // best lags, verdict lines, scatters

pub use scatter::Scatter;
pub use table::col;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;

use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::{CpiDefinition, Direction, Unit};
use series::{Inputs, KpiRef, Series, SeriesSpec};

/// Which correlation to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Pearson's r.
    Pearson,
    /// Spearman's rho.
    Spearman,
    /// Both; p-value and interval are Pearson's, plus `spearman_p_value`.
    Both,
}

impl std::str::FromStr for Method {
    type Err = CpiqError;
    fn from_str(s: &str) -> Result<Method> {
        match s {
            "pearson" => Ok(Method::Pearson),
            "spearman" => Ok(Method::Spearman),
            "both" => Ok(Method::Both),
            other => Err(CpiqError::Usage(format!(
                "unknown method \"{other}\" (expected pearson, spearman or both)"
            ))),
        }
    }
}

impl Method {
    /// The coefficient this method ranks by: rho for Spearman, else r.
    fn primary(self, r: Option<f64>, rho: Option<f64>) -> Option<f64> {
        if self == Method::Spearman { rho } else { r }
    }

    /// The symbol of the primary coefficient: `rho` for Spearman, else `r`.
    pub fn symbol(self) -> &'static str {
        if self == Method::Spearman { "rho" } else { "r" }
    }
}

/// A correlation request.
#[derive(Debug, Clone)]
pub struct CorrelateRequest {
    /// The CPIs.
    pub cpis: Vec<String>,
    /// The KPIs, as `kpi_table.column`.
    pub kpis: Vec<String>,
    /// The grain: week, month or quarter.
    pub per: Grain,
    /// An optional dimension both sides carry.
    pub by: Option<String>,
    /// Lags, in periods (the CPI leads).
    pub lags: Vec<u32>,
    /// Pearson, Spearman or both.
    pub method: Method,
    /// Inclusive start of the CPI series.
    pub from: Option<NaiveDate>,
    /// Exclusive end of the CPI series.
    pub to: Option<NaiveDate>,
    /// Correlate per entity (customer) and period.
    pub per_entity: bool,
    /// Correlate period-over-period changes instead of levels.
    pub difference: bool,
    /// Prewhiten both series by the CPI's AR(p), p ≤ this, chosen by AIC.
    pub prewhiten: Option<usize>,
}

/// Parse `0..3` (inclusive), `2`, or `0,1,3`.
pub fn parse_lags(s: &str) -> Result<Vec<u32>> {
    let bad = || {
        CpiqError::Usage(format!(
            "--lags \"{s}\": expected a range like 0..3, a number, or a list like 0,1,3"
        ))
    };
    let lags: Vec<u32> = if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u32, u32) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim()
                .trim_start_matches('=')
                .parse()
                .map_err(|_| bad())?,
        );
        if a > b {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        s.split(',')
            .map(|x| x.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    if lags.is_empty() || lags.iter().any(|&l| l > 24) {
        return Err(bad());
    }
    Ok(lags)
}

/// One result row before q-values.
struct Row {
    cpi: String,
    kpi: String,
    dim: Option<String>,
    lag: u32,
    n: usize,
    r: Option<f64>,
    rho: Option<f64>,
    p: Option<f64>,
    sp: Option<f64>,
    ci: Option<(f64, f64)>,
    expected: Option<&'static str>,
    unit: Unit,
    pairs: Vec<(f64, f64)>,
    ar_order: Option<usize>,
}

impl Row {
    /// The coefficient the method ranks by: rho for Spearman, else r.
    fn primary(&self, method: Method) -> Option<f64> {
        method.primary(self.r, self.rho)
    }
}

/// What a correlation run produced: the table, and notes for stderr and
/// the terminal verdicts.
pub struct Correlation {
    /// One row per CPI × KPI × dimension value × lag.
    pub batch: RecordBatch,
    /// Warnings and notes (few pairs, autocorrelations).
    pub notes: Vec<String>,
    /// One verdict line per CPI × KPI (× dimension value).
    pub verdicts: Vec<String>,
    /// The pairs at the best lag per CPI × KPI (× dimension value), the
    /// strongest relation first: what `\chart` draws.
    pub scatters: Vec<Scatter>,
}

/// One CPI × KPI pair of series being correlated.
struct Pair<'a> {
    def: &'a CpiDefinition,
    kpi_name: &'a str,
    kpi: KpiRef<'a>,
    cpi_series: &'a Series,
    kpi_series: &'a Series,
    ar_orders: Option<&'a std::collections::BTreeMap<Option<String>, usize>>,
}

/// Run a correlation.
pub async fn run(inputs: Inputs<'_>, req: &CorrelateRequest) -> Result<Correlation> {
    let (ctx, defs, kpis, cal) = inputs.parts();
    series::require_pairs(req.per, &req.cpis, &req.kpis, "a correlation")?;
    if req.prewhiten.is_some() && req.per_entity {
        return Err(CpiqError::Usage(
            "--prewhiten filters one series per dimension value; it does not combine with --per-entity".into(),
        ));
    }
    let mut notes = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    for cpi_name in &req.cpis {
        let def = series::resolve_cpi(defs, cpi_name)?;
        let entity = series::check_cpi(def, req.by.as_deref(), req.per_entity)?;
        let spec = SeriesSpec {
            per: req.per,
            by: req.by.clone(),
            entity,
            from: req.from,
            to: req.to,
            kpi_lead: *req.lags.iter().max().unwrap_or(&0) as i32,
        };
        let mut cpi_series = series::cpi_series(ctx, def, cal, &spec).await?;
        if req.difference {
            cpi_series = series::differenced(&cpi_series, cal, req.per);
        }
        for kpi_name in &req.kpis {
            let kpi = series::resolve_kpi(kpis, kpi_name, req.by.as_deref())?;
            let mut kpi_series = series::kpi_series(ctx, &kpi, cal, &spec).await?;
            if req.difference {
                kpi_series = series::differenced(&kpi_series, cal, req.per);
            }
            let whitened = req
                .prewhiten
                .map(|m| prewhiten::prewhiten(&cpi_series, &kpi_series, cal, req.per, m));
            let (cpi_used, kpi_used) = match &whitened {
                Some(w) => (&w.cpi, &w.kpi),
                None => (&cpi_series, &kpi_series),
            };
            let pair = Pair {
                def,
                kpi_name,
                kpi,
                cpi_series: cpi_used,
                kpi_series: kpi_used,
                ar_orders: whitened.as_ref().map(|w| &w.orders),
            };
            correlate_pair(&pair, cal, req, &spec, &mut rows, &mut notes);
        }
    }

    // q-values over every row; the best lag per CPI × KPI × dimension value.
    let q = stats::benjamini_hochberg(&rows.iter().map(|r| r.p).collect::<Vec<_>>());
    let best = verdicts::best_lags(&rows, req.method);
    let best_rows: BTreeSet<usize> = best.values().map(|(i, _)| *i).collect();
    let verdicts = verdicts::verdicts(&rows, &q, &best, req.method, req.per);
    let scatters = verdicts::scatters(&rows, &best_rows, req.method, req.per);
    let batch = table::batch(
        &rows,
        &q,
        &best_rows,
        req.by.as_deref(),
        req.method,
        req.prewhiten.is_some(),
    )?;
    Ok(Correlation {
        batch,
        notes,
        verdicts,
        scatters,
    })
}

/// The rows of one CPI × KPI pair: per dimension value, a lag-1
/// autocorrelation note (aggregate mode), then one row per lag.
fn correlate_pair(
    pair: &Pair<'_>,
    cal: &Calendar,
    req: &CorrelateRequest,
    spec: &SeriesSpec,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let dims: BTreeSet<Option<String>> =
        pair.cpi_series.keys().map(|(d, _, _)| d.clone()).collect();
    for dim in dims {
        if spec.entity.is_none() {
            notes.push(autocorrelation_note(pair, &dim, req.difference));
        }
        for &lag in &req.lags {
            rows.push(lag_row(pair, &dim, lag, cal, req, notes));
        }
    }
}

/// `lag-1 autocorrelation (dim): cpi 0.71, kpi 0.64`, with a hint to
/// difference when both series are persistent.
fn autocorrelation_note(pair: &Pair<'_>, dim: &Option<String>, difference: bool) -> String {
    let values = |s: &Series| -> Vec<f64> {
        s.iter()
            .filter(|((d, _, _), _)| d == dim)
            .map(|(_, v)| *v)
            .collect()
    };
    let (xs, ys) = (values(pair.cpi_series), values(pair.kpi_series));
    let fmt = |a: Option<f64>| a.map(|a| format!("{a:.2}")).unwrap_or_else(|| "n/a".into());
    format!(
        "lag-1 autocorrelation{}: {} {}, {} {}{}",
        dim.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
        pair.def.name,
        fmt(stats::autocorrelation(&xs)),
        pair.kpi_name,
        fmt(stats::autocorrelation(&ys)),
        if stats::autocorrelation(&xs).unwrap_or(0.0).abs() > 0.5
            && stats::autocorrelation(&ys).unwrap_or(0.0).abs() > 0.5
            && !difference
        {
            " — both series are persistent: levels may mislead, try --difference"
        } else {
            ""
        }
    )
}

/// The CPI at t paired with the KPI at t + `lag` (same dimension value and
/// entity), and the statistics of those pairs.
fn lag_row(
    pair: &Pair<'_>,
    dim: &Option<String>,
    lag: u32,
    cal: &Calendar,
    req: &CorrelateRequest,
    notes: &mut Vec<String>,
) -> Row {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for ((d, e, p), v) in pair.cpi_series {
        if d != dim {
            continue;
        }
        let later = cal.shift(req.per, *p, lag as i32);
        if let Some(k) = pair.kpi_series.get(&(d.clone(), e.clone(), later)) {
            x.push(*v);
            y.push(*k);
        }
    }
    let n = x.len();
    let label = format!(
        "{} × {}{} lag {lag}",
        pair.def.name,
        pair.kpi_name,
        dim.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
    );
    if n < 3 {
        notes.push(format!("note: {label}: {n} pairs, too few for statistics"));
    } else if n < 8 {
        notes.push(format!("warning: {label}: only {n} pairs"));
    }
    let r = stats::pearson(&x, &y);
    let rho = stats::spearman(&x, &y);
    let primary = req.method.primary(r, rho);
    let p = primary.and_then(|c| stats::p_value(c, n));
    let sp = if req.method == Method::Both {
        rho.and_then(|c| stats::p_value(c, n))
    } else {
        None
    };
    let ci = primary.and_then(|c| stats::fisher_ci(c, n));
    let expected = match (pair.kpi.spec.directions.get(pair.kpi.column), primary) {
        (Some(&kpi_higher), Some(c)) if c != 0.0 => {
            let cpi_higher = pair.def.direction == Direction::HigherIsBetter;
            let expect_positive = cpi_higher == kpi_higher;
            Some(if (c > 0.0) == expect_positive {
                "agrees"
            } else {
                "contradicts"
            })
        }
        _ => None,
    };
    Row {
        cpi: pair.def.name.clone(),
        kpi: pair.kpi_name.to_string(),
        dim: dim.clone(),
        lag,
        n,
        r,
        rho,
        p,
        sp,
        ci,
        expected,
        unit: pair.def.unit,
        pairs: x.into_iter().zip(y).collect(),
        ar_order: pair.ar_orders.and_then(|o| o.get(dim).copied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_parse() {
        assert_eq!(parse_lags("0..3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_lags("2").unwrap(), [2]);
        assert_eq!(parse_lags("0,2").unwrap(), [0, 2]);
        assert!(parse_lags("3..1").is_err());
        assert!(parse_lags("x").is_err());
    }
}
