//! Periods: grains, their SQL truncation expressions and calendar arithmetic.
//!
//! Weeks are ISO weeks starting Monday. Quarters and years follow the fiscal
//! calendar when `[settings] fiscal_year_start` names a month other than 1:
//! with 4, Q1 is April-June and the year starting 2024-04-01 is FY 2024.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, Months, NaiveDate};

use crate::foundation::error::{CpiqError, Result};

/// How finely time is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// Calendar days.
    Day,
    /// ISO weeks (Monday to Sunday).
    Week,
    /// Calendar months.
    Month,
    /// Quarters (fiscal when configured).
    Quarter,
    /// Years (fiscal when configured).
    Year,
    /// No time split.
    All,
}

impl Grain {
    /// The grains, in order.
    pub const ALL: [Grain; 6] = [
        Grain::Day,
        Grain::Week,
        Grain::Month,
        Grain::Quarter,
        Grain::Year,
        Grain::All,
    ];

    /// The grain's name.
    pub fn name(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
            Grain::All => "all",
        }
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Grain {
    type Err = CpiqError;

    fn from_str(s: &str) -> Result<Grain> {
        Grain::ALL
            .into_iter()
            .find(|g| g.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                CpiqError::Usage(format!(
                    "unknown grain \"{s}\" (expected one of: {})",
                    Grain::ALL.map(Grain::name).join(", ")
                ))
            })
    }
}

/// A calendar: the fiscal year's first month (1 = calendar year).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Month number (1-12) the fiscal year starts in.
    pub fiscal_year_start: u32,
    /// The zone periods are cut in for time columns that carry a zone
    /// (`None`: each column's own zone).
    pub timezone: Option<String>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            fiscal_year_start: 1,
            timezone: None,
        }
    }
}

impl Calendar {
    /// SQL for the start of the period (a DATE) containing timestamp `ts`.
    pub fn period_sql(&self, grain: Grain, ts: &str) -> Option<String> {
        self.period_start_sql(grain, ts)
            .map(|p| format!("CAST({p} AS DATE)"))
    }

    /// SQL for the start of the period containing timestamp `ts` (without
    /// time zone), as a timestamp: cheaper to group by than a DATE, which
    /// costs a cast per row (cast the groups afterwards). The function is
    /// cpiq's own ([`super::period`]): integer arithmetic over whole arrays,
    /// fiscal years included.
    pub fn period_start_sql(&self, grain: Grain, ts: &str) -> Option<String> {
        let f = super::period::NAME;
        Some(match grain {
            Grain::All => return None,
            Grain::Quarter | Grain::Year if self.fiscal_year_start != 1 => {
                format!("{f}('{grain}', {ts}, {})", self.fiscal_year_start)
            }
            _ => format!("{f}('{grain}', {ts})"),
        })
    }

    /// The start of the period containing `d`.
    pub fn truncate(&self, grain: Grain, d: NaiveDate) -> NaiveDate {
        match grain {
            Grain::All | Grain::Day => d,
            Grain::Week => d
                .checked_sub_signed(Duration::days(i64::from(
                    d.weekday().num_days_from_monday(),
                )))
                .unwrap_or(NaiveDate::MIN),
            Grain::Month => d - Duration::days(i64::from(d.day0())),
            Grain::Quarter | Grain::Year => {
                let len = if grain == Grain::Quarter { 3 } else { 12 };
                let m0 = d.year() * 12 + d.month0() as i32 - (self.fiscal_year_start as i32 - 1);
                let start = m0 - m0.rem_euclid(len) + (self.fiscal_year_start as i32 - 1);
                // Only the first period of chrono's range can start before it.
                NaiveDate::from_ymd_opt(start.div_euclid(12), start.rem_euclid(12) as u32 + 1, 1)
                    .unwrap_or(NaiveDate::MIN)
            }
        }
    }

    /// The period `n` periods after (or before, if negative) the period starting `p`.
    pub fn shift(&self, grain: Grain, p: NaiveDate, n: i32) -> NaiveDate {
        let months = |k: i32| {
            if k >= 0 {
                p.checked_add_months(Months::new(k as u32))
            } else {
                p.checked_sub_months(Months::new(k.unsigned_abs()))
            }
            // Periods beyond chrono's range (year ±262,142) stop at its ends.
            .unwrap_or(if k >= 0 {
                NaiveDate::MAX
            } else {
                NaiveDate::MIN
            })
        };
        let days = |k: i64| {
            p.checked_add_signed(Duration::days(k))
                .unwrap_or(if k >= 0 {
                    NaiveDate::MAX
                } else {
                    NaiveDate::MIN
                })
        };
        match grain {
            Grain::All => p,
            Grain::Day => days(i64::from(n)),
            Grain::Week => days(7 * i64::from(n)),
            Grain::Month => months(n),
            Grain::Quarter => months(3 * n),
            Grain::Year => months(12 * n),
        }
    }

    /// The same period a year earlier: the same ISO week of the previous ISO
    /// year for weeks (none when that year has no week 53), the same date for
    /// days, twelve months earlier otherwise.
    pub fn year_earlier(&self, grain: Grain, p: NaiveDate) -> Option<NaiveDate> {
        match grain {
            Grain::Week => {
                let w = p.iso_week();
                NaiveDate::from_isoywd_opt(w.year() - 1, w.week(), chrono::Weekday::Mon)
            }
            Grain::Day => p.checked_sub_months(Months::new(12)),
            Grain::All => None,
            _ => Some(self.shift(Grain::Month, p, -12)),
        }
    }
}

/// Parse a period given as an ISO date (any day in it), `YYYY-MM`, `YYYY-Qn`
/// (fiscal when configured) or `YYYY` (fiscal year starting that year), and
/// return its first day.
pub fn parse_period(s: &str, grain: Grain, cal: &Calendar) -> Result<NaiveDate> {
    let bad = || {
        CpiqError::Usage(format!(
            "period \"{s}\": expected an ISO date (YYYY-MM-DD), YYYY-MM, YYYY-Qn or YYYY"
        ))
    };
    let s = s.trim();
    let day = if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d
    } else if let Some((y, q)) = s.split_once("-Q").or_else(|| s.split_once("-q")) {
        let y: i32 = y.parse().map_err(|_| bad())?;
        let q: u32 = q.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let start = NaiveDate::from_ymd_opt(y, cal.fiscal_year_start, 1).ok_or_else(bad)?;
        cal.shift(Grain::Month, start, 3 * (q as i32 - 1))
    } else if s.len() == 7 {
        NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())?
    } else if s.len() == 4 {
        let y: i32 = s.parse().map_err(|_| bad())?;
        NaiveDate::from_ymd_opt(y, cal.fiscal_year_start, 1).ok_or_else(bad)?
    } else {
        return Err(bad());
    };
    Ok(cal.truncate(grain, day))
}

/// Parse an ISO date argument (`--from`, `--to`).
pub fn parse_date(flag: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| CpiqError::Usage(format!("{flag} \"{s}\": expected an ISO date (YYYY-MM-DD)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weeks_start_on_monday() {
        let cal = Calendar::default();
        assert_eq!(cal.truncate(Grain::Week, d("2024-01-07")), d("2024-01-01")); // Sunday
        assert_eq!(cal.truncate(Grain::Week, d("2024-01-08")), d("2024-01-08")); // Monday
        assert_eq!(cal.truncate(Grain::Week, d("2025-01-01")), d("2024-12-30"));
    }

    #[test]
    fn fiscal_quarters_and_years_shift_with_the_start_month() {
        for (start, grain, day, start_of_period) in [
            (4, Grain::Quarter, "2024-03-31", "2024-01-01"),
            (4, Grain::Year, "2024-03-31", "2023-04-01"),
            (4, Grain::Year, "2024-04-01", "2024-04-01"),
            (2, Grain::Quarter, "2024-01-15", "2023-11-01"),
            (2, Grain::Quarter, "2024-02-01", "2024-02-01"),
            (2, Grain::Quarter, "2024-04-30", "2024-02-01"),
        ] {
            let cal = Calendar {
                fiscal_year_start: start,
                timezone: None,
            };
            assert_eq!(
                cal.truncate(grain, d(day)),
                d(start_of_period),
                "fiscal year from month {start}: the {grain:?} of {day}"
            );
        }
    }

    #[test]
    fn periods_shift_and_look_back_a_year() {
        let cal = Calendar::default();
        assert_eq!(
            cal.shift(Grain::Month, d("2024-01-01"), -1),
            d("2023-12-01")
        );
        assert_eq!(
            cal.shift(Grain::Quarter, d("2024-01-01"), 1),
            d("2024-04-01")
        );
        assert_eq!(
            cal.year_earlier(Grain::Week, d("2025-01-06")),
            Some(d("2024-01-08"))
        );
        // 2020 has an ISO week 53; 2019 does not.
        assert_eq!(cal.year_earlier(Grain::Week, d("2020-12-28")), None);
        assert_eq!(
            cal.year_earlier(Grain::Day, d("2024-02-29")),
            Some(d("2023-02-28"))
        );
    }

    #[test]
    fn period_arguments_parse() {
        let cal = Calendar::default();
        assert_eq!(
            parse_period("2024-05-17", Grain::Month, &cal).unwrap(),
            d("2024-05-01")
        );
        assert_eq!(
            parse_period("2024-05", Grain::Month, &cal).unwrap(),
            d("2024-05-01")
        );
        assert_eq!(
            parse_period("2024-Q2", Grain::Quarter, &cal).unwrap(),
            d("2024-04-01")
        );
        let fy = Calendar {
            fiscal_year_start: 4,
            timezone: None,
        };
        assert_eq!(
            parse_period("2024-Q1", Grain::Quarter, &fy).unwrap(),
            d("2024-04-01")
        );
        assert!(parse_period("2024-Q5", Grain::Quarter, &cal).is_err());
        assert!(parse_period("last month", Grain::Month, &cal).is_err());
    }

    #[test]
    fn period_sql_names_the_fiscal_start_for_quarters_and_years_only() {
        let fy = Calendar {
            fiscal_year_start: 2,
            timezone: None,
        };
        assert_eq!(
            fy.period_sql(Grain::Quarter, "t").unwrap(),
            "CAST(cpiq_period_start('quarter', t, 2) AS DATE)"
        );
        assert_eq!(
            fy.period_sql(Grain::Month, "t").unwrap(),
            "CAST(cpiq_period_start('month', t) AS DATE)"
        );
        assert_eq!(fy.period_sql(Grain::All, "t"), None);
    }
}
