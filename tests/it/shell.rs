//! The shell (issue 2's `cargo run --release` opens it): piped statements run
//! as a script; under a pseudo-terminal it prompts, continues multi-line SQL
//! until `;`, lists CPIs and quits on `\q`.

use std::time::Duration;

use crate::support::{bin, cpiq_stdin, generated};

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
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(generated())
        .env("CPIQ_HISTORY", hist.path().join("history"))
        .env("TERM", "xterm");
    let mut p =
        rexpect::session::spawn_command(cmd, Some(Duration::from_secs(30).as_millis() as u64))
            .unwrap();
    p.exp_string("\\? for help").unwrap();
    p.exp_string("cpiq> ").unwrap();
    p.send_line("SELECT 40 +").unwrap();
    p.send_line("  2 AS answer;").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("(1 row)").unwrap();
    // rustyline discards type-ahead when it takes the terminal back, so wait
    // for each prompt as a person would.
    p.exp_string("cpiq> ").unwrap();
    p.send_line("\\cpis").unwrap();
    p.exp_string("on_time_delivery").unwrap();
    p.exp_string("cpiq> ").unwrap();
    p.send_line("SELECT * FROM nowhere;").unwrap();
    p.exp_string("table 'cpiq.public.nowhere' not found")
        .unwrap();
    p.exp_string("cpiq> ").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(hist.path().join("history")).unwrap();
    assert!(history.contains("\\cpis"), "{history}");
}
