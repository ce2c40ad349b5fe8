//! `SUMMARIZE`: one row per column of a relation or query, with the figures
//! DuckDB's `SUMMARIZE` gives, under its column names and with its
//! definitions — `count` is the relation's row count, `null_percentage`
//! the share of NULLs in that column (two decimals), `std` the sample
//! standard deviation, `approx_unique` a HyperLogLog estimate and the
//! quartiles t-digest estimates (`approx_percentile_cont`). Like DuckDB's,
//! the figures are text, since a column's minimum has the column's type.
//!
//! Everything is computed in one aggregate over the data: one scan.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{
    approx_distinct, approx_percentile_cont, avg, count, max, min, stddev, sum,
};
use datafusion::logical_expr::{Expr, cast as cast_expr, ident, lit};

use crate::foundation::error::{CpiqError, Result};

/// The quartiles, as DuckDB names them.
const QUARTILES: [(&str, f64); 3] = [("q25", 0.25), ("q50", 0.5), ("q75", 0.75)];

/// The t-digest's size: ten times DataFusion's default, for quartiles
/// within about 0.1 % of the range on skewed data, at a few kilobytes.
const CENTROIDS: i64 = 1000;

/// The result's schema: DuckDB's `SUMMARIZE` columns, in its order.
pub fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("column_type", DataType::Utf8, false),
        text("min"),
        text("max"),
        Field::new("approx_unique", DataType::Int64, true),
        text("avg"),
        text("std"),
        text("q25"),
        text("q50"),
        text("q75"),
        Field::new("count", DataType::Int64, false),
        Field::new("null_percentage", DataType::Decimal128(9, 2), true),
    ]))
}

/// What can be computed for a column, by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Numbers: every figure.
    Numeric,
    /// Dates and timestamps: every figure but `std`; mean and quartiles
    /// are computed on the underlying integer and shown as the type.
    Temporal,
    /// Strings and booleans: minimum, maximum, distinct count.
    Ordered,
    /// Anything else (lists, structs, binary): counts only.
    Other,
}

fn kind(t: &DataType) -> Kind {
    match t {
        DataType::Dictionary(_, v) => kind(v),
        t if t.is_numeric() => Kind::Numeric,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Kind::Temporal,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => {
            Kind::Ordered
        }
        _ => Kind::Other,
    }
}

/// The integer a temporal value is stored as (days for `Date32`).
fn storage_int(t: &DataType) -> DataType {
    match t {
        DataType::Date32 => DataType::Int32,
        _ => DataType::Int64,
    }
}

/// The aggregates of column `i` (`name`), aliased `c{i}_{figure}`.
fn aggregates(i: usize, name: &str, t: &DataType) -> Vec<Expr> {
    let c = || match t {
        // Dictionaries summarise as their values.
        DataType::Dictionary(_, v) => cast_expr(ident(name), v.as_ref().clone()),
        _ => ident(name),
    };
    let alias = |e: Expr, figure: &str| e.alias(format!("c{i}_{figure}"));
    let value_type = match t {
        DataType::Dictionary(_, v) => v.as_ref().clone(),
        t => t.clone(),
    };
    let kind = kind(t);
    let mut out = vec![alias(count(c()), "count")];
    if kind == Kind::Other {
        return out;
    }
    out.push(alias(min(c()), "min"));
    out.push(alias(max(c()), "max"));
    // HyperLogLog hashes floats' text: DataFusion has no float sketch.
    let distinct = if matches!(
        value_type,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    ) {
        approx_distinct(cast_expr(c(), DataType::Utf8))
    } else {
        approx_distinct(c())
    };
    out.push(alias(distinct, "distinct"));
    let number = match kind {
        Kind::Numeric
            if matches!(
                value_type,
                DataType::Decimal128(..) | DataType::Decimal256(..)
            ) =>
        {
            cast_expr(c(), DataType::Float64)
        }
        Kind::Numeric => c(),
        Kind::Temporal => cast_expr(c(), storage_int(&value_type)),
        _ => return out,
    };
    // Integers and instants are averaged exactly, as DuckDB does (a float
    // sum of microsecond timestamps drifts by microseconds).
    if value_type.is_integer() || kind == Kind::Temporal {
        let exact = cast_expr(number.clone(), DataType::Decimal128(38, 0));
        out.push(alias(sum(exact), "sum"));
    } else {
        out.push(alias(avg(number.clone()), "avg"));
    }
    if kind == Kind::Numeric {
        out.push(alias(stddev(number.clone()), "std"));
    }
    for (q, p) in QUARTILES {
        let e = approx_percentile_cont(
            number.clone().sort(true, false),
            lit(p),
            Some(lit(CENTROIDS)),
        );
        out.push(alias(e, q));
    }
    out
}

/// The summary of `df`: one row per column.
pub async fn summarize(df: DataFrame) -> Result<RecordBatch> {
    let fields: Vec<(String, DataType)> = df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    if fields.is_empty() {
        return Err(CpiqError::Usage("nothing to summarize: no columns".into()));
    }
    let mut exprs = vec![count(lit(1)).alias("rows")];
    for (i, (name, t)) in fields.iter().enumerate() {
        exprs.extend(aggregates(i, name, t));
    }
    let batches = df.aggregate(vec![], exprs)?.collect().await?;
    let row = datafusion::arrow::compute::concat_batches(
        &batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| CpiqError::Usage("the summary returned nothing".into()))?,
        &batches,
    )?;
    pivot(&row, &fields)
}

/// The one-row aggregate `row` as one row per column.
fn pivot(row: &RecordBatch, fields: &[(String, DataType)]) -> Result<RecordBatch> {
    let figure = |i: usize, name: &str| row.column_by_name(&format!("c{i}_{name}"));
    let int = |a: &ArrayRef| -> Option<i64> {
        let a = cast(a, &DataType::Int64).ok()?;
        let a = a.as_any().downcast_ref::<Int64Array>()?;
        a.is_valid(0).then(|| a.value(0))
    };
    let rows = int(row.column(0)).unwrap_or(0);
    let mut columns: [Vec<Option<String>>; 7] = Default::default();
    let (mut distinct, mut null_pct) = (Vec::new(), Vec::new());
    for (i, (_, t)) in fields.iter().enumerate() {
        let temporal = kind(t) == Kind::Temporal;
        let text = |name: &str| -> Result<Option<String>> {
            if name == "avg"
                && let Some(total) = figure(i, "sum")
            {
                // The exact sum over the values counted.
                let n = figure(i, "count").and_then(int).unwrap_or(0);
                let mean = float(total)?.filter(|_| n > 0).map(|s| s / n as f64);
                return number_text(mean, t, temporal);
            }
            let Some(a) = figure(i, name) else {
                return Ok(None);
            };
            if a.is_null(0) {
                return Ok(None);
            }
            if name == "avg" || name == "std" {
                return number_text(float(a)?, t, temporal);
            }
            if name.starts_with('q') {
                if temporal {
                    return Ok(Some(as_type(a, t)?));
                }
                // Integers' quartiles are integers, rounded (as DuckDB's).
                if t.is_integer() {
                    return Ok(float(a)?.map(|v| (v.round() as i64).to_string()));
                }
            }
            Ok(Some(format_one(a)?))
        };
        for (slot, name) in ["min", "max", "avg", "std", "q25", "q50", "q75"]
            .iter()
            .enumerate()
        {
            columns[slot].push(text(name)?);
        }
        distinct.push(figure(i, "distinct").and_then(int));
        let present = figure(i, "count").and_then(int).unwrap_or(0);
        null_pct.push(
            (rows > 0).then(|| ((rows - present) as f64 * 10_000.0 / rows as f64).round() as i128),
        );
    }
    let strings = |v: &Vec<Option<String>>| -> ArrayRef {
        Arc::new(StringArray::from_iter(v.iter().map(|s| s.as_deref())))
    };
    let [mins, maxs, avgs, stds, q25s, q50s, q75s] = &columns;
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(fields.iter().map(|f| &f.0))),
            Arc::new(StringArray::from_iter_values(
                fields.iter().map(|f| f.1.to_string()),
            )),
            strings(mins),
            strings(maxs),
            Arc::new(Int64Array::from(distinct)),
            strings(avgs),
            strings(stds),
            strings(q25s),
            strings(q50s),
            strings(q75s),
            Arc::new(Int64Array::from(vec![rows; fields.len()])),
            Arc::new(Decimal128Array::from(null_pct).with_precision_and_scale(9, 2)?),
        ],
    )?)
}

/// The first value of `a` as a float.
fn float(a: &ArrayRef) -> Result<Option<f64>> {
    let v = cast(a, &DataType::Float64)?;
    Ok(v.as_any()
        .downcast_ref::<Float64Array>()
        .and_then(|v| v.is_valid(0).then(|| v.value(0))))
}

/// A mean or deviation as text; a mean instant is shown as an instant of
/// the column's type `t`.
fn number_text(v: Option<f64>, t: &DataType, temporal: bool) -> Result<Option<String>> {
    match (v, temporal) {
        (Some(v), true) => {
            let raw: ArrayRef = Arc::new(Int64Array::from(vec![v.round() as i64]));
            Ok(Some(as_type(&raw, t)?))
        }
        (Some(v), false) => Ok(Some(v.to_string())),
        (None, _) => Ok(None),
    }
}

/// The first value of `a` as text, as cpiq shows values.
fn format_one(a: &ArrayRef) -> Result<String> {
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?;
    Ok(f.value(0).to_string())
}

/// The integer in `raw` shown as a value of temporal type `t`.
fn as_type(raw: &ArrayRef, t: &DataType) -> Result<String> {
    let t = match t {
        DataType::Dictionary(_, v) => v.as_ref(),
        t => t,
    };
    let stored = cast(raw, &storage_int(t))?;
    format_one(&cast(&stored, t)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// Hand-worked: 1, 2, 3, 4, NULL → 5 rows, 20 % NULL, mean 2.5, sample
    /// standard deviation sqrt(5/3).
    #[tokio::test]
    async fn figures_follow_duckdbs_definitions() {
        let ctx = SessionContext::new();
        let df = ctx
            .sql(
                "SELECT * FROM (VALUES (1, 'b', DATE '2024-01-01'), (2, 'a', DATE '2024-01-03'), \
                 (3, 'a', NULL), (4, NULL, NULL), (NULL, 'c', DATE '2024-01-05')) AS t(n, s, d)",
            )
            .await
            .unwrap();
        let b = summarize(df).await.unwrap();
        let text = |col: &str, row: usize| -> Option<String> {
            let a = b.column_by_name(col).unwrap();
            (!a.is_null(row)).then(|| format_one(&a.slice(row, 1)).unwrap())
        };
        assert_eq!(b.num_rows(), 3);
        assert_eq!(text("column_name", 0).unwrap(), "n");
        assert_eq!(text("count", 0).unwrap(), "5");
        assert_eq!(text("null_percentage", 0).unwrap(), "20.00");
        assert_eq!(text("min", 0).unwrap(), "1");
        assert_eq!(text("max", 0).unwrap(), "4");
        assert_eq!(text("avg", 0).unwrap(), "2.5");
        let std: f64 = text("std", 0).unwrap().parse().unwrap();
        assert!((std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12, "{std}");
        assert_eq!(text("approx_unique", 0).unwrap(), "4");
        // Strings: order, no mean.
        assert_eq!(text("min", 1).unwrap(), "a");
        assert_eq!(text("max", 1).unwrap(), "c");
        assert_eq!(text("approx_unique", 1).unwrap(), "3");
        assert_eq!(text("avg", 1), None);
        // Dates: the mean day is a day; no standard deviation.
        assert_eq!(text("null_percentage", 2).unwrap(), "40.00");
        assert_eq!(text("avg", 2).unwrap(), "2024-01-03");
        assert_eq!(text("std", 2), None);
        assert_eq!(text("q50", 2).unwrap(), "2024-01-03");
    }
}
