//! Bad workspaces and CPI definitions (issue 2): each problem is reported with
//! its file and line, never a panic, and the rest of the workspace loads.

use crate::support::{TempWorkspace, cpiq_in, scalar};

const EVENTS: &str = "at,channel,ok\n2024-01-01 10:00:00,web,1\n2024-01-02 10:00:00,app,0\n2024-01-03 10:00:00,web,1\n";

fn cpi(name: &str, extra_header: &str, body: &str) -> String {
    format!(
        "-- cpi: {name}\n-- label: {name}\n-- unit: percent\n-- direction: higher_is_better\n-- time: at\n-- dimensions: channel\n{extra_header}{body}\n"
    )
}

const GOOD_BODY: &str = "SELECT at, channel, ok AS numerator, 1 AS denominator FROM events";

#[test]
fn a_broken_cpi_is_reported_and_the_others_still_load() {
    let ws = TempWorkspace::with_own_cpis(
        &[("events", "events.csv", EVENTS)],
        &[
            ("a_good.sql", &cpi("good", "", GOOD_BODY)),
            (
                "b_unit.sql",
                &cpi("bad_unit", "", GOOD_BODY).replace("unit: percent", "unit: percnt"),
            ),
            (
                "c_nocol.sql",
                &cpi(
                    "no_numerator",
                    "",
                    "SELECT at, channel, 1 AS denominator FROM events",
                ),
            ),
            (
                "d_plan.sql",
                &cpi(
                    "bad_plan",
                    "",
                    "SELECT at, channel, ok AS numerator, 1 AS denominator FROM nowhere",
                ),
            ),
            (
                "e_dim.sql",
                &cpi(
                    "bad_dim",
                    "",
                    "SELECT at, ok AS numerator, 1 AS denominator FROM events",
                ),
            ),
            ("f_dup.sql", &cpi("good", "", GOOD_BODY)),
            ("g_ddl.sql", &cpi("ddl", "", "DROP TABLE events")),
            (
                "h_time.sql",
                &cpi(
                    "bad_time",
                    "",
                    "SELECT channel AS at, channel, ok AS numerator, 1 AS denominator FROM events",
                ),
            ),
        ],
    );
    let r = ws.cpiq(&["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let out = r.stdout;
    let p = |f: &str| ws.path().join("cpis").join(f).display().to_string();
    for want in [
        format!("{}:3: unknown unit \"percnt\"", p("b_unit.sql")),
        format!(
            "{}:7: the body returns no \"numerator\" column",
            p("c_nocol.sql")
        ),
        format!("{}:7: the body does not plan", p("d_plan.sql")),
        format!(
            "{}:6: the body returns no column for dimension \"channel\"",
            p("e_dim.sql")
        ),
        format!(
            "{}:1: CPI \"good\" is already defined in {}",
            p("f_dup.sql"),
            p("a_good.sql")
        ),
        format!("{}:7: the body must be a SELECT", p("g_ddl.sql")),
        format!("{}:5: time column \"at\" is", p("h_time.sql")),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(
        out.contains("1 of 1 tables registered, 1 of 8 CPIs planned"),
        "{out}"
    );
    assert!(r.stderr.contains("7 problems found"), "{}", r.stderr);
    // A statement plans only the CPIs it reads: one on the good CPI warns
    // of the files that do not parse, not of the bodies it did not plan...
    let r = ws.cpiq(&["sql", "SELECT count(*) FROM good"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("b_unit.sql:3"), "{}", r.stderr);
    for unplanned in ["c_nocol.sql", "d_plan.sql", "e_dim.sql", "h_time.sql"] {
        assert!(!r.stderr.contains(unplanned), "{}", r.stderr);
    }
    // ... and a statement that reads a broken one fails with its problem.
    let r = ws.cpiq(&["sql", "SELECT * FROM bad_plan"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("{}:7: the body does not plan", p("d_plan.sql"))),
        "{}",
        r.stderr
    );
    let r = ws.cpiq(&["slice", "bad_dim", "--by", "channel"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "{}:6: the body returns no column for dimension \"channel\"",
            p("e_dim.sql")
        )),
        "{}",
        r.stderr
    );
    // The good CPI works despite the others.
    let v = scalar(
        &ws.cpiq(&[
            "sql",
            "SELECT CAST(SUM(numerator) AS DOUBLE)/SUM(denominator) FROM good",
        ])
        .ok(),
    );
    assert_eq!(v.parse::<f64>().unwrap(), 2.0 / 3.0);
}

#[test]
fn recursive_cpis_are_rejected() {
    let ws = TempWorkspace::with_own_cpis(
        &[("events", "events.csv", EVENTS)],
        &[
            ("a.sql", &cpi("a", "", "SELECT * FROM b")),
            ("b.sql", &cpi("b", "", "SELECT * FROM a")),
            ("c.sql", &cpi("c", "", "SELECT * FROM c")),
            ("d.sql", &cpi("d", "", "SELECT * FROM e")),
            ("e.sql", &cpi("e", "", GOOD_BODY)),
        ],
    );
    let r = ws.cpiq(&["check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("recursive CPI definition: a -> b -> a"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("recursive CPI definition: c -> c"),
        "{}",
        r.stdout
    );
    // d reads e, which is defined after it: registered in dependency order.
    assert!(r.stdout.contains("2 of 5 CPIs planned"), "{}", r.stdout);
}

#[test]
fn config_mistakes_name_file_line_and_key() {
    let ws = TempWorkspace::with_tables(
        &[("events", "events.csv", EVENTS)],
        "\n[settings]\nmemory_limt = \"1GiB\"\n",
    );
    let r = ws.cpiq(&["cpis"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("cpiq.toml:8: settings.memory_limt: unknown field `memory_limt`"),
        "{}",
        r.stderr
    );

    let ws = TempWorkspace::with_tables(
        &[("events", "events.csv", EVENTS)],
        "\n[tables.orders]\npath = \"missing/orders\"\n",
    );
    let r = ws.cpiq(&["cpis"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(":8: tables.orders.path:") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );

    let ws = TempWorkspace::with_tables(
        &[("events", "events.csv", EVENTS)],
        "\n[kpis.k]\npath = \"events.csv\"\ntime = \"month\"\n",
    );
    let r = ws.cpiq(&["check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(":9: kpis.k.time: the table has no column \"month\""),
        "{}",
        r.stdout
    );
}

#[test]
fn files_that_disagree_on_a_type_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.csv"), "id,v\n1,10\n").unwrap();
    std::fs::write(data.join("b.csv"), "id,v\n2,ten\n").unwrap();
    std::fs::write(
        dir.path().join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\nformat = \"csv\"\n",
    )
    .unwrap();
    let r = cpiq_in(dir.path(), &["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("table events: files disagree on the type of column \"v\": Int64 in"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("a.csv") && r.stdout.contains("b.csv"),
        "{}",
        r.stdout
    );
}

#[test]
fn hive_folders_become_columns_and_globs_select_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    std::fs::write(w.join("cpiq.toml"), "[workspace]\ncpis = \".\"\n").unwrap();
    // Write Parquet partitions with cpiq itself.
    for (region, n) in [("north", 3), ("south", 5)] {
        let d = w.join(format!("events/region={region}"));
        std::fs::create_dir_all(&d).unwrap();
        let sql = format!(
            "COPY (SELECT * FROM (VALUES (1),(2),(3),(4),(5)) t(x) LIMIT {n}) TO '{}/part.parquet'",
            d.display()
        );
        cpiq_in(w, &["sql", &sql]).ok();
    }
    std::fs::write(
        w.join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\n[tables.north]\npath = \"events/region=north/*.parquet\"\n",
    )
    .unwrap();
    let out = cpiq_in(
        w,
        &[
            "sql",
            "SELECT region, COUNT(*) AS n FROM events GROUP BY region ORDER BY region",
        ],
    )
    .ok();
    assert_eq!(out, "region,n\nnorth,3\nsouth,5\n");
    let out = cpiq_in(w, &["sql", "SELECT COUNT(*) AS n FROM north"]).ok();
    assert_eq!(out, "n\n3\n");
}

#[test]
fn an_empty_table_folder_is_a_clear_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("events")).unwrap();
    std::fs::write(
        dir.path().join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\n",
    )
    .unwrap();
    let r = cpiq_in(dir.path(), &["check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("table events: no .parquet files at"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_table_is_opened_when_a_statement_first_names_it() {
    // One broken table of two: a query on the other neither reads it nor
    // warns about it; a query on it fails with its problem (the file, what
    // is wrong); `check` opens every table and reports it.
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    std::fs::create_dir_all(w.join("broken")).unwrap();
    std::fs::write(w.join("cpiq.toml"), "[workspace]\ncpis = \".\"\n").unwrap();
    let copy = format!(
        "COPY (SELECT * FROM (VALUES (1),(2),(3)) t(x)) TO '{}/good.parquet'",
        w.display()
    );
    cpiq_in(w, &["sql", &copy]).ok();
    let good = std::fs::read(w.join("good.parquet")).unwrap();
    std::fs::write(w.join("broken/bad.parquet"), &good[..good.len() / 2]).unwrap();
    std::fs::write(
        w.join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.good]\npath = \"good.parquet\"\n\
         [tables.broken]\npath = \"broken\"\n",
    )
    .unwrap();

    let r = cpiq_in(w, &["sql", "SELECT SUM(x) AS s FROM good"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "s\n6\n"), "{r:?}");
    assert_eq!(r.stderr, "", "the broken table was opened: {r:?}");

    let r = cpiq_in(w, &["sql", "SELECT * FROM broken"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("table broken: ") && r.stderr.contains("bad.parquet: cannot read"),
        "{}",
        r.stderr
    );

    let r = cpiq_in(w, &["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("bad.parquet: cannot read")
            && r.stdout.contains("1 of 2 tables registered"),
        "{}",
        r.stdout
    );
    // Listed before it is opened, as a table.
    let r = cpiq_in(
        w,
        &[
            "sql",
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY 1",
        ],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "table_name,table_type\nbroken,BASE TABLE\ngood,BASE TABLE\n"
        ),
        "{r:?}"
    );
}

#[test]
fn a_corrupt_file_fails_its_table_or_is_skipped_and_reported() {
    // Issue 8, bad data: one truncated Parquet file among good ones.
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let events = w.join("events");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(w.join("cpiq.toml"), "[workspace]\ncpis = \".\"\n").unwrap();
    let copy = format!(
        "COPY (SELECT * FROM (VALUES (1),(2),(3)) t(x)) TO '{}/good.parquet'",
        events.display()
    );
    cpiq_in(w, &["sql", &copy]).ok();
    let good = std::fs::read(events.join("good.parquet")).unwrap();
    std::fs::write(events.join("bad.parquet"), &good[..good.len() / 2]).unwrap();

    std::fs::write(
        w.join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\n",
    )
    .unwrap();
    let r = cpiq_in(w, &["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("table events: ") && r.stdout.contains("bad.parquet: cannot read"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("on_bad_file = \"skip\""), "{}", r.stdout);

    std::fs::write(
        w.join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\non_bad_file = \"skip\"\n",
    )
    .unwrap();
    let r = cpiq_in(w, &["sql", "SELECT SUM(x) AS s FROM events"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "s\n6\n");
    assert!(
        r.stderr.contains("warning: table events: skipped") && r.stderr.contains("bad.parquet"),
        "{}",
        r.stderr
    );

    std::fs::write(
        w.join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\non_bad_file = \"ignore\"\n",
    )
    .unwrap();
    let r = cpiq_in(w, &["check"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains(":5: tables.events.on_bad_file: \"ignore\""),
        "{}",
        r.stderr
    );
}

/// Type errors, missing keys and bad values name the key path (issue 23).
#[test]
fn config_errors_name_the_key_path() {
    for (extra, want) in [
        (
            "\n[tables.dirty]\npath = 42\n",
            "cpiq.toml:8: tables.dirty.path: invalid type: integer `42`, expected a string",
        ),
        (
            "\n[tables.dirty]\nformat = \"csv\"\n",
            "cpiq.toml:7: tables.dirty: missing field `path`",
        ),
        (
            "\n[kpis.k]\npath = \"k.csv\"\ntime = \"month\"\nmeasures = { nps = 3 }\n",
            "cpiq.toml:10: kpis.k.measures.nps: invalid type: integer `3`, expected a string",
        ),
        (
            "\n[settings]\nmemory_limit = \"lots\"\n",
            "cpiq.toml:8: settings.memory_limit: \"lots\" is not a size",
        ),
        (
            "\n[settings]\nread_only = \"yes\"\n",
            "cpiq.toml:8: settings.read_only: invalid type: string \"yes\", expected a boolean",
        ),
    ] {
        let ws = TempWorkspace::with_tables(&[("events", "events.csv", EVENTS)], extra);
        let r = ws.cpiq(&["cpis"]);
        assert_eq!(r.code, 1, "{extra}: {r:?}");
        assert!(r.stderr.contains(want), "{extra}: {}", r.stderr);
    }
}
