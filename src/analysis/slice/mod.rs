//! Slicing CPIs: by dimensions and period, against targets, period over
//! period, with gaps filled and Wilson intervals; and why a CPI moved.
//!
//! One core serves `cpiq slice`, the shell's `\slice`, job scripts and SQL
//! (the `cpi_slice` table function): a [`SliceRequest`] is validated against
//! the CPI definitions ([`SliceRequest::validate`]), compiled to one
//! aggregate query per CPI over its view, and the small aggregated result is
//! finished here ([`run`]): values, status, intervals, comparisons and filled
//! periods are computed in one place so that every front end gets the same
//! numbers. Rendering is presentation's job
//! ([`crate::present::output::display_batch`]).

mod explain;
mod udtf;

pub use explain::{ExplainRequest, explain_change};
pub use udtf::CpiSliceFunction;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, BooleanArray, Date32Array, Date32Builder, Float64Array,
    Float64Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, visit_expressions};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use futures::StreamExt;

use crate::foundation::columns::{booleans, date_of, dates, days_of, floats, integers, strings};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::{Calendar, Grain, parse_date};
use crate::model::cpi::CpiDefinition;

/// What to compare each period with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The preceding period.
    Previous,
    /// The same period a year earlier.
    Year,
}

impl FromStr for Compare {
    type Err = CpiqError;
    fn from_str(s: &str) -> Result<Compare> {
        match s {
            "previous" => Ok(Compare::Previous),
            "year" => Ok(Compare::Year),
            other => Err(CpiqError::Usage(format!(
                "unknown comparison \"{other}\" (expected previous or year)"
            ))),
        }
    }
}

/// A slice of one or more CPIs.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRequest {
    /// The CPIs, sharing the same slicing.
    pub cpis: Vec<String>,
    /// Dimensions to split by.
    pub by: Vec<String>,
    /// The time grain.
    pub per: Grain,
    /// A SQL predicate over the CPIs' dimensions and time column.
    pub filter: Option<String>,
    /// Inclusive start date.
    pub from: Option<NaiveDate>,
    /// Exclusive end date.
    pub to: Option<NaiveDate>,
    /// Period-over-period comparison.
    pub compare: Option<Compare>,
    /// Add rows for periods with no events.
    pub fill: bool,
    /// Read the CPIs' views even where a fresh rollup covers the slice.
    pub raw: bool,
}

impl Default for SliceRequest {
    fn default() -> Self {
        SliceRequest {
            cpis: Vec::new(),
            by: Vec::new(),
            per: Grain::Month,
            filter: None,
            from: None,
            to: None,
            compare: None,
            fill: false,
            raw: false,
        }
    }
}

/// Split a comma-separated list, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// The definition of CPI `name`, or a usage error listing the known CPIs.
pub(crate) fn lookup<'a>(defs: &'a [CpiDefinition], name: &str) -> Result<&'a CpiDefinition> {
    defs.iter().find(|d| d.name == name).ok_or_else(|| {
        let mut known: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        known.sort();
        CpiqError::Usage(format!(
            "unknown CPI \"{name}\" (known: {})",
            known.join(", ")
        ))
    })
}

impl SliceRequest {
    /// Check the request against the CPI definitions: every CPI exists,
    /// declares every `--by` dimension (or has it as its entity), and the predicate only reads declared
    /// columns. Returns the definitions in request order.
    pub fn validate<'a>(&self, defs: &'a [CpiDefinition]) -> Result<Vec<&'a CpiDefinition>> {
        if self.cpis.is_empty() {
            return Err(CpiqError::Usage("name at least one CPI to slice".into()));
        }
        let chosen = self
            .cpis
            .iter()
            .map(|c| lookup(defs, c))
            .collect::<Result<Vec<_>>>()?;
        for def in &chosen {
            for d in &self.by {
                // The entity (the customer) slices too: one cell per customer.
                if !def.dimensions.contains(d) && def.entity.as_ref() != Some(d) {
                    return Err(CpiqError::Usage(format!(
                        "CPI {} has no dimension \"{d}\" (its dimensions: {}{})",
                        def.name,
                        if def.dimensions.is_empty() {
                            "none".into()
                        } else {
                            def.dimensions.join(", ")
                        },
                        def.entity
                            .as_ref()
                            .map(|e| format!("; its entity: {e}"))
                            .unwrap_or_default()
                    )));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for d in &self.by {
            if !seen.insert(d) {
                return Err(CpiqError::Usage(format!(
                    "dimension \"{d}\" is listed twice in --by"
                )));
            }
        }
        if self.compare.is_some() && self.per == Grain::All {
            return Err(CpiqError::Usage(
                "--compare needs a time grain: use --per day|week|month|quarter|year".into(),
            ));
        }
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f >= t
        {
            return Err(CpiqError::Usage(format!(
                "--from {f} must be before --to {t} (--to is exclusive)"
            )));
        }
        if let Some(pred) = &self.filter {
            check_predicate(pred, &chosen)?;
        }
        Ok(chosen)
    }
}

/// The predicate must be one SQL expression reading only columns every
/// chosen CPI declares (its dimensions and time column), without subqueries.
fn check_predicate(pred: &str, defs: &[&CpiDefinition]) -> Result<()> {
    let bad = |m: String| CpiqError::Usage(format!("--where: {m}"));
    let expr = parse_predicate(pred)?;
    let allowed: Vec<String> = {
        let first = defs[0];
        let mut cols: Vec<String> = first.dimensions.clone();
        cols.push(first.time.clone());
        cols.retain(|c| {
            defs.iter()
                .all(|d| d.dimensions.contains(c) || d.time == *c)
        });
        cols
    };
    let mut problem: Option<String> = None;
    let _ = visit_expressions(&expr, |e: &Expr| {
        let msg = match e {
            Expr::Identifier(id) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&id.value)) => {
                Some(format!(
                    "column \"{}\" is not a declared dimension or the time column",
                    id.value
                ))
            }
            Expr::CompoundIdentifier(parts) => Some(format!(
                "qualified name \"{}\" is not allowed; use a dimension name",
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )),
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                Some("subqueries are not allowed".to_string())
            }
            _ => None,
        };
        match msg {
            Some(m) => {
                problem = Some(m);
                std::ops::ControlFlow::Break(())
            }
            None => std::ops::ControlFlow::Continue(()),
        }
    });
    match problem {
        Some(m) => Err(bad(format!("{m} (allowed: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// A `--where` predicate parsed as one SQL expression.
fn parse_predicate(pred: &str) -> Result<Expr> {
    let bad = |m: String| CpiqError::Usage(format!("--where: {m}"));
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(pred)
        .map_err(|e| bad(e.to_string()))?;
    let expr = parser.parse_expr().map_err(|e| bad(e.to_string()))?;
    if parser.peek_token().token != Token::EOF {
        return Err(bad(format!("\"{pred}\" is not a single expression")));
    }
    Ok(expr)
}

/// The column names a `--where` predicate reads (as written), or an error
/// when it does not parse as one expression.
pub fn predicate_columns(pred: &str) -> Result<Vec<String>> {
    let expr = parse_predicate(pred)?;
    let mut cols = Vec::new();
    let _ = visit_expressions(&expr, |e: &Expr| {
        match e {
            Expr::Identifier(id) => cols.push(id.value.clone()),
            Expr::CompoundIdentifier(parts) => {
                cols.extend(parts.last().map(|p| p.value.clone()));
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(cols)
}

/// One aggregated cell: a CPI, period and dimension values.
#[derive(Debug, Clone, Default)]
struct Cell {
    numerator: f64,
    denominator: f64,
    events: i64,
    binary: bool,
}

type Key = (Option<NaiveDate>, Vec<Option<String>>);

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
    let mut fields = vec![Field::new("cpi", DataType::Utf8, false)];
    if req.per != Grain::All {
        fields.push(Field::new("period", DataType::Date32, false));
    }
    for d in &req.by {
        fields.push(Field::new(d, DataType::Utf8, true));
    }
    for (name, t) in [
        ("value", DataType::Float64),
        ("numerator", DataType::Float64),
        ("denominator", DataType::Float64),
        ("events", DataType::Int64),
        ("target", DataType::Float64),
        ("status", DataType::Utf8),
        ("ci_low", DataType::Float64),
        ("ci_high", DataType::Float64),
    ] {
        fields.push(Field::new(
            name,
            t,
            name != "events" && name != "numerator" && name != "denominator",
        ));
    }
    if req.compare.is_some() {
        for name in ["previous_value", "change", "change_pct"] {
            fields.push(Field::new(name, DataType::Float64, true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// The CPI's time column as SQL that periods and ranges are cut on, and the
/// type that expression has. Dates become midnight timestamps; a zoned
/// timestamp becomes local time in the workspace's time zone (or its own).
fn time_expr(t: &str, time_type: &DataType, cal: &Calendar) -> (String, DataType) {
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
fn range_expr(t: &str, time_type: &DataType, cal: &Calendar) -> (String, DataType) {
    match time_type {
        DataType::Timestamp(_, Some(_)) => time_expr(t, time_type, cal),
        _ => (t.to_string(), time_type.clone()),
    }
}

fn time_literal(t: &DataType, d: NaiveDate) -> String {
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
struct Scan {
    relation: String,
    /// The timestamp periods are cut from.
    ts: String,
    /// What `--from`/`--to` compare with, and its type.
    range: String,
    range_type: DataType,
    /// The measure columns of the inner query and their aggregates.
    inner: Vec<&'static str>,
    aggregates: Vec<&'static str>,
    /// One row per event (a CPI's view), rather than pre-aggregated cells.
    per_event: bool,
}

impl Scan {
    /// The scan of a CPI's view. `binary`: its plan shows every numerator
    /// is 0 or 1 and every denominator 1 ([`binary_by_definition`]), so the
    /// per-event test that decides Wilson intervals is not needed.
    fn raw(def: &CpiDefinition, time_type: &DataType, cal: &Calendar, binary: bool) -> Scan {
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
    fn by_day(&self, by: &[String], where_: &str, cal: &Calendar) -> Scan {
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

    fn rollup(source: &RollupSource) -> Scan {
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
                "CAST(SUM(events) AS BIGINT) AS events",
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
fn cell_sql(
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

/// What the cells of one batch cost in the map that holds them until the
/// slice is assembled: the key (period, a vector of dimension strings) and
/// the cell, with allocator and tree overheads.
fn map_bytes(b: &RecordBatch, by: &[String]) -> usize {
    b.num_rows() * (160 + 60 * by.len()) + text_bytes(b, by)
}

/// What the rows of one batch cost in the result: the CPI name, the period,
/// the dimension values and eleven numbers; twice that, as the result's
/// batches and their concatenation are held together at the end.
fn column_bytes(b: &RecordBatch, by: &[String], cpi: &str) -> usize {
    2 * (b.num_rows() * (cpi.len() + 130 + 4 * by.len()) + text_bytes(b, by))
}

fn text_bytes(b: &RecordBatch, by: &[String]) -> usize {
    by.iter()
        .filter_map(|d| b.column_by_name(d))
        .map(|a| a.get_array_memory_size())
        .sum()
}

/// The columns of one batch of the aggregate query.
struct CellColumns {
    period: Option<Date32Array>,
    dims: Vec<StringArray>,
    numerator: Float64Array,
    denominator: Float64Array,
    events: Int64Array,
    binary: BooleanArray,
}

impl CellColumns {
    fn read(b: &RecordBatch, req: &SliceRequest) -> Result<CellColumns> {
        Ok(CellColumns {
            period: match req.per {
                Grain::All => None,
                _ => Some(dates(b, "period")?),
            },
            dims: req
                .by
                .iter()
                .map(|d| strings(b, d))
                .collect::<Result<Vec<_>>>()?,
            numerator: floats(b, "numerator")?,
            denominator: floats(b, "denominator")?,
            events: integers(b, "events")?,
            binary: booleans(b, "is_binary")?,
        })
    }

    fn period(&self, i: usize) -> Result<Option<NaiveDate>> {
        self.period
            .as_ref()
            .filter(|p| !p.is_null(i))
            .map(|p| date_of(p.value(i)))
            .transpose()
    }

    fn dim(&self, d: usize, i: usize) -> Option<&str> {
        let a = &self.dims[d];
        (!a.is_null(i)).then(|| a.value(i))
    }

    fn cell(&self, i: usize) -> Cell {
        let or_zero = |a: &Float64Array| if a.is_null(i) { 0.0 } else { a.value(i) };
        Cell {
            numerator: or_zero(&self.numerator),
            denominator: or_zero(&self.denominator),
            events: self.events.value(i),
            binary: self.binary.is_null(i) || self.binary.value(i),
        }
    }
}

/// Aggregate the cells of one CPI into a map, for comparisons and filling.
/// The aggregation itself spills to disk under the session's memory limit;
/// the map is counted against `reservation` (the bytes are returned, to be
/// released with the map), so a slice with too many cells fails with a
/// "memory limit" error instead of outgrowing the limit.
async fn cells(
    ctx: &SessionContext,
    sql: &str,
    req: &SliceRequest,
    reservation: &MemoryReservation,
) -> Result<(BTreeMap<Key, Cell>, usize)> {
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut out = BTreeMap::new();
    let mut bytes = 0;
    while let Some(b) = stream.next().await {
        let b = &b?;
        let grow = map_bytes(b, &req.by);
        reservation.try_grow(grow)?;
        bytes += grow;
        let c = CellColumns::read(b, req)?;
        for i in 0..b.num_rows() {
            let dims = (0..req.by.len())
                .map(|d| c.dim(d, i).map(str::to_string))
                .collect();
            out.insert((c.period(i)?, dims), c.cell(i));
        }
    }
    Ok((out, bytes))
}

/// Stream the cells of one CPI, in key order, straight into output
/// batches: a slice without comparison or filling needs no map, so only
/// its result must fit in memory (the sort spills). Each batch of cells
/// becomes a batch of the result column by column: the dimension values
/// and counts are the query's own arrays, only value, status and interval
/// are computed per cell.
async fn stream_cells(
    ctx: &SessionContext,
    sql: &str,
    req: &SliceRequest,
    def: &CpiDefinition,
    first: Option<NaiveDate>,
    out: &mut Vec<RecordBatch>,
    reservation: &MemoryReservation,
) -> Result<()> {
    let schema = result_schema(req);
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(b) = stream.next().await {
        let mut b = b?;
        if let Some(f) = first
            && req.per != Grain::All
        {
            // Periods before `first` were read only to compare with.
            let f = days_of(f);
            let keep: BooleanArray = dates(&b, "period")?
                .iter()
                .map(|p| Some(p.is_none_or(|p| p >= f)))
                .collect();
            b = filter_record_batch(&b, &keep)?;
        }
        if b.num_rows() == 0 {
            continue;
        }
        reservation.try_grow(column_bytes(&b, &req.by, &def.name))?;
        out.push(result_batch(
            &schema,
            def,
            &CellColumns::read(&b, req)?,
            b.num_rows(),
        )?);
    }
    Ok(())
}

/// The result rows of `n` cells of `def`, without comparison columns.
fn result_batch(
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
        status.append_option(d.status);
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

/// The aggregate query in key order: period, then dimension values, NULLs
/// first (the order of the map the other path fills).
fn ordered(sql: String, req: &SliceRequest) -> String {
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

/// The value of a cell: SUM(numerator) / SUM(denominator), NULL when the
/// denominator is 0 or below the CPI's `min_denominator`.
fn cell_value(def: &CpiDefinition, c: &Cell) -> Option<f64> {
    if c.denominator == 0.0 || def.min_denominator.is_some_and(|m| c.denominator < m) {
        return None;
    }
    Some(c.numerator / c.denominator)
}

/// Run a slice over the CPIs' views: one row per CPI × period × dimension values.
pub async fn run(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &SliceRequest,
) -> Result<RecordBatch> {
    Ok(run_with_sql(ctx, defs, cal, req, &HashMap::new()).await?.0)
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
async fn statement(
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

/// [`run`], also returning the aggregate SQL it ran (one statement per CPI).
/// CPIs named in `rollups` are read from that rollup instead of their view;
/// the caller guarantees the rollup covers the request and is fresh.
pub async fn run_with_sql(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &SliceRequest,
    rollups: &HashMap<String, RollupSource>,
) -> Result<(RecordBatch, Vec<String>)> {
    let mut statements = Vec::new();
    let mut chosen = req.validate(defs)?;
    // Rows are ordered by cpi, then period, then dimension values.
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let schema = result_schema(req);
    let mut cols = Columns {
        compare: req.compare.is_some(),
        ..Columns::default()
    };
    let mut streamed = Vec::new();
    let reservation = MemoryConsumer::new("slice cells").register(&ctx.runtime_env().memory_pool);
    for def in chosen {
        let (sql, first) = statement(ctx, def, req, cal, rollups.get(&def.name)).await?;
        if req.compare.is_none() && !req.fill {
            stream_cells(ctx, &sql, req, def, first, &mut streamed, &reservation).await?;
            statements.push(sql);
            continue;
        }
        let (cells, map_bytes) = cells(ctx, &sql, req, &reservation).await?;
        statements.push(sql);

        // Which periods and dimension combinations to report: the cells
        // from the first period on, and with --fill every period of the
        // range for every combination seen.
        let reported = |(p, _): &&Key| match (p, first) {
            (Some(p), Some(f)) => *p >= f,
            _ => true,
        };
        let mut filled: BTreeSet<Key> = BTreeSet::new();
        if req.fill && req.per != Grain::All {
            let keys: Vec<&Key> = cells.keys().filter(reported).collect();
            let combos: BTreeSet<&Vec<Option<String>>> = keys.iter().map(|(_, d)| d).collect();
            let start = first.or_else(|| keys.iter().filter_map(|(p, _)| *p).min());
            let end = match req.to {
                Some(t) => Some(t),
                None => keys
                    .iter()
                    .filter_map(|(p, _)| *p)
                    .max()
                    .map(|p| cal.shift(req.per, p, 1)),
            };
            let no_dims = Vec::new();
            let combos: Vec<&Vec<Option<String>>> = if combos.is_empty() && req.by.is_empty() {
                vec![&no_dims]
            } else {
                combos.into_iter().collect()
            };
            if let (Some(mut p), Some(end)) = (start, end) {
                while p < end {
                    for c in &combos {
                        filled.insert((Some(p), (*c).clone()));
                    }
                    p = cal.shift(req.per, p, 1);
                }
            }
            filled.extend(keys.into_iter().cloned());
        }
        let keys: Box<dyn Iterator<Item = &Key>> = if req.fill && req.per != Grain::All {
            Box::new(filled.iter())
        } else {
            Box::new(cells.keys().filter(reported))
        };
        let empty = Cell {
            binary: true,
            ..Cell::default()
        };
        for key in keys {
            let cell = cells.get(key).unwrap_or(&empty);
            let previous = req.compare.and_then(|c| {
                let p = key.0?;
                let prev = match c {
                    Compare::Previous => Some(cal.shift(req.per, p, -1)),
                    Compare::Year => cal.year_earlier(req.per, p),
                }?;
                cells
                    .get(&(Some(prev), key.1.clone()))
                    .and_then(|c| cell_value(def, c))
            });
            cols.push(
                def,
                key.0.map(days_of),
                key.1.iter().map(Option::as_deref),
                cell,
                previous,
            );
        }
        drop(filled);
        drop(cells);
        reservation.shrink(map_bytes);
    }
    let batch = if streamed.is_empty() {
        cols.into_batch(schema, req)?
    } else {
        concat_batches(&schema, &streamed)?
    };
    Ok((batch, statements))
}

/// What a cell's sums give: its value, target status and Wilson interval.
struct Derived {
    value: Option<f64>,
    status: Option<&'static str>,
    ci: Option<(f64, f64)>,
}

impl Derived {
    fn of(def: &CpiDefinition, cell: &Cell) -> Derived {
        let value = cell_value(def, cell);
        let insufficient = def.min_denominator.is_some_and(|m| cell.denominator < m);
        let status = if insufficient {
            Some("insufficient")
        } else {
            match (def.target, value) {
                (Some(t), Some(v)) => Some(if def.direction.meets(v, t) {
                    "met"
                } else {
                    "missed"
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
struct Columns {
    /// Whether the comparison columns are built.
    compare: bool,
    cpi: StringBuilder,
    period: Date32Builder,
    dims: Vec<StringBuilder>,
    value: Float64Builder,
    numerator: Float64Builder,
    denominator: Float64Builder,
    events: Int64Builder,
    target: Float64Builder,
    status: StringBuilder,
    ci_low: Float64Builder,
    ci_high: Float64Builder,
    previous: Float64Builder,
    change: Float64Builder,
    change_pct: Float64Builder,
}

impl Columns {
    /// One row: the cell of `def` at `period` and dimension values `dims`,
    /// with its value, status, interval and comparison with `previous`.
    fn push<'a>(
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
        self.status.append_option(status);
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

    fn into_batch(mut self, schema: SchemaRef, req: &SliceRequest) -> Result<RecordBatch> {
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

impl fmt::Display for SliceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.cpis.join(","), self.per)?;
        if !self.by.is_empty() {
            write!(f, " by {}", self.by.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10: p = 0.8, z = 1.96: center 0.7094, half 0.2134 (textbook values).
        let (lo, hi) = wilson(8.0, 10.0).unwrap();
        assert!((lo - 0.4902).abs() < 1e-4, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson(0.0, 5.0).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.4345).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0.0, 0.0), None);
    }

    #[tokio::test]
    async fn proportions_are_recognised_from_the_definition() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE e (t TIMESTAMP, x INT) AS VALUES (NULL, 1)")
            .await
            .unwrap();
        for (body, binary) in [
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, 1 AS denominator",
                true,
            ),
            (
                "CASE WHEN x > 0 THEN 1 END AS numerator, CAST(1 AS DOUBLE) AS denominator",
                true,
            ),
            ("1 AS numerator, 1 AS denominator", true),
            (
                "CASE WHEN x > 0 THEN 2 ELSE 0 END AS numerator, 1 AS denominator",
                false,
            ),
            ("x AS numerator, 1 AS denominator", false),
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, 2 AS denominator",
                false,
            ),
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, x AS denominator",
                false,
            ),
        ] {
            let df = ctx.sql(&format!("SELECT t, {body} FROM e")).await.unwrap();
            let _ = ctx.deregister_table("v");
            ctx.register_table("v", df.into_view()).unwrap();
            let def = CpiDefinition::parse(
                std::path::Path::new("v.sql"),
                "-- cpi: v\n-- label: V\n-- unit: percent\n-- direction: higher_is_better\n-- time: t\nSELECT 1",
            )
            .unwrap();
            assert_eq!(binary_by_definition(&ctx, &def).await, binary, "{body}");
        }
    }
}
