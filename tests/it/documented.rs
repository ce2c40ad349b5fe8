//! Documented behaviour that had no test (issue 23, part 5): the shell's
//! display commands and keys under a pseudo-terminal, `\cpi`, `\check`,
//! `\d`, `\reload`, `\o`, `\i`, `\compare` and `\explain`, result files by
//! extension, the read-only refusals of every other writing route, exit 3
//! from exported rows and the generator's `--start`. Each test fails when the
//! behaviour its name describes is removed.

use std::collections::HashMap;

use cpiq::present::chart::text::strip_ansi;

use crate::shell::{run, shell};
use crate::support::{TempWorkspace, cpiq_in, cpiq_stdin, csv_rows, pty_text, repo};

/// The values in the single-column table cells of a terminal table.
fn cells(out: &str) -> Vec<String> {
    strip_ansi(&pty_text(out))
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix('│')?.strip_suffix('│'))
        .map(|c| c.trim().to_string())
        .collect()
}

#[test]
fn the_shells_display_commands_and_keys_do_what_the_readme_says() {
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell(&repo(), &hist.path().join("history"));
    // \maxrows: a longer table shows its first and last rows and says so.
    run(&mut p, "\\maxrows 4");
    let out = run(&mut p, "SELECT value FROM range(10);");
    let shown = cells(&out);
    for v in ["0", "1", "8", "9"] {
        assert!(shown.iter().any(|c| c == v), "{v} missing: {out}");
    }
    assert!(!shown.iter().any(|c| c == "5"), "row 5 shown: {out}");
    assert!(out.contains("(10 rows, 4 shown"), "{out}");
    run(&mut p, "\\maxrows all");
    let out = run(&mut p, "SELECT value FROM range(10);");
    assert!(cells(&out).iter().any(|c| c == "5"), "{out}");
    // \x on: one line per column.
    run(&mut p, "\\x on");
    let out = run(&mut p, "SELECT 1 AS alpha, 'b' AS beta;");
    assert!(out.contains("-[ RECORD 1 ]-"), "{out}");
    assert!(
        out.lines().any(|l| l.trim_end() == "beta  | b"),
        "expanded rows: {out}"
    );
    run(&mut p, "\\x off");
    let out = run(&mut p, "SELECT 1 AS alpha;");
    assert!(!out.contains("RECORD"), "{out}");
    // \timing on: a Time line after each statement; off: none.
    run(&mut p, "\\timing on");
    let out = run(&mut p, "SELECT 7 AS seven;");
    assert!(out.lines().any(|l| l.starts_with("Time: ")), "{out}");
    run(&mut p, "\\timing off");
    let out = run(&mut p, "SELECT 7 AS seven;");
    assert!(!out.contains("Time: "), "{out}");
    // \pager off is acknowledged.
    let out = run(&mut p, "\\pager off");
    assert!(out.contains("Pager is off."), "{out}");
    // Ctrl-C at the prompt clears the line: the half-typed string is gone.
    // (Were it kept, the next line would continue an unterminated string.)
    p.send("SELECT 'typed").unwrap();
    p.flush().unwrap();
    p.send_control('c').unwrap();
    crate::support::expect_prompt(&mut p);
    let out = run(&mut p, "SELECT 'fresh' AS f;");
    assert!(cells(&out).iter().any(|c| c == "fresh"), "{out}");
    assert!(!out.contains("error"), "{out}");
    // Ctrl-D leaves.
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn cpi_check_and_d_describe_the_workspace() {
    let r = cpiq_stdin(&repo(), &[], "\\cpi on_time_delivery\n\\check\n\\d\n");
    assert_eq!(r.code, 0, "{r:?}");
    let field = |name: &str| {
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no {name}: {}", r.stdout))
            .to_string()
    };
    // The header of queries/cpis/on_time_delivery.sql, as written there.
    assert_eq!(field("target "), "95.0%");
    assert_eq!(field("min_denominator "), "30");
    assert_eq!(field("time "), "promised_at");
    assert_eq!(field("dimensions "), "channel, segment, region");
    assert!(
        field("file ").ends_with("queries/cpis/on_time_delivery.sql"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("CASE WHEN delivered_at <= promised_at"),
        "the body is shown: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("7 of 7 tables registered, 8 of 8 CPIs planned"),
        "{}",
        r.stdout
    );
    // \d lists every table of cpiq.toml and every CPI view.
    for name in [
        "orders",
        "support_cases",
        "returns",
        "quote_requests",
        "customers",
        "kpi_monthly",
        "survey_responses",
        "first_contact_resolution",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.contains(name)),
            "\\d lacks {name}: {}",
            r.stdout
        );
    }
}

#[test]
fn reload_reports_an_edited_cpi_and_uses_its_new_target() {
    let cpi = |target: &str| {
        format!(
            "-- cpi: share_big\n-- label: Big\n-- unit: percent\n-- direction: higher_is_better\n\
             -- target: {target}\n-- time: at\n-- dimensions: kind\n\
             SELECT at, kind, CASE WHEN v > 5 THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM t\n"
        )
    };
    let ws = TempWorkspace::with_own_cpis(
        &[(
            "t",
            "t.csv",
            "at,kind,v\n2025-01-05,a,9\n2025-01-06,a,1\n2025-01-07,b,7\n",
        )],
        &[("share_big.sql", &cpi("0.5"))],
    );
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell(ws.path(), &hist.path().join("history"));
    run(&mut p, "\\format csv");
    let before = run(&mut p, "\\slice share_big per all");
    assert!(before.contains(",0.5,met,"), "{before}");
    std::fs::write(ws.path().join("cpis/share_big.sql"), cpi("0.9")).unwrap();
    let out = run(&mut p, "\\reload");
    assert!(out.contains("share_big"), "the change is reported: {out}");
    // 2 of 3 events have v > 5: 0.667 misses the new target of 0.9.
    let after = run(&mut p, "\\slice share_big per all");
    assert!(after.contains(",0.9,missed,"), "{after}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn o_sends_results_to_a_file_and_i_runs_a_script() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.csv");
    let inc = d.path().join("inc.sql");
    std::fs::write(&inc, "SELECT 'included' AS s;\n").unwrap();
    let r = cpiq_stdin(
        &repo(),
        &[],
        &format!(
            "\\o {}\nSELECT 4 AS d;\n\\o\nSELECT 5 AS e;\n\\i {}\n",
            out.display(),
            inc.display()
        ),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "d\n4\n");
    // After `\o` alone, results are back on standard output; then the script.
    assert_eq!(r.stdout, "e\n5\ns\nincluded\n");
}

#[test]
fn compare_and_explain_in_the_shell_add_up() {
    let slice = cpiq_stdin(&repo(), &[], "\\slice on_time_delivery per quarter\n");
    let quarters: HashMap<String, f64> = csv_rows(&slice.ok())
        .into_iter()
        .skip(1)
        .map(|r| (r[1].clone(), r[2].parse().unwrap()))
        .collect();
    // \compare: previous_value is the quarter before's value, change the
    // difference, change_pct the change over |previous| in percent.
    let r = cpiq_stdin(
        &repo(),
        &[],
        "\\compare on_time_delivery per quarter from 2024-04-01\n",
    );
    let rows = csv_rows(&r.ok());
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (period, value, prev, change, pct) = (
        col("period"),
        col("value"),
        col("previous_value"),
        col("change"),
        col("change_pct"),
    );
    assert!(rows.len() > 5, "{rows:?}");
    for row in &rows[1..] {
        let p = chrono::NaiveDate::parse_from_str(&row[period], "%Y-%m-%d").unwrap();
        let before = (p - chrono::Months::new(3)).to_string();
        let (v, pv) = (row[value].parse::<f64>().unwrap(), quarters[&before]);
        assert!(
            (row[prev].parse::<f64>().unwrap() - pv).abs() < 1e-12,
            "{row:?}"
        );
        assert!((row[change].parse::<f64>().unwrap() - (v - pv)).abs() < 1e-12);
        let want_pct = 100.0 * (v - pv) / pv.abs();
        assert!((row[pct].parse::<f64>().unwrap() - want_pct).abs() < 1e-9);
    }
    // \explain: the whole CPI's row (dimension NULL) moves from the first
    // quarter's value to the second's.
    let r = cpiq_stdin(
        &repo(),
        &[],
        "\\explain on_time_delivery by channel from-period 2024-Q1 to-period 2025-Q1 per quarter\n",
    );
    let rows = csv_rows(&r.ok());
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let total = rows
        .iter()
        .find(|r| r[col("channel")].is_empty())
        .expect("a total row");
    let f = |name: &str| total[col(name)].parse::<f64>().unwrap();
    assert!((f("value_p1") - quarters["2024-01-01"]).abs() < 1e-12);
    assert!((f("value_p2") - quarters["2025-01-01"]).abs() < 1e-12);
    assert!((f("total_effect") - (quarters["2025-01-01"] - quarters["2024-01-01"])).abs() < 1e-12);
}

#[test]
fn output_files_take_their_format_from_the_extension() {
    let d = tempfile::tempdir().unwrap();
    let sql = "SELECT 1 AS a, 'x|y' AS b UNION ALL SELECT 2, NULL ORDER BY a";
    let write = |name: &str| {
        let path = d.path().join(name);
        cpiq_in(&repo(), &["sql", sql, "--output", path.to_str().unwrap()]).ok();
        std::fs::read_to_string(path).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&write("r.json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"a": 1, "b": "x|y"}, {"a": 2, "b": null}])
    );
    let ndjson = write("r.ndjson");
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, json.as_array().unwrap().clone());
    let md = write("r.md");
    let md: Vec<&str> = md.lines().collect();
    assert!(md[0].starts_with("| a") && md[0].contains("| b"), "{md:?}");
    assert!(
        md[1].starts_with("|-") || md[1].starts_with("| -") || md[1].starts_with("|:"),
        "{md:?}"
    );
    assert!(
        md[2].contains("x\\|y"),
        "a pipe in a value is escaped: {md:?}"
    );
    assert_eq!(md.len(), 4, "{md:?}");
}

#[test]
fn read_only_refuses_every_other_writing_route() {
    let d = tempfile::tempdir().unwrap();
    let ws = repo();
    let ws = ws.to_str().unwrap();
    for (sql, kind) in [
        ("ALTER TABLE orders ADD COLUMN x INT", "ALTER"),
        ("UPDATE orders SET status = 'x'", "UPDATE"),
        ("DELETE FROM orders", "DELETE"),
    ] {
        let r = cpiq_in(d.path(), &["-w", ws, "--read-only", "sql", sql]);
        assert_eq!(r.code, 1, "{sql}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("read-only session: {kind} is refused")),
            "{r:?}"
        );
    }
    let job = d.path().join("job.sql");
    std::fs::write(&job, "SELECT 1 AS a;\n").unwrap();
    let job = job.to_str().unwrap();
    for args in [
        vec!["run", job, "--output-dir", "outd"],
        vec!["run", job, "--report", "r.json"],
        vec!["report", job, "--html", "r.html"],
    ] {
        let mut all = vec!["-w", ws, "--read-only"];
        all.extend(&args);
        let r = cpiq_in(d.path(), &all);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("read-only session"), "{args:?}: {r:?}");
    }
    let r = cpiq_stdin(
        d.path(),
        &["-w", ws, "--read-only"],
        "\\slice on_time_delivery per quarter\n\\chart c.svg\n",
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("read-only session: writing a chart is refused"),
        "{r:?}"
    );
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["job.sql"], "nothing was written");
}

#[test]
fn a_job_whose_exported_rows_miss_their_target_exits_3() {
    // Bundled sample: on-time delivery misses 95% in most quarters. The
    // job sends its slice to a file (`\o`); nothing is printed.
    let d = tempfile::tempdir().unwrap();
    let job = d.path().join("job.sql");
    std::fs::write(&job, "\\o otd.csv\n\\slice on_time_delivery per quarter\n").unwrap();
    let (ws, job) = (repo().display().to_string(), job.display().to_string());
    let run_job = |flag: Option<&str>| {
        let mut args = vec!["-w", &ws, "run", &job];
        args.extend(flag);
        cpiq_in(d.path(), &args)
    };
    let r = run_job(Some("--fail-on-missed-target"));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        !r.stdout.contains("on_time_delivery"),
        "exported, not printed: {r:?}"
    );
    let rows = csv_rows(&std::fs::read_to_string(d.path().join("otd.csv")).unwrap());
    let status = rows[0].iter().position(|c| c == "status").unwrap();
    assert!(rows[1..].iter().any(|r| r[status] == "missed"), "{rows:?}");
    // Without the flag the same job succeeds.
    assert_eq!(run_job(None).code, 0);
}

#[test]
fn the_generator_starts_its_history_at_start() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("ws");
    let r = cpiq_in(
        d.path(),
        &[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--customers",
            "60",
            "--months",
            "2",
            "--start",
            "2023-05-01",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let range = cpiq_in(
        &out,
        &[
            "sql",
            "SELECT CAST(min(opened_at) AS DATE) AS lo, CAST(max(opened_at) AS DATE) AS hi FROM support_cases",
        ],
    )
    .ok();
    let rows = csv_rows(&range);
    assert!(
        rows[1][0].as_str() >= "2023-05-01" && rows[1][0].as_str() < "2023-05-08",
        "{range}"
    );
    assert!(
        rows[1][1].as_str() >= "2023-06-20" && rows[1][1].as_str() < "2023-07-01",
        "{range}"
    );
}

/// A copy of the bundled sample's cpiq.toml in `dir`, reading the same
/// files, with its cache (rollups) in `dir`.
fn sample_copy(dir: &std::path::Path) {
    let root = repo().display().to_string();
    let toml = std::fs::read_to_string(repo().join("cpiq.toml"))
        .unwrap()
        .replace(
            "cpis = \"queries/cpis\"",
            &format!(
                "cpis = \"{root}/queries/cpis\"\ncache = \"{}\"",
                dir.join("cache").display()
            ),
        )
        .replace(
            "path = \"data-samples/",
            &format!("path = \"{root}/data-samples/"),
        );
    std::fs::write(dir.join("cpiq.toml"), toml).unwrap();
}

#[test]
fn rollups_at_week_quarter_and_year_answer_what_their_grain_covers() {
    // (rollup grain, a slice it answers, a slice it cannot)
    for (grain, covered, finer) in [
        ("week", "week", "month"),
        ("quarter", "year", "month"),
        ("year", "all", "quarter"),
    ] {
        let d = tempfile::tempdir().unwrap();
        sample_copy(d.path());
        let cpiq = |args: &[&str]| cpiq_in(d.path(), args);
        cpiq(&["rollup", "build", "on_time_delivery", "--grain", grain]).ok();
        assert!(
            d.path().join("cache").is_dir(),
            "the rollup is in [workspace] cache"
        );
        let status = cpiq(&["rollup", "status", "-f", "csv"]).ok();
        assert!(
            status.contains(&format!("on_time_delivery,{grain},")),
            "{status}"
        );
        let explain = |per: &str| {
            cpiq(&[
                "slice",
                "on_time_delivery",
                "--per",
                per,
                "--explain",
                "-f",
                "csv",
            ])
            .ok()
        };
        assert!(
            explain(covered).contains("on_time_delivery,rollup,"),
            "{grain} rollup for {covered}: {}",
            explain(covered)
        );
        assert!(
            explain(finer).contains("on_time_delivery,raw,"),
            "{grain} rollup for {finer}: {}",
            explain(finer)
        );
        // Its answer is the raw events' answer.
        let slice = |raw: bool| {
            let mut args = vec![
                "slice",
                "on_time_delivery",
                "--by",
                "channel",
                "--per",
                covered,
            ];
            if raw {
                args.push("--raw");
            }
            cpiq(&args).ok()
        };
        crate::support::same_slices(&slice(false), &slice(true));
    }
}

#[test]
fn correlate_warns_of_few_pairs_and_gives_no_statistics_under_three() {
    // Quarterly CPI from --from to --to: three quarters give 3 pairs at
    // lag 0 (a warning), two give 2 (a note, NULL statistics).
    let correlate = |from: &str| {
        cpiq_in(
            &repo(),
            &[
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.nps",
                "--per",
                "quarter",
                "--lags",
                "0",
                "--from",
                from,
                "--to",
                "2025-10-01",
                "-f",
                "csv",
            ],
        )
    };
    let three = correlate("2025-01-01");
    assert_eq!(three.code, 0, "{three:?}");
    assert!(
        three.stderr.contains("lag 0: only 3 pairs"),
        "the < 8 warning: {}",
        three.stderr
    );
    let two = correlate("2025-04-01");
    assert_eq!(two.code, 0, "{two:?}");
    assert!(
        two.stderr
            .contains("lag 0: 2 pairs, too few for statistics"),
        "the < 3 note: {}",
        two.stderr
    );
    let rows = csv_rows(&two.stdout);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    assert_eq!(rows[1][col("n")], "2");
    assert_eq!(rows[1][col("pearson_r")], "", "{rows:?}");
    assert_eq!(rows[1][col("p_value")], "", "{rows:?}");
}

#[test]
fn history_falls_back_to_xdg_state_home_then_home() {
    for xdg in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(crate::support::bin());
        cmd.current_dir(repo())
            .env_remove("CPIQ_HISTORY")
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .env("HOME", d.path().join("home"));
        if xdg {
            cmd.env("XDG_STATE_HOME", d.path().join("state"));
        } else {
            cmd.env_remove("XDG_STATE_HOME");
        }
        let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
        crate::support::expect_prompt(&mut p);
        run(&mut p, "SELECT 'remember me' AS r;");
        p.send_line("\\q").unwrap();
        p.exp_eof().unwrap();
        let file = if xdg {
            d.path().join("state/cpiq/history")
        } else {
            d.path().join("home/.local/state/cpiq/history")
        };
        let kept = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            kept.contains("SELECT 'remember me' AS r;"),
            "{file:?}: {kept}"
        );
    }
}

#[test]
fn ctrl_r_finds_an_earlier_statement_and_no_color_turns_colour_off() {
    let hist = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(crate::support::bin());
    cmd.current_dir(repo())
        .arg("--no-color")
        .env("CPIQ_HISTORY", hist.path().join("history"))
        .env("TERM", "xterm")
        .env("NO_COLOR", "")
        .env("PAGER", "cat");
    let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    crate::support::expect_prompt(&mut p);
    run(&mut p, "SELECT 'needle' AS found;");
    run(&mut p, "SELECT 2 AS other;");
    // Ctrl-R, a few letters of the earlier statement, Enter: it runs again.
    p.send_control('r').unwrap();
    p.exp_string("(reverse-i-search)").unwrap();
    p.send("needl").unwrap();
    p.flush().unwrap();
    p.exp_string("needle' AS found").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("(1 row").unwrap();
    crate::support::expect_prompt(&mut p);
    // --no-color: a slice's status is not coloured although the terminal could.
    p.send_line("\\slice on_time_delivery per quarter").unwrap();
    let out = p.exp_string("rows").unwrap();
    assert!(out.contains("missed"), "{out}");
    assert!(
        !out.contains("\x1b[38;5;9m"),
        "coloured despite --no-color: {out}"
    );
    crate::support::expect_prompt(&mut p);
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn expected_says_whether_the_sign_agrees_with_both_directions() {
    // time_to_first_response is lower-is-better, on_time_delivery
    // higher-is-better; nps higher-, churn_rate lower-is-better (cpiq.toml).
    let r = cpiq_in(
        &repo(),
        &[
            "correlate",
            "time_to_first_response,on_time_delivery",
            "--with",
            "kpi_monthly.nps,kpi_monthly.churn_rate",
            "--by",
            "segment",
            "-f",
            "csv",
        ],
    );
    let rows = csv_rows(&r.ok());
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let mut seen = HashMap::new();
    for row in &rows[1..] {
        let r: f64 = row[col("pearson_r")].parse().unwrap();
        let cpi_higher = row[col("cpi")] == "on_time_delivery";
        let kpi_higher = row[col("kpi")] == "kpi_monthly.nps";
        // Better CPI with better KPI: r > 0 when both directions agree.
        let want = if (r > 0.0) == (cpi_higher == kpi_higher) {
            "agrees"
        } else {
            "contradicts"
        };
        assert_eq!(row[col("expected")], want, "{row:?}");
        *seen.entry(want).or_insert(0) += 1;
    }
    assert!(seen.len() == 2, "both verdicts occur: {seen:?}");
}

#[test]
fn exports_carry_version_creation_time_inputs_zstd_and_1m_row_groups() {
    // Read back by DuckDB (the reference python), not by cpiq.
    let Some(python) = crate::support::reference_python() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (slice, big) = (d.path().join("otd.parquet"), d.path().join("big.parquet"));
    let before = chrono::Utc::now();
    cpiq_in(
        &repo(),
        &[
            "slice",
            "on_time_delivery",
            "--per",
            "quarter",
            "--output",
            slice.to_str().unwrap(),
        ],
    )
    .ok();
    cpiq_in(
        &repo(),
        &[
            "sql",
            "SELECT value, value * 2 AS twice FROM range(2500000)",
            "--output",
            big.to_str().unwrap(),
        ],
    )
    .ok();
    let after = chrono::Utc::now();
    let script = "import duckdb, json, sys\n\
        kv = {k.decode(): v.decode() for _, k, v in duckdb.execute(\"SELECT * FROM parquet_kv_metadata(?)\", [sys.argv[1]]).fetchall()}\n\
        groups = [n for (_, n) in duckdb.execute(\"SELECT DISTINCT row_group_id, row_group_num_rows FROM parquet_metadata(?) ORDER BY 1\", [sys.argv[2]]).fetchall()]\n\
        codecs = sorted({c for (c,) in duckdb.execute(\"SELECT compression FROM parquet_metadata(?)\", [sys.argv[2]]).fetchall()})\n\
        print(json.dumps({'kv': kv, 'groups': groups, 'codecs': codecs}))\n";
    let out = std::process::Command::new(python)
        .args(["-c", script, slice.to_str().unwrap(), big.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kv = &got["kv"];
    assert_eq!(kv["cpiq.version"], env!("CARGO_PKG_VERSION"));
    let created =
        chrono::DateTime::parse_from_rfc3339(kv["cpiq.created"].as_str().unwrap()).unwrap();
    assert!(
        created >= before && created <= after,
        "{created} not in [{before}, {after}]"
    );
    assert!(
        kv["cpiq.command"]
            .as_str()
            .unwrap()
            .contains("slice on_time_delivery --per quarter")
    );
    // Inputs: every file of the orders folder (the table on_time_delivery
    // reads), with its size and modification time as the file system says.
    let inputs: Vec<String> = serde_json::from_str(kv["cpiq.inputs"].as_str().unwrap()).unwrap();
    let mut orders: Vec<_> = std::fs::read_dir(repo().join("data-samples/orders"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    orders.sort();
    assert_eq!(inputs.len(), orders.len(), "{inputs:?}");
    for (entry, file) in inputs.iter().zip(&orders) {
        let parts: Vec<&str> = entry.split('|').collect();
        let meta = std::fs::metadata(file).unwrap();
        assert_eq!(std::path::Path::new(parts[0]), file.as_path(), "{entry}");
        assert_eq!(parts[1], meta.len().to_string(), "{entry}");
        let mtime: chrono::DateTime<chrono::Utc> = meta.modified().unwrap().into();
        let recorded = chrono::DateTime::parse_from_rfc3339(parts[2]).unwrap();
        assert_eq!(recorded, mtime, "{entry}");
    }
    // 2.5M rows: row groups of 1,048,576 rows, every column zstd.
    assert_eq!(got["groups"], serde_json::json!([1048576, 1048576, 402848]));
    assert_eq!(got["codecs"], serde_json::json!(["ZSTD"]));
}

#[test]
fn a_rollup_goes_stale_when_the_fiscal_year_or_time_zone_changes() {
    let d = tempfile::tempdir().unwrap();
    sample_copy(d.path());
    let toml = d.path().join("cpiq.toml");
    let cpiq = |args: &[&str]| cpiq_in(d.path(), args);
    let set = |line: &str| {
        let text = std::fs::read_to_string(&toml).unwrap();
        let text = text
            .lines()
            .filter(|l| !l.starts_with("fiscal_year_start") && !l.starts_with("timezone"))
            .map(|l| {
                if l == "[settings]" {
                    format!("[settings]\n{line}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&toml, text).unwrap();
    };
    let state = || {
        let status = cpiq(&["rollup", "status", "-f", "csv"]).ok();
        csv_rows(&status)[1].clone()
    };
    for (change, was) in [
        (
            "fiscal_year_start = 4",
            "fiscal_year_start=1; timezone=(each column's own)",
        ),
        (
            "timezone = \"America/New_York\"",
            "fiscal_year_start=1; timezone=Europe/Berlin",
        ),
    ] {
        if change.starts_with("timezone") {
            set("timezone = \"Europe/Berlin\"");
        } else {
            set("");
        }
        cpiq(&["rollup", "build", "on_time_delivery", "--grain", "quarter"]).ok();
        assert!(state().contains(&"fresh".to_string()), "{:?}", state());
        set(change);
        let row = state();
        assert!(row.contains(&"stale".to_string()), "{change}: {row:?}");
        assert!(
            row.iter()
                .any(|c| c == &format!("built with another calendar ({was})")),
            "{change}: {row:?}"
        );
        // A stale rollup answers nothing: the slice reads the raw events.
        let explain = cpiq(&[
            "slice",
            "on_time_delivery",
            "--per",
            "year",
            "--explain",
            "-f",
            "csv",
        ])
        .ok();
        assert!(
            explain.contains("on_time_delivery,raw,rollup stale"),
            "{explain}"
        );
    }
}

#[test]
fn an_empty_slice_answered_from_a_rollup_is_the_raw_answer() {
    // Found by the long differential run: `--per all` over no events read
    // from a rollup failed ("events … contains null values").
    let d = tempfile::tempdir().unwrap();
    sample_copy(d.path());
    let cpiq = |args: &[&str]| cpiq_in(d.path(), args);
    cpiq(&["rollup", "build", "on_time_delivery"]).ok();
    let slice = |raw: bool| {
        let mut args = vec![
            "slice",
            "on_time_delivery",
            "--per",
            "all",
            "--where",
            "region IS NULL",
            "-f",
            "csv",
        ];
        if raw {
            args.push("--raw");
        }
        cpiq(&args).ok()
    };
    let from_rollup = slice(false);
    assert_eq!(from_rollup, slice(true));
    let rows = csv_rows(&from_rollup);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    assert_eq!(rows[1][col("events")], "0", "{from_rollup}");
    assert_eq!(rows[1][col("value")], "", "{from_rollup}");
}

/// The README's quick start (issue 21, item 8): every line it shows at the
/// `cpiq>` prompt runs on the bundled sample as written (the export goes to
/// a temporary folder instead of /tmp), and what it says they show is there.
#[test]
fn the_quick_starts_prompt_lines_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let quick =
        &readme[readme.find("## Quick start").unwrap()..readme.find("## Concepts").unwrap()];
    let d = tempfile::tempdir().unwrap();
    let tmp = format!("{}/", d.path().display());
    let lines: Vec<String> = quick
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cpiq> "))
        .map(|l| l.replace("/tmp/", &tmp))
        .collect();
    assert!(lines.len() >= 6, "{lines:?}");
    let script: String = lines.iter().map(|l| format!("{l}\n")).collect();
    // As the shell shows them: tables, with the verdict sentences.
    let run = cpiq_stdin(
        d.path(),
        &["-w", repo().to_str().unwrap(), "-f", "table"],
        &script,
    );
    assert_eq!(run.code, 0, "{lines:?}\n{}", run.stderr);
    // What the text promises.
    for shown in [
        "first_contact_resolution leads kpi_monthly.nps by 1 month, r = 0.69, q < 0.001",
        "null_percentage",
        "time_range",
        "missed",
    ] {
        assert!(
            run.stdout.contains(shown) || run.stderr.contains(shown),
            "{shown}: {}",
            run.stdout
        );
    }
    assert!(d.path().join("missed.parquet").is_file());
    // Every page the README and docs/ link to exists.
    let mut pages = vec![repo().join("README.md")];
    pages.extend(
        std::fs::read_dir(repo().join("docs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let target = &target[..target.find(')').unwrap_or(0)];
            if target.starts_with("http") || target.starts_with('#') || target.is_empty() {
                continue;
            }
            let file = target.split('#').next().unwrap();
            assert!(
                page.parent().unwrap().join(file).exists(),
                "{} links to {target}, which is not there",
                page.display()
            );
        }
    }
}

/// docs/shell.md documents every backslash command `\?` lists.
#[test]
fn every_shell_command_is_in_the_shell_page() {
    let page = std::fs::read_to_string(repo().join("docs/shell.md")).unwrap();
    for c in cpiq::exec::COMMANDS {
        assert!(
            page.contains(&format!("`\\{}", c.name)),
            "docs/shell.md does not document \\{}",
            c.name
        );
    }
}
