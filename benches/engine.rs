//! End-to-end timings of the engine on a generated workspace: opening the
//! workspace (registering tables and planning every CPI) and running one
//! CPI slice. Run with `cargo bench --bench engine`; sizes with
//! `CPIQ_BENCH_CUSTOMERS` and `CPIQ_BENCH_MONTHS`. Compare figures measured
//! in one run only: this machine's timings are noisy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop on a broken setup

use std::time::{Duration, Instant};

use cpiq::engine::{Engine, EngineOptions};
use cpiq::generate::{GenerateOptions, generate};
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
            .block_on(Engine::open(ws.clone(), EngineOptions::default()))
            .expect("open");
        assert!(e.problems().is_empty());
        opens.push(t.elapsed());
    }
    println!("open workspace (8 CPIs): median {:?}", median(opens));

    let engine = rt
        .block_on(Engine::open(ws, EngineOptions::default()))
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
