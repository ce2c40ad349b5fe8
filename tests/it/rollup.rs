//! Rollups (issue 7): slices answered from a rollup equal the same slices
//! read from the raw events; a rollup whose files, definition or parameter
//! values changed is never used; new files are folded in by refresh (and
//! CPIs that aggregate their table are rebuilt instead).

use std::path::Path;

use crate::support::{TempWorkspace, cpiq_in, records, same_slices};

/// A generated workspace of its own (tests here change its files).
fn workspace(months: u32) -> tempfile::TempDir {
    crate::support::generate(1500, months, 11)
}

const ALL: &str = "complete_delivery,damage_free_delivery,first_contact_resolution,on_time_delivery,quote_answered_within,resolved_within_sla,return_completed_within,time_to_first_response";

/// Slice shapes every shipped CPI supports.
const SHAPES: &[&[&str]] = &[
    &["--by", "channel", "--per", "month"],
    &[
        "--by",
        "segment,channel",
        "--per",
        "week",
        "--from",
        "2024-02-05",
        "--to",
        "2024-08-05",
    ],
    &[
        "--by",
        "region",
        "--per",
        "quarter",
        "--where",
        "channel = 'web'",
    ],
    &["--per", "all"],
    &[
        "--by",
        "channel",
        "--per",
        "day",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-15",
    ],
    &[
        "--by",
        "segment",
        "--per",
        "month",
        "--compare",
        "previous",
        "--from",
        "2024-03-01",
    ],
    &[
        "--per",
        "month",
        "--compare",
        "year",
        "--from",
        "2024-02-15",
    ],
    &[
        "--by",
        "channel",
        "--per",
        "week",
        "--fill",
        "--where",
        "segment IN ('consumer', 'smb')",
    ],
    &["--per", "year"],
];

fn slice(dir: &Path, cpis: &str, shape: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["-f", "csv", "slice", cpis];
    args.extend_from_slice(shape);
    args.extend_from_slice(extra);
    cpiq_in(dir, &args).ok()
}

/// The source each CPI of a slice would read, from `--explain`.
fn sources(
    dir: &Path,
    cpis: &str,
    shape: &[&str],
    extra: &[&str],
) -> Vec<(String, String, String)> {
    let mut e = extra.to_vec();
    e.push("--explain");
    records(&slice(dir, cpis, shape, &e))
        .into_iter()
        .map(|r| (r["cpi"].clone(), r["source"].clone(), r["detail"].clone()))
        .collect()
}

#[test]
fn rollup_answers_equal_raw_answers_for_every_cpi_and_shape() {
    let ws = workspace(12);
    let dir = ws.path();
    let before = sources(dir, ALL, SHAPES[0], &[]);
    assert!(
        before
            .iter()
            .all(|(_, s, d)| s == "raw" && d == "no rollup"),
        "{before:?}"
    );

    let built = records(&cpiq_in(dir, &["-f", "csv", "rollup", "build"]).ok());
    assert_eq!(built.len(), 10);
    for r in &built {
        assert_eq!(r["state"], "built");
        assert_eq!(r["grain"], "day");
        assert!(r["rows"].parse::<u64>().unwrap() > 100, "{r:?}");
    }
    assert!(
        dir.join(".cpiq/rollups/on_time_delivery/manifest.json")
            .is_file()
    );

    for shape in SHAPES {
        let used = sources(dir, ALL, shape, &[]);
        assert_eq!(used.len(), 8);
        for (cpi, source, detail) in &used {
            assert_eq!(source, "rollup", "{cpi} {shape:?}: {detail}");
            assert!(
                detail.contains(&format!("from rollup {cpi} (day")),
                "{detail}"
            );
        }
        same_slices(
            &slice(dir, ALL, shape, &[]),
            &slice(dir, ALL, shape, &["--raw"]),
        );
    }
    // What a rollup does not keep goes to the raw events, saying why.
    let by_customer = sources(dir, "on_time_delivery", &["--by", "customer_id"], &[]);
    assert_eq!(by_customer[0].1, "raw");
    assert_eq!(by_customer[0].2, "the rollup does not keep \"customer_id\"");
    let on_time = sources(
        dir,
        "on_time_delivery",
        &["--where", "promised_at >= '2024-03-01'"],
        &[],
    );
    assert_eq!(
        on_time[0].2,
        "--where reads \"promised_at\", which the rollup does not keep"
    );
    let raw = sources(dir, "on_time_delivery", &[], &["--raw"]);
    assert_eq!((raw[0].1.as_str(), raw[0].2.as_str()), ("raw", "--raw"));
    // Other parameter values than the rollup was built with: raw.
    let eight = sources(dir, "quote_answered_within", &[], &["-p", "hours=8"]);
    assert_eq!(eight[0].1, "raw");
    assert!(eight[0].2.contains("other parameter values"), "{eight:?}");
}

#[test]
fn coarser_rollups_answer_only_the_periods_they_divide() {
    let ws = workspace(12);
    let dir = ws.path();
    let built = cpiq_in(
        dir,
        &[
            "-f",
            "csv",
            "rollup",
            "build",
            "first_contact_resolution",
            "--grain",
            "month",
        ],
    )
    .ok();
    assert_eq!(records(&built)[0]["grain"], "month");
    let fcr = "first_contact_resolution";
    for (shape, expect) in [
        (&["--per", "quarter", "--by", "category"][..], "rollup"),
        (&["--per", "year"][..], "rollup"),
        (
            &[
                "--per",
                "month",
                "--from",
                "2024-03-01",
                "--to",
                "2024-06-01",
            ][..],
            "rollup",
        ),
        (&["--per", "week"][..], "raw"),
        (&["--per", "month", "--from", "2024-03-15"][..], "raw"),
    ] {
        let s = sources(dir, fcr, shape, &[]);
        assert_eq!(s[0].1, expect, "{shape:?}: {}", s[0].2);
        same_slices(
            &slice(dir, fcr, shape, &[]),
            &slice(dir, fcr, shape, &["--raw"]),
        );
    }
    assert_eq!(
        sources(dir, fcr, &["--per", "week"], &[])[0].2,
        "a month rollup cannot give week periods"
    );
    assert_eq!(
        sources(dir, fcr, &["--per", "month", "--from", "2024-03-15"], &[])[0].2,
        "2024-03-15 is not the start of a month of the rollup"
    );
    // \sql shows which rollup the last slice read.
    let out = crate::support::cpiq_stdin(
        dir,
        &["-f", "csv"],
        "\\slice first_contact_resolution per quarter\n\\sql\n",
    )
    .ok();
    assert!(
        out.contains("-- first_contact_resolution: from rollup first_contact_resolution (month"),
        "{out}"
    );
    assert!(
        out.contains("FROM cpiq_rollup.first_contact_resolution"),
        "{out}"
    );
}

fn state(dir: &Path, cpi: &str) -> (String, String) {
    let out = cpiq_in(dir, &["-f", "csv", "rollup", "status", cpi]).ok();
    let r = &records(&out)[0];
    (r["state"].clone(), r["detail"].clone())
}

fn refresh(dir: &Path) -> Vec<(String, String, String)> {
    let out = cpiq_in(dir, &["-f", "csv", "rollup", "refresh"]).ok();
    records(&out)
        .into_iter()
        .map(|r| (r["cpi"].clone(), r["state"].clone(), r["detail"].clone()))
        .collect()
}

#[test]
fn stale_rollups_are_never_used_and_refresh_folds_in_new_files() {
    let ws = workspace(12);
    let dir = ws.path();
    let otd = "on_time_delivery";
    let shape: &[&str] = &["--by", "channel,region", "--per", "month"];
    cpiq_in(dir, &["rollup", "build", otd, "first_contact_resolution"]).ok();
    assert_eq!(state(dir, otd), ("fresh".into(), String::new()));

    // A new month arrives: the orders CPIs' rollups are stale, the support
    // cases' one is not.
    let later = workspace(13);
    let orders = dir.join("data-samples/orders");
    std::fs::copy(
        later.path().join("data-samples/orders/2025-01.parquet"),
        orders.join("2025-01.parquet"),
    )
    .unwrap();
    let (s, why) = state(dir, otd);
    assert_eq!(s, "stale");
    assert_eq!(
        why,
        "1 new file in orders (cpiq rollup refresh folds it in)"
    );
    assert_eq!(state(dir, "first_contact_resolution").0, "fresh");
    let used = sources(dir, otd, shape, &[]);
    assert_eq!(used[0].1, "raw");
    assert!(
        used[0].2.starts_with("rollup stale: 1 new file in orders"),
        "{used:?}"
    );
    let raw_with_new_month = slice(dir, otd, shape, &["--raw"]);
    assert!(raw_with_new_month.contains("2025-01-01"));

    let done = refresh(dir);
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(
        done.contains(&(
            "first_contact_resolution".into(),
            "unchanged".into(),
            String::new()
        )),
        "{done:?}"
    );
    assert!(
        done.contains(&(
            otd.into(),
            "folded in".into(),
            "1 new file of orders: 2025-01.parquet".into()
        )),
        "{done:?}"
    );
    assert_eq!(sources(dir, otd, shape, &[])[0].1, "rollup");
    assert_eq!(slice(dir, otd, shape, &[]), raw_with_new_month);
    let parts = std::fs::read_dir(dir.join(".cpiq/rollups").join(otd))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count();
    assert_eq!(parts, 2, "the new month is a second part");

    // A rewritten file: stale, then rebuilt (one part again).
    std::fs::copy(
        orders.join("2024-06.parquet"),
        orders.join("2024-05.parquet"),
    )
    .unwrap();
    assert_eq!(
        state(dir, otd),
        ("stale".into(), "orders: 2024-05.parquet changed".into())
    );
    assert_eq!(sources(dir, otd, shape, &[])[0].1, "raw");
    let raw = slice(dir, otd, shape, &["--raw"]);
    let done = refresh(dir);
    assert!(
        done.contains(&(
            otd.into(),
            "rebuilt".into(),
            "orders: 2024-05.parquet changed".into()
        )),
        "{done:?}"
    );
    assert_eq!(slice(dir, otd, shape, &[]), raw);

    // A removed file.
    std::fs::remove_file(orders.join("2024-04.parquet")).unwrap();
    assert_eq!(
        state(dir, otd),
        ("stale".into(), "orders: 2024-04.parquet was removed".into())
    );
    let raw = slice(dir, otd, shape, &["--raw"]);
    refresh(dir);
    assert_eq!(sources(dir, otd, shape, &[])[0].1, "rollup");
    assert_eq!(slice(dir, otd, shape, &[]), raw);

    // A changed definition (not just its header).
    let def = dir.join("queries/cpis/on_time_delivery.sql");
    let text = std::fs::read_to_string(&def).unwrap();
    std::fs::write(
        &def,
        text.replace("delivered_at <= promised_at", "delivered_at < promised_at"),
    )
    .unwrap();
    let (s, why) = state(dir, otd);
    assert_eq!(
        (s.as_str(), why.as_str()),
        (
            "stale",
            "built from another definition or other parameter values"
        )
    );
    let raw = slice(dir, otd, shape, &["--raw"]);
    assert_eq!(slice(dir, otd, shape, &[]), raw);
}

/// A directory table of CSV files and two CPIs over it: one row by row, one
/// that first aggregates the rows per ticket.
fn ticket_workspace() -> TempWorkspace {
    let ws = TempWorkspace::with_own_cpis(
        &[],
        &[
            (
                "solved_rate.sql",
                "-- cpi: solved_rate\n-- label: Solved\n-- direction: higher_is_better\n-- unit: percent\n-- time: opened_at\n-- dimensions: channel\n\
                 SELECT opened_at, channel, CASE WHEN solved THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM tickets\n",
            ),
            (
                "one_touch.sql",
                "-- cpi: one_touch\n-- label: One touch\n-- direction: higher_is_better\n-- unit: percent\n-- time: opened_at\n-- dimensions: channel\n\
                 SELECT MIN(opened_at) AS opened_at, channel, CASE WHEN COUNT(*) = 1 THEN 1 ELSE 0 END AS numerator, 1 AS denominator\n\
                 FROM tickets GROUP BY ticket, channel\n",
            ),
        ],
    );
    let t = ws.path().join("tickets");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(
        t.join("2024-01.csv"),
        "ticket,opened_at,channel,solved\n1,2024-01-03T10:00:00,web,true\n1,2024-01-04T10:00:00,web,true\n2,2024-01-05T09:00:00,phone,false\n3,2024-01-20T09:00:00,web,true\n",
    )
    .unwrap();
    let toml = ws.path().join("cpiq.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[tables.tickets]\npath = \"tickets\"\nformat = \"csv\"\n");
    std::fs::write(&toml, text).unwrap();
    ws
}

#[test]
fn a_cpi_that_aggregates_its_table_is_rebuilt_instead_of_folded() {
    let ws = ticket_workspace();
    let dir = ws.path();
    let built = records(&ws.cpiq(&["-f", "csv", "rollup", "build"]).ok());
    assert_eq!(built.len(), 2);
    // Hand-worked: January, web: tickets 1 (two rows, solved) and 3; phone: ticket 2.
    let s = records(&slice(dir, "solved_rate", &["--by", "channel"], &[]));
    assert_eq!(
        (
            s[1]["channel"].as_str(),
            s[1]["numerator"].as_str(),
            s[1]["events"].as_str()
        ),
        ("web", "3.0", "3")
    );
    // A second month, in which ticket 3 gets a second contact.
    std::fs::write(
        dir.join("tickets/2024-02.csv"),
        "ticket,opened_at,channel,solved\n3,2024-02-01T09:00:00,web,false\n4,2024-02-02T09:00:00,web,true\n",
    )
    .unwrap();
    let done = refresh(dir);
    assert_eq!(done[0].0, "one_touch");
    assert_eq!(done[0].1, "rebuilt");
    assert_eq!(
        done[0].2,
        "1 new files in tickets, but the CPI aggregates, windows, sorts or limits tickets, so new rows can change old cells"
    );
    assert_eq!(
        (done[1].0.as_str(), done[1].1.as_str()),
        ("solved_rate", "folded in")
    );
    for cpi in ["solved_rate", "one_touch"] {
        for shape in [&["--by", "channel"][..], &["--per", "all"][..]] {
            assert_eq!(sources(dir, cpi, shape, &[])[0].1, "rollup");
            assert_eq!(
                slice(dir, cpi, shape, &[]),
                slice(dir, cpi, shape, &["--raw"]),
                "{cpi} {shape:?}"
            );
        }
    }
    // Ticket 3 now has two contacts: one touch for tickets 2 and 4 only, of 4.
    let all = records(&slice(dir, "one_touch", &["--per", "all"], &[]));
    assert_eq!(
        (all[0]["numerator"].as_str(), all[0]["denominator"].as_str()),
        ("2.0", "4.0")
    );
}

#[test]
fn rollup_commands_refuse_to_write_in_read_only_sessions_and_name_unknown_cpis() {
    let ws = ticket_workspace();
    let r = ws.cpiq(&["--read-only", "rollup", "build"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("read-only session: rollup build, refresh and drop is refused"),
        "{}",
        r.stderr
    );
    assert!(!ws.path().join(".cpiq").exists());
    ws.cpiq(&["--read-only", "rollup", "status"]).ok();
    let r = ws.cpiq(&["rollup", "build", "nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown CPI \"nope\" (known: one_touch, solved_rate)"),
        "{}",
        r.stderr
    );
    let r = ws.cpiq(&["rollup", "refresh", "solved_rate"]);
    assert!(
        r.stderr
            .contains("CPI solved_rate has no rollup to refresh (cpiq rollup build solved_rate)"),
        "{}",
        r.stderr
    );
    let r = ws.cpiq(&["rollup", "build", "--grain", "all"]);
    assert_eq!(r.code, 2);
    // A damaged manifest: reported by status, and slices read the raw events.
    ws.cpiq(&["rollup", "build", "solved_rate"]).ok();
    std::fs::write(
        ws.path().join(".cpiq/rollups/solved_rate/manifest.json"),
        "{ not json",
    )
    .unwrap();
    let st = records(
        &ws.cpiq(&["-f", "csv", "rollup", "status", "solved_rate"])
            .ok(),
    );
    assert_eq!(st[0]["state"], "unreadable");
    assert!(
        st[0]["detail"].contains("manifest.json:1: unreadable rollup manifest"),
        "{:?}",
        st[0]
    );
    let s = sources(ws.path(), "solved_rate", &[], &[]);
    assert_eq!(s[0].1, "raw");
    assert!(s[0].2.starts_with("rollup unusable:"), "{s:?}");
    // Drop removes it; the shell and scripts reach the same commands.
    let out = crate::support::cpiq_stdin(
        ws.path(),
        &["-f", "csv"],
        "\\rollup drop solved_rate\n\\rollup status\n",
    )
    .ok();
    assert!(
        !ws.path().join(".cpiq/rollups/solved_rate").exists(),
        "{out}"
    );
}

#[test]
fn a_long_session_sees_new_files_and_its_rollups_follow() {
    let ws = workspace(6);
    let script = "\\rollup build on_time_delivery\n\
        \\slice on_time_delivery per all\n\
        COPY (SELECT * FROM orders WHERE promised_at < TIMESTAMP '2024-02-01') TO 'data-samples/orders/2099-01.parquet';\n\
        \\slice on_time_delivery per all explain\n\
        \\slice on_time_delivery per all\n\
        \\rollup refresh\n\
        \\slice on_time_delivery per all explain\n\
        \\slice on_time_delivery per all\n";
    let out = crate::support::cpiq_stdin(ws.path(), &["-f", "csv"], script).ok();
    let events: Vec<u64> = out
        .lines()
        .filter(|l| {
            l.starts_with("on_time_delivery,") && !l.contains(",raw,") && !l.contains(",rollup,")
        })
        .filter_map(|l| l.split(',').nth(4).and_then(|e| e.parse().ok()))
        .collect();
    assert_eq!(events.len(), 3, "{out}");
    assert!(
        events[1] > events[0],
        "the new file is read in the same session: {events:?}"
    );
    assert_eq!(events[2], events[1], "the refreshed rollup holds it too");
    assert!(out.contains("rollup stale: 1 new file in orders"), "{out}");
    assert!(out.contains("folded in"), "{out}");
}

/// Issue 22, item 3: in the shell, a slice read from the raw events leaves
/// its CPI's day rollup behind (built in the background), and the next
/// slice it covers is answered from it, with the same cells.
#[test]
fn a_second_covered_slice_in_the_shell_is_answered_from_the_rollup_the_first_left() {
    use crate::shell::{run, shell};
    let ws = workspace(6);
    let dir = ws.path();
    let raw = slice(
        dir,
        "on_time_delivery",
        &["--by", "channel", "--per", "quarter"],
        &["--raw"],
    );
    let mut p = shell(dir, &dir.join("history"));
    run(&mut p, "\\format csv");
    let first = run(&mut p, "\\slice on_time_delivery by channel per month");
    assert!(first.contains("on_time_delivery,"), "{first}");
    // The build's end is visible in `\rollup status`: wait for it there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        let out = crate::support::pty_text(&run(&mut p, "\\rollup status"));
        if out.contains(",fresh,") {
            break out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rollup built: {out}"
        );
    };
    assert!(
        status.contains("built automatically after: \\slice on_time_delivery by channel per month"),
        "{status}"
    );
    assert!(status.contains("on_time_delivery,day,"), "{status}");
    let second = run(&mut p, "\\slice on_time_delivery by channel per quarter");
    let sql = crate::support::pty_text(&run(&mut p, "\\sql"));
    assert!(sql.contains("from rollup on_time_delivery (day,"), "{sql}");
    // The same cells as the raw events give (the pty ends lines with \r\n).
    let cells = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .filter(|l| l.starts_with("on_time_delivery,"))
            .collect()
    };
    assert_eq!(cells(&second), cells(&raw));
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    // Nothing but the rollup itself is left in its folder.
    let left: Vec<String> = std::fs::read_dir(dir.join(".cpiq/rollups/on_time_delivery"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".parquet") && n != "manifest.json" && n != ".lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Two processes building and refreshing one rollup at once take turns
/// (the rollup's build lock): the rollup is always whole and its answers
/// are the raw answers.
#[test]
fn two_processes_building_one_rollup_at_once_never_corrupt_it() {
    let ws = workspace(12);
    let dir = ws.path();
    let otd = "on_time_delivery";
    let shape: &[&str] = &["--by", "channel,region", "--per", "month"];
    let later = workspace(13);
    for round in 0..4 {
        if round == 2 {
            // New files: refresh folds them in while a build rebuilds.
            std::fs::copy(
                later.path().join("data-samples/orders/2025-01.parquet"),
                dir.join("data-samples/orders/2025-01.parquet"),
            )
            .unwrap();
        }
        let second = if round % 2 == 0 { "build" } else { "refresh" };
        let spawn = |action: &str| {
            std::process::Command::new(crate::support::bin())
                .args(["rollup", action, otd])
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("build"), spawn(second));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(state(dir, otd).0, "fresh", "round {round}");
        assert_eq!(
            sources(dir, otd, shape, &[])[0].1,
            "rollup",
            "round {round}"
        );
        assert_eq!(
            slice(dir, otd, shape, &[]),
            slice(dir, otd, shape, &["--raw"]),
            "round {round}"
        );
    }
}
