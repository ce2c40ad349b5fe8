//! Read-only mode (issue 8, item 6): for shared analyst machines, every
//! statement or command that writes is refused with a clear message, and
//! queries keep working.

use crate::support::{cpiq_in, cpiq_stdin, generated};

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
    let text = std::fs::read_to_string(src.join("cpiq.toml"))
        .unwrap()
        .replace("[settings]", "[settings]\nread_only = true");
    let cfg = text
        .replace(
            "\"data-samples/",
            &format!("\"{}/data-samples/", src.display()),
        )
        .replace(
            "\"queries/cpis\"",
            &format!("\"{}/queries/cpis\"", src.display()),
        );
    std::fs::write(dir.path().join("cpiq.toml"), cfg).unwrap();
    let r = cpiq_in(dir.path(), &["sql", "CREATE VIEW v AS SELECT 1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("read-only session"), "{}", r.stderr);
    assert_eq!(
        cpiq_in(dir.path(), &["sql", "SELECT 1 AS one"]).ok(),
        "one\n1\n"
    );
}
