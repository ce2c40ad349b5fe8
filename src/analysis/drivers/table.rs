//! The drivers result as a table: one row per dimension value and CPI,
//! columns in the documented order and named by the constants here.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::model::Term;
use super::{Row, Verdict};
use crate::foundation::columns::column_of;
use crate::foundation::error::Result;

/// Result column names, in order (the `--by` dimension follows `kpi`).
pub mod col {
    pub use crate::analysis::columns::{CPI, EXPECTED, KPI, N};

    /// The lead in periods (1..M) with the largest prewhitened |r|.
    pub const LEAD: &str = "lead";
    /// Pearson's r of the levels at the lead.
    pub const R_LEVELS: &str = "r_levels";
    /// Pearson's r of the prewhitened series at the lead.
    pub const R_PREWHITENED: &str = "r_prewhitened";
    /// q-value of the Granger test that the CPI leads.
    pub const GRANGER_Q: &str = "granger_q";
    /// q-value of the Granger test that the KPI leads.
    pub const REVERSE_Q: &str = "reverse_q";
    /// 1 − MAE(with the CPI) / MAE(without) over one-step forecasts.
    pub const OOS_GAIN: &str = "oos_gain";
    /// Share of placebo shifts at least as strong as the lead.
    pub const PLACEBO_P: &str = "placebo_p";
    /// Standardised coefficient in the multivariate model.
    pub const COEF: &str = "coef";
    /// Its Newey–West standard error.
    pub const COEF_SE: &str = "coef_se";
    /// Its normal p-value.
    pub const COEF_P: &str = "coef_p";
    /// Shapley share of the model's R².
    pub const IMPORTANCE: &str = "importance";
    /// R² of the multivariate model.
    pub const MODEL_R2: &str = "model_r2";
    /// The verdict.
    pub const VERDICT: &str = "verdict";
}

/// One row with its q-values and verdict.
pub(super) type Ranked = (Row, Option<f64>, Option<f64>, Verdict);

/// The table of `rows` (already in output order).
pub(super) fn batch(kpi: &str, by: Option<&str>, rows: &[Ranked]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Ranked) -> Option<String>| column_of::<_, StringArray, _>(rows, f);
    let int = |f: &dyn Fn(&Ranked) -> Option<i64>| column_of::<_, Int64Array, _>(rows, f);
    let float = |f: &dyn Fn(&Ranked) -> Option<f64>| column_of::<_, Float64Array, _>(rows, f);
    let term = |f: &dyn Fn(&Term) -> f64| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|r| r.0.term.as_ref().map(f))
                .collect::<Float64Array>(),
        )
    };
    let mut fields = vec![Field::new(col::KPI, DataType::Utf8, false)];
    let mut columns = vec![text(&|_| Some(kpi.to_string()))];
    if let Some(d) = by {
        fields.push(Field::new(d, DataType::Utf8, true));
        columns.push(text(&|r| r.0.dim.clone()));
    }
    let rest: Vec<(&str, DataType, ArrayRef)> = vec![
        (col::CPI, DataType::Utf8, text(&|r| Some(r.0.cpi.clone()))),
        (
            col::LEAD,
            DataType::Int64,
            int(&|r| r.0.lead.map(|l| l as i64)),
        ),
        (col::N, DataType::Int64, int(&|r| Some(r.0.n as i64))),
        (col::R_LEVELS, DataType::Float64, float(&|r| r.0.r_levels)),
        (
            col::R_PREWHITENED,
            DataType::Float64,
            float(&|r| r.0.r_prewhitened),
        ),
        (col::GRANGER_Q, DataType::Float64, float(&|r| r.1)),
        (col::REVERSE_Q, DataType::Float64, float(&|r| r.2)),
        (col::OOS_GAIN, DataType::Float64, float(&|r| r.0.oos_gain)),
        (col::PLACEBO_P, DataType::Float64, float(&|r| r.0.placebo_p)),
        (col::COEF, DataType::Float64, term(&|t| t.coef)),
        (col::COEF_SE, DataType::Float64, term(&|t| t.se)),
        (col::COEF_P, DataType::Float64, term(&|t| t.p)),
        (col::IMPORTANCE, DataType::Float64, term(&|t| t.importance)),
        (col::MODEL_R2, DataType::Float64, float(&|r| r.0.model_r2)),
        (
            col::VERDICT,
            DataType::Utf8,
            text(&|r| Some(r.3.to_string())),
        ),
        (
            col::EXPECTED,
            DataType::Utf8,
            text(&|r| r.0.expected.map(String::from)),
        ),
    ];
    for (name, t, array) in rest {
        fields.push(Field::new(
            name,
            t,
            name != col::CPI && name != col::N && name != col::VERDICT,
        ));
        columns.push(array);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
