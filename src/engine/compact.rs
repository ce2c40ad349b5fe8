//! Compacting the batches a sort buffers, so that it counts the memory it
//! really holds.
//!
//! A hash aggregation emits its groups as one array per column, cut into
//! `batch_size`-row slices that share the whole array's buffers. DataFusion
//! 55's sort reserves, for every batch it buffers, the memory of the buffers
//! behind it: each 8,192-row slice of a by-customer aggregate (millions of
//! groups) is counted at the size of the whole output, the sort's share of
//! the pool runs out after a few dozen slices and it spills to disk with
//! the pool nearly empty (the sliced-batch overcount reported upstream in
//! apache/datafusion#19679). By-customer slices spilled ~135 MB at 10M
//! events and took ~20% longer than without a memory limit.
//!
//! [`CompactBeforeSort`] puts a [`CompactExec`] under every full sort of a
//! locally planned query. It passes through batches that own their buffers
//! and copies those that hold much more than their rows (a slice of a larger
//! array) into buffers of their own, with arrow's `BatchCoalescer`, which
//! also copies the strings a view array points at. The copy costs a few
//! milliseconds per million rows; the sort then reserves what it holds.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::utils::memory::get_record_batch_memory_size;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::StreamExt;

/// Bytes a batch may hold beyond twice its rows' own size before it is
/// copied: small batches are never worth it.
const SLACK: usize = 1 << 20;

/// The physical optimizer rule: a [`CompactExec`] under every sort that
/// keeps all its input (not a top-k sort, whose heap holds `fetch` rows).
#[derive(Debug, Default)]
pub struct CompactBeforeSort;

impl PhysicalOptimizerRule for CompactBeforeSort {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let input = sort.input();
            if sort.fetch().is_some() || input.is::<CompactExec>() {
                return Ok(Transformed::no(node));
            }
            let compact: Arc<dyn ExecutionPlan> = Arc::new(CompactExec::new(Arc::clone(input)));
            // CompactExec has its input's properties, so the sort's hold.
            let sort = Arc::clone(&node).replace_children(
                vec![compact],
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
            )?;
            Ok(Transformed::yes(sort))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "cpiq_compact_before_sort"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input's batches on, copying those that hold far more memory
/// than their rows need into buffers of their own.
#[derive(Debug)]
pub struct CompactExec {
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl CompactExec {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> CompactExec {
        CompactExec {
            input,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for CompactExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CompactExec")
    }
}

impl ExecutionPlan for CompactExec {
    fn name(&self) -> &str {
        "CompactExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(CompactExec::new(input))),
            _ => Err(DataFusionError::Internal(
                "CompactExec takes exactly one input".into(),
            )),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let batches = input.map(move |batch| {
            let timer = metrics.elapsed_compute().timer();
            let out = batch.and_then(compact);
            timer.done();
            out.record_output(&metrics)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// `batch` itself if it holds little more than its rows need, else a copy
/// of its rows in buffers of their own.
fn compact(batch: RecordBatch) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(batch);
    }
    let mut needed = 0;
    for column in batch.columns() {
        needed += column.to_data().get_slice_memory_size()?;
    }
    if get_record_batch_memory_size(&batch) <= 2 * needed + SLACK {
        return Ok(batch);
    }
    let mut copy = BatchCoalescer::new(batch.schema(), rows);
    copy.push_batch(batch)?;
    copy.finish_buffered_batch()?;
    copy.next_completed_batch()
        .ok_or_else(|| DataFusionError::Internal("CompactExec: no batch after a copy".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringViewArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn big_batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8View, true),
        ]));
        let n = Int64Array::from_iter_values(0..rows as i64);
        let s =
            StringViewArray::from_iter((0..rows).map(|i| {
                (i % 7 != 0).then(|| format!("customer number {i:010} with a long name"))
            }));
        RecordBatch::try_new(schema, vec![Arc::new(n), Arc::new(s)]).unwrap()
    }

    #[test]
    fn slices_of_a_large_batch_are_copied_with_their_values() {
        let big = big_batch(200_000);
        let slice = big.slice(100_000, 8_192);
        let held = get_record_batch_memory_size(&slice);
        let copied = compact(slice.clone()).unwrap();
        assert_eq!(copied, slice, "same rows, same values and nulls");
        let now = get_record_batch_memory_size(&copied);
        assert!(now * 10 < held, "copy holds {now} bytes, the slice {held}");
    }

    #[test]
    fn batches_owning_their_buffers_pass_through() {
        let whole = big_batch(8_192);
        let out = compact(whole.clone()).unwrap();
        // Not copied: the very same buffers.
        assert_eq!(
            out.column(0).to_data().buffers()[0].as_ptr(),
            whole.column(0).to_data().buffers()[0].as_ptr()
        );
        let empty = big_batch(10).slice(0, 0);
        assert_eq!(compact(empty).unwrap().num_rows(), 0);
    }
}
