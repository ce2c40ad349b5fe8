//! Ordinary least squares on a small dense design, by singular value
//! decomposition (as numpy's `lstsq` and statsmodels' `pinv` fit), with the
//! quantities the tests need: the residual sum of squares, AIC and the F
//! test of a restricted model against the full one.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// A fitted regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Coefficients, in the order of the design's columns.
    pub coef: Vec<f64>,
    /// Residual sum of squares.
    pub ssr: f64,
    /// Observations.
    pub n: usize,
    /// Parameters (columns of the design, the constant included).
    pub k: usize,
}

impl Fit {
    /// Residual degrees of freedom, n − k.
    pub fn df_resid(&self) -> usize {
        self.n - self.k
    }

    /// Akaike's criterion up to a constant shared by every model fitted on
    /// the same observations: n·ln(ssr/n) + 2k. statsmodels' `OLS.aic` and
    /// `AutoReg`'s (−2·llf + 2k with the Gaussian log-likelihood) differ from
    /// it by n·(ln 2π + 1), so they rank models identically.
    pub fn aic(&self) -> f64 {
        let n = self.n as f64;
        n * (self.ssr / n).ln() + 2.0 * self.k as f64
    }
}

/// Least squares of `y` on the rows of `x` (each row one observation, the
/// constant a column of ones). `None` when there are no more observations
/// than parameters or the design is rank-deficient (a constant series, a
/// regressor repeating another), where no test is meaningful.
pub fn fit(x: &[Vec<f64>], y: &[f64]) -> Option<Fit> {
    let n = y.len();
    let k = x.first().map_or(0, Vec::len);
    if n != x.len() || k == 0 || n <= k {
        return None;
    }
    let design = DMatrix::from_fn(n, k, |i, j| x[i][j]);
    let target = DVector::from_column_slice(y);
    let svd = design.clone().svd(true, true);
    let largest = svd.singular_values.max();
    // numpy's rank tolerance: σ_max · max(n, k) · ε.
    let tol = largest * n.max(k) as f64 * f64::EPSILON;
    if largest == 0.0 || svd.rank(tol) < k {
        return None;
    }
    let coef = svd.solve(&target, tol).ok()?;
    let resid = &target - &design * &coef;
    Some(Fit {
        coef: coef.iter().copied().collect(),
        ssr: resid.norm_squared(),
        n,
        k,
    })
}

/// The F test of a restriction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FTest {
    /// The statistic.
    pub f: f64,
    /// Restrictions tested.
    pub df_num: usize,
    /// Residual degrees of freedom of the full model.
    pub df_den: usize,
    /// Upper-tail probability of F(df_num, df_den).
    pub p: f64,
}

/// F = ((ssr_r − ssr_f) / q) / (ssr_f / (n − k_f)) with q = k_f − k_r, the
/// restricted model fitted on the same observations (statsmodels'
/// `compare_f_test`, and for linear zero restrictions `f_test`).
pub fn f_test(restricted: &Fit, full: &Fit) -> Option<FTest> {
    let df_num = full.k.checked_sub(restricted.k).filter(|&q| q > 0)?;
    let df_den = full.df_resid();
    if restricted.n != full.n || df_den == 0 || full.ssr <= 0.0 {
        return None;
    }
    let f = ((restricted.ssr - full.ssr) / df_num as f64) / (full.ssr / df_den as f64);
    let f = f.max(0.0);
    let dist = FisherSnedecor::new(df_num as f64, df_den as f64).ok()?;
    Some(FTest {
        f,
        df_num,
        df_den,
        p: dist.sf(f),
    })
}

/// Coefficient standard errors robust to heteroskedasticity and
/// autocorrelation (Newey–West, Bartlett weights 1 − l/(m+1) up to `maxlags`):
/// statsmodels' `OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": m})`,
/// whose default applies no n/(n − k) factor (`use_correction=False`).
pub fn hac_se(x: &[Vec<f64>], y: &[f64], fit: &Fit, maxlags: usize) -> Option<Vec<f64>> {
    let (n, k) = (fit.n, fit.k);
    let design = DMatrix::from_fn(n, k, |i, j| x[i][j]);
    let beta = DVector::from_column_slice(&fit.coef);
    let resid = DVector::from_column_slice(y) - &design * &beta;
    let xtx_inv = (design.transpose() * &design).try_inverse()?;
    let xu = DMatrix::from_fn(n, k, |i, j| design[(i, j)] * resid[i]);
    let mut s = xu.transpose() * &xu;
    for lag in 1..=maxlags.min(n.saturating_sub(1)) {
        let w = 1.0 - lag as f64 / (maxlags as f64 + 1.0);
        let later = xu.rows(lag, n - lag);
        let earlier = xu.rows(0, n - lag);
        let g = later.transpose() * earlier;
        s += (&g + g.transpose()) * w;
    }
    let cov = &xtx_inv * s * &xtx_inv;
    Some((0..k).map(|j| cov[(j, j)].max(0.0).sqrt()).collect())
}

/// R² of a fit with a constant: 1 − SSR / Σ(y − ȳ)².
pub fn r_squared(fit: &Fit, y: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let sst: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
    if sst == 0.0 { 0.0 } else { 1.0 - fit.ssr / sst }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_line_is_recovered() {
        // y = 2 + 3x, hand-worked: coefficients exact, no residual.
        let x: Vec<Vec<f64>> = (0..5).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..5).map(|i| 2.0 + 3.0 * i as f64).collect();
        let f = fit(&x, &y).unwrap();
        assert!((f.coef[0] - 2.0).abs() < 1e-12 && (f.coef[1] - 3.0).abs() < 1e-12);
        assert!(f.ssr < 1e-20);
    }

    #[test]
    fn a_hand_worked_f_test() {
        // y = (1, 2, 2, 4, 5) on x = (0..5): full model ssr by hand.
        // Means: x̄ = 2, ȳ = 2.8; Sxy = 3.6 + 0.8 + 0 + 1.2 + 4.4 = 10,
        // Sxx = 10, Syy = 10.8: slope 1, ssr_full = 10.8 − 10²/10 = 0.8;
        // the constant-only model leaves Syy: ssr_restricted = 10.8.
        let y = [1.0, 2.0, 2.0, 4.0, 5.0];
        let full = fit(&(0..5).map(|i| vec![1.0, i as f64]).collect::<Vec<_>>(), &y).unwrap();
        let restricted = fit(&vec![vec![1.0]; 5], &y).unwrap();
        assert!((full.coef[1] - 1.0).abs() < 1e-12);
        assert!((full.ssr - 0.8).abs() < 1e-12);
        assert!((restricted.ssr - 10.8).abs() < 1e-12);
        let t = f_test(&restricted, &full).unwrap();
        // F = (10 / 1) / (0.8 / 3) = 37.5.
        assert!((t.f - 37.5).abs() < 1e-10);
        assert_eq!((t.df_num, t.df_den), (1, 3));
        // P(F(1,3) > 37.5) = 0.008754412 (scipy.stats.f.sf).
        assert!((t.p - 0.008_754_412_359).abs() < 1e-10, "{}", t.p);
    }

    #[test]
    fn degenerate_designs_give_nothing() {
        let y = [1.0, 2.0, 3.0, 4.0];
        // Two identical columns.
        assert!(fit(&vec![vec![1.0, 1.0]; 4], &y).is_none());
        // No more observations than parameters.
        assert!(fit(&[vec![1.0, 0.0], vec![1.0, 1.0]], &y[..2]).is_none());
    }
}
