//! Slicing CPIs: by dimensions and period, against targets, period over
//! period, with gaps filled and Wilson intervals; and why a CPI moved.
//!
//! One core serves `cpiq slice`, the shell's `\slice`, job scripts and SQL
//! (the `cpi_slice` table function): a [`SliceRequest`] is validated against
//! the CPI definitions ([`SliceRequest::validate`]), compiled to one
//! aggregate query per CPI over its view, and the small aggregated result is
//! finished here ([`run`]): values, status, intervals, comparisons and filled
//! periods are computed in one place so that every front end gets the same
//! numbers. Rendering is presentation's job
//! ([`crate::present::output::display_batch`]).

mod contract; // the result's column names and status values
mod execute; // streaming each CPI's aggregate into cells, under the memory pool
mod explain; // explain-change: which dimension values moved a CPI
mod predicate; // `--where`: parsed, checked to name only dimensions
mod request; // what a slice asks for, and its validation
mod rows; // values, intervals, status, comparisons: the result batch
mod sql; // the aggregate SQL of each CPI, over its view or its rollup
mod udtf; // `cpi_slice(…)` in SQL

pub use contract::{Status, col};
pub use execute::{SliceRun, run, run_with_sql, start};
pub use predicate::predicate_columns;
pub(crate) use request::lookup;
pub use request::{Compare, SliceRequest, split_list};
pub use rows::{result_schema, wilson};
pub use sql::{
    ROLLUP_PERIOD, RollupSource, binary_by_definition, rollup_sql, statements, time_type,
};

pub use explain::{ExplainRequest, explain_change};
pub use udtf::CpiSliceFunction;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpi::CpiDefinition;
    use datafusion::prelude::SessionContext;

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10: p = 0.8, z = 1.96: center 0.7094, half 0.2134 (textbook values).
        let (lo, hi) = wilson(8.0, 10.0).unwrap();
        assert!((lo - 0.4902).abs() < 1e-4, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-4, "{hi}");
        let (lo, hi) = wilson(0.0, 5.0).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.4345).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0.0, 0.0), None);
    }

    #[tokio::test]
    async fn proportions_are_recognised_from_the_definition() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE e (t TIMESTAMP, x INT) AS VALUES (NULL, 1)")
            .await
            .unwrap();
        for (body, binary) in [
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, 1 AS denominator",
                true,
            ),
            (
                "CASE WHEN x > 0 THEN 1 END AS numerator, CAST(1 AS DOUBLE) AS denominator",
                true,
            ),
            ("1 AS numerator, 1 AS denominator", true),
            (
                "CASE WHEN x > 0 THEN 2 ELSE 0 END AS numerator, 1 AS denominator",
                false,
            ),
            ("x AS numerator, 1 AS denominator", false),
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, 2 AS denominator",
                false,
            ),
            (
                "CASE WHEN x > 0 THEN 1 ELSE 0 END AS numerator, x AS denominator",
                false,
            ),
        ] {
            let df = ctx.sql(&format!("SELECT t, {body} FROM e")).await.unwrap();
            let _ = ctx.deregister_table("v");
            ctx.register_table("v", df.into_view()).unwrap();
            let def = CpiDefinition::parse(
                std::path::Path::new("v.sql"),
                "-- cpi: v\n-- label: V\n-- unit: percent\n-- direction: higher_is_better\n-- time: t\nSELECT 1",
            )
            .unwrap();
            assert_eq!(binary_by_definition(&ctx, &def).await, binary, "{body}");
        }
    }
}
