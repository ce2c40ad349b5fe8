//! The sample data generator behind `cpiq generate`.
//!
//! It writes a deterministic (same seed, same bytes), realistic interaction
//! history as Parquet plus a ready `cpiq.toml` and the shipped CPI library:
//! customers, support cases, orders, returns, quote requests, a monthly KPI
//! table per segment and per-customer survey responses. Events are written in
//! time order, one file per month and table, in row groups small enough for
//! time filters to prune.
//!
//! The generator plants known CPI-to-KPI relations: per segment, a latent
//! monthly quality level drives both a CPI and, one or two months later, a
//! KPI, with a known sign and correlation; three CPIs drive nothing. The
//! relations are written to `data-samples/planted_relations.csv` so that the
//! correlation feature can be checked against ground truth. Beside them, on
//! random streams of their own ([`loyalty`]), a CPI that shares only a
//! trend with a KPI and one that a KPI leads: the traps Granger tests with
//! a trend must not fall into.
//!
//! It streams day by day, so memory stays bounded whatever the size; only the
//! per-customer attributes (a few bytes each) are held.

mod days;
mod loyalty; // the trend-only and reverse relations, on streams of their own
mod rng;
mod tables;
mod workspace_files;

use days::{Day, orders, quote_requests, returns, support_cases, survey_responses};

pub use workspace_files::{CONFIG_TEMPLATE, CPI_LIBRARY};
use workspace_files::{PLANTED, Planted, write_planted, write_workspace_files};

pub use rng::Rng;

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use tables::{Customer, KpiRow, Order, QuoteRequest, Return, SupportCase, Survey, TableWriter};

use crate::foundation::error::{CpiqError, Result};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The workspace directory to create or refresh.
    pub out: PathBuf,
    /// Number of customers.
    pub customers: u64,
    /// Number of months of history.
    pub months: u32,
    /// Random seed: the same seed gives the same data.
    pub seed: u64,
    /// The first day of the first month.
    pub start: NaiveDate,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("cpiq-sample"),
            customers: 10_000,
            months: 24,
            seed: 42,
            start: DEFAULT_START,
            progress: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenerateSummary {
    /// Event rows (support cases, orders, returns, quote requests).
    pub events: u64,
    /// Survey responses.
    pub surveys: u64,
    /// Callback requests (the planted trend-only and reverse CPIs' table).
    pub callbacks: u64,
    /// Parquet files written.
    pub files: usize,
}

/// Segments, their share of customers, and their base levels.
pub const SEGMENTS: [&str; 3] = ["consumer", "smb", "enterprise"];
const SEGMENT_SHARE: [f64; 3] = [0.55, 0.30, 0.15];
/// Regions and their share of customers.
pub const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const REGION_SHARE: [f64; 4] = [0.3, 0.25, 0.25, 0.2];

/// Events per customer per month, by table.
const RATE_SUPPORT: f64 = 0.35;
const RATE_ORDERS: f64 = 0.85;
const RATE_RETURNS: f64 = 0.07;
const RATE_QUOTES: f64 = 0.12;
const RATE_SURVEYS: f64 = 0.06;

/// The latent drivers: each is a standardised AR(1) series per segment.
#[derive(Debug, Clone, Copy)]
enum Driver {
    Fcr = 0,
    OnTime,
    FirstResponse,
    Complete,
    Returns,
    Damage,
    Sla,
    Quotes,
}
const DRIVERS: usize = 8;

/// Months of latent history before the first month, so lagged KPIs have a
/// driver from the start.
const BURN_IN: usize = 3;

/// The first month of a generated history unless `--start` says otherwise.
const DEFAULT_START: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(d) => d,
    None => panic!("2024-01-01 is a date"),
};

/// The last second of a day: a promised delivery date ends then.
const LAST_SECOND: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(t) => t,
    None => panic!("23:59:59 is a time"),
};

/// The month `i` months after `start` (which is a first of month).
fn month_start(start: NaiveDate, i: u32) -> NaiveDate {
    let m0 = start.year() * 12 + start.month0() as i32 + i as i32;
    // `generate` checks that the whole history lies in years 1900-9999.
    NaiveDate::from_ymd_opt(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MAX)
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn hours(h: f64) -> Duration {
    Duration::microseconds((h * 3_600_000_000.0) as i64)
}

/// Generate a workspace. See the module docs for what it holds.
// One day's random draws in one fixed order are the data set's identity
// (same seed, same bytes): the tables' blocks below are called in that order.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    if opts.customers == 0 || opts.months == 0 {
        return Err(CpiqError::Usage(
            "--customers and --months must be at least 1".into(),
        ));
    }
    let start = opts.start - Duration::days(i64::from(opts.start.day0()));
    let last_year =
        i64::from(start.year()) + (i64::from(start.month0()) + i64::from(opts.months)) / 12;
    if start.year() < 1900 || last_year > 9999 {
        return Err(CpiqError::Usage(format!(
            "--start {} with --months {}: the history must lie in the years 1900-9999",
            opts.start, opts.months
        )));
    }
    let out = &opts.out;
    let data = out.join("data-samples");
    std::fs::create_dir_all(&data).map_err(|e| CpiqError::io(&data, e))?;
    write_workspace_files(out)?;

    let root = Rng::new(opts.seed);
    let n_months = opts.months as usize;

    let latent = latent_drivers(&root, n_months);
    let customers = write_customers(&root, opts.customers, start, &data)?;
    let mut summary = GenerateSummary {
        files: 1,
        ..GenerateSummary::default()
    };
    // The outcome of each customer's last support case: 0 none, 1 solved
    // at first contact, 2 not.
    let mut last_case = vec![0u8; customers.len()];

    let end = month_start(start, opts.months);
    let end_t = end.and_time(NaiveTime::MIN);
    let bar = progress_bar(opts.progress, opts.months as u64);

    let mut writers = Writers::open(&data)?;
    let mut ids = [0i64; 5];
    let mut r = root.fork(3);

    for m in 0..n_months {
        let month = month_start(start, m as u32);
        let next = month_start(start, m as u32 + 1);
        let days = (next - month).num_days();
        let key = month.format("%Y-%m").to_string();
        for w in writers.all() {
            w.open_partition(&key)?;
        }
        for day in 0..days {
            let date = month + Duration::days(day);
            let day = Day {
                midnight: date.and_time(NaiveTime::MIN),
                m,
                days,
                n_customers: opts.customers,
                customers: &customers,
                latent: &latent,
                end_t,
            };
            writers.day(&mut r, &day, &mut last_case, &mut ids, &mut summary)?;
        }
        for w in writers.all() {
            summary.files += w.close_partition()?;
        }
        if let Some(b) = &bar {
            b.set_message(format!("{} events", summary.events));
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    write_kpis(&root, &latent, &customers, &data, start, n_months)?;
    summary.files += 1;

    // Streams 5 and 6, drawn after everything else: the tables above keep
    // their bytes.
    let fl = loyalty::fluctuations(&root, n_months);
    let (callbacks, files) =
        loyalty::write_callbacks(&root, &customers, &fl, &data, start, n_months)?;
    summary.callbacks = callbacks;
    summary.files += files;
    loyalty::write_kpi(&fl, &data, start, n_months)?;
    summary.files += 1;

    write_planted(&data.join("planted_relations.csv"))?;
    Ok(summary)
}

/// The five event tables' writers, one partition (file) per month.
struct Writers {
    support: TableWriter<SupportCase>,
    orders: TableWriter<Order>,
    returns: TableWriter<Return>,
    quotes: TableWriter<QuoteRequest>,
    surveys: TableWriter<Survey>,
}

impl Writers {
    fn open(data: &Path) -> Result<Writers> {
        Ok(Writers {
            support: TableWriter::partitioned(&data.join("support_cases"))?,
            orders: TableWriter::partitioned(&data.join("orders"))?,
            returns: TableWriter::partitioned(&data.join("returns"))?,
            quotes: TableWriter::partitioned(&data.join("quote_requests"))?,
            surveys: TableWriter::partitioned(&data.join("survey_responses"))?,
        })
    }

    fn all(&mut self) -> [&mut dyn tables::Partitioned; 5] {
        [
            &mut self.support,
            &mut self.orders,
            &mut self.returns,
            &mut self.quotes,
            &mut self.surveys,
        ]
    }

    /// Draw and write one day of every table, in the fixed order of draws.
    fn day(
        &mut self,
        r: &mut Rng,
        day: &Day<'_>,
        last_case: &mut [u8],
        ids: &mut [i64; 5],
        summary: &mut GenerateSummary,
    ) -> Result<()> {
        let ev = &mut summary.events;
        *ev += self
            .support
            .write_day(support_cases(r, day, last_case), &mut ids[0])?;
        *ev += self.orders.write_day(orders(r, day), &mut ids[1])?;
        *ev += self.returns.write_day(returns(r, day), &mut ids[2])?;
        *ev += self.quotes.write_day(quote_requests(r, day), &mut ids[3])?;
        // Survey responses: per-customer NPS and CES, moved by the
        // segment's climate and by the customer's own last support case.
        let surveys = survey_responses(r, day, last_case);
        summary.surveys += self.surveys.write_day(surveys, &mut ids[4])?;
        Ok(())
    }
}

/// Latent drivers per segment and month (index BURN_IN + m is month m): an
/// AR(1) with φ = 0.3 and unit variance each, from random stream 1.
fn latent_drivers(root: &Rng, n_months: usize) -> Vec<[[f64; DRIVERS]; 3]> {
    let mut latent = vec![[[0.0f64; DRIVERS]; 3]; n_months + BURN_IN];
    let mut r = root.fork(1);
    let phi: f64 = 0.3;
    let sd = (1.0 - phi * phi).sqrt();
    for s in 0..3 {
        for d in 0..DRIVERS {
            let mut z = r.normal();
            for row in latent.iter_mut() {
                row[s][d] = z;
                z = phi * z + sd * r.normal();
            }
        }
    }
    latent
}

/// Write `customers.parquet` from random stream 2; returns each customer's
/// (segment, region).
fn write_customers(root: &Rng, n: u64, start: NaiveDate, data: &Path) -> Result<Vec<(u8, u8)>> {
    let mut r = root.fork(2);
    let mut customers = Vec::with_capacity(n as usize);
    let mut w = TableWriter::<Customer>::single(&data.join("customers.parquet"))?;
    for id in 1..=n {
        let c = Customer {
            customer_id: id as i64,
            segment: r.pick(&SEGMENT_SHARE) as u8,
            region: r.pick(&REGION_SHARE) as u8,
            signup_date: start - Duration::days(r.below(3 * 365) as i64 + 1),
        };
        customers.push((c.segment, c.region));
        w.push(c)?;
    }
    w.finish()?;
    Ok(customers)
}

/// The KPI table: one row per month and segment, each KPI its planted share
/// of its driver (lagged) plus independent noise.
fn write_kpis(
    root: &Rng,
    latent: &[[[f64; DRIVERS]; 3]],
    customers: &[(u8, u8)],
    data: &Path,
    start: NaiveDate,
    n_months: usize,
) -> Result<()> {
    let mut r = root.fork(4);
    let mut w = TableWriter::<KpiRow>::single(&data.join("kpi_monthly.parquet"))?;
    let seg_customers: Vec<f64> = (0..3)
        .map(|s| customers.iter().filter(|c| c.0 as usize == s).count() as f64)
        .collect();
    for m in 0..n_months {
        for s in 0..3 {
            // Each KPI = planted share of its driver (lagged) + independent noise.
            let mut kpi = |p: &Planted| {
                let rho = p.rho[s];
                let driver = latent[m + BURN_IN - p.lag][s][p.driver as usize];
                rho * driver + (1.0 - rho * rho).sqrt() * r.normal()
            };
            let nps = kpi(&PLANTED[0]);
            let churn = kpi(&PLANTED[1]);
            let ces = kpi(&PLANTED[2]);
            let revenue = kpi(&PLANTED[3]);
            let clv = kpi(&PLANTED[4]);
            let base_rev = [95.0, 420.0, 2600.0][s] * seg_customers[s];
            w.push(KpiRow {
                month: month_start(start, m as u32),
                segment: s as u8,
                nps: ([32.0, 24.0, 18.0][s] + 9.0 * nps),
                ces: ([5.3, 5.0, 4.7][s] + 0.35 * ces),
                churn_rate: ([0.021, 0.014, 0.008][s] * (1.0 + 0.25 * churn)).max(0.0),
                revenue: (base_rev * (1.0 + 0.06 * revenue)).max(0.0),
                clv: ([820.0, 5400.0, 41000.0][s] * (1.0 + 0.05 * clv)).max(0.0),
            })?;
        }
    }
    w.finish()?;
    Ok(())
}

fn progress_bar(enabled: bool, months: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(months);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} months  {msg}  {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::workspace_files::UNPLANTED;
    use super::*;

    #[test]
    fn months_roll_over_years() {
        let s = NaiveDate::from_ymd_opt(2024, 11, 1).unwrap();
        assert_eq!(month_start(s, 0), s);
        assert_eq!(
            month_start(s, 2),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        );
        assert_eq!(
            month_start(s, 14),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
    }

    #[test]
    fn every_shipped_cpi_is_either_planted_or_declared_inert() {
        for (file, _) in CPI_LIBRARY {
            let name = file.trim_end_matches(".sql");
            let planted = PLANTED.iter().any(|p| p.cpi == name);
            let inert = UNPLANTED.contains(&name);
            assert!(planted ^ inert, "{name}");
        }
        // The generated workspace's two extra CPIs are the traps.
        let extra: Vec<&str> = loyalty::CPIS
            .iter()
            .map(|(f, _)| f.trim_end_matches(".sql"))
            .collect();
        assert_eq!(extra, [loyalty::TREND_ONLY, loyalty::REVERSE]);
    }
}
