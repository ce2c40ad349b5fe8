//! Autoregressions with a constant, their order chosen by AIC, and the
//! prewhitening filter they define.
//!
//! As statsmodels' `ar_select_order(x, maxlag=M, ic="aic", trend="c")`:
//! every order p = 0..M is fitted by OLS on the same observations (those
//! with M lags behind them), the smallest AIC wins (the lower order on a
//! tie); the chosen order is then fitted on all the observations it can use,
//! as `AutoReg(x, lags=p, trend="c")` does.

use super::ols::{self, Fit};
use super::{Grid, lags};

/// A fitted AR(p) with a constant: x_t = c + Σ φᵢ·x_{t−i} + e_t.
#[derive(Debug, Clone, PartialEq)]
pub struct Ar {
    /// The order p.
    pub order: usize,
    /// The constant c.
    pub constant: f64,
    /// φ₁ … φ_p.
    pub phi: Vec<f64>,
    /// Observations the fit used.
    pub n: usize,
}

/// The regression of x_t on a constant and its first `p` lags, over the
/// positions `t` that `keep` admits and where those terms exist.
fn regress(x: &[Option<f64>], p: usize, keep: impl Fn(usize) -> bool) -> Option<Fit> {
    let (mut rows, mut ys) = (Vec::new(), Vec::new());
    for (t, v) in x.iter().enumerate() {
        let (Some(v), true) = (v, keep(t)) else {
            continue;
        };
        if let Some(l) = lags(x, t, p) {
            rows.push(std::iter::once(1.0).chain(l).collect::<Vec<f64>>());
            ys.push(*v);
        }
    }
    ols::fit(&rows, &ys)
}

/// Fit AR(`p`) on every observation with `p` lags behind it.
pub fn fit(x: &[Option<f64>], p: usize) -> Option<Ar> {
    let f = regress(x, p, |_| true)?;
    Some(Ar {
        order: p,
        constant: f.coef[0],
        phi: f.coef[1..].to_vec(),
        n: f.n,
    })
}

/// The order in 0..=`max_lag` with the smallest AIC, all fitted on the
/// observations that have `max_lag` lags behind them; then that order
/// fitted on all its observations. `None` when even AR(0) cannot be fitted.
pub fn select(x: &[Option<f64>], max_lag: usize) -> Option<Ar> {
    let common = |t: usize| lags(x, t, max_lag).is_some();
    let mut best: Option<(f64, usize)> = None;
    for p in 0..=max_lag {
        if let Some(f) = regress(x, p, common) {
            let aic = f.aic();
            if best.is_none_or(|(b, _)| aic < b) {
                best = Some((aic, p));
            }
        }
    }
    fit(x, best?.1)
}

/// The series filtered by the AR polynomial: e_t = x_t − Σ φᵢ·x_{t−i}, `None`
/// where a term is missing. With no coefficients, the series itself.
pub fn filter(x: &[Option<f64>], phi: &[f64]) -> Grid {
    (0..x.len())
        .map(|t| {
            let v = x[t]?;
            let l = lags(x, t, phi.len())?;
            Some(v - phi.iter().zip(&l).map(|(a, b)| a * b).sum::<f64>())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_ar1_is_recovered_and_filtered_to_its_constant() {
        // x_t = 1 + 0.5·x_{t−1} from x_0 = 0: no noise, so the fit is exact
        // and the filter leaves the constant.
        let mut x = vec![Some(0.0)];
        for _ in 0..10 {
            let prev = x.last().unwrap().unwrap();
            x.push(Some(1.0 + 0.5 * prev));
        }
        let ar = fit(&x, 1).unwrap();
        assert!((ar.constant - 1.0).abs() < 1e-9 && (ar.phi[0] - 0.5).abs() < 1e-9);
        assert_eq!(ar.n, 10);
        let e = filter(&x, &ar.phi);
        assert_eq!(e[0], None);
        assert!(e[1..].iter().all(|v| (v.unwrap() - 1.0).abs() < 1e-9));
    }

    #[test]
    fn a_gap_costs_the_observations_that_need_it() {
        let x = vec![Some(1.0), Some(2.0), None, Some(1.5), Some(3.0), Some(2.5)];
        // AR(1) rows: t = 1 (needs 0), 4 (needs 3), 5 (needs 4).
        assert_eq!(fit(&x, 1).unwrap().n, 3);
        let e = filter(&x, &[0.5]);
        assert_eq!(e, vec![None, Some(1.5), None, None, Some(2.25), Some(1.0)]);
    }

    /// statsmodels' `ar_select_order` and `AutoReg` on the reference series
    /// (tests/reference/timeseries.py writes them).
    #[test]
    fn orders_and_coefficients_match_statsmodels() {
        let path = std::env::var("CPIQ_TIMESERIES_REFERENCE").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/reference/timeseries.json"
            )
            .into()
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fits = reference["ar"].as_array().unwrap();
        assert!(!fits.is_empty());
        for case in fits {
            let name = case["series"].as_str().unwrap();
            let x: Grid = reference["series"][name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64())
                .collect();
            let max_lag = case["max_lag"].as_u64().unwrap() as usize;
            let got = select(&x, max_lag).unwrap();
            assert_eq!(got.order as u64, case["order"].as_u64().unwrap(), "{name}");
            assert_eq!(got.n as u64, case["nobs"].as_u64().unwrap(), "{name}");
            let close = |a: f64, b: &serde_json::Value| (a - b.as_f64().unwrap()).abs() < 1e-6;
            assert!(close(got.constant, &case["const"]), "{name}: {got:?}");
            for (a, b) in got.phi.iter().zip(case["phi"].as_array().unwrap()) {
                assert!(close(*a, b), "{name}: {got:?}");
            }
        }
    }
}
