//! The client side: a session whose queries run on a Ballista cluster.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion_proto::protobuf::LogicalPlanNode;

use crate::foundation::error::{Result, cluster_error};
use crate::workspace::ClusterUrl;

/// How long to wait for the scheduler's port before calling it unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Fail with a clear message when nothing listens at the scheduler's address.
pub(super) async fn check_reachable(url: &ClusterUrl) -> Result<()> {
    let connect = tokio::net::TcpStream::connect((url.host.as_str(), url.port));
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(cluster_error(
            url,
            format!("cannot reach the scheduler ({e}); is `cpiq cluster scheduler` running there?"),
        )),
        Err(_) => Err(cluster_error(
            url,
            format!(
                "cannot reach the scheduler (no answer in {} s)",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// `state` with Ballista's configuration and optimizer rules, and a query
/// planner that sends plans to the scheduler at `url`.
pub(super) fn attach(state: SessionState, url: &ClusterUrl) -> Result<SessionState> {
    let config = state.config().clone().upgrade_for_ballista();
    let remote = BallistaQueryPlanner::<LogicalPlanNode>::with_extension(
        url.endpoint(),
        config.ballista_config(),
        config.ballista_logical_extension_codec(),
    );
    let planner = ClusterPlanner {
        remote,
        local: DefaultPhysicalPlanner::default(),
    };
    let config = config.with_ballista_query_planner(Arc::new(planner));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    Ok(state.upgrade_for_ballista(url.endpoint())?)
}

/// Sends plans to the cluster, except plans reading `cpi_slice(…)`: its
/// slices have already run (on the cluster) when the plan is made, and what
/// is left is a small query over their cells, which the scheduler could not
/// receive (the cells live in this process).
struct ClusterPlanner {
    remote: BallistaQueryPlanner<LogicalPlanNode>,
    local: DefaultPhysicalPlanner,
}

impl std::fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPlanner")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        if reads_client_side_tables(plan)? {
            self.local.create_physical_plan(plan, session).await
        } else {
            self.remote.create_physical_plan(plan, session).await
        }
    }
}

/// True when `plan` (subqueries included) scans a table that only exists in
/// this process: a [`TableType::Temporary`] one, such as `cpi_slice(…)`'s.
fn reads_client_side_tables(plan: &LogicalPlan) -> datafusion::common::Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && provider.table_type() == TableType::Temporary
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}
