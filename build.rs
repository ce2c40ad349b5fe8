//! Link the `cpiq` binary as a position-dependent executable on Linux (GNU
//! toolchain): each start then skips the dynamic loader's 277,672 relative
//! relocations, and the copy of the 4.7 MB of DataFusion's tables they write
//! into, page by page. Measured (2 cores, median of 20): `cpiq --version`
//! 3.8 → 1.6 ms, `select 1` on a workspace 13.8 → 12.0 ms — on every
//! one-shot command. The code is compiled as before (position-independent);
//! only the final link changes, and the binary's own address is no longer
//! randomised (shared libraries' still are). Elsewhere, nothing changes.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
