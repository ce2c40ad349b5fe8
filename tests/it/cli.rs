//! One-shot commands on the bundled sample and on a generated workspace
//! (issue 2): listing CPIs, SQL over CPI views, formats, exports, exit codes.

use crate::support::{cpiq_in, csv_rows, generated, repo, scalar};

#[test]
fn cpis_lists_the_shipped_library_on_the_bundled_sample() {
    let out = cpiq_in(&repo(), &["cpis", "--format", "csv"]).ok();
    let rows = csv_rows(&out);
    assert_eq!(
        rows[0][..6],
        ["name", "label", "unit", "direction", "target", "parameters"]
    );
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    for cpi in [
        "complete_delivery",
        "damage_free_delivery",
        "first_contact_resolution",
        "on_time_delivery",
        "quote_answered_within",
        "resolved_within_sla",
        "return_completed_within",
        "time_to_first_response",
    ] {
        assert!(names.contains(&cpi), "{cpi} missing from {names:?}");
    }
    assert!(out.contains("resolved_within_sla,Requests resolved within the SLA,percent,higher_is_better,0.85,sla_hours=24"), "{out}");
}

#[test]
fn a_cpi_view_is_queryable_on_the_bundled_sample() {
    let out = cpiq_in(
        &repo(),
        &[
            "sql",
            "SELECT * FROM on_time_delivery LIMIT 5",
            "--format",
            "csv",
        ],
    )
    .ok();
    let rows = csv_rows(&out);
    assert_eq!(
        rows[0],
        [
            "promised_at",
            "customer_id",
            "channel",
            "segment",
            "region",
            "numerator",
            "denominator"
        ]
    );
    assert_eq!(rows.len(), 6);
}

#[test]
fn the_bundled_sample_checks_clean() {
    let out = cpiq_in(&repo(), &["check"]).ok();
    assert!(out.contains("CPIs planned"), "{out}");
    assert!(!out.contains("error"), "{out}");
}

#[test]
fn cpi_values_match_plain_sql_over_the_base_tables() {
    // The CPI view against an independent aggregate written directly over the
    // generated base table, for one CPI of each table.
    let ws = generated().to_str().unwrap();
    let pairs = [
        (
            "on_time_delivery",
            "SELECT CAST(SUM(CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) FROM orders WHERE delivered_at IS NOT NULL AND status = 'delivered'",
        ),
        (
            "first_contact_resolution",
            "SELECT AVG(CASE WHEN contacts = 1 THEN 1.0 ELSE 0.0 END) FROM support_cases WHERE resolved_at IS NOT NULL",
        ),
        (
            "quote_answered_within",
            "SELECT AVG(CASE WHEN answered_at IS NOT NULL AND answered_at <= requested_at + INTERVAL '4 hours' THEN 1.0 ELSE 0.0 END) FROM quote_requests",
        ),
    ];
    for (cpi, plain) in pairs {
        let via_cpi =
            format!("SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) FROM {cpi}");
        let a: f64 = scalar(&cpiq_in(generated(), &["-w", ws, "sql", &via_cpi, "-f", "csv"]).ok())
            .parse()
            .unwrap();
        let b: f64 = scalar(&cpiq_in(generated(), &["-w", ws, "sql", plain, "-f", "csv"]).ok())
            .parse()
            .unwrap();
        assert!((a - b).abs() < 1e-12, "{cpi}: {a} vs {b}");
        assert!(a > 0.3 && a < 1.0, "{cpi}: implausible {a}");
    }
}

#[test]
fn formats_render_the_same_rows() {
    let dir = generated();
    let sql = "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment ORDER BY segment";
    let csv = cpiq_in(dir, &["sql", sql, "--format", "csv"]).ok();
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 4);
    let json = cpiq_in(dir, &["sql", sql, "--format", "json"]).ok();
    assert!(
        json.trim_start()
            .starts_with("[{\"segment\":\"consumer\",\"n\":"),
        "{json}"
    );
    let ndjson = cpiq_in(dir, &["sql", sql, "--format", "ndjson"]).ok();
    assert_eq!(ndjson.lines().count(), 3);
    let md = cpiq_in(dir, &["sql", sql, "--format", "markdown"]).ok();
    assert!(
        md.starts_with("| segment | n |\n|---|---:|\n| consumer | "),
        "{md}"
    );
    let table = cpiq_in(dir, &["sql", sql, "--format", "table"]).ok();
    assert!(
        table.contains("segment") && table.contains("(3 rows)"),
        "{table}"
    );
    for r in &rows[1..] {
        assert!(json.contains(&format!("\"n\":{}", r[1])), "{json}");
        assert!(table.contains(&r[1]), "{table}");
    }
}

#[test]
fn piped_output_defaults_to_csv() {
    let out = cpiq_in(generated(), &["sql", "SELECT 1 AS one"]).ok();
    assert_eq!(out, "one\n1\n");
}

#[test]
fn output_files_are_written_by_extension_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let ws = generated().to_str().unwrap();
    let file = dir.path().join("otd.parquet");
    let sql = "SELECT channel, CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS value FROM on_time_delivery GROUP BY channel ORDER BY channel";
    let r = cpiq_in(
        dir.path(),
        &["-w", ws, "sql", sql, "--output", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("wrote 3 rows to"), "{}", r.stderr);
    // Read the Parquet back through cpiq itself and compare with a direct run.
    let back = format!("SELECT * FROM '{}' ORDER BY channel", file.display());
    let read = cpiq_in(dir.path(), &["-w", ws, "sql", &back, "-f", "csv"]).ok();
    let direct = cpiq_in(dir.path(), &["-w", ws, "sql", sql, "-f", "csv"]).ok();
    assert_eq!(read, direct);
    // No temporary files are left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // CSV too.
    let csv = dir.path().join("otd.csv");
    cpiq_in(
        dir.path(),
        &["-w", ws, "sql", sql, "-o", csv.to_str().unwrap()],
    )
    .ok();
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), direct);
}

#[test]
fn a_failed_export_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let ws = generated().to_str().unwrap();
    let file = dir.path().join("bad.parquet");
    // Fails at run time, after the file was opened: division by zero.
    let r = cpiq_in(
        dir.path(),
        &[
            "-w",
            ws,
            "sql",
            "SELECT 1 / (customer_id - customer_id) FROM customers",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn exit_codes_distinguish_usage_from_query_errors() {
    let dir = generated();
    let r = cpiq_in(dir, &["sql", "SELECT * FROM no_such_table"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no_such_table"), "{}", r.stderr);
    let r = cpiq_in(dir, &["sql", "SELECT 1", "--format", "yaml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown format \"yaml\""), "{}", r.stderr);
    let r = cpiq_in(dir, &["frobnicate"]);
    assert_eq!(r.code, 2);
    let r = cpiq_in(dir, &["-w", "/nonexistent/place", "cpis"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no workspace at /nonexistent/place"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(crate::support::bin())
        .args([
            "sql",
            "SELECT * FROM orders CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2) t",
            "-f",
            "csv",
        ])
        .current_dir(generated())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close our end, like `| head -1`.
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    use std::io::Read;
    let _ = stdout.read(&mut buf).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_stops_at_the_first_error_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        "-- a job\nSELECT 1 AS a;\n\nSELECT\n  nope\nFROM orders;\nSELECT 3 AS c;\n",
    )
    .unwrap();
    let ws = generated().to_str().unwrap();
    let r = cpiq_in(dir.path(), &["-w", ws, "run", script.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stdout, "a\n1\n",
        "the statement after the error must not run"
    );
    assert!(
        r.stderr.contains(&format!("{}:4:", script.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

#[test]
fn run_executes_sql_and_backslash_commands_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        "CREATE VIEW big AS SELECT * FROM orders WHERE items_ordered > 3;\n\\set sla_hours 1\nSELECT COUNT(*) > 0 AS any FROM big;\n\\set\n",
    )
    .unwrap();
    let ws = generated().to_str().unwrap();
    let out = cpiq_in(dir.path(), &["-w", ws, "run", script.to_str().unwrap()]).ok();
    assert!(out.starts_with("any\ntrue\n"), "{out}");
    assert!(out.contains("sla_hours,1,24,resolved_within_sla"), "{out}");
}

#[test]
fn session_parameters_change_the_cpi_value() {
    let ws = generated().to_str().unwrap();
    let q = "SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) FROM resolved_within_sla";
    let v = |p: &str| -> f64 {
        scalar(&cpiq_in(generated(), &["-w", ws, "sql", q, "-p", p]).ok())
            .parse()
            .unwrap()
    };
    let (tight, loose) = (v("sla_hours=4"), v("sla_hours=72"));
    assert!(tight < loose, "{tight} !< {loose}");
}

#[test]
fn datafusion_settings_come_from_the_environment_and_bad_ones_are_named() {
    let run = |value: &str| {
        std::process::Command::new(crate::support::bin())
            .current_dir(crate::support::repo())
            .env("DATAFUSION_EXECUTION_BATCH_SIZE", value)
            .args(["-f", "csv", "sql", "SHOW datafusion.execution.batch_size"])
            .output()
            .unwrap()
    };
    let ok = run("1024");
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("datafusion.execution.batch_size,1024"),
        "{ok:?}"
    );
    let bad = run("many");
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("DATAFUSION_* variables") && err.contains("'many'"),
        "{err}"
    );
}
