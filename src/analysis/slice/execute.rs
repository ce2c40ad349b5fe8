//! Running a slice: each CPI's aggregate streamed into result batches (or,
//! to compare or fill, into cells under the session's memory pool), by a
//! task of its own, so the rows can be written while they are made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc::Sender;

use super::request::{Compare, SliceRequest};
use super::rows::{Cell, Columns, Key, cell_value, result_batch, result_schema};
use super::sql::{RollupSource, statement};
use crate::foundation::columns::{booleans, date_of, dates, days_of, floats, integers, strings};
use crate::foundation::error::{CpiqError, Result};
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

/// Stream the cells of one CPI, in key order, straight into result
/// batches: a slice without comparison or filling needs no map, so only its
/// result must fit in memory (the sort spills). Each batch of cells becomes
/// a batch of the result column by column: the dimension values and counts
/// are the query's own arrays, only value, status and interval are computed
/// per cell. Batches left empty come as `None`.
async fn stream_cells<'a>(
    ctx: &SessionContext,
    sql: &str,
    req: &'a SliceRequest,
    def: &'a CpiDefinition,
    first: Option<NaiveDate>,
    schema: &'a SchemaRef,
) -> Result<impl futures::Stream<Item = Result<Option<RecordBatch>>> + Unpin + 'a> {
    let stream = ctx.sql(sql).await?.execute_stream().await?;
    Ok(stream.map(move |b| -> Result<Option<RecordBatch>> {
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
            return Ok(None);
        }
        let cells = CellColumns::read(&b, req)?;
        Ok(Some(result_batch(schema, def, &cells, b.num_rows())?))
    }))
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
    let run = start(ctx, defs, cal, req, rollups).await?;
    let schema = run.batches.schema();
    let batches: Vec<RecordBatch> = run.batches.try_collect().await?;
    Ok((concat_batches(&schema, &batches)?, run.statements))
}

/// A slice under way: its aggregate SQL (one statement per CPI, known
/// before anything runs) and its result batches, in row order, computed by
/// a task of their own so that whoever consumes them (writing CSV, say)
/// works while the next batches are made. Dropping the stream cancels the
/// task.
pub struct SliceRun {
    /// The aggregate SQL of each CPI, in the order the rows come.
    pub statements: Vec<String>,
    /// The result rows ([`super::result_schema`]).
    pub batches: SendableRecordBatchStream,
}

/// Start a slice ([`run_with_sql`] streamed): the request is checked and
/// each CPI's statement built here, so those errors come back typed; the
/// rows then arrive on [`SliceRun::batches`].
pub async fn start(
    ctx: &SessionContext,
    defs: &[CpiDefinition],
    cal: &Calendar,
    req: &SliceRequest,
    rollups: &HashMap<String, RollupSource>,
) -> Result<SliceRun> {
    let mut chosen = req.validate(defs)?;
    // Rows are ordered by cpi, then period, then dimension values.
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut parts = Vec::with_capacity(chosen.len());
    for def in chosen {
        let (sql, first) = statement(ctx, def, req, cal, rollups.get(&def.name)).await?;
        parts.push(Part {
            def: def.clone(),
            sql,
            first,
        });
    }
    let statements = parts.iter().map(|p| p.sql.clone()).collect();
    let schema = result_schema(req);
    // Two batches in flight: enough to overlap making and consuming.
    let mut builder = RecordBatchReceiverStreamBuilder::new(schema, 2);
    let tx = builder.tx();
    let (ctx, cal, req) = (ctx.clone(), cal.clone(), req.clone());
    builder.spawn(async move {
        produce(&ctx, &cal, &req, parts, &tx)
            .await
            .map_err(|e| match e {
                CpiqError::DataFusion(e) => e,
                e => DataFusionError::External(Box::new(Arc::new(e))),
            })
    });
    Ok(SliceRun {
        statements,
        batches: builder.build(),
    })
}

/// One CPI of a slice: its definition, aggregate SQL and first reported
/// period (earlier ones are read only to compare with).
struct Part {
    def: CpiDefinition,
    sql: String,
    first: Option<NaiveDate>,
}

/// Compute the slice's rows and send them on `tx`. Without comparison or
/// filling each CPI's cells go out batch by batch as the query makes them;
/// otherwise they are gathered in a map and sent as one batch at the end.
async fn produce(
    ctx: &SessionContext,
    cal: &Calendar,
    req: &SliceRequest,
    parts: Vec<Part>,
    tx: &Sender<DfResult<RecordBatch>>,
) -> Result<()> {
    let schema = result_schema(req);
    let mut cols = Columns {
        compare: req.compare.is_some(),
        ..Columns::default()
    };
    let streaming = req.compare.is_none() && !req.fill;
    let reservation = MemoryConsumer::new("slice cells").register(&ctx.runtime_env().memory_pool);
    for Part { def, sql, first } in parts {
        let def = &def;
        if streaming {
            let mut stream = stream_cells(ctx, &sql, req, def, first, &schema).await?;
            while let Some(b) = stream.next().await {
                let Some(b) = b? else { continue };
                reservation.try_grow(column_bytes(&b, &req.by, &def.name))?;
                if tx.send(Ok(b)).await.is_err() {
                    // Nobody reads on: the slice was cancelled.
                    return Ok(());
                }
            }
            continue;
        }
        let (cells, map_bytes) = cells(ctx, &sql, req, &reservation).await?;

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
    if !streaming {
        // A closed channel means the slice was cancelled: nothing to do.
        let _ = tx.send(Ok(cols.into_batch(schema, req)?)).await;
    }
    Ok(())
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
