//! `cpiq_period_start(grain, ts [, fiscal_year_start])`: the start of the
//! day, week, month, quarter or year containing a timestamp without time
//! zone, as a timestamp of the same unit.
//!
//! Slices group every event by this value. DataFusion's `date_trunc`
//! computes weeks, months, quarters and years value by value through
//! calendar types (~17 ns a value here); this computes them with integer
//! civil-calendar arithmetic over the whole array (~2 ns), and knows
//! fiscal quarters and years, which `date_trunc` needs two interval
//! shifts for. Weeks start on Monday (ISO), as `date_trunc('week', …)`.
//!
//! ```sql
//! SELECT cpiq_period_start('quarter', ordered_at, 4) AS fiscal_quarter, COUNT(*)
//! FROM orders GROUP BY 1 ORDER BY 1;
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::calendar::Grain;

/// The function's name in SQL.
pub const NAME: &str = "cpiq_period_start";

/// The function, to register in a session (and in cluster processes, which
/// must know every function a plan names).
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(PeriodStart::new())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PeriodStart {
    signature: Signature,
}

impl PeriodStart {
    fn new() -> PeriodStart {
        PeriodStart {
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for PeriodStart {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.get(1) {
            Some(t @ DataType::Timestamp(_, None)) => Ok(t.clone()),
            Some(t) => plan_err!(
                "{NAME}(grain, ts [, fiscal_year_start]): ts must be a timestamp without time zone, got {t}"
            ),
            None => plan_err!("{NAME}(grain, ts [, fiscal_year_start]) takes 2 or 3 arguments"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (grain, ts, fiscal) = match args.args.as_slice() {
            [g, ts] => (g, ts, None),
            [g, ts, f] => (g, ts, Some(f)),
            _ => return exec_err!("{NAME} takes 2 or 3 arguments"),
        };
        let grain = match grain {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(g))
                | ScalarValue::Utf8View(Some(g))
                | ScalarValue::LargeUtf8(Some(g)),
            ) => g
                .parse::<Grain>()
                .ok()
                .filter(|g| *g != Grain::All)
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "{NAME}: grain must be day, week, month, quarter or year, got '{g}'"
                    ))
                })?,
            _ => return exec_err!("{NAME}: grain must be a string literal"),
        };
        let fiscal = match fiscal {
            None => 1,
            Some(ColumnarValue::Scalar(s)) => match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(m)) if (1..=12).contains(&m) => m,
                _ => return exec_err!("{NAME}: fiscal_year_start must be a month 1 to 12"),
            },
            Some(_) => return exec_err!("{NAME}: fiscal_year_start must be a literal"),
        };
        let rule = Rule { grain, fiscal };
        match ts {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(rule.apply(a)?)),
            ColumnarValue::Scalar(s) => {
                let a = rule.apply(&s.to_array()?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
        }
    }
}

/// A grain and the month fiscal years start in.
#[derive(Debug, Clone, Copy)]
struct Rule {
    grain: Grain,
    fiscal: i64,
}

impl Rule {
    fn apply(self, a: &ArrayRef) -> Result<ArrayRef> {
        match a.data_type() {
            DataType::Timestamp(TimeUnit::Second, None) => {
                self.truncate::<TimestampSecondType>(a, 1)
            }
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                self.truncate::<TimestampMillisecondType>(a, 1_000)
            }
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                self.truncate::<TimestampMicrosecondType>(a, 1_000_000)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, None) => {
                self.truncate::<TimestampNanosecondType>(a, 1_000_000_000)
            }
            t => exec_err!("{NAME}: ts must be a timestamp without time zone, got {t}"),
        }
    }

    fn truncate<T: ArrowTimestampType>(self, a: &ArrayRef, per_second: i64) -> Result<ArrayRef> {
        let per_day = per_second * 86_400;
        let out: PrimitiveArray<T> = a.as_primitive::<T>().try_unary(|v| {
            let day = self.start_day(v.div_euclid(per_day));
            day.checked_mul(per_day).ok_or_else(|| {
                ArrowError::ComputeError(format!("{NAME}: period start out of range"))
            })
        })?;
        Ok(Arc::new(out))
    }

    /// The first day (days since 1970-01-01) of the period holding `day`.
    fn start_day(self, day: i64) -> i64 {
        let months = match self.grain {
            Grain::Day | Grain::All => return day,
            // 1970-01-01 was a Thursday: Mondays are days ≡ 4 (mod 7).
            Grain::Week => return day - (day + 3).rem_euclid(7),
            Grain::Month => 1,
            Grain::Quarter => 3,
            Grain::Year => 12,
        };
        let (y, m) = civil_from_days(day);
        let shift = if months == 1 { 0 } else { self.fiscal - 1 };
        let m0 = y * 12 + (m - 1) - shift;
        let start = m0 - m0.rem_euclid(months) + shift;
        days_from_civil(start.div_euclid(12), start.rem_euclid(12) + 1)
    }
}

/// Year and month (1–12) of a day counted from 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(day: i64) -> (i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// Days from 1970-01-01 to the first of month `m` (1–12) of year `y`.
fn days_from_civil(y: i64, m: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slice::calendar::Calendar;
    use chrono::{Datelike, NaiveDate};
    use datafusion::arrow::array::TimestampMicrosecondArray;

    fn epoch() -> NaiveDate {
        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
    }

    /// Every day from 1599 to 2501, every grain and fiscal start, against
    /// the calendar's own chrono-based truncation.
    #[test]
    fn period_starts_equal_the_calendars() {
        for fiscal in [1u32, 2, 4, 7, 10, 12] {
            let cal = Calendar {
                fiscal_year_start: fiscal,
                ..Calendar::default()
            };
            for grain in [
                Grain::Day,
                Grain::Week,
                Grain::Month,
                Grain::Quarter,
                Grain::Year,
            ] {
                let rule = Rule {
                    grain,
                    fiscal: i64::from(fiscal),
                };
                let first = NaiveDate::from_ymd_opt(1599, 1, 1).unwrap();
                let mut d = first;
                while d.year() <= 2501 {
                    let day = (d - epoch()).num_days();
                    let want = (cal.truncate(grain, d) - epoch()).num_days();
                    assert_eq!(rule.start_day(day), want, "{grain} of {d}, fiscal {fiscal}");
                    d = d.succ_opt().unwrap();
                }
            }
        }
    }

    #[test]
    fn arrays_keep_their_unit_nulls_and_times_before_1970() {
        let ts = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        let a: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            Some(ts("2025-05-17 13:45:00")),
            None,
            Some(ts("1969-12-31 23:59:59")),
        ]));
        let rule = Rule {
            grain: Grain::Quarter,
            fiscal: 1,
        };
        let out = rule.apply(&a).unwrap();
        let out = out.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(out.data_type(), a.data_type());
        assert_eq!(out.value(0), ts("2025-04-01 00:00:00"));
        assert!(out.is_null(1));
        assert_eq!(out.value(2), ts("1969-10-01 00:00:00"));
    }
}
