//! What a CPI's view reads: its base tables (through nested CPI views),
//! whether it reads one of them row by row, and the same view over only
//! some of that table's files.
//!
//! "Row by row" means every row of the table contributes to the result on
//! its own: between the table's scan and the view's output there are only
//! projections, filters, aliases, unions and joins that keep the table's
//! side (inner; left, semi and anti joins with the table on the left; their
//! mirrors). Then the cells of old and new files simply add up, and a
//! rollup can fold in new files without reading the old ones. Aggregates,
//! windows, DISTINCT, LIMIT, sorts or a second read of the table (a
//! self-join, a subquery) break that, and the rollup is rebuilt instead.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{JoinType, LogicalPlan, LogicalPlanBuilder, TableScanBuilder};
use datafusion::prelude::SessionContext;

use crate::foundation::error::{CpiqError, Result};

/// The logical plan of CPI view `cpi`.
async fn view_plan(ctx: &SessionContext, cpi: &str) -> Result<LogicalPlan> {
    let provider = ctx.table_provider(cpi).await?;
    match view_of(&provider) {
        Some(plan) => Ok(plan),
        None => Err(CpiqError::Usage(format!("{cpi} is not a CPI view"))),
    }
}

/// The plan behind a view (a CPI registered from a DataFrame, or a SQL
/// view); `None` for tables of files.
fn view_of(provider: &Arc<dyn TableProvider>) -> Option<LogicalPlan> {
    provider.get_logical_plan().map(|p| p.into_owned())
}

/// The listing tables CPI `cpi` reads, by name, in name order, each once.
pub(crate) async fn base_tables(
    ctx: &SessionContext,
    cpi: &str,
) -> Result<Vec<(String, Arc<ListingTable>)>> {
    let plan = view_plan(ctx, cpi).await?;
    let mut found: Vec<(String, Arc<dyn TableProvider>)> = Vec::new();
    collect_scans(&plan, &mut found)?;
    let mut out: Vec<(String, Arc<ListingTable>)> = Vec::new();
    for (name, provider) in found {
        if out.iter().any(|(n, _)| *n == name) {
            continue;
        }
        // Tables other than listing tables (in-memory tables made in the
        // session) have no files to stamp; a rollup over them is refused.
        let listing = provider
            .downcast_ref::<ListingTable>()
            .cloned()
            .ok_or_else(|| {
                CpiqError::Usage(format!(
                    "CPI {cpi} reads {name}, which is not a table of files; it cannot have a rollup"
                ))
            })?;
        out.push((name, Arc::new(listing)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn collect_scans(
    plan: &LogicalPlan,
    out: &mut Vec<(String, Arc<dyn TableProvider>)>,
) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            match view_of(&provider) {
                Some(v) => collect_scans(&v, out)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?,
                None => out.push((scan.table_name.table().to_string(), provider)),
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// `Ok(Ok(()))` when CPI `cpi` reads `table` exactly once and row by row;
/// `Ok(Err(why))` when not.
pub(super) async fn row_by_row(
    ctx: &SessionContext,
    cpi: &str,
    table: &str,
) -> Result<std::result::Result<(), String>> {
    let plan = view_plan(ctx, cpi).await?;
    let mut reads = Reads::default();
    count_reads(&plan, table, true, &mut reads)?;
    Ok(match (reads.total, reads.row_by_row) {
        (1, 1) => Ok(()),
        (0, _) => Err(format!("the CPI does not read {table}")),
        (1, _) => Err(format!(
            "the CPI aggregates, windows, sorts or limits {table}, so new rows can change old cells"
        )),
        (n, _) => Err(format!("the CPI reads {table} {n} times")),
    })
}

#[derive(Default)]
struct Reads {
    total: usize,
    row_by_row: usize,
}

fn count_reads(plan: &LogicalPlan, table: &str, linear: bool, reads: &mut Reads) -> Result<()> {
    if let LogicalPlan::TableScan(scan) = plan {
        let provider = source_as_provider(&scan.source)?;
        match view_of(&provider) {
            Some(v) => count_reads(&v, table, linear, reads)?,
            None if scan.table_name.table() == table => {
                reads.total += 1;
                reads.row_by_row += usize::from(linear && scan.fetch.is_none());
            }
            None => {}
        }
        return Ok(());
    }
    // Tables read inside subquery expressions never count as row by row.
    plan.apply_subqueries(|sub| {
        count_reads(sub, table, false, reads)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    match plan {
        LogicalPlan::Projection(_)
        | LogicalPlan::Filter(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Union(_) => {
            for input in plan.inputs() {
                count_reads(input, table, linear, reads)?;
            }
        }
        LogicalPlan::Join(j) => {
            use JoinType::*;
            let left = matches!(j.join_type, Inner | Left | LeftSemi | LeftAnti);
            let right = matches!(j.join_type, Inner | Right | RightSemi | RightAnti);
            count_reads(&j.left, table, linear && left, reads)?;
            count_reads(&j.right, table, linear && right, reads)?;
        }
        _ => {
            for input in plan.inputs() {
                count_reads(input, table, false, reads)?;
            }
        }
    }
    Ok(())
}

/// The plan of CPI view `cpi` with every read of `table` (also inside
/// nested CPI views) replaced by a read of `provider`.
pub(super) async fn with_table(
    ctx: &SessionContext,
    cpi: &str,
    table: &str,
    provider: Arc<dyn TableProvider>,
) -> Result<LogicalPlan> {
    replace(view_plan(ctx, cpi).await?, table, &provider)
}

fn replace(
    plan: LogicalPlan,
    table: &str,
    provider: &Arc<dyn TableProvider>,
) -> Result<LogicalPlan> {
    let out = plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let current = source_as_provider(&scan.source)?;
        if let Some(v) = view_of(&current) {
            if scan.projection.is_some() || !scan.filters.is_empty() || scan.fetch.is_some() {
                return datafusion::common::plan_err!(
                    "cannot rewrite a pushed-down read of view {}",
                    scan.table_name
                );
            }
            let inner = replace(v, table, provider)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            let aliased = LogicalPlanBuilder::from(inner)
                .alias(scan.table_name.clone())?
                .build()?;
            return Ok(Transformed::yes(aliased));
        }
        if scan.table_name.table() != table {
            return Ok(Transformed::no(node));
        }
        let rebuilt = TableScanBuilder::new(
            scan.table_name.clone(),
            provider_as_source(Arc::clone(provider)),
        )
        .with_projection(scan.projection.clone())
        .with_filters(scan.filters.clone())
        .with_fetch(scan.fetch)
        .build()?;
        Ok(Transformed::yes(LogicalPlan::TableScan(rebuilt)))
    })?;
    Ok(out.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    fn table(rows: i64) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("t", DataType::Int64, true),
            Field::new("k", DataType::Int64, true),
        ]));
        let values: Vec<i64> = (0..rows).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(values.clone())),
                Arc::new(Int64Array::from(values)),
            ],
        )
        .unwrap();
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
    }

    async fn session(views: &[(&str, &str)]) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_table("events", table(0)).unwrap();
        ctx.register_table("customers", table(3)).unwrap();
        for (name, sql) in views {
            let df = ctx.sql(sql).await.unwrap();
            ctx.register_table(*name, df.into_view()).unwrap();
        }
        ctx
    }

    #[tokio::test]
    async fn row_by_row_reads_are_told_from_the_rest() {
        let ctx = session(&[
            ("plain", "SELECT t, k FROM events WHERE k > 0"),
            (
                "joined",
                "SELECT e.t, c.k FROM events e JOIN customers c ON e.k = c.k",
            ),
            (
                "left",
                "SELECT e.t, c.k FROM events e LEFT JOIN customers c ON e.k = c.k",
            ),
            (
                "outer_side",
                "SELECT e.t, c.k FROM customers c LEFT JOIN events e ON e.k = c.k",
            ),
            ("grouped", "SELECT MIN(t) AS t, k FROM events GROUP BY k"),
            (
                "windowed",
                "SELECT t, ROW_NUMBER() OVER (PARTITION BY k ORDER BY t) AS k FROM events",
            ),
            ("limited", "SELECT t, k FROM events LIMIT 10"),
            (
                "self_join",
                "SELECT a.t, b.k FROM events a JOIN events b ON a.k = b.k",
            ),
            (
                "sub",
                "SELECT t, k FROM events WHERE k IN (SELECT k FROM events WHERE t > 0)",
            ),
            ("nested", "SELECT t, k FROM plain"),
            ("nested_grouped", "SELECT t, k FROM grouped"),
        ])
        .await;
        for (view, ok) in [
            ("plain", true),
            ("joined", true),
            ("left", true),
            ("outer_side", false),
            ("grouped", false),
            ("windowed", false),
            ("limited", false),
            ("self_join", false),
            ("sub", false),
            ("nested", true),
            ("nested_grouped", false),
        ] {
            let r = row_by_row(&ctx, view, "events").await.unwrap();
            assert_eq!(r.is_ok(), ok, "{view}: {r:?}");
        }
        assert_eq!(
            row_by_row(&ctx, "self_join", "events").await.unwrap(),
            Err("the CPI reads events 2 times".into())
        );
        assert_eq!(
            row_by_row(&ctx, "plain", "customers").await.unwrap(),
            Err("the CPI does not read customers".into())
        );
    }

    #[tokio::test]
    async fn a_view_over_some_files_reads_only_them() {
        let ctx = session(&[
            ("plain", "SELECT t, k FROM events WHERE k > 0"),
            (
                "nested",
                "SELECT e.t, c.k FROM plain e JOIN customers c ON e.k = c.k",
            ),
        ])
        .await;
        // `events` is empty; the replacement has rows 0..5, of which 1 and 2
        // pass the filter and join the customers 0..3.
        let plan = with_table(&ctx, "nested", "events", table(5))
            .await
            .unwrap();
        let rows: usize = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 2);
        // The session's own view is untouched.
        let own = ctx
            .sql("SELECT * FROM nested")
            .await
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(own, 0);
    }
}
