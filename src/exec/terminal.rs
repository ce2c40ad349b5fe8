//! What a front end lends the session core about its terminal: the screen's
//! size, a pager, a progress line. The core asks through [`Terminal`] and
//! never reads a terminal, `$COLUMNS` or `$PAGER` itself
//! ([`crate::front::term`] is the implementation the front ends use).

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnv;
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
    fn progress(&mut self, progress: &Progress);
    /// Clear the progress line.
    fn clear_progress(&mut self);
}

/// How far a running query is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Since it started.
    pub elapsed: Duration,
    /// Rows its scans produced.
    pub rows: usize,
    /// Bytes its scans read.
    pub bytes: usize,
    /// The share of the bytes its scans will read that they have read (0
    /// to 1), once it can be told; with the time left at the rate so far.
    pub done: Option<(f64, Duration)>,
}

/// How long after the start a share and a time left are shown: before,
/// the rate says little (footers, planning, the first row groups).
pub const ESTIMATE_AFTER: Duration = Duration::from_secs(1);

impl Progress {
    /// Progress after `elapsed` with `bytes` of `total` read: the share and
    /// the time left at the rate so far, `elapsed × (1 − share) / share`,
    /// from [`ESTIMATE_AFTER`] on. The share stops at 99 % (reading ends
    /// before the query does: the last batches are still aggregated).
    pub fn new(elapsed: Duration, rows: usize, bytes: usize, total: Option<u64>) -> Progress {
        let done = total
            .filter(|t| *t > 0 && bytes > 0 && elapsed >= ESTIMATE_AFTER)
            .map(|t| {
                let share = (bytes as f64 / t as f64).min(0.99);
                let left = elapsed.as_secs_f64() * (1.0 - share) / share;
                (share, Duration::from_secs_f64(left))
            });
        Progress {
            elapsed,
            rows,
            bytes,
            done,
        }
    }
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
/// bytes every 200 ms — from a second on with the share of the bytes to
/// read and the time left, when its scans are of Parquet — and clear the
/// line at the end.
pub async fn collect_with_progress(
    plan: &Arc<dyn ExecutionPlan>,
    runtime: &RuntimeEnv,
    stream: SendableRecordBatchStream,
    mut terminal: Option<&mut (dyn Terminal + '_)>,
) -> Result<Vec<RecordBatch>> {
    let show = terminal.as_ref().is_some_and(|t| t.shows_progress());
    // What the scans will read, once the line first shows.
    let mut total: Option<Option<u64>> = None;
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
                    let total = *total.get_or_insert_with(|| {
                        crate::engine::bytes_to_read(plan, runtime)
                    });
                    t.progress(&Progress::new(start.elapsed(), rows, bytes, total));
                    shown = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_is_the_rate_so_far() {
        let s = Duration::from_secs;
        // A quarter read in 2 s: 6 s to go.
        let p = Progress::new(s(2), 10, 250, Some(1000));
        assert_eq!(p.done, Some((0.25, s(6))));
        // Not before a second, nor without a total or a byte read.
        assert_eq!(
            Progress::new(Duration::from_millis(900), 1, 250, Some(1000)).done,
            None
        );
        assert_eq!(Progress::new(s(2), 1, 250, None).done, None);
        assert_eq!(Progress::new(s(2), 0, 0, Some(1000)).done, None);
        // Reading more than the footers promised still leaves a moment.
        let (share, left) = Progress::new(s(9), 1, 2000, Some(1000)).done.unwrap();
        assert_eq!(share, 0.99);
        assert!(left > Duration::ZERO && left < s(1), "{left:?}");
    }
}
