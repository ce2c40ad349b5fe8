//! The one integration-test binary of cpiq (every extra binary would link
//! DataFusion again). Each module drives the real `cpiq` binary the way a
//! user does: arguments, pipes, exit codes, files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test may panic

mod support; // running the binary, temporary workspaces, fixtures

mod charts; // \\chart, --chart, SVG/PNG, sparklines, the HTML report in headless Chromium (issue 10)
mod cli; // one-shot commands on the bundled and generated workspaces (issue 2)
#[cfg(feature = "distributed")]
mod cluster; // a loopback Ballista cluster of `cpiq cluster` processes: equal answers, a killed executor (issue 9)
mod correlate; // cpiq correlate: planted effects, numerical checks, Olist (issue 5)
mod cpi_values; // every shipped CPI against hand-worked values (issue 2)
mod definitions; // bad cpiq.toml and CPI files: file:line errors, the rest loads (issue 2)
mod differential; // every slice shape and correlations against DuckDB and scipy (issue 23)
mod documented; // documented behaviour of the shell, outputs, read-only, exit codes (issue 23)
mod fuzz; // mutation fuzzing of every parser of user input (issue 8)
mod generate; // the generator: determinism, planted relations, 10M scale knobs (issue 2)
mod granger; // cpiq granger and correlate --prewhiten against statsmodels (issue 19)
mod jobs; // cpiq run as a scheduled job: params, report, exit codes, atomic self-describing exports (issue 6)
mod layers; // src/ keeps its one-way layers, rooms without cycles (issue 18)
mod profile; // \\d with rows, files, sizes, time ranges; \\summarize against DuckDB (issue 21)
mod read_only; // --read-only refuses every kind of write (issue 8)
mod realdata; // on-time delivery on the real Olist orders (issue 2)
mod robustness; // messy data, memory limits, odd input (issue 8)
mod rollup; // rollups: equal to raw answers, staleness, refresh (issue 7)
mod shell; // the shell under a pseudo-terminal and with piped input (issues 2, 4)
mod slice; // cpiq slice, \\slice, cpi_slice(), explain-change (issue 3)
mod storage; // tables and exports on an S3-compatible server (moto on loopback) (issue 9)
