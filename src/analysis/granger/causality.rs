//! The Granger test on two series already on one period grid: does `x`
//! lead `y`? Pure numbers, checked against statsmodels.
//!
//! The full regression is y_t on a constant (and t under `ct`), y_{t−1..t−K}
//! and x_{t−1..t−K}, K = N + D (D the Toda–Yamamoto augmentation); the
//! restricted one drops x_{t−1..t−N}. The statistic is the F test of that
//! restriction on the same observations: with `c`, D = 0 and no gaps it is
//! statsmodels' `grangercausalitytests` "ssr based F test" at lag N; with D >
//! 0 it is the Wald test of the first N lags of x in F form.

use crate::analysis::timeseries::ols::{self, FTest, Fit};
use crate::analysis::timeseries::{lagged, lags};

use super::{LagChoice, Trend};

/// How a test is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestSpec {
    /// The lag order, fixed or chosen by AIC.
    pub lags: LagChoice,
    /// Constant, or constant and linear trend.
    pub trend: Trend,
    /// Extra lags of both variables that are not tested (Toda–Yamamoto).
    pub augment: usize,
}

/// The outcome of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The lag order used (N).
    pub lags: usize,
    /// Observations in the regression.
    pub n: usize,
    /// The F test; `None` with fewer than 3·N + 5 observations or a
    /// degenerate regression.
    pub test: Option<FTest>,
}

/// The regression rows of the full and restricted models at order `n_lags`
/// over the positions `keep` admits: (full rows, restricted rows, y).
fn design(
    x: &[Option<f64>],
    y: &[Option<f64>],
    n_lags: usize,
    spec: &TestSpec,
    keep: impl Fn(usize) -> bool,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
    let k = n_lags + spec.augment;
    let (mut full, mut restricted, mut ys) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..y.len() {
        let (Some(yt), true) = (y[t], keep(t)) else {
            continue;
        };
        let (Some(own), Some(other)) = (lags(y, t, k), lags(x, t, k)) else {
            continue;
        };
        let mut base = vec![1.0];
        if spec.trend == Trend::Ct {
            base.push(t as f64);
        }
        base.extend(&own);
        let mut r = base.clone();
        r.extend(&other[n_lags..]);
        let mut f = base;
        f.extend(&other);
        full.push(f);
        restricted.push(r);
        ys.push(yt);
    }
    (full, restricted, ys)
}

/// The lag order in 1..=`max` whose full regression has the smallest AIC,
/// every order fitted on the observations with `max` + D lags behind them.
fn select(x: &[Option<f64>], y: &[Option<f64>], max: usize, spec: &TestSpec) -> Option<usize> {
    let reach = max + spec.augment;
    let common =
        |t: usize| (1..=reach).all(|i| lagged(x, t, i).is_some() && lagged(y, t, i).is_some());
    let mut best: Option<(f64, usize)> = None;
    for n in 1..=max {
        let (full, _, ys) = design(x, y, n, spec, common);
        if let Some(f) = ols::fit(&full, &ys) {
            let aic = f.aic();
            if best.is_none_or(|(b, _)| aic < b) {
                best = Some((aic, n));
            }
        }
    }
    best.map(|(_, n)| n)
}

/// Does `x` lead `y`? The F test of x's first N lags in y's regression.
pub fn leads(x: &[Option<f64>], y: &[Option<f64>], spec: &TestSpec) -> Outcome {
    let n_lags = match spec.lags {
        LagChoice::Fixed(n) => Some(n),
        LagChoice::Max(m) => select(x, y, m, spec),
    };
    let Some(n_lags) = n_lags else {
        let lags = match spec.lags {
            LagChoice::Fixed(n) | LagChoice::Max(n) => n,
        };
        return Outcome {
            lags,
            n: 0,
            test: None,
        };
    };
    let (full, restricted, ys) = design(x, y, n_lags, spec, |_| true);
    let n = ys.len();
    let test = if n < 3 * n_lags + 5 {
        None
    } else {
        fits(&full, &restricted, &ys).and_then(|(f, r)| ols::f_test(&r, &f))
    };
    Outcome {
        lags: n_lags,
        n,
        test,
    }
}

fn fits(full: &[Vec<f64>], restricted: &[Vec<f64>], y: &[f64]) -> Option<(Fit, Fit)> {
    Some((ols::fit(full, y)?, ols::fit(restricted, y)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(lags: LagChoice, trend: Trend, augment: usize) -> TestSpec {
        TestSpec {
            lags,
            trend,
            augment,
        }
    }

    /// A deterministic pseudo-random walk of small integers, so the test
    /// needs no generator.
    fn noise(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 1000) as f64 / 1000.0 - 0.5
            })
            .collect()
    }

    #[test]
    fn a_driver_leads_and_is_not_led() {
        let x = noise(1, 60);
        let e = noise(2, 60);
        let y: Vec<f64> = (0..60)
            .map(|t| {
                if t == 0 {
                    0.0
                } else {
                    0.8 * x[t - 1] + 0.2 * e[t]
                }
            })
            .collect();
        let (x, y): (Vec<_>, Vec<_>) = (
            x.into_iter().map(Some).collect(),
            y.into_iter().map(Some).collect(),
        );
        let s = spec(LagChoice::Fixed(1), Trend::Ct, 0);
        let forward = leads(&x, &y, &s);
        assert_eq!((forward.lags, forward.n), (1, 59));
        let t = forward.test.unwrap();
        assert_eq!((t.df_num, t.df_den), (1, 59 - 4));
        assert!(t.p < 1e-10, "{t:?}");
        assert!(leads(&y, &x, &s).test.unwrap().p > 0.01);
    }

    #[test]
    fn a_gap_drops_observations_and_never_shifts_a_lag() {
        let x: Vec<Option<f64>> = noise(3, 40).into_iter().map(Some).collect();
        let mut y: Vec<Option<f64>> = (0..40)
            .map(|t| Some(if t == 0 { 0.0 } else { x[t - 1].unwrap() }))
            .collect();
        y[20] = None;
        // y[20] missing: t = 20 (y_t), t = 21 and 22 (y lag 1, 2) are dropped.
        let out = leads(&x, &y, &spec(LagChoice::Fixed(2), Trend::C, 0));
        assert_eq!(out.n, 38 - 3);
    }

    #[test]
    fn too_few_observations_give_no_statistic() {
        let x: Vec<Option<f64>> = noise(4, 12).into_iter().map(Some).collect();
        let y: Vec<Option<f64>> = noise(5, 12).into_iter().map(Some).collect();
        // N = 2: 10 observations < 3·2 + 5.
        let out = leads(&x, &y, &spec(LagChoice::Fixed(2), Trend::C, 0));
        assert_eq!((out.n, out.test), (10, None));
    }
}
