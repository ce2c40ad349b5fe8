//! `\d` and `\summarize` (issue 21, item 6) against DuckDB: rows, files,
//! sizes and time ranges of the bundled sample's tables, and every figure
//! of `SUMMARIZE` per column — DuckDB's own for the exact ones, DuckDB's
//! exact distinct counts and the order statistics around each quartile
//! for cpiq's estimates. The reference is `tests/reference/summarize.py`, run with
//! `CPIQ_REFERENCE_PYTHON` (skipped with a note when unset, as in CI it is
//! not).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{cpiq_in, cpiq_stdin, reference_python, repo};

/// The sample's tables and where DuckDB reads them.
const TABLES: [(&str, &str); 6] = [
    ("customers", "data-samples/customers.parquet"),
    ("kpi_monthly", "data-samples/kpi_monthly.parquet"),
    ("orders", "data-samples/orders/*.parquet"),
    ("quote_requests", "data-samples/quote_requests/*.parquet"),
    ("returns", "data-samples/returns/*.parquet"),
    ("support_cases", "data-samples/support_cases/*.parquet"),
];

/// The time column each table is counted by: the CPIs' `time` (the
/// `-- time:` lines of queries/cpis) and the KPI table's `time`.
const TIME_COLUMNS: [(&str, &str); 5] = [
    ("kpi_monthly", "month"),
    ("orders", "promised_at"),
    ("quote_requests", "requested_at"),
    ("returns", "requested_at"),
    ("support_cases", "opened_at"),
];

fn duckdb(python: &Path) -> Value {
    let repo = repo();
    let out = Command::new(python)
        .current_dir(&repo)
        .arg(repo.join("tests/reference/summarize.py"))
        .args(TABLES.iter().map(|(n, g)| format!("{n}={g}")))
        .args(TIME_COLUMNS.iter().map(|(t, c)| format!("{t}.{c}")))
        .output()
        .expect("run tests/reference/summarize.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows cpiq printed as ndjson.
fn ndjson(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Bytes as cpiq's listings write them (binary units, one decimal).
fn human(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The Parquet files behind a table and their total size, from the file system.
fn files_on_disk(glob: &str) -> (u64, u64) {
    let path = repo().join(glob.trim_end_matches("/*.parquet"));
    if path.is_file() {
        return (1, path.metadata().unwrap().len());
    }
    let sizes: Vec<u64> = std::fs::read_dir(&path)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    (sizes.len() as u64, sizes.iter().sum())
}

#[test]
fn describe_lists_rows_files_size_and_time_ranges_as_duckdb_counts_them() {
    let Some(python) = reference_python() else {
        return;
    };
    let reference = duckdb(&python);
    let run = cpiq_stdin(&repo(), &["--format", "ndjson"], "\\d\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed: BTreeMap<String, Value> = ndjson(&run.stdout)
        .into_iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r))
        .collect();
    for (name, glob) in TABLES {
        let row = &listed[name];
        let duck = &reference[name];
        assert_eq!(row["rows"], duck["rows"], "{name}: {row}");
        let (files, bytes) = files_on_disk(glob);
        assert_eq!(row["files"], files, "{name}: {row}");
        assert_eq!(row["size"], human(bytes), "{name}: {row}");
        let want = TIME_COLUMNS.iter().find(|(t, _)| *t == name).map(|(_, c)| {
            let r = &duck["ranges"][c];
            format!(
                "{c} {} … {}",
                r[0].as_str().unwrap(),
                r[1].as_str().unwrap()
            )
        });
        assert_eq!(row["time_range"].as_str(), want.as_deref(), "{name}: {row}");
    }
    // A CPI covers its time column's range in the table it reads.
    let orders = &reference["orders"]["ranges"]["promised_at"];
    assert_eq!(
        listed["on_time_delivery"]["time_range"],
        format!(
            "promised_at {} … {}",
            orders[0].as_str().unwrap(),
            orders[1].as_str().unwrap()
        )
    );
    assert_eq!(listed["on_time_delivery"]["kind"], "cpi");
    assert_eq!(listed["on_time_delivery"]["rows"], Value::Null);
}

/// A SUMMARIZE figure as a number: plain, or a date/timestamp as seconds.
fn number(v: &Value) -> Option<f64> {
    let s = v.as_str()?;
    if let Ok(x) = s.parse::<f64>() {
        return Some(x);
    }
    let s = s.replace('T', " ");
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_micros() as f64 / 1e6);
    }
    chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() as f64)
}

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

#[test]
fn summarize_agrees_with_duckdb_on_the_bundled_sample() {
    let Some(python) = reference_python() else {
        return;
    };
    let reference = duckdb(&python);
    let script: String = TABLES
        .iter()
        .map(|(n, _)| format!("\\summarize {n}\n"))
        .collect();
    let run = cpiq_stdin(&repo(), &["--format", "ndjson"], &script);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut rows = ndjson(&run.stdout).into_iter();
    let mut compared = 0;
    for (name, _) in TABLES {
        let duck = reference[name]["summary"].as_array().unwrap();
        for d in duck {
            let c = rows
                .next()
                .unwrap_or_else(|| panic!("{name}: too few rows"));
            let col = d["column_name"].as_str().unwrap();
            let at = format!("{name}.{col}: cpiq {c}\nduckdb {d}");
            assert_eq!(c["column_name"], col, "{at}");
            // Exact figures: DuckDB's own.
            assert_eq!(c["count"].to_string(), d["count"].as_str().unwrap(), "{at}");
            let pct: f64 = d["null_percentage"].as_str().unwrap().parse().unwrap();
            assert_eq!(c["null_percentage"].as_f64(), Some(pct), "{at}");
            for f in ["min", "max"] {
                match (number(&c[f]), number(&d[f])) {
                    (Some(x), Some(y)) => assert!(close(x, y, 1e-9 * y.abs().max(1.0)), "{f} {at}"),
                    _ => assert_eq!(c[f], d[f], "{f} {at}"),
                }
            }
            let temporal = ["DATE", "TIMESTAMP"].contains(&d["column_type"].as_str().unwrap());
            // Means: to the microsecond for instants (DuckDB's average of
            // dates is an instant, cpiq's the nearest day).
            let avg_tolerance = |y: f64| match d["column_type"].as_str().unwrap() {
                "DATE" => 43_200.0,
                "TIMESTAMP" => 1e-6,
                _ => 1e-9 * y.abs().max(1.0),
            };
            match (number(&c["avg"]), number(&d["avg"])) {
                (Some(x), Some(y)) => assert!(close(x, y, avg_tolerance(y)), "avg {at}"),
                (x, y) => assert_eq!(x, y, "avg {at}"),
            }
            match (number(&c["std"]), number(&d["std"])) {
                (Some(x), Some(y)) => assert!(close(x, y, 1e-9 * y.abs()), "std {at}"),
                (x, y) => assert_eq!(x, y, "std {at}"),
            }
            // Estimates: against the exact values, within what a
            // HyperLogLog sketch and a t-digest promise.
            let exact = d["exact_distinct"].as_f64().unwrap();
            let got = c["approx_unique"].as_f64().unwrap();
            assert!(
                close(got, exact, (0.03 * exact).max(1.0)),
                "approx_unique {at}"
            );
            if let Some(q) = d["exact_q"].as_array() {
                let (lo, hi) = (number(&d["min"]).unwrap(), number(&d["max"]).unwrap());
                // A t-digest's quartile lies between the order statistics
                // either side of the rank, give or take 1 % of the range
                // (and a day where cpiq shows a date).
                let slack = if d["column_type"] == "DATE" {
                    86_400.0
                } else {
                    0.01 * (hi - lo)
                };
                for (i, f) in ["q25", "q50", "q75"].iter().enumerate() {
                    let want = number(&q[i]).unwrap();
                    let got = number(&c[*f]).unwrap_or_else(|| panic!("{f} {at}"));
                    let side = &d["bracket_q"][i];
                    let (below, above) = (number(&side[0]).unwrap(), number(&side[1]).unwrap());
                    assert!(
                        below - slack <= got && got <= above + slack,
                        "{f}: {got} outside [{below}, {above}] (exact {want}) {at}"
                    );
                }
            } else {
                assert_eq!(c["q50"], Value::Null, "{at}");
            }
            assert!(!temporal || c["std"].is_null(), "{at}");
            compared += 1;
        }
    }
    assert!(rows.next().is_none(), "more rows than DuckDB's");
    assert!(compared > 30, "{compared} columns compared");
}

#[test]
fn summarize_is_sql_too_and_takes_a_query() {
    let ws = repo();
    // In SQL, one-shot: the same figures as the command.
    let sql = cpiq_in(&ws, &["--format", "ndjson", "sql", "SUMMARIZE kpi_monthly"]);
    let cmd = cpiq_stdin(&ws, &["--format", "ndjson"], "\\summarize kpi_monthly\n");
    assert_eq!(sql.code, 0, "{}", sql.stderr);
    assert_eq!(ndjson(&sql.stdout), ndjson(&cmd.stdout));
    // A query: its result's columns, hand-worked (1, 2, 3, NULL).
    let q = cpiq_in(
        &ws,
        &[
            "--format",
            "ndjson",
            "sql",
            "SUMMARIZE SELECT * FROM (VALUES (1), (2), (3), (NULL)) AS t(x)",
        ],
    );
    assert_eq!(q.code, 0, "{}", q.stderr);
    let rows = ndjson(&q.stdout);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (&r["min"], &r["max"], &r["avg"], &r["std"]),
        (
            &Value::from("1"),
            &Value::from("3"),
            &Value::from("2"),
            &Value::from("1")
        )
    );
    assert_eq!(
        (&r["count"], &r["null_percentage"]),
        (&Value::from(4), &Value::from(25.0))
    );
    // Unknown names are named; a write is not a query to summarize.
    let bad = cpiq_in(&ws, &["sql", "SUMMARIZE nosuch"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("\"nosuch\""), "{}", bad.stderr);
    // SUMMARIZE reads; what is not a query is refused and writes nothing.
    let d = tempfile::tempdir().unwrap();
    let ws = ws.to_str().unwrap();
    for sql in [
        "SUMMARIZE (COPY (SELECT 1) TO 'x.parquet')",
        "SUMMARIZE WITH t AS (SELECT 1) INSERT INTO x SELECT * FROM t",
    ] {
        let r = cpiq_in(d.path(), &["-w", ws, "sql", sql]);
        assert_ne!(r.code, 0, "{sql}: {}", r.stdout);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "{sql}");
    }
}

#[test]
fn the_shell_runs_summarize_and_rich_listings_at_the_prompt() {
    // The shell parses SQL before it runs it: `SUMMARIZE` must get through.
    let d = tempfile::tempdir().unwrap();
    let ws = repo();
    let mut p = crate::shell::shell_args(
        d.path(),
        &d.path().join("history"),
        &["-w", ws.to_str().unwrap()],
        &[("COLUMNS", "200")],
    );
    let out = crate::support::pty_text(&crate::shell::run(&mut p, "SUMMARIZE kpi_monthly;"));
    assert!(out.contains("null_percentage"), "{out}");
    assert!(out.contains("churn_rate"), "{out}");
    assert!(!out.contains("error"), "{out}");
    let out = crate::support::pty_text(&crate::shell::run(&mut p, "\\d"));
    assert!(out.contains("time_range"), "{out}");
    assert!(out.contains("40658"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
