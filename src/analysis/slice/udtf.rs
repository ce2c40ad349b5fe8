//! `cpi_slice(…)`: the slice core as a SQL table function, so job scripts
//! and `COPY (SELECT … FROM cpi_slice(…)) TO 'file.parquet'` can use slices.
//!
//! ```sql
//! SELECT * FROM cpi_slice('on_time_delivery,first_contact_resolution', 'channel', 'quarter');
//! SELECT * FROM cpi_slice('on_time_delivery', '', 'month', '2024-01-01', '2025-01-01');
//! ```
//!
//! Arguments: CPIs (comma-separated), dimensions (comma-separated, `''` for
//! none), grain (default month), from and to dates (optional, `''` for open).
//! The slice runs when the query scans the function, through the same
//! [`super::run`] as `cpiq slice`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{DataFusionError, ScalarValue, plan_err};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::{SliceRequest, result_schema, split_list};
use crate::model::calendar::{Calendar, Grain, parse_date};
use crate::model::cpi::CpiDefinition;

/// The `cpi_slice` table function over a set of CPI definitions.
#[derive(Debug)]
pub struct CpiSliceFunction {
    defs: Arc<Vec<CpiDefinition>>,
    calendar: Calendar,
}

impl CpiSliceFunction {
    /// The function over `defs` with `calendar`.
    pub fn new(defs: Vec<CpiDefinition>, calendar: Calendar) -> Self {
        CpiSliceFunction {
            defs: Arc::new(defs),
            calendar,
        }
    }
}

fn string_arg(args: &[Expr], i: usize) -> datafusion::common::Result<Option<String>> {
    match args.get(i) {
        None => Ok(None),
        Some(Expr::Literal(
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s),
            _,
        )) => Ok(s.clone().filter(|s| !s.trim().is_empty())),
        Some(other) => plan_err!(
            "cpi_slice: argument {} must be a string literal, got {other}",
            i + 1
        ),
    }
}

fn usage(e: crate::foundation::error::CpiqError) -> DataFusionError {
    DataFusionError::Plan(format!("cpi_slice: {e}"))
}

impl TableFunctionImpl for CpiSliceFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::common::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.is_empty() || exprs.len() > 5 {
            return plan_err!(
                "cpi_slice(cpis [, by [, per [, from [, to]]]]) takes 1 to 5 string arguments"
            );
        }
        let cpis = string_arg(exprs, 0)?
            .map(|s| split_list(&s))
            .unwrap_or_default();
        let by = string_arg(exprs, 1)?
            .map(|s| split_list(&s))
            .unwrap_or_default();
        let per: Grain = match string_arg(exprs, 2)? {
            Some(g) => g.parse().map_err(usage)?,
            None => Grain::Month,
        };
        let from = string_arg(exprs, 3)?
            .map(|d| parse_date("from", &d))
            .transpose()
            .map_err(usage)?;
        let to = string_arg(exprs, 4)?
            .map(|d| parse_date("to", &d))
            .transpose()
            .map_err(usage)?;
        let req = SliceRequest {
            cpis,
            by,
            per,
            from,
            to,
            ..SliceRequest::default()
        };
        req.validate(&self.defs).map_err(usage)?;
        Ok(Arc::new(SliceTable {
            schema: result_schema(&req),
            req,
            defs: self.defs.clone(),
            calendar: self.calendar.clone(),
        }))
    }
}

#[derive(Debug)]
struct SliceTable {
    req: SliceRequest,
    schema: SchemaRef,
    defs: Arc<Vec<CpiDefinition>>,
    calendar: Calendar,
}

#[async_trait]
impl TableProvider for SliceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Temporary: its rows are computed in this process when a query scans
    /// it, so the cluster backend plans such queries locally.
    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("cpi_slice needs a SessionState".into()))?;
        let ctx = SessionContext::new_with_state(state.clone());
        let batch = super::run(&ctx, &self.defs, &self.calendar, &self.req)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
