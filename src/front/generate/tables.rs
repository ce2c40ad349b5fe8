//! Row types of the generated tables and a streaming Parquet writer for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

use super::{REGIONS, SEGMENTS};
use crate::foundation::atomic::AtomicFile;
use crate::foundation::error::{CpiqError, Result};

/// Rows per row group (parquet-rs's default). Files are monthly, so time
/// filters skip whole files; fewer, larger row groups decode faster
/// (measured at 10M events: 131,072 rows -> 1,048,576 made cpiq's suite
/// ~6% faster, DuckDB's unchanged; docs/performance.md).
const ROW_GROUP: usize = 1_048_576;
/// Rows buffered before they are written.
const BATCH: usize = 65_536;

const SUPPORT_CHANNELS: [&str; 3] = ["phone", "email", "chat"];
const CATEGORIES: [&str; 4] = ["billing", "technical", "delivery", "account"];
const ORDER_CHANNELS: [&str; 3] = ["web", "app", "store"];
const ORDER_STATUS: [&str; 3] = ["delivered", "cancelled", "in_transit"];
const RETURN_CHANNELS: [&str; 2] = ["web", "store"];
const RETURN_REASONS: [&str; 4] = [
    "wrong_size",
    "defective",
    "not_as_described",
    "changed_mind",
];
const QUOTE_CHANNELS: [&str; 3] = ["email", "web", "phone"];

/// A generated row type that knows its Arrow schema.
pub trait Row: Sized {
    /// The table's schema.
    fn schema() -> SchemaRef;
    /// Columns for `rows`, in schema order.
    fn columns(rows: &[Self]) -> Vec<ArrayRef>;
}

/// An event row: placed in time by one column, numbered by another.
pub trait Event: Row {
    /// When it happened (microseconds since the epoch).
    fn at(&self) -> i64;
    /// Give it its id.
    fn set_id(&mut self, id: i64);
}

/// `Event` for a row type, by its time and id fields.
macro_rules! event {
    ($row:ty, $time:ident, $id:ident) => {
        impl Event for $row {
            fn at(&self) -> i64 {
                self.$time
            }
            fn set_id(&mut self, id: i64) {
                self.$id = id;
            }
        }
    };
}

event!(SupportCase, opened_at, case_id);
event!(Order, ordered_at, order_id);
event!(Return, requested_at, return_id);
event!(QuoteRequest, requested_at, quote_id);
event!(Survey, responded_at, response_id);
event!(Callback, requested_at, callback_id);

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}
fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}
fn strs<T>(rows: &[T], names: &[&'static str], get: impl Fn(&T) -> u8) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        rows.iter().map(|r| names[get(r) as usize]),
    ))
}
fn i64s<T>(rows: &[T], get: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(get)))
}
fn i32s<T>(rows: &[T], get: impl Fn(&T) -> i32) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(rows.iter().map(get)))
}
fn f64s<T>(rows: &[T], get: impl Fn(&T) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows.iter().map(get)))
}
fn tss<T>(rows: &[T], get: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(
        rows.iter().map(get).collect::<Vec<_>>(),
    ))
}
fn days(d: NaiveDate) -> i32 {
    crate::foundation::columns::days_of(d)
}

/// A customer.
pub struct Customer {
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub signup_date: NaiveDate,
}

impl Row for Customer {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("signup_date", DataType::Date32, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| days(r.signup_date)),
            )),
        ]
    }
}

/// A support case.
pub struct SupportCase {
    pub case_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub channel: u8,
    pub category: u8,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub contacts: i32,
}

impl Row for SupportCase {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("case_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("channel", DataType::Utf8, false),
            f("category", DataType::Utf8, false),
            f("opened_at", ts(), false),
            f("first_response_at", ts(), true),
            f("resolved_at", ts(), true),
            f("contacts", DataType::Int32, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.case_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            strs(rows, &SUPPORT_CHANNELS, |r| r.channel),
            strs(rows, &CATEGORIES, |r| r.category),
            tss(rows, |r| Some(r.opened_at)),
            tss(rows, |r| r.first_response_at),
            tss(rows, |r| r.resolved_at),
            i32s(rows, |r| r.contacts),
        ]
    }
}

/// An order and its delivery.
pub struct Order {
    pub order_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub channel: u8,
    pub status: u8,
    pub ordered_at: i64,
    pub promised_at: i64,
    pub delivered_at: Option<i64>,
    pub items_ordered: i32,
    pub items_delivered: i32,
    pub damaged: bool,
}

impl Row for Order {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("order_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("channel", DataType::Utf8, false),
            f("status", DataType::Utf8, false),
            f("ordered_at", ts(), false),
            f("promised_at", ts(), false),
            f("delivered_at", ts(), true),
            f("items_ordered", DataType::Int32, false),
            f("items_delivered", DataType::Int32, false),
            f("damaged", DataType::Boolean, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.order_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            strs(rows, &ORDER_CHANNELS, |r| r.channel),
            strs(rows, &ORDER_STATUS, |r| r.status),
            tss(rows, |r| Some(r.ordered_at)),
            tss(rows, |r| Some(r.promised_at)),
            tss(rows, |r| r.delivered_at),
            i32s(rows, |r| r.items_ordered),
            i32s(rows, |r| r.items_delivered),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.damaged).collect::<Vec<_>>(),
            )),
        ]
    }
}

/// A return request.
pub struct Return {
    pub return_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub channel: u8,
    pub reason: u8,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
}

impl Row for Return {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("return_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("channel", DataType::Utf8, false),
            f("reason", DataType::Utf8, false),
            f("requested_at", ts(), false),
            f("completed_at", ts(), true),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.return_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            strs(rows, &RETURN_CHANNELS, |r| r.channel),
            strs(rows, &RETURN_REASONS, |r| r.reason),
            tss(rows, |r| Some(r.requested_at)),
            tss(rows, |r| r.completed_at),
        ]
    }
}

/// A quote request.
pub struct QuoteRequest {
    pub quote_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub channel: u8,
    pub requested_at: i64,
    pub answered_at: Option<i64>,
}

impl Row for QuoteRequest {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("quote_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("channel", DataType::Utf8, false),
            f("requested_at", ts(), false),
            f("answered_at", ts(), true),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.quote_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            strs(rows, &QUOTE_CHANNELS, |r| r.channel),
            tss(rows, |r| Some(r.requested_at)),
            tss(rows, |r| r.answered_at),
        ]
    }
}

/// A survey response (per-customer KPI).
pub struct Survey {
    pub response_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub responded_at: i64,
    pub nps_score: i32,
    pub ces_score: i32,
}

impl Row for Survey {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("response_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("responded_at", ts(), false),
            f("nps_score", DataType::Int32, false),
            f("ces_score", DataType::Int32, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.response_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            tss(rows, |r| Some(r.responded_at)),
            i32s(rows, |r| r.nps_score),
            i32s(rows, |r| r.ces_score),
        ]
    }
}

/// A row of the monthly KPI table.
pub struct KpiRow {
    pub month: NaiveDate,
    pub segment: u8,
    pub nps: f64,
    pub ces: f64,
    pub churn_rate: f64,
    pub revenue: f64,
    pub clv: f64,
}

impl Row for KpiRow {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("month", DataType::Date32, false),
            f("segment", DataType::Utf8, false),
            f("nps", DataType::Float64, false),
            f("ces", DataType::Float64, false),
            f("churn_rate", DataType::Float64, false),
            f("revenue", DataType::Float64, false),
            f("clv", DataType::Float64, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
        vec![
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| days(r.month)),
            )),
            strs(rows, &SEGMENTS, |r| r.segment),
            f64s(rows, |r| round(r.nps, 1)),
            f64s(rows, |r| round(r.ces, 2)),
            f64s(rows, |r| round(r.churn_rate, 4)),
            f64s(rows, |r| round(r.revenue, 2)),
            f64s(rows, |r| round(r.clv, 2)),
        ]
    }
}

/// A table written as one file or one file per month, in bounded memory.
pub struct TableWriter<T: Row> {
    dir: Option<PathBuf>,
    buf: Vec<T>,
    writer: Option<ArrowWriter<AtomicFile>>,
    rows_in_file: usize,
}

/// The partition-level operations, object-safe so the month loop can treat
/// all event tables alike.
pub trait Partitioned {
    /// Start the file of partition `key` (e.g. `2024-03`).
    fn open_partition(&mut self, key: &str) -> Result<()>;
    /// Finish the current partition's file; returns files written (0 or 1).
    fn close_partition(&mut self) -> Result<usize>;
}

fn open(path: &Path, schema: SchemaRef) -> Result<ArrowWriter<AtomicFile>> {
    // Dictionaries only for text: ids and timestamps are nearly unique, and
    // dictionary pages that fall back to plain ones decode slower (measured:
    // -12% on a CPI slice over 6M orders, files a third smaller).
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_dictionary_enabled(false)
        .set_created_by("cpiq generate".to_string());
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true);
        }
    }
    let props = props.build();
    Ok(ArrowWriter::try_new(
        AtomicFile::create(path)?,
        schema,
        Some(props),
    )?)
}

impl<T: Row> TableWriter<T> {
    /// A table written as the single file `path`.
    pub fn single(path: &Path) -> Result<Self> {
        Ok(TableWriter {
            dir: None,
            buf: Vec::new(),
            writer: Some(open(path, T::schema())?),
            rows_in_file: 0,
        })
    }

    /// A table written as one file per partition under `dir`; older
    /// `.parquet` files there are removed.
    pub fn partitioned(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| CpiqError::io(dir, e))?;
        for entry in std::fs::read_dir(dir).map_err(|e| CpiqError::io(dir, e))? {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "parquet") {
                std::fs::remove_file(&p).map_err(|e| CpiqError::io(&p, e))?;
            }
        }
        Ok(TableWriter {
            dir: Some(dir.to_path_buf()),
            buf: Vec::new(),
            writer: None,
            rows_in_file: 0,
        })
    }

    /// Add one row.
    pub fn push(&mut self, row: T) -> Result<()> {
        self.buf.push(row);
        if self.buf.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Add rows (already in time order).
    pub fn extend(&mut self, rows: Vec<T>) -> Result<()> {
        for r in rows {
            self.push(r)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let batch = RecordBatch::try_new(T::schema(), T::columns(&self.buf))?;
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| CpiqError::Usage("internal: write before open".into()))?;
        w.write(&batch)?;
        self.rows_in_file += self.buf.len();
        self.buf.clear();
        Ok(())
    }

    /// Finish the single file.
    pub fn finish(mut self) -> Result<()> {
        self.close_partition().map(|_| ())
    }
}

impl<T: Event> TableWriter<T> {
    /// Add one day's events: sorted by time (a stable sort: ties keep their
    /// draw order) and numbered on from `*last`. Returns how many.
    pub fn write_day(&mut self, mut rows: Vec<T>, last: &mut i64) -> Result<u64> {
        rows.sort_by_key(Event::at);
        for row in rows.iter_mut() {
            *last += 1;
            row.set_id(*last);
        }
        let n = rows.len() as u64;
        self.extend(rows)?;
        Ok(n)
    }
}

impl<T: Row> Partitioned for TableWriter<T> {
    fn open_partition(&mut self, key: &str) -> Result<()> {
        let Some(dir) = self.dir.as_ref() else {
            return Err(CpiqError::Usage(
                "internal: a partition of a single-file writer".into(),
            ));
        };
        self.writer = Some(open(&dir.join(format!("{key}.parquet")), T::schema())?);
        self.rows_in_file = 0;
        Ok(())
    }

    fn close_partition(&mut self) -> Result<usize> {
        self.flush()?;
        let Some(w) = self.writer.take() else {
            return Ok(0);
        };
        if self.rows_in_file == 0 && self.dir.is_some() {
            // An empty month: write no file (dropping removes the temp file).
            return Ok(0);
        }
        w.into_inner()?.commit()?;
        Ok(1)
    }
}

/// A callback request (the planted trend-only and reverse CPIs).
pub struct Callback {
    pub callback_id: i64,
    pub customer_id: i64,
    pub segment: u8,
    pub region: u8,
    pub requested_at: i64,
    pub promised_at: i64,
    pub called_at: Option<i64>,
}

impl Row for Callback {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("callback_id", DataType::Int64, false),
            f("customer_id", DataType::Int64, false),
            f("segment", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("requested_at", ts(), false),
            f("promised_at", ts(), false),
            f("called_at", ts(), true),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            i64s(rows, |r| r.callback_id),
            i64s(rows, |r| r.customer_id),
            strs(rows, &SEGMENTS, |r| r.segment),
            strs(rows, &REGIONS, |r| r.region),
            tss(rows, |r| Some(r.requested_at)),
            tss(rows, |r| Some(r.promised_at)),
            tss(rows, |r| r.called_at),
        ]
    }
}

/// A month and segment of the loyalty KPI table.
pub struct LoyaltyRow {
    pub month: NaiveDate,
    pub segment: u8,
    pub repeat_rate: f64,
}

impl Row for LoyaltyRow {
    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            f("month", DataType::Date32, false),
            f("segment", DataType::Utf8, false),
            f("repeat_rate", DataType::Float64, false),
        ]))
    }
    fn columns(rows: &[Self]) -> Vec<ArrayRef> {
        vec![
            Arc::new(Date32Array::from_iter_values(
                rows.iter().map(|r| days(r.month)),
            )),
            strs(rows, &SEGMENTS, |r| r.segment),
            f64s(rows, |r| (r.repeat_rate * 1e5).round() / 1e5),
        ]
    }
}
