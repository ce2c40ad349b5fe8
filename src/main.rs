use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cpiq::front::cli::Args::parse();
    match cpiq::front::cli::run(args) {
        Ok(code) => code,
        // `cpiq sql … | head` closing the pipe early is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
