//! The engine: one DataFusion session holding a workspace's tables, KPI
//! tables and CPI views.
//!
//! Every front end (the one-shot CLI, the shell, batch scripts) opens an
//! [`Engine`] and runs statements through it; nothing here knows about flags,
//! terminals or output formats, nor about slices, rollups or correlations:
//! the analyses run *on* the engine ([`crate::analysis`]) and add their
//! table functions through [`Extension`]. A cluster (`[settings] cluster`)
//! is an execution backend ([`cluster`]). Loading is forgiving: a table whose files are
//! broken or a CPI whose definition is wrong is recorded as a problem
//! ([`Engine::problems`]) and the rest of the workspace keeps working.

pub(crate) mod cluster;
mod compact;
mod file_stats;
mod register;
mod resources;
mod scanned;
mod schemas;
pub(crate) mod storage;
mod views;

pub(crate) use register::parquet_format;
pub use resources::{Resources, runtime_builder};
pub use scanned::{bytes_to_read, scanned_files};

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::Calendar;
use crate::model::cpi::{CpiDefinition, catalog, load_definitions};
use crate::workspace::Workspace;

/// The DataFusion setting (as an environment variable) cpiq changes from
/// its default of 0.8.
const SKIP_PARTIAL_VAR: &str =
    "DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD";

/// A session on `config` and `runtime` with what cpiq adds to every
/// DataFusion session: its SQL functions, and compaction of the batches a
/// sort buffers ([`compact`]).
pub(crate) fn local_context(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionContext {
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(compact::CompactBeforeSort))
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_functions(&ctx);
    ctx
}

/// cpiq's scalar functions: `cpiq_period_start`.
fn register_functions(ctx: &SessionContext) {
    ctx.register_udf(crate::model::period::udf());
}

/// A CPI of the catalog: its definition if it parsed, and why it is not
/// usable if it is not.
#[derive(Debug)]
pub struct CpiEntry {
    /// The definition file.
    pub path: PathBuf,
    /// The parsed definition (`None` when the file did not parse).
    pub definition: Option<CpiDefinition>,
    /// Why the CPI is not usable, as far as known: a problem of the file or
    /// the catalog (parse error, a table's name, a cycle) from the start, a
    /// problem of the body once it was planned ([`Engine::plan_all`]).
    pub problem: Option<Arc<CpiqError>>,
}

impl CpiEntry {
    /// True when the CPI is declared as a view and, as far as known, can be
    /// queried.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none() && self.definition.is_some()
    }
}

/// A table of the workspace and whether it opened.
#[derive(Debug)]
pub struct TableEntry {
    /// The table's name.
    pub name: String,
    /// Why it does not open (or, for a KPI table, does not have the
    /// declared columns), as far as known: tables open when a statement
    /// first names them, every one in [`Engine::plan_all`].
    pub problem: Option<Arc<CpiqError>>,
}

/// A DataFusion session over one workspace.
pub struct Engine {
    ctx: SessionContext,
    /// The session's schema: tables and the CPI views, planned when named.
    views: Arc<views::CpiSchema>,
    workspace: Workspace,
    tables: Vec<TableEntry>,
    cpis: Vec<CpiEntry>,
    params: HashMap<String, String>,
    resources: Resources,
    /// What the layers above registered, by key, at which version.
    registrations: std::sync::Mutex<HashMap<String, String>>,
    /// Registered again with the CPI views, after every parameter change.
    extensions: Vec<Arc<dyn Extension>>,
    /// The opened tables' file statistics, written to the cache folder when
    /// the session ends (the tables may outlive it in a background task).
    file_stats: FileStatsSink,
}

/// Where opened tables leave their file statistics for the session.
type FileStatsSink = Arc<std::sync::Mutex<Vec<Arc<file_stats::FileStats>>>>;

impl Drop for Engine {
    fn drop(&mut self) {
        let stats = self.file_stats.lock().unwrap_or_else(|e| e.into_inner());
        for stats in stats.iter() {
            stats.persist();
        }
    }
}

/// Declare the workspace's tables and KPI tables in `views`, each opened
/// when a statement first names it ([`register::opener`]); their entries,
/// without problems until they are opened. The object stores of tables on
/// object storage are registered now, so that a statement can read other
/// objects there by URL (`SELECT * FROM 's3://bucket/x.parquet'`) before
/// any table opened.
fn declare_tables(
    views: &views::CpiSchema,
    ctx: &SessionContext,
    workspace: &Workspace,
    file_stats: &FileStatsSink,
) -> Vec<TableEntry> {
    for url in workspace.all_tables().filter_map(|t| t.url.as_deref()) {
        // A store that cannot be made is the table's problem when it opens.
        let _ = storage::register(&ctx.runtime_env(), url, &workspace.storage);
    }
    let (cache, writable) = (&workspace.cache_dir, !workspace.settings.read_only);
    let openers = workspace
        .all_tables()
        .map(|spec| {
            let kpi = workspace
                .kpi(&spec.name)
                .map(|k| (k.clone(), workspace.config_path.clone()));
            let open = register::opener(
                spec.clone(),
                kpi,
                workspace.storage.clone(),
                cache.clone(),
                writable,
                Arc::clone(file_stats),
            );
            (spec.name.clone(), open)
        })
        .collect();
    views.declare_tables(openers);
    workspace
        .all_tables()
        .map(|spec| TableEntry {
            name: spec.name.clone(),
            problem: None,
        })
        .collect()
}

/// What a layer above registers in the session beside the CPI views, again
/// each time they are registered (a parameter change re-plans every view):
/// the analyses' table functions, such as `cpi_slice(…)`. The engine calls
/// it and knows nothing of what it adds.
pub trait Extension: Send + Sync {
    /// Register into `ctx`, given the usable CPI definitions and the
    /// workspace's calendar.
    fn register(&self, ctx: &SessionContext, definitions: &[CpiDefinition], calendar: &Calendar);
}

/// Options for opening an engine that do not come from `cpiq.toml`.
#[derive(Clone, Default)]
pub struct EngineOptions {
    /// Registered beside the CPI views ([`Extension`]).
    pub extensions: Vec<Arc<dyn Extension>>,
    /// Session parameter values, overriding CPI defaults (`--param`).
    pub params: Vec<(String, String)>,
    /// Ignore parameters no CPI declares (a job's own `${name}` parameters).
    pub lenient_params: bool,
}

impl Engine {
    /// Open a session on `workspace`: register its tables, KPI tables and
    /// CPI views. Problems with single tables or CPIs are recorded, not
    /// returned; an error here means the session itself could not start.
    pub async fn open(workspace: Workspace, options: EngineOptions) -> Result<Engine> {
        let mut config = SessionConfig::from_env()
            .map_err(|e| {
                CpiqError::Usage(format!(
                    "DataFusion settings from the environment (DATAFUSION_* variables): {}",
                    one_line(&e.to_string())
                ))
            })?
            .with_information_schema(true)
            .with_default_catalog_and_schema("cpiq", "public");
        if let Some(n) = workspace.settings.target_partitions {
            config = config.with_target_partitions(n);
        }
        // Skip the partial aggregation when it would keep over half of the
        // rows as groups (DataFusion: 80%). A slice by customer per quarter
        // keeps ~56% at 10M events: its partial step cost 0.56 s to save
        // the final one little; skipped, the slice is ~9% faster.
        // A DATAFUSION_* variable (read by `from_env`) still wins.
        if std::env::var_os(SKIP_PARTIAL_VAR).is_none() {
            config
                .options_mut()
                .execution
                .skip_partial_aggregation_probe_ratio_threshold = 0.5;
        }
        let resources = Resources::choose(&workspace.settings);
        let mut ctx = local_context(config, resources.runtime()?);
        if let Some(url) = &workspace.settings.cluster {
            let state = crate::engine::cluster::attach(ctx.state(), url).await?;
            ctx = SessionContext::new_with_state(state);
            // Ballista's upgrade replaces the session's function list.
            register_functions(&ctx);
        }
        // Tables and CPI views live in one schema that opens each table and
        // plans each view the first time a statement names it, and reads
        // `SELECT * FROM 'file.parquet'` as datafusion-cli and DuckDB do
        // ([`views`]).
        let views = views::CpiSchema::install(&ctx)?;

        let file_stats = Arc::default();
        let tables = declare_tables(&views, &ctx, &workspace, &file_stats);

        let cpis = load_definitions(&workspace.cpis_dir)?
            .into_iter()
            .map(|(path, parsed)| match parsed {
                Ok(def) => CpiEntry {
                    path,
                    definition: Some(def),
                    problem: None,
                },
                Err(e) => CpiEntry {
                    path,
                    definition: None,
                    problem: Some(Arc::new(e)),
                },
            })
            .collect();
        let mut engine = Engine {
            ctx,
            views,
            resources,
            workspace,
            tables,
            cpis,
            params: HashMap::new(),
            registrations: Default::default(),
            extensions: options.extensions,
            file_stats,
        };
        for (name, value) in options.params {
            if options.lenient_params && !engine.declares_param(&name) {
                continue;
            }
            engine.check_param(&name, &value)?;
            engine.params.insert(name, value);
        }
        engine.declare_cpis();
        Ok(engine)
    }

    /// The calendar slices use (fiscal year start from `[settings]`).
    pub fn calendar(&self) -> crate::model::calendar::Calendar {
        crate::model::calendar::Calendar {
            fiscal_year_start: self.workspace.settings.fiscal_year_start,
            timezone: self.workspace.settings.timezone.clone(),
        }
    }

    /// The definitions of every registered (usable) CPI.
    pub fn definitions(&self) -> Vec<CpiDefinition> {
        self.cpis
            .iter()
            .filter(|c| c.is_ok())
            .filter_map(|c| c.definition.clone())
            .collect()
    }

    /// The version (an opaque id) of what the layers above registered in
    /// this session under `key`, as they recorded it with
    /// [`Engine::set_registration`]: a rollup records its manifest's id, so a
    /// later slice re-registers it only when it changed.
    pub fn registration(&self, key: &str) -> Option<String> {
        self.registrations.lock().ok()?.get(key).cloned()
    }

    /// Record that `key` is registered in this session at version `id`.
    pub fn set_registration(&self, key: &str, id: String) {
        if let Ok(mut m) = self.registrations.lock() {
            m.insert(key.to_string(), id);
        }
    }

    /// Drop a session parameter (back to each CPI's default).
    pub async fn unset_param(&mut self, name: &str) -> Result<()> {
        if self.params.remove(name).is_none() {
            return Err(CpiqError::Usage(format!(
                "parameter \"{name}\" is not set in this session (\\set lists them)"
            )));
        }
        self.declare_cpis();
        Ok(())
    }

    /// The DataFusion session.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// The workspace this engine was opened on.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The memory limit and spill folder queries run with.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Every CPI file of the workspace, loaded or not, in file-name order,
    /// with the problems known so far ([`Engine::plan_all`] finds the rest).
    pub fn cpis(&self) -> &[CpiEntry] {
        &self.cpis
    }

    /// Every table of the workspace and whether it registered.
    pub fn tables(&self) -> &[TableEntry] {
        &self.tables
    }

    /// The loaded definition of CPI `name`.
    pub fn cpi(&self, name: &str) -> Option<&CpiDefinition> {
        self.cpis
            .iter()
            .filter(|c| c.is_ok())
            .filter_map(|c| c.definition.as_ref())
            .find(|d| d.name == name)
    }

    /// Every problem found so far: broken tables, then broken CPIs (all of
    /// them after [`Engine::plan_all`]).
    pub fn problems(&self) -> Vec<&CpiqError> {
        self.tables
            .iter()
            .filter_map(|t| t.problem.as_deref())
            .chain(self.cpis.iter().filter_map(|c| c.problem.as_deref()))
            .collect()
    }

    /// Open every table and plan every declared CPI view not opened or
    /// planned yet, and record the problems found, for what reports on
    /// every table and CPI (`check`, the listings, the shell's greeting).
    /// Statements open only the tables and plan only the views they name.
    pub async fn plan_all(&mut self) {
        for entry in &mut self.tables {
            if let Some(opened) = self.views.opened(&entry.name).await {
                entry.problem = opened.problem();
            }
        }
        for entry in &mut self.cpis {
            if entry.problem.is_some() {
                continue;
            }
            let Some(def) = &entry.definition else {
                continue;
            };
            if let Some(Err(problem)) = self.views.planned(&def.name).await {
                entry.problem = Some(problem);
            }
        }
    }

    /// The session's parameter values (those set with `--param` or `\set`).
    pub fn params(&self) -> &HashMap<String, String> {
        &self.params
    }

    /// Set a session parameter and re-register the CPI views that use it.
    /// The name must be declared by at least one CPI; the value must be
    /// acceptable where that CPI places it.
    pub async fn set_param(&mut self, name: &str, value: &str) -> Result<()> {
        self.check_param(name, value)?;
        self.params.insert(name.to_string(), value.to_string());
        self.declare_cpis();
        Ok(())
    }

    /// True when some CPI declares parameter `name`.
    pub fn declares_param(&self, name: &str) -> bool {
        self.cpis
            .iter()
            .filter_map(|c| c.definition.as_ref())
            .any(|d| d.params.iter().any(|p| p.name == name))
    }

    fn check_param(&self, name: &str, value: &str) -> Result<()> {
        let users: Vec<&CpiDefinition> = self
            .cpis
            .iter()
            .filter_map(|c| c.definition.as_ref())
            .filter(|d| d.params.iter().any(|p| p.name == name))
            .collect();
        if users.is_empty() {
            let mut known: Vec<&str> = self
                .cpis
                .iter()
                .filter_map(|c| c.definition.as_ref())
                .flat_map(|d| d.params.iter().map(|p| p.name.as_str()))
                .collect();
            known.sort();
            known.dedup();
            return Err(CpiqError::Usage(format!(
                "unknown parameter \"{name}\" (no CPI declares it; known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let overrides = HashMap::from([(name.to_string(), value.to_string())]);
        for def in users {
            def.render(&overrides).map_err(|e| match e {
                CpiqError::Definition { message, .. } => CpiqError::Usage(message),
                e => e,
            })?;
        }
        Ok(())
    }

    /// (Re-)declare every parsed CPI as a view ([`views`]: planned when a
    /// statement first names it, with the current parameter values), and
    /// record the problems of the catalog: a CPI with a table's name, a
    /// cycle of CPIs reading each other.
    fn declare_cpis(&mut self) {
        let table_names: HashSet<String> = self
            .workspace
            .all_tables()
            .map(|t| t.name.clone())
            .collect();
        let parsed: Vec<Option<CpiDefinition>> =
            self.cpis.iter().map(|c| c.definition.clone()).collect();
        let slots: Vec<Option<&CpiDefinition>> = parsed.iter().map(Option::as_ref).collect();
        let graph = catalog::Graph::new(&slots);
        let mut declared = Vec::new();
        for (idx, def) in parsed.iter().enumerate() {
            // Files that did not parse keep their parse error.
            let Some(def) = def else {
                continue;
            };
            let problem = if table_names.contains(&def.name) {
                Some(CpiqError::definition(
                    &def.path,
                    def.line_of("cpi"),
                    format!(
                        "CPI \"{}\" has the name of a table of the workspace",
                        def.name
                    ),
                ))
            } else {
                graph.cycle_of(idx).map(|cycle| {
                    CpiqError::definition(
                        &def.path,
                        def.body_line,
                        format!("recursive CPI definition: {}", cycle.join(" -> ")),
                    )
                })
            };
            if problem.is_none() {
                declared.push(def.clone());
            }
            self.cpis[idx].problem = problem.map(Arc::new);
        }
        self.views.declare(declared, &self.params);
        let (definitions, calendar) = (self.definitions(), self.calendar());
        for extension in &self.extensions {
            extension.register(&self.ctx, &definitions, &calendar);
        }
    }

    /// The body of CPI `def` with this session's parameter values in place.
    pub fn rendered(&self, def: &CpiDefinition) -> Result<String> {
        def.render(&self.params)
    }

    /// Plan one SQL statement. DDL (`CREATE VIEW …`) takes effect here.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(self.ctx.sql(sql).await?)
    }

    /// Plan one SQL statement without running any of it, for a read-only
    /// session: the logical plan, and what in it would write (DDL, DML,
    /// COPY, a statement other than SET/RESET of a session option) —
    /// found on the plan, so `EXPLAIN ANALYZE` and any nesting are seen
    /// through. Run an accepted plan with [`Engine::execute`].
    pub async fn plan_read_only(&self, sql: &str) -> Result<(LogicalPlan, Option<&'static str>)> {
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        let writes = writes(&plan);
        Ok((plan, writes))
    }

    /// Run a plan from [`Engine::plan_read_only`].
    pub async fn execute(&self, plan: LogicalPlan) -> Result<DataFrame> {
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }
}

/// What in `plan` writes, named as the user wrote it (`COPY`, `INSERT`,
/// `CREATE`, …), or `None`. DataFusion's `SQLOptions::verify_plan` (no DDL,
/// no DML, COPY counted as DML) is the authority; statements other than
/// SET and RESET of session options are refused too.
pub fn writes(plan: &LogicalPlan) -> Option<&'static str> {
    use datafusion::common::tree_node::{TreeNodeRecursion, TreeNodeVisitor};
    use datafusion::logical_expr::{DdlStatement, Statement, WriteOp};
    struct Find(Option<&'static str>);
    impl<'n> TreeNodeVisitor<'n> for Find {
        type Node = LogicalPlan;
        fn f_down(
            &mut self,
            node: &'n LogicalPlan,
        ) -> datafusion::error::Result<TreeNodeRecursion> {
            let kind = match node {
                LogicalPlan::Copy(_) => "COPY",
                LogicalPlan::Dml(d) => match d.op {
                    WriteOp::Insert(_) => "INSERT",
                    WriteOp::Delete => "DELETE",
                    WriteOp::Update => "UPDATE",
                    WriteOp::Ctas => "CREATE",
                    WriteOp::Truncate => "TRUNCATE",
                    _ => "MERGE",
                },
                LogicalPlan::Ddl(DdlStatement::CreateExternalTable(_)) => "CREATE EXTERNAL TABLE",
                LogicalPlan::Ddl(d) if d.name().starts_with("Drop") => "DROP",
                LogicalPlan::Ddl(_) => "CREATE",
                LogicalPlan::Statement(Statement::SetVariable(_) | Statement::ResetVariable(_)) => {
                    return Ok(TreeNodeRecursion::Continue);
                }
                LogicalPlan::Statement(_) => "this statement",
                _ => return Ok(TreeNodeRecursion::Continue),
            };
            self.0 = Some(kind);
            Ok(TreeNodeRecursion::Stop)
        }
    }
    let mut find = Find(None);
    let _ = plan.visit_with_subqueries(&mut find);
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(true);
    match (find.0, options.verify_plan(plan)) {
        (Some(kind), _) => Some(kind),
        (None, Err(_)) => Some("this statement"),
        (None, Ok(())) => None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
