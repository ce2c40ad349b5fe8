//! Mutation fuzzing of every parser that reads user input (issue 8).
//!
//! Each target starts from a corpus of real inputs (the shipped CPI files,
//! the generated `cpiq.toml`, the shell commands of the docs) and feeds the
//! parser mutants of them: bytes flipped, ranges deleted or repeated, pieces
//! of other inputs spliced in, tokens of the input language inserted. No
//! input may panic. A short run belongs to the test suite; the long run is
//!
//! ```text
//! CPIQ_FUZZ_ITERATIONS=1000000 cargo test --release fuzz -- --nocapture
//! ```
//!
//! and its counts are recorded in `docs/robustness.md`. `CPIQ_FUZZ_SEED`
//! picks another stream of mutants.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cpiq::exec::args::{parse_correlate, parse_explain, parse_slice, words};
use cpiq::exec::command::Command;
use cpiq::foundation::script;
use cpiq::model::calendar::Calendar;
use cpiq::model::cpi::CpiDefinition;
use cpiq::workspace::Workspace;

use crate::support::repo;

/// A small, fast, seedable generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes and tokens that matter to cpiq's parsers.
const TOKENS: &[&str] = &[
    "'",
    "\"",
    "`",
    "\\",
    "\n",
    "\r\n",
    "\t",
    " ",
    ";",
    ",",
    ":",
    "=",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "--",
    "/*",
    "*/",
    "$",
    "${",
    "}}",
    "{{",
    "..",
    "-",
    "+",
    "0",
    "-1",
    "1e309",
    "NaN",
    "9999999999999999999999",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{1F600}",
    "-- cpi:",
    "-- target:",
    "-- param:",
    "-- direction:",
    "-- unit:",
    "-- entity:",
    "-- time:",
    "-- dimensions:",
    "SELECT",
    "FROM",
    "WITH",
    "COPY",
    "by",
    "per",
    "with",
    "lags",
    "from",
    "to",
    "where",
    "compare",
    "fill",
    "from-period",
    "to-period",
    "month",
    "quarter",
    "week",
    "2024-02-30",
    "2024-13-01",
    "[tables.x]",
    "[kpis.k]",
    "[settings]",
    "[workspace]",
    "path =",
    "time =",
    "measures =",
    "true",
    "1GiB",
    "\\slice",
    "\\correlate",
    "\\set",
    "\\export",
    "\\x",
    "\\i",
];

/// One mutant of `input`, drawing splices from `corpus`.
fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let end = (at + rng.below(16) + 1).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            3 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + rng.below(32) + 1).min(out.len());
                let piece = out[start..end].repeat(rng.below(3) + 1);
                out.splice(at..at, piece);
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + rng.below(64) + 1).min(other.len());
                    out.splice(at..at, other[start..end].iter().copied());
                }
            }
            5 => out.truncate(at),
            _ => out.insert(at, rng.next() as u8),
        }
    }
    out
}

/// Iterations per target: `CPIQ_FUZZ_ITERATIONS`, else a short run.
fn iterations() -> u64 {
    std::env::var("CPIQ_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Silence panic messages on this thread while it fuzzes (the panics are
/// caught and the first one is reported); other threads keep theirs.
fn quiet_panics(on: bool) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(on));
}

/// The longest one input may take before it counts as a hang: the parsers
/// take microseconds, so this is thousands of times their typical time.
const HANG: Duration = Duration::from_secs(5);

/// Feed `target` mutants of `corpus`; fail with the input that panicked or
/// hung (ran longer than [`HANG`]).
fn fuzz(name: &str, corpus: Vec<String>, target: impl Fn(&str) + Send + 'static) {
    fuzz_bounded(name, corpus, HANG, target)
}

/// [`fuzz`] with a given hang bound. Inputs run on a worker thread that the
/// loop waits for with a timeout, so a hang fails the test (naming the
/// input) instead of stalling it; a hung worker is left parked.
fn fuzz_bounded(
    name: &str,
    corpus: Vec<String>,
    bound: Duration,
    target: impl Fn(&str) + Send + 'static,
) {
    let corpus: Vec<Vec<u8>> = corpus.into_iter().map(String::into_bytes).collect();
    let seed = std::env::var("CPIQ_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_C0DE_u64);
    let mut rng = Rng(seed | 1);
    let n = iterations();
    let started = Instant::now();
    let (to_worker, inputs) = std::sync::mpsc::channel::<String>();
    let (to_loop, outcomes) = std::sync::mpsc::channel::<bool>();
    let worker = std::thread::spawn(move || {
        quiet_panics(true);
        for text in inputs {
            let panicked = catch_unwind(AssertUnwindSafe(|| target(&text))).is_err();
            if to_loop.send(panicked).is_err() {
                break;
            }
        }
        quiet_panics(false);
        target
    });
    let mut failure = None;
    for i in 0..n {
        let seed_input = &corpus[rng.below(corpus.len())];
        let mutant = mutate(&mut rng, seed_input, &corpus);
        let text = String::from_utf8_lossy(&mutant).into_owned();
        to_worker
            .send(text.clone())
            .expect("the fuzz worker is running");
        match outcomes.recv_timeout(bound) {
            Ok(false) => {}
            Ok(true) => {
                failure = Some((i, text));
                break;
            }
            Err(_) => panic!(
                "{name}: input {i} (seed {seed}) is a hang (still running after {bound:?}): {text:?}"
            ),
        }
    }
    drop(to_worker);
    let target = worker.join().expect("the fuzz worker ends");
    if let Some((i, text)) = failure {
        // Run it again with the hook back, so the panic's message is shown.
        let _ = catch_unwind(AssertUnwindSafe(|| target(&text)));
        panic!("{name}: input {i} (seed {seed}) panicked: {text:?}");
    }
    eprintln!(
        "fuzz {name}: {n} inputs, no panic, no hang, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(repo().join(path)).expect("corpus file")
}

fn cpi_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo().join("queries/cpis"))
        .expect("queries/cpis")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("cpi file"))
        .collect();
    out.sort();
    out
}

/// Shell commands as the docs and tests write them.
fn commands() -> Vec<String> {
    [
        r"\slice on_time_delivery,first_contact_resolution by channel, segment per quarter compare year fill from 2024-01-01 to 2025-01-01",
        r"\slice first_contact_resolution by region per week where channel = 'phone' and segment <> 'smb'",
        r"\compare on_time_delivery by channel per month",
        r"\correlate first_contact_resolution,on_time_delivery with nps,churn_rate per month by segment lags 0..3 per-customer",
        r"\explain on_time_delivery by channel from-period 2024-Q1 to-period 2024-Q2 per quarter",
        r"\set sla_hours 24",
        r"\unset sla_hours",
        r#"\export "out dir/result.parquet" SELECT * FROM on_time_delivery"#,
        r"\format markdown",
        r"\maxrows all",
        r"\x auto",
        r"\pager off",
        r"\timing on",
        r"\o results.csv",
        r"\i queries/jobs/monthly_cpi_report.sql",
        r"\cpi on_time_delivery",
        r"\d orders",
        r"\? slice",
        r"\q",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn fuzz_cpi_definitions() {
    let path = Path::new("queries/cpis/fuzz.sql");
    fuzz("cpi definition", cpi_files(), |text| {
        if let Ok(def) = CpiDefinition::parse(path, text) {
            let _ = def.render(&HashMap::new());
        }
    });
}

#[test]
fn fuzz_cpi_parameters() {
    // Parameter values go into the SQL: whatever they are, rendering either
    // refuses them or gives a statement, never a panic.
    let defs: Vec<CpiDefinition> = cpi_files()
        .iter()
        .map(|t| CpiDefinition::parse(Path::new("x.sql"), t).expect("shipped CPI"))
        .filter(|d| !d.params.is_empty())
        .collect();
    let values = ["24", "2024-01-01", "phone", "1.5", "x' OR 1=1 --", "a\\'b"]
        .map(String::from)
        .to_vec();
    fuzz("cpi parameter", values, move |value| {
        for def in &defs {
            let overrides = def
                .params
                .iter()
                .map(|p| (p.name.clone(), value.to_string()))
                .collect();
            let _ = def.render(&overrides);
        }
    });
}

#[test]
fn fuzz_workspace_config() {
    let corpus = vec![
        read("cpiq.toml"),
        "[workspace]\ncpis = \"q\"\n[settings]\nmemory_limit = \"4GiB\"\nspill_dir = \"spill\"\ntimezone = \"Europe/Paris\"\nfiscal_year_start = 4\nread_only = true\n[tables.t]\npath = \"t.csv\"\nformat = \"csv\"\non_bad_file = \"skip\"\n".into(),
    ];
    let path = Path::new("cpiq.toml");
    fuzz("workspace config", corpus, |text| {
        let _ = Workspace::parse(path, text);
    });
}

#[test]
fn fuzz_shell_commands() {
    fuzz("shell command", commands(), |line| {
        let _ = Command::from_str(line);
        let _ = words(line);
    });
}

#[test]
fn fuzz_slice_options() {
    let corpus: Vec<String> = commands()
        .iter()
        .filter_map(|c| c.split_once(' ').map(|(_, rest)| rest.to_string()))
        .collect();
    fuzz("slice options", corpus, |rest| {
        if let Ok(args) = parse_slice(rest) {
            let _ = args.to_request();
        }
        if let Ok(args) = parse_correlate(rest) {
            let _ = args.to_request();
        }
        if let Ok(args) = parse_explain(rest) {
            let _ = args.to_request(&Calendar::default());
        }
    });
}

#[test]
fn fuzz_script_splitter() {
    let corpus = vec![
        read("queries/jobs/monthly_cpi_report.sql"),
        "SELECT 'a;b' AS x; -- c;\n/* d; */ SELECT \"e;\" FROM t;\n\\slice x by y\nSELECT $$;$$;"
            .into(),
    ];
    fuzz("script splitter", corpus, |text| {
        let _ = script::split(text);
        let _ = script::is_complete(text);
    });
}

#[test]
fn the_fuzzer_finds_a_planted_panic() {
    // A parser that slices a string at a byte that may not be a char
    // boundary, the classic panic: the mutants must reach it.
    let caught = catch_unwind(|| {
        fuzz("planted", commands(), |line| {
            if let Some(i) = line.find("per") {
                let _ = &line[..i + 4];
            }
        })
    });
    let message = caught.expect_err("the planted panic was not found");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("planted: input"), "{message}");
}

#[test]
fn the_fuzzer_reports_a_planted_hang() {
    // A parser that never returns on some inputs (it parks its thread, so
    // the hung worker costs no CPU afterwards): reported as a hang.
    let caught = catch_unwind(|| {
        fuzz_bounded("hang", commands(), Duration::from_millis(300), |line| {
            if line.contains("by") && line.len() % 7 == 3 {
                loop {
                    std::thread::park();
                }
            }
        })
    });
    let message = caught.expect_err("the planted hang was not caught");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("hang: input") && message.contains("is a hang"),
        "{message}"
    );
}
