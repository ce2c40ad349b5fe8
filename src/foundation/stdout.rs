//! Standard output that remembers a closed pipe, so `cpiq … | head` ends
//! quietly however deep the broken-pipe error was wrapped.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output that remembers when the reader closed the pipe, however
/// deep in a library the resulting error is wrapped or stringified.
#[derive(Debug)]
pub struct Stdout(std::io::Stdout);

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Stdout {
    /// The process's standard output.
    pub fn new() -> Stdout {
        Stdout(std::io::stdout())
    }

    /// True once a write failed because the reader went away.
    pub fn closed() -> bool {
        STDOUT_CLOSED.load(Ordering::Relaxed)
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
            }
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
            }
        })
    }
}
