//! The analyses: requests in, Arrow batches out. Slices (with comparisons
//! and explain-change), rollups and their choice, correlations. They run on
//! an [`crate::engine::Engine`] and know no terminal, file format or flag.

pub(crate) mod columns; // result column names that several analyses' tables share
pub mod correlate; // CPI-to-KPI correlation: lags, significance, per segment and per customer
pub(crate) mod drivers; // key-driver analysis over time: leads, forecasts, placebos, Shapley importance
pub(crate) mod granger; // Granger tests in both directions, with Toda–Yamamoto augmentation
pub mod plan; // the thin layer that answers requests: rollup or view, then slice
pub(crate) mod profile; // relation profiles: rows, files, time ranges for `\d`; SUMMARIZE
pub mod rollup; // pre-aggregated CPI cells that answer repeated slices, and their staleness
pub mod slice; // slicing CPIs by dimension and period, comparisons, explain-change
pub(crate) mod timeseries; // OLS, F tests, AR order by AIC, prewhitening: the numbers time-series analyses share
