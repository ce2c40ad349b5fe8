//! Rollups nobody asked for: after a session slices a CPI from its raw
//! events, its day rollup is built on a thread of its own, so the next slice
//! it covers answers in milliseconds (issue 22).
//!
//! The build runs at the lowest CPU priority (`nice 19` for its thread),
//! with one partition and a quarter of the session's memory (it spills
//! beyond), on an engine of its own opened on the same workspace and
//! parameters, so the session's queries keep their threads and pool. It
//! takes each rollup's build lock without waiting: a rollup another process
//! is building is left to it. Cancelling (Ctrl-C, the end of the session)
//! drops the build between or inside its writes, and an unfinished part is
//! a temporary that is removed, so nothing half-written is left.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::build::build_one;
use super::manifest::{dir_of, lock};
use crate::engine::{Engine, EngineOptions};
use crate::foundation::error::Result;
use crate::model::calendar::Grain;
use crate::workspace::{MemoryLimit, Workspace};

/// A running background build; dropping it cancels the build and waits
/// for its thread.
pub struct Background {
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    done: Arc<AtomicBool>,
}

impl Background {
    /// Build the day rollups of `cpis` in the background, for a session on
    /// `engine`; `origin` says why (shown by `\rollup status`).
    pub fn start(engine: &Engine, cpis: Vec<String>, origin: String) -> Background {
        let mut workspace: Workspace = engine.workspace().clone();
        let share = engine
            .resources()
            .memory_limit
            .map_or(1 << 30, |b| (b / 4).max(256 << 20));
        workspace.settings.memory_limit = MemoryLimit::Bytes(share);
        workspace.settings.target_partitions = Some(1);
        let params: Vec<(String, String)> = engine
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        let thread = std::thread::Builder::new()
            .name("cpiq-rollups".into())
            .spawn(move || {
                lowest_priority();
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        tokio::select! {
                            _ = cancelled => {}
                            // A failed build leaves the rollup as it was; the
                            // next slice reads the events and says why.
                            _ = build_all(workspace, params, &cpis, origin) => {}
                        }
                    });
                }
                finished.store(true, Ordering::SeqCst);
            })
            .ok();
        Background {
            cancel: Some(cancel),
            thread,
            done,
        }
    }

    /// True while the build runs.
    pub fn is_running(&self) -> bool {
        self.thread.is_some() && !self.done.load(Ordering::SeqCst)
    }

    /// Wait for the build to finish (a job's last statement, tests).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn build_all(
    workspace: Workspace,
    params: Vec<(String, String)>,
    cpis: &[String],
    origin: String,
) -> Result<()> {
    let engine = Engine::open(
        workspace,
        EngineOptions {
            params,
            lenient_params: true,
            ..Default::default()
        },
    )
    .await?;
    for name in cpis {
        let Some(def) = engine.cpi(name).cloned() else {
            continue;
        };
        // Another builder (a second session, `cpiq rollup build`) has it.
        let Some(_lock) = lock(&dir_of(&engine, name), false)? else {
            continue;
        };
        build_one(&engine, &def, Grain::Day, Some(origin.clone())).await?;
    }
    Ok(())
}

/// Lower this thread's CPU priority as far as it goes (Linux keeps a nice
/// value per thread); elsewhere the build runs at the session's priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; 0 names this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
