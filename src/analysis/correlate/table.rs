//! The correlation result as a table: one row per CPI × KPI × dimension
//! value × lag, its columns named by the constants here.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::{Method, Row};
use crate::foundation::columns::column_of;
use crate::foundation::error::Result;

/// Result column names that other modules read.
pub mod col {
    pub use crate::analysis::columns::{
        CI_HIGH, CI_LOW, CPI, EXPECTED, KPI, N, P_VALUE, Q_VALUE, SIGNIFICANT,
    };

    /// The lag in periods (the CPI leads).
    pub const LAG: &str = "lag";
    /// The CPI's AR order used to prewhiten both series (`--prewhiten`).
    pub const AR_ORDER: &str = "ar_order";
    /// Pearson's r.
    pub const PEARSON_R: &str = "pearson_r";
    /// Spearman's rho.
    pub const SPEARMAN_RHO: &str = "spearman_rho";
    /// Spearman's p-value (`--method both`).
    pub const SPEARMAN_P_VALUE: &str = "spearman_p_value";
    /// The best lag of its CPI × KPI × dimension value.
    pub const BEST_LAG: &str = "best_lag";
}

/// The table of `rows` with their q-values; `by` names the dimension column.
pub(super) fn batch(
    rows: &[Row],
    q: &[Option<f64>],
    best_rows: &BTreeSet<usize>,
    by: Option<&str>,
    method: Method,
    prewhitened: bool,
) -> Result<RecordBatch> {
    let mut fields = vec![
        Field::new(col::CPI, DataType::Utf8, false),
        Field::new(col::KPI, DataType::Utf8, false),
    ];
    fields.extend(by.map(|d| Field::new(d, DataType::Utf8, true)));
    fields.push(Field::new(col::LAG, DataType::Int64, false));
    if prewhitened {
        fields.push(Field::new(col::AR_ORDER, DataType::Int64, true));
    }
    fields.push(Field::new(col::N, DataType::Int64, false));
    // The statistics: null where a pair is too short or constant.
    let spearman_p = (method == Method::Both).then_some(col::SPEARMAN_P_VALUE);
    let statistics = [col::PEARSON_R, col::SPEARMAN_RHO, col::P_VALUE]
        .into_iter()
        .chain(spearman_p)
        .chain([col::CI_LOW, col::CI_HIGH, col::Q_VALUE]);
    fields.extend(statistics.map(|name| Field::new(name, DataType::Float64, true)));
    fields.extend(
        [
            (col::SIGNIFICANT, DataType::Boolean),
            (col::BEST_LAG, DataType::Boolean),
            (col::EXPECTED, DataType::Utf8),
        ]
        .map(|(name, t)| Field::new(name, t, true)),
    );
    let f64s = |f: &dyn Fn(&Row) -> Option<f64>| column_of::<_, Float64Array, _>(rows, f);
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.cpi.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.kpi.as_str()),
        )),
    ];
    if by.is_some() {
        arrays.push(Arc::new(StringArray::from(
            rows.iter().map(|r| r.dim.clone()).collect::<Vec<_>>(),
        )));
    }
    arrays.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.lag as i64),
    )));
    if prewhitened {
        arrays.push(Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| r.ar_order.map(|o| o as i64))
                .collect::<Vec<_>>(),
        )));
    }
    arrays.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.n as i64),
    )));
    arrays.push(f64s(&|r| r.r));
    arrays.push(f64s(&|r| r.rho));
    arrays.push(f64s(&|r| r.p));
    if method == Method::Both {
        arrays.push(f64s(&|r| r.sp));
    }
    arrays.push(f64s(&|r| r.ci.map(|c| c.0)));
    arrays.push(f64s(&|r| r.ci.map(|c| c.1)));
    arrays.push(Arc::new(Float64Array::from(q.to_vec())));
    arrays.push(Arc::new(BooleanArray::from(
        q.iter().map(|q| q.map(|q| q < 0.05)).collect::<Vec<_>>(),
    )));
    arrays.push(Arc::new(BooleanArray::from(
        (0..rows.len())
            .map(|i| Some(best_rows.contains(&i)))
            .collect::<Vec<_>>(),
    )));
    arrays.push(Arc::new(StringArray::from(
        rows.iter().map(|r| r.expected).collect::<Vec<_>>(),
    )));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
