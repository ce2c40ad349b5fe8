//! `\\rollup status`: one row per rollup with its state and size.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use super::freshness::{chosen, freshness};
use super::manifest::{Manifest, dir_of, read_manifest};
use crate::engine::Engine;
use crate::foundation::columns::column_of;
use crate::foundation::error::Result;
use crate::foundation::text::human_size;

/// `cpiq rollup status [CPI…]`: every rollup (or those of the named CPIs)
/// with its grain, size and whether it is fresh; stale ones say why.
pub async fn status(engine: &Engine, cpis: &[String]) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for def in chosen(engine, cpis)? {
        let m = match read_manifest(&dir_of(engine, &def.name)) {
            Ok(Some(m)) => m,
            Ok(None) => {
                if !cpis.is_empty() {
                    rows.push(Row::missing(&def.name));
                }
                continue;
            }
            Err(e) => {
                let mut r = Row::missing(&def.name);
                r.state = "unreadable".into();
                r.detail = e.to_string();
                rows.push(r);
                continue;
            }
        };
        let (state, detail) = match freshness(engine, &def, &m).await? {
            None => ("fresh", m.origin.clone().unwrap_or_default()),
            Some(why) => ("stale", why),
        };
        rows.push(Row::of(&m, state, detail, f64::NAN));
    }
    report(rows)
}

/// One row of a rollup command's report.
pub(super) struct Row {
    pub(super) cpi: String,
    pub(super) grain: String,
    pub(super) dimensions: String,
    pub(super) rows: Option<u64>,
    pub(super) bytes: Option<u64>,
    pub(super) files: Option<u64>,
    pub(super) built_at: String,
    pub(super) state: String,
    pub(super) detail: String,
    pub(super) seconds: f64,
}

impl Row {
    pub(super) fn of(m: &Manifest, state: &str, detail: String, seconds: f64) -> Row {
        Row {
            cpi: m.cpi.clone(),
            grain: m.grain.clone(),
            dimensions: m.dimensions.join(","),
            rows: Some(m.rows()),
            bytes: Some(m.bytes()),
            files: Some(m.files() as u64),
            built_at: m.built_at.clone(),
            state: state.into(),
            detail,
            seconds,
        }
    }
    pub(super) fn missing(cpi: &str) -> Row {
        Row {
            cpi: cpi.into(),
            grain: String::new(),
            dimensions: String::new(),
            rows: None,
            bytes: None,
            files: None,
            built_at: String::new(),
            state: "none".into(),
            detail: format!("no rollup (cpiq rollup build {cpi})"),
            seconds: f64::NAN,
        }
    }
}

/// The report of a rollup command: cpi, grain, dimensions, rows, size,
/// source_files, built_at, state, detail and seconds.
pub(super) fn report(rows: Vec<Row>) -> Result<RecordBatch> {
    let text = |f: fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let count = |f: fn(&Row) -> Option<u64>| column_of::<_, UInt64Array, _>(&rows, f);
    let schema = Schema::new(vec![
        Field::new("cpi", DataType::Utf8, false),
        Field::new("grain", DataType::Utf8, false),
        Field::new("dimensions", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, true),
        Field::new("size", DataType::Utf8, true),
        Field::new("source_files", DataType::UInt64, true),
        Field::new("built_at", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("seconds", DataType::Float64, true),
    ]);
    let size: StringArray = rows.iter().map(|r| r.bytes.map(human_size)).collect();
    let seconds: Float64Array = rows
        .iter()
        .map(|r| (!r.seconds.is_nan()).then_some((r.seconds * 1000.0).round() / 1000.0))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(|r| &r.cpi),
            text(|r| &r.grain),
            text(|r| &r.dimensions),
            count(|r| r.rows),
            Arc::new(size),
            count(|r| r.files),
            text(|r| &r.built_at),
            text(|r| &r.state),
            text(|r| &r.detail),
            Arc::new(seconds),
        ],
    )?)
}
