//! The Granger result as a table: one row per CPI × KPI × dimension value ×
//! direction, columns in the documented order and named by the constants
//! here.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::{Row, TestSpec};
use crate::foundation::columns::column_of;
use crate::foundation::error::Result;

/// Result column names, in order (the `--by` dimension follows `kpi`).
pub mod col {
    pub use crate::analysis::columns::{CPI, KPI, N, P_VALUE, Q_VALUE, SIGNIFICANT};

    /// `cpi_leads` or `kpi_leads`.
    pub const DIRECTION: &str = "direction";
    /// The lag order N used.
    pub const LAGS: &str = "lags";
    /// Toda–Yamamoto extra lags D.
    pub const AUGMENT: &str = "augment";
    /// `c` or `ct`.
    pub const TREND: &str = "trend";
    /// The F statistic.
    pub const F_STAT: &str = "f_stat";
    /// Numerator degrees of freedom (N).
    pub const DF_NUM: &str = "df_num";
    /// Denominator degrees of freedom (residual df of the full model).
    pub const DF_DEN: &str = "df_den";
}

/// The significance level of `significant` and of the verdicts.
pub const ALPHA: f64 = 0.05;

/// The table of `rows` with their q-values; `by` names the dimension column.
// One column per entry, in the documented order: the list reads better whole.
pub(super) fn batch(
    rows: &[Row],
    q: &[Option<f64>],
    by: Option<&str>,
    spec: &TestSpec,
) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Row) -> Option<String>| column_of::<_, StringArray, _>(rows, f);
    let int = |f: &dyn Fn(&Row) -> Option<i64>| column_of::<_, Int64Array, _>(rows, f);
    let float = |f: &dyn Fn(&Row) -> Option<f64>| column_of::<_, Float64Array, _>(rows, f);
    let mut fields = vec![
        Field::new(col::CPI, DataType::Utf8, false),
        Field::new(col::KPI, DataType::Utf8, false),
    ];
    let mut columns = vec![
        text(&|r| Some(r.cpi.clone())),
        text(&|r| Some(r.kpi.clone())),
    ];
    if let Some(d) = by {
        fields.push(Field::new(d, DataType::Utf8, true));
        columns.push(text(&|r| r.dim.clone()));
    }
    let trend = spec.trend.as_str();
    let augment = spec.augment as i64;
    let rest: [(&str, DataType, bool, ArrayRef); 10] = [
        (
            col::DIRECTION,
            DataType::Utf8,
            false,
            text(&|r| Some(r.direction.to_string())),
        ),
        (
            col::LAGS,
            DataType::Int64,
            false,
            int(&|r| Some(r.outcome.lags as i64)),
        ),
        (
            col::AUGMENT,
            DataType::Int64,
            false,
            int(&|_| Some(augment)),
        ),
        (
            col::TREND,
            DataType::Utf8,
            false,
            text(&|_| Some(trend.to_string())),
        ),
        (
            col::N,
            DataType::Int64,
            false,
            int(&|r| Some(r.outcome.n as i64)),
        ),
        (
            col::F_STAT,
            DataType::Float64,
            true,
            float(&|r| r.outcome.test.map(|t| t.f)),
        ),
        (
            col::DF_NUM,
            DataType::Int64,
            true,
            int(&|r| r.outcome.test.map(|t| t.df_num as i64)),
        ),
        (
            col::DF_DEN,
            DataType::Int64,
            true,
            int(&|r| r.outcome.test.map(|t| t.df_den as i64)),
        ),
        (
            col::P_VALUE,
            DataType::Float64,
            true,
            float(&|r| r.outcome.test.map(|t| t.p)),
        ),
        (
            col::Q_VALUE,
            DataType::Float64,
            true,
            Arc::new(q.iter().copied().collect::<Float64Array>()),
        ),
    ];
    for (name, t, nullable, array) in rest {
        fields.push(Field::new(name, t, nullable));
        columns.push(array);
    }
    fields.push(Field::new(col::SIGNIFICANT, DataType::Boolean, true));
    columns.push(Arc::new(
        q.iter()
            .map(|q| q.map(|q| q < ALPHA))
            .collect::<BooleanArray>(),
    ));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
