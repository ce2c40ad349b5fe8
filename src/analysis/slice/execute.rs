//! Running a slice: each CPI's aggregate streamed into cells under the
//! session's memory pool, then assembled into one result batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::request::{Compare, SliceRequest};
use super::rows::{Cell, Columns, Key, cell_value, result_batch, result_schema};
use super::sql::{RollupSource, statement};
use crate::foundation::columns::{booleans, date_of, dates, days_of, floats, integers, strings};
use crate::foundation::error::Result;
use crate::model::calendar::{Calendar, Grain};
use crate::model::cpi::CpiDefinition;

/// What the cells of one batch cost in the map that holds them until the
/// slice is assembled: the key (period, a vector of dimension strings) and
/// the cell, with allocator and tree overheads.
pub(super) fn map_bytes(b: &RecordBatch, by: &[String]) -> usize {
    b.num_rows() * (160 + 60 * by.len()) + text_bytes(b, by)
}

/// What the rows of one batch cost in the result: the CPI name, the period,
/// the dimension values and eleven numbers; twice that, as the result's
/// batches and their concatenation are held together at the end.
pub(super) fn column_bytes(b: &RecordBatch, by: &[String], cpi: &str) -> usize {
    2 * (b.num_rows() * (cpi.len() + 130 + 4 * by.len()) + text_bytes(b, by))
}

pub(super) fn text_bytes(b: &RecordBatch, by: &[String]) -> usize {
    by.iter()
        .filter_map(|d| b.column_by_name(d))
        .map(|a| a.get_array_memory_size())
        .sum()
}

/// The columns of one batch of the aggregate query.
pub(super) struct CellColumns {
    pub(super) period: Option<Date32Array>,
    pub(super) dims: Vec<StringArray>,
    pub(super) numerator: Float64Array,
    pub(super) denominator: Float64Array,
    pub(super) events: Int64Array,
    pub(super) binary: BooleanArray,
}

impl CellColumns {
    pub(super) fn read(b: &RecordBatch, req: &SliceRequest) -> Result<CellColumns> {
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

    pub(super) fn period(&self, i: usize) -> Result<Option<NaiveDate>> {
        self.period
            .as_ref()
            .filter(|p| !p.is_null(i))
            .map(|p| date_of(p.value(i)))
            .transpose()
    }

    pub(super) fn dim(&self, d: usize, i: usize) -> Option<&str> {
        let a = &self.dims[d];
        (!a.is_null(i)).then(|| a.value(i))
    }

    pub(super) fn cell(&self, i: usize) -> Cell {
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
pub(super) async fn cells(
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
pub(super) async fn stream_cells(
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

/// Run a slice over the CPIs' views: one row per CPI × period × dimension values.
pub async fn run(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &SliceRequest,
) -> Result<RecordBatch> {
    Ok(run_with_sql(ctx, defs, cal, req, &HashMap::new()).await?.0)
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
        let reported = |k: &&Key| reported(k, first);
        let filled = if req.fill && req.per != Grain::All {
            filled_keys(&cells, req, cal, first)
        } else {
            BTreeSet::new()
        };
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

/// True for a cell of the first reported period or later.
fn reported((p, _): &Key, first: Option<NaiveDate>) -> bool {
    match (p, first) {
        (Some(p), Some(f)) => *p >= f,
        _ => true,
    }
}

/// With `--fill`: every period of the range for every dimension combination
/// seen, and the cells themselves.
fn filled_keys(
    cells: &BTreeMap<Key, Cell>,
    req: &SliceRequest,
    cal: &Calendar,
    first: Option<NaiveDate>,
) -> BTreeSet<Key> {
    let keys: Vec<&Key> = cells.keys().filter(|k| reported(k, first)).collect();
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
    let mut filled: BTreeSet<Key> = BTreeSet::new();
    if let (Some(mut p), Some(end)) = (start, end) {
        while p < end {
            for c in &combos {
                filled.insert((Some(p), (*c).clone()));
            }
            p = cal.shift(req.per, p, 1);
        }
    }
    filled.extend(keys.into_iter().cloned());
    filled
}
