//! The boxed table people read on a terminal: column names and types in the
//! header, numbers right-aligned, NULL spelled out, and a row count below.
//!
//! In the shell the table also fits the screen ([`TableOptions`]): long
//! values are cut with an ellipsis, columns that do not fit are hidden from
//! the middle with a note naming them, and results longer than `max_rows`
//! show their first and last rows with a marker between. Nothing is ever cut
//! silently, and output that is not a terminal is never cut at all.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;

use super::format_options;
use crate::analysis::correlate::col as correlate_col;
use crate::analysis::drivers::col as drivers_col;
use crate::analysis::granger::col as granger_col;
use crate::analysis::slice::col as slice_col;
use crate::foundation::error::Result;

/// Expanded display: one block per row, a line per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expanded {
    /// Always a table.
    #[default]
    Off,
    /// Always expanded.
    On,
    /// Expanded when the table would be wider than the screen.
    Auto,
}

/// How to fit a table on the screen; the default cuts nothing.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// Screen width in columns.
    pub width: Option<usize>,
    /// Show at most this many rows (first and last halves).
    pub max_rows: Option<usize>,
    /// Expanded display.
    pub expanded: Expanded,
    /// How long the statement took, for the footer.
    pub elapsed: Option<Duration>,
    /// Colour the `status` column: `missed` red, `met` green,
    /// `insufficient` dimmed.
    pub color: bool,
}

/// Result columns hidden first when a table is too wide, least telling
/// first: counts, sums and interval bounds before anything else, p before q.
/// What a CPI reader needs most (cpi, period, dimensions, value, status,
/// target, change) is never in it; after it, columns go from the middle.
const HIDE_FIRST: &[&str] = &[
    slice_col::EVENTS,
    slice_col::NUMERATOR,
    slice_col::DENOMINATOR,
    slice_col::CI_LOW,
    slice_col::CI_HIGH,
    slice_col::PREVIOUS_VALUE,
    correlate_col::SPEARMAN_P_VALUE,
    granger_col::DF_NUM,
    granger_col::DF_DEN,
    granger_col::F_STAT,
    drivers_col::COEF_SE,
    drivers_col::COEF_P,
    correlate_col::P_VALUE,
    correlate_col::N,
    slice_col::CHANGE_PCT,
];

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn cut(s: &str, max: usize) -> String {
    if chars(s) <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Wrap `text` at spaces so no line is longer than `width`.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0usize;
    for word in text.split(' ') {
        let n = chars(word);
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Render `batches` as a table with a row-count footer.
pub fn render(
    schema: &Arc<Schema>,
    batches: &[RecordBatch],
    out: &mut dyn Write,
    opts: &TableOptions,
) -> Result<()> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    // Which rows to show: all, or the first and last halves of max_rows.
    let (head, tail) = match opts.max_rows {
        Some(m) if total > m => (m.div_ceil(2), m / 2),
        _ => (total, 0),
    };
    let rows = formatted_rows(batches, head, total - tail)?;
    let show_types = !schema.metadata().contains_key(super::DISPLAY_ONLY);
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| type_name(f.data_type()))
        .collect();
    // Numbers are right-aligned, also where the display has turned them
    // into text with their units (93.1%, +2.5 pp, 2.40 h).
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, f)| {
            f.data_type().is_numeric()
                || (!show_types
                    && rows.iter().any(|r| looks_numeric(&r[c]))
                    && rows
                        .iter()
                        .all(|r| looks_numeric(&r[c]) || r[c].is_empty() || r[c] == "NULL"))
        })
        .collect();

    // Column widths, values cut to a fair share of the screen.
    let ncols = names.len();
    let mut widths: Vec<usize> = (0..ncols)
        .map(|c| {
            let head = chars(&names[c]).max(if show_types { chars(&types[c]) } else { 0 });
            rows.iter().map(|r| chars(&r[c])).fold(head, usize::max)
        })
        .collect();
    let table_width = |w: &[usize]| w.iter().map(|x| x + 3).sum::<usize>() + 1;
    let natural = table_width(&widths);
    if opts.expanded == Expanded::On
        || (opts.expanded == Expanded::Auto && opts.width.is_some_and(|w| natural > w))
    {
        return render_expanded(&names, &rows, total, head, out, opts);
    }
    if let Some(screen) = opts.width {
        let cap = (screen / 3).max(12);
        for w in widths.iter_mut() {
            *w = (*w).min(cap);
        }
    }
    // Columns to show: all, or as many as fit, taken from both ends (two from
    // the left for each one from the right: keys and values lead).
    let (shown, hidden) = match opts.width {
        Some(screen) if table_width(&widths) > screen && ncols > 1 => {
            fit_columns(&widths, &names, screen)
        }
        _ => ((0..ncols).collect(), Vec::new()),
    };
    let header: Vec<String> = (0..ncols)
        .map(|c| {
            let name = cut(&names[c], widths[c]);
            if show_types {
                format!("{name}\n{}", cut(&types[c], widths[c]))
            } else {
                name
            }
        })
        .collect();
    let layout = Layout {
        shown: &shown,
        hidden: &hidden,
        widths: &widths,
        numeric: &numeric,
        status: names
            .iter()
            .position(|n| n == slice_col::STATUS)
            .filter(|_| opts.color),
    };
    let table = layout.table(&header, &rows, if tail > 0 { Some(head) } else { None });
    writeln!(out, "{table}")?;
    writeln!(out, "{}", footer(total, head, tail, opts))?;
    if !hidden.is_empty() {
        let names: Vec<&str> = hidden.iter().map(|&c| names[c].as_str()).collect();
        let note = format!(
            "({} column{} hidden to fit the screen: {}; \\x shows rows expanded)",
            hidden.len(),
            if hidden.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        writeln!(out, "{}", wrap(&note, opts.width.unwrap_or(usize::MAX)))?;
    }
    Ok(())
}

/// Which columns a table shows, how wide, and how each is aligned.
struct Layout<'a> {
    shown: &'a [usize],
    hidden: &'a [usize],
    widths: &'a [usize],
    numeric: &'a [bool],
    /// The `status` column, when it is coloured.
    status: Option<usize>,
}

impl Layout<'_> {
    /// The boxed table: `header`, then `rows`, with a `⋮` row before row
    /// `gap_at` when rows were left out, and a `…` column wherever columns
    /// were.
    fn table(&self, header: &[String], rows: &[Vec<String>], gap_at: Option<usize>) -> Table {
        // A marker before each shown column that follows hidden ones, and
        // one at the end when the last columns are hidden.
        let gap_before = |i: usize| {
            let from = if i == 0 { 0 } else { self.shown[i - 1] + 1 };
            self.hidden.iter().any(|&h| h >= from && h < self.shown[i])
        };
        let trailing = self
            .hidden
            .iter()
            .any(|&h| self.shown.last().is_none_or(|&l| h > l));
        let line = |cell: &dyn Fn(usize) -> Cell| -> Vec<Cell> {
            let mut cells: Vec<Cell> = Vec::new();
            for (i, &c) in self.shown.iter().enumerate() {
                if gap_before(i) {
                    cells.push(Cell::new("…"));
                }
                cells.push(cell(c));
            }
            if trailing {
                cells.push(Cell::new("…"));
            }
            cells
        };
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        if self.status.is_some() {
            table.enforce_styling();
        }
        table.set_header(line(&|c| Cell::new(&header[c])));
        for (i, r) in rows.iter().enumerate() {
            if gap_at == Some(i) {
                table.add_row(line(&|_| Cell::new("⋮")));
            }
            table.add_row(line(&|c| {
                let align = if self.numeric[c] {
                    CellAlignment::Right
                } else {
                    CellAlignment::Left
                };
                let cell = Cell::new(cut(&r[c], self.widths[c])).set_alignment(align);
                if self.status == Some(c) {
                    status_colour(cell, &r[c])
                } else {
                    cell
                }
            }));
        }
        table
    }
}

/// `missed` red, `met` green, `insufficient` dimmed.
fn status_colour(cell: Cell, value: &str) -> Cell {
    use comfy_table::{Attribute, Color};
    match value {
        "missed" => cell.fg(Color::Red),
        "met" => cell.fg(Color::Green),
        "insufficient" => cell.add_attribute(Attribute::Dim),
        _ => cell,
    }
}

/// A value as the display writes numbers: an optional sign, digits with
/// separators, and at most a unit after them (`93.1%`, `+2.5 pp`, `1,234`,
/// `2.40 h`, `1.5e-7`).
fn looks_numeric(s: &str) -> bool {
    let s = s.trim();
    let s = s.strip_prefix(['+', '-', '−']).unwrap_or(s);
    let mut chars = s.char_indices().peekable();
    let mut end = 0;
    let mut digits = false;
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '0'..='9' => digits = true,
            ',' | '.' if digits => {}
            'e' | 'E' if digits => {
                // An exponent: e, an optional sign, digits.
                chars.next();
                if let Some(&(_, '+' | '-')) = chars.peek() {
                    chars.next();
                }
                if !chars.peek().is_some_and(|(_, c)| c.is_ascii_digit()) {
                    return false;
                }
                continue;
            }
            _ => break,
        }
        end = i + c.len_utf8();
        chars.next();
    }
    if !digits || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let end = chars.peek().map_or(s.len(), |&(i, _)| i).max(end);
    let unit = s[end..].trim();
    unit.len() <= 4 && unit.chars().all(|c| c.is_alphabetic() || c == '%')
}

/// The rows `0..head` and `from..` of `batches` as text.
fn formatted_rows(batches: &[RecordBatch], head: usize, from: usize) -> Result<Vec<Vec<String>>> {
    let fmt_opts = format_options();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut index = 0usize;
    for b in batches {
        let fmts = super::formatters(b, &fmt_opts)?;
        for r in 0..b.num_rows() {
            if index < head || index >= from {
                rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
            }
            index += 1;
        }
    }
    Ok(rows)
}

/// The columns shown on a screen `screen` wide, and the hidden ones: first
/// the least telling result columns ([`HIDE_FIRST`], in its order), then, if
/// the table is still too wide, as many of the others as fit, taken from
/// both ends (two from the left for each one from the right: keys and values
/// lead).
fn fit_columns(widths: &[usize], names: &[String], screen: usize) -> (Vec<usize>, Vec<usize>) {
    // Borders and cells, and a `…` marker for each run of hidden columns.
    let width_of = |kept: &[usize]| {
        let gaps = (0..widths.len())
            .filter(|&c| !kept.contains(&c) && (c == 0 || kept.contains(&(c - 1))))
            .count();
        1 + 4 * gaps + kept.iter().map(|&c| widths[c] + 3).sum::<usize>()
    };
    let mut kept: Vec<usize> = (0..widths.len()).collect();
    for name in HIDE_FIRST {
        if width_of(&kept) <= screen {
            break;
        }
        kept.retain(|&c| names[c] != *name);
    }
    if width_of(&kept) > screen && kept.len() > 1 {
        // Take the rest from both ends while they fit.
        let mut chosen: Vec<usize> = Vec::new();
        for c in from_both_ends(&kept) {
            chosen.push(c);
            chosen.sort_unstable();
            if chosen.len() > 1 && width_of(&chosen) > screen {
                chosen.retain(|&x| x != c);
                break;
            }
        }
        kept = chosen;
    }
    let hidden = (0..widths.len()).filter(|c| !kept.contains(c)).collect();
    (kept, hidden)
}

/// The columns `cols` in the order a narrow screen takes them: two from the
/// left for each one from the right.
fn from_both_ends(cols: &[usize]) -> Vec<usize> {
    let (mut lo, mut hi) = (0usize, cols.len());
    let mut order = Vec::with_capacity(cols.len());
    let mut turn = 0usize;
    while lo < hi {
        if turn % 3 == 2 {
            hi -= 1;
            order.push(cols[hi]);
        } else {
            order.push(cols[lo]);
            lo += 1;
        }
        turn += 1;
    }
    order
}

/// `(1,234 rows, 40 shown: …, 0.012 s)`.
fn footer(total: usize, head: usize, tail: usize, opts: &TableOptions) -> String {
    let mut footer = format!(
        "({} row{}",
        thousands(total),
        if total == 1 { "" } else { "s" }
    );
    if tail > 0 {
        footer.push_str(&format!(
            ", {} shown: \\maxrows all to see every row",
            thousands(head + tail)
        ));
    }
    if let Some(e) = opts.elapsed {
        footer.push_str(&format!(", {:.3} s", e.as_secs_f64()));
    }
    footer.push(')');
    footer
}

fn render_expanded(
    names: &[String],
    rows: &[Vec<String>],
    total: usize,
    head: usize,
    out: &mut dyn Write,
    opts: &TableOptions,
) -> Result<()> {
    let w = names.iter().map(|n| chars(n)).max().unwrap_or(0);
    for (i, r) in rows.iter().enumerate() {
        let number = if i < head {
            i + 1
        } else {
            total - (rows.len() - i) + 1
        };
        if i == head && rows.len() < total {
            writeln!(out, "⋮")?;
        }
        writeln!(out, "-[ RECORD {number} ]-")?;
        for (n, v) in names.iter().zip(r) {
            let v = match opts.width {
                Some(s) => cut(v, s.saturating_sub(w + 3).max(10)),
                None => v.clone(),
            };
            writeln!(out, "{n:<w$} | {v}")?;
        }
    }
    let mut footer = format!(
        "({} row{}",
        thousands(total),
        if total == 1 { "" } else { "s" }
    );
    if let Some(e) = opts.elapsed {
        footer.push_str(&format!(", {:.3} s", e.as_secs_f64()));
    }
    footer.push(')');
    writeln!(out, "{footer}")?;
    Ok(())
}

/// A short SQL-ish name for an Arrow type, as analysts know them.
fn type_name(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as T;
    match t {
        T::Int8 | T::Int16 | T::Int32 | T::UInt8 | T::UInt16 => "int".into(),
        T::Int64 | T::UInt32 | T::UInt64 => "bigint".into(),
        T::Float16 | T::Float32 => "float".into(),
        T::Float64 => "double".into(),
        T::Decimal128(p, s) | T::Decimal256(p, s) => format!("decimal({p},{s})"),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "varchar".into(),
        T::Boolean => "boolean".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Timestamp(_, None) => "timestamp".into(),
        T::Timestamp(_, Some(_)) => "timestamptz".into(),
        T::Dictionary(_, v) => type_name(v),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};

    fn batch(rows: i64, cols: usize) -> (Arc<Schema>, RecordBatch) {
        let mut fields = vec![Field::new("id", DataType::Int64, false)];
        let mut arrays: Vec<Arc<dyn datafusion::arrow::array::Array>> =
            vec![Arc::new(Int64Array::from_iter_values(1..=rows))];
        for c in 0..cols {
            fields.push(Field::new(format!("column_{c}"), DataType::Utf8, false));
            arrays.push(Arc::new(StringArray::from_iter_values(
                (0..rows).map(|r| format!("a rather long value {r} {}", "x".repeat(40))),
            )));
        }
        let schema = Arc::new(Schema::new(fields));
        (
            schema.clone(),
            RecordBatch::try_new(schema, arrays).unwrap(),
        )
    }

    fn text(schema: &Arc<Schema>, b: &RecordBatch, opts: &TableOptions) -> String {
        let mut out = Vec::new();
        render(schema, std::slice::from_ref(b), &mut out, opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn without_options_nothing_is_cut() {
        let (s, b) = batch(100, 6);
        let t = text(&s, &b, &TableOptions::default());
        assert!(t.contains(&"x".repeat(40)));
        assert!(t.contains("│ 100 │") || t.contains(" 100 "));
        assert!(t.ends_with("(100 rows)\n"), "{t}");
    }

    #[test]
    fn tables_fit_the_screen_and_say_what_they_hid() {
        let (s, b) = batch(100, 6);
        let opts = TableOptions {
            width: Some(80),
            max_rows: Some(10),
            ..TableOptions::default()
        };
        let t = text(&s, &b, &opts);
        for line in t.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line}");
        }
        assert!(t.contains("…"), "{t}");
        assert!(
            t.contains("(100 rows, 10 shown: \\maxrows all to see every row)"),
            "{t}"
        );
        assert!(t.contains("columns hidden to fit the screen: "), "{t}");
        // First and last rows are both there.
        assert!(t.contains("│   1 ") || t.contains(" 1 ┆"), "{t}");
        assert!(t.contains(" 100 "), "{t}");
    }

    /// A slice with comparison as the display shows it: text with units.
    fn display_slice(status: &str) -> (Arc<Schema>, RecordBatch) {
        use datafusion::arrow::array::StringArray;
        use datafusion::arrow::datatypes::{DataType, Field};
        let names = [
            "cpi",
            "period",
            "channel",
            "value",
            "numerator",
            "denominator",
            "events",
            "target",
            "status",
            "ci_low",
            "ci_high",
            "previous_value",
            "change",
            "change_pct",
        ];
        let values = [
            "on_time_delivery",
            "2025-01-01",
            "web",
            "91.9%",
            "4,524",
            "4,924",
            "4,924",
            "95.0%",
            status,
            "91.1%",
            "92.6%",
            "95.8%",
            "-3.9 pp",
            "-4.0%",
        ];
        let mut meta = std::collections::HashMap::new();
        meta.insert(super::super::DISPLAY_ONLY.to_string(), "true".to_string());
        let schema = Arc::new(
            Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            )
            .with_metadata(meta),
        );
        let columns = values
            .iter()
            .map(|v| Arc::new(StringArray::from(vec![*v])) as _)
            .collect();
        (
            schema.clone(),
            RecordBatch::try_new(schema, columns).unwrap(),
        )
    }

    #[test]
    fn too_wide_cpi_tables_hide_counts_and_bounds_first_and_keep_status() {
        let (s, b) = display_slice("missed");
        let t = text(
            &s,
            &b,
            &TableOptions {
                width: Some(110),
                ..TableOptions::default()
            },
        );
        for line in t.lines() {
            assert!(line.chars().count() <= 110, "too wide: {line}\n{t}");
        }
        let header = t.lines().nth(1).unwrap();
        for kept in [
            "cpi", "period", "channel", "value", "target", "status", "change ",
        ] {
            assert!(header.contains(kept), "{kept} hidden: {t}");
        }
        let note = t.lines().last().unwrap_or_default().to_string() + &t;
        assert!(
            note.contains("hidden to fit the screen: numerator, denominator, events"),
            "counts go first, in table order: {t}"
        );
        // Numbers shown as text with units are right-aligned: "91.9%" ends
        // where its column ends.
        assert!(t.contains(" 91.9% ┆"), "{t}");
        assert!(t.contains(" -3.9 pp ┆"), "{t}");
    }

    #[test]
    fn status_is_coloured_only_when_asked() {
        let colour = |status: &str, color: bool| {
            let (s, b) = display_slice(status);
            text(
                &s,
                &b,
                &TableOptions {
                    color,
                    ..TableOptions::default()
                },
            )
        };
        // Red, green (crossterm's 256-colour codes) and dim around the cell.
        assert!(colour("missed", true).contains("\x1b[38;5;9m missed "));
        assert!(colour("met", true).contains("\x1b[38;5;10m met "));
        assert!(colour("insufficient", true).contains("\x1b[2m insufficient "));
        assert!(!colour("missed", false).contains('\x1b'));
    }

    #[test]
    fn looks_numeric_knows_the_display_units() {
        for yes in [
            "93.1%", "+2.5 pp", "-4.0%", "1,234", "2.40 h", "1.5e-7", "0", "−3",
        ] {
            assert!(looks_numeric(yes), "{yes}");
        }
        for no in ["web", "2025-01-01 x", "NULL", "", "met", "a1"] {
            assert!(!looks_numeric(no), "{no}");
        }
    }

    #[test]
    fn expanded_rows_list_columns() {
        let (s, b) = batch(2, 1);
        let t = text(
            &s,
            &b,
            &TableOptions {
                expanded: Expanded::On,
                ..TableOptions::default()
            },
        );
        assert!(
            t.starts_with("-[ RECORD 1 ]-\nid       | 1\ncolumn_0 | a rather long value 0"),
            "{t}"
        );
        assert!(t.ends_with("(2 rows)\n"));
    }
}
