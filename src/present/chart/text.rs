//! Charts drawn with characters, for the terminal.
//!
//! A chart is a grid of cells: y tick labels on the left, the plot, the
//! target's label on the right of its line, period labels below, then a
//! row marking missed periods and the legend. With colour, series are told
//! apart by ANSI colours and Unicode markers; without, by ASCII markers
//! alone, so a chart in a log file or a dumb terminal still reads.

mod bars; // driver importance bars
mod grid; // the character grid and the chart frame
mod scatter; // scatter charts
mod trend; // trend charts

use super::Chart;
use bars::bars;
use scatter::scatter;
use trend::trend;

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

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `s` as the terminal shows it: without the ANSI control sequences
/// (`ESC [ parameters final-byte`: the colours a chart carries, and the
/// cursor and mode sequences a line editor writes).
///
/// ```
/// assert_eq!(cpiq::present::chart::text::strip_ansi("\x1b[34m●\x1b[0m web"), "● web");
/// assert_eq!(cpiq::present::chart::text::strip_ansi("\x1b[?2004lcpiq\x1b[6C>"), "cpiq>");
/// ```
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // ESC [ … up to the final byte (@ to ~); any other escape is two
        // characters.
        if chars.next() == Some('[') {
            for f in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&f) {
                    break;
                }
            }
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

/// A chart's title, cut to the width, bold with colour, and a newline.
fn title_line(title: &str, o: &TextOptions) -> String {
    let title = cut(title, o.width);
    if o.colour {
        format!("\x1b[1m{title}\x1b[0m\n")
    } else {
        format!("{title}\n")
    }
}

/// Tick values from `lo` by `step` up to `hi` (give or take rounding).
fn tick_values(lo: f64, hi: f64, step: f64) -> impl Iterator<Item = f64> {
    (0..)
        .map(move |k| lo + k as f64 * step)
        .take_while(move |&v| v <= hi + step * 1e-9)
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
        Chart::Bars(b) => bars(b, o),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpi::{Direction, Unit};
    use crate::present::chart::Scatter;
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
