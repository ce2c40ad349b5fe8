//! Why did a CPI move: a rate/mix decomposition of the change between two
//! periods, per value of one dimension.
//!
//! With shares `s` (each group's part of the denominator) and values `v`,
//! the overall CPI is `V = Σ s·v`. For each group
//! `rate = (v2 − v1)·(s1 + s2)/2` (the CPI moved inside the group) and
//! `mix = (s2 − s1)·((v1 + v2)/2 − (V1 + V2)/2)` (the group's weight moved,
//! counted against the overall average). Because shares sum to 1 in both
//! periods, the rates and mixes add up exactly to `V2 − V1`. A group present
//! in one period only has no rate effect; its whole contribution is mix.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;

use super::{SliceRequest, col};
use crate::foundation::columns::{dates, days_of, floats, strings};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::CpiDefinition;

/// A request to explain the change of one CPI between two periods.
#[derive(Debug, Clone)]
pub struct ExplainRequest {
    /// The CPI.
    pub cpi: String,
    /// The dimension to decompose by.
    pub by: String,
    /// The grain of the two periods.
    pub per: Grain,
    /// The first day of the earlier period.
    pub from_period: NaiveDate,
    /// The first day of the later period.
    pub to_period: NaiveDate,
}

/// Decompose the change; the last row (dimension value NULL) is the total.
pub async fn explain_change(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &ExplainRequest,
) -> Result<RecordBatch> {
    if req.per == Grain::All {
        return Err(CpiqError::Usage(
            "explain-change needs a time grain: --per day|week|month|quarter|year".into(),
        ));
    }
    if req.from_period == req.to_period {
        return Err(CpiqError::Usage(
            "--from-period and --to-period are the same period".into(),
        ));
    }
    let (p1, p2) = (req.from_period, req.to_period);
    let slice = SliceRequest {
        cpis: vec![req.cpi.clone()],
        by: vec![req.by.clone()],
        per: req.per,
        ..SliceRequest::default()
    };
    let def = slice.validate(defs)?[0];
    // Slice only the two periods: each as its own range.
    let mut per_period: Vec<Sums> = Vec::new();
    for p in [p1, p2] {
        per_period.push(period_sums(ctx, def, cal, &slice, p).await?);
    }
    let total = |m: &Sums| m.values().fold((0.0, 0.0), |a, v| (a.0 + v.0, a.1 + v.1));
    let (n1, d1) = total(&per_period[0]);
    let (n2, d2) = total(&per_period[1]);
    if d1 == 0.0 || d2 == 0.0 {
        return Err(CpiqError::Usage(format!(
            "CPI {} has no events in {} (denominator 0): nothing to explain",
            req.cpi,
            if d1 == 0.0 { p1 } else { p2 }
        )));
    }
    let (v_1, v_2) = (n1 / d1, n2 / d2);
    let avg = (v_1 + v_2) / 2.0;
    let mut groups: Vec<Option<String>> = per_period[0]
        .keys()
        .chain(per_period[1].keys())
        .cloned()
        .collect();
    groups.sort();
    groups.dedup();
    let mut rows: Vec<[Option<f64>; 7]> = Vec::new();
    let mut names: Vec<Option<String>> = Vec::new();
    let (mut rate_sum, mut mix_sum) = (0.0, 0.0);
    for g in groups {
        let a = per_period[0].get(&g).copied().unwrap_or((0.0, 0.0));
        let b = per_period[1].get(&g).copied().unwrap_or((0.0, 0.0));
        let (s1, s2) = (a.1 / d1, b.1 / d2);
        let va = (a.1 > 0.0).then(|| a.0 / a.1);
        let vb = (b.1 > 0.0).then(|| b.0 / b.1);
        let (x1, x2) = match (va, vb) {
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => (x, x),
            (None, Some(y)) => (y, y),
            (None, None) => (0.0, 0.0),
        };
        let rate = (x2 - x1) * (s1 + s2) / 2.0;
        let mix = (s2 - s1) * ((x1 + x2) / 2.0 - avg);
        rate_sum += rate;
        mix_sum += mix;
        names.push(
            g.map(|g| if g.is_empty() { "(empty)".into() } else { g })
                .or(Some("(null)".into())),
        );
        rows.push([
            Some(s1),
            Some(s2),
            va,
            vb,
            Some(rate),
            Some(mix),
            Some(rate + mix),
        ]);
    }
    names.push(None);
    rows.push([
        Some(1.0),
        Some(1.0),
        Some(v_1),
        Some(v_2),
        Some(rate_sum),
        Some(mix_sum),
        Some(v_2 - v_1),
    ]);

    effects_batch(&req.by, names, &rows)
}

/// Σnumerator and Σdenominator per dimension value of one period.
type Sums = BTreeMap<Option<String>, (f64, f64)>;

/// The sums of CPI `def` in period `p` alone, per value of the slice's
/// dimension.
async fn period_sums(
    ctx: &SessionContext,
    def: &CpiDefinition,
    cal: &Calendar,
    slice: &SliceRequest,
    p: NaiveDate,
) -> Result<Sums> {
    let one = SliceRequest {
        from: Some(p),
        to: Some(cal.shift(slice.per, p, 1)),
        ..slice.clone()
    };
    let batch = super::run(ctx, std::slice::from_ref(def), cal, &one).await?;
    let dims = strings(&batch, &slice.by[0])?;
    let num = floats(&batch, col::NUMERATOR)?;
    let den = floats(&batch, col::DENOMINATOR)?;
    let periods = dates(&batch, col::PERIOD)?;
    let mut m = BTreeMap::new();
    for r in 0..batch.num_rows() {
        if periods.value(r) != days_of(p) {
            continue;
        }
        let key = (!dims.is_null(r)).then(|| dims.value(r).to_string());
        m.insert(key, (num.value(r), den.value(r)));
    }
    Ok(m)
}

/// The explain-change table: one row per dimension value and a total row.
fn effects_batch(
    by: &str,
    names: Vec<Option<String>>,
    rows: &[[Option<f64>; 7]],
) -> Result<RecordBatch> {
    let mut fields = vec![Field::new(by, DataType::Utf8, true)];
    let cols = [
        "share_p1",
        "share_p2",
        "value_p1",
        "value_p2",
        "rate_effect",
        "mix_effect",
        "total_effect",
    ];
    fields.extend(cols.iter().map(|c| Field::new(*c, DataType::Float64, true)));
    let mut arrays: Vec<Arc<dyn Array>> = vec![Arc::new(StringArray::from(names))];
    for i in 0..7 {
        arrays.push(Arc::new(Float64Array::from(
            rows.iter().map(|r| r[i]).collect::<Vec<_>>(),
        )));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}
