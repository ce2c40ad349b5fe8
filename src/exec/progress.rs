//! A progress line on stderr for queries that run longer than half a
//! second: elapsed time, rows and bytes scanned so far, read from the
//! running plan's metrics. Terminal only; cleared when the query ends.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;

use crate::error::Result;

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

fn human_bytes(b: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Collect `stream`, showing progress on stderr when `show` and the query
/// takes longer than half a second.
pub async fn collect_with_progress(
    plan: &Arc<dyn ExecutionPlan>,
    stream: SendableRecordBatchStream,
    show: bool,
) -> Result<Vec<RecordBatch>> {
    let start = Instant::now();
    let fut = stream.try_collect::<Vec<RecordBatch>>();
    tokio::pin!(fut);
    let mut shown = false;
    loop {
        tokio::select! {
            r = &mut fut => {
                if shown {
                    eprint!("\r\x1b[K");
                    let _ = std::io::stderr().flush();
                }
                return Ok(r?);
            }
            _ = tokio::time::sleep(Duration::from_millis(200)), if show => {
                if start.elapsed() >= Duration::from_millis(500) {
                    let (rows, bytes) = scanned(plan);
                    eprint!(
                        "\r\x1b[K  {:.1} s · {rows} rows, {} scanned · Ctrl-C cancels",
                        start.elapsed().as_secs_f64(),
                        human_bytes(bytes)
                    );
                    let _ = std::io::stderr().flush();
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
    fn bytes_read_like_people_write_them() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
