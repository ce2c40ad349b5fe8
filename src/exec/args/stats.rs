//! The arguments of the statistics commands — `correlate`, `granger` and
//! `drivers` — which share the CPI/KPI pair, the calendar grid and the
//! date range of their series.

use chrono::NaiveDate;
use clap::Args;

use super::{grammar_of, list_words, optional_date, parse_as, parse_grain};
use crate::analysis::drivers::DriversRequest;
use crate::analysis::granger::{DEFAULT_MAX_LAG, GrangerRequest, LagChoice, TestSpec, Trend};
use crate::analysis::slice::split_list;
use crate::foundation::error::Result;
use crate::model::calendar::Grain;

const CORRELATE: &str = "\\correlate";
const GRANGER: &str = "\\granger";
const DRIVERS: &str = "\\drivers";

/// The CPIs and KPIs a statistics command pairs (`correlate`, `granger`).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PairArgs {
    /// CPIs, comma-separated.
    #[arg(value_name = "CPI[,CPI…]")]
    pub cpis: String,
    /// KPIs as kpi_table.column, comma-separated.
    #[arg(long = "with", value_name = "KPI[,KPI…]")]
    pub with: String,
}

/// The calendar grid of a statistics command's series.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct GridArgs {
    /// Grain: week, month or quarter.
    #[arg(long, default_value = "month", value_name = "GRAIN", value_parser = parse_grain)]
    pub per: Grain,
    /// A dimension both the CPIs and the KPI table carry.
    #[arg(long, value_name = "DIM")]
    pub by: Option<String>,
}

/// The date range of a statistics command's series.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RangeArgs {
    /// First day of the series (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// First day after the series.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
}

impl RangeArgs {
    /// The checked `--from` and `--to` dates.
    fn dates(&self) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
        Ok((
            optional_date("--from", self.from.as_deref())?,
            optional_date("--to", self.to.as_deref())?,
        ))
    }
}

/// Options of a correlation.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CorrelateArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    #[command(flatten)]
    pub grid: GridArgs,
    /// Lags in periods, the CPI leading: 0..3, 2, or 0,1,3.
    #[arg(long, default_value = "0..3", value_name = "LAGS")]
    pub lags: String,
    /// pearson, spearman or both.
    #[arg(long, default_value = "pearson", value_name = "METHOD")]
    pub method: String,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Correlate per customer (the CPI's `-- entity:` column) and period.
    #[arg(long)]
    pub per_entity: bool,
    /// Correlate period-over-period changes instead of levels.
    #[arg(long)]
    pub difference: bool,
    /// Prewhiten: filter both series by the CPI's AR(p) (p by AIC) first.
    #[arg(long)]
    pub prewhiten: bool,
    /// The largest AR order --prewhiten considers (default 6).
    #[arg(long, value_name = "M", requires = "prewhiten")]
    pub max_lag: Option<usize>,
    /// Draw each CPI × KPI at its best lag as a scatter with the fitted
    /// line: on the terminal instead of the table, or as FILE.svg / FILE.png.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub chart: Option<Option<std::path::PathBuf>>,
}

impl CorrelateArgs {
    /// The checked request.
    pub fn to_request(&self) -> Result<crate::analysis::correlate::CorrelateRequest> {
        let (from, to) = self.range.dates()?;
        Ok(crate::analysis::correlate::CorrelateRequest {
            cpis: split_list(&self.pair.cpis),
            kpis: split_list(&self.pair.with),
            per: self.grid.per,
            by: self.grid.by.clone(),
            lags: crate::analysis::correlate::parse_lags(&self.lags)?,
            method: self.method.parse()?,
            from,
            to,
            per_entity: self.per_entity,
            difference: self.difference,
            prewhiten: self
                .prewhiten
                .then(|| self.max_lag.unwrap_or(DEFAULT_MAX_LAG)),
        })
    }
}

/// Parse the arguments of `\correlate` (flags, or the same words without dashes).
pub fn parse_correlate(rest: &str) -> Result<CorrelateArgs> {
    parse_as(CORRELATE, list_words(rest, &correlate_grammar())?)
}

/// Options of a Granger test.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct GrangerArgs {
    #[command(flatten)]
    pub pair: PairArgs,
    #[command(flatten)]
    pub grid: GridArgs,
    /// Test lags 1..N of the leading variable (fixed order).
    #[arg(long, value_name = "N", conflicts_with = "max_lag")]
    pub lags: Option<usize>,
    /// Choose the order per row by AIC among 1..M (default 6).
    #[arg(long, value_name = "M")]
    pub max_lag: Option<usize>,
    /// Deterministic terms: c (constant) or ct (constant and linear trend).
    #[arg(long, default_value = "ct", value_name = "c|ct", value_parser = parse_trend)]
    pub trend: Trend,
    /// Toda–Yamamoto: D extra lags of both variables, not tested.
    #[arg(long, default_value_t = 0, value_name = "D")]
    pub augment: usize,
    #[command(flatten)]
    pub range: RangeArgs,
}

impl GrangerArgs {
    /// The checked request.
    pub fn to_request(&self) -> Result<GrangerRequest> {
        let lags = match (self.lags, self.max_lag) {
            (Some(n), _) => LagChoice::Fixed(n),
            (None, m) => LagChoice::Max(m.unwrap_or(DEFAULT_MAX_LAG)),
        };
        let (from, to) = self.range.dates()?;
        Ok(GrangerRequest {
            cpis: split_list(&self.pair.cpis),
            kpis: split_list(&self.pair.with),
            per: self.grid.per,
            by: self.grid.by.clone(),
            spec: TestSpec {
                lags,
                trend: self.trend,
                augment: self.augment,
            },
            from,
            to,
        })
    }
}

fn parse_trend(s: &str) -> std::result::Result<Trend, String> {
    s.parse()
}

/// Parse the arguments of `\granger` (flags, or the same words without dashes).
pub fn parse_granger(rest: &str) -> Result<GrangerArgs> {
    parse_as(GRANGER, list_words(rest, &granger_grammar())?)
}

/// The grammar of `\correlate`.
pub fn correlate_grammar() -> clap::Command {
    grammar_of::<CorrelateArgs>(CORRELATE)
}

/// Options of a key-driver analysis.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DriversArgs {
    /// The KPI, as kpi_table.column.
    #[arg(value_name = "KPI")]
    pub kpi: String,
    /// CPIs to rank, comma-separated (default: every CPI that carries --by).
    #[arg(long, value_name = "CPI[,CPI…]")]
    pub cpis: Option<String>,
    #[command(flatten)]
    pub grid: GridArgs,
    /// The largest lead and Granger order considered.
    #[arg(long, default_value_t = DEFAULT_MAX_LAG, value_name = "M")]
    pub max_lag: usize,
    /// Deterministic terms: c (constant) or ct (constant and linear trend).
    #[arg(long, default_value = "ct", value_name = "c|ct", value_parser = parse_trend)]
    pub trend: Trend,
    /// Periods forecast out of sample (default min(12, n/4)).
    #[arg(long, value_name = "K")]
    pub holdout: Option<usize>,
    /// Placebo shifts behind placebo_p.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub placebos: usize,
    /// Seed of the placebo shifts.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Draw importance bars with lead and verdict: on the terminal instead
    /// of the table, or as FILE.svg / FILE.png.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    pub chart: Option<Option<std::path::PathBuf>>,
}

impl DriversArgs {
    /// The checked request.
    pub fn to_request(&self) -> Result<DriversRequest> {
        let (from, to) = self.range.dates()?;
        Ok(DriversRequest {
            kpi: self.kpi.clone(),
            cpis: self.cpis.as_deref().map(split_list).unwrap_or_default(),
            per: self.grid.per,
            by: self.grid.by.clone(),
            max_lag: self.max_lag,
            trend: self.trend,
            holdout: self.holdout,
            placebos: self.placebos,
            seed: self.seed,
            from,
            to,
        })
    }
}

/// Parse the arguments of `\drivers` (flags, or the same words without dashes).
pub fn parse_drivers(rest: &str) -> Result<DriversArgs> {
    parse_as(DRIVERS, list_words(rest, &drivers_grammar())?)
}

/// The grammar of `\drivers`.
pub fn drivers_grammar() -> clap::Command {
    grammar_of::<DriversArgs>(DRIVERS)
}

/// The grammar of `\granger`.
pub fn granger_grammar() -> clap::Command {
    grammar_of::<GrangerArgs>(GRANGER)
}
