//! Charts of the last result: on the terminal, or as SVG/PNG files.

use std::io::Write;
use std::path::Path;

use super::job;
use super::{CHART_SIZE, Session};
use crate::foundation::atomic::AtomicFile;
use crate::foundation::error::{CpiqError, Result};
use crate::present::chart::Chart;
use crate::present::report::ResultKind;

impl Session {
    /// The charts of the last result, and how many were left out: a
    /// correlation's scatters (strongest first, at most
    /// [`crate::present::chart::MAX_SCATTERS`]), else one trend per CPI of a
    /// slice-shaped result.
    pub(super) fn last_charts(&self) -> Result<(Vec<Chart>, usize)> {
        if self.last_kind == ResultKind::Correlation {
            let shown = self
                .last_scatters
                .len()
                .min(crate::present::chart::MAX_SCATTERS);
            let charts = self.last_scatters[..shown]
                .iter()
                .cloned()
                .map(Chart::Scatter)
                .collect();
            return Ok((charts, self.last_scatters.len() - shown));
        }
        if self.last_kind == ResultKind::Drivers
            && let Some((_, batches)) = &self.last
            && let Some(b) = batches.first()
        {
            return Ok((vec![Chart::Bars(crate::present::chart::bars_of(b)?)], 0));
        }
        let (_, batches) = self.last.as_ref().ok_or_else(|| {
            CpiqError::Usage(
                "nothing to chart yet: run a slice (\\slice … per month) or a correlation first"
                    .into(),
            )
        })?;
        Ok((
            crate::present::chart::charts_of_slice(batches, &self.engine.definitions())?,
            0,
        ))
    }

    /// The format of chart file `p`, refused (before anything runs) in a
    /// read-only session, on object storage, or for another extension.
    pub(super) fn chart_file_format(
        &self,
        p: &Path,
    ) -> Result<crate::present::chart::image::ImageFormat> {
        self.refuse_if_read_only("writing a chart")?;
        if let Some(url) = p.to_str().and_then(crate::workspace::object_store_url) {
            return Err(CpiqError::Usage(format!(
                "{url}: charts are written to local files"
            )));
        }
        crate::present::chart::image::ImageFormat::for_path(p)
    }

    /// Draw `charts` on `out` (fitted to the front end's terminal), or write them to `path` as SVG or PNG, atomically.
    pub(super) fn draw(
        &mut self,
        charts: &[Chart],
        path: Option<&Path>,
        more: usize,
    ) -> Result<()> {
        use crate::present::chart::{image, text};
        match path {
            None => {
                let (width, height) = self
                    .terminal
                    .as_ref()
                    .map_or(CHART_SIZE, |t| t.chart_size());
                let opts = text::TextOptions::for_terminal(width, height, self.color);
                for (i, c) in charts.iter().enumerate() {
                    if i > 0 {
                        writeln!(self.out)?;
                    }
                    write!(self.out, "{}", text::render(c, &opts))?;
                }
                if more > 0 {
                    writeln!(
                        self.out,
                        "({more} weaker relation{} not drawn)",
                        if more == 1 { "" } else { "s" }
                    )?;
                }
                self.out.flush()?;
            }
            Some(p) => {
                let p = self.resolve_out(p);
                let bytes = image::encode(charts, self.chart_file_format(&p)?)?;
                let mut f = AtomicFile::create(&p)?;
                f.write_all(&bytes)?;
                let size = f.commit()?;
                self.statement_outputs.push(job::OutputFile {
                    path: p.clone(),
                    rows: 0,
                    bytes: size,
                });
                // On stderr, as for --output: stdout stays the result's.
                eprintln!(
                    "Wrote {} chart{} to {} ({size} bytes).",
                    charts.len(),
                    if charts.len() == 1 { "" } else { "s" },
                    p.display()
                );
            }
        }
        Ok(())
    }
}
