//! What a front end lends the session core about its terminal: the screen's
//! size, a pager, a progress line. The core asks through [`Terminal`] and
//! never reads a terminal, `$COLUMNS` or `$PAGER` itself
//! ([`crate::front::term`] is the implementation the front ends use).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;

use crate::foundation::error::Result;

/// A terminal's services, as the session core needs them.
pub trait Terminal: Send {
    /// Columns and rows a result table fits (a terminal's size, or a
    /// default when there is none).
    fn table_size(&self) -> (usize, usize);
    /// Columns and rows a text chart fits (a terminal's size, or
    /// `$COLUMNS`/`$LINES` when not on one).
    fn chart_size(&self) -> (usize, usize);
    /// Show `text` through a pager; false when none could run (the caller
    /// prints it instead).
    fn page(&mut self, text: &[u8]) -> bool;
    /// True when a progress line can be shown (standard error is a terminal).
    fn shows_progress(&self) -> bool;
    /// Show (or replace) the progress line of a running query.
    fn progress(&mut self, elapsed: Duration, rows: usize, bytes: usize);
    /// Clear the progress line.
    fn clear_progress(&mut self);
}

/// Rows and bytes the plan's scans have produced so far.
pub fn scanned(plan: &Arc<dyn ExecutionPlan>) -> (usize, usize) {
    let mut rows = 0;
    let mut bytes = 0;
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        let children = p.children();
        if children.is_empty()
            && let Some(m) = p.metrics()
        {
            rows += m.output_rows().unwrap_or(0);
            bytes += m
                .sum_by_name("bytes_scanned")
                .map(|v| v.as_usize())
                .unwrap_or(0);
        }
        stack.extend(children.into_iter().cloned());
    }
    (rows, bytes)
}

/// Collect `stream`; when `terminal` shows progress and the query takes
/// longer than half a second, report its elapsed time and scanned rows and
/// bytes every 200 ms, and clear the line at the end.
pub async fn collect_with_progress(
    plan: &Arc<dyn ExecutionPlan>,
    stream: SendableRecordBatchStream,
    mut terminal: Option<&mut (dyn Terminal + '_)>,
) -> Result<Vec<RecordBatch>> {
    let show = terminal.as_ref().is_some_and(|t| t.shows_progress());
    let start = Instant::now();
    let fut = stream.try_collect::<Vec<RecordBatch>>();
    tokio::pin!(fut);
    let mut shown = false;
    loop {
        tokio::select! {
            r = &mut fut => {
                if shown && let Some(t) = terminal.as_mut() {
                    t.clear_progress();
                }
                return Ok(r?);
            }
            _ = tokio::time::sleep(Duration::from_millis(200)), if show => {
                if start.elapsed() >= Duration::from_millis(500)
                    && let Some(t) = terminal.as_mut()
                {
                    let (rows, bytes) = scanned(plan);
                    t.progress(start.elapsed(), rows, bytes);
                    shown = true;
                }
            }
        }
    }
}
