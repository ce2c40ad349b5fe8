//! Robustness (issue 8): messy data, memory limits, odd input. Each test
//! makes one fault happen and checks the message names what is wrong, the
//! numbers stay right, and nothing panics. The fault table in
//! `docs/robustness.md` lists these tests.

use crate::support::{TempWorkspace, cpiq_in, cpiq_stdin, csv_rows, generated, realdata, scalar};

/// A workspace with the table `events` (a CSV of at, channel, num, den) and
/// the CPI `ratio` over it.
fn ratio_workspace(events: &str) -> TempWorkspace {
    let (name, text) = ratio_cpi();
    TempWorkspace::with_own_cpis(&[("events", "events.csv", events)], &[(name, &text)])
}

/// One CPI over `events` whose denominator is a column of the file.
fn ratio_cpi() -> (&'static str, String) {
    (
        "ratio.sql",
        "-- cpi: ratio\n-- label: Ratio\n-- unit: ratio\n-- direction: higher_is_better\n\
         -- time: at\n-- dimensions: channel\n\
         SELECT at, channel, num AS numerator, den AS denominator FROM events\n"
            .to_string(),
    )
}

#[test]
fn malformed_csv_rows_are_named_by_file_and_line() {
    let events = "at,channel,num,den\n\
                  2024-01-01 10:00:00,web,1,1\n\
                  2024-01-02 10:00:00,web,1,1,9\n\
                  2024-01-03 10:00:00,app,1\n\
                  2024-01-04 10:00:00,app,1,1\n";
    let ws = ratio_workspace(events);
    let r = ws.cpiq(&["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let file = ws.path().join("events.csv");
    let want = format!(
        "{}: 2 malformed rows (the header has 4 fields): line 3 has 5 fields, line 4 has 3 fields",
        file.display()
    );
    assert!(r.stdout.contains(&want), "{}", r.stdout);
}

#[test]
fn csv_values_with_quoted_newlines_are_read_whole() {
    // The Olist reviews: comments with quoted CR LF inside, which DataFusion's
    // chunked schema inference cannot read. Counted independently with the
    // csv crate.
    let path = realdata().join("olist-sample/olist_order_reviews_dataset.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let (mut n, mut sum) = (0u64, 0u64);
    for rec in reader.records() {
        let rec = rec.unwrap();
        n += 1;
        sum += rec[2].parse::<u64>().unwrap();
    }
    let ws = TempWorkspace::with_tables(
        &[],
        &format!(
            "\n[tables.reviews]\npath = {:?}\nformat = \"csv\"\n",
            path.display().to_string()
        ),
    );
    let out = ws
        .cpiq(&[
            "sql",
            "SELECT COUNT(*) AS n, SUM(review_score) AS s FROM reviews",
        ])
        .ok();
    let rows = csv_rows(&out);
    assert_eq!(rows[1], [n.to_string(), sum.to_string()]);
    assert!(n > 6000, "{n}");
}

#[test]
fn a_kpi_table_without_its_time_column_is_named_and_the_rest_works() {
    let (name, text) = ratio_cpi();
    let ws = TempWorkspace::with_own_cpis(
        &[
            (
                "events",
                "events.csv",
                "at,channel,num,den\n2024-01-01 10:00:00,web,1,2\n",
            ),
            ("kpi", "kpi.csv", "period,nps\n2024-01-01,40\n"),
        ],
        &[(name, &text)],
    );
    let toml = ws.path().join("cpiq.toml");
    let mut config = std::fs::read_to_string(&toml).unwrap();
    config = config.replace("[tables.kpi]", "[kpis.kpi]");
    config.push_str("time = \"month\"\nmeasures = { nps = \"avg\" }\n");
    std::fs::write(&toml, &config).unwrap();
    let r = ws.cpiq(&["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = config
        .lines()
        .position(|l| l.starts_with("time = "))
        .unwrap()
        + 1;
    let want = format!("cpiq.toml:{line}: kpis.kpi.time: the table has no column \"month\"");
    assert!(r.stdout.contains(&want), "{}", r.stdout);
    // The CPI still answers.
    let v = scalar(
        &ws.cpiq(&[
            "sql",
            "SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) FROM ratio",
        ])
        .ok(),
    );
    assert_eq!(v.parse::<f64>().unwrap(), 0.5);
}

#[test]
fn timestamps_before_1970_and_far_ahead_land_in_their_periods() {
    let events = "at,channel,num,den\n\
                  1969-12-31 23:59:59,web,1,1\n\
                  1969-12-01 00:00:00,web,0,1\n\
                  1900-02-28 12:00:00,web,1,1\n\
                  2100-01-01 00:00:00,web,1,2\n\
                  2262-04-01 00:00:00,app,1,4\n";
    let ws = ratio_workspace(events);
    let out = ws
        .cpiq(&["slice", "ratio", "--per", "month", "--format", "csv"])
        .ok();
    let rows = csv_rows(&out);
    let cells: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[1].clone(), r[2].clone()))
        .collect();
    assert_eq!(
        cells,
        [
            ("1900-02-01".to_string(), "1.0".to_string()),
            ("1969-12-01".into(), "0.5".into()),
            ("2100-01-01".into(), "0.5".into()),
            ("2262-04-01".into(), "0.25".into()),
        ],
        "{out}"
    );
}

#[test]
fn a_zero_denominator_gives_null_never_an_error_or_infinity() {
    let events = "at,channel,num,den\n\
                  2024-01-01 10:00:00,web,0,0\n\
                  2024-01-02 10:00:00,web,0,0\n\
                  2024-01-03 10:00:00,app,1,2\n";
    let ws = ratio_workspace(events);
    let out = ws
        .cpiq(&["slice", "ratio", "--by", "channel", "--format", "csv"])
        .ok();
    let rows = csv_rows(&out);
    let header = &rows[0];
    let value = header.iter().position(|h| h == "value").unwrap();
    let channel = header.iter().position(|h| h == "channel").unwrap();
    let by: Vec<(&str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[channel].as_str(), r[value].as_str()))
        .collect();
    assert_eq!(by, [("app", "0.5"), ("web", "")], "{out}");
    assert!(!out.contains("inf") && !out.contains("NaN"), "{out}");
}

#[test]
fn a_slice_beyond_the_memory_limit_fails_with_a_clear_message() {
    // One cell per customer and day: far more than 1 MiB of cells.
    let r = crate::support::cpiq_in(
        generated(),
        &[
            "--memory-limit",
            "1MiB",
            "slice",
            "first_contact_resolution",
            "--by",
            "customer_id",
            "--per",
            "day",
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("memory limit reached"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: raise memory_limit"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // Without the limit the same slice answers, one row per cell.
    let out = crate::support::cpiq_in(
        generated(),
        &[
            "slice",
            "first_contact_resolution",
            "--by",
            "customer_id",
            "--per",
            "day",
            "--format",
            "csv",
        ],
    )
    .ok();
    assert!(out.lines().count() > 10_000, "{}", out.lines().count());
}

#[test]
fn full_sorts_buffer_compacted_batches_and_top_k_sorts_do_not() {
    // A full sort buffers its input: cpiq copies batches that are slices of
    // a larger array (an aggregation's output) so the sort reserves the
    // memory it holds (src/engine/compact.rs). A top-k sort keeps k rows.
    let cells = "SELECT customer_id, cpiq_period_start('quarter', opened_at) AS q, COUNT(*) AS e \
                 FROM first_contact_resolution GROUP BY 1, 2 ORDER BY 1, 2";
    let plan = |sql: &str| {
        crate::support::cpiq_in(
            generated(),
            &["-f", "csv", "sql", &format!("EXPLAIN {sql}")],
        )
        .ok()
    };
    let full = plan(cells);
    let sort = full.find("SortExec:").expect("a sort");
    let compact = full
        .find("CompactExec")
        .expect("compaction under the full sort");
    assert!(sort < compact, "{full}");
    let top = plan(&format!("{cells} LIMIT 5"));
    assert!(
        top.contains("fetch=5") && !top.contains("CompactExec"),
        "{top}"
    );
    // The sorted cells are the aggregation's cells, in order.
    let rows = |sql: &str| {
        let out = crate::support::cpiq_in(generated(), &["-f", "csv", "sql", sql]).ok();
        crate::support::csv_rows(&out)
            .into_iter()
            .skip(1) // the header
            .map(|r| (r[0].parse::<i64>().unwrap(), r[1].clone(), r[2].clone()))
            .collect::<Vec<_>>()
    };
    let sorted = rows(cells);
    let mut unsorted = rows(&cells.replace(" ORDER BY 1, 2", ""));
    assert!(sorted.len() > 10_000, "{}", sorted.len());
    unsorted.sort();
    assert_eq!(sorted, unsorted);
}

#[test]
fn an_aggregation_beyond_the_memory_limit_spills_and_gives_the_same_answer() {
    let query = "SET datafusion.execution.target_partitions = 2;\n\
                 SELECT COUNT(*) AS cells, SUM(n) AS n, SUM(d) AS d FROM (\
                   SELECT customer_id, date_trunc('day', opened_at) AS day, \
                          SUM(numerator) AS n, SUM(denominator) AS d \
                   FROM first_contact_resolution GROUP BY 1, 2)";
    let unlimited = crate::support::cpiq_in(generated(), &["sql", query]).ok();
    let (mut spilled, mut answered) = (0, 0);
    for _ in 0..3 {
        let r = crate::support::cpiq_in(generated(), &["--memory-limit", "2MiB", "sql", query]);
        // Each run either answers exactly as without a limit or says it
        // ran out of memory; never a wrong answer, a crash or a kill.
        if r.code == 0 {
            assert_eq!(r.stdout, unlimited);
            answered += 1;
        } else {
            assert!(r.stderr.contains("memory limit reached"), "{r:?}");
        }
        let plan = crate::support::cpiq_in(
            generated(),
            &[
                "--memory-limit",
                "2MiB",
                "sql",
                &query.replace("SELECT COUNT", "EXPLAIN ANALYZE SELECT COUNT"),
            ],
        );
        if plan.code == 0
            && plan
                .stdout
                .split("spill_count=")
                .skip(1)
                .any(|s| !s.starts_with('0'))
        {
            spilled += 1;
        }
    }
    assert!(spilled > 0, "the aggregation never spilled under 2 MiB");
    // The same answer must actually have been compared at least once.
    assert!(answered > 0, "no run answered under 2 MiB");
}

#[test]
fn check_shows_the_memory_limit_and_the_spill_folder() {
    let (name, text) = ratio_cpi();
    let ws = TempWorkspace::with_own_cpis(
        &[(
            "events",
            "events.csv",
            "at,channel,num,den\n2024-01-01 10:00:00,web,1,2\n",
        )],
        &[(name, &text)],
    );
    let toml = ws.path().join("cpiq.toml");
    let mut config = std::fs::read_to_string(&toml).unwrap();
    config.push_str("\n[settings]\nmemory_limit = \"768MiB\"\nspill_dir = \"spill\"\n");
    std::fs::write(&toml, config).unwrap();
    let out = ws.cpiq(&["check"]).ok();
    assert!(
        out.contains("memory limit 768.0 MiB (memory_limit in cpiq.toml)"),
        "{out}"
    );
    let spill = ws.path().join("spill");
    assert!(
        out.contains(&format!(
            "spill folder {} (spill_dir in cpiq.toml)",
            spill.display()
        )),
        "{out}"
    );
    // The flag wins over the file.
    let out = ws.cpiq(&["--memory-limit", "none", "check"]).ok();
    assert!(out.contains("memory limit none"), "{out}");
    let r = ws.cpiq(&["--memory-limit", "lots", "check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("\"lots\" is not a size"), "{}", r.stderr);
}

#[test]
fn unbalanced_quotes_and_megabyte_lines_are_handled() {
    let ws = generated();
    // A string literal of a megabyte on one line.
    let long = "x".repeat(1 << 20);
    let out = cpiq_stdin(ws, &[], &format!("SELECT length('{long}') AS n;\n")).ok();
    assert_eq!(scalar(&out), (1 << 20).to_string());
    // An unterminated quote: a clear error, not a hang or a panic.
    let r = cpiq_stdin(ws, &[], "SELECT 'unterminated AS s;\n");
    assert_ne!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains("unterminated"),
        "{}",
        r.stderr
    );
    // A megabyte of garbage on one line: an error that is not a megabyte long.
    let r = cpiq_stdin(ws, &[], &format!("SELECT {long}(;\n"));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn columns_added_in_newer_files_are_null_in_older_ones() {
    // Schema evolution: the 2024 file has no `region`; the 2025 file adds it.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events");
    std::fs::create_dir_all(&data).unwrap();
    let write = |sql: &str| {
        crate::support::cpiq_in(
            dir.path(),
            &["-w", &crate::support::repo().to_string_lossy(), "sql", sql],
        )
        .ok();
    };
    write(&format!(
        "COPY (SELECT 1 AS id, 'web' AS channel) TO '{}'",
        data.join("2024.parquet").display()
    ));
    write(&format!(
        "COPY (SELECT 2 AS id, 'app' AS channel, 'north' AS region) TO '{}'",
        data.join("2025.parquet").display()
    ));
    std::fs::write(
        dir.path().join("cpiq.toml"),
        "[workspace]\ncpis = \".\"\n[tables.events]\npath = \"events\"\n",
    )
    .unwrap();
    let out = crate::support::cpiq_in(
        dir.path(),
        &["sql", "SELECT id, channel, region FROM events ORDER BY id"],
    )
    .ok();
    assert_eq!(
        csv_rows(&out),
        [
            vec!["id", "channel", "region"],
            vec!["1", "web", ""],
            vec!["2", "app", "north"],
        ]
    );
}

#[test]
fn a_tables_cached_schema_follows_its_files_and_read_only_sessions_write_none() {
    let ws = crate::support::generate(200, 3, 11);
    let dir = ws.path();
    let cached = dir.join(".cpiq/schemas/orders.arrows");
    let count = |sql: &str| scalar(&cpiq_in(dir, &["sql", sql, "-f", "csv"]).ok());
    // A read-only session reads the footers and keeps nothing.
    let rows = scalar(&cpiq_in(dir, &["--read-only", "sql", "SELECT count(*) FROM orders"]).ok());
    assert!(
        !dir.join(".cpiq").exists(),
        "a read-only session wrote its cache"
    );
    // The first session keeps each table's schema; the next ones take it.
    assert_eq!(count("SELECT count(*) FROM orders"), rows);
    assert!(cached.is_file());
    assert_eq!(count("SELECT count(*) FROM orders"), rows);
    // A file with one more column changes the listing: the column is seen.
    let unknown = cpiq_in(dir, &["sql", "SELECT count(note) FROM orders"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    let extra = dir.join("data-samples/orders/zz-extra.parquet");
    let five = "SELECT *, 'x' AS note FROM orders LIMIT 5";
    cpiq_in(dir, &["sql", five, "--output", extra.to_str().unwrap()]).ok();
    assert_eq!(count("SELECT count(note) FROM orders"), "5");
    // A damaged cache is read past, and written anew.
    std::fs::write(&cached, b"damaged").unwrap();
    assert_eq!(count("SELECT count(note) FROM orders"), "5");
    assert_ne!(std::fs::read(&cached).unwrap(), b"damaged");
    // A removed file is gone from the table at once.
    std::fs::remove_file(&extra).unwrap();
    assert_eq!(count("SELECT count(*) FROM orders"), rows);
}

#[test]
fn file_statistics_are_kept_for_the_next_process_while_each_file_is_unchanged() {
    let ws = crate::support::generate(200, 3, 11);
    let dir = ws.path();
    let stats = dir.join(".cpiq/stats/orders.arrows");
    let count = "SELECT count(*) FROM orders";
    // Rows counted by reading them (`sum(1)` is not answered from statistics),
    // in a read-only session, which reads the footers and writes nothing.
    let rows = scalar(&cpiq_in(dir, &["--read-only", "sql", "SELECT sum(1) FROM orders"]).ok());
    assert_eq!(
        scalar(&cpiq_in(dir, &["--read-only", "sql", count]).ok()),
        rows
    );
    assert!(!dir.join(".cpiq").exists(), "a read-only session wrote");
    // The first writable session keeps every file's statistics.
    assert_eq!(scalar(&cpiq_in(dir, &["sql", count]).ok()), rows);
    assert!(stats.is_file());
    // The next process plans from them without opening a file: `count(*)` is
    // answered from row counts even when a file's bytes are no longer Parquet
    // (same size and modification time, so it looks unchanged)...
    let mut files: Vec<_> = std::fs::read_dir(dir.join("data-samples/orders"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let victim = &files[0];
    let meta = std::fs::metadata(victim).unwrap();
    std::fs::write(victim, vec![0u8; meta.len() as usize]).unwrap();
    let file = std::fs::File::options().write(true).open(victim).unwrap();
    file.set_modified(meta.modified().unwrap()).unwrap();
    drop(file);
    assert_eq!(scalar(&cpiq_in(dir, &["sql", count]).ok()), rows);
    assert_eq!(
        scalar(&cpiq_in(dir, &["--read-only", "sql", count]).ok()),
        rows,
        "read-only sessions read the cache"
    );
    // ...and reads the footer again once the file's modification time moves:
    // the damage is then reported, naming the file.
    let file = std::fs::File::options().write(true).open(victim).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    drop(file);
    let r = cpiq_in(dir, &["sql", count]);
    assert_ne!(r.code, 0, "{r:?}");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(r.stderr.contains(&name), "{}", r.stderr);
}
