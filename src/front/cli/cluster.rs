//! `cpiq cluster scheduler|executor`: the runtime the embedded Ballista
//! processes need, and their options from the command line.

use std::process::ExitCode;

use super::args::ClusterCmd;
use crate::foundation::error::Result;
use crate::workspace::MemoryLimit;

/// `cpiq cluster scheduler|executor`: run the process until it is stopped.
pub(super) fn run_cluster(role: &ClusterCmd, memory_limit: MemoryLimit) -> Result<ExitCode> {
    #[cfg(feature = "distributed")]
    {
        use crate::front::cluster::{ExecutorOptions, SchedulerOptions};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            // Ballista plans deep trees on the scheduler, as its own binary
            // allows for.
            .thread_stack_size(32 << 20)
            .build()
            .map_err(crate::foundation::error::CpiqError::from)?;
        runtime.block_on(async {
            match role {
                ClusterCmd::Scheduler {
                    bind,
                    external_host,
                    executor_timeout,
                } => {
                    crate::front::cluster::run_scheduler(SchedulerOptions {
                        bind: bind.clone(),
                        external_host: external_host.clone(),
                        executor_timeout: *executor_timeout,
                    })
                    .await
                }
                ClusterCmd::Executor {
                    scheduler,
                    bind,
                    grpc_port,
                    external_host,
                    slots,
                    work_dir,
                    heartbeat,
                } => {
                    crate::front::cluster::run_executor(ExecutorOptions {
                        scheduler: scheduler.clone(),
                        bind: bind.clone(),
                        grpc_port: *grpc_port,
                        external_host: external_host.clone(),
                        slots: *slots,
                        work_dir: work_dir.clone(),
                        memory_limit,
                        heartbeat: *heartbeat,
                    })
                    .await
                }
            }
        })?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = memory_limit;
        Err(crate::engine::cluster::not_built(match role {
            ClusterCmd::Scheduler { bind, .. } => format!("df://{bind}"),
            ClusterCmd::Executor { scheduler, .. } => scheduler.to_string(),
        }))
    }
}
