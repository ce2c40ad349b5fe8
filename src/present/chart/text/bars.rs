//! Importance bars on a terminal: one block per dimension value, one line
//! per CPI with its bar, share of R², lead and verdict.

use super::super::Bars;
use super::TextOptions;

/// Draw `b` within `o.width` columns.
pub(crate) fn bars(b: &Bars, o: &TextOptions) -> String {
    let label = b
        .groups
        .iter()
        .flat_map(|g| g.1.iter().map(|x| x.cpi.chars().count()))
        .max()
        .unwrap_or(0);
    let top = b
        .groups
        .iter()
        .flat_map(|g| g.1.iter().filter_map(|x| x.importance))
        .fold(0.0f64, f64::max);
    let room = o.width.saturating_sub(label + 32).max(10);
    let mut out = format!("{}: driver importance (Shapley share of R²)\n", b.kpi);
    for (dim, group) in &b.groups {
        if let Some(d) = dim {
            out.push_str(&format!("[{d}]\n"));
        }
        for x in group {
            let share = x.importance.unwrap_or(0.0).max(0.0);
            let cells = if top > 0.0 {
                (share / top * room as f64).round() as usize
            } else {
                0
            };
            let bar = "█".repeat(cells);
            let lead = x
                .lead
                .map(|l| format!("lead {l}"))
                .unwrap_or_else(|| "no lead".into());
            let value = x
                .importance
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "n/a".into());
            let verdict = if o.colour && x.verdict == "drives" {
                format!("\x1b[32m{}\x1b[0m", x.verdict)
            } else {
                x.verdict.clone()
            };
            out.push_str(&format!(
                "  {:<label$}  {bar:<room$}  {value:>6}  {lead:<7}  {verdict}\n",
                x.cpi
            ));
        }
    }
    out
}
