//! A trend chart in text: each series over periods, the target as a line,
//! missed periods marked.

use super::grid::{Frame, Grid, Layer, paint, x_labels};
use super::{
    ASCII, COLOURS, Glyphs, RED, TextOptions, UNICODE, chars, cut, tick_values, title_line,
    visible, wrap,
};
use crate::present::chart::{Trend, format_tick, nice_ticks, value_range};

pub(super) fn trend(t: &Trend, o: &TextOptions) -> String {
    let g = if o.colour { &UNICODE } else { &ASCII };
    let mut out = heading(t, o);
    let rows = o.height.max(4);
    let (lo, hi) = value_range(&t.extent());
    let (lo, hi, step) = nice_ticks(lo, hi, (rows / 3).max(2));
    let ylabels: Vec<String> = tick_values(lo, hi, step)
        .map(|v| format_tick(Some(t.unit), v, step))
        .collect();
    let any_missed = t.series.iter().any(|s| s.missed_count() > 0);
    let mut label_width = ylabels.iter().map(|l| chars(l)).max().unwrap_or(1);
    if any_missed {
        label_width = label_width.max(chars("missed"));
    }
    let target_note = t
        .target
        .map(|v| format!("target {}", crate::model::cpi::format_value(t.unit, v)));
    let right = target_note.as_ref().map(|n| chars(n) + 1).unwrap_or(0);
    let plot_cols = o.width.saturating_sub(label_width + 2 + right).max(10);
    let frame = Frame {
        g,
        label_width,
        plot_cols,
        rows,
        lo,
        hi,
    };
    let ylabels: Vec<(usize, String)> = ylabels
        .into_iter()
        .enumerate()
        .map(|(k, l)| (frame.row_of(lo + k as f64 * step), l))
        .collect();

    let n = t.periods.len();
    let col_of = |i: usize| {
        if n <= 1 {
            plot_cols / 2
        } else {
            ((i as f64) * (plot_cols - 1) as f64 / (n - 1) as f64).round() as usize
        }
    };
    let mut grid = Grid::new(rows, plot_cols);
    let mut notes = Vec::new();
    if let Some(target) = t.target {
        let r = frame.row_of(target);
        for c in 0..plot_cols {
            grid.put(r, c, g.target, Some(RED), Layer::Target);
        }
        if let Some(note) = &target_note {
            notes.push((r, note.clone(), Some(RED)));
        }
    }
    for (si, s) in t.series.iter().enumerate() {
        let colour = Some(COLOURS[si % COLOURS.len()]);
        let points: Vec<(usize, usize)> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (frame.row_of(v), col_of(i))))
            .collect();
        for w in points.windows(2) {
            grid.segment(w[0], w[1], g, colour);
        }
        for p in &points {
            grid.put(
                p.0,
                p.1,
                g.markers[si % g.markers.len()],
                colour,
                Layer::Point,
            );
        }
    }
    frame.body(&mut out, &grid, &ylabels, &notes, o.colour);

    let labels: Vec<(usize, String)> = t
        .period_labels()
        .into_iter()
        .enumerate()
        .map(|(i, l)| (col_of(i), l))
        .collect();
    let (label_row, ticked) = x_labels(&labels, plot_cols);
    frame.axis(&mut out, &ticked);
    frame.under_plot(&mut out, &label_row);
    if any_missed {
        out.push_str(&missed_row(t, plot_cols, &col_of, g, label_width, o.colour));
    }
    out.push_str(&legend(t, g, o));
    out
}

/// The title (bold with colour) and the subtitle, each cut to the width.
fn heading(t: &Trend, o: &TextOptions) -> String {
    let mut out = title_line(&t.title(), o);
    out.push_str(&cut(&t.subtitle(), o.width));
    out.push('\n');
    out
}

/// The row under the axis that marks the periods in which a series missed
/// its target.
fn missed_row(
    t: &Trend,
    plot_cols: usize,
    col_of: &dyn Fn(usize) -> usize,
    g: &Glyphs,
    label_width: usize,
    colour: bool,
) -> String {
    let mut out = String::new();
    let mut row = String::new();
    let mut cells = vec![' '; plot_cols];
    for i in 0..t.periods.len() {
        if t.series.iter().any(|s| s.missed[i]) {
            cells[col_of(i)] = g.missed;
        }
    }
    for ch in cells {
        paint(&mut row, ch, (ch != ' ').then_some(RED), colour);
    }
    out.push_str(&format!("{:>label_width$}  ", "missed"));
    out.push_str(row.trim_end());
    out.push('\n');
    out
}

/// The legend (marker, name, missed of shown), wrapped on the visible
/// text, and the series left out.
fn legend(t: &Trend, g: &Glyphs, o: &TextOptions) -> String {
    let mut out = String::new();
    let legend: Vec<String> = t
        .series
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let mut m = String::new();
            paint(
                &mut m,
                g.markers[si % g.markers.len()],
                Some(COLOURS[si % COLOURS.len()]),
                o.colour,
            );
            let shown = s.values.iter().flatten().count();
            let missed = if t.target.is_some() {
                format!(" (missed {} of {shown})", s.missed_count())
            } else {
                String::new()
            };
            format!("{m} {}{missed}", s.name)
        })
        .collect();
    // Escape codes take no columns: wrap on the visible text.
    let mut line = String::new();
    let mut used = 0;
    for item in legend {
        let w = visible(&item);
        if used > 0 && used + 3 + w > o.width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
            used = 0;
        }
        if used > 0 {
            line.push_str("   ");
            used += 3;
        }
        line.push_str(&item);
        used += w;
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    if !t.left_out.is_empty() {
        let head = format!(
            "not drawn ({} series with fewer events; narrow with where):",
            t.left_out.len()
        );
        let mut items = vec![head];
        items.extend(t.left_out.iter().cloned());
        for l in wrap(&items, " ", o.width) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}
