//! What `\d` says about a table beyond its name: rows, files, size on disk
//! and the time range of the columns CPIs and KPIs count time by — all from
//! the file listing and the Parquet footers (cached by the engine), without
//! reading the data. CSV files carry no statistics: their rows and ranges
//! are unknown here.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::ListingTable;

use crate::engine::Engine;
use crate::foundation::error::Result;

/// What the files of one table say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFacts {
    /// Rows, when every file's footer counts them.
    pub rows: Option<u64>,
    /// Files read.
    pub files: u64,
    /// Their bytes on disk (or in the object store).
    pub bytes: u64,
    /// `(column, first day, last day)` for each time column with statistics.
    pub ranges: Vec<(String, String, String)>,
}

/// Which columns place rows in time: a CPI's `time` column in the tables
/// it reads that have a column of that name, and KPI tables' `time`.
#[derive(Debug, Default)]
pub struct TimeColumns {
    /// Per table, the time columns CPIs and KPIs count it by.
    pub of_table: BTreeMap<String, BTreeSet<String>>,
    /// Per CPI, the `(table, column)` its time comes from (the first such
    /// table in name order).
    pub of_cpi: BTreeMap<String, (String, String)>,
}

/// The time columns of the workspace's tables and CPIs.
pub async fn time_columns(engine: &Engine) -> TimeColumns {
    let mut out = TimeColumns::default();
    for def in engine.definitions() {
        // A CPI over something other than files has no ranges to show.
        let Ok(tables) = crate::analysis::rollup::base_tables(engine.ctx(), &def.name).await else {
            continue;
        };
        for (table, listing) in tables {
            if listing.schema().field_with_name(&def.time).is_ok() {
                out.of_table
                    .entry(table.clone())
                    .or_default()
                    .insert(def.time.clone());
                out.of_cpi
                    .entry(def.name.clone())
                    .or_insert((table, def.time.clone()));
            }
        }
    }
    for kpi in &engine.workspace().kpis {
        out.of_table
            .entry(kpi.table.name.clone())
            .or_default()
            .insert(kpi.time.clone());
    }
    out
}

/// The facts of table `name`; `None` when it is not a table of files.
pub async fn table_facts(
    engine: &Engine,
    name: &str,
    time_columns: &BTreeSet<String>,
) -> Result<Option<TableFacts>> {
    let provider = engine.ctx().table_provider(name).await?;
    let Some(listing) = provider.downcast_ref::<ListingTable>() else {
        return Ok(None);
    };
    let state = engine.ctx().state();
    let plan = TableProvider::scan(listing, &state, None, &[], None).await?;
    let files = crate::engine::scanned_files(&plan);
    let stats = datafusion::physical_plan::StatisticsContext::new().compute(
        plan.as_ref(),
        &datafusion::physical_plan::StatisticsArgs::new(),
    )?;
    let exact = |p: &datafusion::common::stats::Precision<usize>| match p {
        datafusion::common::stats::Precision::Exact(n) => Some(*n as u64),
        _ => None,
    };
    let schema = plan.schema();
    let mut ranges = Vec::new();
    for column in time_columns {
        let Ok(i) = schema.index_of(column) else {
            continue;
        };
        let Some(c) = stats.column_statistics.get(i) else {
            continue;
        };
        if let (Some(lo), Some(hi)) = (
            c.min_value.get_value().and_then(day),
            c.max_value.get_value().and_then(day),
        ) {
            ranges.push((column.clone(), lo, hi));
        }
    }
    Ok(Some(TableFacts {
        rows: exact(&stats.num_rows),
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        ranges,
    }))
}

/// The calendar day of a date or timestamp statistic, as `YYYY-MM-DD` (in
/// the column's own time zone); `None` for other types.
fn day(v: &ScalarValue) -> Option<String> {
    use datafusion::arrow::datatypes::DataType;
    if !matches!(
        v.data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) || v.is_null()
    {
        return None;
    }
    let a = v.to_array().ok()?;
    let text = datafusion::arrow::util::display::array_value_to_string(&a, 0).ok()?;
    text.get(..10).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_show_as_days() {
        // 2024-03-01T23:59:59 in microseconds.
        let v = ScalarValue::TimestampMicrosecond(Some(1_709_337_599_000_000), None);
        assert_eq!(day(&v).as_deref(), Some("2024-03-01"));
        assert_eq!(
            day(&ScalarValue::Date32(Some(0))).as_deref(),
            Some("1970-01-01")
        );
        assert_eq!(day(&ScalarValue::Int64(Some(5))), None);
        assert_eq!(day(&ScalarValue::TimestampMicrosecond(None, None)), None);
    }
}
