//! `cpiq cluster scheduler` and `cpiq cluster executor`: Ballista's
//! scheduler and executor, embedded, so a cluster needs nothing but the
//! cpiq binary on each machine.
//!
//! Both build their sessions the way a cpiq session is built for reading
//! data: folders are listed again by every query (files added since are
//! seen), and object-store URLs (`s3://…`, `gs://…`, `az://…`) get a store
//! on first use from the process's environment (`AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, credentials), as the client's `[storage]` does.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use datafusion::common::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionStateBuilder;
use object_store::ObjectStore;
use url::Url;

use crate::foundation::error::{CpiqError, Result};
use crate::workspace::{ClusterUrl, MemoryLimit, OBJECT_STORE_SCHEMES, Storage};

/// Ballista's log on standard error: warnings and errors, or the level
/// `RUST_LOG` names (`error`, `warn`, `info`, `debug`, `trace`).
pub fn init_log() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{} {}: {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// `cpiq cluster scheduler` options.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to listen on (`HOST:PORT`).
    pub bind: String,
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as lost
    /// and its tasks run elsewhere.
    pub executor_timeout: u64,
}

/// `cpiq cluster executor` options.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler (`df://HOST:PORT`).
    pub scheduler: ClusterUrl,
    /// Address of the Arrow Flight service other executors and clients
    /// fetch results from (`HOST:PORT`); the task service uses PORT + 1
    /// unless `grpc_port` says otherwise.
    pub bind: String,
    /// Port of the task (gRPC) service.
    pub grpc_port: Option<u16>,
    /// Host name the scheduler, other executors and clients use to reach
    /// this executor (default: the bind host, or this machine's name when
    /// binding to all interfaces).
    pub external_host: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    pub slots: Option<usize>,
    /// Shuffle files and spills (default: a fresh folder under the
    /// system's temporary directory, removed at exit).
    pub work_dir: Option<PathBuf>,
    /// Memory for query operators across all slots.
    pub memory_limit: MemoryLimit,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat: u64,
}

/// Split `HOST:PORT` (`[v6]:PORT` too) and resolve it.
fn host_port(what: &str, s: &str) -> Result<(String, u16, SocketAddr)> {
    let bad = || CpiqError::Usage(format!("{what} {s:?}: expected HOST:PORT"));
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| CpiqError::Usage(format!("{what} {s:?}: {e}")))?
        .next()
        .ok_or_else(|| CpiqError::Usage(format!("{what} {s:?}: no address")))?;
    Ok((host.to_string(), port, addr))
}

fn ballista(e: impl std::fmt::Display) -> CpiqError {
    CpiqError::Usage(format!("cluster: {e}"))
}

/// The host others should dial: `external`, else the bind host unless it
/// is a wildcard, else this machine's name.
fn advertised(bind_host: &str, external: Option<&str>) -> String {
    if let Some(h) = external {
        return h.to_string();
    }
    if bind_host == "0.0.0.0" || bind_host == "::" {
        return std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
    }
    bind_host.to_string()
}

/// Run a scheduler until SIGINT or SIGTERM.
pub async fn run_scheduler(opts: SchedulerOptions) -> Result<()> {
    init_log();
    let (host, port, addr) = host_port("--bind", &opts.bind)?;
    let timeout = opts.executor_timeout.max(2);
    let mut config = SchedulerConfig::default()
        .with_hostname(advertised(&host, opts.external_host.as_deref()))
        .with_port(port)
        // One scheduler: spread each stage's tasks over all executors
        // rather than filling the first one's slots.
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_override_session_builder(Arc::new(|config| {
            let state = default_session_builder(config)?;
            let runtime = runtime(None)?;
            let mut state = SessionStateBuilder::new_from_existing(state)
                .with_runtime_env(runtime)
                .build();
            // Plans name cpiq's own functions.
            state.register_udf(Arc::new(crate::model::period::udf()))?;
            Ok(state)
        }));
    config.bind_host = host.clone();
    config.executor_timeout_seconds = timeout;
    config.no_executors_grace_period_seconds = timeout;
    config.expire_dead_executor_interval_seconds = (timeout / 4).max(1);
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista)?;
    // Bind first, so a taken port is an error here and not a log line.
    std::net::TcpListener::bind(addr)
        .map_err(|e| CpiqError::Usage(format!("--bind {}: {e}", opts.bind)))?;
    eprintln!(
        "cpiq cluster scheduler listening on df://{} (Ballista {}, DataFusion {}); \
         executors lost after {timeout} s without a heartbeat",
        crate::workspace::ClusterUrl {
            host: config.external_host.clone(),
            port
        }
        .authority(),
        ballista_core::BALLISTA_VERSION,
        datafusion::DATAFUSION_VERSION,
    );
    // SIGINT or SIGTERM stops it cleanly (a second one exits at once).
    tokio::select! {
        r = start_server(cluster, addr, config) => r.map_err(ballista),
        _ = crate::foundation::interrupt::interrupted() => Ok(()),
    }
}

/// Run an executor until SIGINT or SIGTERM (Ballista's own handler tells
/// the scheduler it is leaving).
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    init_log();
    let (host, port, _) = host_port("--bind", &opts.bind)?;
    let grpc_port = match opts.grpc_port {
        Some(p) => p,
        None => port.checked_add(1).ok_or_else(|| {
            CpiqError::Usage("--bind: the port must leave room for PORT + 1".into())
        })?,
    };
    let slots = opts
        .slots
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if slots == 0 {
        return Err(CpiqError::Usage("--slots: at least 1".into()));
    }
    let (work_dir, owned) = match &opts.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cpiq-executor-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work_dir).map_err(|e| CpiqError::io(&work_dir, e))?;
    let work = work_dir.to_string_lossy().into_owned();
    let wd = work_dir.clone();
    let mut config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: Some(advertised(&host, opts.external_host.as_deref())),
        port,
        grpc_port,
        scheduler_host: opts.scheduler.host.clone(),
        scheduler_port: opts.scheduler.port,
        scheduler_connect_timeout_seconds: 10,
        vcores: slots,
        work_dir: Some(work.clone()),
        executor_heartbeat_interval_seconds: opts.heartbeat.max(1),
        print_thread_info: false,
        override_runtime_producer: Some(Arc::new(move |_| runtime(Some(wd.clone())))),
        override_function_registry: Some(Arc::new(functions())),
        ..ExecutorProcessConfig::default()
    };
    match opts.memory_limit {
        MemoryLimit::Bytes(b) => config.memory_pool_size = Some(b as u64),
        // As a cpiq session: half the machine's (or cgroup's) memory.
        MemoryLimit::Default => config.memory_pool_fraction = 0.5,
        MemoryLimit::Unlimited => config.memory_pool_fraction = 1.0,
    }
    let health = config.health.clone();
    let id = config.executor_id.clone();
    let scheduler = opts.scheduler.clone();
    let announce = format!(
        "cpiq cluster executor {id} ready: scheduler {scheduler}, results on {}:{port}, \
         tasks on port {grpc_port}, {slots} slots, work dir {work}",
        config.external_host.as_deref().unwrap_or(&host),
    );
    // Say once when the scheduler has taken us (tests and scripts wait for it).
    let watcher = tokio::spawn(async move {
        while !health.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("{announce}");
    });
    let result = start_executor_process(Arc::new(config)).await;
    watcher.abort();
    if owned {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    result.map_err(|e| crate::foundation::error::cluster_error(&scheduler, e.to_string()))
}

/// DataFusion's functions and cpiq's own, which the plans executors
/// receive may name.
fn functions() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    let udf = Arc::new(crate::model::period::udf());
    registry
        .scalar_functions
        .insert(udf.name().to_string(), udf);
    registry
}

/// A runtime as cpiq's sessions have (folders listed by every query), with
/// object stores from the environment on first use and spills under `temp`
/// when given.
fn runtime(temp: Option<PathBuf>) -> datafusion::common::Result<Arc<RuntimeEnv>> {
    let mut b =
        crate::engine::runtime_builder().with_object_store_registry(Arc::new(EnvStores::default()));
    if let Some(t) = temp {
        b = b.with_temp_file_path(t);
    }
    b.build_arc()
}

/// Local files as usual; object-store buckets built on first use from the
/// environment and kept.
#[derive(Debug, Default)]
struct EnvStores {
    inner: DefaultObjectStoreRegistry,
    made: Mutex<()>,
}

impl ObjectStoreRegistry for EnvStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        if let Ok(s) = self.inner.get_store(url) {
            return Ok(s);
        }
        if !OBJECT_STORE_SCHEMES.contains(&url.scheme()) {
            return self.inner.get_store(url);
        }
        // One builder at a time, so two tasks do not build the same bucket.
        let _guard = self
            .made
            .lock()
            .map_err(|_| DataFusionError::Internal("object store registry poisoned".into()))?;
        if let Ok(s) = self.inner.get_store(url) {
            return Ok(s);
        }
        let (base, store) = crate::engine::storage::store_for(url.as_str(), &Storage::default())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.inner.register_store(&base, store.clone());
        Ok(store)
    }
}
