//! Charts of CPI results: what to draw, independent of where.
//!
//! This module owns the chart model: a [`Trend`] per CPI (its value over
//! periods, one series per dimension value, against its target) built from
//! any slice-shaped result, and a [`Scatter`] per CPI × KPI (the CPI at t
//! against the KPI at t + its best lag, with the least-squares line) built
//! by the correlation. [`text`] draws them on a terminal, [`image`] as SVG or
//! PNG, [`spark`] as one-line sparklines. Running queries, choosing files
//! and terminals is the caller's business.

pub(crate) mod image;
pub mod spark;
pub mod text;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, RecordBatch};

pub use crate::analysis::correlate::Scatter;
use crate::analysis::slice::{Status, col};
use crate::foundation::columns;
use crate::foundation::error::{CpiqError, Result};
use crate::model::cpi::{CpiDefinition, Direction, Unit};

/// The most series one chart shows; the rest are named as left out.
pub const MAX_SERIES: usize = 6;

/// The most scatter plots drawn after one correlation (strongest first).
pub const MAX_SCATTERS: usize = 6;

/// One line of a trend: a dimension value's CPI over the chart's periods.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The dimension values, joined with " / " (the CPI's name without `by`).
    pub name: String,
    /// One value per period of the chart; `None` where there is none.
    pub values: Vec<Option<f64>>,
    /// Per period: the value missed the target.
    pub missed: Vec<bool>,
    /// Events behind the series (how series are chosen when there are many).
    pub denominator: f64,
}

impl Series {
    /// How many periods missed the target.
    pub fn missed_count(&self) -> usize {
        self.missed.iter().filter(|m| **m).count()
    }
}

/// A CPI over periods: one line per dimension value, and the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// The CPI's name.
    pub cpi: String,
    /// Its label.
    pub label: String,
    /// Its unit (how axes are labelled).
    pub unit: Unit,
    /// Whether higher is better.
    pub direction: Direction,
    /// The target, drawn as a reference line.
    pub target: Option<f64>,
    /// The dimensions the series are split by.
    pub by: Vec<String>,
    /// The periods (start dates), in order.
    pub periods: Vec<NaiveDate>,
    /// The series drawn, at most [`MAX_SERIES`], in name order.
    pub series: Vec<Series>,
    /// Series not drawn (fewest events), by name.
    pub left_out: Vec<String>,
}

impl Trend {
    /// The period labels: `2024` for years, `2024-03` for months and
    /// quarters, the full date for weeks and days.
    pub fn period_labels(&self) -> Vec<String> {
        period_labels(&self.periods)
    }

    /// The chart's title.
    pub fn title(&self) -> String {
        let by = if self.by.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.by.join(", "))
        };
        format!("{}{by} ({})", self.label, self.cpi)
    }

    /// "target 95.0%, higher is better", or the direction alone.
    pub fn subtitle(&self) -> String {
        let better = match self.direction {
            Direction::HigherIsBetter => "higher is better",
            Direction::LowerIsBetter => "lower is better",
        };
        match self.target {
            Some(t) => format!(
                "target {}, {better}",
                crate::model::cpi::format_value(self.unit, t)
            ),
            None => better.to_string(),
        }
    }

    /// Every value drawn, and the target.
    fn extent(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .collect();
        v.extend(self.target);
        v
    }
}

/// A chart of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// A CPI over periods.
    Trend(Trend),
    /// A CPI against a KPI.
    Scatter(Scatter),
    /// CPIs ranked as drivers of a KPI.
    Bars(Bars),
}

/// One bar: a CPI's importance as a driver, with its lead and verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The CPI.
    pub cpi: String,
    /// Its Shapley share of R² (`None` when the model could not be fitted).
    pub importance: Option<f64>,
    /// Its lead in periods.
    pub lead: Option<i64>,
    /// The verdict (`drives`, `trend_only`, …).
    pub verdict: String,
}

/// The importance bars of a drivers result, one group per dimension value.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// The KPI.
    pub kpi: String,
    /// (dimension value, its bars in rank order).
    pub groups: Vec<(Option<String>, Vec<Bar>)>,
}

/// The bars of a drivers table (columns `kpi`, the dimension, `cpi`,
/// `lead`, …, `importance`, …, `verdict`).
pub fn bars_of(batch: &RecordBatch) -> Result<Bars> {
    use crate::analysis::drivers::col as d;
    let schema = batch.schema();
    let cpi = columns::strings(batch, d::CPI)?;
    let verdict = columns::strings(batch, d::VERDICT)?;
    let importance = columns::floats(batch, d::IMPORTANCE)?;
    let lead = columns::integers(batch, d::LEAD)?;
    let kpi = columns::strings(batch, d::KPI)?;
    // The dimension column, when there is one, sits between kpi and cpi.
    let dim = (schema.index_of(d::CPI).ok() == Some(2))
        .then(|| columns::strings(batch, schema.field(1).name()))
        .transpose()?;
    let mut groups: Vec<(Option<String>, Vec<Bar>)> = Vec::new();
    for i in 0..batch.num_rows() {
        let key = dim
            .as_ref()
            .filter(|c| !c.is_null(i))
            .map(|c| c.value(i).to_string());
        if groups.last().is_none_or(|g| g.0 != key) {
            groups.push((key, Vec::new()));
        }
        if let Some(g) = groups.last_mut() {
            g.1.push(Bar {
                cpi: cpi.value(i).to_string(),
                importance: (!importance.is_null(i)).then(|| importance.value(i)),
                lead: (!lead.is_null(i)).then(|| lead.value(i)),
                verdict: verdict.value(i).to_string(),
            });
        }
    }
    Ok(Bars {
        kpi: if batch.num_rows() > 0 {
            kpi.value(0).to_string()
        } else {
            String::new()
        },
        groups,
    })
}

/// The period labels for `periods`: the coarsest form that tells them apart.
pub fn period_labels(periods: &[NaiveDate]) -> Vec<String> {
    let firsts = periods.iter().all(|d| d.day() == 1);
    let years = firsts && periods.iter().all(|d| d.month() == periods[0].month());
    periods
        .iter()
        .map(|d| {
            if years && periods.len() > 1 {
                d.format("%Y").to_string()
            } else if firsts {
                d.format("%Y-%m").to_string()
            } else {
                d.format("%Y-%m-%d").to_string()
            }
        })
        .collect()
}

/// One trend per CPI of a slice-shaped result: columns `cpi`, `period`,
/// the dimensions, `value` and `status` (from `cpiq slice`, `\slice` or
/// `SELECT * FROM cpi_slice(…)`).
pub fn trends(batches: &[RecordBatch], defs: &[CpiDefinition]) -> Result<Vec<Trend>> {
    let not_slice = || {
        CpiqError::Usage(
            "nothing to chart: \\chart draws the last slice (with a period) or correlation".into(),
        )
    };
    let Some(first) = batches.first() else {
        return Err(not_slice());
    };
    let schema = first.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let (Some(p), Some(v)) = (
        names.iter().position(|n| *n == "period"),
        names.iter().position(|n| *n == "value"),
    ) else {
        if names.contains(&"cpi") && names.contains(&"value") {
            return Err(CpiqError::Usage(
                "nothing to draw over time: slice with per day, week, month, quarter or year (not all)"
                    .into(),
            ));
        }
        return Err(not_slice());
    };
    if !names.contains(&"cpi") || p > v {
        return Err(not_slice());
    }
    let by: Vec<String> = names[p + 1..v].iter().map(|s| s.to_string()).collect();

    let per_cpi = cells_by_cpi(batches, &by)?;
    if per_cpi.is_empty() {
        return Err(CpiqError::Usage(
            "nothing to chart: the result is empty".into(),
        ));
    }
    let defs: HashMap<&str, &CpiDefinition> = defs.iter().map(|d| (d.name.as_str(), d)).collect();
    Ok(per_cpi
        .into_iter()
        .map(|(cpi, series)| {
            let def = defs.get(cpi.as_str()).copied();
            trend_of(cpi, series, def, &by)
        })
        .collect())
}

/// A series' cells by period: (value, missed, denominator).
type Cells = BTreeMap<NaiveDate, (Option<f64>, bool, f64)>;

/// The cells of a slice's batches: CPI → series name (the dimension values,
/// or the CPI) → period → cell.
fn cells_by_cpi(
    batches: &[RecordBatch],
    by: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, Cells>>> {
    let mut per_cpi: BTreeMap<String, BTreeMap<String, Cells>> = BTreeMap::new();
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        let cpi = columns::strings(batch, col::CPI)?;
        let period = columns::dates(batch, col::PERIOD)?;
        let value = columns::floats(batch, col::VALUE)?;
        let status = columns::strings_if_present(batch, col::STATUS)?;
        let denominator = match batch.column_by_name(col::DENOMINATOR) {
            Some(_) => Some(columns::floats(batch, col::DENOMINATOR)?),
            None => None,
        };
        let dims = by
            .iter()
            .map(|d| columns::strings(batch, d))
            .collect::<Result<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            if cpi.is_null(row) || period.is_null(row) {
                continue;
            }
            let name = if dims.is_empty() {
                cpi.value(row).to_string()
            } else {
                dims.iter()
                    .map(|d| {
                        if d.is_null(row) {
                            "(null)".to_string()
                        } else {
                            d.value(row).to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            let date = columns::date_of(period.value(row))?;
            let v = (!value.is_null(row)).then(|| value.value(row));
            let missed = status
                .as_ref()
                .is_some_and(|s| !s.is_null(row) && s.value(row) == Status::Missed.as_str());
            let den = denominator
                .as_ref()
                .filter(|d| !d.is_null(row))
                .map(|d| d.value(row))
                .unwrap_or(1.0);
            per_cpi
                .entry(cpi.value(row).to_string())
                .or_default()
                .entry(name)
                .or_default()
                .insert(date, (v, missed, den));
        }
    }
    Ok(per_cpi)
}

/// The trend of one CPI: its series over the periods any of them has, the
/// [`MAX_SERIES`] with the most events kept and the others named.
fn trend_of(
    cpi: String,
    series: BTreeMap<String, Cells>,
    def: Option<&CpiDefinition>,
    by: &[String],
) -> Trend {
    let periods: Vec<NaiveDate> = series
        .values()
        .flat_map(|cells| cells.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut all: Vec<Series> = series
        .into_iter()
        .map(|(name, cells)| Series {
            name,
            values: periods
                .iter()
                .map(|p| cells.get(p).and_then(|c| c.0))
                .collect(),
            missed: periods
                .iter()
                .map(|p| cells.get(p).is_some_and(|c| c.1))
                .collect(),
            denominator: cells.values().map(|c| c.2).sum(),
        })
        .collect();
    // Keep the series with the most events; name the others.
    all.sort_by(|a, b| {
        b.denominator
            .total_cmp(&a.denominator)
            .then(a.name.cmp(&b.name))
    });
    let mut left_out: Vec<String> = all
        .split_off(all.len().min(MAX_SERIES))
        .into_iter()
        .map(|s| s.name)
        .collect();
    left_out.sort();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Trend {
        label: def.map(|d| d.label.clone()).unwrap_or_else(|| cpi.clone()),
        unit: def.map(|d| d.unit).unwrap_or(Unit::Ratio),
        direction: def
            .map(|d| d.direction)
            .unwrap_or(Direction::HigherIsBetter),
        target: def.and_then(|d| d.target),
        cpi,
        by: by.to_vec(),
        periods,
        series: all,
        left_out,
    }
}

/// The result of a slice drawn from its batch: one trend per CPI.
pub fn charts_of_slice(batches: &[RecordBatch], defs: &[CpiDefinition]) -> Result<Vec<Chart>> {
    Ok(trends(batches, defs)?
        .into_iter()
        .map(Chart::Trend)
        .collect())
}

/// Ticks for an axis over `[lo, hi]`: a step of 1, 2 or 5 × 10^k giving
/// about `want` ticks, and the range widened to whole steps.
pub fn nice_ticks(lo: f64, hi: f64, want: usize) -> (f64, f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0, 0.25);
    }
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        lo -= pad;
        hi += pad;
    }
    let raw = (hi - lo) / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let lo = (lo / step).floor() * step;
    let hi = (hi / step).ceil() * step;
    (lo, hi, step)
}

/// The smallest and largest of `values` ((0, 1) when there are none).
pub(crate) fn value_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    (lo, hi)
}

/// A tick value in a unit, with as many decimals as the step needs.
pub fn format_tick(unit: Option<Unit>, v: f64, step: f64) -> String {
    let scale = if unit == Some(Unit::Percent) {
        100.0
    } else {
        1.0
    };
    let decimals = (-(step * scale).log10().floor()).max(0.0) as usize;
    let decimals = decimals.min(6);
    let x = v * scale;
    let x = if x.abs() < 1e-12 { 0.0 } else { x };
    let n = format!("{x:.decimals$}");
    match unit {
        Some(Unit::Percent) => format!("{n}%"),
        Some(Unit::Hours) => format!("{n} h"),
        Some(Unit::Minutes) => format!("{n} min"),
        Some(Unit::Days) => format!("{n} d"),
        _ => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray};
    use std::sync::Arc;

    type Row<'a> = (&'a str, &'a str, &'a str, Option<f64>, f64, &'a str);

    pub(crate) fn slice_batch(rows: &[Row]) -> RecordBatch {
        let d = |s: &str| columns::days_of(s.parse().unwrap());
        RecordBatch::try_from_iter([
            (
                "cpi",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "period",
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| d(r.1)))),
            ),
            (
                "channel",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            ),
            (
                "value",
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r.3).collect::<Vec<_>>(),
                )),
            ),
            (
                "denominator",
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))),
            ),
            (
                "status",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.5))),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn a_slice_becomes_one_trend_per_cpi_with_gaps_and_misses() {
        let b = slice_batch(&[
            ("a", "2024-01-01", "web", Some(0.9), 10.0, "missed"),
            ("a", "2024-02-01", "web", Some(0.97), 10.0, "met"),
            ("a", "2024-02-01", "store", Some(0.99), 30.0, "met"),
            ("b", "2024-01-01", "web", Some(2.0), 5.0, "met"),
        ]);
        let t = trends(&[b], &[]).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].cpi, "a");
        assert_eq!(t[0].by, vec!["channel"]);
        assert_eq!(t[0].period_labels(), vec!["2024-01", "2024-02"]);
        let names: Vec<&str> = t[0].series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["store", "web"]);
        assert_eq!(t[0].series[0].values, vec![None, Some(0.99)]);
        assert_eq!(t[0].series[1].missed, vec![true, false]);
        assert_eq!(t[0].series[1].missed_count(), 1);
    }

    #[test]
    fn beyond_six_series_the_smallest_are_named_as_left_out() {
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let rows: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ("x", "2024-01-01", *n, Some(1.0), i as f64, "met"))
            .collect();
        let t = trends(&[slice_batch(&rows)], &[]).unwrap();
        assert_eq!(t[0].series.len(), MAX_SERIES);
        assert_eq!(t[0].left_out, vec!["a", "b"]);
    }

    #[test]
    fn results_without_periods_are_refused_with_a_reason() {
        let b = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )])
        .unwrap();
        assert!(
            trends(&[b], &[])
                .unwrap_err()
                .to_string()
                .contains("nothing to chart")
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.913, 0.987, 5), (0.9, 1.0, 0.02));
        let (lo, hi, step) = nice_ticks(3.0, 3.0, 4);
        assert!(lo < 3.0 && hi > 3.0 && step > 0.0);
        assert_eq!(format_tick(Some(Unit::Percent), 0.94, 0.02), "94%");
        assert_eq!(format_tick(Some(Unit::Percent), 0.945, 0.005), "94.5%");
        assert_eq!(format_tick(Some(Unit::Hours), 12.0, 5.0), "12 h");
        assert_eq!(format_tick(None, 0.25, 0.05), "0.25");
    }

    #[test]
    fn labels_follow_the_grain() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            period_labels(&[d("2024-01-01"), d("2025-01-01")]),
            vec!["2024", "2025"]
        );
        assert_eq!(
            period_labels(&[d("2024-01-01"), d("2024-04-01")]),
            vec!["2024-01", "2024-04"]
        );
        assert_eq!(
            period_labels(&[d("2024-01-01"), d("2024-01-08")]),
            vec!["2024-01-01", "2024-01-08"]
        );
    }

    #[test]
    fn the_fitted_line_is_least_squares() {
        let s = Scatter {
            cpi: "c".into(),
            unit: Unit::Percent,
            kpi: "k.m".into(),
            dimension: None,
            lag: 1,
            per: "month",
            symbol: "r",
            coefficient: Some(1.0),
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)],
        };
        let (m, b) = s.fit().unwrap();
        assert!((m - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
        assert_eq!(s.title(), "c (t) vs k.m (t+1 month): r = 1.00, n = 3");
    }
}
