//! The cluster client: running a session's queries on an Apache DataFusion
//! Ballista scheduler, as an execution backend of the engine. The `df://`
//! address is the workspace's ([`crate::workspace::ClusterUrl`]); the
//! scheduler and executor processes are a front end ([`crate::front::cluster`]).
//!
//! A session attached to a cluster ([`attach`]) keeps everything that is
//! not a query in the client: the catalog (tables, CPI views, rollups), SQL
//! planning and optimisation, and the arithmetic cpiq does on query results
//! (slice cells' values, intervals and status; correlation statistics; chart
//! and report rendering; writing exports). Every query that reads a table —
//! a slice's aggregate, a correlation's CPI and KPI series, `\sql`, a job's
//! statement — is sent to the scheduler as a DataFusion logical plan and
//! runs on the executors; its result streams back to the client over Arrow
//! Flight. A query over `cpi_slice(…)` runs its slices on the cluster and
//! the small outer query over their cells in the client.
//!
//! Without the `distributed` cargo feature the address still parses (so
//! `cpiq.toml` loads everywhere) and attaching fails with a clear message.

#[cfg(feature = "distributed")]
mod client;

#[cfg(not(feature = "distributed"))]
use std::fmt;

use datafusion::execution::context::SessionState;

use crate::foundation::error::Result;
#[cfg(not(feature = "distributed"))]
use crate::foundation::error::{CpiqError, cluster_error};
use crate::workspace::ClusterUrl;

/// Put a session's queries on the cluster at `url`: planning stays in the
/// client, execution goes to the scheduler. Fails when the scheduler cannot
/// be reached (so a wrong address is named at once, not at the first query)
/// or when this cpiq was built without the `distributed` feature.
pub async fn attach(state: SessionState, url: &ClusterUrl) -> Result<SessionState> {
    #[cfg(feature = "distributed")]
    {
        client::check_reachable(url).await?;
        client::attach(state, url)
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = state;
        Err(not_built(url))
    }
}

/// The error for cluster use in a build without the `distributed` feature.
#[cfg(not(feature = "distributed"))]
pub fn not_built(url: impl fmt::Display) -> CpiqError {
    cluster_error(
        url,
        "this cpiq was built without the `distributed` feature \
         (build it with `cargo build --release --features distributed`)",
    )
}
