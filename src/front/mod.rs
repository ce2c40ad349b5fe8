//! The front ends: the one-shot command line (clap), the interactive shell
//! (rustyline, terminal, pager), the cluster processes, and the sample data
//! generator. Each builds requests and hands them to [`crate::exec`]; none
//! imports another's internals.

pub mod cli; // the one-shot command line: flags and glue
#[cfg(feature = "distributed")]
pub(crate) mod cluster; // `cpiq cluster scheduler|executor`: Ballista's processes, embedded
pub mod generate; // the deterministic sample data generator
mod pager; // showing long results through $PAGER
pub(crate) mod shell; // the interactive shell
pub(crate) mod term; // the terminal: size, pager, progress line, colour
