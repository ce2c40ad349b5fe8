//! Presentation: result formats and exports, charts, the scorecard and the
//! HTML report. It renders what the analyses return and knows nothing of
//! how a request was typed.

pub mod chart; // charts of slices and correlations: terminal, SVG/PNG, sparklines
pub(crate) mod output; // result formats (table, CSV, JSON, Parquet) and exports
pub(crate) mod report; // the CPI scorecard and the self-contained HTML report of a job
