//! Charts drawn with characters, for the terminal.
//!
//! A chart is a grid of cells: y tick labels on the left, the plot, the
//! target's label on the right of its line, period labels below, then a
//! row marking missed periods and the legend. With colour, series are told
//! apart by ANSI colours and Unicode markers; without, by ASCII markers
//! alone, so a chart in a log file or a dumb terminal still reads.

use super::{Chart, Scatter, Trend, format_tick, nice_ticks, value_range};

/// Size and style of a text chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Columns available (the whole chart fits them).
    pub width: usize,
    /// Rows of the plot area (labels and legend come on top).
    pub height: usize,
    /// ANSI colours and Unicode glyphs; otherwise plain ASCII.
    pub colour: bool,
}

impl TextOptions {
    /// A chart for a terminal of `width` × `height` characters.
    pub fn for_terminal(width: usize, height: usize, colour: bool) -> TextOptions {
        TextOptions {
            width: width.max(40),
            height: height.saturating_sub(10).clamp(8, 20),
            colour,
        }
    }
}

struct Glyphs {
    vline: char,
    tick: char,
    corner: char,
    hline: char,
    xtick: char,
    target: char,
    line: char,
    missed: char,
    markers: [char; 6],
}

const UNICODE: Glyphs = Glyphs {
    vline: '│',
    tick: '┤',
    corner: '└',
    hline: '─',
    xtick: '┬',
    target: '╌',
    line: '·',
    missed: '▲',
    markers: ['●', '■', '▲', '◆', '✖', '○'],
};

const ASCII: Glyphs = Glyphs {
    vline: '|',
    tick: '+',
    corner: '+',
    hline: '-',
    xtick: '+',
    target: '-',
    line: '.',
    missed: '!',
    markers: ['*', 'o', '+', 'x', '#', '@'],
};

/// ANSI colours of the series, then the target and missed marks.
const COLOURS: [u8; 6] = [34, 33, 32, 35, 36, 94];
const RED: u8 = 31;

#[derive(Clone, Copy, PartialEq)]
enum Layer {
    Empty,
    Target,
    Line,
    Point,
}

#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    colour: Option<u8>,
    layer: Layer,
}

const EMPTY: Cell = Cell {
    ch: ' ',
    colour: None,
    layer: Layer::Empty,
};

/// A plot area of `rows` × `cols` cells.
struct Grid {
    cells: Vec<Vec<Cell>>,
}

impl Grid {
    fn new(rows: usize, cols: usize) -> Grid {
        Grid {
            cells: vec![vec![EMPTY; cols]; rows],
        }
    }

    fn put(&mut self, row: usize, col: usize, ch: char, colour: Option<u8>, layer: Layer) {
        if let Some(cell) = self.cells.get_mut(row).and_then(|r| r.get_mut(col))
            && (layer as u8) >= (cell.layer as u8)
        {
            *cell = Cell { ch, colour, layer };
        }
    }

    /// A line from (r0, c0) to (r1, c1), ends excluded (markers go there).
    fn segment(
        &mut self,
        (r0, c0): (usize, usize),
        (r1, c1): (usize, usize),
        g: &Glyphs,
        colour: Option<u8>,
    ) {
        let (mut x, mut y) = (c0 as i64, r0 as i64);
        let (x1, y1) = (c1 as i64, r1 as i64);
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        loop {
            if (x, y) != (c0 as i64, r0 as i64) && (x, y) != (x1, y1) {
                self.put(y as usize, x as usize, g.line, colour, Layer::Line);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

fn paint(out: &mut String, ch: char, colour: Option<u8>, use_colour: bool) {
    match colour {
        Some(c) if use_colour => out.push_str(&format!("\x1b[{c}m{ch}\x1b[0m")),
        _ => out.push(ch),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` as the terminal shows it: without the ANSI colour sequences
/// (`ESC [ … m`) a coloured chart carries.
///
/// ```
/// assert_eq!(cpiq::present::chart::text::strip_ansi("\x1b[34m●\x1b[0m web"), "● web");
/// ```
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for ch in s.chars() {
        match (esc, ch) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (false, c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// The columns `s` takes on a terminal.
fn visible(s: &str) -> usize {
    chars(&strip_ansi(s))
}

fn cut(s: &str, width: usize) -> String {
    if chars(s) <= width {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Words joined by `sep`, wrapped to `width`.
fn wrap(items: &[String], sep: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && chars(&line) + chars(sep) + chars(item) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push_str(sep);
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draw a chart.
///
/// ```
/// use cpiq::present::chart::{Chart, Scatter, text};
/// let s = Scatter {
///     cpi: "fcr".into(), unit: cpiq::model::cpi::Unit::Percent, kpi: "kpi.nps".into(),
///     dimension: None, lag: 1, per: "month", symbol: "r", coefficient: Some(0.9),
///     points: vec![(0.7, 30.0), (0.8, 35.0), (0.9, 41.0)],
/// };
/// let opts = text::TextOptions { width: 60, height: 8, colour: false };
/// let drawn = text::render(&Chart::Scatter(s), &opts);
/// assert!(drawn.starts_with("fcr (t) vs kpi.nps (t+1 month): r = 0.90, n = 3"));
/// ```
pub fn render(chart: &Chart, o: &TextOptions) -> String {
    match chart {
        Chart::Trend(t) => trend(t, o),
        Chart::Scatter(s) => scatter(s, o),
    }
}

/// Lay out x labels centred on their columns, skipping any that would touch
/// the previous one. Returns the label row and the columns labelled.
fn x_labels(labels: &[(usize, String)], cols: usize) -> (String, Vec<usize>) {
    let mut row: Vec<char> = vec![' '; cols];
    let mut next_free = 0usize;
    let mut ticked = Vec::new();
    for (col, label) in labels {
        let len = chars(label);
        if len > cols {
            continue;
        }
        let start = col.saturating_sub(len / 2).min(cols - len);
        if start < next_free {
            continue;
        }
        for (i, ch) in label.chars().enumerate() {
            row[start + i] = ch;
        }
        next_free = start + len + 2;
        ticked.push(*col);
    }
    (
        row.into_iter().collect::<String>().trim_end().to_string(),
        ticked,
    )
}

/// The frame shared by both kinds: y labels, the plot, the x axis.
struct Frame<'a> {
    g: &'a Glyphs,
    label_width: usize,
    plot_cols: usize,
    rows: usize,
    lo: f64,
    hi: f64,
}

impl Frame<'_> {
    fn row_of(&self, y: f64) -> usize {
        // The small bias sends values a rounding error apart (a tick at
        // 0.9 + 0.05 and a target of 0.95) to the same row.
        let f = (self.hi - y) / (self.hi - self.lo);
        ((f * (self.rows - 1) as f64 - 1e-9).round().max(0.0) as usize).min(self.rows - 1)
    }

    /// The plot rows with their y labels and right-hand notes.
    fn body(
        &self,
        out: &mut String,
        grid: &Grid,
        ylabels: &[(usize, String)],
        notes: &[(usize, String, Option<u8>)],
        colour: bool,
    ) {
        for (r, cells) in grid.cells.iter().enumerate() {
            let label = ylabels.iter().find(|(row, _)| *row == r);
            let (text, axis) = match label {
                Some((_, l)) => (l.as_str(), self.g.tick),
                None => ("", self.g.vline),
            };
            out.push_str(&format!("{text:>w$} ", w = self.label_width));
            out.push(axis);
            for c in cells {
                paint(out, c.ch, c.colour, colour);
            }
            if let Some((_, note, col)) = notes.iter().find(|(row, _, _)| *row == r) {
                out.push(' ');
                match col {
                    Some(c) if colour => out.push_str(&format!("\x1b[{c}m{note}\x1b[0m")),
                    _ => out.push_str(note),
                }
            }
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
            out.push('\n');
        }
    }

    fn axis(&self, out: &mut String, ticks: &[usize]) {
        out.push_str(&" ".repeat(self.label_width + 1));
        out.push(self.g.corner);
        for c in 0..self.plot_cols {
            out.push(if ticks.contains(&c) {
                self.g.xtick
            } else {
                self.g.hline
            });
        }
        out.push('\n');
    }

    fn under_plot(&self, out: &mut String, row: &str) {
        if !row.is_empty() {
            out.push_str(&" ".repeat(self.label_width + 2));
            out.push_str(row);
        }
        out.push('\n');
    }
}

fn trend(t: &Trend, o: &TextOptions) -> String {
    let g = if o.colour { &UNICODE } else { &ASCII };
    let mut out = String::new();
    let title = cut(&t.title(), o.width);
    if o.colour {
        out.push_str(&format!("\x1b[1m{title}\x1b[0m\n"));
    } else {
        out.push_str(&title);
        out.push('\n');
    }
    out.push_str(&cut(&t.subtitle(), o.width));
    out.push('\n');

    let rows = o.height.max(4);
    let (lo, hi) = value_range(&t.extent());
    let (lo, hi, step) = nice_ticks(lo, hi, (rows / 3).max(2));
    let mut ylabels = Vec::new();
    let mut k = 0;
    loop {
        let v = lo + k as f64 * step;
        if v > hi + step * 1e-9 {
            break;
        }
        ylabels.push(format_tick(Some(t.unit), v, step));
        k += 1;
    }
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
        let mut row = String::new();
        let mut cells = vec![' '; plot_cols];
        for i in 0..n {
            if t.series.iter().any(|s| s.missed[i]) {
                cells[col_of(i)] = g.missed;
            }
        }
        for ch in cells {
            paint(&mut row, ch, (ch != ' ').then_some(RED), o.colour);
        }
        out.push_str(&format!("{:>label_width$}  ", "missed"));
        out.push_str(row.trim_end());
        out.push('\n');
    }
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

fn scatter(s: &Scatter, o: &TextOptions) -> String {
    let g = if o.colour { &UNICODE } else { &ASCII };
    let mut out = String::new();
    let title = cut(&s.title(), o.width);
    if o.colour {
        out.push_str(&format!("\x1b[1m{title}\x1b[0m\n"));
    } else {
        out.push_str(&title);
        out.push('\n');
    }
    let rows = o.height.max(4);
    let ys: Vec<f64> = s.points.iter().map(|p| p.1).collect();
    let xs: Vec<f64> = s.points.iter().map(|p| p.0).collect();
    let (ylo, yhi) = value_range(&ys);
    let (ylo, yhi, ystep) = nice_ticks(ylo, yhi, (rows / 3).max(2));
    let mut ylabels = Vec::new();
    let mut k = 0;
    loop {
        let v = ylo + k as f64 * ystep;
        if v > yhi + ystep * 1e-9 {
            break;
        }
        ylabels.push((v, format_tick(None, v, ystep)));
        k += 1;
    }
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
    let mut labels = Vec::new();
    let mut k = 0;
    loop {
        let v = xlo + k as f64 * xstep;
        if v > xhi + xstep * 1e-9 {
            break;
        }
        labels.push((col_of(v), format_tick(Some(s.unit), v, xstep)));
        k += 1;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpi::{Direction, Unit};
    use crate::present::chart::{Series, Trend};

    fn sample() -> Trend {
        let d = |s: &str| s.parse().unwrap();
        Trend {
            cpi: "on_time_delivery".into(),
            label: "On-time delivery".into(),
            unit: Unit::Percent,
            direction: Direction::HigherIsBetter,
            target: Some(0.95),
            by: vec!["channel".into()],
            periods: vec![
                d("2024-01-01"),
                d("2024-02-01"),
                d("2024-03-01"),
                d("2024-04-01"),
            ],
            series: vec![
                Series {
                    name: "store".into(),
                    values: vec![Some(0.97), Some(0.96), Some(0.98), Some(0.99)],
                    missed: vec![false; 4],
                    denominator: 100.0,
                },
                Series {
                    name: "web".into(),
                    values: vec![Some(0.93), None, Some(0.96), Some(0.92)],
                    missed: vec![true, false, false, true],
                    denominator: 80.0,
                },
            ],
            left_out: vec!["phone".into()],
        }
    }

    #[test]
    fn a_plain_trend_at_60_columns() {
        let drawn = render(
            &Chart::Trend(sample()),
            &TextOptions {
                width: 60,
                height: 8,
                colour: false,
            },
        );
        let expected = "\
On-time delivery by channel (on_time_delivery)
target 95.0%, higher is better
  100% +
       |                      ...*............*
       |*......         ......
   95% +-------......*..---......o..----------- target 95.0%
       |       ............         ....
       |o......                         ....
       |                                    ..o
   90% +
       ++------------+-----------+------------+
        2024-01   2024-02     2024-03   2024-04
missed  !                                     !
* store (missed 0 of 4)   o web (missed 2 of 3)
not drawn (1 series with fewer events; narrow with where):
phone
";
        assert_eq!(drawn, expected, "\n{drawn}");
    }

    #[test]
    fn colour_uses_escape_codes_and_unicode_and_fits_the_width() {
        let opts = TextOptions {
            width: 72,
            height: 10,
            colour: true,
        };
        let drawn = render(&Chart::Trend(sample()), &opts);
        assert!(drawn.contains("\x1b[34m●\x1b[0m"), "{drawn}");
        assert!(drawn.contains("\x1b[31mtarget 95.0%\x1b[0m"));
        assert!(drawn.contains('└') && drawn.contains('╌'));
        for line in strip_ansi(&drawn).lines() {
            assert!(line.chars().count() <= 72, "{line:?}");
        }
        let ascii = render(
            &Chart::Trend(sample()),
            &TextOptions {
                colour: false,
                ..opts
            },
        );
        assert!(ascii.is_ascii() && !ascii.contains('\x1b'));
    }

    #[test]
    fn a_scatter_has_points_the_fit_and_the_coefficient() {
        let s = Scatter {
            cpi: "first_contact_resolution".into(),
            unit: Unit::Percent,
            kpi: "kpi_monthly.nps".into(),
            dimension: Some("consumer".into()),
            lag: 1,
            per: "month",
            symbol: "r",
            coefficient: Some(0.85),
            points: vec![(0.70, 20.0), (0.75, 24.0), (0.80, 31.0), (0.85, 33.0)],
        };
        let drawn = render(
            &Chart::Scatter(s),
            &TextOptions {
                width: 60,
                height: 8,
                colour: false,
            },
        );
        // The title is cut to the width with an ellipsis.
        let title = drawn.lines().next().unwrap();
        assert_eq!(title.chars().count(), 60);
        assert!(title.starts_with("first_contact_resolution [consumer] (t) vs kpi_monthly.nps"));
        assert!(title.ends_with('…'));
        let plot: String = drawn.lines().skip(1).take(8).collect();
        assert_eq!(plot.matches('*').count(), 4, "{drawn}");
        assert!(drawn.contains("70%") && drawn.contains("85%"), "{drawn}");
        assert!(drawn.matches('.').count() > 20, "the fitted line: {drawn}");
    }
}
