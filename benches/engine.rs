//! End-to-end timings of the engine on a generated workspace: opening the
//! workspace (registering tables and planning every CPI) and running one
//! CPI slice. Run with `cargo bench --bench engine`; sizes with
//! `CPIQ_BENCH_CUSTOMERS` and `CPIQ_BENCH_MONTHS`. Compare figures measured
//! in one run only: this machine's timings are noisy.
//!
//! `cargo bench --bench engine -- compare WORKSPACE SUITE OUT_DIR` is cpiq's
//! side of the comparison with DuckDB and Polars (`benches/compare/run.py`
//! drives it): each line of SUITE is `ID<TAB>slice|correlate<TAB>ARGUMENTS`
//! in the shell's syntax; each query runs once to warm up and five times
//! timed on one session with 2 partitions, reading the raw events (never a
//! rollup), and its last result is written to `OUT_DIR/ID.csv`, the timings
//! to `OUT_DIR/cpiq_times.csv`.
//!
//! `… -- rollups WORKSPACE SUITE OUT_DIR` runs the slices of SUITE that the
//! workspace's rollups cover (built beforehand with `cpiq rollup build`)
//! once to warm up and 20 times timed, failing if a covered slice did not
//! read its rollup; results go to `OUT_DIR/ID.rollup.csv`, timings to
//! `OUT_DIR/cpiq_rollup_times.csv`.
//!
//! With `CPIQ_BENCH_CLUSTER=df://HOST:PORT` both run on that Ballista
//! cluster instead of in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop on a broken setup

use std::time::{Duration, Instant};

use cpiq::engine::EngineOptions;
use cpiq::front::generate::{GenerateOptions, generate};
use cpiq::workspace::Workspace;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "compare") {
        compare(&args[i + 1], &args[i + 2], &args[i + 3], false);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "rollups") {
        compare(&args[i + 1], &args[i + 2], &args[i + 3], true);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let customers = env_or("CPIQ_BENCH_CUSTOMERS", 50_000);
    let months = env_or("CPIQ_BENCH_MONTHS", 24) as u32;
    let t = Instant::now();
    let summary = generate(&GenerateOptions {
        out: dir.path().to_path_buf(),
        customers,
        months,
        ..GenerateOptions::default()
    })
    .expect("generate");
    println!(
        "generate: {} events in {:.2} s ({:.0} events/s)",
        summary.events,
        t.elapsed().as_secs_f64(),
        summary.events as f64 / t.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ws = Workspace::discover(Some(dir.path())).expect("workspace");
    let mut opens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let e = rt
            .block_on(cpiq::analysis::plan::open(
                ws.clone(),
                EngineOptions::default(),
            ))
            .expect("open");
        assert!(e.problems().is_empty());
        opens.push(t.elapsed());
    }
    println!("open workspace (8 CPIs): median {:?}", median(opens));

    let engine = rt
        .block_on(cpiq::analysis::plan::open(ws, EngineOptions::default()))
        .expect("open");
    let sql = "SELECT date_trunc('month', promised_at) AS period, channel, \
               CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS value \
               FROM on_time_delivery GROUP BY 1, 2 ORDER BY 1, 2";
    let mut runs = Vec::new();
    for i in 0..6 {
        let t = Instant::now();
        let batches = rt
            .block_on(async {
                engine
                    .sql(sql)
                    .await?
                    .collect()
                    .await
                    .map_err(cpiq::CpiqError::from)
            })
            .expect("query");
        std::hint::black_box(batches);
        if i > 0 {
            runs.push(t.elapsed());
        }
    }
    println!(
        "on_time_delivery by channel per month: median {:?} (5 runs after a warm-up)",
        median(runs)
    );
}

/// cpiq's side of `benches/compare/run.py`: raw scans, or (`rollups`) the
/// slices rollups cover, read from them.
fn compare(workspace: &str, suite: &str, out_dir: &str, rollups: bool) {
    use cpiq::exec::args::{parse_correlate, parse_slice};
    use std::io::Write;

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut ws = Workspace::discover(Some(std::path::Path::new(workspace))).expect("workspace");
    ws.settings.target_partitions = Some(2);
    // The same suite on a Ballista cluster (docs/cluster.md's figures).
    if let Ok(url) = std::env::var("CPIQ_BENCH_CLUSTER") {
        ws.settings.cluster = Some(url.parse().expect("CPIQ_BENCH_CLUSTER: df://HOST:PORT"));
    }
    let engine = rt
        .block_on(cpiq::analysis::plan::open(ws, EngineOptions::default()))
        .expect("open");
    assert!(engine.problems().is_empty(), "{:?}", engine.problems());
    let out = std::path::Path::new(out_dir);
    std::fs::create_dir_all(out).expect("out dir");
    let (times_file, suffix, runs) = if rollups {
        ("cpiq_rollup_times.csv", ".rollup", 21)
    } else {
        ("cpiq_times.csv", "", 6)
    };
    let mut times = std::fs::File::create(out.join(times_file)).expect("times");
    writeln!(times, "id,run,ms").unwrap();
    for line in std::fs::read_to_string(suite).expect("suite").lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(id), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if rollups {
            if kind != "slice" {
                continue;
            }
            let req = parse_slice(rest).unwrap().to_request().unwrap();
            let plan = rt
                .block_on(cpiq::analysis::plan::explain_slice(&engine, &req))
                .unwrap();
            let (source, detail) = (&plan[0].source, &plan[0].detail);
            if detail.starts_with("the rollup does not keep") {
                continue; // by customer: not what rollups are for
            }
            assert_eq!(source, "rollup", "{id}: {detail}");
        }
        let mut last = None;
        for run in 0..runs {
            let t = Instant::now();
            let batch = rt
                .block_on(async {
                    match kind {
                        "slice" => {
                            let mut req = parse_slice(rest)?.to_request()?;
                            req.raw = !rollups;
                            cpiq::analysis::plan::slice(&engine, &req)
                                .await
                                .map(|(b, _)| b)
                        }
                        _ => {
                            let req = parse_correlate(rest)?.to_request()?;
                            cpiq::analysis::plan::correlate(&engine, &req)
                                .await
                                .map(|c| c.batch)
                        }
                    }
                })
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if run > 0 {
                writeln!(times, "{id},{run},{ms:.3}").unwrap();
            }
            last = Some(batch);
        }
        let file = std::fs::File::create(out.join(format!("{id}{suffix}.csv"))).expect("result");
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(file);
        w.write(&last.expect("a result")).expect("csv");
        eprintln!("cpiq {id}: done");
    }
}
