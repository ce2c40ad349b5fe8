//! The statistics of correlation: Pearson, Spearman (Pearson over average
//! ranks), two-sided p-values from Student's t with n − 2 degrees of
//! freedom, Fisher-z confidence intervals, Benjamini–Hochberg q-values and
//! lag-1 autocorrelation. Distributions come from `statrs`.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Pearson's r of paired samples; `None` with fewer than 3 pairs or no variance.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 3 || n != y.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Average ranks (1-based; ties share the mean of their positions).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            out[idx[k]] = avg;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rho: Pearson's r over average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// Two-sided p-value of a correlation `r` over `n` pairs (t with n − 2 df).
pub fn p_value(r: f64, n: usize) -> Option<f64> {
    if n < 3 {
        return None;
    }
    if r.abs() >= 1.0 {
        return Some(0.0);
    }
    let df = (n - 2) as f64;
    let t = r * (df / (1.0 - r * r)).sqrt();
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0))
}

/// 95% confidence interval of `r` by Fisher's z; needs n > 3.
pub fn fisher_ci(r: f64, n: usize) -> Option<(f64, f64)> {
    if n <= 3 {
        return None;
    }
    let r = r.clamp(-0.999_999_999, 0.999_999_999);
    let z = r.atanh();
    let se = 1.0 / ((n - 3) as f64).sqrt();
    let q = 1.959_963_984_540_054;
    Some(((z - q * se).tanh(), (z + q * se).tanh()))
}

/// Benjamini–Hochberg q-values, in the order of `p` (`None` stays `None` and
/// does not count towards the number of tests).
pub fn benjamini_hochberg(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    let m = idx.len() as f64;
    idx.sort_by(|&a, &b| p[a].unwrap_or(1.0).total_cmp(&p[b].unwrap_or(1.0)));
    let mut q = vec![None; p.len()];
    let mut running = 1.0f64;
    for (rank, &i) in idx.iter().enumerate().rev() {
        let v = (p[i].unwrap_or(1.0) * m / (rank + 1) as f64).min(1.0);
        running = running.min(v);
        q[i] = Some(running);
    }
    q
}

/// Lag-1 autocorrelation of a series (Pearson of x[t] against x[t−1]).
pub fn autocorrelation(x: &[f64]) -> Option<f64> {
    if x.len() < 4 {
        return None;
    }
    pearson(&x[1..], &x[..x.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_matches_a_hand_computation() {
        // x = 1..5, y = 2, 4, 5, 4, 5: sxy = 6, sxx = 10, syy = 6.
        let r = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
        assert!((r - 6.0 / (60f64).sqrt()).abs() < 1e-12, "{r}");
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn spearman_is_pearson_over_average_ranks_with_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), [2.0, 3.5, 3.5, 1.0]);
        let x = [1.0, 2.0, 2.0, 3.0, 10.0];
        let y = [1.0, 3.0, 2.0, 4.0, 5.0];
        let rho = spearman(&x, &y).unwrap();
        let expected = pearson(&[1.0, 2.5, 2.5, 4.0, 5.0], &[1.0, 3.0, 2.0, 4.0, 5.0]).unwrap();
        assert!((rho - expected).abs() < 1e-12);
        // Monotone but not linear: rho is 1, r is not.
        let y2 = [1.0, 8.0, 27.0, 64.0, 1000.0];
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &y2).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn p_values_match_the_t_table() {
        // t = 2.0 with 10 df: two-sided p = 0.07339 (standard t table).
        // r with t = 2 and n = 12: r = 2 / sqrt(10 + 4).
        let r = 2.0 / 14f64.sqrt();
        assert!((p_value(r, 12).unwrap() - 0.073388).abs() < 1e-5);
        // Critical r for n = 10 at 0.05 is 0.6319 (table of critical values).
        assert!((p_value(0.6319, 10).unwrap() - 0.05).abs() < 2e-4);
        assert_eq!(p_value(0.5, 2), None);
    }

    #[test]
    fn fisher_interval_matches_a_hand_computation() {
        // r = 0.5, n = 28: z = 0.5493, se = 0.2, z ± 0.392 -> (0.1568, 0.9413) -> tanh.
        let (lo, hi) = fisher_ci(0.5, 28).unwrap();
        assert!((lo - 0.155_5).abs() < 1e-3, "{lo}");
        assert!((hi - 0.736_3).abs() < 1e-3, "{hi}");
        assert_eq!(fisher_ci(0.5, 3), None);
    }

    #[test]
    fn benjamini_hochberg_matches_a_hand_worked_example() {
        // p = 0.01, 0.04, 0.03, 0.005, NULL: m = 4; sorted 0.005, 0.01, 0.03, 0.04
        // raw q: 0.02, 0.02, 0.04, 0.04 (monotone from the top).
        let q = benjamini_hochberg(&[Some(0.01), Some(0.04), Some(0.03), Some(0.005), None]);
        let want = [Some(0.02), Some(0.04), Some(0.04), Some(0.02), None];
        for (a, b) in q.iter().zip(want) {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{a} vs {b}"),
                (None, None) => {}
                _ => panic!("{q:?}"),
            }
        }
    }

    #[test]
    fn autocorrelation_of_a_trend_is_high() {
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert!(autocorrelation(&x).unwrap() > 0.99);
    }
}
