//! The evidence for one CPI as a driver of the KPI, from their two gridded
//! series: its lead (prewhitened cross-correlation), the out-of-sample gain
//! of its lags in one-step forecasts, and the placebo p-value of its lead.

use crate::analysis::correlate::stats::pearson;
use crate::analysis::timeseries::{Grid, ar, lags, ols};
use crate::foundation::random::SplitMix64;

use super::super::granger::Trend;

/// The pairs (a_t, b_{t+lag}) where both exist.
pub(super) fn pairs(a: &[Option<f64>], b: &[Option<f64>], lag: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (t, u) in a.iter().enumerate() {
        if let (Some(u), Some(Some(v))) = (u, b.get(t + lag)) {
            x.push(*u);
            y.push(*v);
        }
    }
    (x, y)
}

/// Both series filtered by the CPI's AR polynomial (order ≤ `max_lag` by
/// AIC), as `correlate --prewhiten` does.
pub(super) fn prewhitened(
    x: &[Option<f64>],
    y: &[Option<f64>],
    max_lag: usize,
) -> Option<(Grid, Grid)> {
    let model = ar::select(x, max_lag)?;
    Some((ar::filter(x, &model.phi), ar::filter(y, &model.phi)))
}

/// The lead L in 1..=`max_lag` with the largest |r| between the filtered
/// CPI at t and the filtered KPI at t + L, and that r.
pub(super) fn lead(e: &[Option<f64>], f: &[Option<f64>], max_lag: usize) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for lag in 1..=max_lag {
        let (a, b) = pairs(e, f, lag);
        if let Some(r) = pearson(&a, &b)
            && best.is_none_or(|(_, br)| r.abs() > br.abs())
        {
            best = Some((lag, r));
        }
    }
    best
}

/// (1 + placebos with |r| ≥ |observed|) / (1 + N): each placebo the
/// filtered CPI series shifted circularly by s positions (e'_t = e_{(t+s)
/// mod n}), s drawn from M+1 ..= n−M−1 by SplitMix64(`seed`) — the same
/// shifts for every row — and correlated with the filtered KPI at lag L.
pub(super) fn placebo_p(
    e: &[Option<f64>],
    f: &[Option<f64>],
    lag: usize,
    observed: f64,
    max_lag: usize,
    placebos: usize,
    seed: u64,
) -> Option<f64> {
    let n = e.len();
    let (lo, hi) = (max_lag + 1, n.checked_sub(max_lag + 1)?);
    if placebos == 0 || hi < lo {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let mut at_least = 0usize;
    for _ in 0..placebos {
        let s = lo + (rng.next_u64() % (hi - lo + 1) as u64) as usize;
        let shifted: Grid = (0..n).map(|t| e[(t + s) % n]).collect();
        let (a, b) = pairs(&shifted, f, lag);
        if pearson(&a, &b).is_some_and(|r| r.abs() >= observed.abs()) {
            at_least += 1;
        }
    }
    Some((1 + at_least) as f64 / (1 + placebos) as f64)
}

/// (position, base row, full row, y_t).
type ForecastRow = (usize, Vec<f64>, Vec<f64>, f64);

/// The regression rows of the KPI at t: [1, (t), y_{t−1..t−p}] and, for
/// the full model, x_{t−1..t−p}; positions where every term exists.
fn forecast_rows(x: &[Option<f64>], y: &[Option<f64>], p: usize, trend: Trend) -> Vec<ForecastRow> {
    let mut out = Vec::new();
    for t in 0..y.len() {
        let (Some(yt), Some(own), Some(other)) = (y[t], lags(y, t, p), lags(x, t, p)) else {
            continue;
        };
        let mut base = vec![1.0];
        if trend == Trend::Ct {
            base.push(t as f64);
        }
        base.extend(own);
        let mut full = base.clone();
        full.extend(other);
        out.push((t, base, full, yt));
    }
    out
}

/// 1 − MAE(full)/MAE(base) over one-step forecasts of the last `holdout`
/// observations, each model fitted on the observations before it.
pub(super) fn oos_gain(
    x: &[Option<f64>],
    y: &[Option<f64>],
    p: usize,
    trend: Trend,
    holdout: usize,
) -> Option<f64> {
    let rows = forecast_rows(x, y, p, trend);
    if holdout == 0 || rows.len() <= holdout {
        return None;
    }
    let (mut err_base, mut err_full) = (0.0, 0.0);
    for i in rows.len() - holdout..rows.len() {
        let before = &rows[..i];
        let ys: Vec<f64> = before.iter().map(|r| r.3).collect();
        let fit = |pick: &dyn Fn(&ForecastRow) -> Vec<f64>| {
            ols::fit(&before.iter().map(pick).collect::<Vec<_>>(), &ys)
        };
        let base = fit(&|r| r.1.clone())?;
        let full = fit(&|r| r.2.clone())?;
        let predict =
            |coef: &[f64], row: &[f64]| coef.iter().zip(row).map(|(a, b)| a * b).sum::<f64>();
        let (_, b_row, f_row, actual) = &rows[i];
        err_base += (actual - predict(&base.coef, b_row)).abs();
        err_full += (actual - predict(&full.coef, f_row)).abs();
    }
    (err_base > 0.0).then(|| 1.0 - err_full / err_base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_is_found_at_its_lag() {
        let e: Grid = (0..30).map(|t| Some(((t * 7919) % 31) as f64)).collect();
        let f: Grid = (0..30)
            .map(|t| if t >= 2 { e[t - 2] } else { None })
            .collect();
        let (lag, r) = lead(&e, &f, 4).unwrap();
        assert_eq!(lag, 2);
        assert!((r - 1.0).abs() < 1e-12);
    }
}
