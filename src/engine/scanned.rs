//! The files a physical plan reads, as its scans list them.

use std::any::Any;
use std::sync::Arc;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use object_store::ObjectMeta;

/// Every file the scans of `plan` read (a file read twice is listed twice).
pub fn scanned_files(plan: &Arc<dyn ExecutionPlan>) -> Vec<ObjectMeta> {
    let mut out = Vec::new();
    let mut stack = vec![plan.clone()];
    while let Some(p) = stack.pop() {
        if let Some(ds) = (p.as_ref() as &dyn Any).downcast_ref::<DataSourceExec>()
            && let Some(cfg) =
                (ds.data_source().as_ref() as &dyn Any).downcast_ref::<FileScanConfig>()
        {
            for group in &cfg.file_groups {
                out.extend(group.files().iter().map(|f| f.object_meta.clone()));
            }
        }
        stack.extend(p.children().into_iter().cloned());
    }
    out
}
