//! The contract of a slice's result that other rooms read: its column names
//! ([`col`]) and the values of its `status` column ([`Status`]). A rename is
//! one edit here; a typo elsewhere is a compile error.

use crate::foundation::spelled::spelled_enum;

/// Result column names of a slice (and a comparison).
pub mod col {
    pub use crate::analysis::columns::{CI_HIGH, CI_LOW, CPI};

    /// The period's first day (absent for `per all`).
    pub const PERIOD: &str = "period";
    /// Σnumerator / Σdenominator.
    pub const VALUE: &str = "value";
    /// Σnumerator.
    pub const NUMERATOR: &str = "numerator";
    /// Σdenominator.
    pub const DENOMINATOR: &str = "denominator";
    /// Events (rows) in the cell.
    pub const EVENTS: &str = "events";
    /// The CPI's target.
    pub const TARGET: &str = "target";
    /// [`super::Status`] against the target.
    pub const STATUS: &str = "status";
    /// The previous period's value (comparisons).
    pub const PREVIOUS_VALUE: &str = "previous_value";
    /// value − previous value.
    pub const CHANGE: &str = "change";
    /// The change in percent of the previous value.
    pub const CHANGE_PCT: &str = "change_pct";
}

spelled_enum! {
    /// A cell's standing against its CPI's target.
    pub enum Status {
        /// The value meets the target in the CPI's direction.
        Met = "met",
        /// It does not.
        Missed = "missed",
        /// Too few observations (`-- min_denominator:`) to judge.
        Insufficient = "insufficient",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_written() {
        for st in [Status::Met, Status::Missed, Status::Insufficient] {
            assert_eq!(st.as_str().parse::<Status>(), Ok(st));
        }
        assert!("unknown".parse::<Status>().is_err());
    }
}
