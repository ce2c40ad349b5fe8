//! The points behind a correlation's scatter chart: the CPI at t against
//! the KPI at t + lag, with the fitted line. Correlation builds them; the
//! charts in [`crate::present::chart`] draw them.

use crate::model::cpi::Unit;

/// The CPI at t against the KPI at t + lag, with the fitted line.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    /// The CPI's name.
    pub cpi: String,
    /// Its unit (the x axis).
    pub unit: Unit,
    /// The KPI, as kpi_table.column.
    pub kpi: String,
    /// The dimension value, when the correlation was split by one.
    pub dimension: Option<String>,
    /// The lag in periods (the best one).
    pub lag: u32,
    /// The period name (month, week, quarter).
    pub per: &'static str,
    /// "r" (Pearson) or "rho" (Spearman).
    pub symbol: &'static str,
    /// The coefficient at this lag.
    pub coefficient: Option<f64>,
    /// (CPI, KPI) pairs.
    pub points: Vec<(f64, f64)>,
}

impl Scatter {
    /// The least-squares line `y = slope · x + intercept`; `None` with
    /// fewer than two distinct x.
    pub fn fit(&self) -> Option<(f64, f64)> {
        let n = self.points.len() as f64;
        if self.points.len() < 2 {
            return None;
        }
        let mx = self.points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = self.points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = self.points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = self.points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx == 0.0 || !sxx.is_finite() {
            return None;
        }
        let slope = sxy / sxx;
        Some((slope, my - slope * mx))
    }

    /// The chart's title: what against what, and the coefficient.
    pub fn title(&self) -> String {
        let s = if self.lag == 1 { "" } else { "s" };
        let dim = self
            .dimension
            .as_ref()
            .map(|d| format!(" [{d}]"))
            .unwrap_or_default();
        let coef = self
            .coefficient
            .map(|c| format!("{} = {c:.2}", self.symbol))
            .unwrap_or_else(|| format!("{} n/a", self.symbol));
        format!(
            "{}{dim} (t) vs {} (t+{} {}{s}): {coef}, n = {}",
            self.cpi,
            self.kpi,
            self.lag,
            self.per,
            self.points.len()
        )
    }
}
