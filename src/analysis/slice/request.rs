//! What a slice asks for: CPIs, dimensions, grain, range, filter and
//! comparison ([`SliceRequest`]), and its validation against the catalog.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use super::predicate::check_predicate;
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::Grain;
use crate::model::cpi::CpiDefinition;

/// What to compare each period with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The preceding period.
    Previous,
    /// The same period a year earlier.
    Year,
}

impl FromStr for Compare {
    type Err = CpiqError;
    fn from_str(s: &str) -> Result<Compare> {
        match s {
            "previous" => Ok(Compare::Previous),
            "year" => Ok(Compare::Year),
            other => Err(CpiqError::Usage(format!(
                "unknown comparison \"{other}\" (expected previous or year)"
            ))),
        }
    }
}

/// A slice of one or more CPIs.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceRequest {
    /// The CPIs, sharing the same slicing.
    pub cpis: Vec<String>,
    /// Dimensions to split by.
    pub by: Vec<String>,
    /// The time grain.
    pub per: Grain,
    /// A SQL predicate over the CPIs' dimensions and time column.
    pub filter: Option<String>,
    /// Inclusive start date.
    pub from: Option<NaiveDate>,
    /// Exclusive end date.
    pub to: Option<NaiveDate>,
    /// Period-over-period comparison.
    pub compare: Option<Compare>,
    /// Add rows for periods with no events.
    pub fill: bool,
    /// Read the CPIs' views even where a fresh rollup covers the slice.
    pub raw: bool,
}

impl Default for SliceRequest {
    fn default() -> Self {
        SliceRequest {
            cpis: Vec::new(),
            by: Vec::new(),
            per: Grain::Month,
            filter: None,
            from: None,
            to: None,
            compare: None,
            fill: false,
            raw: false,
        }
    }
}

/// Split a comma-separated list, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// The definition of CPI `name`, or a usage error listing the known CPIs.
pub(crate) fn lookup<'a>(defs: &'a [CpiDefinition], name: &str) -> Result<&'a CpiDefinition> {
    defs.iter().find(|d| d.name == name).ok_or_else(|| {
        let mut known: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        known.sort();
        CpiqError::Usage(format!(
            "unknown CPI \"{name}\" (known: {})",
            known.join(", ")
        ))
    })
}

impl SliceRequest {
    /// Check the request against the CPI definitions: every CPI exists,
    /// declares every `--by` dimension (or has it as its entity), and the predicate only reads declared
    /// columns. Returns the definitions in request order.
    pub fn validate<'a>(&self, defs: &'a [CpiDefinition]) -> Result<Vec<&'a CpiDefinition>> {
        if self.cpis.is_empty() {
            return Err(CpiqError::Usage("name at least one CPI to slice".into()));
        }
        let chosen = self
            .cpis
            .iter()
            .map(|c| lookup(defs, c))
            .collect::<Result<Vec<_>>>()?;
        for def in &chosen {
            for d in &self.by {
                // The entity (the customer) slices too: one cell per customer.
                if !def.dimensions.contains(d) && def.entity.as_ref() != Some(d) {
                    return Err(CpiqError::Usage(format!(
                        "CPI {} has no dimension \"{d}\" (its dimensions: {}{})",
                        def.name,
                        if def.dimensions.is_empty() {
                            "none".into()
                        } else {
                            def.dimensions.join(", ")
                        },
                        def.entity
                            .as_ref()
                            .map(|e| format!("; its entity: {e}"))
                            .unwrap_or_default()
                    )));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for d in &self.by {
            if !seen.insert(d) {
                return Err(CpiqError::Usage(format!(
                    "dimension \"{d}\" is listed twice in --by"
                )));
            }
        }
        if self.compare.is_some() && self.per == Grain::All {
            return Err(CpiqError::Usage(
                "--compare needs a time grain: use --per day|week|month|quarter|year".into(),
            ));
        }
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f >= t
        {
            return Err(CpiqError::Usage(format!(
                "--from {f} must be before --to {t} (--to is exclusive)"
            )));
        }
        if let Some(pred) = &self.filter {
            check_predicate(pred, &chosen)?;
        }
        Ok(chosen)
    }
}

impl fmt::Display for SliceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.cpis.join(","), self.per)?;
        if !self.by.is_empty() {
            write!(f, " by {}", self.by.join(","))?;
        }
        Ok(())
    }
}
