//! The CPI model: definitions, their parameters, and the catalog of a workspace.
//!
//! A CPI is a SQL view that returns one row per customer event with a time
//! column, its declared dimensions, and numeric `numerator` and `denominator`
//! columns; its value over any set of rows is `SUM(numerator) /
//! SUM(denominator)`. This module owns reading definitions
//! ([`CpiDefinition`]), substituting parameters ([`substitute`]) and listing a
//! directory of definitions ([`load_definitions`]). Registering them as views
//! and planning them is the engine's job.

pub mod catalog; // the order CPIs register in, and recursive definitions
mod definition;
mod params;
mod units;

pub use definition::{CpiDefinition, Direction, Param, Unit};
pub use params::{code_literal, is_iso_date, substitute};
pub use units::{format_change, format_count, format_value};

use std::path::{Path, PathBuf};

use crate::foundation::error::{CpiqError, Result};

/// Read every `*.sql` file of `dir`, in file-name order. Each file yields its
/// definition or the error that rejected it, so one bad file does not stop the
/// others from loading. A second definition of an already defined name is an
/// error of the second file.
pub fn load_definitions(dir: &Path) -> Result<Vec<(PathBuf, Result<CpiDefinition>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CpiqError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql") && p.is_file())
        .collect();
    files.sort();
    let mut out: Vec<(PathBuf, Result<CpiDefinition>)> = Vec::with_capacity(files.len());
    for path in files {
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| CpiqError::io(&path, e))
            .and_then(|text| CpiDefinition::parse(&path, &text));
        let parsed = parsed.and_then(|def| {
            let dup = out.iter().find_map(|(p, d)| match d {
                Ok(d) if d.name == def.name => Some(p.clone()),
                _ => None,
            });
            match dup {
                Some(first) => Err(CpiqError::definition(
                    &path,
                    def.line_of("cpi"),
                    format!(
                        "CPI \"{}\" is already defined in {}",
                        def.name,
                        first.display()
                    ),
                )),
                None => Ok(def),
            }
        });
        out.push((path, parsed));
    }
    Ok(out)
}
