//! A scatter chart in text: the CPI at t against the KPI at t + lag, with
//! the fitted line.

use super::grid::{Frame, Grid, Layer, paint, x_labels};
use super::{
    ASCII, COLOURS, RED, TextOptions, UNICODE, chars, cut, tick_values, title_line, visible,
};
use crate::present::chart::{Scatter, format_tick, nice_ticks, value_range};

pub(super) fn scatter(s: &Scatter, o: &TextOptions) -> String {
    let g = if o.colour { &UNICODE } else { &ASCII };
    let mut out = title_line(&s.title(), o);
    let rows = o.height.max(4);
    let ys: Vec<f64> = s.points.iter().map(|p| p.1).collect();
    let xs: Vec<f64> = s.points.iter().map(|p| p.0).collect();
    let (ylo, yhi) = value_range(&ys);
    let (ylo, yhi, ystep) = nice_ticks(ylo, yhi, (rows / 3).max(2));
    let ylabels: Vec<(f64, String)> = tick_values(ylo, yhi, ystep)
        .map(|v| (v, format_tick(None, v, ystep)))
        .collect();
    let label_width = ylabels.iter().map(|l| chars(&l.1)).max().unwrap_or(1);
    let plot_cols = o.width.saturating_sub(label_width + 2).max(10);
    let frame = Frame {
        g,
        label_width,
        plot_cols,
        rows,
        lo: ylo,
        hi: yhi,
    };
    let (xlo, xhi) = value_range(&xs);
    let (xlo, xhi, xstep) = nice_ticks(xlo, xhi, (plot_cols / 12).max(2));
    let col_of = |x: f64| {
        let f = (x - xlo) / (xhi - xlo);
        ((f * (plot_cols - 1) as f64).round().max(0.0) as usize).min(plot_cols - 1)
    };
    let mut grid = Grid::new(rows, plot_cols);
    if let Some((m, b)) = s.fit() {
        for c in 0..plot_cols {
            let x = xlo + (c as f64) / ((plot_cols - 1) as f64) * (xhi - xlo);
            let y = m * x + b;
            if y >= ylo && y <= yhi {
                grid.put(frame.row_of(y), c, g.line, Some(RED), Layer::Line);
            }
        }
    }
    for &(x, y) in &s.points {
        grid.put(
            frame.row_of(y),
            col_of(x),
            g.markers[0],
            Some(COLOURS[0]),
            Layer::Point,
        );
    }
    let ylabels: Vec<(usize, String)> = ylabels
        .into_iter()
        .map(|(v, l)| (frame.row_of(v), l))
        .collect();
    frame.body(&mut out, &grid, &ylabels, &[], o.colour);
    let labels: Vec<(usize, String)> = tick_values(xlo, xhi, xstep)
        .map(|v| (col_of(v), format_tick(Some(s.unit), v, xstep)))
        .collect();
    let (label_row, ticked) = x_labels(&labels, plot_cols);
    frame.axis(&mut out, &ticked);
    frame.under_plot(&mut out, &label_row);
    let s_ = if s.lag == 1 { "" } else { "s" };
    let mut marker = String::new();
    paint(&mut marker, g.markers[0], Some(COLOURS[0]), o.colour);
    let mut line = String::new();
    paint(&mut line, g.line, Some(RED), o.colour);
    let legend = format!(
        "{marker} x: {} at t, y: {} {} {}{s_} later   {line} least-squares fit",
        s.cpi, s.kpi, s.lag, s.per
    );
    // Cut to the width on the screen: escape codes take no columns.
    out.push_str(&cut(&legend, o.width + chars(&legend) - visible(&legend)));
    out.push('\n');
    out
}
