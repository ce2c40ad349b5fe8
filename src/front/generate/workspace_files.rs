//! The files a generated workspace carries besides its data: `cpiq.toml`,
//! the shipped CPI library, and `planted_relations.csv`, the truth the
//! correlation tests check against.

use std::path::Path;

use super::{Driver, SEGMENTS};
use crate::foundation::error::{CpiqError, Result};

/// A planted relation: the CPI (through its driver) moves the KPI `lag`
/// months later with correlation `rho[segment]`.
pub(super) struct Planted {
    pub(super) cpi: &'static str,
    pub(super) driver: Driver,
    pub(super) kpi: &'static str,
    pub(super) lag: usize,
    pub(super) rho: [f64; 3],
}

pub(super) const PLANTED: [Planted; 5] = [
    Planted {
        cpi: "first_contact_resolution",
        driver: Driver::Fcr,
        kpi: "kpi_monthly.nps",
        lag: 1,
        rho: [0.8, 0.7, 0.5],
    },
    Planted {
        cpi: "on_time_delivery",
        driver: Driver::OnTime,
        kpi: "kpi_monthly.churn_rate",
        lag: 2,
        rho: [-0.7, -0.6, -0.5],
    },
    Planted {
        cpi: "time_to_first_response",
        driver: Driver::FirstResponse,
        kpi: "kpi_monthly.ces",
        lag: 1,
        rho: [-0.6, -0.5, -0.4],
    },
    Planted {
        cpi: "complete_delivery",
        driver: Driver::Complete,
        kpi: "kpi_monthly.revenue",
        lag: 1,
        rho: [0.6, 0.5, 0.4],
    },
    Planted {
        cpi: "return_completed_within",
        driver: Driver::Returns,
        kpi: "kpi_monthly.clv",
        lag: 2,
        rho: [0.5, 0.4, 0.3],
    },
];

/// CPIs whose drivers move no KPI.
pub(super) const UNPLANTED: [&str; 3] = [
    "damage_free_delivery",
    "resolved_within_sla",
    "quote_answered_within",
];

/// The shipped CPI library, copied into generated workspaces.
pub const CPI_LIBRARY: [(&str, &str); 8] = [
    (
        "complete_delivery.sql",
        include_str!("../../../queries/cpis/complete_delivery.sql"),
    ),
    (
        "damage_free_delivery.sql",
        include_str!("../../../queries/cpis/damage_free_delivery.sql"),
    ),
    (
        "first_contact_resolution.sql",
        include_str!("../../../queries/cpis/first_contact_resolution.sql"),
    ),
    (
        "on_time_delivery.sql",
        include_str!("../../../queries/cpis/on_time_delivery.sql"),
    ),
    (
        "quote_answered_within.sql",
        include_str!("../../../queries/cpis/quote_answered_within.sql"),
    ),
    (
        "resolved_within_sla.sql",
        include_str!("../../../queries/cpis/resolved_within_sla.sql"),
    ),
    (
        "return_completed_within.sql",
        include_str!("../../../queries/cpis/return_completed_within.sql"),
    ),
    (
        "time_to_first_response.sql",
        include_str!("../../../queries/cpis/time_to_first_response.sql"),
    ),
];

/// The `cpiq.toml` of a generated workspace.
pub const CONFIG_TEMPLATE: &str = include_str!("workspace.toml");

/// Write `cpiq.toml` and the CPI library into `out`, keeping CPI files that
/// already exist there.
pub(super) fn write_workspace_files(out: &Path) -> Result<()> {
    let cfg = out.join(crate::workspace::CONFIG_FILE);
    std::fs::write(&cfg, CONFIG_TEMPLATE).map_err(|e| CpiqError::io(&cfg, e))?;
    let dir = out.join("queries/cpis");
    std::fs::create_dir_all(&dir).map_err(|e| CpiqError::io(&dir, e))?;
    for (name, text) in CPI_LIBRARY.iter().chain(&super::loyalty::CPIS) {
        let p = dir.join(name);
        if !p.exists() {
            std::fs::write(&p, text).map_err(|e| CpiqError::io(&p, e))?;
        }
    }
    Ok(())
}

pub(super) fn write_planted(path: &Path) -> Result<()> {
    let mut s = String::from("segment,cpi,kpi,lag,sign,strength,kind\n");
    for (i, seg) in SEGMENTS.iter().enumerate() {
        for p in &PLANTED {
            let rho = p.rho[i];
            let sign = if rho > 0.0 { "+" } else { "-" };
            s.push_str(&format!(
                "{seg},{},{},{},{sign},{:.2},drives\n",
                p.cpi,
                p.kpi,
                p.lag,
                rho.abs()
            ));
        }
        for cpi in UNPLANTED {
            s.push_str(&format!("{seg},{cpi},none,,0,0.00,none\n"));
        }
        let (trend, reverse, kpi) = (
            super::loyalty::TREND_ONLY,
            super::loyalty::REVERSE,
            super::loyalty::KPI,
        );
        s.push_str(&format!("{seg},{trend},{kpi},,0,,trend_only\n"));
        s.push_str(&format!("{seg},{reverse},{kpi},1,-,,reverse\n"));
    }
    std::fs::write(path, s).map_err(|e| CpiqError::io(path, e))
}
