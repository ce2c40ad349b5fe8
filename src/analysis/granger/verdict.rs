//! One verdict line per CPI × KPI × dimension value, from its two rows:
//! which side leads, with F and q.

use std::collections::BTreeMap;

use super::table::ALPHA;
use super::{Direction, Row};

/// The verdict of a pair of directions, as the terminal prints it.
fn verdict(cpi_leads: bool, kpi_leads: bool) -> &'static str {
    match (cpi_leads, kpi_leads) {
        (true, false) => "the CPI leads",
        (false, true) => "the KPI leads (reverse)",
        (true, true) => "each leads the other (feedback)",
        (false, false) => "no evidence either way",
    }
}

/// `F 12.31, q 0.0004` for a row, or `no statistic`.
fn figures(row: &Row, q: Option<f64>) -> String {
    match (row.outcome.test, q) {
        (Some(t), Some(q)) => format!("F {:.2}, q {}", t.f, format_q(q)),
        _ => "no statistic".into(),
    }
}

fn format_q(q: f64) -> String {
    if q < 0.0001 {
        format!("{q:.1e}")
    } else {
        format!("{q:.4}")
    }
}

/// The lines, in row order of the first direction of each pair.
pub(super) fn lines(rows: &[Row], q: &[Option<f64>]) -> Vec<String> {
    let mut pairs: BTreeMap<usize, [Option<usize>; 2]> = BTreeMap::new();
    let mut first: BTreeMap<(&str, &str, Option<&str>), usize> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let key = (r.cpi.as_str(), r.kpi.as_str(), r.dim.as_deref());
        let at = *first.entry(key).or_insert(i);
        let slot = match r.direction {
            Direction::CpiLeads => 0,
            Direction::KpiLeads => 1,
        };
        pairs.entry(at).or_default()[slot] = Some(i);
    }
    pairs
        .values()
        .filter_map(|[a, b]| {
            let (a, b) = ((*a)?, (*b)?);
            let sig = |i: usize| q[i].is_some_and(|q| q < ALPHA);
            let r = &rows[a];
            Some(format!(
                "{} → {}{}: {} (CPI leads: {}; KPI leads: {}; {} lag{}, n {})",
                r.cpi,
                r.kpi,
                r.dim
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                verdict(sig(a), sig(b)),
                figures(r, q[a]),
                figures(&rows[b], q[b]),
                r.outcome.lags,
                if r.outcome.lags == 1 { "" } else { "s" },
                r.outcome.n,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_verdicts() {
        assert_eq!(verdict(true, false), "the CPI leads");
        assert_eq!(verdict(false, true), "the KPI leads (reverse)");
        assert_eq!(verdict(true, true), "each leads the other (feedback)");
        assert_eq!(verdict(false, false), "no evidence either way");
    }
}
