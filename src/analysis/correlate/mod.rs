//! Correlating CPIs with KPIs: lagged, with significance, per segment and
//! per customer.
//!
//! The CPI series is `SUM(numerator) / SUM(denominator)` per period (and per
//! `--by` value, or per entity and period with `--per-entity`); the KPI
//! series is the KPI column rolled up per period with its declared
//! aggregation. Lag k pairs the CPI in period t with the KPI in period t + k:
//! the CPI leads. Statistics live in [`stats`]; this module builds the
//! series, pairs them and assembles the result, which every front end
//! (`cpiq correlate`, `\correlate`, scripts) renders.

mod scatter;
pub mod stats;

pub use scatter::Scatter;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;

use crate::foundation::columns::{date_of, dates, floats, strings_if_present};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::{CpiDefinition, Direction};
use crate::workspace::KpiSpec;

/// Which correlation to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Pearson's r.
    Pearson,
    /// Spearman's rho.
    Spearman,
    /// Both; p-value and interval are Pearson's, plus `spearman_p_value`.
    Both,
}

impl std::str::FromStr for Method {
    type Err = CpiqError;
    fn from_str(s: &str) -> Result<Method> {
        match s {
            "pearson" => Ok(Method::Pearson),
            "spearman" => Ok(Method::Spearman),
            "both" => Ok(Method::Both),
            other => Err(CpiqError::Usage(format!(
                "unknown method \"{other}\" (expected pearson, spearman or both)"
            ))),
        }
    }
}

/// A correlation request.
#[derive(Debug, Clone)]
pub struct CorrelateRequest {
    /// The CPIs.
    pub cpis: Vec<String>,
    /// The KPIs, as `kpi_table.column`.
    pub kpis: Vec<String>,
    /// The grain: week, month or quarter.
    pub per: Grain,
    /// An optional dimension both sides carry.
    pub by: Option<String>,
    /// Lags, in periods (the CPI leads).
    pub lags: Vec<u32>,
    /// Pearson, Spearman or both.
    pub method: Method,
    /// Inclusive start of the CPI series.
    pub from: Option<NaiveDate>,
    /// Exclusive end of the CPI series.
    pub to: Option<NaiveDate>,
    /// Correlate per entity (customer) and period.
    pub per_entity: bool,
    /// Correlate period-over-period changes instead of levels.
    pub difference: bool,
}

/// Parse `0..3` (inclusive), `2`, or `0,1,3`.
pub fn parse_lags(s: &str) -> Result<Vec<u32>> {
    let bad = || {
        CpiqError::Usage(format!(
            "--lags \"{s}\": expected a range like 0..3, a number, or a list like 0,1,3"
        ))
    };
    let lags: Vec<u32> = if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u32, u32) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim()
                .trim_start_matches('=')
                .parse()
                .map_err(|_| bad())?,
        );
        if a > b {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        s.split(',')
            .map(|x| x.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?
    };
    if lags.is_empty() || lags.iter().any(|&l| l > 24) {
        return Err(bad());
    }
    Ok(lags)
}

type Series = BTreeMap<(Option<String>, Option<String>, NaiveDate), f64>; // (dim, entity, period) -> value

fn needs_grain() -> CpiqError {
    CpiqError::Usage("correlate needs a time grain: --per day|week|month|quarter|year".into())
}

async fn series(ctx: &SessionContext, sql: &str, with_den: bool) -> Result<Series> {
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
fn differenced(s: &Series, cal: &Calendar, per: Grain) -> Series {
    s.iter()
        .filter_map(|((d, e, p), v)| {
            let prev = cal.shift(per, *p, -1);
            s.get(&(d.clone(), e.clone(), prev))
                .map(|pv| ((d.clone(), e.clone(), *p), v - pv))
        })
        .collect()
}

/// One result row before q-values.
struct Row {
    cpi: String,
    kpi: String,
    dim: Option<String>,
    lag: u32,
    n: usize,
    r: Option<f64>,
    rho: Option<f64>,
    p: Option<f64>,
    sp: Option<f64>,
    ci: Option<(f64, f64)>,
    expected: Option<&'static str>,
    unit: crate::model::cpi::Unit,
    pairs: Vec<(f64, f64)>,
}

/// What a correlation run produced: the table, and notes for stderr and
/// the terminal verdicts.
pub struct Correlation {
    /// One row per CPI × KPI × dimension value × lag.
    pub batch: RecordBatch,
    /// Warnings and notes (few pairs, autocorrelations).
    pub notes: Vec<String>,
    /// One verdict line per CPI × KPI (× dimension value).
    pub verdicts: Vec<String>,
    /// The pairs at the best lag per CPI × KPI (× dimension value), the
    /// strongest relation first: what `\chart` draws.
    pub scatters: Vec<Scatter>,
}

/// Run a correlation.
pub async fn run(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    kpis: &[KpiSpec],
    cal: &Calendar,
    req: &CorrelateRequest,
) -> Result<Correlation> {
    if !matches!(req.per, Grain::Week | Grain::Month | Grain::Quarter) {
        return Err(CpiqError::Usage(
            "--per must be week, month or quarter for a correlation".into(),
        ));
    }
    if req.cpis.is_empty() || req.kpis.is_empty() {
        return Err(CpiqError::Usage(
            "name at least one CPI and one KPI (--with kpi_table.column)".into(),
        ));
    }
    let mut notes = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let max_lag = *req.lags.iter().max().unwrap_or(&0) as i32;
    for cpi_name in &req.cpis {
        let def = defs.iter().find(|d| &d.name == cpi_name).ok_or_else(|| {
            let mut known: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
            known.sort();
            CpiqError::Usage(format!(
                "unknown CPI \"{cpi_name}\" (known: {})",
                known.join(", ")
            ))
        })?;
        if let Some(d) = &req.by
            && !def.dimensions.contains(d)
        {
            return Err(CpiqError::Usage(format!(
                "CPI {} has no dimension \"{d}\" (its dimensions: {})",
                def.name,
                def.dimensions.join(", ")
            )));
        }
        let entity = if req.per_entity {
            Some(def.entity.clone().ok_or_else(|| {
                CpiqError::Usage(format!(
                    "--per-entity: CPI {} declares no `-- entity:` column",
                    def.name
                ))
            })?)
        } else {
            None
        };
        let view = ctx.table(def.name.as_str()).await?;
        let t_type = view
            .schema()
            .field_with_unqualified_name(&def.time)
            .map(|f| f.data_type().clone())
            .map_err(|e| CpiqError::Usage(e.to_string()))?;
        let ts = match t_type {
            DataType::Date32 | DataType::Date64 => format!("CAST({} AS TIMESTAMP)", def.time),
            _ => def.time.clone(),
        };
        let period = cal.period_sql(req.per, &ts).ok_or_else(needs_grain)?;
        let lit = |d: NaiveDate| format!("TIMESTAMP '{d} 00:00:00'");
        let mut conds = Vec::new();
        if let Some(f) = req.from {
            conds.push(format!("{ts} >= {}", lit(f)));
        }
        if let Some(t) = req.to {
            conds.push(format!("{ts} < {}", lit(t)));
        }
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let mut cols = vec![format!("{period} AS period")];
        let mut group = vec!["period".to_string()];
        if let Some(d) = &req.by {
            cols.push(format!("CAST({d} AS VARCHAR) AS dim"));
            group.push("dim".into());
        }
        if let Some(e) = &entity {
            cols.push(format!("CAST({e} AS VARCHAR) AS entity"));
            group.push("entity".into());
        }
        let inner = format!(
            "SELECT {}, numerator, denominator FROM {}{where_}",
            cols.join(", "),
            def.name
        );
        let sql = format!(
            "SELECT {}, SUM(CAST(numerator AS DOUBLE)) AS v, SUM(CAST(denominator AS DOUBLE)) AS den FROM ({inner}) s GROUP BY {}",
            group.join(", "),
            group.join(", ")
        );
        let mut cpi_series = series(ctx, &sql, true).await?;
        if req.difference {
            cpi_series = differenced(&cpi_series, cal, req.per);
        }

        for kpi_name in &req.kpis {
            let (table, column) = kpi_name.split_once('.').ok_or_else(|| {
                CpiqError::Usage(format!("KPI \"{kpi_name}\": write it as kpi_table.column"))
            })?;
            let kpi = kpis.iter().find(|k| k.table.name == table).ok_or_else(|| {
                CpiqError::Usage(format!(
                    "no KPI table \"{table}\" (KPI tables: {})",
                    kpis.iter()
                        .map(|k| k.table.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            let (_, agg) = kpi
                .measures
                .iter()
                .find(|(m, _)| m == column)
                .ok_or_else(|| {
                    CpiqError::Usage(format!(
                        "KPI table {table} has no measure \"{column}\" (its measures: {})",
                        kpi.measures
                            .iter()
                            .map(|(m, _)| m.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if let Some(d) = &req.by
                && !kpi.dimensions.contains(d)
            {
                return Err(CpiqError::Usage(format!(
                    "KPI table {table} does not carry the dimension \"{d}\" (its dimensions: {})",
                    kpi.dimensions.join(", ")
                )));
            }
            if let Some(e) = &entity {
                let t = ctx.table(table).await?;
                if t.schema().field_with_unqualified_name(e).is_err() {
                    return Err(CpiqError::Usage(format!(
                        "--per-entity: KPI table {table} has no column \"{e}\""
                    )));
                }
            }
            let kts = format!("CAST({} AS TIMESTAMP)", kpi.time);
            let kperiod = cal.period_sql(req.per, &kts).ok_or_else(needs_grain)?;
            let mut kconds = Vec::new();
            if let Some(f) = req.from {
                kconds.push(format!("{kts} >= {}", lit(f)));
            }
            if let Some(t) = req.to {
                // The KPI runs max_lag periods past the CPI's end.
                let end = cal.shift(req.per, cal.truncate(req.per, t), max_lag + 1);
                kconds.push(format!("{kts} < {}", lit(end)));
            }
            let kwhere = if kconds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", kconds.join(" AND "))
            };
            let mut kcols = vec![format!("{kperiod} AS period")];
            let mut kgroup = vec!["period".to_string()];
            if let Some(d) = &req.by {
                kcols.push(format!("CAST({d} AS VARCHAR) AS dim"));
                kgroup.push("dim".into());
            }
            if let Some(e) = &entity {
                kcols.push(format!("CAST({e} AS VARCHAR) AS entity"));
                kgroup.push("entity".into());
            }
            let ksql = format!(
                "SELECT {}, {}(CAST({column} AS DOUBLE)) AS v FROM (SELECT {}, {column} FROM {table}{kwhere}) s GROUP BY {}",
                kgroup.join(", "),
                agg.sql_function(),
                kcols.join(", "),
                kgroup.join(", ")
            );
            let mut kpi_series = series(ctx, &ksql, false).await?;
            if req.difference {
                kpi_series = differenced(&kpi_series, cal, req.per);
            }

            let dims: BTreeSet<Option<String>> =
                cpi_series.keys().map(|(d, _, _)| d.clone()).collect();
            for dim in dims {
                // Autocorrelation of both series (aggregate mode only).
                if entity.is_none() {
                    let xs: Vec<f64> = cpi_series
                        .iter()
                        .filter(|((d, _, _), _)| *d == dim)
                        .map(|(_, v)| *v)
                        .collect();
                    let ys: Vec<f64> = kpi_series
                        .iter()
                        .filter(|((d, _, _), _)| *d == dim)
                        .map(|(_, v)| *v)
                        .collect();
                    let fmt = |a: Option<f64>| {
                        a.map(|a| format!("{a:.2}")).unwrap_or_else(|| "n/a".into())
                    };
                    notes.push(format!(
                        "lag-1 autocorrelation{}: {} {}, {kpi_name} {}{}",
                        dim.as_ref().map(|d| format!(" ({d})")).unwrap_or_default(),
                        def.name,
                        fmt(stats::autocorrelation(&xs)),
                        fmt(stats::autocorrelation(&ys)),
                        if stats::autocorrelation(&xs).unwrap_or(0.0).abs() > 0.5
                            && stats::autocorrelation(&ys).unwrap_or(0.0).abs() > 0.5
                            && !req.difference
                        {
                            " — both series are persistent: levels may mislead, try --difference"
                        } else {
                            ""
                        }
                    ));
                }
                for &lag in &req.lags {
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    for ((d, e, p), v) in &cpi_series {
                        if *d != dim {
                            continue;
                        }
                        let later = cal.shift(req.per, *p, lag as i32);
                        if let Some(k) = kpi_series.get(&(d.clone(), e.clone(), later)) {
                            x.push(*v);
                            y.push(*k);
                        }
                    }
                    let n = x.len();
                    let label = format!(
                        "{} × {kpi_name}{} lag {lag}",
                        def.name,
                        dim.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                    );
                    if n < 3 {
                        notes.push(format!("note: {label}: {n} pairs, too few for statistics"));
                    } else if n < 8 {
                        notes.push(format!("warning: {label}: only {n} pairs"));
                    }
                    let r = stats::pearson(&x, &y);
                    let rho = stats::spearman(&x, &y);
                    let primary = if req.method == Method::Spearman {
                        rho
                    } else {
                        r
                    };
                    let p = primary.and_then(|c| stats::p_value(c, n));
                    let sp = if req.method == Method::Both {
                        rho.and_then(|c| stats::p_value(c, n))
                    } else {
                        None
                    };
                    let ci = primary.and_then(|c| stats::fisher_ci(c, n));
                    let expected = match (kpi.directions.get(column), primary) {
                        (Some(&kpi_higher), Some(c)) if c != 0.0 => {
                            let cpi_higher = def.direction == Direction::HigherIsBetter;
                            let expect_positive = cpi_higher == kpi_higher;
                            Some(if (c > 0.0) == expect_positive {
                                "agrees"
                            } else {
                                "contradicts"
                            })
                        }
                        _ => None,
                    };
                    rows.push(Row {
                        cpi: def.name.clone(),
                        kpi: kpi_name.clone(),
                        dim: dim.clone(),
                        lag,
                        n,
                        r,
                        rho,
                        p,
                        sp,
                        ci,
                        expected,
                        unit: def.unit,
                        pairs: x.iter().copied().zip(y.iter().copied()).collect(),
                    });
                }
            }
        }
    }

    // q-values over every row; the best lag per CPI × KPI × dimension value.
    let q = stats::benjamini_hochberg(&rows.iter().map(|r| r.p).collect::<Vec<_>>());
    let primary = |r: &Row| {
        if req.method == Method::Spearman {
            r.rho
        } else {
            r.r
        }
    };
    let mut best: HashMap<(String, String, Option<String>), (usize, f64)> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(c) = primary(r) {
            let e = best
                .entry((r.cpi.clone(), r.kpi.clone(), r.dim.clone()))
                .or_insert((i, c.abs()));
            if c.abs() > e.1 {
                *e = (i, c.abs());
            }
        }
    }
    let best_rows: BTreeSet<usize> = best.values().map(|(i, _)| *i).collect();
    let mut verdicts = Vec::new();
    let mut keys: Vec<&(String, String, Option<String>)> = best.keys().collect();
    keys.sort();
    let unit = req.per.name();
    for k in keys {
        let (i, _) = best[k];
        let r = &rows[i];
        let c = primary(r).unwrap_or(0.0);
        let qv = q[i].unwrap_or(1.0);
        let qtext = if qv < 0.001 {
            "q < 0.001".to_string()
        } else {
            format!("q = {qv:.3}")
        };
        let who = format!(
            "{}{}",
            r.cpi,
            r.dim
                .as_ref()
                .map(|d| format!(" [{d}]"))
                .unwrap_or_default()
        );
        let sym = if req.method == Method::Spearman {
            "rho"
        } else {
            "r"
        };
        let directions = r
            .expected
            .map(|e| format!(" ({e} with the declared directions)"))
            .unwrap_or_default();
        verdicts.push(if qv < 0.05 && r.lag == 0 {
            format!(
                "{who} moves with {}, {sym} = {c:.2}, {qtext}{directions}",
                r.kpi
            )
        } else if qv < 0.05 {
            let s = if r.lag == 1 { "" } else { "s" };
            format!(
                "{who} leads {} by {} {unit}{s}, {sym} = {c:.2}, {qtext}{directions}",
                r.kpi, r.lag
            )
        } else {
            format!(
                "{who} and {}: no significant relation (best |{sym}| = {:.2} at lag {}, {qtext})",
                r.kpi,
                c.abs(),
                r.lag
            )
        });
    }

    let mut scatters: Vec<Scatter> = best_rows
        .iter()
        .map(|&i| {
            let r = &rows[i];
            Scatter {
                cpi: r.cpi.clone(),
                unit: r.unit,
                kpi: r.kpi.clone(),
                dimension: r.dim.clone(),
                lag: r.lag,
                per: req.per.name(),
                symbol: if req.method == Method::Spearman {
                    "rho"
                } else {
                    "r"
                },
                coefficient: primary(r),
                points: r.pairs.clone(),
            }
        })
        .collect();
    scatters.sort_by(|a, b| {
        let strength = |s: &Scatter| s.coefficient.map_or(0.0, f64::abs);
        strength(b)
            .total_cmp(&strength(a))
            .then_with(|| (&a.cpi, &a.kpi, &a.dimension).cmp(&(&b.cpi, &b.kpi, &b.dimension)))
    });

    // The table.
    let mut fields = vec![
        Field::new("cpi", DataType::Utf8, false),
        Field::new("kpi", DataType::Utf8, false),
    ];
    if let Some(d) = &req.by {
        fields.push(Field::new(d, DataType::Utf8, true));
    }
    for (name, t) in [
        ("lag", DataType::Int64),
        ("n", DataType::Int64),
        ("pearson_r", DataType::Float64),
        ("spearman_rho", DataType::Float64),
        ("p_value", DataType::Float64),
    ] {
        fields.push(Field::new(name, t, name != "lag" && name != "n"));
    }
    if req.method == Method::Both {
        fields.push(Field::new("spearman_p_value", DataType::Float64, true));
    }
    for (name, t) in [
        ("ci_low", DataType::Float64),
        ("ci_high", DataType::Float64),
        ("q_value", DataType::Float64),
        ("significant", DataType::Boolean),
        ("best_lag", DataType::Boolean),
        ("expected", DataType::Utf8),
    ] {
        fields.push(Field::new(name, t, true));
    }
    let f64s = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.cpi.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.kpi.as_str()),
        )),
    ];
    if req.by.is_some() {
        arrays.push(Arc::new(StringArray::from(
            rows.iter().map(|r| r.dim.clone()).collect::<Vec<_>>(),
        )));
    }
    arrays.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.lag as i64),
    )));
    arrays.push(Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|r| r.n as i64),
    )));
    arrays.push(f64s(&|r| r.r));
    arrays.push(f64s(&|r| r.rho));
    arrays.push(f64s(&|r| r.p));
    if req.method == Method::Both {
        arrays.push(f64s(&|r| r.sp));
    }
    arrays.push(f64s(&|r| r.ci.map(|c| c.0)));
    arrays.push(f64s(&|r| r.ci.map(|c| c.1)));
    arrays.push(Arc::new(Float64Array::from(q.clone())));
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
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(Correlation {
        batch,
        notes,
        verdicts,
        scatters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_parse() {
        assert_eq!(parse_lags("0..3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_lags("2").unwrap(), [2]);
        assert_eq!(parse_lags("0,2").unwrap(), [0, 2]);
        assert!(parse_lags("3..1").is_err());
        assert!(parse_lags("x").is_err());
    }
}
