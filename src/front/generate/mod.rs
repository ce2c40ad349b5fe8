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
//! correlation feature can be checked against ground truth.
//!
//! It streams day by day, so memory stays bounded whatever the size; only the
//! per-customer attributes (a few bytes each) are held.

mod rng;
mod tables;
mod workspace_files;

pub use workspace_files::{CONFIG_TEMPLATE, CPI_LIBRARY};
use workspace_files::{PLANTED, Planted, write_planted, write_workspace_files};

pub use rng::Rng;

use std::path::PathBuf;

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

    // Latent drivers per segment and month (index BURN_IN + m is month m).
    let mut latent = vec![[[0.0f64; DRIVERS]; 3]; n_months + BURN_IN];
    {
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
    }
    // Customers.
    let mut r = root.fork(2);
    let mut customers = Vec::with_capacity(opts.customers as usize);
    let mut summary = GenerateSummary::default();
    {
        let mut w = TableWriter::<Customer>::single(&data.join("customers.parquet"))?;
        for id in 1..=opts.customers {
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
        summary.files += 1;
    }
    // The outcome of each customer's last support case: 0 none, 1 solved
    // at first contact, 2 not.
    let mut last_case = vec![0u8; customers.len()];

    let end = month_start(start, opts.months);
    let end_t = end.and_time(NaiveTime::MIN);
    let bar = progress_bar(opts.progress, opts.months as u64);

    let mut w_support = TableWriter::<SupportCase>::partitioned(&data.join("support_cases"))?;
    let mut w_orders = TableWriter::<Order>::partitioned(&data.join("orders"))?;
    let mut w_returns = TableWriter::<Return>::partitioned(&data.join("returns"))?;
    let mut w_quotes = TableWriter::<QuoteRequest>::partitioned(&data.join("quote_requests"))?;
    let mut w_surveys = TableWriter::<Survey>::partitioned(&data.join("survey_responses"))?;
    let mut ids = [0i64; 5];
    let mut r = root.fork(3);
    let n_cust = opts.customers as f64;

    for m in 0..n_months {
        let month = month_start(start, m as u32);
        let next = month_start(start, m as u32 + 1);
        let days = (next - month).num_days();
        let key = month.format("%Y-%m").to_string();
        let writers: [&mut dyn tables::Partitioned; 5] = [
            &mut w_support,
            &mut w_orders,
            &mut w_returns,
            &mut w_quotes,
            &mut w_surveys,
        ];
        for w in writers {
            w.open_partition(&key)?;
        }
        for day in 0..days {
            let date = month + Duration::days(day);
            let day = Day {
                midnight: date.and_time(NaiveTime::MIN),
                m,
                days,
                n_cust,
                n_customers: opts.customers,
                customers: &customers,
                latent: &latent,
                end_t,
            };

            // Support cases.
            let rows = numbered(
                support_cases(&mut r, &day, &mut last_case),
                |x| x.opened_at,
                |x, id| x.case_id = id,
                &mut ids[0],
            );
            summary.events += rows.len() as u64;
            w_support.extend(rows)?;

            // Orders.
            let rows = numbered(
                orders(&mut r, &day),
                |x| x.ordered_at,
                |x, id| x.order_id = id,
                &mut ids[1],
            );
            summary.events += rows.len() as u64;
            w_orders.extend(rows)?;

            // Returns.
            let rows = numbered(
                returns(&mut r, &day),
                |x| x.requested_at,
                |x, id| x.return_id = id,
                &mut ids[2],
            );
            summary.events += rows.len() as u64;
            w_returns.extend(rows)?;

            // Quote requests.
            let rows = numbered(
                quote_requests(&mut r, &day),
                |x| x.requested_at,
                |x, id| x.quote_id = id,
                &mut ids[3],
            );
            summary.events += rows.len() as u64;
            w_quotes.extend(rows)?;

            // Survey responses: per-customer NPS and CES, moved by the
            // segment's climate and by the customer's own last support case.
            let rows = numbered(
                survey_responses(&mut r, &day, &last_case),
                |x| x.responded_at,
                |x, id| x.response_id = id,
                &mut ids[4],
            );
            summary.surveys += rows.len() as u64;
            w_surveys.extend(rows)?;
        }
        let writers: [&mut dyn tables::Partitioned; 5] = [
            &mut w_support,
            &mut w_orders,
            &mut w_returns,
            &mut w_quotes,
            &mut w_surveys,
        ];
        for w in writers {
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

    // KPI table: one row per month and segment.
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
    summary.files += 1;

    write_planted(&data.join("planted_relations.csv"))?;
    Ok(summary)
}

/// One day of the history, and what every table's block of it reads.
struct Day<'a> {
    midnight: NaiveDateTime,
    /// The month's index (the latent drivers are per month).
    m: usize,
    /// Days in the month.
    days: i64,
    /// Customers, as a float for rates.
    n_cust: f64,
    /// Customers, for drawing one.
    n_customers: u64,
    /// (segment, region) of each customer.
    customers: &'a [(u8, u8)],
    latent: &'a [[[f64; DRIVERS]; 3]],
    /// The end of the history.
    end_t: NaiveDateTime,
}

impl Day<'_> {
    /// A moment of the day, uniformly.
    fn at(&self, r: &mut Rng) -> NaiveDateTime {
        self.midnight + Duration::seconds(r.below(86_400) as i64)
    }

    /// Expected events of the day at `rate` per customer and month.
    fn per_day(&self, rate: f64) -> f64 {
        self.n_cust * rate / self.days as f64
    }

    /// Segment `s`'s latent driver `d` this month.
    fn z(&self, s: usize, d: Driver) -> f64 {
        self.z_in(self.m, s, d)
    }

    /// Segment `s`'s latent driver `d` in month `m`.
    fn z_in(&self, m: usize, s: usize, d: Driver) -> f64 {
        self.latent[m + BURN_IN][s][d as usize]
    }
}

/// One day's rows sorted by time and numbered on from `*last`.
fn numbered<T, K: Ord>(
    mut rows: Vec<T>,
    time: impl Fn(&T) -> K,
    set_id: impl Fn(&mut T, i64),
    last: &mut i64,
) -> Vec<T> {
    rows.sort_by_key(|x| time(x));
    for row in rows.iter_mut() {
        *last += 1;
        set_id(row, *last);
    }
    rows
}

/// Support cases: one day's rows, in draw order.
fn support_cases(r: &mut Rng, day: &Day<'_>, last_case: &mut [u8]) -> Vec<SupportCase> {
    let mut rows = Vec::new();
    for _ in 0..r.poisson(day.per_day(RATE_SUPPORT)) {
        let cust = r.below(day.n_customers) as usize;
        let (s, reg) = day.customers[cust];
        let s = s as usize;
        let ch = r.pick(&[0.45, 0.35, 0.20]); // phone, email, chat
        let opened = day.at(r);
        let fcr_base = [0.78, 0.55, 0.70][ch];
        let fcr = r.chance((fcr_base + 0.07 * day.z(s, Driver::Fcr)).clamp(0.02, 0.98));
        let frt_mean = [0.4, 6.0, 0.15][ch] * (0.25 * day.z(s, Driver::FirstResponse)).exp();
        let first_response = opened + hours(r.exp(frt_mean));
        let sla_speed = (-0.25 * day.z(s, Driver::Sla)).exp();
        let resolve_h = if fcr {
            r.exp(2.0)
        } else {
            4.0 + r.exp(30.0 * sla_speed)
        };
        let resolved = opened + hours(resolve_h.max(0.01));
        let unresolved = resolved > day.end_t || r.chance(0.02);
        let contacts = if fcr { 1 } else { 2 + r.poisson(0.8) as i32 };
        last_case[cust] = if fcr { 1 } else { 2 };
        rows.push(SupportCase {
            case_id: 0,
            customer_id: cust as i64 + 1,
            segment: s as u8,
            region: reg,
            channel: ch as u8,
            category: r.pick(&[0.3, 0.35, 0.2, 0.15]) as u8,
            opened_at: micros(opened),
            first_response_at: (first_response <= day.end_t).then(|| micros(first_response)),
            resolved_at: (!unresolved).then(|| micros(resolved)),
            contacts: if unresolved {
                contacts.max(1)
            } else {
                contacts
            },
        });
    }
    rows
}

/// Orders: one day's rows, in draw order.
fn orders(r: &mut Rng, day: &Day<'_>) -> Vec<Order> {
    let mut rows = Vec::new();
    for _ in 0..r.poisson(day.per_day(RATE_ORDERS)) {
        let cust = r.below(day.n_customers) as usize;
        let (s, reg) = day.customers[cust];
        let s = s as usize;
        let ch = r.pick(&[0.55, 0.35, 0.10]); // web, app, store
        let ordered = day.at(r);
        let promised_date = (ordered + Duration::days(3 + r.below(5) as i64)).date();
        let promised = promised_date.and_time(LAST_SECOND);
        let on_time = r.chance((0.92 + 0.035 * day.z(s, Driver::OnTime)).clamp(0.05, 0.995));
        let delivered = if on_time {
            promised - hours(r.f64() * 72.0)
        } else {
            promised + hours(1.0 + r.exp(40.0))
        };
        let cancelled = r.chance(0.015);
        let items = 1 + r.poisson(1.2) as i32;
        let complete = r.chance((0.955 + 0.02 * day.z(s, Driver::Complete)).clamp(0.05, 0.999));
        let delivered_items = if complete {
            items
        } else {
            (items - 1 - r.below(items as u64) as i32)
                .max(0)
                .min(items - 1)
        };
        let damaged = r.chance((0.02 + 0.008 * day.z(s, Driver::Damage)).clamp(0.001, 0.5));
        let (status, delivered_at) = if cancelled {
            (1u8, None)
        } else if delivered > day.end_t {
            (2u8, None)
        } else {
            (0u8, Some(micros(delivered)))
        };
        rows.push(Order {
            order_id: 0,
            customer_id: cust as i64 + 1,
            segment: s as u8,
            region: reg,
            channel: ch as u8,
            status,
            ordered_at: micros(ordered),
            promised_at: micros(promised),
            delivered_at,
            items_ordered: items,
            items_delivered: if status == 0 { delivered_items } else { 0 },
            damaged: status == 0 && damaged,
        });
    }
    rows
}

/// Returns: one day's rows, in draw order.
fn returns(r: &mut Rng, day: &Day<'_>) -> Vec<Return> {
    let mut rows = Vec::new();
    for _ in 0..r.poisson(day.per_day(RATE_RETURNS)) {
        let cust = r.below(day.n_customers) as usize;
        let (s, reg) = day.customers[cust];
        let s = s as usize;
        let ch = r.pick(&[0.7, 0.3]); // web, store
        let requested = day.at(r);
        let base_days = [4.5, 2.5][ch] * (-0.3 * day.z(s, Driver::Returns)).exp();
        let completed = requested + hours(24.0 * (0.5 + r.exp(base_days)));
        rows.push(Return {
            return_id: 0,
            customer_id: cust as i64 + 1,
            segment: s as u8,
            region: reg,
            channel: ch as u8,
            reason: r.pick(&[0.4, 0.3, 0.2, 0.1]) as u8,
            requested_at: micros(requested),
            completed_at: (completed <= day.end_t && !r.chance(0.01)).then(|| micros(completed)),
        });
    }
    rows
}

/// Quote requests: one day's rows, in draw order.
fn quote_requests(r: &mut Rng, day: &Day<'_>) -> Vec<QuoteRequest> {
    let mut rows = Vec::new();
    for _ in 0..r.poisson(day.per_day(RATE_QUOTES)) {
        let cust = r.below(day.n_customers) as usize;
        let (s, reg) = day.customers[cust];
        let s = s as usize;
        let ch = r.pick(&[0.5, 0.3, 0.2]); // email, web, phone
        let requested = day.at(r);
        let mean_h =
            [3.0, 2.0, 0.5][ch] * [1.0, 1.2, 1.6][s] * (-0.3 * day.z(s, Driver::Quotes)).exp();
        let answered = requested + hours(r.exp(mean_h));
        rows.push(QuoteRequest {
            quote_id: 0,
            customer_id: cust as i64 + 1,
            segment: s as u8,
            region: reg,
            channel: ch as u8,
            requested_at: micros(requested),
            answered_at: (answered <= day.end_t && !r.chance(0.04)).then(|| micros(answered)),
        });
    }
    rows
}

/// Survey responses: per-customer NPS and CES, moved by the
/// segment's climate and by the customer's own last support case: one day's rows, in draw order.
fn survey_responses(r: &mut Rng, day: &Day<'_>, last_case: &[u8]) -> Vec<Survey> {
    let mut rows = Vec::new();
    for _ in 0..r.poisson(day.per_day(RATE_SURVEYS)) {
        let cust = r.below(day.n_customers) as usize;
        let (s, reg) = day.customers[cust];
        let s = s as usize;
        let own = [0.0, 1.0, -1.5][last_case[cust] as usize];
        let prev = day.m.saturating_sub(1);
        let nps = 7.4 + 0.8 * day.z_in(prev, s, Driver::Fcr) + own + 1.6 * r.normal();
        let ces =
            5.0 - 0.4 * day.z_in(prev, s, Driver::FirstResponse) + 0.5 * own + 1.0 * r.normal();
        rows.push(Survey {
            response_id: 0,
            customer_id: cust as i64 + 1,
            segment: s as u8,
            region: reg,
            responded_at: micros(day.at(r)),
            nps_score: nps.round().clamp(0.0, 10.0) as i32,
            ces_score: ces.round().clamp(1.0, 7.0) as i32,
        });
    }
    rows
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
    }
}
