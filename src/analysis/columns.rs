//! Result column names that more than one analysis's table carries, spelled
//! once. Each table's own `col` module re-exports the ones it has, beside the
//! names only it has, so readers name a column as `slice::col::CPI` or
//! `granger::col::Q_VALUE` and every table agrees on the spelling.

/// The CPI.
pub const CPI: &str = "cpi";
/// The KPI, as `kpi_table.column`.
pub const KPI: &str = "kpi";
/// Observations behind the row (pairs, periods or regression rows).
pub const N: &str = "n";
/// The p-value of the row's test.
pub const P_VALUE: &str = "p_value";
/// Benjamini–Hochberg q-value over every row of the result.
pub const Q_VALUE: &str = "q_value";
/// q < 0.05.
pub const SIGNIFICANT: &str = "significant";
/// Interval, low end (Wilson for proportions, Fisher for correlations).
pub const CI_LOW: &str = "ci_low";
/// Interval, high end.
pub const CI_HIGH: &str = "ci_high";
/// Whether the sign agrees with the declared directions.
pub const EXPECTED: &str = "expected";
