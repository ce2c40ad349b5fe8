//! The terminal as the front ends see it: its size (or `$COLUMNS`/`$LINES`
//! on pipes), `$PAGER`, the progress line on standard error, and whether to
//! use colour. [`Tty`] lends these to the session core
//! ([`crate::exec::Terminal`]).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::exec::Terminal;
use crate::foundation::text::human_size;

/// The process's terminal (standard output and error).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tty;

/// The terminal's columns and rows, when on one of a usable size.
pub fn terminal_dims() -> Option<(usize, usize)> {
    terminal_size::terminal_size()
        .map(|(w, h)| (w.0 as usize, h.0 as usize))
        .filter(|(w, h)| *w >= 20 && *h >= 5)
}

/// The terminal's columns and rows, else `$COLUMNS` and `$LINES`, else
/// 100 × 30: what charts and the prompt are fitted to.
fn screen_dims() -> (usize, usize) {
    terminal_dims().unwrap_or_else(|| {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        (env("COLUMNS", 100), env("LINES", 30))
    })
}

/// Columns the shell's prompt is shortened to ([`screen_dims`]).
pub fn prompt_width() -> usize {
    screen_dims().0
}

/// Colour is used on a terminal unless `--no-color` or `NO_COLOR` say not;
/// `CLICOLOR_FORCE=1` asks for it on pipes too.
pub fn use_color(no_color_flag: bool) -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
    !no_color_flag
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && (set("CLICOLOR_FORCE") || std::io::stdout().is_terminal())
}

impl Terminal for Tty {
    fn table_size(&self) -> (usize, usize) {
        terminal_dims().unwrap_or((100, 40))
    }

    fn chart_size(&self) -> (usize, usize) {
        screen_dims()
    }

    fn page(&mut self, text: &[u8]) -> bool {
        super::pager::page(text).is_ok()
    }

    fn shows_progress(&self) -> bool {
        std::io::stderr().is_terminal()
    }

    fn progress(&mut self, elapsed: Duration, rows: usize, bytes: usize) {
        eprint!(
            "\r\x1b[K  {:.1} s · {rows} rows, {} scanned · Ctrl-C cancels",
            elapsed.as_secs_f64(),
            human_size(bytes as u64)
        );
        let _ = std::io::stderr().flush();
    }

    fn clear_progress(&mut self) {
        eprint!("\r\x1b[K");
        let _ = std::io::stderr().flush();
    }
}
