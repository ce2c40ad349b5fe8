#![doc = include_str!("../README.md")]
//!
//! # Layers
//!
//! The modules below are layers, lowest first; each imports only the ones
//! above it in this list (`tests/it/layers.rs` fails on an upward import).
//! `docs/architecture.md` describes each room.

pub mod analysis; // slice, rollup, correlate, explain-change: requests in, batches out
pub mod engine; // the DataFusion session: registration, storage, resources, cluster backend
pub mod exec; // the session core every front end runs statements through
pub mod foundation; // errors, atomic files, Arrow and text helpers, the SQL-aware scanner
pub mod front; // the front ends: one-shot CLI, shell, cluster processes, sample generator
pub mod model; // the calendar and the CPI model: definitions, parameters, units
pub mod present; // output formats, charts, the HTML report
pub mod workspace; // cpiq.toml: tables, KPI tables, settings

pub use foundation::error::{CpiqError, Result};
