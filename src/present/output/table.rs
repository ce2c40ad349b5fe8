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
use datafusion::arrow::util::display::ArrayFormatter;

use super::format_options;
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
}

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
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
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
        Some(screen) if table_width(&widths) > screen && ncols > 1 => fit_columns(&widths, screen),
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
}

impl Layout<'_> {
    /// The boxed table: `header`, then `rows`, with a `⋮` row before row
    /// `gap_at` when rows were left out, and a `…` column where columns were.
    fn table(&self, header: &[String], rows: &[Vec<String>], gap_at: Option<usize>) -> Table {
        let marker_at = self
            .shown
            .iter()
            .position(|&c| self.hidden.first().is_some_and(|&h| c > h));
        let line = |cell: &dyn Fn(usize) -> Cell| -> Vec<Cell> {
            let mut cells: Vec<Cell> = Vec::new();
            for (i, &c) in self.shown.iter().enumerate() {
                if marker_at == Some(i) {
                    cells.push(Cell::new("…"));
                }
                cells.push(cell(c));
            }
            if marker_at.is_none() && !self.hidden.is_empty() {
                cells.push(Cell::new("…"));
            }
            cells
        };
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(line(&|c| Cell::new(&header[c])));
        for (i, r) in rows.iter().enumerate() {
            if gap_at == Some(i) {
                let mut cells: Vec<Cell> = self.shown.iter().map(|_| Cell::new("⋮")).collect();
                if !self.hidden.is_empty() {
                    cells.push(Cell::new(""));
                }
                table.add_row(cells);
            }
            table.add_row(line(&|c| {
                let align = if self.numeric[c] {
                    CellAlignment::Right
                } else {
                    CellAlignment::Left
                };
                Cell::new(cut(&r[c], self.widths[c])).set_alignment(align)
            }));
        }
        table
    }
}

/// The rows `0..head` and `from..` of `batches` as text.
fn formatted_rows(batches: &[RecordBatch], head: usize, from: usize) -> Result<Vec<Vec<String>>> {
    let fmt_opts = format_options();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut index = 0usize;
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &fmt_opts))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            if index < head || index >= from {
                rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
            }
            index += 1;
        }
    }
    Ok(rows)
}

/// The columns shown on a screen `screen` wide, and the hidden ones: as many
/// as fit, taken from both ends (two from the left for each one from the
/// right: keys and values lead).
fn fit_columns(widths: &[usize], screen: usize) -> (Vec<usize>, Vec<usize>) {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut lo, mut hi) = (0usize, widths.len() - 1);
    let mut used = 1 + 4; // border plus the marker column
    let mut turn = 0usize;
    while lo <= hi {
        let take_left = turn % 3 != 2;
        let c = if take_left { lo } else { hi };
        if used + widths[c] + 3 > screen && !(left.is_empty() && right.is_empty()) {
            break;
        }
        used += widths[c] + 3;
        if take_left {
            left.push(c);
            lo += 1;
        } else {
            right.push(c);
            if hi == 0 {
                break;
            }
            hi -= 1;
        }
        turn += 1;
    }
    let hidden = (lo..=hi).collect();
    right.reverse();
    (left.into_iter().chain(right).collect(), hidden)
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
