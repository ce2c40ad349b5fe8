//! cpiq granger and correlate --prewhiten against statsmodels (issue 19).
//!
//! tests/reference/timeseries.py writes monthly series and statsmodels'
//! figures on them (grangercausalitytests, OLS compare_f_test / f_test,
//! ar_select_order, AutoReg, numpy corrcoef) into timeseries.json; `.ci/run`
//! regenerates it into CPIQ_TIMESERIES_REFERENCE. Here the series become a
//! workspace (one CPI per x series, Σnumerator/Σdenominator = x exactly; one
//! KPI table with the y series) and cpiq's output is compared to 1e-6.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Months, NaiveDate};
use serde_json::Value;

use crate::support::{TempWorkspace, records};

type Records = Vec<HashMap<String, String>>;

fn reference() -> Value {
    let path = std::env::var("CPIQ_TIMESERIES_REFERENCE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/reference/timeseries.json"
        )
        .into()
    });
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The reference series as a workspace: `series.csv` (at, x…) with a CPI
/// per x column, and the KPI table `kpi` (month, y…).
fn workspace(reference: &Value) -> TempWorkspace {
    let start: NaiveDate = reference["start"].as_str().unwrap().parse().unwrap();
    let series = reference["series"].as_object().unwrap();
    let (xs, ys): (Vec<&String>, Vec<&String>) = series.keys().partition(|k| k.starts_with('x'));
    let len = series.values().next().unwrap().as_array().unwrap().len();
    let table = |time: &str, names: &[&String]| {
        let mut csv = format!(
            "{time},{}\n",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        for t in 0..len {
            let month = start + Months::new(t as u32);
            let cells: Vec<String> = names
                .iter()
                .map(|n| match series[n.as_str()][t].as_f64() {
                    Some(v) => format!("{v:?}"),
                    None => String::new(),
                })
                .collect();
            csv.push_str(&format!("{month} 00:00:00,{}\n", cells.join(",")));
        }
        csv
    };
    let cpis: Vec<(String, String)> = xs
        .iter()
        .map(|x| {
            (
                format!("{x}.sql"),
                format!(
                    "-- cpi: {x}\n-- label: {x}\n-- unit: ratio\n-- direction: higher_is_better\n-- time: at\n\
                     SELECT at, {x} AS numerator, 1 AS denominator FROM series\n"
                ),
            )
        })
        .collect();
    let cpi_refs: Vec<(&str, &str)> = cpis.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let series_csv = table("at", &xs);
    let ws = TempWorkspace::with_own_cpis(&[("series", "series.csv", &series_csv)], &cpi_refs);
    std::fs::write(ws.path().join("kpi.csv"), table("month", &ys)).unwrap();
    let measures: Vec<String> = ys.iter().map(|y| format!("{y} = \"avg\"")).collect();
    let cfg = ws.path().join("cpiq.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "{text}\n[kpis.kpi]\npath = \"kpi.csv\"\ntime = \"month\"\nmeasures = {{ {} }}\n",
            measures.join(", ")
        ),
    )
    .unwrap();
    ws
}

fn close(got: &str, want: &Value, what: &str) {
    let (g, w): (f64, f64) = (got.parse().unwrap(), want.as_f64().unwrap());
    assert!(
        (g - w).abs() <= 1e-6 * w.abs().max(1.0),
        "{what}: cpiq {g}, statsmodels {w}"
    );
}

#[test]
fn f_df_p_and_lag_orders_equal_statsmodels() {
    let reference = reference();
    let ws = workspace(&reference);
    let cases = reference["granger"].as_array().unwrap();
    assert!(cases.len() >= 20);
    // One run per CPI × KPI × arguments; both directions come from it.
    let mut runs: BTreeMap<(String, String, Vec<String>), Records> = BTreeMap::new();
    for case in cases {
        let (cpi, kpi) = (case["cpi"].as_str().unwrap(), case["kpi"].as_str().unwrap());
        let args: Vec<String> = case["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let key = (cpi.to_string(), kpi.to_string(), args.clone());
        let rows = runs.entry(key).or_insert_with(|| {
            let with = format!("kpi.{kpi}");
            let mut argv = vec!["granger", cpi, "--with", &with, "-f", "csv"];
            argv.extend(args.iter().map(String::as_str));
            records(&ws.cpiq(&argv).ok())
        });
        let row = rows
            .iter()
            .find(|r| r["direction"] == case["direction"].as_str().unwrap())
            .unwrap_or_else(|| panic!("no row for {case}"));
        let what = format!("{cpi} {kpi} {} {args:?}", case["direction"]);
        for (col, want) in [
            ("lags", "lags"),
            ("n", "n"),
            ("df_num", "df_num"),
            ("df_den", "df_den"),
        ] {
            assert_eq!(row[col], case[want].to_string(), "{what}: {col}");
        }
        close(&row["f_stat"], &case["f_stat"], &format!("{what}: F"));
        close(&row["p_value"], &case["p_value"], &format!("{what}: p"));
        assert_eq!(row["trend"], args[1], "{what}");
    }
}

#[test]
fn prewhitened_correlations_equal_numpy_on_the_filtered_series() {
    let reference = reference();
    let ws = workspace(&reference);
    for case in reference["prewhiten"].as_array().unwrap() {
        let (cpi, kpi) = (case["cpi"].as_str().unwrap(), case["kpi"].as_str().unwrap());
        let with = format!("kpi.{kpi}");
        let max_lag = case["max_lag"].to_string();
        let out = ws
            .cpiq(&[
                "correlate",
                cpi,
                "--with",
                &with,
                "--prewhiten",
                "--max-lag",
                &max_lag,
                "--lags",
                "0..3",
                "-f",
                "csv",
            ])
            .ok();
        let header = out.lines().next().unwrap();
        assert!(header.starts_with("cpi,kpi,lag,ar_order,n,"), "{header}");
        for row in records(&out) {
            let want = &case["lags"][row["lag"].as_str()];
            assert_eq!(row["ar_order"], case["order"].to_string(), "{cpi}");
            assert_eq!(row["n"], want["n"].to_string(), "{cpi} lag {}", row["lag"]);
            close(
                &row["pearson_r"],
                &want["r"],
                &format!("{cpi} lag {}", row["lag"]),
            );
        }
    }
    // Without --prewhiten the table has no ar_order column.
    let plain = ws
        .cpiq(&["correlate", "x1", "--with", "kpi.y1", "-f", "csv"])
        .ok();
    assert!(plain.starts_with("cpi,kpi,lag,n,"), "{plain}");
}

#[test]
fn too_few_observations_give_null_statistics_and_a_note() {
    let reference = reference();
    let ws = workspace(&reference);
    // 60 months at 6 lags is enough; 12 months at 3 lags is not (12 − 3 = 9 < 3·3 + 5).
    let r = ws.cpiq(&[
        "granger",
        "x1",
        "--with",
        "kpi.y1",
        "--lags",
        "3",
        "--to",
        "2021-01-01",
        "-f",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let rows = records(&r.stdout);
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["n"], "9");
        assert_eq!((row["f_stat"].as_str(), row["p_value"].as_str()), ("", ""));
    }
    assert!(r.stderr.contains("fewer than 3·lags + 5"), "{}", r.stderr);
}

#[test]
fn granger_mistakes_are_usage_errors() {
    let reference = reference();
    let ws = workspace(&reference);
    for (args, message) in [
        (
            &[
                "granger",
                "x1",
                "--with",
                "kpi.y1",
                "--lags",
                "2",
                "--max-lag",
                "3",
            ][..],
            "cannot be used with",
        ),
        (
            &["granger", "x1", "--with", "kpi.y1", "--trend", "ctt"],
            "\"ctt\" is not one of: c, ct",
        ),
        (
            &["granger", "x1", "--with", "kpi.y1", "--lags", "0"],
            "at least 1",
        ),
        (
            &["granger", "nope", "--with", "kpi.y1"],
            "unknown CPI \"nope\"",
        ),
        (
            &["granger", "x1", "--with", "kpi.nope"],
            "has no measure \"nope\"",
        ),
        (
            &["correlate", "x1", "--with", "kpi.y1", "--max-lag", "2"],
            "--prewhiten",
        ),
    ] {
        let r = ws.cpiq(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
    }
}

/// The generator's planted truth over three seeds on a long history (10,000
/// customers, 20 years): drivers lead, the reverse CPI is led, the
/// trend-only CPI shows the levels trap and passes `--trend ct`.
#[test]
fn planted_drivers_reverse_and_trend_only_relations_are_told_apart() {
    let cpis = "first_contact_resolution,on_time_delivery,time_to_first_response,complete_delivery,\
                return_completed_within,damage_free_delivery,quote_answered_within,callback_on_time,callback_within";
    let kpis = "kpi_monthly.nps,kpi_monthly.churn_rate,kpi_monthly.ces,kpi_monthly.revenue,kpi_monthly.clv,kpi_loyalty.repeat_rate";
    let (mut true_nulls, mut false_positives) = (0usize, 0usize);
    for seed in [11u64, 12, 13] {
        let ws = crate::support::generate(10_000, 240, seed);
        let dir = ws.path();
        let text = std::fs::read_to_string(dir.join("data-samples/planted_relations.csv")).unwrap();
        let mut kind: HashMap<(String, String, String), String> = HashMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            kind.insert((f[0].into(), f[1].into(), f[2].into()), f[6].into());
        }
        for k in ["drives", "trend_only", "reverse"] {
            assert!(
                kind.values().any(|v| v == k),
                "{k} missing from planted_relations.csv"
            );
        }
        let out = crate::support::cpiq_in(
            dir,
            &[
                "granger",
                cpis,
                "--with",
                kpis,
                "--by",
                "segment",
                "--max-lag",
                "3",
                "-f",
                "csv",
            ],
        )
        .ok();
        let rows = records(&out);
        assert_eq!(rows.len(), 9 * 6 * 3 * 2);
        for r in &rows {
            let key = (r["segment"].clone(), r["cpi"].clone(), r["kpi"].clone());
            let q: f64 = r["q_value"].parse().unwrap_or(1.0);
            let what = format!(
                "seed {seed}: {} {} {} {}: q {q}",
                r["cpi"], r["kpi"], r["segment"], r["direction"]
            );
            let forward = r["direction"] == "cpi_leads";
            match (kind.get(&key).map(String::as_str), forward) {
                (Some("drives"), true) => assert!(q < 0.01, "{what}"),
                (Some("reverse"), false) => assert!(q < 0.01, "{what}"),
                (Some("reverse"), true) | (Some("trend_only"), _) => {
                    assert!(q >= 0.05, "{what}")
                }
                _ => {
                    // H0 holds: a driver's reverse direction, or a pair
                    // with no planted relation.
                    true_nulls += 1;
                    if q < 0.05 {
                        false_positives += 1;
                        eprintln!("false positive: {what}");
                    }
                }
            }
        }
        // The trap: in levels, the trend-only CPI correlates with the KPI
        // at every lag.
        let levels = crate::support::cpiq_in(
            dir,
            &[
                "correlate",
                "callback_on_time",
                "--with",
                "kpi_loyalty.repeat_rate",
                "--by",
                "segment",
                "-f",
                "csv",
            ],
        )
        .ok();
        let levels = records(&levels);
        assert_eq!(levels.len(), 3 * 4);
        assert!(
            levels.iter().all(|r| r["significant"] == "true"),
            "seed {seed}: {levels:?}"
        );
        // And so does a Granger test with a constant only, both ways.
        let constant_only = crate::support::cpiq_in(
            dir,
            &[
                "granger",
                "callback_on_time",
                "--with",
                "kpi_loyalty.repeat_rate",
                "--by",
                "segment",
                "--max-lag",
                "3",
                "--trend",
                "c",
                "-f",
                "csv",
            ],
        )
        .ok();
        let constant_only = records(&constant_only);
        assert_eq!(constant_only.len(), 3 * 2);
        assert!(
            constant_only.iter().all(|r| r["significant"] == "true"),
            "seed {seed}: {constant_only:?}"
        );
    }
    let rate = false_positives as f64 / true_nulls as f64;
    eprintln!(
        "false-positive rate: {false_positives} of {true_nulls} rows without a planted lead ({:.1}%)",
        100.0 * rate
    );
    assert!(rate < 0.05, "{rate}");
}

#[test]
fn the_shell_and_scripts_run_the_same_granger_as_the_cli() {
    let reference = reference();
    let ws = workspace(&reference);
    let cli = ws
        .cpiq(&[
            "granger", "x1,x3", "--with", "kpi.y1", "--lags", "2", "--trend", "c", "-f", "csv",
        ])
        .ok();
    let piped = crate::support::cpiq_stdin(
        ws.path(),
        &["-f", "csv"],
        "\\granger x1, x3 with kpi.y1 lags 2 trend c\n",
    );
    assert_eq!(piped.code, 0, "{piped:?}");
    assert_eq!(piped.stdout, cli);
    assert_eq!(records(&cli).len(), 4);
}

/// `cpiq drivers` against the same definitions recomputed in Python:
/// statsmodels' HAC OLS (coef, se, p, R²), a brute-force Shapley over all
/// subsets, and numpy re-implementations of the lead, the out-of-sample gain
/// and the placebo p-value (SplitMix64 shifts).
#[test]
fn drivers_figures_equal_statsmodels_and_plain_reimplementations() {
    let reference = reference();
    let ws = workspace(&reference);
    for case in reference["drivers"].as_array().unwrap() {
        let kpi = format!("kpi.{}", case["kpi"].as_str().unwrap());
        let cpis: Vec<&str> = case["cpis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let list = cpis.join(",");
        let max_lag = case["max_lag"].to_string();
        let out = ws
            .cpiq(&[
                "drivers",
                &kpi,
                "--cpis",
                &list,
                "--max-lag",
                &max_lag,
                "-f",
                "csv",
            ])
            .ok();
        assert!(
            out.starts_with("kpi,cpi,lead,n,r_levels,r_prewhitened,granger_q,reverse_q,oos_gain,placebo_p,coef,coef_se,coef_p,importance,model_r2,verdict,expected"),
            "{out}"
        );
        let rows = records(&out);
        assert_eq!(rows.len(), cpis.len());
        // Ordered by importance, largest first.
        let imp: Vec<f64> = rows
            .iter()
            .map(|r| r["importance"].parse().unwrap())
            .collect();
        assert!(imp.windows(2).all(|w| w[0] >= w[1]), "{imp:?}");
        for row in &rows {
            let want = &case["rows"][row["cpi"].as_str()];
            assert_eq!(row["lead"], want["lead"].to_string(), "{}", row["cpi"]);
            for col in [
                "r_levels",
                "r_prewhitened",
                "oos_gain",
                "placebo_p",
                "coef",
                "coef_se",
                "coef_p",
                "importance",
                "model_r2",
            ] {
                close(&row[col], &want[col], &format!("{} {col}", row["cpi"]));
            }
        }
        let sum: f64 = imp.iter().sum();
        assert!(sum < rows[0]["model_r2"].parse::<f64>().unwrap());
    }
}

/// `cpiq drivers` on the generator's planted truth, three seeds of 20
/// years: every planted driver `drives` in every segment at its planted lag
/// with its sign, the reverse CPI is `reverse`, the trend-only CPI shows
/// `trend_only` and never `drives`, and the strongest planted driver of each
/// KPI ranks first per segment. Prints the confusion table. The forecast
/// check runs on the last 5 years (`--holdout 60`): the default 12 periods
/// are too few to show a moderate driver's gain reliably (on seed 12,
/// on_time_delivery → churn_rate in smb has Granger q 1.7e-12 but a 12-month
/// oos_gain of −0.12).
#[test]
fn drivers_name_the_planted_relations_over_three_seeds() {
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    for seed in [11u64, 12, 13] {
        let ws = crate::support::generate(10_000, 240, seed);
        let dir = ws.path();
        let text = std::fs::read_to_string(dir.join("data-samples/planted_relations.csv")).unwrap();
        // (segment, cpi, kpi) -> (kind, lag, sign)
        let mut truth: HashMap<(String, String, String), (String, String, String)> = HashMap::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            truth.insert(
                (f[0].into(), f[1].into(), f[2].into()),
                (f[6].into(), f[3].into(), f[4].into()),
            );
        }
        let kpis: BTreeSet<String> = truth
            .keys()
            .map(|k| k.2.clone())
            .filter(|k| k != "none")
            .collect();
        for kpi in &kpis {
            let rows = records(
                &crate::support::cpiq_in(
                    dir,
                    &[
                        "drivers",
                        kpi,
                        "--by",
                        "segment",
                        "--max-lag",
                        "3",
                        "--holdout",
                        "60",
                        "-f",
                        "csv",
                    ],
                )
                .ok(),
            );
            assert_eq!(rows.len(), 3 * 10, "{kpi}");
            let mut first_of_segment: HashMap<String, String> = HashMap::new();
            for r in &rows {
                first_of_segment
                    .entry(r["segment"].clone())
                    .or_insert_with(|| r["cpi"].clone());
                let key = (r["segment"].clone(), r["cpi"].clone(), kpi.clone());
                let (kind, lag, sign) = truth.get(&key).cloned().unwrap_or((
                    "none".into(),
                    String::new(),
                    String::new(),
                ));
                *confusion
                    .entry((kind.clone(), r["verdict"].clone()))
                    .or_default() += 1;
                let what = format!("seed {seed} {kpi} {} {}: {r:?}", r["segment"], r["cpi"]);
                match kind.as_str() {
                    "drives" => {
                        // `feedback` when the reverse test is a false
                        // positive (about 1.5% of true nulls, see the
                        // Granger test); counted below.
                        assert!(
                            ["drives", "feedback"].contains(&r["verdict"].as_str()),
                            "{what}"
                        );
                        assert!(r["granger_q"].parse::<f64>().unwrap() < 0.01, "{what}");
                        assert_eq!(r["lead"], lag, "{what}");
                        assert_eq!(r["r_prewhitened"].starts_with('-'), sign == "-", "{what}");
                    }
                    "reverse" => assert_eq!(r["verdict"], "reverse", "{what}"),
                    "trend_only" => assert_eq!(r["verdict"], "trend_only", "{what}"),
                    _ => {}
                }
            }
            // The strongest planted driver of this KPI ranks first in each
            // segment (every KPI has one planted driver, or none).
            for ((segment, cpi, k), (kind, _, _)) in &truth {
                if k == kpi && kind == "drives" {
                    assert_eq!(
                        first_of_segment.get(segment),
                        Some(cpi),
                        "seed {seed} {kpi} {segment}"
                    );
                }
            }
        }
    }
    eprintln!("planted kind -> verdict (3 seeds, 6 KPIs, 3 segments):");
    for ((kind, verdict), n) in &confusion {
        eprintln!("  {kind:>10} -> {verdict:<12} {n}");
    }
    let count = |k: &str, v: &str| {
        confusion
            .get(&(k.to_string(), v.to_string()))
            .copied()
            .unwrap_or(0)
    };
    let planted = count("drives", "drives") + count("drives", "feedback");
    assert!(
        count("drives", "drives") as f64 >= 0.9 * planted as f64,
        "{confusion:?}"
    );
    // Null pairs named `drives` are rare.
    let null_drives = confusion
        .get(&("none".to_string(), "drives".to_string()))
        .copied()
        .unwrap_or(0);
    let nulls: usize = confusion
        .iter()
        .filter(|((k, _), _)| k == "none")
        .map(|(_, n)| n)
        .sum();
    assert!((null_drives as f64) < 0.05 * nulls as f64, "{confusion:?}");
}

#[test]
fn the_shell_and_scripts_run_the_same_drivers_as_the_cli() {
    let reference = reference();
    let ws = workspace(&reference);
    let cli = ws
        .cpiq(&[
            "drivers",
            "kpi.y1",
            "--cpis",
            "x1,x3",
            "--max-lag",
            "3",
            "-f",
            "csv",
        ])
        .ok();
    let piped = crate::support::cpiq_stdin(
        ws.path(),
        &["-f", "csv"],
        "\\drivers kpi.y1 cpis x1, x3 max-lag 3\n",
    );
    assert_eq!(piped.code, 0, "{piped:?}");
    assert_eq!(piped.stdout, cli);
    // Importance bars, on the terminal and as an SVG.
    let bars = ws
        .cpiq(&[
            "drivers",
            "kpi.y1",
            "--cpis",
            "x1,x3",
            "--max-lag",
            "3",
            "--chart",
        ])
        .ok();
    assert!(
        bars.contains("kpi.y1: driver importance (Shapley share of R²)"),
        "{bars}"
    );
    assert!(
        bars.lines()
            .any(|l| l.contains("x1") && l.contains('█') && l.contains("lead 1")),
        "{bars}"
    );
    let svg = ws.path().join("bars.svg");
    ws.cpiq(&[
        "drivers",
        "kpi.y1",
        "--cpis",
        "x1,x3",
        "--max-lag",
        "3",
        "--chart",
        svg.to_str().unwrap(),
    ])
    .ok();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("x1 (lead 1,"),
        "{}",
        &text[..200.min(text.len())]
    );
}

#[test]
fn a_report_shows_the_drivers_table_summary_and_bars() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("drivers.sql");
    std::fs::write(&job, "\\drivers kpi_monthly.nps by segment max-lag 2\n").unwrap();
    let run = crate::support::cpiq_in(
        &crate::support::repo(),
        &[
            "report",
            job.to_str().unwrap(),
            "--html",
            "report.html",
            "--output-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains(
            "kpi_monthly.nps [smb]: first_contact_resolution drives it, leading by 1 month"
        ),
        "no summary"
    );
    assert!(html.contains("<th>importance</th>") && html.contains("<th>verdict</th>"));
    assert!(
        html.contains("driver importance (Shapley share of R²)"),
        "no bars"
    );
}
