//! The shell (issues 2 and 4), driven through a pseudo-terminal the way an
//! analyst uses it: multi-line SQL, completion, slicing, parameters,
//! exporting the last result, history across sessions, and Ctrl-C during a
//! long query. Piped input runs as a script.

use std::path::Path;
use std::time::Duration;

use rexpect::session::PtySession;

use crate::support::{bin, cpiq_in, cpiq_stdin, generated, scalar};

pub(crate) fn shell(dir: &Path, history: &Path) -> PtySession {
    shell_with(dir, history, &[])
}

/// [`shell`] with extra environment variables.
pub(crate) fn shell_with(dir: &Path, history: &Path, env: &[(&str, &str)]) -> PtySession {
    shell_args(dir, history, &[], env)
}

/// [`shell_with`] with arguments (`--read-only`).
pub(crate) fn shell_args(
    dir: &Path,
    history: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> PtySession {
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(dir)
        .args(args)
        .env("CPIQ_HISTORY", history)
        .env("TERM", "xterm")
        .env("PAGER", "cat")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    let mut p =
        rexpect::session::spawn_command(cmd, Some(Duration::from_secs(30).as_millis() as u64))
            .unwrap();
    p.exp_string("\\? for help").unwrap();
    crate::support::expect_prompt(&mut p);
    p
}

/// Send a line and wait for the prompt after its output: rustyline drops
/// type-ahead when it takes the terminal back, so a person waits too. The
/// prompt is first redrawn while the line is typed; the second one follows
/// the output.
pub(crate) fn run(p: &mut PtySession, line: &str) -> String {
    p.send_line(line).unwrap();
    let echo = line
        .chars()
        .rev()
        .take(12)
        .collect::<String>()
        .chars()
        .rev()
        .collect::<String>();
    p.exp_string(&echo).unwrap();
    crate::support::expect_prompt(p)
}

#[test]
fn piped_input_runs_as_a_script() {
    let r = cpiq_stdin(
        generated(),
        &[],
        "SELECT 1 AS a;\n\\format json\nSELECT 2 AS b;\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "a\n1\n[{\"b\":2}]\n");
}

#[test]
fn the_shell_prompts_runs_multiline_sql_and_quits() {
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell(generated(), &hist.path().join("history"));
    p.send_line("SELECT 40 +").unwrap();
    p.send_line("  2 AS answer;").unwrap();
    p.exp_string("42").unwrap();
    let out = crate::support::expect_prompt(&mut p);
    assert!(out.contains("(1 row, "), "{out}");
    let out = run(&mut p, "\\cpis");
    assert!(out.contains("on_time_delivery"), "{out}");
    let out = run(&mut p, "SELECT * FROM nowhere;");
    assert!(
        out.contains("table 'cpiq.public.nowhere' not found"),
        "{out}"
    );
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn an_analyst_lists_slices_sets_a_parameter_and_exports_without_docs() {
    let hist = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let mut p = shell(generated(), &hist.path().join("history"));
    let help = run(&mut p, "\\?");
    assert!(
        help.contains("\\slice") && help.contains("\\export") && help.contains("\\set"),
        "{help}"
    );

    // Complete a CPI name and a dimension after `by` with Tab.
    p.send("\\slice on_ti").unwrap();
    p.send("\t").unwrap();
    p.send(" by seg").unwrap();
    p.send("\t").unwrap();
    p.send(", reg\t per quarter").unwrap();
    p.send_line("").unwrap();
    // The footer ends the result (each keystroke also redraws the prompt).
    let out = p.exp_string("rows, ").unwrap();
    crate::support::expect_prompt(&mut p);
    assert!(
        out.contains("on_time_delivery") && out.contains("segment") && out.contains("region"),
        "{out}"
    );
    assert!(out.contains("enterprise") && out.contains("%"), "{out}");

    // Export the last result to Parquet, read it back, compare.
    let file = out_dir.path().join("otd.parquet");
    let out = run(&mut p, &format!("\\export {}", file.display()));
    let direct = cpiq_in(
        generated(),
        &[
            "slice",
            "on_time_delivery",
            "--by",
            "segment,region",
            "--per",
            "quarter",
            "-f",
            "csv",
        ],
    )
    .ok();
    assert!(
        out.contains(&format!("Wrote {} rows to", direct.lines().count() - 1)),
        "{out}"
    );
    let back = cpiq_in(
        generated(),
        &[
            "sql",
            &format!("SELECT * FROM '{}'", file.display()),
            "-f",
            "csv",
        ],
    )
    .ok();
    assert_eq!(back, direct);

    // Change a parameter for the session: the CPI's value moves.
    let q =
        "SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS v FROM resolved_within_sla";
    let default = scalar(&cpiq_in(generated(), &["sql", q]).ok());
    let loose = scalar(&cpiq_in(generated(), &["sql", q, "-p", "sla_hours=72"]).ok());
    run(&mut p, "\\set sla_hours 72");
    let out = run(&mut p, &format!("{q};"));
    assert!(
        out.contains(&loose[..8]) && !out.contains(&default[..8]),
        "{out}\n{default} {loose}"
    );
    run(&mut p, "\\unset sla_hours");
    let out = run(&mut p, &format!("{q};"));
    assert!(out.contains(&default[..8]), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn history_is_kept_across_sessions() {
    let hist = tempfile::tempdir().unwrap();
    let file = hist.path().join("nested/history");
    let mut p = shell(generated(), &file);
    run(&mut p, "SELECT 6 * 7 AS remembered;");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let mut p = shell(generated(), &file);
    // Up arrow recalls the previous session's lines: `\q`, then the statement.
    p.send("\x1b[A").unwrap();
    p.send("\x1b[A").unwrap();
    p.send_line("").unwrap();
    let out = p.exp_string("(1 row").unwrap();
    crate::support::expect_prompt(&mut p);
    assert!(out.contains("remembered") && out.contains("42"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_cancels_a_long_query_and_the_prompt_keeps_working() {
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell(generated(), &hist.path().join("history"));
    p.send_line("SELECT sum(value) FROM range(100000000000);")
        .unwrap();
    // The progress line says the query runs and how to stop it.
    p.exp_string("Ctrl-C cancels").unwrap();
    let t = std::time::Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    crate::support::expect_prompt(&mut p);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "cancel took {:?}",
        t.elapsed()
    );
    let out = run(&mut p, "SELECT 'still here' AS s;");
    assert!(out.contains("still here"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn the_progress_line_tells_the_share_read_and_the_time_left() {
    // A Parquet file whose query takes seconds (a hash per row).
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("big.parquet");
    let copy = format!(
        "COPY (SELECT value AS v, 'x' || value AS s FROM range(12000000)) TO '{}'",
        file.display()
    );
    let made = crate::support::cpiq_in(
        d.path(),
        &["-w", generated().to_str().unwrap(), "sql", &copy],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let mut p = shell(generated(), &d.path().join("history"));
    run(
        &mut p,
        &format!(
            "CREATE EXTERNAL TABLE big STORED AS PARQUET LOCATION '{}';",
            file.display()
        ),
    );
    p.send_line("SELECT count(DISTINCT sha512(repeat(s, 16))) AS n FROM big;")
        .unwrap();
    // From a second on: the share of the bytes to read, and the time left
    // (`·` arrives as its two bytes).
    let (_, line) = p
        .exp_regex(r"\d+\.\d s .{1,2} \d+% .{1,2} about \d+ (s|min \d+ s) left")
        .unwrap();
    let share: u32 = line
        .split('%')
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=99).contains(&share), "{line}");
    // When the result prints, the line is cleared first.
    let out = p.exp_string("(1 row").unwrap();
    crate::support::expect_prompt(&mut p);
    let after = &out[out.rfind("Ctrl-C cancels").unwrap_or(0)..];
    assert!(after.contains("\r\x1b[K"), "{after:?}");
    assert!(after.contains("12000000"), "{after:?}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

/// The process whose environment holds `entry` (the pty crate keeps its
/// child's pid private).
fn pid_with_env(entry: &str) -> u32 {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == entry.as_bytes()))
                .unwrap_or(false)
        })
        .expect("the shell's process")
}

/// Resident memory of `pid` in MiB, from /proc.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn ctrl_c_during_a_memory_hungry_query_returns_the_memory() {
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell(generated(), &hist.path().join("history"));
    let pid = pid_with_env(&format!(
        "CPIQ_HISTORY={}",
        hist.path().join("history").display()
    ));
    let before = rss_mib(pid);
    // A hash aggregation whose table keeps growing.
    p.send_line("SELECT value % 50000000 AS k, count(*) FROM range(10000000000) GROUP BY k;")
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rss_mib(pid) < before + 400.0 {
        assert!(std::time::Instant::now() < deadline, "the query never grew");
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = rss_mib(pid);
    let t = std::time::Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("query cancelled").unwrap();
    crate::support::expect_prompt(&mut p);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "cancel took {took:?}");
    // The stopped operators are dropped by the runtime's workers, which on
    // a loaded machine may take a moment after the prompt is back. Half of
    // the growth must go: a leaked operator would keep all of it, while
    // glibc's per-thread arenas may keep a part of the freed heap (measured
    // in a full parallel run: 528 → 190 MiB from 55, i.e. 71% returned).
    let released = before + (during - before) / 2.0;
    let mut after = rss_mib(pid);
    while after >= released && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        after = rss_mib(pid);
    }
    println!(
        "RSS before {before:.0} MiB, during {during:.0} MiB, after cancel {after:.0} MiB \
         ({:?} after Ctrl-C); prompt back in {took:?}",
        t.elapsed()
    );
    assert!(
        after < released,
        "memory kept after cancel: before {before:.0}, during {during:.0}, after {after:.0} MiB"
    );
    let out = run(&mut p, "SELECT 'still here' AS s;");
    assert!(out.contains("still here"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_panic_is_reported_and_the_shell_goes_on() {
    // A bug that panics (injected) must not take the analyst's session down.
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell_with(
        generated(),
        &hist.path().join("history"),
        &[("CPIQ_FAULT_INJECTION", "panic")],
    );
    let out = run(&mut p, "SELECT 1 AS x, 'cpiq_fault_panic' AS y;");
    assert!(
        out.contains("internal error (a bug in cpiq, please report it)"),
        "{out}"
    );
    let out = run(&mut p, "SELECT 'still here' AS s;");
    assert!(out.contains("still here"), "{out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_wide_cpi_table_keeps_status_and_colours_it() {
    // Issue 21: on a screen too narrow for the whole comparison, counts and
    // interval bounds go first; status stays, in colour (NO_COLOR empty).
    let hist = tempfile::tempdir().unwrap();
    let mut p = shell_with(
        &crate::support::repo(),
        &hist.path().join("history"),
        &[("NO_COLOR", "")],
    );
    // (With colour on, the echo is redrawn highlighted: wait for the note
    // that ends the output instead of the echo.)
    p.send_line("\\slice on_time_delivery by channel per quarter compare year")
        .unwrap();
    let out = p.exp_string("rows expanded)").unwrap();
    crate::support::expect_prompt(&mut p);
    let out = crate::support::pty_text(&out);
    let header = out
        .lines()
        .find(|l| l.contains("cpi") && l.contains("period"))
        .unwrap_or_else(|| panic!("no header: {out}"));
    for kept in ["channel", "value", "target", "status", "change"] {
        assert!(header.contains(kept), "{kept} hidden: {out}");
    }
    assert!(!header.contains("events"), "{out}");
    assert!(
        out.contains("hidden to fit the screen: numerator, denominator, events"),
        "{out}"
    );
    assert!(out.contains("\x1b[38;5;9m missed "), "missed in red: {out}");
    assert!(out.contains("\x1b[38;5;10m met "), "met in green: {out}");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn the_prompt_says_where_you_are() {
    // Issue 21: the workspace's folder name, parameters off their defaults,
    // read-only; shortened on a narrow terminal. (rexpect hands over one char
    // per byte, so `·` is looked for as its two UTF-8 bytes.)
    let bytes = |s: &str| s.bytes().map(char::from).collect::<String>();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("shop");
    crate::support::generate_at(&ws, 200, 3, 7);
    let hist = d.path().join("history");
    let mut p = shell_args(&ws, &hist, &[], &[("COLUMNS", "100")]);
    // The prompt `shell_args` waited for was `shop> ` if the next one is.
    p.send_line("SELECT 1 AS one;").unwrap();
    p.exp_string("(1 row").unwrap();
    p.exp_string("shop> ").unwrap();
    p.send_line("\\set sla_hours 48").unwrap();
    p.exp_string("shop[sla_hours=48]> ").unwrap();
    p.send_line("\\set days 3").unwrap();
    p.exp_string(&bytes("shop[days=3 · sla_hours=48]> "))
        .unwrap();
    // Back to a default value: no longer shown.
    p.send_line("\\set days 7").unwrap();
    p.exp_string("shop[sla_hours=48]> ").unwrap();
    p.send_line("\\unset sla_hours").unwrap();
    p.exp_string("shop> ").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();

    let mut p = shell_args(&ws, &hist, &["--read-only"], &[("COLUMNS", "100")]);
    p.send_line("\\set sla_hours 48").unwrap();
    p.exp_string(&bytes("shop[sla_hours=48 · read-only]> "))
        .unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();

    // 70 columns leave 28 for the prompt: two parameters become a count.
    let mut p = shell_args(&ws, &hist, &["--read-only"], &[("COLUMNS", "70")]);
    p.send_line("\\set sla_hours 48").unwrap();
    p.exp_string(&bytes("shop[1 param · read-only]> ")).unwrap();
    p.send_line("\\set days 3").unwrap();
    p.exp_string(&bytes("shop[2 params · read-only]> "))
        .unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
