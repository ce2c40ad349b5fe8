use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator, as datafusion-cli does: query
/// execution makes many small, short-lived allocations (group keys, batches,
/// plan nodes). Measured in docs/performance.md ("Seventh session"), with
/// transparent huge pages off ([`NO_HUGE_PAGES`]).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the kernel grants transparent huge pages on request (`madvise`
/// mode), mimalloc asks for them, and a slice by customer then spent 44% of
/// its time zeroing 2 MiB pages it used sparsely (1.22x slower than glibc's
/// allocator). They are turned off for this process, as MIMALLOC_ALLOW_THP=0
/// does, before the first allocation (Rust's runtime allocates before
/// `main`): this runs from `.init_array`, as the C runtime starts.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NO_HUGE_PAGES: extern "C" fn() = {
    extern "C" fn no_huge_pages() {
        // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    no_huge_pages
};

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
