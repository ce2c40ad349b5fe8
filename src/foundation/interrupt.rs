//! Stopping work on SIGINT and SIGTERM without losing or half-writing data.
//!
//! [`interrupted`] resolves on the first SIGINT (Ctrl-C) or SIGTERM with the
//! error that ends the run ([`CpiqError::Cancelled`], exit 130, or
//! [`CpiqError::Terminated`], exit 143). The front end races its work against
//! it: the work's future is dropped, which stops the query and drops any
//! half-written export (its temporary is removed; the target is untouched).
//! From the first signal on, a second one exits at once: the temporaries
//! still being written are removed and the process ends with the code of the
//! first signal, for the analyst who does not want to wait for a cleanup.

use tokio::signal::unix::{SignalKind, signal};

use crate::foundation::error::CpiqError;

/// Wait for SIGINT or SIGTERM; return the error that ends the run.
///
/// If the handlers cannot be installed (no signal support), this never
/// resolves and the default dispositions stay in place.
pub async fn interrupted() -> CpiqError {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    let first = tokio::select! {
        _ = int.recv() => CpiqError::Cancelled,
        _ = term.recv() => CpiqError::Terminated,
    };
    let code = i32::from(first.exit_code());
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        eprintln!("\ninterrupted again: exiting now");
        crate::foundation::atomic::remove_temporaries();
        std::process::exit(code);
    });
    first
}
