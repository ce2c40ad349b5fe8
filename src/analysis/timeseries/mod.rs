//! Time-series regressions the analyses share: least squares with the F test
//! of a restriction ([`ols`]), autoregressions chosen by AIC and the
//! prewhitening filter ([`ar`]), and the period grid they run on ([`Grid`]).
//!
//! Pure numbers on consecutive periods: this room builds no SQL, reads no
//! catalog and knows no calendar. Callers place their series on a [`Grid`]
//! (position i is the i-th period after the first, by the calendar), so a
//! lag is always a calendar lag and a missing period is a `None` that costs
//! the observations needing it, never a shifted lag. Definitions follow
//! statsmodels (`OLS`, `AutoReg`, `ar_select_order`), whose values the tests
//! compare against.

pub mod ar; // AR(p) by OLS, order by AIC on a common sample, the prewhitening filter
pub mod ols; // least squares, AIC, the F test of nested models

/// Values on consecutive periods: `values[i]` is period i after the first,
/// `None` where the period has no value.
pub type Grid = Vec<Option<f64>>;

/// The value at position `t - lag`, when both exist.
pub fn lagged(x: &[Option<f64>], t: usize, lag: usize) -> Option<f64> {
    t.checked_sub(lag).and_then(|i| x.get(i).copied().flatten())
}

/// `x[t - 1], …, x[t - k]`, or `None` if any is missing.
pub fn lags(x: &[Option<f64>], t: usize, k: usize) -> Option<Vec<f64>> {
    (1..=k).map(|i| lagged(x, t, i)).collect()
}
