//! The ranked summary in words: per dimension value, the CPIs in order of
//! importance with what the evidence says of each.

use super::Verdict;
use super::table::Ranked;
use crate::model::calendar::Grain;

/// `month` or `months` for a lead of `n` periods.
fn periods(per: Grain, n: usize) -> String {
    let unit = per.name();
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// What one CPI's verdict means, in words.
fn phrase(r: &Ranked, per: Grain) -> String {
    let row = &r.0;
    let lead = row.lead.map(|l| periods(per, l)).unwrap_or_default();
    match r.3 {
        Verdict::Drives => {
            let mut s = format!("{} drives it, leading by {lead}", row.cpi);
            let mut extra = Vec::new();
            if let (Some(t), Some(r2)) = (row.term, row.model_r2)
                && r2 > 0.0
            {
                extra.push(format!(
                    "{:.0}% of the explained variance",
                    100.0 * t.importance / r2
                ));
            }
            if let Some(g) = row.oos_gain {
                extra.push(format!("forecasts {:.0}% better", 100.0 * g));
            }
            if !extra.is_empty() {
                s.push_str(&format!(" ({})", extra.join(", ")));
            }
            s
        }
        Verdict::Feedback => format!("{}: each leads the other (feedback)", row.cpi),
        Verdict::Reverse => format!("{}: follows the KPI (the KPI leads, reverse)", row.cpi),
        Verdict::TrendOnly => format!("{}: correlated in levels only — a shared trend", row.cpi),
        Verdict::None => format!("{}: no evidence", row.cpi),
        Verdict::Insufficient => format!("{}: too little history to say", row.cpi),
    }
}

/// One line per dimension value, its CPIs in output (importance) order;
/// CPIs with no evidence are counted, not listed.
pub(super) fn lines(kpi: &str, per: Grain, rows: &[Ranked]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let dim = &rows[i].0.dim;
        let mut j = i;
        while j < rows.len() && &rows[j].0.dim == dim {
            j += 1;
        }
        let group = &rows[i..j];
        let told: Vec<String> = group
            .iter()
            .filter(|r| r.3 != Verdict::None)
            .map(|r| phrase(r, per))
            .collect();
        let quiet = group.len() - told.len();
        let mut line = format!(
            "{kpi}{}: ",
            dim.as_ref().map(|d| format!(" [{d}]")).unwrap_or_default()
        );
        if told.is_empty() {
            line.push_str("no CPI shows evidence of driving it");
        } else {
            line.push_str(&told.join("; "));
            if quiet > 0 {
                line.push_str(&format!(
                    "; {quiet} other CPI{} show no evidence",
                    if quiet == 1 { "" } else { "s" }
                ));
            }
        }
        out.push(line);
        i = j;
    }
    out
}
