//! The multivariate model of one dimension value: the KPI at t regressed on
//! every CPI at its own lead, all z-scored, with Newey–West standard errors
//! and each CPI's Shapley share (LMG) of R².

use statrs::distribution::{ContinuousCDF, Normal};

use crate::analysis::timeseries::{Grid, ols};

use super::super::granger::Trend;

/// One CPI's figures in the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Term {
    pub(super) coef: f64,
    pub(super) se: f64,
    pub(super) p: f64,
    pub(super) importance: f64,
}

/// The model's result: a term per CPI (in input order) and R².
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Model {
    pub(super) terms: Vec<Term>,
    pub(super) r2: f64,
    pub(super) n: usize,
}

/// Newey–West lags for n observations: ⌊4·(n/100)^(2/9)⌋.
pub fn newey_west_lags(n: usize) -> usize {
    (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize
}

/// z-scores (mean 0, standard deviation with n − 1); `None` without variance.
fn z_scored(v: &[f64]) -> Option<Vec<f64>> {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    (sd > 0.0).then(|| v.iter().map(|x| (x - mean) / sd).collect())
}

/// The rows of the model: y_t and each CPI c at t − lead_c, where all exist;
/// returns (positions, y, columns).
pub(super) fn aligned(
    y: &[Option<f64>],
    cpis: &[(&Grid, usize)],
) -> (Vec<usize>, Vec<f64>, Vec<Vec<f64>>) {
    let (mut ts, mut ys, mut cols) = (Vec::new(), Vec::new(), vec![Vec::new(); cpis.len()]);
    for (t, yt) in y.iter().enumerate() {
        let Some(yt) = *yt else { continue };
        let xs: Option<Vec<f64>> = cpis
            .iter()
            .map(|(x, lead)| {
                t.checked_sub(*lead)
                    .and_then(|i| x.get(i).copied().flatten())
            })
            .collect();
        if let Some(xs) = xs {
            ts.push(t);
            ys.push(yt);
            for (c, v) in cols.iter_mut().zip(xs) {
                c.push(v);
            }
        }
    }
    (ts, ys, cols)
}

/// The design of the CPIs in `subset` (indices into `cols`), after the
/// constant and, under `ct`, the trend.
fn design(ts: &[usize], cols: &[Vec<f64>], subset: &[usize], trend: Trend) -> Vec<Vec<f64>> {
    (0..ts.len())
        .map(|i| {
            let mut row = vec![1.0];
            if trend == Trend::Ct {
                row.push(ts[i] as f64);
            }
            row.extend(subset.iter().map(|&c| cols[c][i]));
            row
        })
        .collect()
}

/// Fit the model; `None` when it cannot be fitted (too few observations,
/// a constant series).
pub(super) fn fit(y: &[Option<f64>], cpis: &[(&Grid, usize)], trend: Trend) -> Option<Model> {
    let (ts, ys, cols) = aligned(y, cpis);
    let k = cpis.len();
    let ys = z_scored(&ys)?;
    let cols: Vec<Vec<f64>> = cols.iter().map(|c| z_scored(c)).collect::<Option<_>>()?;
    let all: Vec<usize> = (0..k).collect();
    let x = design(&ts, &cols, &all, trend);
    let full = ols::fit(&x, &ys)?;
    let se = ols::hac_se(&x, &ys, &full, newey_west_lags(full.n))?;
    let r2_of = |subset: &[usize]| -> Option<f64> {
        let f = ols::fit(&design(&ts, &cols, subset, trend), &ys)?;
        Some(ols::r_squared(&f, &ys))
    };
    let importance = shapley(k, &r2_of)?;
    let offset = if trend == Trend::Ct { 2 } else { 1 };
    let normal = Normal::new(0.0, 1.0).ok()?;
    let terms = (0..k)
        .map(|c| {
            let (coef, se) = (full.coef[offset + c], se[offset + c]);
            Term {
                coef,
                se,
                p: 2.0 * normal.sf((coef / se).abs()),
                importance: importance[c],
            }
        })
        .collect();
    Some(Model {
        terms,
        r2: ols::r_squared(&full, &ys),
        n: full.n,
    })
}

/// Shapley values of `value` over `k` players by every subset:
/// φ_c = Σ_{S ∌ c} |S|!(k−|S|−1)!/k! · (v(S ∪ {c}) − v(S)). `value(∅)` is
/// the trend-only (or constant-only) model, so the shares add up to
/// v(all) − v(∅).
pub fn shapley(k: usize, value: &dyn Fn(&[usize]) -> Option<f64>) -> Option<Vec<f64>> {
    let mut v = vec![0.0; 1 << k];
    for (mask, slot) in v.iter_mut().enumerate() {
        let subset: Vec<usize> = (0..k).filter(|c| mask & (1 << c) != 0).collect();
        *slot = value(&subset)?;
    }
    let fact = |n: usize| (1..=n).map(|i| i as f64).product::<f64>();
    let mut out = vec![0.0; k];
    for (c, share) in out.iter_mut().enumerate() {
        for mask in 0..(1usize << k) {
            if mask & (1 << c) != 0 {
                continue;
            }
            let s = mask.count_ones() as usize;
            let w = fact(s) * fact(k - s - 1) / fact(k);
            *share += w * (v[mask | (1 << c)] - v[mask]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newey_west_lags_follow_the_rule_of_thumb() {
        // ⌊4·(n/100)^(2/9)⌋: 100 → 4, 22 → 2 (4·0.22^0.222 = 2.86), 240 → 4.
        assert_eq!(newey_west_lags(100), 4);
        assert_eq!(newey_west_lags(22), 2);
        assert_eq!(newey_west_lags(240), 4);
    }

    #[test]
    fn shapley_of_an_additive_game_is_each_players_worth() {
        // v(S) = Σ w_c: each player's share is its own worth.
        let w = [0.5, 0.2, 0.1];
        let shares = shapley(3, &|s| Some(s.iter().map(|&c| w[c]).sum())).unwrap();
        for (a, b) in shares.iter().zip(w) {
            assert!((a - b).abs() < 1e-12);
        }
        // Two perfect substitutes split their joint worth.
        let shares = shapley(2, &|s| Some(if s.is_empty() { 0.0 } else { 0.6 })).unwrap();
        assert!((shares[0] - 0.3).abs() < 1e-12 && (shares[1] - 0.3).abs() < 1e-12);
    }
}
