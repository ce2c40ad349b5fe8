//! Listings of the catalog: `\\cpis`, `\\cpi NAME`, `\\d`, `\\set`, `\\check`, and
//! `\\reload`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::Field;

use super::Session;
use crate::analysis::profile::{self, TableFacts};
use crate::engine::Engine;
use crate::foundation::columns::column_of;
use crate::foundation::error::{CpiqError, Result};

impl Session {
    /// Everything about one CPI, with the SQL its view runs.
    pub(super) fn show_cpi(&mut self, name: &str) -> Result<()> {
        let entry = self
            .engine
            .cpis()
            .iter()
            .find(|c| c.definition.as_ref().is_some_and(|d| d.name == name))
            .ok_or_else(|| {
                let mut known: Vec<String> = self
                    .engine
                    .definitions()
                    .into_iter()
                    .map(|d| d.name)
                    .collect();
                known.sort();
                CpiqError::Usage(format!(
                    "unknown CPI \"{name}\" (known: {})",
                    known.join(", ")
                ))
            })?;
        let d = entry
            .definition
            .as_ref()
            .ok_or_else(|| CpiqError::Usage(format!("CPI \"{name}\" did not load")))?;
        let params = self.engine.params();
        let mut text = String::new();
        let mut line = |k: &str, v: String| text.push_str(&format!("{k:<16} {v}\n"));
        line("cpi", d.name.clone());
        line("label", d.label.clone());
        line("description", d.description.clone());
        line("unit", d.unit.to_string());
        line("direction", d.direction.to_string());
        line(
            "target",
            d.target
                .map(|t| crate::model::cpi::format_value(d.unit, t))
                .unwrap_or_else(|| "none".into()),
        );
        line(
            "min_denominator",
            d.min_denominator
                .map(|m| m.to_string())
                .unwrap_or_else(|| "none".into()),
        );
        line("time", d.time.clone());
        line("dimensions", d.dimensions.join(", "));
        line(
            "parameters",
            d.params
                .iter()
                .map(|p| match params.get(&p.name) {
                    Some(v) => format!("{} = {v} (default {})", p.name, p.default),
                    None => format!("{} = {}", p.name, p.default),
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
        line("file", entry.path.display().to_string());
        if let Some(p) = &entry.problem {
            line("problem", p.to_string());
        }
        let sql = d.render(params).unwrap_or_else(|_| d.body.clone());
        write!(self.out, "{text}\n{sql}\n")?;
        self.out.flush()?;
        Ok(())
    }

    /// Re-read the workspace and report what changed.
    pub(super) async fn reload(&mut self) -> Result<()> {
        let describe = |e: &Engine| -> std::collections::BTreeMap<String, String> {
            e.cpis()
                .iter()
                .filter_map(|c| c.definition.as_ref())
                .map(|d| {
                    (
                        d.name.clone(),
                        format!(
                            "{:?}{:?}{:?}{:?}{:?}{}",
                            d.unit, d.direction, d.target, d.dimensions, d.params, d.body
                        ),
                    )
                })
                .collect()
        };
        let before = describe(&self.engine);
        let ws = crate::workspace::Workspace::load(&self.engine.workspace().config_path)?;
        let params: Vec<(String, String)> = self
            .engine
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut engine = crate::analysis::plan::open(
            ws,
            crate::engine::EngineOptions {
                params,
                lenient_params: true,
                ..Default::default()
            },
        )
        .await?;
        engine.plan_all().await;
        let after = describe(&engine);
        let mut report = Vec::new();
        for (name, text) in &after {
            match before.get(name) {
                None => report.push(format!("added {name}")),
                Some(old) if old != text => report.push(format!("changed {name}")),
                _ => {}
            }
        }
        for name in before.keys() {
            if !after.contains_key(name) {
                report.push(format!("removed {name}"));
            }
        }
        for p in engine.problems() {
            report.push(format!("problem: {p}"));
        }
        self.engine = engine;
        if report.is_empty() {
            writeln!(self.out, "Reloaded: nothing changed.")?;
        } else {
            writeln!(self.out, "Reloaded: {}", report.join("; "))?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// Report every problem; an error when there is any.
    pub(super) fn check(&mut self) -> Result<()> {
        let problems = self.engine.problems();
        for p in &problems {
            writeln!(self.out, "error: {p}")?;
        }
        let tables = self
            .engine
            .tables()
            .iter()
            .filter(|t| t.problem.is_none())
            .count();
        let cpis = self.engine.cpis().iter().filter(|c| c.is_ok()).count();
        writeln!(
            self.out,
            "{} of {} tables registered, {} of {} CPIs planned",
            tables,
            self.engine.tables().len(),
            cpis,
            self.engine.cpis().len()
        )?;
        writeln!(self.out, "{}", self.engine.resources().describe())?;
        if let Some(url) = &self.engine.workspace().settings.cluster {
            writeln!(
                self.out,
                "queries run on the Ballista cluster at {url} (its executors' memory limits apply there)"
            )?;
        }
        self.out.flush()?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CpiqError::Check(problems.len()))
        }
    }

    pub(super) fn cpis_batch(
        &self,
        sparks: Option<std::collections::HashMap<String, String>>,
    ) -> Result<RecordBatch> {
        let defs: Vec<_> = self
            .engine
            .cpis()
            .iter()
            .filter(|c| c.is_ok())
            .filter_map(|c| c.definition.as_ref())
            .collect();
        let strings = |f: &dyn Fn(&crate::model::cpi::CpiDefinition) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(defs.iter().map(|d| f(d))))
        };
        let params = self.engine.params();
        let target: ArrayRef = Arc::new(Float64Array::from_iter(defs.iter().map(|d| d.target)));
        let mut columns = vec![
            ("name", strings(&|d| d.name.clone()), false),
            ("label", strings(&|d| d.label.clone()), false),
            ("unit", strings(&|d| d.unit.to_string()), false),
            ("direction", strings(&|d| d.direction.to_string()), false),
            ("target", target, true),
            (
                "parameters",
                strings(&|d| {
                    d.params
                        .iter()
                        .map(|p| {
                            format!("{}={}", p.name, params.get(&p.name).unwrap_or(&p.default))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                false,
            ),
            ("dimensions", strings(&|d| d.dimensions.join(", ")), false),
            ("time", strings(&|d| d.time.clone()), false),
        ];
        if let Some(sparks) = sparks {
            let spark = strings(&|d| sparks.get(&d.name).cloned().unwrap_or_default());
            columns.push(("last_12_months", spark, false));
        }
        Ok(RecordBatch::try_from_iter_with_nullable(columns)?)
    }

    pub(super) fn params_batch(&self) -> Result<RecordBatch> {
        let mut rows: Vec<(String, String, String, String)> = Vec::new();
        for def in self
            .engine
            .cpis()
            .iter()
            .filter_map(|c| c.definition.as_ref())
        {
            for p in &def.params {
                let value = self
                    .engine
                    .params()
                    .get(&p.name)
                    .cloned()
                    .unwrap_or_else(|| p.default.clone());
                rows.push((p.name.clone(), value, p.default.clone(), def.name.clone()));
            }
        }
        rows.sort();
        let col = |f: fn(&(String, String, String, String)) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        Ok(RecordBatch::try_from_iter_with_nullable([
            ("parameter", col(|r| &r.0), false),
            ("value", col(|r| &r.1), false),
            ("default", col(|r| &r.2), false),
            ("cpi", col(|r| &r.3), false),
        ])?)
    }

    /// `\\d`: every relation with its kind; for tables of files their rows,
    /// files, size and time ranges (from footers, without reading data).
    pub(super) async fn relations_batch(&self) -> Result<RecordBatch> {
        let ws = self.engine.workspace();
        let mut names = Vec::new();
        if let Some(schema) = self
            .engine
            .ctx()
            .catalog("cpiq")
            .and_then(|c| c.schema("public"))
        {
            names = schema.table_names();
        }
        names.sort();
        let times = profile::time_columns(&self.engine).await;
        let no_times = Default::default();
        let mut facts: BTreeMap<String, TableFacts> = BTreeMap::new();
        for n in &names {
            if ws.tables.iter().any(|t| t.name == *n) || ws.kpi(n).is_some() {
                let columns = times.of_table.get(n).unwrap_or(&no_times);
                // A table whose files went away since loading says so in
                // `\\check`; here its facts are just unknown.
                if let Ok(Some(f)) = profile::table_facts(&self.engine, n, columns).await {
                    facts.insert(n.clone(), f);
                }
            }
        }
        let range_text = |ranges: &[(String, String, String)]| {
            ranges
                .iter()
                .map(|(c, lo, hi)| format!("{c} {lo} … {hi}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut rows: Vec<Listed> = Vec::new();
        for n in names {
            let (kind, about) = if let Some(d) = self.engine.cpi(&n) {
                ("cpi", d.label.clone())
            } else if let Some(k) = ws.kpi(&n) {
                ("kpi", k.table.path_as_written.clone())
            } else if let Some(t) = ws.tables.iter().find(|t| t.name == n) {
                ("table", t.path_as_written.clone())
            } else if n == super::route::LAST_RESULT {
                ("session", "the last result".to_string())
            } else {
                ("session", String::new())
            };
            let time_range = match times.of_cpi.get(&n) {
                // A CPI covers the range of its time column in the table it
                // reads it from.
                Some((table, column)) => facts
                    .get(table)
                    .and_then(|f| f.ranges.iter().find(|r| &r.0 == column))
                    .map(|r| range_text(std::slice::from_ref(r))),
                None => facts.get(&n).map(|f| range_text(&f.ranges)),
            };
            let f = facts.get(&n);
            rows.push(Listed {
                name: n,
                kind,
                rows: f.and_then(|f| f.rows),
                files: f.map(|f| f.files),
                size: f.map(|f| crate::foundation::text::human_size(f.bytes)),
                time_range: time_range.filter(|t| !t.is_empty()),
                about,
            });
        }
        // Text borrowed from each row: column_of cannot tie a value to its row.
        let text = |f: fn(&Listed) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(f)))
        };
        let count = |f: fn(&Listed) -> Option<u64>| column_of::<_, UInt64Array, _>(&rows, f);
        Ok(RecordBatch::try_from_iter_with_nullable([
            ("name", text(|r| Some(&r.name)), false),
            ("kind", text(|r| Some(r.kind)), false),
            ("rows", count(|r| r.rows), true),
            ("files", count(|r| r.files), true),
            ("size", text(|r| r.size.as_deref()), true),
            ("time_range", text(|r| r.time_range.as_deref()), true),
            ("about", text(|r| Some(&r.about)), false),
        ])?)
    }

    /// `\\summarize NAME|QUERY` and `SUMMARIZE …`: DuckDB's per-column
    /// figures of a relation or a query's result.
    pub(super) async fn summarize(&mut self, target: &str) -> Result<()> {
        let target = target.trim().trim_end_matches(';').trim();
        let df = if super::run::is_query(target) {
            let (plan, writes) = self.engine.plan_read_only(target).await?;
            if let Some(kind) = writes {
                return Err(CpiqError::Usage(format!(
                    "SUMMARIZE reads a query; {kind} is not one"
                )));
            }
            self.engine.execute(plan).await?
        } else {
            let name = target.trim_matches('"');
            self.engine.ctx().table(name).await.map_err(|_| {
                CpiqError::Usage(format!(
                    "no table, KPI table or CPI named \"{name}\" (\\d lists them; SUMMARIZE also takes a SELECT)"
                ))
            })?
        };
        let batch = profile::summarize(df).await?;
        self.emit_batch(batch).await
    }

    pub(super) async fn columns_batch(&self, name: &str) -> Result<RecordBatch> {
        let table = self.engine.ctx().table(name).await.map_err(|_| {
            CpiqError::Usage(format!(
                "no table, KPI table or CPI named \"{name}\" (\\d lists them)"
            ))
        })?;
        let schema = table.schema().as_arrow().clone();
        let fields = schema.fields();
        let text = |f: fn(&Field) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(fields.iter().map(|x| f(x))))
        };
        Ok(RecordBatch::try_from_iter_with_nullable([
            ("column", text(|f| f.name().clone()), false),
            ("type", text(|f| f.data_type().to_string()), false),
            ("nullable", text(|f| yes_no(f.is_nullable())), false),
            (
                "position",
                Arc::new(UInt64Array::from_iter_values(1..=fields.len() as u64)) as ArrayRef,
                false,
            ),
        ])?)
    }
}

/// One row of `\\d`.
struct Listed {
    name: String,
    kind: &'static str,
    rows: Option<u64>,
    files: Option<u64>,
    size: Option<String>,
    time_range: Option<String>,
    about: String,
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}
