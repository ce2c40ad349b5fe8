//! The calendar and the CPI model: grains, periods and fiscal years; CPI
//! definitions, their parameters, units and how values read to people. It
//! knows the workspace's settings but no DataFusion session, no terminal.

pub mod calendar; // grains, period starts, fiscal years, dates as typed
pub mod cpi; // CPI definitions, parameters, units, the catalog of a CPI directory
pub(crate) mod period; // cpiq_period_start: period starts over Arrow arrays (a scalar UDF)
