//! The terminal as the front ends see it: its size (or `$COLUMNS`/`$LINES`
//! on pipes), `$PAGER`, the progress line on standard error, and whether to
//! use colour. [`Tty`] lends these to the session core
//! ([`crate::exec::Terminal`]).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use crate::exec::{Progress, Terminal};
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

    fn progress(&mut self, p: &Progress) {
        eprint!("\r\x1b[K  {}", progress_text(p));
        let _ = std::io::stderr().flush();
    }

    fn clear_progress(&mut self) {
        eprint!("\r\x1b[K");
        let _ = std::io::stderr().flush();
    }
}

/// The progress line: `4.2 s · 38% · about 7 s left · 1203000 rows, 96.1 MiB
/// scanned · Ctrl-C cancels` (share and time left once they can be told).
pub fn progress_text(p: &Progress) -> String {
    let done = match p.done {
        Some((share, left)) => format!(
            " · {:.0}% · about {} left",
            share * 100.0,
            duration_text(left)
        ),
        None => String::new(),
    };
    format!(
        "{:.1} s{done} · {} rows, {} scanned · Ctrl-C cancels",
        p.elapsed.as_secs_f64(),
        p.rows,
        human_size(p.bytes as u64)
    )
}

/// A time left as people say it: `7 s`, `3 min 20 s`, `1 h 5 min`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_reads_as_a_sentence() {
        let s = Duration::from_secs;
        let p = Progress::new(s(2), 1200, 250 << 20, Some(1000 << 20));
        assert_eq!(
            progress_text(&p),
            "2.0 s · 25% · about 6 s left · 1200 rows, 250.0 MiB scanned · Ctrl-C cancels"
        );
        let early = Progress::new(Duration::from_millis(600), 5, 512, Some(4096));
        assert_eq!(
            progress_text(&early),
            "0.6 s · 5 rows, 512 B scanned · Ctrl-C cancels"
        );
        assert_eq!(duration_text(s(200)), "3 min 20 s");
        assert_eq!(duration_text(s(3900)), "1 h 5 min");
    }
}
