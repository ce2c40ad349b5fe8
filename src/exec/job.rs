//! What unattended runs need beyond the shell: job parameters, the run
//! report, the provenance written into every exported Parquet file, and the
//! input fingerprints behind it.

use std::path::Path;
use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;

pub use crate::present::report::{OutputFile, Report, ReportEntry};

/// `path|size|modified` of every file a plan reads, sorted.
pub fn input_files(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut out: Vec<String> = crate::engine::scanned_files(plan)
        .iter()
        .map(|m| {
            format!(
                "/{}|{}|{}",
                m.location,
                m.size,
                m.last_modified.to_rfc3339()
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Now as RFC 3339, or `SOURCE_DATE_EPOCH` when set (reproducible outputs).
pub fn created_at() -> String {
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(secs) => chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        None => chrono::Utc::now().to_rfc3339(),
    }
}

/// The provenance written as Parquet key-value metadata.
pub fn provenance(
    command: &str,
    params: &[(String, String)],
    workspace: &Path,
    inputs: &[String],
) -> Vec<(String, String)> {
    let created = created_at();
    let json = |v: &dyn erased::Json| v.to_json();
    vec![
        ("cpiq.version".into(), env!("CARGO_PKG_VERSION").into()),
        ("cpiq.command".into(), command.to_string()),
        ("cpiq.params".into(), json(&params.to_vec())),
        (
            "cpiq.workspace".into(),
            std::path::absolute(workspace)
                .unwrap_or_else(|_| workspace.to_path_buf())
                .display()
                .to_string(),
        ),
        ("cpiq.inputs".into(), json(&inputs.to_vec())),
        ("cpiq.created".into(), created),
    ]
}

mod erased {
    /// Serialize to compact JSON.
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
