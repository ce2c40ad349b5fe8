//! Reading a correlation: the best lag per CPI × KPI × dimension value, the
//! verdict line a person reads for it, and the scatter of its pairs.

use std::collections::{BTreeSet, HashMap};

use super::{Method, Row, Scatter};
use crate::model::calendar::Grain;

/// The rows at the best lag (largest |coefficient|) per CPI × KPI ×
/// dimension value, by key.
pub(super) fn best_lags(
    rows: &[Row],
    method: Method,
) -> HashMap<(String, String, Option<String>), (usize, f64)> {
    let mut best: HashMap<(String, String, Option<String>), (usize, f64)> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(c) = r.primary(method) {
            let e = best
                .entry((r.cpi.clone(), r.kpi.clone(), r.dim.clone()))
                .or_insert((i, c.abs()));
            if c.abs() > e.1 {
                *e = (i, c.abs());
            }
        }
    }
    best
}

/// One verdict per CPI × KPI × dimension value, in key order.
pub(super) fn verdicts(
    rows: &[Row],
    q: &[Option<f64>],
    best: &HashMap<(String, String, Option<String>), (usize, f64)>,
    method: Method,
    per: Grain,
) -> Vec<String> {
    let mut keys: Vec<&(String, String, Option<String>)> = best.keys().collect();
    keys.sort();
    let unit = per.name();
    let sym = method.symbol();
    keys.into_iter()
        .map(|k| {
            let (i, _) = best[k];
            let r = &rows[i];
            let c = r.primary(method).unwrap_or(0.0);
            let qv = q[i].unwrap_or(1.0);
            let qtext = if qv < 0.001 {
                "q < 0.001".to_string()
            } else {
                format!("q = {qv:.3}")
            };
            let who = format!(
                "{}{}",
                r.cpi,
                r.dim
                    .as_ref()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default()
            );
            let directions = r
                .expected
                .map(|e| format!(" ({e} with the declared directions)"))
                .unwrap_or_default();
            if qv < 0.05 && r.lag == 0 {
                format!(
                    "{who} moves with {}, {sym} = {c:.2}, {qtext}{directions}",
                    r.kpi
                )
            } else if qv < 0.05 {
                let s = if r.lag == 1 { "" } else { "s" };
                format!(
                    "{who} leads {} by {} {unit}{s}, {sym} = {c:.2}, {qtext}{directions}",
                    r.kpi, r.lag
                )
            } else {
                format!(
                    "{who} and {}: no significant relation (best |{sym}| = {:.2} at lag {}, {qtext})",
                    r.kpi,
                    c.abs(),
                    r.lag
                )
            }
        })
        .collect()
}

/// The scatters of the best rows, the strongest relation first.
pub(super) fn scatters(
    rows: &[Row],
    best_rows: &BTreeSet<usize>,
    method: Method,
    per: Grain,
) -> Vec<Scatter> {
    let mut scatters: Vec<Scatter> = best_rows
        .iter()
        .map(|&i| {
            let r = &rows[i];
            Scatter {
                cpi: r.cpi.clone(),
                unit: r.unit,
                kpi: r.kpi.clone(),
                dimension: r.dim.clone(),
                lag: r.lag,
                per: per.name(),
                symbol: method.symbol(),
                coefficient: r.primary(method),
                points: r.pairs.clone(),
            }
        })
        .collect();
    scatters.sort_by(|a, b| {
        let strength = |s: &Scatter| s.coefficient.map_or(0.0, f64::abs);
        strength(b)
            .total_cmp(&strength(a))
            .then_with(|| (&a.cpi, &a.kpi, &a.dimension).cmp(&(&b.cpi, &b.kpi, &b.dimension)))
    });
    scatters
}
