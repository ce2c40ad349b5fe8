//! Showing a long result through a pager (`$PAGER`, default `less -S`).

use std::io::Write;
use std::process::{Command, Stdio};

/// Page `text`; an error (pager missing, failed) lets the caller print it.
pub fn page(text: &[u8]) -> std::io::Result<()> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less -S".into());
    let mut parts = pager.split_whitespace();
    let program = parts.next().unwrap_or("less");
    let mut child = Command::new(program)
        .args(parts)
        .env(
            "LESS",
            std::env::var("LESS").unwrap_or_else(|_| "FRX".into()),
        )
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // The reader may quit early; that is not an error.
        let _ = stdin.write_all(text);
    }
    child.wait()?;
    Ok(())
}
