//! Charts as images: SVG and PNG, drawn with plotters.
//!
//! The same [`Chart`]s the terminal draws, with proper axes (tick labels in
//! the CPI's unit, axis descriptions), a legend, the title, the target as a
//! dashed red line labelled with its value and missed periods marked with
//! red crosses. Several charts stack vertically in one image. PNG text is
//! rendered with DejaVu Sans compiled into cpiq, so nothing is needed at run
//! time: no browser, no system fonts or libraries.

use std::path::Path;
use std::sync::Once;

use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor;

use super::{Bars, Chart, Scatter, Trend, format_tick, nice_ticks, value_range};
use crate::foundation::error::{CpiqError, Result};

/// Pixels of one chart panel.
pub const PANEL: (u32, u32) = (960, 480);

const FONT: &str = "sans-serif";

/// Series colours (colour-blind-safe "Tableau 10" first six).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const TARGET: RGBColor = RGBColor(214, 39, 40);

/// An image format cpiq writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Scalable vector graphics.
    Svg,
    /// A PNG bitmap.
    Png,
}

impl ImageFormat {
    /// The format for a file name's extension.
    pub fn for_path(path: &Path) -> Result<ImageFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(ImageFormat::Svg),
            Some("png") => Ok(ImageFormat::Png),
            _ => Err(CpiqError::Usage(format!(
                "{}: a chart is written as .svg or .png",
                path.display()
            ))),
        }
    }
}

fn err<E: std::fmt::Display>(e: E) -> CpiqError {
    CpiqError::Chart(e.to_string())
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid TrueType font; a failure here would only
        // leave PNG text undrawn, which the tests would catch.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn size(charts: &[Chart]) -> (u32, u32) {
    (PANEL.0, PANEL.1 * charts.len().max(1) as u32)
}

/// The charts as one SVG document.
pub fn svg(charts: &[Chart]) -> Result<String> {
    // Text is measured for layout even in SVG.
    register_font();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size(charts)).into_drawing_area();
        draw_all(&root, charts)?;
        root.present().map_err(err)?;
    }
    Ok(text)
}

/// The charts as one PNG image.
pub fn png(charts: &[Chart]) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = size(charts);
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw_all(&root, charts)?;
        root.present().map_err(err)?;
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, w, h, image::ColorType::Rgb8)
        .map_err(err)?;
    Ok(out)
}

/// The charts encoded for `path`'s extension.
pub fn encode(charts: &[Chart], format: ImageFormat) -> Result<Vec<u8>> {
    match format {
        ImageFormat::Svg => svg(charts).map(String::into_bytes),
        ImageFormat::Png => png(charts),
    }
}

fn draw_all<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, charts: &[Chart]) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((charts.len().max(1), 1));
    for (chart, area) in charts.iter().zip(panels.iter()) {
        match chart {
            Chart::Trend(t) => trend(area, t)?,
            Chart::Scatter(s) => scatter(area, s)?,
            Chart::Bars(b) => bars(area, b)?,
        }
    }
    Ok(())
}

/// A trend chart: axes, target line, one line per series, legend.
// The drawing steps in the order they paint: it reads better whole.
fn trend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, t: &Trend) -> Result<()> {
    let labels = t.period_labels();
    let n = t.periods.len();
    let (lo, hi) = value_range(&t.extent());
    let (lo, hi, step) = nice_ticks(lo, hi, 6);
    let steps = ((hi - lo) / step).round() as usize;
    let caption = format!("{} — {}", t.title(), t.subtitle());
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18).into_font().style(FontStyle::Bold))
        .margin(16)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5).max(0.5), lo..hi)
        .map_err(err)?;
    let unit = t.unit;
    let every = n.div_ceil(12).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_labels(n.min(24))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            let i = i as usize;
            if i.is_multiple_of(every) {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(steps + 1)
        .y_label_formatter(&|y| format_tick(Some(unit), *y, step))
        .x_desc("period")
        .y_desc(format!("{} ({})", t.cpi, t.unit))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;

    if let Some(target) = t.target {
        draw_target(&mut chart, t, target, n)?;
    }
    for (si, s) in t.series.iter().enumerate() {
        let colour = PALETTE[si % PALETTE.len()];
        let mut first = true;
        for run in runs_of(&s.values) {
            let drawn = chart
                .draw_series(LineSeries::new(run.clone(), colour.stroke_width(2)))
                .map_err(err)?;
            if first {
                drawn.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
                first = false;
            }
            chart
                .draw_series(run.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(err)?;
        }
        let missed: Vec<(f64, f64)> = s
            .values
            .iter()
            .zip(&s.missed)
            .enumerate()
            .filter_map(|(i, (v, m))| v.filter(|_| *m).map(|v| (i as f64, v)))
            .collect();
        chart
            .draw_series(
                missed
                    .into_iter()
                    .map(|p| Cross::new(p, 6, TARGET.stroke_width(2))),
            )
            .map_err(err)?;
    }
    if t.series.iter().any(|s| s.missed_count() > 0) {
        chart
            .draw_series(std::iter::empty::<Cross<(f64, f64), i32>>())
            .map_err(err)?
            .label("missed target")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, TARGET.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    if let Some(note) = left_out_note(t) {
        area.draw(&Text::new(
            note,
            (90, PANEL.1 as i32 - 16),
            (FONT, 12).into_font().color(&RGBColor(90, 90, 90)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// The series' legend, boxed, in the `corner` of the plot.
fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    corner: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)
}

/// The target as a dashed line across the plot, with its value labelled.
fn draw_target<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    t: &Trend,
    target: f64,
    n: usize,
) -> Result<()> {
    chart
        .draw_series(DashedLineSeries::new(
            [(-0.5, target), (n as f64 - 0.5, target)],
            8,
            5,
            TARGET.stroke_width(2),
        ))
        .map_err(err)?
        .label(format!(
            "target {}",
            crate::model::cpi::format_value(t.unit, target)
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], TARGET.stroke_width(2)));
    chart
        .draw_series(std::iter::once(Text::new(
            format!("target {}", crate::model::cpi::format_value(t.unit, target)),
            (-0.45, target),
            (FONT, 13)
                .into_font()
                .color(&TARGET)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Left,
                    text_anchor::VPos::Bottom,
                )),
        )))
        .map_err(err)?;
    Ok(())
}

/// A series' values as runs of (period index, value): gaps break the line.
fn runs_of(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                if let Some(run) = runs.last_mut() {
                    run.push((i as f64, *v));
                }
            }
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// `not drawn (N series with fewer events): a, b, …`, cut to 140 characters.
fn left_out_note(t: &Trend) -> Option<String> {
    if t.left_out.is_empty() {
        return None;
    }
    let note = format!(
        "not drawn ({} series with fewer events): {}",
        t.left_out.len(),
        t.left_out.join(", ")
    );
    Some(if note.chars().count() > 140 {
        note.chars().take(139).chain(['…']).collect()
    } else {
        note
    })
}

/// Importance bars: one horizontal bar per dimension value and CPI, labelled
/// with the lead and the verdict; drivers in the first colour.
fn bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, b: &Bars) -> Result<()> {
    let labels: Vec<String> = b
        .groups
        .iter()
        .flat_map(|(dim, g)| {
            g.iter().map(move |x| {
                let lead = x
                    .lead
                    .map(|l| format!("lead {l}"))
                    .unwrap_or_else(|| "no lead".into());
                match dim {
                    Some(d) => format!("[{d}] {} ({lead}, {})", x.cpi, x.verdict),
                    None => format!("{} ({lead}, {})", x.cpi, x.verdict),
                }
            })
        })
        .collect();
    let values: Vec<(f64, bool)> = b
        .groups
        .iter()
        .flat_map(|(_, g)| {
            g.iter()
                .map(|x| (x.importance.unwrap_or(0.0).max(0.0), x.verdict == "drives"))
        })
        .collect();
    let top = values.iter().map(|v| v.0).fold(0.0f64, f64::max);
    let (_, xhi, xstep) = nice_ticks(0.0, if top > 0.0 { top } else { 1.0 }, 6);
    let n = values.len().max(1) as i32;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(10) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: driver importance (Shapley share of R²)", b.kpi),
            (FONT, 18).into_font().style(FontStyle::Bold),
        )
        .margin(16)
        .margin_right(28)
        .x_label_area_size(40)
        .y_label_area_size((longest * 7).clamp(120, 520))
        .build_cartesian_2d(0.0..xhi, 0..n)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_labels((xhi / xstep).round() as usize + 1)
        .x_label_formatter(&|x| format_tick(None, *x, xstep))
        .y_labels(n as usize + 1)
        .y_label_formatter(&|i| {
            let row = (n - 1 - *i) as usize;
            labels.get(row).cloned().unwrap_or_default()
        })
        .x_desc("share of R²")
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(values.iter().enumerate().map(|(row, (v, drives))| {
            let y = n - 1 - row as i32;
            let colour = if *drives {
                PALETTE[0]
            } else {
                RGBColor(170, 170, 170)
            };
            Rectangle::new([(0.0, y), (*v, y + 1)], colour.filled())
        }))
        .map_err(err)?;
    Ok(())
}

fn scatter<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &Scatter) -> Result<()> {
    let xs: Vec<f64> = s.points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = s.points.iter().map(|p| p.1).collect();
    let (xlo, xhi) = value_range(&xs);
    let (ylo, yhi) = value_range(&ys);
    let (xlo, xhi, xstep) = nice_ticks(xlo, xhi, 8);
    let (ylo, yhi, ystep) = nice_ticks(ylo, yhi, 6);
    let unit = s.unit;
    let mut chart = ChartBuilder::on(area)
        .caption(s.title(), (FONT, 18).into_font().style(FontStyle::Bold))
        .margin(16)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(xlo..xhi, ylo..yhi)
        .map_err(err)?;
    let lag_s = if s.lag == 1 { "" } else { "s" };
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_labels(((xhi - xlo) / xstep).round() as usize + 1)
        .y_labels(((yhi - ylo) / ystep).round() as usize + 1)
        .x_label_formatter(&|x| format_tick(Some(unit), *x, xstep))
        .y_label_formatter(&|y| format_tick(None, *y, ystep))
        .x_desc(format!("{} at t ({})", s.cpi, s.unit))
        .y_desc(format!("{} at t+{} {}{lag_s}", s.kpi, s.lag, s.per))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(err)?;
    let colour = PALETTE[0];
    chart
        .draw_series(s.points.iter().map(|p| Circle::new(*p, 4, colour.filled())))
        .map_err(err)?
        .label(format!("{} pairs", s.points.len()))
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
    if let Some((m, b)) = s.fit() {
        // The part of the line inside the plot.
        let (mut xa, mut xb) = (xlo, xhi);
        if m != 0.0 {
            let (x1, x2) = ((ylo - b) / m, (yhi - b) / m);
            xa = xa.max(x1.min(x2));
            xb = xb.min(x1.max(x2));
        }
        chart
            .draw_series(LineSeries::new(
                [(xa, m * xa + b), (xb, m * xb + b)],
                TARGET.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!(
                "least squares: y = {m:.3}·x {} {:.3}",
                if b < 0.0 { '-' } else { '+' },
                b.abs()
            ))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], TARGET.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}
