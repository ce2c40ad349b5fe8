#![doc = include_str!("../README.md")]

pub mod chart; // charts of slices and correlations: terminal, SVG/PNG, sparklines
pub mod cli; // the one-shot command line: flags and glue
pub mod cluster; // scale-out on Ballista: df:// addresses, cluster sessions, `cpiq cluster`
pub mod correlate; // CPI-to-KPI correlation: lags, significance, per segment and per customer
pub mod cpi; // CPI definitions, parameters, the catalog of a CPI directory
pub mod engine; // the DataFusion session holding a workspace's tables and CPI views
pub mod error; // the one error enum
pub mod exec; // the session core every front end runs statements through
pub mod generate; // the deterministic sample data generator
pub mod output; // result formats and atomic exports
pub mod report; // the CPI scorecard and the self-contained HTML report of a job
pub mod rollup; // pre-aggregated CPI cells that answer repeated slices, and their staleness
pub mod shell; // the interactive shell
pub mod slice; // slicing CPIs by dimension and period, comparisons, explain-change
pub mod workspace; // cpiq.toml: which tables, KPI tables and CPIs exist

pub use error::{CpiqError, Result};
