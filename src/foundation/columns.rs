//! Reading typed columns out of query results, building columns of rows,
//! and days since 1970 as dates.
//!
//! Slices, explain-change and correlation read the batches of their own
//! aggregate queries by column name. A missing column or an unexpected type
//! there is a bug of cpiq, not of the user; it is reported as an error
//! naming the column instead of a panic.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::foundation::error::{CpiqError, Result};

fn internal(name: &str, what: &str) -> CpiqError {
    CpiqError::Usage(format!("internal: column {name} {what}"))
}

/// The Arrow array `A` of `f` over `rows` (`None` for a null).
pub fn column_of<R, A, V>(rows: &[R], f: impl Fn(&R) -> Option<V>) -> ArrayRef
where
    A: Array + FromIterator<Option<V>> + 'static,
{
    Arc::new(rows.iter().map(f).collect::<A>())
}

/// The column `name`.
pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| internal(name, "is missing"))
}

/// The column `name` cast to `to` and downcast to `A`.
fn typed<A: Array + Clone + 'static>(batch: &RecordBatch, name: &str, to: &DataType) -> Result<A> {
    let a = cast(column(batch, name)?, to)?;
    a.as_any()
        .downcast_ref::<A>()
        .cloned()
        .ok_or_else(|| internal(name, &format!("is not {to}")))
}

/// The column `name` as text.
pub fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    typed(batch, name, &DataType::Utf8)
}

/// The column `name` as text, or `None` when the batch has no such column.
pub fn strings_if_present(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>> {
    match batch.column_by_name(name) {
        Some(_) => strings(batch, name).map(Some),
        None => Ok(None),
    }
}

/// The column `name` as 64-bit floats.
pub fn floats(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    typed(batch, name, &DataType::Float64)
}

/// The column `name` as 64-bit integers.
pub fn integers(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    typed(batch, name, &DataType::Int64)
}

/// The column `name` as dates.
pub fn dates(batch: &RecordBatch, name: &str) -> Result<Date32Array> {
    typed(batch, name, &DataType::Date32)
}

/// The column `name` as booleans.
pub fn booleans(batch: &RecordBatch, name: &str) -> Result<BooleanArray> {
    typed(batch, name, &DataType::Boolean)
}

/// An array that is already `Float64`, as such.
pub fn as_floats(a: &ArrayRef) -> Result<&Float64Array> {
    a.as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| internal("of the result", "is not Float64"))
}

/// 1970-01-01, checked when cpiq is compiled.
pub const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// The date `days` after 1970-01-01 (Arrow's `Date32`).
pub fn date_of(days: i32) -> Result<NaiveDate> {
    EPOCH
        .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
        .ok_or_else(|| CpiqError::Usage(format!("a date {days} days from 1970 is out of range")))
}

/// Days from 1970-01-01 to `d` (Arrow's `Date32`).
pub fn days_of(d: NaiveDate) -> i32 {
    // chrono dates span ±262,000 years: the day count fits in an i32.
    (d - EPOCH).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip_across_1970() {
        for d in [
            "1969-12-31",
            "1970-01-01",
            "1900-02-28",
            "2262-04-11",
            "2024-02-29",
        ] {
            let date: NaiveDate = d.parse().unwrap();
            assert_eq!(date_of(days_of(date)).unwrap(), date);
        }
        assert_eq!(days_of("1970-01-02".parse().unwrap()), 1);
        assert_eq!(days_of("1969-12-31".parse().unwrap()), -1);
        assert!(date_of(i32::MAX).is_err());
    }

    #[test]
    fn a_missing_or_mistyped_column_is_an_error() {
        let batch = RecordBatch::try_from_iter([(
            "s",
            std::sync::Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
        )])
        .unwrap();
        assert!(floats(&batch, "x").is_err());
        assert_eq!(strings(&batch, "s").unwrap().value(0), "a");
        assert!(strings_if_present(&batch, "x").unwrap().is_none());
        assert!(as_floats(batch.column(0)).is_err());
    }
}
