//! Correlation (issue 5): planted relations found at their lag with their
//! sign, the inert CPI not flagged, numbers equal to independent
//! computations, per-customer mode, differencing, and the real Olist data.

use std::path::Path;

use crate::support::{TempWorkspace, cpiq_in, generated, realdata, records, scalar};

fn num(s: &str) -> f64 {
    s.parse().unwrap()
}

/// A long history (20 years) so that even the weakest planted relation
/// (rho 0.3) is detectable month by month.
fn long_history(seed: u64) -> tempfile::TempDir {
    crate::support::generate(6000, 240, seed)
}

fn planted(ws: &Path) -> Vec<(String, String, String, u32, f64)> {
    let text = std::fs::read_to_string(ws.join("data-samples/planted_relations.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>())
        .filter(|f| f[6] == "drives")
        .map(|f| {
            (
                f[0].clone(),
                f[1].clone(),
                f[2].clone(),
                f[3].parse().unwrap(),
                if f[4] == "+" { 1.0 } else { -1.0 },
            )
        })
        .collect()
}

#[test]
fn every_planted_relation_is_found_at_its_lag_and_the_inert_cpi_is_not() {
    let mut false_positives = Vec::new();
    for seed in [11u64, 12, 13] {
        let dir = long_history(seed);
        let ws = dir.path();
        let truth = planted(ws);
        let mut pairs: Vec<(String, String)> =
            truth.iter().map(|t| (t.1.clone(), t.2.clone())).collect();
        pairs.sort();
        pairs.dedup();
        for (cpi, kpi) in pairs {
            let out = cpiq_in(
                ws,
                &[
                    "correlate",
                    &cpi,
                    "--with",
                    &kpi,
                    "--per",
                    "month",
                    "--by",
                    "segment",
                    "--lags",
                    "0..3",
                    "-f",
                    "csv",
                ],
            )
            .ok();
            let rows = records(&out);
            for (segment, _, _, lag, sign) in truth.iter().filter(|t| t.1 == cpi && t.2 == kpi) {
                let row = rows
                    .iter()
                    .find(|r| &r["segment"] == segment && r["lag"] == lag.to_string())
                    .unwrap();
                let r = num(&row["pearson_r"]);
                assert!(
                    r * sign > 0.0,
                    "seed {seed} {cpi}->{kpi} {segment}: r = {r}"
                );
                assert!(
                    num(&row["q_value"]) < 0.01,
                    "seed {seed} {cpi}->{kpi} {segment} lag {lag}: {row:?}"
                );
                assert_eq!(
                    row["best_lag"], "true",
                    "seed {seed} {cpi}->{kpi} {segment}: {out}"
                );
                assert_eq!(row["expected"], "agrees", "{row:?}");
            }
        }
        // The inert CPI against every KPI: nothing survives the correction.
        let out = cpiq_in(
            ws,
            &["correlate", "damage_free_delivery", "--with", "kpi_monthly.nps,kpi_monthly.ces,kpi_monthly.churn_rate,kpi_monthly.revenue,kpi_monthly.clv", "--by", "segment", "-f", "csv"],
        )
        .ok();
        let rows = records(&out);
        let significant = rows.iter().filter(|r| r["significant"] == "true").count();
        false_positives.push((seed, significant, rows.len()));
        if seed == 11 {
            assert_eq!(significant, 0, "{out}");
        }
    }
    let (fp, total) = false_positives
        .iter()
        .fold((0, 0), |a, f| (a.0 + f.1, a.1 + f.2));
    println!(
        "null relation (damage_free_delivery): {fp} significant of {total} rows over 3 seeds, false positive rate {:.3}",
        fp as f64 / total as f64
    );
    assert!(fp as f64 / (total as f64) < 0.05);
}

#[test]
fn pearson_equals_an_independent_corr_over_the_aligned_series() {
    let ws = generated();
    let out = cpiq_in(
        ws,
        &[
            "correlate",
            "first_contact_resolution",
            "--with",
            "kpi_monthly.nps",
            "--by",
            "segment",
            "--lags",
            "1",
            "--method",
            "both",
            "-f",
            "csv",
        ],
    )
    .ok();
    let row = records(&out)
        .into_iter()
        .find(|r| r["segment"] == "consumer")
        .unwrap();
    let q = "WITH c AS (SELECT date_trunc('month', opened_at) AS m, CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS v \
             FROM support_cases_fcr GROUP BY 1), \
             k AS (SELECT CAST(month AS TIMESTAMP) AS m, nps FROM kpi_monthly WHERE segment = 'consumer') \
             SELECT corr(c.v, k.nps) AS r, COUNT(*) AS n FROM c JOIN k ON k.m = c.m + INTERVAL '1 month'";
    // The CPI written out over the base table, independently of the view.
    let q = q.replace(
        "support_cases_fcr",
        "(SELECT opened_at, CASE WHEN contacts = 1 THEN 1 ELSE 0 END AS numerator, 1 AS denominator FROM support_cases WHERE resolved_at IS NOT NULL AND segment = 'consumer')",
    );
    let plain = records(&cpiq_in(ws, &["sql", &q, "-f", "csv"]).ok());
    let (r, n) = (num(&plain[0]["r"]), &plain[0]["n"]);
    assert!(
        (num(&row["pearson_r"]) - r).abs() < 1e-9,
        "{} vs {r}",
        row["pearson_r"]
    );
    assert_eq!(&row["n"], n);
    // With both methods the Spearman p-value is its own column.
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("p_value,spearman_p_value,ci_low"),
        "{out}"
    );
}

#[test]
fn customer_level_mode_uses_thousands_of_pairs() {
    let ws = generated();
    let agg = records(
        &cpiq_in(
            ws,
            &[
                "correlate",
                "first_contact_resolution",
                "--with",
                "survey_responses.nps_score",
                "--lags",
                "0",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let per = records(
        &cpiq_in(
            ws,
            &[
                "correlate",
                "first_contact_resolution",
                "--with",
                "survey_responses.nps_score",
                "--lags",
                "0",
                "--per-entity",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let n_agg: u64 = agg[0]["n"].parse().unwrap();
    let n_per: u64 = per[0]["n"].parse().unwrap();
    assert!(n_agg <= 24 && n_per > 100, "{n_agg} vs {n_per}");
    // Planted: a customer's own last case moves their NPS answer.
    assert!(
        num(&per[0]["pearson_r"]) > 0.1 && num(&per[0]["q_value"]) < 0.05,
        "{per:?}"
    );
}

#[test]
fn differencing_and_autocorrelation_are_reported() {
    let ws = generated();
    let r = cpiq_in(
        ws,
        &[
            "correlate",
            "on_time_delivery",
            "--with",
            "kpi_monthly.churn_rate",
            "--lags",
            "2",
            "--difference",
            "-f",
            "csv",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("lag-1 autocorrelation: on_time_delivery"),
        "{}",
        r.stderr
    );
    let levels = records(
        &cpiq_in(
            ws,
            &[
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.churn_rate",
                "--lags",
                "2",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let diffs = records(&r.stdout);
    assert_eq!(
        num(&diffs[0]["n"]) + 1.0,
        num(&levels[0]["n"]),
        "one period fewer once differenced"
    );
    assert_ne!(diffs[0]["pearson_r"], levels[0]["pearson_r"]);
}

#[test]
fn correlation_mistakes_are_usage_errors() {
    let ws = generated();
    for (args, want) in [
        (
            vec![
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.happiness",
            ],
            "KPI table kpi_monthly has no measure \"happiness\"",
        ),
        (
            vec!["correlate", "on_time_delivery", "--with", "nps"],
            "write it as kpi_table.column",
        ),
        (
            vec![
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.nps",
                "--by",
                "channel",
            ],
            "KPI table kpi_monthly does not carry the dimension \"channel\"",
        ),
        (
            vec![
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.nps",
                "--per",
                "day",
            ],
            "--per must be week, month or quarter",
        ),
        (
            vec![
                "correlate",
                "on_time_delivery",
                "--with",
                "kpi_monthly.nps",
                "--lags",
                "3..1",
            ],
            "--lags \"3..1\"",
        ),
    ] {
        let r = cpiq_in(ws, &args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn the_shell_command_matches_the_cli_and_prints_verdicts_on_a_table() {
    let ws = generated();
    let cli = cpiq_in(
        ws,
        &[
            "correlate",
            "first_contact_resolution",
            "--with",
            "kpi_monthly.nps",
            "--by",
            "segment",
            "-f",
            "csv",
        ],
    )
    .ok();
    let shell = crate::support::cpiq_stdin(
        ws,
        &[],
        "\\correlate first_contact_resolution with kpi_monthly.nps by segment\n",
    );
    assert_eq!(shell.stdout, cli);
    let table = cpiq_in(
        ws,
        &[
            "correlate",
            "first_contact_resolution",
            "--with",
            "kpi_monthly.nps",
            "--by",
            "segment",
            "-f",
            "table",
        ],
    )
    .ok();
    // The r of the verdict, computed independently in plain SQL over the
    // CPI's rows and the KPI table (not from an earlier run).
    let q = "WITH f AS (SELECT date_trunc('month', opened_at) AS m, \
                    CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS fcr \
                    FROM first_contact_resolution WHERE segment = 'smb' GROUP BY 1), \
             k AS (SELECT CAST(month AS TIMESTAMP) AS m, nps FROM kpi_monthly WHERE segment = 'smb') \
             SELECT corr(f.fcr, k.nps) FROM f JOIN k ON k.m = f.m + INTERVAL '1 month'";
    let r: f64 = scalar(&cpiq_in(ws, &["sql", q]).ok()).parse().unwrap();
    let verdict =
        format!("first_contact_resolution [smb] leads kpi_monthly.nps by 1 month, r = {r:.2}");
    assert!(table.contains(&verdict), "{verdict}\n{table}");
    assert!(
        table.contains(
            "first_contact_resolution [consumer] and kpi_monthly.nps: no significant relation"
        ),
        "{table}"
    );
}

/// A small RFC 4180 reader: quoted fields may hold commas, quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut rec, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => rec.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                rec.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut rec));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !rec.is_empty() {
        rec.push(field);
        records.push(rec);
    }
    records
}

#[test]
fn olist_on_time_delivery_against_review_scores_matches_a_hand_computation() {
    let orders =
        std::fs::read_to_string(realdata().join("olist-sample/olist_orders_dataset.csv")).unwrap();
    let reviews =
        std::fs::read_to_string(realdata().join("olist-sample/olist_order_reviews_dataset.csv"))
            .unwrap();
    let cpi = "-- cpi: olist_on_time\n-- label: On-time delivery (Olist)\n-- unit: percent\n-- direction: higher_is_better\n-- time: delivered_at\n\
SELECT order_delivered_customer_date AS delivered_at,\n\
       CASE WHEN CAST(order_delivered_customer_date AS DATE) <= CAST(order_estimated_delivery_date AS DATE) THEN 1 ELSE 0 END AS numerator,\n\
       1 AS denominator\nFROM olist_orders\nWHERE order_status = 'delivered' AND order_delivered_customer_date IS NOT NULL\n";
    let ws = TempWorkspace::with_own_cpis(
        &[("olist_orders", "olist_orders.csv", &orders)],
        &[("olist_on_time.sql", cpi)],
    );
    // DataFusion's CSV schema inference trips over the quoted CRLF line
    // breaks in the review comments, so the two columns this test needs are
    // copied into a clean CSV in the temporary workspace.
    let mut clean = String::from("review_score,review_creation_date\n");
    for rec in parse_csv(&reviews).into_iter().skip(1) {
        clean.push_str(&format!("{},{}\n", rec[2], rec[5]));
    }
    std::fs::write(ws.path().join("reviews.csv"), clean).unwrap();
    let cfg = ws.path().join("cpiq.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}\n[kpis.reviews]\npath = \"reviews.csv\"\ntime = \"review_creation_date\"\nmeasures = {{ review_score = \"avg\" }}\n")).unwrap();
    let out = ws
        .cpiq(&[
            "correlate",
            "olist_on_time",
            "--with",
            "reviews.review_score",
            "--lags",
            "0",
            "-f",
            "csv",
        ])
        .ok();
    let row = &records(&out)[0];
    let hand = "WITH c AS (SELECT date_trunc('month', order_delivered_customer_date) AS m, \
                AVG(CASE WHEN CAST(order_delivered_customer_date AS DATE) <= CAST(order_estimated_delivery_date AS DATE) THEN 1.0 ELSE 0.0 END) AS v \
                FROM olist_orders WHERE order_status = 'delivered' AND order_delivered_customer_date IS NOT NULL GROUP BY 1), \
                k AS (SELECT date_trunc('month', review_creation_date) AS m, AVG(CAST(review_score AS DOUBLE)) AS s FROM reviews GROUP BY 1) \
                SELECT corr(v, s) FROM c JOIN k ON c.m = k.m";
    let r: f64 = scalar(&ws.cpiq(&["sql", hand]).ok()).parse().unwrap();
    assert!(
        (num(&row["pearson_r"]) - r).abs() < 1e-9,
        "{} vs {r}",
        row["pearson_r"]
    );
    assert!(num(&row["n"]) >= 3.0, "{row:?}");
}
