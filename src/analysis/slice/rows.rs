//! Row assembly: a cell's value, Wilson interval and status against the
//! target, comparisons with the previous period, and the result schema.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, Date32Builder, Float64Array, Float64Builder, Int64Builder, RecordBatch,
    StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::contract::{Status, col};
use super::execute::CellColumns;
use super::request::SliceRequest;
use crate::foundation::error::Result;
use crate::model::calendar::Grain;
use crate::model::cpi::CpiDefinition;

/// One aggregated cell: a CPI, period and dimension values.
#[derive(Debug, Clone, Default)]
pub(super) struct Cell {
    pub(super) numerator: f64,
    pub(super) denominator: f64,
    pub(super) events: i64,
    pub(super) binary: bool,
}

pub(super) type Key = (Option<NaiveDate>, Vec<Option<String>>);

/// 95% Wilson score interval for `successes` out of `n`.
pub fn wilson(successes: f64, n: f64) -> Option<(f64, f64)> {
    if n <= 0.0 {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let p = successes / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// The result schema of a slice.
pub fn result_schema(req: &SliceRequest) -> SchemaRef {
    let mut fields = vec![Field::new(col::CPI, DataType::Utf8, false)];
    if req.per != Grain::All {
        fields.push(Field::new(col::PERIOD, DataType::Date32, false));
    }
    for d in &req.by {
        fields.push(Field::new(d, DataType::Utf8, true));
    }
    for (name, t) in [
        (col::VALUE, DataType::Float64),
        (col::NUMERATOR, DataType::Float64),
        (col::DENOMINATOR, DataType::Float64),
        (col::EVENTS, DataType::Int64),
        (col::TARGET, DataType::Float64),
        (col::STATUS, DataType::Utf8),
        (col::CI_LOW, DataType::Float64),
        (col::CI_HIGH, DataType::Float64),
    ] {
        fields.push(Field::new(
            name,
            t,
            name != col::EVENTS && name != col::NUMERATOR && name != col::DENOMINATOR,
        ));
    }
    if req.compare.is_some() {
        for name in [col::PREVIOUS_VALUE, col::CHANGE, col::CHANGE_PCT] {
            fields.push(Field::new(name, DataType::Float64, true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// The result rows of `n` cells of `def`, without comparison columns.
pub(super) fn result_batch(
    schema: &SchemaRef,
    def: &CpiDefinition,
    c: &CellColumns,
    n: usize,
) -> Result<RecordBatch> {
    let mut value = Float64Builder::with_capacity(n);
    let mut numerator = Vec::with_capacity(n);
    let mut denominator = Vec::with_capacity(n);
    let mut status = StringBuilder::with_capacity(n, 6 * n);
    let mut ci_low = Float64Builder::with_capacity(n);
    let mut ci_high = Float64Builder::with_capacity(n);
    for i in 0..n {
        let cell = c.cell(i);
        let d = Derived::of(def, &cell);
        value.append_option(d.value);
        numerator.push(cell.numerator);
        denominator.push(cell.denominator);
        status.append_option(d.status.map(Status::as_str));
        ci_low.append_option(d.ci.map(|c| c.0));
        ci_high.append_option(d.ci.map(|c| c.1));
    }
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(&def.name, n),
    ))];
    if let Some(p) = &c.period {
        arrays.push(Arc::new(p.clone()));
    }
    arrays.extend(c.dims.iter().map(|d| Arc::new(d.clone()) as ArrayRef));
    arrays.push(Arc::new(value.finish()));
    arrays.push(Arc::new(Float64Array::from(numerator)));
    arrays.push(Arc::new(Float64Array::from(denominator)));
    arrays.push(Arc::new(c.events.clone()));
    arrays.push(Arc::new(Float64Array::from(vec![def.target; n])));
    arrays.push(Arc::new(status.finish()));
    arrays.push(Arc::new(ci_low.finish()));
    arrays.push(Arc::new(ci_high.finish()));
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}

/// The value of a cell: SUM(numerator) / SUM(denominator), NULL when the
/// denominator is 0 or below the CPI's `min_denominator`.
pub(super) fn cell_value(def: &CpiDefinition, c: &Cell) -> Option<f64> {
    if c.denominator == 0.0 || def.min_denominator.is_some_and(|m| c.denominator < m) {
        return None;
    }
    Some(c.numerator / c.denominator)
}

/// What a cell's sums give: its value, target status and Wilson interval.
pub(super) struct Derived {
    pub(super) value: Option<f64>,
    pub(super) status: Option<Status>,
    pub(super) ci: Option<(f64, f64)>,
}

impl Derived {
    pub(super) fn of(def: &CpiDefinition, cell: &Cell) -> Derived {
        let value = cell_value(def, cell);
        let insufficient = def.min_denominator.is_some_and(|m| cell.denominator < m);
        let status = if insufficient {
            Some(Status::Insufficient)
        } else {
            match (def.target, value) {
                (Some(t), Some(v)) => Some(if def.direction.meets(v, t) {
                    Status::Met
                } else {
                    Status::Missed
                }),
                _ => None,
            }
        };
        let ci = if cell.binary && value.is_some() {
            wilson(cell.numerator, cell.denominator)
        } else {
            None
        };
        Derived { value, status, ci }
    }
}

/// The output columns, built row by row.
#[derive(Default)]
pub(super) struct Columns {
    /// Whether the comparison columns are built.
    pub(super) compare: bool,
    pub(super) cpi: StringBuilder,
    pub(super) period: Date32Builder,
    pub(super) dims: Vec<StringBuilder>,
    pub(super) value: Float64Builder,
    pub(super) numerator: Float64Builder,
    pub(super) denominator: Float64Builder,
    pub(super) events: Int64Builder,
    pub(super) target: Float64Builder,
    pub(super) status: StringBuilder,
    pub(super) ci_low: Float64Builder,
    pub(super) ci_high: Float64Builder,
    pub(super) previous: Float64Builder,
    pub(super) change: Float64Builder,
    pub(super) change_pct: Float64Builder,
}

impl Columns {
    /// One row: the cell of `def` at `period` and dimension values `dims`,
    /// with its value, status, interval and comparison with `previous`.
    pub(super) fn push<'a>(
        &mut self,
        def: &CpiDefinition,
        period: Option<i32>,
        dims: impl Iterator<Item = Option<&'a str>>,
        cell: &Cell,
        previous: Option<f64>,
    ) {
        let Derived { value, status, ci } = Derived::of(def, cell);
        self.cpi.append_value(&def.name);
        self.period.append_option(period);
        for (i, d) in dims.enumerate() {
            if self.dims.len() <= i {
                self.dims.push(StringBuilder::new());
            }
            self.dims[i].append_option(d);
        }
        self.value.append_option(value);
        self.numerator.append_value(cell.numerator);
        self.denominator.append_value(cell.denominator);
        self.events.append_value(cell.events);
        self.target.append_option(def.target);
        self.status.append_option(status.map(Status::as_str));
        self.ci_low.append_option(ci.map(|c| c.0));
        self.ci_high.append_option(ci.map(|c| c.1));
        if !self.compare {
            return;
        }
        let change = match (value, previous) {
            (Some(v), Some(p)) => Some(v - p),
            _ => None,
        };
        self.previous.append_option(previous);
        self.change.append_option(change);
        self.change_pct.append_option(match (change, previous) {
            (Some(c), Some(p)) if p != 0.0 => Some(100.0 * c / p.abs()),
            _ => None,
        });
    }

    pub(super) fn into_batch(
        mut self,
        schema: SchemaRef,
        req: &SliceRequest,
    ) -> Result<RecordBatch> {
        let n = self.cpi.len();
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(self.cpi.finish())];
        if req.per != Grain::All {
            arrays.push(Arc::new(self.period.finish()));
        }
        for i in 0..req.by.len() {
            arrays.push(match self.dims.get_mut(i) {
                Some(d) => Arc::new(d.finish()),
                None => Arc::new(StringArray::from(vec![None::<&str>; n])),
            });
        }
        arrays.push(Arc::new(self.value.finish()));
        arrays.push(Arc::new(self.numerator.finish()));
        arrays.push(Arc::new(self.denominator.finish()));
        arrays.push(Arc::new(self.events.finish()));
        arrays.push(Arc::new(self.target.finish()));
        arrays.push(Arc::new(self.status.finish()));
        arrays.push(Arc::new(self.ci_low.finish()));
        arrays.push(Arc::new(self.ci_high.finish()));
        if req.compare.is_some() {
            arrays.push(Arc::new(self.previous.finish()));
            arrays.push(Arc::new(self.change.finish()));
            arrays.push(Arc::new(self.change_pct.finish()));
        }
        Ok(RecordBatch::try_new(schema, arrays)?)
    }
}
