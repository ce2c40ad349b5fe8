//! The series a correlation (and every time-series analysis after it)
//! compares: a CPI as `SUM(numerator) / SUM(denominator)` per period (and
//! per dimension value or entity), a KPI column rolled up per period with
//! its declared aggregation. Resolving names against the catalog, with the
//! errors a user sees, happens here too.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use crate::analysis::timeseries::Grid;
use crate::foundation::columns::{date_of, dates, floats, strings_if_present};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::CpiDefinition;
use crate::workspace::{Aggregation, KpiSpec};

/// What a time-series analysis (correlate, Granger, drivers) reads: the
/// session, the usable CPI definitions, the KPI tables and the calendar.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The session the series are read through.
    pub ctx: &'a SessionContext,
    /// The CPIs a request may name.
    pub defs: &'a [CpiDefinition],
    /// The KPI tables a request may name.
    pub kpis: &'a [KpiSpec],
    /// Periods and fiscal years.
    pub cal: &'a Calendar,
}

impl<'a> Inputs<'a> {
    /// The session, definitions, KPI tables and calendar, in that order.
    pub fn parts(
        self,
    ) -> (
        &'a SessionContext,
        &'a [CpiDefinition],
        &'a [KpiSpec],
        &'a Calendar,
    ) {
        (self.ctx, self.defs, self.kpis, self.cal)
    }
}

/// Values by (dimension value, entity, period start).
pub type Series = BTreeMap<(Option<String>, Option<String>, NaiveDate), f64>;

/// How series are cut: the grain, the split, the range.
#[derive(Debug, Clone)]
pub struct SeriesSpec {
    /// The grain.
    pub per: Grain,
    /// A dimension both sides carry, when split by one.
    pub by: Option<String>,
    /// The entity column, when per entity (customer) and period.
    pub entity: Option<String>,
    /// Inclusive start of the CPI series.
    pub from: Option<NaiveDate>,
    /// Exclusive end of the CPI series.
    pub to: Option<NaiveDate>,
    /// Periods the KPI series runs past the CPI's end (the largest lag).
    pub kpi_lead: i32,
}

impl SeriesSpec {
    /// Series of levels over one range, neither per entity nor with the KPI
    /// running past the CPI's end (what Granger tests and drivers read).
    pub fn levels(
        per: Grain,
        by: Option<String>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> SeriesSpec {
        SeriesSpec {
            per,
            by,
            entity: None,
            from,
            to,
            kpi_lead: 0,
        }
    }
}

/// A KPI named `kpi_table.column`, resolved against the workspace.
#[derive(Debug, Clone, Copy)]
pub struct KpiRef<'a> {
    /// Its table.
    pub spec: &'a KpiSpec,
    /// The measure column.
    pub column: &'a str,
    /// The measure's declared aggregation.
    pub aggregation: Aggregation,
}

pub(super) fn needs_grain() -> CpiqError {
    CpiqError::Usage("correlate needs a time grain: --per day|week|month|quarter|year".into())
}

/// What a pairwise analysis (correlate, Granger) asks first: a series
/// grain ([`require_series_grain`]) and at least one CPI and one KPI.
pub fn require_pairs(per: Grain, cpis: &[String], kpis: &[String], analysis: &str) -> Result<()> {
    require_series_grain(per, analysis)?;
    if cpis.is_empty() || kpis.is_empty() {
        return Err(CpiqError::Usage(
            "name at least one CPI and one KPI (--with kpi_table.column)".into(),
        ));
    }
    Ok(())
}

/// Refuse a grain other than week, month or quarter, the ones time-series
/// analyses run at; `analysis` names the one asking (`a correlation`).
pub fn require_series_grain(per: Grain, analysis: &str) -> Result<()> {
    if matches!(per, Grain::Week | Grain::Month | Grain::Quarter) {
        Ok(())
    } else {
        Err(CpiqError::Usage(format!(
            "--per must be week, month or quarter for {analysis}"
        )))
    }
}

/// The definition of CPI `name`, or an error listing the known ones.
pub fn resolve_cpi<'a>(defs: &'a [CpiDefinition], name: &str) -> Result<&'a CpiDefinition> {
    defs.iter().find(|d| d.name == name).ok_or_else(|| {
        let mut known: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        known.sort();
        CpiqError::Usage(format!(
            "unknown CPI \"{name}\" (known: {})",
            known.join(", ")
        ))
    })
}

/// Check that CPI `def` carries dimension `by` and, when `per_entity`,
/// declares an entity; returns the entity column.
pub fn check_cpi(
    def: &CpiDefinition,
    by: Option<&str>,
    per_entity: bool,
) -> Result<Option<String>> {
    if let Some(d) = by
        && !def.dimensions.iter().any(|x| x == d)
    {
        return Err(CpiqError::Usage(format!(
            "CPI {} has no dimension \"{d}\" (its dimensions: {})",
            def.name,
            def.dimensions.join(", ")
        )));
    }
    if !per_entity {
        return Ok(None);
    }
    def.entity.clone().map(Some).ok_or_else(|| {
        CpiqError::Usage(format!(
            "--per-entity: CPI {} declares no `-- entity:` column",
            def.name
        ))
    })
}

/// The KPI `name` (`kpi_table.column`) of `kpis`, checked to carry `by`.
pub fn resolve_kpi<'a>(kpis: &'a [KpiSpec], name: &'a str, by: Option<&str>) -> Result<KpiRef<'a>> {
    let (table, column) = name
        .split_once('.')
        .ok_or_else(|| CpiqError::Usage(format!("KPI \"{name}\": write it as kpi_table.column")))?;
    let spec = kpis.iter().find(|k| k.table.name == table).ok_or_else(|| {
        CpiqError::Usage(format!(
            "no KPI table \"{table}\" (KPI tables: {})",
            kpis.iter()
                .map(|k| k.table.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let (_, aggregation) = spec
        .measures
        .iter()
        .find(|(m, _)| m == column)
        .ok_or_else(|| {
            CpiqError::Usage(format!(
                "KPI table {table} has no measure \"{column}\" (its measures: {})",
                spec.measures
                    .iter()
                    .map(|(m, _)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    if let Some(d) = by
        && !spec.dimensions.iter().any(|x| x == d)
    {
        return Err(CpiqError::Usage(format!(
            "KPI table {table} does not carry the dimension \"{d}\" (its dimensions: {})",
            spec.dimensions.join(", ")
        )));
    }
    Ok(KpiRef {
        spec,
        column,
        aggregation: *aggregation,
    })
}

/// `expr`, the value of CPI `def`'s time column, as a timestamp: cast when
/// the view types that column as a date.
pub(super) async fn timestamp_of(
    ctx: &SessionContext,
    def: &CpiDefinition,
    expr: &str,
) -> Result<String> {
    let view = ctx.table(def.name.as_str()).await?;
    let t_type = view
        .schema()
        .field_with_unqualified_name(&def.time)
        .map(|f| f.data_type().clone())
        .map_err(|e| CpiqError::Usage(e.to_string()))?;
    Ok(match t_type {
        DataType::Date32 | DataType::Date64 => format!("CAST({expr} AS TIMESTAMP)"),
        _ => expr.to_string(),
    })
}

/// The conditions a range puts on the timestamp `ts`: from inclusive, to
/// exclusive.
pub(super) fn range_conds(ts: &str, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<String> {
    let from = from.map(|f| format!("{ts} >= {}", lit(f)));
    let to = to.map(|t| format!("{ts} < {}", lit(t)));
    from.into_iter().chain(to).collect()
}

/// A timestamp literal for period bounds.
fn lit(d: NaiveDate) -> String {
    format!("TIMESTAMP '{d} 00:00:00'")
}

/// ` WHERE a AND b`, or nothing.
fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// The select list and grouping of a series: period, then dimension and
/// entity when asked.
fn keys(period: String, spec: &SeriesSpec) -> (Vec<String>, Vec<String>) {
    let mut cols = vec![format!("{period} AS period")];
    let mut group = vec!["period".to_string()];
    if let Some(d) = &spec.by {
        cols.push(format!("CAST({d} AS VARCHAR) AS dim"));
        group.push("dim".into());
    }
    if let Some(e) = &spec.entity {
        cols.push(format!("CAST({e} AS VARCHAR) AS entity"));
        group.push("entity".into());
    }
    (cols, group)
}

/// `values` of the rows of `inner`, by the `group` keys.
fn grouped(values: &str, inner: &str, group: &[String]) -> String {
    let keys = group.join(", ");
    format!("SELECT {keys}, {values} FROM ({inner}) s GROUP BY {keys}")
}

/// CPI `def` per period (and dimension value, entity):
/// Σnumerator / Σdenominator, periods with no denominator left out.
pub async fn cpi_series(
    ctx: &SessionContext,
    def: &CpiDefinition,
    cal: &Calendar,
    spec: &SeriesSpec,
) -> Result<Series> {
    let ts = timestamp_of(ctx, def, &def.time).await?;
    let period = cal.period_sql(spec.per, &ts).ok_or_else(needs_grain)?;
    let conds = range_conds(&ts, spec.from, spec.to);
    let (cols, group) = keys(period, spec);
    let inner = format!(
        "SELECT {}, numerator, denominator FROM {}{}",
        cols.join(", "),
        def.name,
        where_clause(&conds)
    );
    let values = "SUM(CAST(numerator AS DOUBLE)) AS v, SUM(CAST(denominator AS DOUBLE)) AS den";
    collect(ctx, &grouped(values, &inner, &group), true).await
}

/// KPI `kpi` per period (and dimension value, entity), rolled up with its
/// aggregation; it runs `spec.kpi_lead` periods past the CPI's end.
pub async fn kpi_series(
    ctx: &SessionContext,
    kpi: &KpiRef<'_>,
    cal: &Calendar,
    spec: &SeriesSpec,
) -> Result<Series> {
    let table = kpi.spec.table.name.as_str();
    let column = kpi.column;
    if let Some(e) = &spec.entity {
        let t = ctx.table(table).await?;
        if t.schema().field_with_unqualified_name(e).is_err() {
            return Err(CpiqError::Usage(format!(
                "--per-entity: KPI table {table} has no column \"{e}\""
            )));
        }
    }
    let kts = format!("CAST({} AS TIMESTAMP)", kpi.spec.time);
    let period = cal.period_sql(spec.per, &kts).ok_or_else(needs_grain)?;
    let end = spec
        .to
        .map(|t| cal.shift(spec.per, cal.truncate(spec.per, t), spec.kpi_lead + 1));
    let conds = range_conds(&kts, spec.from, end);
    let (cols, group) = keys(period, spec);
    let inner = format!(
        "SELECT {}, {column} FROM {table}{}",
        cols.join(", "),
        where_clause(&conds)
    );
    let value = format!(
        "{}(CAST({column} AS DOUBLE)) AS v",
        kpi.aggregation.sql_function()
    );
    collect(ctx, &grouped(&value, &inner, &group), false).await
}

/// The KPI series over the CPI series' own span: periods starting before
/// `spec.to`, where [`kpi_series`] reads on to the end of the period holding
/// it (for correlation's leads). Granger and drivers test both series on
/// the same periods.
pub async fn kpi_series_within(
    ctx: &SessionContext,
    kpi: &KpiRef<'_>,
    cal: &Calendar,
    spec: &SeriesSpec,
) -> Result<Series> {
    let mut series = kpi_series(ctx, kpi, cal, spec).await?;
    if let Some(to) = spec.to {
        series.retain(|(_, _, p), _| *p < to);
    }
    Ok(series)
}

/// Run `sql` (columns period, v, optional dim, entity and den) into a series;
/// with `with_den` each value is v / den, rows with a zero or missing
/// denominator and non-finite values are left out.
async fn collect(ctx: &SessionContext, sql: &str, with_den: bool) -> Result<Series> {
    let mut out = Series::new();
    for b in ctx.sql(sql).await?.collect().await? {
        let period = dates(&b, "period")?;
        let dim = strings_if_present(&b, "dim")?;
        let ent = strings_if_present(&b, "entity")?;
        let v = floats(&b, "v")?;
        let den = if with_den {
            Some(floats(&b, "den")?)
        } else {
            None
        };
        for i in 0..b.num_rows() {
            if period.is_null(i) || v.is_null(i) {
                continue;
            }
            let value = match &den {
                Some(d) if d.is_null(i) || d.value(i) == 0.0 => continue,
                Some(d) => v.value(i) / d.value(i),
                None => v.value(i),
            };
            if !value.is_finite() {
                continue;
            }
            let key = (
                dim.as_ref()
                    .filter(|d| !d.is_null(i))
                    .map(|d| d.value(i).to_string()),
                ent.as_ref()
                    .filter(|e| !e.is_null(i))
                    .map(|e| e.value(i).to_string()),
                date_of(period.value(i))?,
            );
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// Replace each value by its change from the previous period of the same
/// (dimension, entity); values without a previous period are dropped.
pub fn differenced(s: &Series, cal: &Calendar, per: Grain) -> Series {
    s.iter()
        .filter_map(|((d, e, p), v)| {
            let prev = cal.shift(per, *p, -1);
            s.get(&(d.clone(), e.clone(), prev))
                .map(|pv| ((d.clone(), e.clone(), *p), v - pv))
        })
        .collect()
}

/// Dimension value `dim` of `a` and `b` placed on one period grid: the
/// periods from the first to the last either has, consecutive by the
/// calendar, with `None` where a series has no value. Position i is period
/// i after the first, so a lag of i positions is a lag of i periods.
pub fn on_grid(
    a: &Series,
    b: &Series,
    dim: &Option<String>,
    cal: &Calendar,
    per: Grain,
) -> (Vec<NaiveDate>, Grid, Grid) {
    let (periods, mut grids) = on_common_grid(&[a, b], dim, cal, per);
    let gb = grids.pop().unwrap_or_default();
    let ga = grids.pop().unwrap_or_default();
    (periods, ga, gb)
}

/// Dimension value `dim` of every series on one period grid, as
/// [`on_grid`] places two.
pub fn on_common_grid(
    all: &[&Series],
    dim: &Option<String>,
    cal: &Calendar,
    per: Grain,
) -> (Vec<NaiveDate>, Vec<Grid>) {
    let maps: Vec<BTreeMap<NaiveDate, f64>> = all
        .iter()
        .map(|s| {
            s.iter()
                .filter(|((d, e, _), _)| d == dim && e.is_none())
                .map(|((_, _, p), v)| (*p, *v))
                .collect()
        })
        .collect();
    let first = maps.iter().filter_map(|m| m.keys().next()).min().copied();
    let last = maps
        .iter()
        .filter_map(|m| m.keys().next_back())
        .max()
        .copied();
    let mut periods = Vec::new();
    if let (Some(mut p), Some(last)) = (first, last) {
        while p <= last {
            periods.push(p);
            p = cal.shift(per, p, 1);
        }
    }
    let grids = maps
        .iter()
        .map(|m| periods.iter().map(|p| m.get(p).copied()).collect())
        .collect();
    (periods, grids)
}
