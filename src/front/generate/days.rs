//! One day of the history, table by table: the rows each table draws that
//! day, in the generator's fixed order of random draws, and their numbering.

use chrono::{Duration, NaiveDateTime};

use super::tables::{Order, QuoteRequest, Return, SupportCase, Survey};
use super::{
    BURN_IN, DRIVERS, Driver, LAST_SECOND, RATE_ORDERS, RATE_QUOTES, RATE_RETURNS, RATE_SUPPORT,
    RATE_SURVEYS, Rng, hours, micros,
};

/// One day of the history, and what every table's block of it reads.
pub(super) struct Day<'a> {
    pub(super) midnight: NaiveDateTime,
    /// The month's index (the latent drivers are per month).
    pub(super) m: usize,
    /// Days in the month.
    pub(super) days: i64,
    /// Customers, for drawing one.
    pub(super) n_customers: u64,
    /// (segment, region) of each customer.
    pub(super) customers: &'a [(u8, u8)],
    pub(super) latent: &'a [[[f64; DRIVERS]; 3]],
    /// The end of the history.
    pub(super) end_t: NaiveDateTime,
}

impl Day<'_> {
    /// A moment of the day, uniformly.
    pub(super) fn at(&self, r: &mut Rng) -> NaiveDateTime {
        self.midnight + Duration::seconds(r.below(86_400) as i64)
    }

    /// Expected events of the day at `rate` per customer and month.
    pub(super) fn per_day(&self, rate: f64) -> f64 {
        self.n_customers as f64 * rate / self.days as f64
    }

    /// Segment `s`'s latent driver `d` this month.
    pub(super) fn z(&self, s: usize, d: Driver) -> f64 {
        self.z_in(self.m, s, d)
    }

    /// Segment `s`'s latent driver `d` in month `m`.
    pub(super) fn z_in(&self, m: usize, s: usize, d: Driver) -> f64 {
        self.latent[m + BURN_IN][s][d as usize]
    }
}

/// Support cases: one day's rows, in draw order.
pub(super) fn support_cases(r: &mut Rng, day: &Day<'_>, last_case: &mut [u8]) -> Vec<SupportCase> {
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
pub(super) fn orders(r: &mut Rng, day: &Day<'_>) -> Vec<Order> {
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
pub(super) fn returns(r: &mut Rng, day: &Day<'_>) -> Vec<Return> {
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
pub(super) fn quote_requests(r: &mut Rng, day: &Day<'_>) -> Vec<QuoteRequest> {
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
pub(super) fn survey_responses(r: &mut Rng, day: &Day<'_>, last_case: &[u8]) -> Vec<Survey> {
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
