//! criterion micro-benchmarks of the engine (issue 7): planning a slice,
//! opening a workspace of 50 CPIs, executing one slice from the events and
//! from its rollup, and deciding whether a rollup serves (its freshness
//! check). Workspaces are generated, rollups built and sessions opened
//! outside the measured loops.
//!
//! `cargo bench --bench micro` (sizes: `CPIQ_BENCH_CUSTOMERS`, default 4,000
//! customers × 24 months, about 130,000 events).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop on a broken setup

use std::path::Path;

use cpiq::engine::EngineOptions;
use cpiq::exec::args::parse_slice;
use cpiq::front::generate::{GenerateOptions, generate};
use cpiq::workspace::Workspace;
use criterion::{Criterion, criterion_group, criterion_main};

fn workspace(dir: &Path) -> Workspace {
    let customers = std::env::var("CPIQ_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    generate(&GenerateOptions {
        out: dir.to_path_buf(),
        customers,
        months: 24,
        ..GenerateOptions::default()
    })
    .unwrap();
    Workspace::discover(Some(dir)).unwrap()
}

/// The shipped CPIs copied under new names until there are 50.
fn fifty_cpis(dir: &Path) {
    let cpis = dir.join("queries/cpis");
    let shipped: Vec<_> = std::fs::read_dir(&cpis)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut n = shipped.len();
    'fill: for round in 1.. {
        for p in &shipped {
            if n >= 50 {
                break 'fill;
            }
            let text = std::fs::read_to_string(p).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let copy = format!("{name}_{round}");
            std::fs::write(
                cpis.join(format!("{copy}.sql")),
                text.replace(&format!("-- cpi: {name}"), &format!("-- cpi: {copy}")),
            )
            .unwrap();
            n += 1;
        }
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut ws = workspace(dir.path());
    ws.settings.target_partitions = Some(2);
    let engine = rt
        .block_on(cpiq::analysis::plan::open(
            ws.clone(),
            EngineOptions::default(),
        ))
        .unwrap();
    let req = parse_slice("on_time_delivery by channel per month")
        .unwrap()
        .to_request()
        .unwrap();
    let (_, statements) = rt
        .block_on(cpiq::analysis::plan::slice(&engine, &req))
        .unwrap();

    c.bench_function("plan a slice (SQL to physical plan)", |b| {
        b.to_async(&rt).iter(|| async {
            let df = engine.sql(&statements[0]).await.unwrap();
            df.create_physical_plan().await.unwrap()
        })
    });
    c.bench_function(
        "execute a slice (on_time_delivery by channel per month)",
        |b| {
            b.to_async(&rt)
                .iter(|| async { cpiq::analysis::plan::slice(&engine, &req).await.unwrap() })
        },
    );

    let raw = cpiq::analysis::slice::SliceRequest {
        raw: true,
        ..req.clone()
    };
    c.bench_function("execute a slice from the events (--raw)", |b| {
        b.to_async(&rt)
            .iter(|| async { cpiq::analysis::plan::slice(&engine, &raw).await.unwrap() })
    });
    rt.block_on(cpiq::analysis::rollup::build(
        &engine,
        &["on_time_delivery".to_string()],
        cpiq::model::calendar::Grain::Day,
    ))
    .unwrap();
    c.bench_function("execute the slice from its day rollup", |b| {
        b.to_async(&rt)
            .iter(|| async { cpiq::analysis::plan::slice(&engine, &req).await.unwrap() })
    });
    c.bench_function("decide that the rollup serves (freshness check)", |b| {
        b.to_async(&rt)
            .iter(|| async { cpiq::analysis::rollup::choose(&engine, &req).await.unwrap() })
    });

    fifty_cpis(dir.path());
    let ws50 = Workspace::discover(Some(dir.path())).unwrap();
    c.bench_function("open a workspace of 50 CPIs", |b| {
        b.to_async(&rt).iter(|| async {
            let e = cpiq::analysis::plan::open(ws50.clone(), EngineOptions::default())
                .await
                .unwrap();
            assert_eq!(e.cpis().len(), 50);
            e
        })
    });
}

criterion_group! {
    name = micro;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(micro);
