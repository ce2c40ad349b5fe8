//! The session's one schema (`cpiq.public`): the workspace's tables, each
//! opened the first time something names it, and its CPI views, each
//! planned the first time something names it.
//!
//! Opening a workspace declares its tables without listing their files or
//! reading a schema: a statement opens the tables it reads (through the
//! engine's [`Opener`]) and keeps each one, or why it does not open, for the
//! rest of the session; a one-shot query on one table of nine does the
//! work of one. [`CpiSchema::opened`] on every table is how the engine
//! learns their problems for `check`.
//!
//! A name that is none of these but a file or URL (`FROM 'x.parquet'`) is
//! read as that file, as `SessionContext::enable_url_table` would; that
//! wrapper is not used because it asks for each table's kind by opening it
//! (`SHOW TABLES` would open every table and plan every view).
//!
//! Opening a workspace declares every CPI without planning its body. The
//! first statement that resolves a CPI's name — a query, a slice, another
//! CPI's body, `information_schema`, `ctx.table` — renders the body with
//! the session's parameters, plans it, checks its columns against the
//! header ([`super::register::check_cpi_schema`]) and keeps the view (or
//! the problem) for the rest of the session. A one-shot command so plans
//! the CPIs it reads and nothing else; [`CpiSchema::planned`] on every CPI
//! is how the engine learns all their problems for a listing.
//!
//! Owns: the schema provider, the declared tables and CPIs, the opened
//! tables and planned views.
//! Must not: decide which tables and CPIs are declared or how a table is
//! opened (the engine does: parse errors, name clashes and cycles are its),
//! nor know about the analyses.
//! Recursion between CPIs cannot deadlock a planning: the engine declares
//! no CPI that is on a cycle ([`crate::model::cpi::catalog::Graph`] reads
//! every relation a body names, a superset of what the planner resolves).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider, UrlTableFactory};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::datasource::dynamic_file::DynamicListTableFactory;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use datafusion_session::SessionStore;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::register::check_cpi_schema;
use crate::foundation::error::{CpiqError, Result};
use crate::model::cpi::CpiDefinition;

/// A view's planning outcome, shared by every statement that names it.
type Planned = std::result::Result<Arc<dyn TableProvider>, Arc<CpiqError>>;

/// How a view gets a snapshot of the session to plan in (a weak handle, so
/// the schema, which the session holds, does not hold the session).
type StateSource = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// A workspace table's opening outcome, shared by every statement that
/// names it: the table or why there is none, and a problem that leaves it
/// usable (a KPI table without a declared column).
#[derive(Clone)]
pub(super) struct Opened {
    pub(super) table: std::result::Result<Arc<dyn TableProvider>, Arc<CpiqError>>,
    pub(super) problem: Option<Arc<CpiqError>>,
}

impl Opened {
    /// What is wrong with the table, if anything.
    pub(super) fn problem(&self) -> Option<Arc<CpiqError>> {
        self.table.as_ref().err().or(self.problem.as_ref()).cloned()
    }
}

/// How a declared table is opened, in a snapshot of the session.
pub(super) type Opener = Box<dyn Fn(SessionState) -> BoxFuture<'static, Opened> + Send + Sync>;

/// The tables of the workspace and its CPI views.
pub(super) struct CpiSchema {
    /// Tables registered in the session (DDL, rollups, the analyses).
    tables: MemorySchemaProvider,
    /// The workspace's tables, opened when named.
    declared: RwLock<HashMap<String, Arc<LazyTable>>>,
    views: RwLock<HashMap<String, Arc<LazyView>>>,
    state: OnceLock<StateSource>,
    /// Reads a name that is a file or URL as that file.
    urls: DynamicListTableFactory,
}

/// A declared table: how it opens and, once opened, the outcome.
struct LazyTable {
    open: Opener,
    opened: OnceCell<Opened>,
}

/// A declared CPI: its definition and parameter values, and once planned,
/// its view or why it has none.
struct LazyView {
    def: CpiDefinition,
    params: Arc<HashMap<String, String>>,
    planned: OnceCell<Planned>,
}

impl std::fmt::Debug for CpiSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpiSchema")
            .field("tables", &self.tables.table_names())
            .field("views", &self.view_names())
            .finish()
    }
}

impl CpiSchema {
    /// A schema that plans its views in `ctx`, installed as `ctx`'s default
    /// schema (call it when the session is complete, before registering
    /// tables).
    pub(super) fn install(ctx: &SessionContext) -> Result<Arc<CpiSchema>> {
        let session = ctx.state_weak_ref();
        let urls = DynamicListTableFactory::new(SessionStore::new());
        urls.session_store().with_state(session.clone());
        let state: StateSource = Box::new(move || session.upgrade().map(|s| s.read().clone()));
        let schema = Arc::new(CpiSchema {
            tables: MemorySchemaProvider::new(),
            declared: RwLock::default(),
            views: RwLock::default(),
            state: OnceLock::from(state),
            urls,
        });
        let names = ctx.copied_config().options().catalog.clone();
        ctx.catalog(&names.default_catalog)
            .ok_or_else(|| {
                CpiqError::Usage(format!(
                    "the session has no catalog \"{}\"",
                    names.default_catalog
                ))
            })?
            .register_schema(&names.default_schema, Arc::clone(&schema) as _)?;
        Ok(schema)
    }

    /// Declare the workspace's tables, each opened by its [`Opener`] when a
    /// statement first names it.
    pub(super) fn declare_tables(&self, tables: Vec<(String, Opener)>) {
        let mut declared = self.declared.write().unwrap_or_else(|e| e.into_inner());
        for (name, open) in tables {
            let table = LazyTable {
                open,
                opened: OnceCell::new(),
            };
            declared.insert(name, Arc::new(table));
        }
    }

    /// Declared table `name`, opened now if it was not yet; `None` when no
    /// such table is declared.
    pub(super) async fn opened(&self, name: &str) -> Option<Opened> {
        let table = self.declared_table(name)?;
        let opened = table.opened.get_or_init(|| async {
            match self.state.get().and_then(|s| s()) {
                Some(state) => (table.open)(state).await,
                None => Opened {
                    table: Err(Arc::new(CpiqError::Usage(
                        "the session is closed".to_string(),
                    ))),
                    problem: None,
                },
            }
        });
        Some(opened.await.clone())
    }

    fn declared_table(&self, name: &str) -> Option<Arc<LazyTable>> {
        let declared = self.declared.read().unwrap_or_else(|e| e.into_inner());
        declared.get(name).cloned()
    }

    fn declared_names(&self) -> Vec<String> {
        let declared = self.declared.read().unwrap_or_else(|e| e.into_inner());
        declared.keys().cloned().collect()
    }

    /// Declare `defs` as the CPI views, with parameter values `params`,
    /// replacing every earlier declaration (and what was planned of it).
    pub(super) fn declare(&self, defs: Vec<CpiDefinition>, params: &HashMap<String, String>) {
        let params = Arc::new(params.clone());
        let views = defs
            .into_iter()
            .map(|def| {
                let view = LazyView {
                    def,
                    params: Arc::clone(&params),
                    planned: OnceCell::new(),
                };
                (view.def.name.clone(), Arc::new(view))
            })
            .collect();
        *self.views.write().unwrap_or_else(|e| e.into_inner()) = views;
    }

    /// CPI `name`'s view, planned now if it was not yet; `None` when no such
    /// CPI is declared.
    pub(super) async fn planned(&self, name: &str) -> Option<Planned> {
        let view = self.view(name)?;
        let planned = view.planned.get_or_init(|| async {
            // A snapshot of the session only when there is something to plan.
            let state = self.state.get().and_then(|s| s());
            view.plan(state).await
        });
        Some(planned.await.clone())
    }

    fn view(&self, name: &str) -> Option<Arc<LazyView>> {
        let views = self.views.read().unwrap_or_else(|e| e.into_inner());
        views.get(name).cloned()
    }

    fn view_names(&self) -> Vec<String> {
        let views = self.views.read().unwrap_or_else(|e| e.into_inner());
        views.keys().cloned().collect()
    }
}

impl LazyView {
    /// Render, plan and check the body. `state` is `None` only when the
    /// session is gone (nothing can run then).
    async fn plan(&self, state: Option<SessionState>) -> Planned {
        let def = &self.def;
        let at_body = |msg: String| CpiqError::definition(&def.path, def.body_line, msg);
        let state = state.ok_or_else(|| Arc::new(at_body("the session is closed".to_string())))?;
        let planned: Result<Arc<dyn TableProvider>> = async {
            let sql = def.render(&self.params)?;
            let plan = state.create_logical_plan(&sql).await.map_err(|e| {
                at_body(format!(
                    "the body does not plan: {}",
                    super::one_line(&e.to_string())
                ))
            })?;
            let df = DataFrame::new(state, plan);
            check_cpi_schema(def, &df)?;
            Ok(df.into_view())
        }
        .await;
        planned.map_err(Arc::new)
    }
}

#[async_trait]
impl SchemaProvider for CpiSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.tables.table_names();
        names.extend(self.declared_names());
        names.extend(self.view_names());
        names
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.tables.table(name).await? {
            return Ok(Some(table));
        }
        if let Some(opened) = self.opened(name).await {
            return match opened.table {
                Ok(table) => Ok(Some(table)),
                Err(problem) => Err(DataFusionError::External(Box::new(problem))),
            };
        }
        match self.planned(name).await {
            None => self.urls.try_new(name).await,
            Some(Ok(view)) => Ok(Some(view)),
            // The definition's own error (file:line: what is wrong), shown
            // as is by `CpiqError`'s display of DataFusion errors.
            Some(Err(problem)) => Err(DataFusionError::External(Box::new(problem))),
        }
    }

    async fn table_type(&self, name: &str) -> datafusion::error::Result<Option<TableType>> {
        if self.view(name).is_some() {
            return Ok(Some(TableType::View));
        }
        if self.declared_table(name).is_some() {
            return Ok(Some(TableType::Base));
        }
        self.tables.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        if self.view(&name).is_some() {
            return Err(DataFusionError::Execution(format!(
                "The table {name} already exists (it is a CPI)"
            )));
        }
        if self.declared_table(&name).is_some() {
            return Err(DataFusionError::Execution(format!(
                "The table {name} already exists (a table of the workspace)"
            )));
        }
        self.tables.register_table(name, table)
    }

    fn deregister_table(
        &self,
        name: &str,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let removed = {
            let mut views = self.views.write().unwrap_or_else(|e| e.into_inner());
            views.remove(name)
        };
        match removed {
            // `DROP VIEW cpi` in a writable session: gone until the views
            // are declared again (a parameter change, `\reload`).
            Some(view) => Ok(Some(match view.planned.get() {
                Some(Ok(planned)) => Arc::clone(planned),
                _ => empty_table(),
            })),
            None => {
                let removed = {
                    let mut declared = self.declared.write().unwrap_or_else(|e| e.into_inner());
                    declared.remove(name)
                };
                match removed {
                    // `DROP TABLE` of a workspace table: gone for the session.
                    Some(table) => Ok(Some(match table.opened.get() {
                        Some(Opened { table: Ok(t), .. }) => Arc::clone(t),
                        _ => empty_table(),
                    })),
                    None => self.tables.deregister_table(name),
                }
            }
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.view(name).is_some()
            || self.declared_table(name).is_some()
            || self.tables.table_exist(name)
    }
}

/// What a dropped table or view that never opened is returned as.
fn empty_table() -> Arc<dyn TableProvider> {
    Arc::new(datafusion::datasource::empty::EmptyTable::new(Arc::new(
        datafusion::arrow::datatypes::Schema::empty(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn def(name: &str, body: &str) -> CpiDefinition {
        let text = format!(
            "-- cpi: {name}\n-- label: x\n-- unit: ratio\n-- direction: higher_is_better\n-- time: t\n{body}\n"
        );
        CpiDefinition::parse(Path::new(&format!("{name}.sql")), &text).unwrap()
    }

    /// A session whose default schema is a `CpiSchema` with `defs` declared.
    fn session(defs: Vec<CpiDefinition>) -> (SessionContext, Arc<CpiSchema>) {
        let ctx = SessionContext::new();
        let schema = CpiSchema::install(&ctx).unwrap();
        schema.declare(defs, &HashMap::new());
        (ctx, schema)
    }

    const BASE: &str = "SELECT DATE '2024-01-01' AS t, 1.0 AS numerator, 2.0 AS denominator";

    #[tokio::test]
    async fn a_view_is_planned_when_first_named_and_reads_views_declared_after_it() {
        let (ctx, schema) = session(vec![
            def(
                "derived",
                "SELECT t, numerator * 3 AS numerator, denominator FROM base",
            ),
            def("base", BASE),
            def("broken", "SELECT t, numerator, denominator FROM nowhere"),
        ]);
        let planned = |name: &str| schema.view(name).unwrap().planned.initialized();
        // Naming a view's kind or existence plans nothing.
        assert!(schema.table_exist("broken"));
        assert_eq!(
            schema.table_type("derived").await.unwrap(),
            Some(TableType::View)
        );
        assert!(!planned("derived") && !planned("base") && !planned("broken"));

        let batches = ctx
            .sql("SELECT numerator FROM derived")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let value = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Float64Array>()
            .unwrap()
            .value(0);
        assert_eq!(value, 3.0);
        // `derived` planned `base` on the way; `broken` is still untouched.
        assert!(planned("derived") && planned("base") && !planned("broken"));

        // A broken body is the statement's error, as its definition says it.
        let err = ctx.sql("SELECT * FROM broken").await.unwrap_err();
        let shown = CpiqError::from(err).to_string();
        assert!(
            shown.starts_with("broken.sql:6: the body does not plan:"),
            "{shown}"
        );
        assert!(matches!(schema.planned("broken").await, Some(Err(_))));
        assert!(schema.planned("absent").await.is_none());
    }

    #[tokio::test]
    async fn declaring_again_forgets_what_was_planned() {
        let (ctx, schema) = session(vec![def("base", BASE)]);
        ctx.sql("SELECT * FROM base").await.unwrap();
        assert!(schema.view("base").unwrap().planned.initialized());
        schema.declare(vec![def("base", BASE)], &HashMap::new());
        assert!(!schema.view("base").unwrap().planned.initialized());
        // A CPI's name cannot be taken by a table; dropping the view works.
        let err = ctx.sql("CREATE VIEW base AS SELECT 1").await;
        assert!(err.is_err());
        assert!(schema.deregister_table("base").unwrap().is_some());
        assert!(!schema.table_exist("base"));
    }
}
