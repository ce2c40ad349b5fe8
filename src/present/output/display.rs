//! Slice and comparison results as people read them in a terminal table:
//! values in their units, counts without decimals. Files keep raw numbers.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::analysis::slice::col;
use crate::foundation::columns::{as_floats, floats, strings};
use crate::foundation::error::Result;
use crate::model::cpi::{Unit, format_change, format_count, format_value};

/// The slice as people read it: values in their units (93.1%, 2.40 h),
/// counts without decimals. Only for the terminal table; files carry the raw
/// numbers.
pub fn display_batch(batch: &RecordBatch, units: &HashMap<String, Unit>) -> Result<RecordBatch> {
    let cpi = strings(batch, col::CPI)?;
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let col = batch.column(i);
        let name = f.name().as_str();
        let as_unit = [
            col::VALUE,
            col::TARGET,
            col::CI_LOW,
            col::CI_HIGH,
            col::PREVIOUS_VALUE,
        ]
        .contains(&name);
        let as_change = name == col::CHANGE;
        let as_count = name == col::NUMERATOR || name == col::DENOMINATOR;
        if !(as_unit || as_change || as_count || name == col::CHANGE_PCT) {
            fields.push(f.as_ref().clone());
            arrays.push(col.clone());
            continue;
        }
        let v = floats(batch, name)?;
        let out: StringArray = (0..batch.num_rows())
            .map(|r| {
                if v.is_null(r) {
                    return None;
                }
                let unit = units.get(cpi.value(r)).copied().unwrap_or(Unit::Ratio);
                let x = v.value(r);
                Some(if as_unit {
                    format_value(unit, x)
                } else if as_change {
                    format_change(unit, x)
                } else if as_count {
                    format_count(x)
                } else {
                    format!("{}{x:.1}%", if x > 0.0 { "+" } else { "" })
                })
            })
            .collect();
        fields.push(Field::new(name, DataType::Utf8, true));
        arrays.push(Arc::new(out));
    }
    let schema = Schema::new(fields).with_metadata(HashMap::from([(
        DISPLAY_ONLY.to_string(),
        "true".to_string(),
    )]));
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
}

/// Schema metadata key marking a batch already formatted for people: the
/// table renderer shows no column types for it.
pub const DISPLAY_ONLY: &str = "cpiq.display";

/// The correlation and Granger tables as people read them: figures to 3 decimals,
/// p- and q-values as `<0.001` when tiny. Only for the terminal.
pub fn display_correlation(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, f) in batch.schema().fields().iter().enumerate() {
        let col = batch.column(i);
        if f.data_type() != &DataType::Float64 {
            fields.push(f.as_ref().clone());
            arrays.push(col.clone());
            continue;
        }
        let v = as_floats(col)?;
        let is_p = f.name().contains("p_value") || f.name() == "q_value";
        let out: StringArray = (0..v.len())
            .map(|r| {
                (!v.is_null(r)).then(|| {
                    let x = v.value(r);
                    if is_p && x < 0.001 {
                        "<0.001".to_string()
                    } else {
                        format!("{x:.3}")
                    }
                })
            })
            .collect();
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        arrays.push(Arc::new(out));
    }
    let schema = Schema::new(fields).with_metadata(HashMap::from([(
        DISPLAY_ONLY.to_string(),
        "true".to_string(),
    )]));
    Ok(RecordBatch::try_new(Arc::new(schema), arrays)?)
}
