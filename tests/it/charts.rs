//! Charts (issue 10): terminal charts snapshot-tested at fixed widths with
//! and without colour, their legends checked against the slice's own rows;
//! SVG checked structurally (series, points, target line, axes) and as a
//! snapshot; PNG decoded and looked at; the correlation scatter against the
//! correlation table; `\chart` in the shell; sparklines in `\cpis`; and the
//! HTML report rendered in headless Chromium with its tables checked
//! against the job's results.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cpiq::present::chart::text::strip_ansi;

use crate::support::{Run, assert_snapshot, bin, cpiq_in, records, repo};

/// Run `cpiq ARGS` on the bundled sample with extra environment.
fn cpiq_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    Command::new(bin())
        .args(args)
        .current_dir(repo())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run cpiq")
        .into()
}

/// Per channel: (periods with a value, periods missed), from the slice's rows.
fn missed_by_channel(csv: &str) -> BTreeMap<String, (usize, usize)> {
    let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in records(csv) {
        let e = m.entry(r["channel"].clone()).or_default();
        if !r["value"].is_empty() {
            e.0 += 1;
        }
        if r["status"] == "missed" {
            e.1 += 1;
        }
    }
    m
}

#[test]
fn the_terminal_chart_fits_its_width_with_and_without_colour_and_tells_the_slice() {
    let args = [
        "slice",
        "on_time_delivery",
        "--by",
        "channel",
        "--per",
        "quarter",
    ];
    let rows = cpiq_in(&repo(), &[&args[..], &["-f", "csv"]].concat()).ok();
    let expected = missed_by_channel(&rows);
    assert_eq!(expected.len(), 3, "{rows}");

    let plain = cpiq_env(&[&args[..], &["--chart"]].concat(), &[("COLUMNS", "80")]).ok();
    assert!(plain.is_ascii() && !plain.contains('\x1b'), "{plain}");
    for line in plain.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    assert!(plain.contains("target 95.0%"), "{plain}");
    // The legend's counts are the slice's own: missed k of n per channel.
    for (channel, (n, missed)) in &expected {
        assert!(
            plain.contains(&format!("{channel} (missed {missed} of {n})")),
            "{channel}: missed {missed} of {n} not in\n{plain}"
        );
    }
    assert_snapshot("slice_chart_plain_80.txt", &plain);

    let colour = cpiq_env(
        &[&args[..], &["--chart"]].concat(),
        &[("COLUMNS", "100"), ("CLICOLOR_FORCE", "1")],
    )
    .ok();
    assert!(colour.contains("\x1b[34m●\x1b[0m") && colour.contains('╌'));
    for line in strip_ansi(&colour).lines() {
        assert!(line.chars().count() <= 100, "wider than 100: {line:?}");
    }
    assert_snapshot("slice_chart_colour_100.txt", &colour);

    // NO_COLOR wins over CLICOLOR_FORCE.
    let no = cpiq_env(
        &[&args[..], &["--chart"]].concat(),
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    )
    .ok();
    assert!(!no.contains('\x1b'));
}

#[test]
fn the_svg_has_a_line_and_a_point_per_value_the_target_and_axes() {
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("otd.svg");
    let args = [
        "slice",
        "on_time_delivery",
        "--by",
        "channel",
        "--per",
        "quarter",
        "-f",
        "csv",
    ];
    let run = cpiq_in(
        &repo(),
        &[&args[..], &["--chart", svg_path.to_str().unwrap()]].concat(),
    );
    let table = run.ok();
    // With a file, the table is printed too.
    let rows = records(&table);
    let values = rows.iter().filter(|r| !r["value"].is_empty()).count();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg "), "{}", &svg[..100]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // One dot per value in the slice.
    assert_eq!(svg.matches("<circle").count(), values);
    // One colour per series (each drawn as its line and its legend sample),
    // and the target in red.
    let mut strokes: BTreeMap<String, usize> = BTreeMap::new();
    for part in svg.split("<polyline").skip(1) {
        if let Some(i) = part.find("stroke=\"") {
            let colour = &part[i + 8..i + 15];
            if part.contains("stroke-width=\"2\"") {
                *strokes.entry(colour.to_string()).or_default() += 1;
            }
        }
    }
    assert!(
        strokes.remove("#D62728").unwrap_or(0) > 10,
        "dashed target line"
    );
    assert_eq!(strokes.len(), 3, "{strokes:?}");
    let texts: String = svg
        .split("<text")
        .skip(1)
        .map(|t| {
            t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()]
                .trim()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("|");
    for needle in [
        "On-time delivery rate by channel (on_time_delivery)",
        "target 95.0%",
        "period",
        "on_time_delivery (percent)",
        "|app|",
        "|store|",
        "|web|",
        "missed target",
        "2024-01",
        "90%",
    ] {
        assert!(
            texts.contains(needle),
            "{needle} not in the SVG's text: {texts}"
        );
    }
    assert_snapshot("slice_chart_quarter.svg", &svg);
}

#[test]
fn the_png_is_a_drawn_image_with_the_red_target_line() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("otd.png");
    let run = cpiq_in(
        &repo(),
        &[
            "sql",
            &format!(
                "\\slice on_time_delivery,first_contact_resolution by channel per month\n\\chart {}",
                png.display()
            ),
            "-f",
            "csv",
        ],
    );
    assert!(run.stderr.contains("Wrote 2 charts to"), "{run:?}");
    let img = image::open(&png).unwrap().to_rgb8();
    // Two panels, stacked.
    assert_eq!(img.dimensions(), (960, 960));
    let pixels = img.pixels().count();
    let white = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
    let red = img.pixels().filter(|p| p.0 == [214, 39, 40]).count();
    assert!(
        white < pixels * 95 / 100 && white > pixels / 2,
        "{white} of {pixels} white"
    );
    assert!(red > 500, "target line and misses: {red} red pixels");
    // A read-only session writes no chart; a slice without periods has
    // nothing to draw; both are said before anything runs.
    let ro = dir.path().join("ro.svg");
    let r = cpiq_in(
        &repo(),
        &[
            "--read-only",
            "slice",
            "on_time_delivery",
            "--chart",
            ro.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("read-only") && !ro.exists(),
        "{}",
        r.stderr
    );
    let r = cpiq_in(
        &repo(),
        &["slice", "on_time_delivery", "--per", "all", "--chart"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.is_empty() && r.stderr.contains("over periods"),
        "{r:?}"
    );
    // A bad extension is refused before anything runs.
    let r = cpiq_in(&repo(), &["slice", "on_time_delivery", "--chart", "x.gif"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(".svg or .png"), "{}", r.stderr);
}

#[test]
fn the_scatter_shows_the_best_lag_and_its_coefficient_from_the_table() {
    let args = [
        "correlate",
        "first_contact_resolution",
        "--with",
        "kpi_monthly.nps",
        "--per",
        "month",
        "--lags",
        "0..3",
    ];
    let table = records(&cpiq_in(&repo(), &[&args[..], &["-f", "csv"]].concat()).ok());
    let best = table.iter().find(|r| r["best_lag"] == "true").unwrap();
    let r: f64 = best["pearson_r"].parse().unwrap();
    let drawn = cpiq_env(&[&args[..], &["--chart"]].concat(), &[("COLUMNS", "90")]).ok();
    let title = format!(
        "first_contact_resolution (t) vs kpi_monthly.nps (t+{} month{}): r = {r:.2}, n = {}",
        best["lag"],
        if best["lag"] == "1" { "" } else { "s" },
        best["n"]
    );
    assert!(drawn.contains(&title), "{title}\nnot in\n{drawn}");
    // The verdict comes first, as on the terminal.
    assert!(
        drawn.starts_with("first_contact_resolution leads kpi_monthly.nps"),
        "{drawn}"
    );
    let plot_rows = drawn.lines().filter(|l| l.contains('|') || l.contains('+'));
    let dots: usize = plot_rows.map(|l| l.matches('*').count()).sum();
    let n: usize = best["n"].parse().unwrap();
    // Pairs may share a character cell: never more dots than pairs.
    assert!(
        dots > n / 2 && dots <= n,
        "{dots} dots for {n} pairs\n{drawn}"
    );
}

#[test]
fn chart_in_the_shell_draws_the_last_slice_and_writes_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = crate::shell::shell(&repo(), &dir.path().join("history"));
    let out = crate::shell::run(&mut p, "\\chart");
    assert!(out.contains("nothing to chart yet"), "{out}");
    crate::shell::run(&mut p, "\\slice on_time_delivery by channel per month");
    let out = crate::shell::run(&mut p, "\\chart");
    assert!(out.contains("On-time delivery rate by channel"), "{out}");
    assert!(
        out.contains("target 95.0%") && out.contains("missed"),
        "{out}"
    );
    let svg = dir.path().join("shell.svg");
    let out = crate::shell::run(&mut p, &format!("\\chart {}", svg.display()));
    assert!(out.contains("Wrote 1 chart"), "{out}");
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("target 95.0%")
    );
    let out = crate::shell::run(&mut p, "\\cpis");
    assert!(out.contains("last_12_months"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn cpis_sparklines_follow_the_last_twelve_months() {
    // Forced onto the screen table (not csv), the sparkline column appears.
    let out = cpiq_in(&repo(), &["cpis", "-f", "table"]).ok();
    let line = out
        .lines()
        .find(|l| l.contains("on_time_delivery"))
        .unwrap();
    let spark: String = line.chars().filter(|c| ('▁'..='█').contains(c)).collect();
    assert_eq!(spark.chars().count(), 12, "{line}");
    // The highest block is the month with the highest value of the last 12.
    let monthly = records(
        &cpiq_in(
            &repo(),
            &[
                "slice",
                "on_time_delivery",
                "--per",
                "month",
                "--fill",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let last: Vec<f64> = monthly[monthly.len() - 12..]
        .iter()
        .map(|r| r["value"].parse().unwrap_or(f64::NEG_INFINITY))
        .collect();
    let top = (0..12)
        .max_by(|a, b| last[*a].total_cmp(&last[*b]))
        .unwrap();
    assert_eq!(spark.chars().nth(top), Some('█'), "{spark} vs {last:?}");
    // Machine formats stay as they were: no sparkline column.
    let csv = cpiq_in(&repo(), &["cpis", "-f", "csv"]).ok();
    assert!(!csv.contains("last_12_months"));
}

/// Attribute `name` of every `<td>` in `html` between `start` and `end`.
fn cells(html: &str, start: &str, end: &str) -> Vec<Vec<(String, Option<String>)>> {
    let from = html.find(start).unwrap();
    let section = &html[from..];
    let section = &section[..section.find(end).unwrap_or(section.len())];
    let table = &section[section.find("<table class=\"result\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|td| {
                    let head = &td[..td.find('>').unwrap()];
                    let text = &td[td.find('>').unwrap() + 1..td.find("</td>").unwrap()];
                    let v = head
                        .find("data-v=\"")
                        .map(|i| head[i + 8..].split('"').next().unwrap().to_string());
                    (text.to_string(), v)
                })
                .collect()
        })
        .collect()
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Render `page` headless to `png`; returns the console lines it logged.
fn render(chrome: &Path, page: &Path, png: &Path, profile: &Path) -> Vec<String> {
    let out = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_html_report_is_self_contained_matches_the_job_and_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("queries/jobs/cpi_trends.sql");
    let run = cpiq_in(
        &repo(),
        &[
            "report",
            job.to_str().unwrap(),
            "-p",
            "from=2024-01-01",
            "--html",
            "report.html",
            "--output-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.is_empty(),
        "a report prints nothing: {}",
        run.stdout
    );
    let page = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // The job's own \chart files were written beside it.
    assert!(dir.path().join("cpi_trends.svg").exists());
    assert!(dir.path().join("cpi_kpi_scatter.svg").exists());

    // Self-contained: no scripts, no links, nothing fetched.
    for banned in ["<script", "<link", " src=", " href=", "url(", "@import"] {
        assert!(!html.contains(banned), "{banned} in the report");
    }
    let external: BTreeSet<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 30).min(html.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(external.is_empty(), "{external:?}");

    // Statement 1's table is the slice the job ran, row by row.
    let slice = records(
        &cpiq_in(
            &repo(),
            &[
                "slice",
                "on_time_delivery,first_contact_resolution",
                "--by",
                "channel",
                "--per",
                "month",
                "--from",
                "2024-01-01",
                "-f",
                "csv",
            ],
        )
        .ok(),
    );
    let table = cells(&html, "id=\"statement-1\"", "id=\"statement-2\"");
    assert_eq!(table.len(), slice.len());
    for (row, want) in table.iter().zip(&slice) {
        assert_eq!(row[0].0, want["cpi"]);
        assert_eq!(row[1].0, want["period"]);
        assert_eq!(row[2].0, want["channel"]);
        match (&row[3].1, want["value"].as_str()) {
            (None, "") => {}
            (Some(v), w) => {
                let (v, w): (f64, f64) = (v.parse().unwrap(), w.parse().unwrap());
                assert!((v - w).abs() < 1e-12, "{v} vs {w}");
                // Shown as a percentage with one decimal.
                assert_eq!(row[3].0, format!("{:.1}%", w * 100.0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(row[8].0, want["status"]);
    }
    // Its chart: one trend per CPI, inline.
    assert!(html.contains("<svg class=\"chart\""));
    // The correlation's verdicts are listed, as the terminal prints them.
    let corr = cpiq_env(
        &[
            "correlate",
            "first_contact_resolution,on_time_delivery",
            "--with",
            "kpi_monthly.nps,kpi_monthly.churn_rate",
            "--per",
            "month",
            "--lags",
            "0..3",
            "-f",
            "table",
        ],
        &[],
    )
    .ok();
    let verdicts: Vec<&str> = corr
        .lines()
        .filter(|l| l.contains(" leads ") || l.contains("no significant relation"))
        .collect();
    assert_eq!(verdicts.len(), 4, "{corr}");
    for v in verdicts {
        let escaped = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(html.contains(&format!("<li>{escaped}</li>")), "{v}");
    }
    // The scorecard's latest on-time value is the last month with events.
    let monthly = records(
        &cpiq_in(
            &repo(),
            &["slice", "on_time_delivery", "--per", "month", "-f", "csv"],
        )
        .ok(),
    );
    let latest = monthly.iter().rev().find(|r| r["events"] != "0").unwrap();
    let card = &html[html.find("data-cpi=\"on_time_delivery\"").unwrap()..];
    let v = &card[card.find("data-v=\"").unwrap() + 8..];
    let v: f64 = v[..v.find('"').unwrap()].parse().unwrap();
    let want: f64 = latest["value"].parse().unwrap();
    assert!((v - want).abs() < 1e-12, "{v} vs {want}");

    // Rendered by a real browser: a screenshot and no console messages.
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("CPIQ_REQUIRE_CHROMIUM").is_none(),
            "CPIQ_REQUIRE_CHROMIUM is set but chromium is not installed"
        );
        eprintln!("SKIPPED the Chromium half: install Debian's chromium (.ci/run does)");
        return;
    };
    let profile = dir.path().join("profile");
    // The check sees console errors when there are some.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let logged = render(&chrome, &bad, &dir.path().join("bad.png"), &profile);
    assert!(logged.iter().any(|l| l.contains("boom")), "{logged:?}");
    let shot = dir.path().join("report.png");
    let logged = render(&chrome, &page, &shot, &profile);
    assert!(logged.is_empty(), "console: {logged:?}");
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1100, 2400));
    let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(
        inked > 1100 * 2400 / 50,
        "the page is nearly blank: {inked} pixels"
    );
}

#[test]
fn a_failing_job_still_gets_its_report_with_the_error_and_what_did_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        "\\slice on_time_delivery per quarter\nSELECT * FROM no_such_table;\nSELECT 1;\n",
    )
    .unwrap();
    let page = dir.path().join("r.html");
    let run = cpiq_in(
        &repo(),
        &[
            "report",
            job.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("job.sql:2"), "{}", run.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Status: <span class=\"status-failed\">failed</span>"));
    assert!(html.contains("no_such_table") && html.contains("not_run"));
    // The statement that ran has its table and chart.
    assert!(html.contains("id=\"statement-1\"") && html.contains("<svg class=\"chart\""));
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}
