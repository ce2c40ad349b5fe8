//! Read-only mode (issue 8, item 6): for shared analyst machines, every
//! statement or command that writes is refused with a clear message, and
//! queries keep working.

use crate::support::{copy_config, cpiq_in, cpiq_stdin, generated};

#[test]
fn every_kind_of_write_is_refused_and_queries_still_run() {
    let ws = generated();
    let dir = tempfile::tempdir().unwrap();
    let f = |name: &str| dir.path().join(name).display().to_string();
    let refused = [
        ("CREATE VIEW v AS SELECT 1", "CREATE"),
        (
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp/x.parquet'",
            "CREATE EXTERNAL TABLE",
        ),
        ("DROP TABLE orders", "DROP"),
        ("INSERT INTO orders SELECT * FROM orders", "INSERT"),
        (&format!("COPY (SELECT 1) TO '{}'", f("c.parquet")), "COPY"),
    ];
    for (sql, kind) in refused {
        let r = cpiq_in(ws, &["--read-only", "sql", sql]);
        assert_eq!(r.code, 1, "{sql}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("read-only session: {kind} is refused")),
            "{sql}: {}",
            r.stderr
        );
    }
    let out = f("o.parquet");
    for args in [
        vec!["--read-only", "sql", "SELECT 1", "--output", out.as_str()],
        vec!["--read-only", "generate", "--out", out.as_str()],
    ] {
        let r = cpiq_in(ws, &args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("read-only session"), "{}", r.stderr);
    }
    let r = cpiq_stdin(
        ws,
        &["--read-only"],
        &format!("SELECT 1 AS a;\n\\export {}\n", f("e.parquet")),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("read-only session: \\export is refused"),
        "{}",
        r.stderr
    );
    let r = cpiq_stdin(ws, &["--read-only"], &format!("\\o {}\n", f("o.csv")));
    assert!(
        r.stderr.contains("read-only session: \\o FILE is refused"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was written"
    );
    // Reading is untouched.
    assert_eq!(
        cpiq_in(ws, &["--read-only", "sql", "SELECT 41 + 1 AS x"]).ok(),
        "x\n42\n"
    );
    cpiq_in(
        ws,
        &[
            "--read-only",
            "slice",
            "on_time_delivery",
            "--per",
            "quarter",
        ],
    )
    .ok();
}

#[test]
fn the_workspace_setting_turns_it_on() {
    let src = generated();
    let dir = tempfile::tempdir().unwrap();
    copy_config(src, dir.path(), "read_only = true");
    let r = cpiq_in(dir.path(), &["sql", "CREATE VIEW v AS SELECT 1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("read-only session"), "{}", r.stderr);
    assert_eq!(
        cpiq_in(dir.path(), &["sql", "SELECT 1 AS one"]).ok(),
        "one\n1\n"
    );
}

/// The read-only check is made on the logical plan (issue 23): writes
/// under EXPLAIN and EXPLAIN ANALYZE, or composed with cpi_slice(), are
/// refused through every route SQL takes, and nothing reaches the disk.
#[test]
fn writes_are_refused_on_the_plan_under_explain_through_every_route() {
    // A table whose path is a folder, as in the report (INSERT would add a
    // file to it).
    let ws = crate::support::TempWorkspace::with_own_cpis(&[], &[]);
    let data = ws.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    ws.cpiq(&[
        "sql",
        "SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(a, b)",
        "--output",
        "data/part-0.parquet",
    ])
    .ok();
    let cfg = ws.path().join("cpiq.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[tables.t]\npath = \"data\"\n")).unwrap();
    let listing = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = (listing(ws.path()), listing(&data));
    let statements = [
        ("EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO 'x.csv'", "COPY"),
        ("EXPLAIN COPY (SELECT 1 AS x) TO 'x.csv'", "COPY"),
        (
            "EXPLAIN ANALYZE INSERT INTO t SELECT * FROM t LIMIT 1",
            "INSERT",
        ),
        ("EXPLAIN INSERT INTO t SELECT * FROM t", "INSERT"),
        ("EXPLAIN ANALYZE CREATE VIEW v AS SELECT 1", "CREATE"),
    ];
    for (sql, kind) in statements {
        let message = format!("read-only session: {kind} is refused");
        // cpiq sql
        let r = ws.cpiq(&["--read-only", "sql", sql]);
        assert_ne!(r.code, 0, "{sql}: {r:?}");
        assert!(r.stderr.contains(&message), "sql {sql}: {}", r.stderr);
        // piped input
        let r = cpiq_stdin(ws.path(), &["--read-only"], &format!("{sql};\n"));
        assert!(r.stderr.contains(&message), "stdin {sql}: {}", r.stderr);
        // \i and cpiq run, from a script outside the workspace
        let scripts = tempfile::tempdir().unwrap();
        let script = scripts.path().join("job.sql");
        std::fs::write(&script, format!("{sql};\n")).unwrap();
        let r = cpiq_stdin(
            ws.path(),
            &["--read-only"],
            &format!("\\i {}\n", script.display()),
        );
        assert!(r.stderr.contains(&message), "\\i {sql}: {}", r.stderr);
        let r = ws.cpiq(&["--read-only", "run", script.to_str().unwrap()]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains(&message), "run {sql}: {}", r.stderr);
        assert_eq!((listing(ws.path()), listing(&data)), before, "{sql} wrote");
    }
    // Composed with cpi_slice() on the generated workspace.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("y.parquet");
    let sql = format!(
        "EXPLAIN ANALYZE COPY (SELECT * FROM cpi_slice('on_time_delivery', 'channel', 'month')) TO '{}'",
        target.display()
    );
    let r = cpiq_in(generated(), &["--read-only", "sql", &sql]);
    assert!(
        r.stderr.contains("read-only session: COPY is refused"),
        "{}",
        r.stderr
    );
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    // Without --read-only the same EXPLAIN ANALYZE COPY does write: the
    // refusal above is the check, not a statement that cannot run.
    let r = ws.cpiq(&["sql", "EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO 'x.csv'"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(ws.path().join("x.csv").exists());
    // Reading, SET and SHOW still work in a read-only session.
    let r = cpiq_stdin(
        ws.path(),
        &["--read-only", "-f", "csv"],
        "SET datafusion.execution.batch_size = 1024;\nSHOW datafusion.execution.batch_size;\nEXPLAIN SELECT * FROM t;\nSELECT COUNT(*) AS n FROM t;\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("1024") && r.stdout.contains("n\n2\n"),
        "{}",
        r.stdout
    );
}
