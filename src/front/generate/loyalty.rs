//! The planted relations that are not drivers, on random streams of their
//! own (5 and 6) so every other table keeps its rows: a CPI that shares only
//! a linear trend with a KPI, and a CPI that follows a KPI one month later.
//!
//! Per segment, `kpi_loyalty.repeat_rate` is a linear trend plus a
//! standardised AR(1) fluctuation u. `callback_on_time` rises on its own
//! linear trend plus independent noise: it shares nothing with the KPI but
//! the trend (`trend_only`). `callback_within` moves with u one month
//! earlier: when repeat purchases rose last month, callbacks are slower
//! (`reverse`, the KPI leads). Their callback requests go to `callbacks`.

use std::path::Path;

use chrono::{Duration, NaiveTime};

use super::tables::{Callback, LoyaltyRow, Partitioned, TableWriter};
use super::{BURN_IN, Rng, micros, month_start};
use crate::foundation::error::Result;

/// Callback requests per customer and month.
const RATE_CALLBACKS: f64 = 0.3;

/// The CPI that shares only a trend with the KPI.
pub(super) const TREND_ONLY: &str = "callback_on_time";
/// The CPI the KPI leads by one month.
pub(super) const REVERSE: &str = "callback_within";
/// The KPI of both.
pub(super) const KPI: &str = "kpi_loyalty.repeat_rate";

/// The two planted CPI definitions, written into generated workspaces.
pub(super) const CPIS: [(&str, &str); 2] = [
    (
        "callback_on_time.sql",
        include_str!("planted/callback_on_time.sql"),
    ),
    (
        "callback_within.sql",
        include_str!("planted/callback_within.sql"),
    ),
];

/// Per month (index BURN_IN + m) and segment: the KPI's fluctuation u and
/// the trend-only CPI's own noise, each a standardised AR(1) (φ = 0.3).
pub(super) struct Fluctuations {
    kpi: Vec<[f64; 3]>,
    own: Vec<[f64; 3]>,
}

/// Draw the fluctuations from random stream 6.
pub(super) fn fluctuations(root: &Rng, n_months: usize) -> Fluctuations {
    let mut r = root.fork(6);
    let (phi, sd): (f64, f64) = (0.3, (1.0f64 - 0.09).sqrt());
    let mut series = || {
        let mut out = vec![[0.0; 3]; n_months + BURN_IN];
        for s in 0..3 {
            let mut z = r.normal();
            for row in out.iter_mut() {
                row[s] = z;
                z = phi * z + sd * r.normal();
            }
        }
        out
    };
    let kpi = series();
    let own = series();
    Fluctuations { kpi, own }
}

/// Write the callback requests (stream 5), one file per month; returns
/// (rows, files).
pub(super) fn write_callbacks(
    root: &Rng,
    customers: &[(u8, u8)],
    fl: &Fluctuations,
    data: &Path,
    start: chrono::NaiveDate,
    n_months: usize,
) -> Result<(u64, usize)> {
    let mut r = root.fork(5);
    let mut w = TableWriter::<Callback>::partitioned(&data.join("callbacks"))?;
    let (mut id, mut files) = (0i64, 0usize);
    let end = month_start(start, n_months as u32).and_time(NaiveTime::MIN);
    for m in 0..n_months {
        let month = month_start(start, m as u32);
        let next = month_start(start, m as u32 + 1);
        w.open_partition(&month.format("%Y-%m").to_string())?;
        let progress = m as f64 / n_months as f64;
        let mut rows = Vec::new();
        let mean = customers.len() as f64 * RATE_CALLBACKS;
        for _ in 0..r.poisson(mean) {
            let cust = r.below(customers.len() as u64) as usize;
            let (s, region) = customers[cust];
            let seg = s as usize;
            let p_on_time =
                (0.60 + 0.25 * progress + 0.03 * fl.own[m + BURN_IN][seg]).clamp(0.02, 0.98);
            let p_within = (0.70 - 0.12 * fl.kpi[m + BURN_IN - 1][seg]).clamp(0.02, 0.98);
            let seconds = (next - month).num_seconds() as u64;
            let requested =
                month.and_time(NaiveTime::MIN) + Duration::seconds(r.below(seconds) as i64);
            let within = r.chance(p_within);
            let on_time = r.chance(p_on_time);
            let wait_h = if within {
                0.5 + 23.5 * r.f64()
            } else {
                24.0 + 48.0 * r.f64()
            };
            let called = requested + Duration::seconds((wait_h * 3600.0) as i64);
            // The promise lies after the call when it was kept, before it
            // (but after the request) when it was not.
            let promised_h = if on_time {
                wait_h + 2.0 * r.f64()
            } else {
                wait_h * (0.1 + 0.8 * r.f64())
            };
            let promised = requested + Duration::seconds((promised_h * 3600.0) as i64 + 1);
            rows.push(Callback {
                callback_id: 0,
                customer_id: cust as i64 + 1,
                segment: s,
                region,
                requested_at: micros(requested),
                promised_at: micros(promised),
                called_at: (called <= end).then(|| micros(called)),
            });
        }
        w.write_day(rows, &mut id)?;
        files += w.close_partition()?;
    }
    w.finish()?;
    Ok((id as u64, files))
}

/// Write `kpi_loyalty.parquet`: per month and segment, the repeat-purchase
/// rate, a linear trend plus the fluctuation u.
pub(super) fn write_kpi(
    fl: &Fluctuations,
    data: &Path,
    start: chrono::NaiveDate,
    n_months: usize,
) -> Result<()> {
    let mut w = TableWriter::<LoyaltyRow>::single(&data.join("kpi_loyalty.parquet"))?;
    for m in 0..n_months {
        let progress = m as f64 / n_months as f64;
        for s in 0..3 {
            w.push(LoyaltyRow {
                month: month_start(start, m as u32),
                segment: s as u8,
                repeat_rate: [0.28, 0.34, 0.41][s]
                    + 0.08 * progress
                    + 0.012 * fl.kpi[m + BURN_IN][s],
            })?;
        }
    }
    w.finish()?;
    Ok(())
}
