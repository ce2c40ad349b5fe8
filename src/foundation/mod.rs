//! The foundation every other layer stands on: the one error enum, atomic
//! files, standard output that notices a closed pipe, Ctrl-C handling,
//! Arrow column helpers and the SQL-aware script scanner. It imports nothing
//! of cpiq's.

pub(crate) mod atomic; // write to a temporary beside the target, then rename
pub(crate) mod columns; // typed access to Arrow columns, date/day conversions
pub mod error; // the one error enum, exit codes
pub(crate) mod interrupt; // SIGINT/SIGTERM as a future queries race against
pub(crate) mod parquet; // Parquet as cpiq writes it (exports, rollups): zstd, fixed batches, metadata
pub(crate) mod random; // SplitMix64, the one seeded generator (sample data, placebo shifts)
pub mod script; // splitting scripts into statements and commands (quote- and comment-aware)
pub(crate) mod spelled; // enums with one spelling per value (statuses): one list drives all
pub(crate) mod stdout; // standard output that remembers a broken pipe
pub(crate) mod text; // byte sizes as people read them
