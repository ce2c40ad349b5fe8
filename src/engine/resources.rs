//! How much memory queries may use and where they spill beyond it.
//!
//! DataFusion's operators that hold state (hash aggregations and joins,
//! sorts) take their memory from one pool; when it is full they spill to
//! disk, or fail with a "memory limit" error if they cannot. This module
//! chooses the pool's size and the spill folder from `[settings]` and the
//! machine, and describes both for `cpiq check`:
//!
//! - `memory_limit` unset: half of the memory available to the process (the
//!   smaller of physical memory and the cgroup limit). The pool counts only
//!   operator state, not the batches in flight or the Parquet decoders, so
//!   half leaves room for those and for the rest of the machine.
//! - `spill_dir` unset: the OS temporary folder (`$TMPDIR`, else `/tmp`),
//!   unless it lives in memory (tmpfs), where spilling would only move the
//!   pressure; then `$XDG_CACHE_HOME/cpiq/spill` (else `~/.cache/cpiq/spill`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::foundation::error::Result;
use crate::foundation::text::human_size;
use crate::workspace::{MemoryLimit, Settings};

/// A runtime builder as every cpiq session (and `cpiq cluster` process)
/// starts from. Every query lists its tables' folders again (as DuckDB
/// globs again), so a long shell session sees files added meanwhile, and a
/// rollup records exactly the files its aggregation read. Listing is ~0.1 ms
/// per folder; Parquet footers stay cached by path, size and modification
/// time.
pub fn runtime_builder() -> RuntimeEnvBuilder {
    RuntimeEnvBuilder::new().with_cache_manager(
        datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
            .with_list_files_cache_limit(0),
    )
}

/// How many of the biggest memory consumers a "memory limit" error names.
const TOP_CONSUMERS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(3).unwrap();

/// The memory pool and spill folder of a session.
#[derive(Debug, Clone)]
pub struct Resources {
    /// Pool size in bytes, `None` when unlimited.
    pub memory_limit: Option<usize>,
    /// Where the limit came from, for `cpiq check`.
    pub memory_reason: String,
    /// The folder spill files go to.
    pub spill_dir: PathBuf,
    /// Where the folder came from, for `cpiq check`.
    pub spill_reason: String,
}

impl Resources {
    /// Choose from the settings and the machine.
    pub fn choose(settings: &Settings) -> Resources {
        let (memory_limit, memory_reason) = match settings.memory_limit {
            MemoryLimit::Bytes(b) => (Some(b), "memory_limit in cpiq.toml".to_string()),
            MemoryLimit::Unlimited => (None, "memory_limit = \"none\" in cpiq.toml".to_string()),
            MemoryLimit::Default => match available_memory() {
                Some((bytes, from)) => (
                    Some(bytes / 2),
                    format!("half of the {} {from}", human_size(bytes as u64)),
                ),
                None => (None, "machine memory unknown: no limit".to_string()),
            },
        };
        let (spill_dir, spill_reason) = match &settings.spill_dir {
            Some(d) => (d.clone(), "spill_dir in cpiq.toml".to_string()),
            None => {
                let tmp = std::env::temp_dir();
                if is_in_memory(&tmp) {
                    (
                        cache_dir().join("cpiq").join("spill"),
                        format!("{} is in memory (tmpfs)", tmp.display()),
                    )
                } else {
                    (tmp, "the OS temporary folder".to_string())
                }
            }
        };
        Resources {
            memory_limit,
            memory_reason,
            spill_dir,
            spill_reason,
        }
    }

    /// The DataFusion runtime with this pool and spill folder. The OS
    /// temporary folder is used lazily; another folder is created now.
    pub fn runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let mut runtime = runtime_builder();
        if let Some(bytes) = self.memory_limit {
            // The fair pool shares memory among the operators that can
            // spill; with the greedy one, an aggregation feeding a top-k
            // under a small limit was seen waiting forever (DataFusion 55).
            // The tracking wrapper names the biggest consumers in errors.
            runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(
                FairSpillPool::new(bytes),
                TOP_CONSUMERS,
            )));
        }
        if self.spill_dir != std::env::temp_dir() {
            std::fs::create_dir_all(&self.spill_dir)
                .map_err(|e| crate::foundation::error::CpiqError::io(&self.spill_dir, e))?;
            runtime = runtime.with_disk_manager_builder(
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![self.spill_dir.clone()])),
            );
        }
        Ok(runtime.build_arc()?)
    }

    /// One line for `cpiq check`.
    pub fn describe(&self) -> String {
        let limit = match self.memory_limit {
            Some(b) => human_size(b as u64),
            None => "none".to_string(),
        };
        format!(
            "memory limit {limit} ({}); spill folder {} ({})",
            self.memory_reason,
            self.spill_dir.display(),
            self.spill_reason
        )
    }
}

/// The memory this process may use: physical memory, or the cgroup's
/// limit when smaller, with where the figure came from.
fn available_memory() -> Option<(usize, &'static str)> {
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map(|kb| kb * 1024)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    Some(match cgroup {
        Some(c) if c < physical => (c, "of this cgroup's memory limit"),
        _ => (physical, "of this machine's memory"),
    })
}

/// Whether `dir` is on a RAM-backed file system.
fn is_in_memory(dir: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    rustix::fs::statfs(dir)
        .map(|s| {
            // f_type is i64 here, u32 or i32 on other targets.
            #[allow(clippy::unnecessary_cast)]
            let t = s.f_type as i64;
            t == TMPFS_MAGIC || t == RAMFS_MAGIC
        })
        .unwrap_or(false)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_win_over_the_machine() {
        let settings = Settings {
            memory_limit: MemoryLimit::Bytes(512 << 20),
            spill_dir: Some(PathBuf::from("/data/spill")),
            ..Settings::default()
        };
        let r = Resources::choose(&settings);
        assert_eq!(r.memory_limit, Some(512 << 20));
        assert_eq!(r.spill_dir, PathBuf::from("/data/spill"));
        assert!(
            r.describe().starts_with("memory limit 512.0 MiB"),
            "{}",
            r.describe()
        );
        let none = Settings {
            memory_limit: MemoryLimit::Unlimited,
            ..Settings::default()
        };
        assert_eq!(Resources::choose(&none).memory_limit, None);
    }

    #[test]
    fn the_default_is_half_the_memory() {
        let r = Resources::choose(&Settings::default());
        if let Some((bytes, _)) = available_memory() {
            assert_eq!(r.memory_limit, Some(bytes / 2));
            assert!(r.memory_reason.starts_with("half of the"), "{r:?}");
        }
    }
}
