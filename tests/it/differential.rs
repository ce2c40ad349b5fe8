//! Differential testing against DuckDB and scipy (issue 23, part 3): a
//! seeded generator of slice requests (every shape a user can ask for) and
//! correlation requests runs each through this binary and compares every
//! cell with DuckDB computing the same formulas from the base tables, and
//! every statistic with scipy — `tests/reference/differential.py`.
//!
//! DuckDB and scipy come from PyPI: `.ci/run` installs them into a virtual
//! environment and points `CPIQ_REFERENCE_PYTHON` at its python (with
//! `CPIQ_REQUIRE_REFERENCE=1`, so CI cannot skip this). Elsewhere the tests
//! are skipped with a note. `CPIQ_DIFFERENTIAL_REQUESTS` and
//! `CPIQ_DIFFERENTIAL_SEED` change the run (500 requests, seed 1).

use std::path::PathBuf;
use std::process::Command;

use crate::support::{Run, bin, reference_python, repo};

fn differential(python: &PathBuf, args: &[&str]) -> Run {
    Command::new(python)
        .arg(repo().join("tests/reference/differential.py"))
        .arg("--cpiq")
        .arg(bin())
        .args(args)
        .output()
        .expect("run tests/reference/differential.py")
        .into()
}

/// The figure after `what` in the summary line (`… 12 cells compared …`).
fn figure_before(summary: &str, what: &str) -> u64 {
    let at = summary
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {summary}"));
    summary[..at]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no figure before {what:?} in {summary}"))
}

#[test]
fn every_slice_shape_and_correlation_agrees_with_duckdb_and_scipy() {
    let Some(python) = reference_python() else {
        return;
    };
    let requests = std::env::var("CPIQ_DIFFERENTIAL_REQUESTS").unwrap_or_else(|_| "500".into());
    let seed = std::env::var("CPIQ_DIFFERENTIAL_SEED").unwrap_or_else(|_| "1".into());
    let run = differential(&python, &["--requests", &requests, "--seed", &seed]);
    let summary = run.stdout.lines().last().unwrap_or_default().to_string();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(summary.ends_with(": 0 differences"), "{summary}");
    // The run compared what it says: every request, thousands of cells, and
    // the correlations.
    let asked: u64 = requests.parse().unwrap();
    assert_eq!(
        figure_before(&summary, "slice requests"),
        asked,
        "{summary}"
    );
    assert!(
        figure_before(&summary, "cells compared") > 20 * asked,
        "{summary}"
    );
    assert_eq!(
        figure_before(&summary, "correlation requests"),
        asked / 10,
        "{summary}"
    );
    // Every feature of the generator was drawn: `requests with: per day 32, …`.
    let line = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("requests with: "))
        .unwrap_or_default();
    let drawn: std::collections::HashMap<&str, u64> = line
        .split(", ")
        .filter_map(|f| {
            let (name, n) = f.rsplit_once(' ')?;
            Some((name, n.parse().ok()?))
        })
        .collect();
    for f in [
        "per day",
        "per week",
        "per month",
        "per quarter",
        "per year",
        "per all",
        "3 dims",
        "where",
        "from",
        "to",
        "compare previous",
        "compare year",
        "fill",
        "params",
        "correlate pearson",
        "correlate spearman",
        "correlate both",
        "correlate per week",
        "correlate per quarter",
        "correlate by",
        "correlate difference",
        "correlate per-entity",
        "correlate from",
        "correlate to",
        "correlate min",
        "correlate max",
        "correlate median",
    ] {
        assert!(
            drawn.get(f).is_some_and(|n| *n > 0),
            "no request with {f}: {line}"
        );
    }
}

#[test]
fn a_wrong_definition_is_found_by_the_differential_run() {
    // cpiq's comcast_resolved counts only 'Closed' tickets, the reference
    // 'Closed' and 'Solved': the harness must report differences and fail.
    let Some(python) = reference_python() else {
        return;
    };
    let run = differential(
        &python,
        &[
            "--requests",
            "12",
            "--datasets",
            "comcast",
            "--plant-fault",
            "--seed",
            "3",
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("slice differs: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("slice comcast_resolved"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-- DuckDB:\nWITH ev AS"),
        "{}",
        run.stdout
    );
    let summary = run.stdout.lines().last().unwrap_or_default();
    assert!(figure_before(summary, "differences") > 0, "{summary}");
}
