//! Sparklines: a series in one line, as block characters for tables and as
//! a small inline SVG for the HTML report.

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn range(values: &[Option<f64>]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lo, hi))
}

/// One block character per value, scaled from the series' minimum to its
/// maximum; a space where there is no value.
///
/// ```
/// assert_eq!(cpiq::present::chart::spark::blocks(&[Some(1.0), None, Some(2.0), Some(1.5)]), "▁ █▅");
/// ```
pub fn blocks(values: &[Option<f64>]) -> String {
    let Some((lo, hi)) = range(values) else {
        return " ".repeat(values.len());
    };
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if hi == lo => BLOCKS[3],
            Some(v) => {
                let f = (v - lo) / (hi - lo);
                BLOCKS[((f * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

/// A small SVG polyline of the series (`width` × `height` pixels), with the
/// last point marked; gaps break the line.
pub fn svg(values: &[Option<f64>], width: f64, height: f64) -> String {
    let mut out = format!(
        r#"<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    if let Some((lo, hi)) = range(values) {
        let n = values.len().max(2) - 1;
        let pad = 2.0;
        let x = |i: usize| pad + (width - 2.0 * pad) * i as f64 / n as f64;
        let y = |v: f64| {
            if hi == lo {
                height / 2.0
            } else {
                height - pad - (height - 2.0 * pad) * (v - lo) / (hi - lo)
            }
        };
        let mut runs: Vec<Vec<String>> = vec![Vec::new()];
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    if let Some(run) = runs.last_mut() {
                        run.push(format!("{:.1},{:.1}", x(i), y(*v)));
                    }
                }
                None => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|r| !r.is_empty()) {
            out.push_str(&format!(
                r##"<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{}"/>"##,
                run.join(" ")
            ));
        }
        if let Some((i, Some(v))) = values.iter().enumerate().rev().find(|(_, v)| v.is_some()) {
            out.push_str(&format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="2" fill="#1f5fa8"/>"##,
                x(i),
                y(*v)
            ));
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_span_the_range_and_keep_gaps() {
        assert_eq!(blocks(&[Some(0.0), Some(7.0), None]), "▁█ ");
        assert_eq!(blocks(&[Some(5.0), Some(5.0)]), "▄▄");
        assert_eq!(blocks(&[None, None]), "  ");
    }

    #[test]
    fn the_svg_breaks_at_gaps() {
        let s = svg(
            &[Some(1.0), Some(2.0), None, Some(3.0), Some(1.0)],
            100.0,
            20.0,
        );
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("<circle"));
        assert!(svg(&[None], 10.0, 10.0).ends_with("</svg>"));
    }
}
