//! Profiles of relations: what a table holds (rows, files, size, time
//! ranges, for `\d`) and what its columns look like (`SUMMARIZE`).
//!
//! This room reads catalog statistics and runs one aggregate per request;
//! it knows no terminal or format (the listings are assembled and shown by
//! the session) and never writes.

mod listing; // rows, files, bytes, time ranges from listings and footers
mod summarize; // DuckDB's SUMMARIZE: per-column figures in one scan

pub use listing::{TableFacts, table_facts, time_columns};
pub use summarize::summarize;
