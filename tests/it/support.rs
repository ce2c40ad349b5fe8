//! Helpers: run the `cpiq` binary, build temporary workspaces.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cpiq"))
}

/// The repository root (the bundled sample workspace lives here).
///
/// Read when the tests run, not when they were built: clones at different
/// paths share one target directory, and cargo does not rebuild an unchanged
/// test binary for a new path.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The shared real data, beside the repository.
/// Writes `dir/cpiq.toml`: the workspace `src`'s, with its data and CPI
/// folders made absolute (so they are read where they are) and `setting`
/// added under `[settings]`.
pub fn copy_config(src: &Path, dir: &Path, setting: &str) {
    let text = std::fs::read_to_string(src.join("cpiq.toml"))
        .unwrap()
        .replace("[settings]", &format!("[settings]\n{setting}"))
        .replace(
            "\"data-samples/",
            &format!("\"{}/data-samples/", src.display()),
        )
        .replace(
            "\"queries/cpis\"",
            &format!("\"{}/queries/cpis\"", src.display()),
        );
    std::fs::write(dir.join("cpiq.toml"), text).unwrap();
}

pub fn realdata() -> PathBuf {
    repo().join("../shared/realdata")
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
}

/// Run `cpiq ARGS` in `dir` with no standard input.
pub fn cpiq_in(dir: &Path, args: &[&str]) -> Run {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("CPIQ_HISTORY")
        .stdin(Stdio::null())
        .output()
        .expect("run cpiq")
        .into()
}

/// Run `cpiq ARGS` in `dir`, feeding `input` on standard input.
pub fn cpiq_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cpiq");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("wait").into()
}

/// Parse CSV output into rows of fields, header first (quoted fields may
/// hold commas and newlines).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .filter(|r: &Vec<String>| !(r.len() == 1 && r[0].is_empty()))
        .collect()
}

/// CSV output as one map of column name to value per row.
pub fn records(out: &str) -> Vec<HashMap<String, String>> {
    let rows = csv_rows(out);
    let header = rows[0].clone();
    rows[1..]
        .iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

/// The single value of a one-row, one-column CSV result.
#[track_caller]
pub fn scalar(text: &str) -> String {
    let rows = csv_rows(text);
    assert_eq!(rows.len(), 2, "expected one row:\n{text}");
    rows[1][0].clone()
}

/// A workspace in a temporary directory with the shipped CPI library and
/// the given tables (name, file name, contents) written as files.
pub struct TempWorkspace {
    pub dir: tempfile::TempDir,
}

impl TempWorkspace {
    /// An empty workspace using the repository's CPI library.
    pub fn with_tables(tables: &[(&str, &str, &str)], extra_toml: &str) -> TempWorkspace {
        let dir = tempfile::tempdir().unwrap();
        let cpis = repo().join("queries/cpis");
        Self::build(dir, &cpis, tables, extra_toml)
    }

    /// A workspace with its own (empty) CPI directory `cpis/`.
    pub fn with_own_cpis(tables: &[(&str, &str, &str)], cpis: &[(&str, &str)]) -> TempWorkspace {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("cpis");
        std::fs::create_dir_all(&cdir).unwrap();
        for (name, text) in cpis {
            std::fs::write(cdir.join(name), text).unwrap();
        }
        Self::build(dir, &cdir, tables, "")
    }

    fn build(
        dir: tempfile::TempDir,
        cpis: &Path,
        tables: &[(&str, &str, &str)],
        extra: &str,
    ) -> TempWorkspace {
        let mut toml = format!("[workspace]\ncpis = {:?}\n", cpis.to_string_lossy());
        for (name, file, contents) in tables {
            std::fs::write(dir.path().join(file), contents).unwrap();
            toml.push_str(&format!("\n[tables.{name}]\npath = {file:?}\n"));
        }
        toml.push_str(extra);
        std::fs::write(dir.path().join("cpiq.toml"), toml).unwrap();
        TempWorkspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run cpiq in this workspace.
    pub fn cpiq(&self, args: &[&str]) -> Run {
        cpiq_in(self.path(), args)
    }
}

/// `cpiq generate` into a new temporary directory.
pub fn generate(customers: u64, months: u32, seed: u64) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    generate_at(d.path(), customers, months, seed);
    d
}

/// `cpiq generate` into `dir` (created if missing), run from there.
pub fn generate_at(dir: &Path, customers: u64, months: u32, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.to_string_lossy().into_owned();
    let (customers, months, seed) = (customers.to_string(), months.to_string(), seed.to_string());
    cpiq_in(
        dir,
        &[
            "generate",
            "--out",
            &out,
            "--customers",
            &customers,
            "--months",
            &months,
            "--seed",
            &seed,
        ],
    )
    .ok();
}

/// Generate a small workspace once per test run and share it.
pub fn generated() -> &'static Path {
    use std::sync::OnceLock;
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| generate(3000, 24, 7)).path()
}

/// Compare `actual` with the snapshot `tests/it/snapshots/NAME`;
/// `CPIQ_BLESS=1` writes it instead (then review the diff).
#[track_caller]
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = repo().join("tests/it/snapshots").join(name);
    if std::env::var_os("CPIQ_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with CPIQ_BLESS=1 to write it",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "snapshot {name} differs (CPIQ_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// Two slice results (CSV) are the same: every field equal, except that
/// sums of fractional measures may differ in their last bits (an
/// aggregation adds in whatever order its partitions finish, so it differs
/// from run to run by as much; counts and every binary CPI are exact).
#[track_caller]
pub fn same_slices(left: &str, right: &str) {
    let (a, b) = (records(left), records(right));
    assert_eq!(a.len(), b.len(), "row counts differ:\n{left}\n---\n{right}");
    for (x, y) in a.iter().zip(&b) {
        for (k, v) in x {
            let w = &y[k];
            if v == w {
                continue;
            }
            let fractional = x["cpi"] == "time_to_first_response"
                && matches!(
                    k.as_str(),
                    "value" | "numerator" | "previous_value" | "change" | "change_pct"
                );
            let (p, q): (f64, f64) = (v.parse().unwrap(), w.parse().unwrap());
            assert!(
                fractional && (p - q).abs() <= 1e-12 * q.abs().max(1.0),
                "{k}: {v} vs {w} in {x:?}"
            );
        }
    }
}

/// A free loopback port (a race with other processes is possible but rare).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The python with DuckDB and scipy that reference checks run (`.ci/run`
/// sets `CPIQ_REFERENCE_PYTHON`); `None`, with a note, when it is not set,
/// unless `CPIQ_REQUIRE_REFERENCE` says CI must not skip.
pub fn reference_python() -> Option<PathBuf> {
    let Some(python) = std::env::var_os("CPIQ_REFERENCE_PYTHON").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CPIQ_REQUIRE_REFERENCE").is_none(),
            "CPIQ_REQUIRE_REFERENCE is set but CPIQ_REFERENCE_PYTHON is not"
        );
        eprintln!(
            "SKIPPED: set CPIQ_REFERENCE_PYTHON to a python with duckdb and scipy (.ci/run does)"
        );
        return None;
    };
    Some(python)
}

/// What a pseudo-terminal session printed, as text again: rexpect hands
/// over one char per byte, so UTF-8 (table borders, `…`) arrives split.
pub fn pty_text(out: &str) -> String {
    let bytes: Vec<u8> = out.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The shell's prompt as a pattern: a workspace name (temporary folders
/// start with a dot; the continuation prompt `...> ` does not match), what is
/// in brackets, `> `. The exact wording is `shell::the_prompt_says_where_you_are`'s.
pub const PROMPT: &str = r"(?:[^\s\[\]>.]|\.[^\s\[\]>.])[^\s\[\]>]*(?:\[[^\]\r\n]*\])?> ";

/// Wait for the shell's next prompt; what came before it.
pub fn expect_prompt(p: &mut rexpect::session::PtySession) -> String {
    p.exp_regex(PROMPT).unwrap().0
}
