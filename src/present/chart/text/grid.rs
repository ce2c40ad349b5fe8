//! The character grid text charts are drawn on: cells with a layer (axis,
//! line, point) and a colour, and the frame of axes, ticks and labels.

use super::{Glyphs, chars};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Layer {
    Empty,
    Target,
    Line,
    Point,
}

#[derive(Clone, Copy)]
pub(super) struct Cell {
    pub(super) ch: char,
    pub(super) colour: Option<u8>,
    pub(super) layer: Layer,
}

pub(super) const EMPTY: Cell = Cell {
    ch: ' ',
    colour: None,
    layer: Layer::Empty,
};

/// A plot area of `rows` × `cols` cells.
pub(super) struct Grid {
    pub(super) cells: Vec<Vec<Cell>>,
}

impl Grid {
    pub(super) fn new(rows: usize, cols: usize) -> Grid {
        Grid {
            cells: vec![vec![EMPTY; cols]; rows],
        }
    }

    pub(super) fn put(
        &mut self,
        row: usize,
        col: usize,
        ch: char,
        colour: Option<u8>,
        layer: Layer,
    ) {
        if let Some(cell) = self.cells.get_mut(row).and_then(|r| r.get_mut(col))
            && (layer as u8) >= (cell.layer as u8)
        {
            *cell = Cell { ch, colour, layer };
        }
    }

    /// A line from (r0, c0) to (r1, c1), ends excluded (markers go there).
    pub(super) fn segment(
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

pub(super) fn paint(out: &mut String, ch: char, colour: Option<u8>, use_colour: bool) {
    match colour {
        Some(c) if use_colour => out.push_str(&format!("\x1b[{c}m{ch}\x1b[0m")),
        _ => out.push(ch),
    }
}

/// Lay out x labels centred on their columns, skipping any that would touch
/// the previous one. Returns the label row and the columns labelled.
pub(super) fn x_labels(labels: &[(usize, String)], cols: usize) -> (String, Vec<usize>) {
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
pub(super) struct Frame<'a> {
    pub(super) g: &'a Glyphs,
    pub(super) label_width: usize,
    pub(super) plot_cols: usize,
    pub(super) rows: usize,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Frame<'_> {
    pub(super) fn row_of(&self, y: f64) -> usize {
        // The small bias sends values a rounding error apart (a tick at
        // 0.9 + 0.05 and a target of 0.95) to the same row.
        let f = (self.hi - y) / (self.hi - self.lo);
        ((f * (self.rows - 1) as f64 - 1e-9).round().max(0.0) as usize).min(self.rows - 1)
    }

    /// The plot rows with their y labels and right-hand notes.
    pub(super) fn body(
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

    pub(super) fn axis(&self, out: &mut String, ticks: &[usize]) {
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

    pub(super) fn under_plot(&self, out: &mut String, row: &str) {
        if !row.is_empty() {
            out.push_str(&" ".repeat(self.label_width + 2));
            out.push_str(row);
        }
        out.push('\n');
    }
}
