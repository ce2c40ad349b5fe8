//! Prewhitening before a cross-correlation: the CPI's own persistence is
//! filtered out of both series, so that two autocorrelated series do not
//! correlate merely because each is smooth.
//!
//! Per dimension value, an AR(p) with a constant is fitted to the CPI
//! series, p in 0..=M chosen by AIC as statsmodels' `ar_select_order(x,
//! maxlag=M, ic="aic", trend="c")` does and then fitted on all its
//! observations as `AutoReg(x, lags=p, trend="c")`; both the CPI and the KPI
//! are filtered with that polynomial, e_t = x_t − Σ φᵢ·x_{t−i}.

use std::collections::BTreeMap;

use super::series::{Series, on_grid};
use crate::analysis::timeseries::ar;
use crate::model::calendar::{Calendar, Grain};

/// The two series filtered, and the AR order used per dimension value.
pub struct Prewhitened {
    /// The filtered CPI series.
    pub cpi: Series,
    /// The filtered KPI series.
    pub kpi: Series,
    /// The AR order per dimension value.
    pub orders: BTreeMap<Option<String>, usize>,
}

/// Filter `cpi` and `kpi` by the CPI's AR polynomial, per dimension value.
/// A dimension value whose CPI cannot be fitted even as AR(0) is dropped.
pub fn prewhiten(
    cpi: &Series,
    kpi: &Series,
    cal: &Calendar,
    per: Grain,
    max_lag: usize,
) -> Prewhitened {
    let mut out = Prewhitened {
        cpi: Series::new(),
        kpi: Series::new(),
        orders: BTreeMap::new(),
    };
    let dims: std::collections::BTreeSet<Option<String>> =
        cpi.keys().map(|(d, _, _)| d.clone()).collect();
    for dim in dims {
        let (periods, x, y) = on_grid(cpi, kpi, &dim, cal, per);
        let Some(model) = ar::select(&x, max_lag) else {
            continue;
        };
        for (target, grid) in [
            (&mut out.cpi, ar::filter(&x, &model.phi)),
            (&mut out.kpi, ar::filter(&y, &model.phi)),
        ] {
            for (p, v) in periods.iter().zip(grid) {
                if let Some(v) = v {
                    target.insert((dim.clone(), None, *p), v);
                }
            }
        }
        out.orders.insert(dim, model.order);
    }
    out
}
