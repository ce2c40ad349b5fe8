//! Slicing (issue 3): every shipped CPI against plain SQL over the base
//! tables for every grain; comparisons, filled gaps, fiscal quarters, ISO
//! weeks, Wilson intervals and insufficient cells against hand-worked values;
//! explain-change effects that add up; helpful errors; the same numbers from
//! the CLI, the shell and SQL.

use std::collections::HashMap;

use crate::support::{TempWorkspace, cpiq_in, cpiq_stdin, generated, realdata, records, scalar};

/// Rows of a CSV result as maps from column name to field.
fn f(s: &str) -> Option<f64> {
    if s.is_empty() {
        None
    } else {
        Some(s.parse().unwrap())
    }
}

#[track_caller]
fn close(a: Option<f64>, b: Option<f64>) {
    match (a, b) {
        (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{x} vs {y}"),
        (None, None) => {}
        _ => panic!("{a:?} vs {b:?}"),
    }
}

/// Each shipped CPI written independently over its base table: time column,
/// numerator expression, denominator expression, table and filter. Durations
/// use interval arithmetic and raw microseconds instead of the CPIs'
/// epoch-second arithmetic.
const INDEPENDENT: [(&str, &str, &str, &str, &str); 8] = [
    (
        "first_contact_resolution",
        "opened_at",
        "CASE WHEN contacts = 1 THEN 1 ELSE 0 END",
        "support_cases",
        "resolved_at IS NOT NULL",
    ),
    (
        "resolved_within_sla",
        "opened_at",
        "CASE WHEN resolved_at <= opened_at + INTERVAL '24 hours' THEN 1 ELSE 0 END",
        "support_cases",
        "TRUE",
    ),
    (
        "time_to_first_response",
        "opened_at",
        "(CAST(first_response_at AS BIGINT) - CAST(opened_at AS BIGINT)) / 3600000000.0",
        "support_cases",
        "first_response_at IS NOT NULL",
    ),
    (
        "complete_delivery",
        "promised_at",
        "CASE WHEN items_delivered = items_ordered THEN 1 ELSE 0 END",
        "orders",
        "delivered_at IS NOT NULL",
    ),
    (
        "on_time_delivery",
        "promised_at",
        "CASE WHEN delivered_at > promised_at THEN 0 ELSE 1 END",
        "orders",
        "delivered_at IS NOT NULL",
    ),
    (
        "damage_free_delivery",
        "promised_at",
        "CASE WHEN NOT damaged THEN 1 ELSE 0 END",
        "orders",
        "delivered_at IS NOT NULL",
    ),
    (
        "return_completed_within",
        "requested_at",
        "CASE WHEN completed_at <= requested_at + INTERVAL '7 days' THEN 1 ELSE 0 END",
        "returns",
        "TRUE",
    ),
    (
        "quote_answered_within",
        "requested_at",
        "CASE WHEN answered_at <= requested_at + INTERVAL '4 hours' THEN 1 ELSE 0 END",
        "quote_requests",
        "TRUE",
    ),
];

#[test]
fn every_shipped_cpi_slices_like_plain_sql_for_every_grain() {
    let ws = generated();
    for (cpi, time, num, table, filter) in INDEPENDENT {
        for grain in ["day", "week", "month", "quarter", "year", "all"] {
            let slice = records(&cpiq_in(ws, &["slice", cpi, "--per", grain, "-f", "csv"]).ok());
            let period = if grain == "all" {
                "DATE '1970-01-01'".to_string()
            } else {
                format!("CAST(date_trunc('{grain}', {time}) AS DATE)")
            };
            let plain = format!(
                "SELECT {period} AS period, SUM(CAST({num} AS DOUBLE)) AS n, COUNT(*) AS d FROM {table} WHERE {filter} GROUP BY 1 ORDER BY 1"
            );
            let expected = records(&cpiq_in(ws, &["sql", &plain, "-f", "csv"]).ok());
            assert_eq!(slice.len(), expected.len(), "{cpi} per {grain}: row counts");
            for (s, e) in slice.iter().zip(&expected) {
                if grain != "all" {
                    assert_eq!(s["period"], e["period"], "{cpi} per {grain}");
                }
                close(f(&s["numerator"]), f(&e["n"]));
                close(f(&s["denominator"]), f(&e["d"]));
                let d: f64 = e["d"].parse().unwrap();
                let value = if d >= 30.0 {
                    Some(f(&e["n"]).unwrap() / d)
                } else {
                    None
                };
                close(f(&s["value"]), value);
            }
        }
    }
}

#[test]
fn dimension_cells_add_up_to_the_undivided_total() {
    let ws = generated();
    let split = records(
        &cpiq_in(
            ws,
            &[
                "slice",
                "on_time_delivery,first_contact_resolution",
                "--by",
                "channel,segment",
                "--per",
                "quarter",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let whole = records(
        &cpiq_in(
            ws,
            &[
                "slice",
                "on_time_delivery,first_contact_resolution",
                "--per",
                "quarter",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let mut sums: HashMap<(String, String), (f64, f64, i64)> = HashMap::new();
    for r in &split {
        let e = sums
            .entry((r["cpi"].clone(), r["period"].clone()))
            .or_default();
        e.0 += f(&r["numerator"]).unwrap();
        e.1 += f(&r["denominator"]).unwrap();
        e.2 += r["events"].parse::<i64>().unwrap();
    }
    assert_eq!(sums.len(), whole.len());
    for r in &whole {
        let (n, d, ev) = sums[&(r["cpi"].clone(), r["period"].clone())];
        close(Some(n), f(&r["numerator"]));
        close(Some(d), f(&r["denominator"]));
        assert_eq!(ev.to_string(), r["events"]);
    }
}

const EVENTS: &str = "at,channel,ok
2023-01-05 10:00:00,web,1
2023-01-20 10:00:00,web,0
2023-01-25 10:00:00,web,0
2024-01-01 09:00:00,web,1
2024-01-03 09:00:00,web,0
2024-01-07 23:00:00,app,1
2024-01-08 09:00:00,web,1
2024-02-10 09:00:00,web,1
2024-02-11 09:00:00,app,0
2024-02-12 09:00:00,app,1
2024-04-15 09:00:00,web,0
2024-04-16 09:00:00,web,0
";

const RATE_CPI: &str = "-- cpi: rate
-- label: Hand-checked rate
-- unit: percent
-- direction: higher_is_better
-- target: 0.5
-- min_denominator: 2
-- time: at
-- dimensions: channel
SELECT at, channel, ok AS numerator, 1 AS denominator FROM events
";

fn hand(extra_settings: &str) -> TempWorkspace {
    let ws = TempWorkspace::with_own_cpis(
        &[("events", "events.csv", EVENTS)],
        &[("rate.sql", RATE_CPI)],
    );
    if !extra_settings.is_empty() {
        let cfg = ws.path().join("cpiq.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{text}\n[settings]\n{extra_settings}\n")).unwrap();
    }
    ws
}

#[test]
fn month_slices_with_fill_compare_wilson_and_insufficient_cells() {
    let ws = hand("");
    let out = ws
        .cpiq(&[
            "slice",
            "rate",
            "--by",
            "channel",
            "--from",
            "2024-01-01",
            "--to",
            "2024-05-01",
            "--fill",
            "--compare",
            "year",
            "-f",
            "csv",
        ])
        .ok();
    let rows = records(&out);
    let got: Vec<(String, String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["period"].clone(),
                r["channel"].clone(),
                r["value"].clone(),
                r["events"].clone(),
                r["status"].clone(),
            )
        })
        .collect();
    let want = [
        ("2024-01-01", "app", "", "1", "insufficient"),
        ("2024-01-01", "web", "0.6666666666666666", "3", "met"),
        ("2024-02-01", "app", "0.5", "2", "met"),
        ("2024-02-01", "web", "", "1", "insufficient"),
        ("2024-03-01", "app", "", "0", "insufficient"),
        ("2024-03-01", "web", "", "0", "insufficient"),
        ("2024-04-01", "app", "", "0", "insufficient"),
        ("2024-04-01", "web", "0.0", "2", "missed"),
    ];
    let want: Vec<(String, String, String, String, String)> = want
        .iter()
        .map(|w| (w.0.into(), w.1.into(), w.2.into(), w.3.into(), w.4.into()))
        .collect();
    assert_eq!(got, want, "{out}");
    let jan_web = &rows[1];
    // Wilson 95% for 2 of 3, worked out by hand.
    close(f(&jan_web["ci_low"]), Some(0.2076596008020477));
    close(f(&jan_web["ci_high"]), Some(0.9385080552796037));
    // January 2023, web: 1 of 3.
    close(f(&jan_web["previous_value"]), Some(1.0 / 3.0));
    close(f(&jan_web["change"]), Some(2.0 / 3.0 - 1.0 / 3.0));
    close(f(&jan_web["change_pct"]), Some(100.0));
    // Insufficient cells have no value and no interval; missed is direction-aware.
    assert_eq!(rows[0]["ci_low"], "");
    close(f(&rows[7]["ci_high"]), Some(0.6576197724933469));
    assert_eq!(
        out.lines().next().unwrap(),
        "cpi,period,channel,value,numerator,denominator,events,target,status,ci_low,ci_high,previous_value,change,change_pct"
    );
}

#[test]
fn compare_previous_uses_the_period_before_even_outside_the_range() {
    let out = hand("")
        .cpiq(&[
            "slice",
            "rate",
            "--per",
            "month",
            "--from",
            "2024-02-01",
            "--to",
            "2024-03-01",
            "--compare",
            "previous",
            "-f",
            "csv",
        ])
        .ok();
    let rows = records(&out);
    assert_eq!(rows.len(), 1, "{out}");
    // February 2024: 2 of 3; January 2024 (outside --from): 3 of 4.
    close(f(&rows[0]["value"]), Some(2.0 / 3.0));
    close(f(&rows[0]["previous_value"]), Some(3.0 / 4.0));
}

#[test]
fn iso_weeks_start_on_monday() {
    let out = hand("")
        .cpiq(&[
            "slice",
            "rate",
            "--per",
            "week",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-15",
            "-f",
            "csv",
        ])
        .ok();
    let rows = records(&out);
    // Mon 1 Jan .. Sun 7 Jan 23:00: 2 of 3; Mon 8 Jan: 1 of 1.
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(
        (
            rows[0]["period"].as_str(),
            rows[0]["numerator"].as_str(),
            rows[0]["denominator"].as_str()
        ),
        ("2024-01-01", "2.0", "3.0")
    );
    assert_eq!(
        (rows[1]["period"].as_str(), rows[1]["events"].as_str()),
        ("2024-01-08", "1")
    );
    // 5 Jan 2023 is a Thursday of the week starting Monday 2 Jan.
    let out = hand("")
        .cpiq(&[
            "slice",
            "rate",
            "--per",
            "week",
            "--to",
            "2023-12-31",
            "-f",
            "csv",
        ])
        .ok();
    assert_eq!(records(&out)[0]["period"], "2023-01-02");
}

#[test]
fn fiscal_quarters_follow_the_fiscal_year_start() {
    let out = hand("fiscal_year_start = 2")
        .cpiq(&["slice", "rate", "--per", "quarter", "-f", "csv"])
        .ok();
    let rows = records(&out);
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["period"].as_str(),
                r["numerator"].as_str(),
                r["denominator"].as_str(),
            )
        })
        .collect();
    // Fiscal quarters from February: Nov-Jan, Feb-Apr, ...
    assert_eq!(
        got,
        [
            ("2022-11-01", "1.0", "3.0"),
            ("2023-11-01", "3.0", "4.0"),
            ("2024-02-01", "2.0", "5.0")
        ],
        "{out}"
    );
    let out = hand("")
        .cpiq(&["slice", "rate", "--per", "quarter", "-f", "csv"])
        .ok();
    let periods: Vec<String> = records(&out).iter().map(|r| r["period"].clone()).collect();
    assert_eq!(periods, ["2023-01-01", "2024-01-01", "2024-04-01"]);
}

#[test]
fn where_filters_on_declared_columns_only() {
    let ws = hand("");
    let out = ws
        .cpiq(&[
            "slice",
            "rate",
            "--per",
            "all",
            "--where",
            "channel = 'app'",
            "-f",
            "csv",
        ])
        .ok();
    let r = &records(&out)[0];
    assert_eq!(
        (r["numerator"].as_str(), r["denominator"].as_str()),
        ("2.0", "3.0")
    );
    let r = ws.cpiq(&["slice", "rate", "--where", "ok = 1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "column \"ok\" is not a declared dimension or the time column (allowed: channel, at)"
        ),
        "{}",
        r.stderr
    );
    let r = ws.cpiq(&[
        "slice",
        "rate",
        "--where",
        "channel = 'web'; DROP TABLE events",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty());
}

#[test]
fn slicing_mistakes_are_usage_errors_that_list_what_is_allowed() {
    let ws = hand("");
    let cases = [
        (vec!["slice", "nope"], "unknown CPI \"nope\" (known: rate)"),
        (
            vec!["slice", "rate", "--by", "region"],
            "CPI rate has no dimension \"region\" (its dimensions: channel)",
        ),
        (
            vec!["slice", "rate", "--per", "fortnight"],
            "unknown grain \"fortnight\" (expected one of: day, week, month, quarter, year, all)",
        ),
        (
            vec!["slice", "rate", "--from", "2024-13-01"],
            "--from \"2024-13-01\": expected an ISO date",
        ),
        (
            vec!["slice", "rate", "--per", "all", "--compare", "year"],
            "--compare needs a time grain",
        ),
        (
            vec!["slice", "rate", "--compare", "lastweek"],
            "unknown comparison \"lastweek\"",
        ),
        (
            vec![
                "slice",
                "rate",
                "--from",
                "2024-02-01",
                "--to",
                "2024-01-01",
            ],
            "must be before --to",
        ),
    ];
    for (args, want) in cases {
        let r = ws.cpiq(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?} printed {}", r.stdout);
    }
}

#[test]
fn explain_change_splits_a_simpson_reversal_exactly() {
    // Period 1: web 9/10, app 5/10 (overall 0.70). Period 2: web 2/2, app
    // 10/18 (overall 0.60). Both channels improved; the overall fell because
    // the mix moved to app.
    let mut csv = String::from("at,channel,ok\n");
    let mut add = |day: &str, ch: &str, ok: u32, n: u32| {
        for i in 0..n {
            csv.push_str(&format!("{day} 10:00:{i:02},{ch},{}\n", u32::from(i < ok)));
        }
    };
    add("2024-01-10", "web", 9, 10);
    add("2024-01-11", "app", 5, 10);
    add("2024-02-10", "web", 2, 2);
    add("2024-02-11", "app", 10, 18);
    let cpi = RATE_CPI.replace("-- min_denominator: 2\n", "");
    let ws = TempWorkspace::with_own_cpis(&[("events", "events.csv", &csv)], &[("rate.sql", &cpi)]);
    let out = ws
        .cpiq(&[
            "explain-change",
            "rate",
            "--by",
            "channel",
            "--from-period",
            "2024-01",
            "--to-period",
            "2024-02",
            "-f",
            "csv",
        ])
        .ok();
    let rows = records(&out);
    assert_eq!(
        out.lines().next().unwrap(),
        "channel,share_p1,share_p2,value_p1,value_p2,rate_effect,mix_effect,total_effect"
    );
    let (app, web, total) = (&rows[0], &rows[1], &rows[2]);
    assert_eq!(
        (
            app["channel"].as_str(),
            web["channel"].as_str(),
            total["channel"].as_str()
        ),
        ("app", "web", "")
    );
    // Hand-worked: rate = (v2 - v1)(s1 + s2)/2; mix = (s2 - s1)((v1 + v2)/2 - (V1 + V2)/2).
    close(f(&web["rate_effect"]), Some(0.1 * 0.6 / 2.0));
    close(
        f(&app["rate_effect"]),
        Some((10.0 / 18.0 - 0.5) * 1.4 / 2.0),
    );
    close(f(&web["mix_effect"]), Some(-0.4 * (0.95 - 0.65)));
    close(
        f(&app["mix_effect"]),
        Some(0.4 * ((0.5 + 10.0 / 18.0) / 2.0 - 0.65)),
    );
    close(f(&total["total_effect"]), Some(0.6 - 0.7));
    let sum: f64 = [app, web]
        .iter()
        .map(|r| f(&r["total_effect"]).unwrap())
        .sum();
    close(Some(sum), Some(-0.1));
    assert!(f(&web["rate_effect"]).unwrap() > 0.0 && f(&app["rate_effect"]).unwrap() > 0.0);
}

#[test]
fn explain_change_effects_add_up_on_generated_data() {
    let ws = generated();
    let out = cpiq_in(
        ws,
        &[
            "explain-change",
            "on_time_delivery",
            "--by",
            "region",
            "--from-period",
            "2024-02",
            "--to-period",
            "2024-08",
            "-f",
            "csv",
        ],
    )
    .ok();
    let rows = records(&out);
    let total = rows.last().unwrap();
    let sum: f64 = rows[..rows.len() - 1]
        .iter()
        .map(|r| f(&r["rate_effect"]).unwrap() + f(&r["mix_effect"]).unwrap())
        .sum();
    close(Some(sum), f(&total["total_effect"]));
    let plain = |m: &str| -> f64 {
        let q = format!(
            "SELECT AVG(CASE WHEN delivered_at <= promised_at THEN 1.0 ELSE 0.0 END) FROM orders WHERE status = 'delivered' AND date_trunc('month', promised_at) = TIMESTAMP '{m}-01 00:00:00'"
        );
        scalar(&cpiq_in(ws, &["sql", &q]).ok()).parse().unwrap()
    };
    close(
        f(&total["total_effect"]),
        Some(plain("2024-08") - plain("2024-02")),
    );
}

#[test]
fn the_cli_the_shell_and_sql_give_the_same_slice() {
    let ws = generated();
    let cli = cpiq_in(
        ws,
        &[
            "slice",
            "on_time_delivery,first_contact_resolution",
            "--by",
            "channel",
            "--per",
            "quarter",
            "-f",
            "csv",
        ],
    )
    .ok();
    let shell = cpiq_stdin(
        ws,
        &[],
        "\\slice on_time_delivery,first_contact_resolution by channel per quarter\n",
    );
    assert_eq!(shell.code, 0, "{shell:?}");
    assert_eq!(shell.stdout, cli);
    let sql = cpiq_in(ws, &["sql", "SELECT * FROM cpi_slice('on_time_delivery,first_contact_resolution', 'channel', 'quarter')", "-f", "csv"]).ok();
    assert_eq!(sql, cli);
    // And it composes with SQL: COPY a slice to Parquet.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.parquet");
    let copy = format!(
        "COPY (SELECT cpi, period, channel, value FROM cpi_slice('on_time_delivery', 'channel', 'quarter')) TO '{}'",
        file.display()
    );
    cpiq_in(ws, &["sql", &copy]).ok();
    let back = format!("SELECT COUNT(*) FROM '{}'", file.display());
    let n: usize = scalar(&cpiq_in(ws, &["sql", &back]).ok()).parse().unwrap();
    assert_eq!(
        n,
        cli.lines()
            .filter(|l| l.starts_with("on_time_delivery"))
            .count()
    );
}

#[test]
fn the_terminal_table_shows_units() {
    let out = hand("")
        .cpiq(&[
            "slice",
            "rate",
            "--per",
            "month",
            "--compare",
            "previous",
            "-f",
            "table",
        ])
        .ok();
    assert!(out.contains("75.0%"), "{out}"); // January 2024: 3 of 4
    assert!(out.contains("-8.3 pp"), "{out}"); // February: 2 of 3, vs 3 of 4
    let csv = hand("")
        .cpiq(&["slice", "rate", "--per", "month", "-f", "csv"])
        .ok();
    assert!(csv.contains("0.75,"), "{csv}");
}

#[test]
fn olist_on_time_delivery_per_month_matches_a_hand_count() {
    let text =
        std::fs::read_to_string(realdata().join("olist-sample/olist_orders_dataset.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|h| h.trim_matches('"').to_string())
        .collect();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (st, del, est) = (
        col("order_status"),
        col("order_delivered_customer_date"),
        col("order_estimated_delivery_date"),
    );
    let mut by_month: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    for line in lines {
        let f: Vec<&str> = line.split(',').map(|x| x.trim_matches('"')).collect();
        if f[st] != "delivered" || f[del].is_empty() {
            continue;
        }
        let e = by_month.entry(f[est][..7].to_string()).or_default();
        e.1 += 1;
        if f[del][..10] <= f[est][..10] {
            e.0 += 1;
        }
    }
    let ws = TempWorkspace::with_own_cpis(
        &[("olist_orders", "olist_orders.csv", &text)],
        &[(
            "olist_on_time.sql",
            "-- cpi: olist_on_time\n-- label: On-time delivery (Olist)\n-- unit: percent\n-- direction: higher_is_better\n-- time: estimated_at\n\
SELECT order_estimated_delivery_date AS estimated_at,\n\
       CASE WHEN CAST(order_delivered_customer_date AS DATE) <= CAST(order_estimated_delivery_date AS DATE) THEN 1 ELSE 0 END AS numerator,\n\
       1 AS denominator\nFROM olist_orders\nWHERE order_status = 'delivered' AND order_delivered_customer_date IS NOT NULL\n",
        )],
    );
    let rows = records(
        &ws.cpiq(&["slice", "olist_on_time", "--per", "month", "-f", "csv"])
            .ok(),
    );
    assert_eq!(rows.len(), by_month.len());
    for (r, (month, (ok, n))) in rows.iter().zip(&by_month) {
        assert_eq!(&r["period"][..7], month);
        assert_eq!(r["events"], n.to_string());
        close(f(&r["value"]), Some(*ok as f64 / *n as f64));
    }
}

#[test]
fn zoned_time_columns_are_cut_in_the_workspace_time_zone() {
    // 23:30 UTC on 31 January is 00:30 on 1 February in Berlin.
    let csv = "at,ok\n2024-01-31 22:30:00,0\n2024-01-31 23:30:00,1\n";
    let cpi = "-- cpi: zoned\n-- label: Zoned\n-- unit: percent\n-- direction: higher_is_better\n-- time: at_utc\n\
SELECT arrow_cast(at, 'Timestamp(Second, Some(\"UTC\"))') AS at_utc, ok AS numerator, 1 AS denominator FROM events\n";
    let ws = TempWorkspace::with_own_cpis(&[("events", "events.csv", csv)], &[("zoned.sql", cpi)]);
    let periods = |ws: &TempWorkspace, extra: &[&str]| -> Vec<(String, String)> {
        let mut args = vec!["slice", "zoned", "-f", "csv"];
        args.extend(extra);
        records(&ws.cpiq(&args).ok())
            .iter()
            .map(|r| (r["period"].clone(), r["events"].clone()))
            .collect()
    };
    assert_eq!(
        periods(&ws, &[]),
        [("2024-01-01".to_string(), "2".to_string())]
    );
    let cfg = ws.path().join("cpiq.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{text}\n[settings]\ntimezone = \"Europe/Berlin\"\n"),
    )
    .unwrap();
    assert_eq!(
        periods(&ws, &[]),
        [
            ("2024-01-01".to_string(), "1".to_string()),
            ("2024-02-01".to_string(), "1".to_string())
        ]
    );
    // --from is a local date too.
    assert_eq!(
        periods(&ws, &["--from", "2024-02-01"]),
        [("2024-02-01".to_string(), "1".to_string())]
    );
    std::fs::write(
        &cfg,
        format!("{text}\n[settings]\ntimezone = \"Mars/Olympus\"\n"),
    )
    .unwrap();
    let r = ws.cpiq(&["slice", "zoned"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("settings.timezone: unknown time zone \"Mars/Olympus\""),
        "{}",
        r.stderr
    );
}
