//! SQL generation: the aggregate each CPI of a slice runs, over its view or
//! its rollup, and the rollup's own build query.

use std::collections::HashMap;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use super::request::{Compare, SliceRequest};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::CpiDefinition;

/// The CPI's time column as SQL that periods and ranges are cut on, and the
/// type that expression has. Dates become midnight timestamps; a zoned
/// timestamp becomes local time in the workspace's time zone (or its own).
pub(super) fn time_expr(t: &str, time_type: &DataType, cal: &Calendar) -> (String, DataType) {
    match time_type {
        DataType::Date32 | DataType::Date64 => {
            (format!("CAST({t} AS TIMESTAMP)"), time_type.clone())
        }
        DataType::Timestamp(unit, Some(_)) => {
            let local = match &cal.timezone {
                Some(tz) => format!(
                    "to_local_time({t} AT TIME ZONE '{}')",
                    tz.replace('\'', "''")
                ),
                None => format!("to_local_time({t})"),
            };
            (local, DataType::Timestamp(*unit, None))
        }
        _ => (t.to_string(), time_type.clone()),
    }
}

/// The column (or local-time expression, for zoned columns) that `--from`
/// and `--to` compare with, and its type. Unzoned columns are compared
/// directly so Parquet statistics can skip files and row groups.
pub(super) fn range_expr(t: &str, time_type: &DataType, cal: &Calendar) -> (String, DataType) {
    match time_type {
        DataType::Timestamp(_, Some(_)) => time_expr(t, time_type, cal),
        _ => (t.to_string(), time_type.clone()),
    }
}

pub(super) fn time_literal(t: &DataType, d: NaiveDate) -> String {
    match t {
        DataType::Date32 | DataType::Date64 => format!("DATE '{d}'"),
        _ => format!("TIMESTAMP '{d} 00:00:00'"),
    }
}

/// A rollup a CPI's cells can be read from instead of its view: the
/// pre-aggregated cells of `cpiq rollup build` (see the rollup module).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSource {
    /// The registered table holding the rollup's cells.
    pub table: String,
    /// One line saying which rollup this is, shown by `\sql` and `--explain`.
    pub about: String,
}

/// Where the rows of one CPI's aggregate query come from: the CPI's view
/// (one row per event) or a rollup (one row per day, or coarser, and every
/// declared dimension, with summed measures).
pub(super) struct Scan {
    pub(super) relation: String,
    /// The timestamp periods are cut from.
    pub(super) ts: String,
    /// What `--from`/`--to` compare with, and its type.
    pub(super) range: String,
    pub(super) range_type: DataType,
    /// The measure columns of the inner query and their aggregates.
    pub(super) inner: Vec<&'static str>,
    pub(super) aggregates: Vec<&'static str>,
    /// One row per event (a CPI's view), rather than pre-aggregated cells.
    pub(super) per_event: bool,
}

impl Scan {
    /// The scan of a CPI's view. `binary`: its plan shows every numerator
    /// is 0 or 1 and every denominator 1 ([`binary_by_definition`]), so the
    /// per-event test that decides Wilson intervals is not needed.
    pub(super) fn raw(
        def: &CpiDefinition,
        time_type: &DataType,
        cal: &Calendar,
        binary: bool,
    ) -> Scan {
        let (ts, _) = time_expr(&def.time, time_type, cal);
        let (range, range_type) = range_expr(&def.time, time_type, cal);
        Scan {
            relation: def.name.clone(),
            ts,
            range,
            range_type,
            inner: vec!["numerator", "denominator"],
            aggregates: vec![
                "SUM(CAST(numerator AS DOUBLE)) AS numerator",
                "SUM(CAST(denominator AS DOUBLE)) AS denominator",
                "COUNT(*) AS events",
                if binary {
                    "TRUE AS is_binary"
                } else {
                    "BOOL_AND((numerator = 0 OR numerator = 1) AND denominator = 1) AS is_binary"
                },
            ],
            per_event: true,
        }
    }

    /// This per-event scan aggregated by day and the `by` dimensions first,
    /// with the conditions `where_` applied: the cells of a day rollup,
    /// computed on the fly, which the slice's periods are then cut from.
    pub(super) fn by_day(&self, by: &[String], where_: &str, cal: &Calendar) -> Scan {
        let dims: String = by.iter().map(|d| format!(", {d}")).collect();
        let day = cal
            .period_start_sql(Grain::Day, &self.ts)
            .unwrap_or_else(|| self.ts.clone());
        Scan::rollup(&RollupSource {
            table: format!(
                "(SELECT {day} AS {ROLLUP_PERIOD}{dims}, {aggregates} \
                 FROM {relation}{where_} GROUP BY {ROLLUP_PERIOD}{dims}) AS d",
                aggregates = self.aggregates.join(", "),
                relation = self.relation,
            ),
            about: String::new(),
        })
    }

    pub(super) fn rollup(source: &RollupSource) -> Scan {
        // The rollup's period_start is the local start of each period, so
        // ranges of whole periods compare with it directly.
        Scan {
            relation: source.table.clone(),
            ts: ROLLUP_PERIOD.into(),
            range: ROLLUP_PERIOD.into(),
            range_type: DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Nanosecond,
                None,
            ),
            inner: vec!["numerator", "denominator", "events", "is_binary"],
            aggregates: vec![
                "SUM(numerator) AS numerator",
                "SUM(denominator) AS denominator",
                // A global aggregate of no cells (`per all` over an empty
                // range) is one row of zero counts, as COUNT(*) gives raw.
                "CAST(COALESCE(SUM(events), 0) AS BIGINT) AS events",
                "BOOL_AND(is_binary) AS is_binary",
            ],
            per_event: false,
        }
    }
}

/// The column of a rollup holding the start of each cell's period.
pub const ROLLUP_PERIOD: &str = "period_start";

/// The aggregate query that builds a rollup of `def` at `grain`: one row per
/// period and combination of every declared dimension, with the same sums,
/// count and binary flag a slice's raw query computes, so that summing them
/// again gives a slice's cells exactly.
pub fn rollup_sql(
    def: &CpiDefinition,
    time_type: &DataType,
    binary: bool,
    cal: &Calendar,
    grain: Grain,
) -> String {
    let scan = Scan::raw(def, time_type, cal, binary);
    let period = cal
        .period_start_sql(grain, &scan.ts)
        .unwrap_or_else(|| "NULL".into());
    let mut cols = vec![format!("{period} AS {ROLLUP_PERIOD}")];
    let mut group = vec![ROLLUP_PERIOD.to_string()];
    for d in &def.dimensions {
        cols.push(d.clone());
        group.push(d.clone());
    }
    cols.extend(scan.aggregates.iter().map(|a| a.to_string()));
    format!(
        "SELECT {} FROM {} GROUP BY {} ORDER BY {ROLLUP_PERIOD}",
        cols.join(", "),
        def.name,
        group.join(", ")
    )
}

/// The aggregate query of one CPI: one row per period and dimension values.
pub(super) fn cell_sql(
    scan: &Scan,
    def: &CpiDefinition,
    req: &SliceRequest,
    cal: &Calendar,
    from: Option<NaiveDate>,
) -> String {
    let t = &scan.range;
    let time_type = &scan.range_type;
    let mut conds = Vec::new();
    if let Some(f) = from {
        conds.push(format!("{t} >= {}", time_literal(time_type, f)));
    }
    if let Some(to) = req.to {
        conds.push(format!("{t} < {}", time_literal(time_type, to)));
    }
    if let Some(p) = &req.filter {
        conds.push(format!("({p})"));
    }
    let mut where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    // Periods coarser than a day are cut from day cells, unless a cell per
    // day and customer would be nearly one per event.
    let by_entity = req.by.iter().any(|d| def.entity.as_ref() == Some(d));
    let day_cells;
    let scan = if scan.per_event && !by_entity && !matches!(req.per, Grain::Day | Grain::All) {
        day_cells = scan.by_day(&req.by, &where_, cal);
        where_.clear();
        &day_cells
    } else {
        scan
    };
    let mut inner = Vec::new();
    let mut outer = vec![format!("'{}' AS cpi", def.name)];
    let mut group = Vec::new();
    // Group by the raw period start and dimension values; the casts to the
    // result's DATE and text apply to the groups, not to every row.
    if let Some(p) = cal.period_start_sql(req.per, &scan.ts) {
        inner.push(format!("{p} AS period_start"));
        outer.push("CAST(period_start AS DATE) AS period".into());
        group.push("period_start".to_string());
    }
    for d in &req.by {
        inner.push(format!("{d} AS {d}_value"));
        outer.push(format!("CAST({d}_value AS VARCHAR) AS {d}"));
        group.push(format!("{d}_value"));
    }
    inner.extend(scan.inner.iter().map(|c| c.to_string()));
    outer.extend(scan.aggregates.iter().map(|a| a.to_string()));
    let group_by = if group.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", group.join(", "))
    };
    format!(
        "SELECT {} FROM (SELECT {} FROM {}{where_}) AS s{group_by}",
        outer.join(", "),
        inner.join(", "),
        scan.relation
    )
}

/// The aggregate query in key order: period, then dimension values, NULLs
/// first (the order of the map the other path fills).
pub(super) fn ordered(sql: String, req: &SliceRequest) -> String {
    let mut keys: Vec<String> = Vec::new();
    if req.per != Grain::All {
        keys.push("period ASC NULLS FIRST".into());
    }
    keys.extend(req.by.iter().map(|d| format!("{d} ASC NULLS FIRST")));
    if keys.is_empty() {
        sql
    } else {
        format!("{sql} ORDER BY {}", keys.join(", "))
    }
}

/// True when CPI `def`'s view visibly returns a numerator of 0 or 1 (a
/// literal, or a CASE whose branches are all 0, 1 or NULL) and a
/// denominator of literal 1 for every event: then every cell is a
/// proportion and gets a Wilson interval without testing each event (the
/// per-event test costs ~6% of a slice). Views whose output is computed
/// otherwise (another CPI's columns, arithmetic) are tested per event.
pub async fn binary_by_definition(ctx: &SessionContext, def: &CpiDefinition) -> bool {
    use datafusion::logical_expr::{Expr, LogicalPlan};
    /// The expression without aliases and casts.
    fn peel(e: &Expr) -> &Expr {
        match e {
            Expr::Alias(a) => peel(&a.expr),
            Expr::Cast(c) => peel(&c.expr),
            e => e,
        }
    }
    /// A literal's number; `Some(None)` for a NULL literal.
    fn literal(e: &Expr) -> Option<Option<f64>> {
        match peel(e) {
            Expr::Literal(v, _) if v.is_null() => Some(None),
            Expr::Literal(v, _) => match v.cast_to(&DataType::Float64) {
                Ok(datafusion::common::ScalarValue::Float64(Some(x))) => Some(Some(x)),
                _ => None,
            },
            _ => None,
        }
    }
    // A NULL numerator is skipped by the sums and by the per-event test alike.
    fn zero_one_or_null(e: &Expr) -> bool {
        match peel(e) {
            Expr::Case(c) => {
                c.when_then_expr.iter().all(|(_, t)| zero_one_or_null(t))
                    && c.else_expr.as_ref().is_none_or(|e| zero_one_or_null(e))
            }
            e => matches!(literal(e), Some(None | Some(0.0 | 1.0))),
        }
    }
    let Ok(provider) = ctx.table_provider(def.name.as_str()).await else {
        return false;
    };
    let Some(plan) = provider.get_logical_plan() else {
        return false;
    };
    let LogicalPlan::Projection(p) = plan.as_ref() else {
        return false;
    };
    let named = |name: &str| {
        p.schema
            .fields()
            .iter()
            .position(|f| f.name() == name)
            .and_then(|i| p.expr.get(i))
    };
    matches!(
        (named("numerator"), named("denominator")),
        (Some(n), Some(d)) if zero_one_or_null(n) && literal(d) == Some(Some(1.0))
    )
}

/// The type of a CPI's time column, as its view returns it.
pub async fn time_type(ctx: &SessionContext, def: &CpiDefinition) -> Result<DataType> {
    let view = ctx.table(def.name.as_str()).await?;
    view.schema()
        .field_with_unqualified_name(&def.time)
        .map(|f| f.data_type().clone())
        .map_err(|e| CpiqError::Usage(format!("CPI {}: {e}", def.name)))
}

/// The aggregate statement of one CPI for `req` (over `rollup` if given,
/// else the CPI's view; a comment line names the rollup), and the first
/// reported period. A plain slice is ordered by period and dimensions.
pub(super) async fn statement(
    ctx: &SessionContext,
    def: &CpiDefinition,
    req: &SliceRequest,
    cal: &Calendar,
    rollup: Option<&RollupSource>,
) -> Result<(String, Option<NaiveDate>)> {
    let scan = match rollup {
        Some(r) => Scan::rollup(r),
        None => Scan::raw(
            def,
            &time_type(ctx, def).await?,
            cal,
            binary_by_definition(ctx, def).await,
        ),
    };
    // Read far enough back to know the comparison values of the first period.
    let first = req.from.map(|f| cal.truncate(req.per, f));
    let query_from = match (first, req.compare) {
        (Some(f), Some(Compare::Previous)) => Some(cal.shift(req.per, f, -1)),
        (Some(f), Some(Compare::Year)) => {
            Some(cal.shift(Grain::Month, cal.shift(req.per, f, -1), -12))
        }
        _ => req.from,
    };
    let mut sql = cell_sql(&scan, def, req, cal, query_from);
    if let (Some(first), Some(from), Some(_)) = (first, req.from, req.compare)
        && first < from
    {
        // Comparison periods are read whole, but the first reported
        // period still starts at --from.
        let (t, time_type) = (&scan.range, &scan.range_type);
        sql = sql.replacen(
            " WHERE ",
            &format!(
                " WHERE ({t} >= {} OR {t} < {}) AND ",
                time_literal(time_type, from),
                time_literal(time_type, first)
            ),
            1,
        );
    }
    if req.compare.is_none() && !req.fill {
        sql = ordered(sql, req);
    }
    if let Some(r) = rollup {
        sql = format!("-- {}: {}\n{sql}", def.name, r.about);
    }
    Ok((sql, first))
}

/// The aggregate statement each CPI of `req` runs, in result order, without
/// running them (`--explain`).
pub async fn statements(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &SliceRequest,
    rollups: &HashMap<String, RollupSource>,
) -> Result<Vec<(String, String)>> {
    let mut chosen = req.validate(defs)?;
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for def in chosen {
        let (sql, _) = statement(ctx, def, req, cal, rollups.get(&def.name)).await?;
        out.push((def.name.clone(), sql));
    }
    Ok(out)
}
