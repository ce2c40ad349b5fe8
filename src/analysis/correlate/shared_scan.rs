//! The series of many CPIs from one pass over each event table.
//!
//! A CPI whose body is one `SELECT … FROM table [WHERE …]` (every shipped
//! CPI is) is taken apart: its time, dimension, numerator and denominator
//! expressions and its filter. The CPIs of one table are then answered by a
//! single aggregation with one grouping set per CPI — `SUM(CASE WHEN filter
//! THEN numerator END)` grouped by that CPI's own period — so the table is
//! read once, not once per CPI. Any other body is sliced through its view
//! as [`super::series::cpi_series`] does. Both give the same series (tested).

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr, Statement, TableFactor};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::series::{Series, SeriesSpec, cpi_series, needs_grain, range_conds, timestamp_of};
use crate::foundation::columns::{date_of, dates, floats, strings_if_present};
use crate::foundation::error::{CpiqError, Result};
use crate::model::calendar::Calendar;
use crate::model::cpi::CpiDefinition;

/// A CPI body taken apart.
#[derive(Debug, Clone, PartialEq)]
struct Simple {
    table: String,
    time: String,
    dim: Option<String>,
    numerator: String,
    denominator: String,
    filter: Option<String>,
}

/// `body` as one SELECT over one table, or `None`.
fn simple(body: &str, time: &str, by: Option<&str>) -> Option<Simple> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, body).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let Statement::Query(q) = statements.pop()? else {
        return None;
    };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = *q.body else {
        return None;
    };
    let plain_group =
        matches!(&s.group_by, GroupByExpr::Expressions(v, m) if v.is_empty() && m.is_empty());
    if s.from.len() != 1
        || !s.from[0].joins.is_empty()
        || s.distinct.is_some()
        || s.having.is_some()
        || !plain_group
        || s.qualify.is_some()
    {
        return None;
    }
    let TableFactor::Table {
        name,
        alias: None,
        args: None,
        ..
    } = &s.from[0].relation
    else {
        return None;
    };
    let mut items = BTreeMap::new();
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let name = match e {
                    datafusion::sql::sqlparser::ast::Expr::Identifier(i) => i.value.clone(),
                    _ => return None,
                };
                items.insert(name, e.to_string());
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                items.insert(alias.value.clone(), format!("({expr})"));
            }
            _ => return None,
        }
    }
    Some(Simple {
        table: name.to_string(),
        time: items.get(time)?.clone(),
        dim: match by {
            Some(d) => Some(items.get(d)?.clone()),
            None => None,
        },
        numerator: items.get("numerator")?.clone(),
        denominator: items.get("denominator")?.clone(),
        filter: s.selection.as_ref().map(|w| format!("({w})")),
    })
}

/// The series of every CPI in `cpis` (definition and rendered body), in
/// that order.
pub async fn cpi_series_all(
    ctx: &SessionContext,
    cpis: &[(&CpiDefinition, String)],
    cal: &Calendar,
    spec: &SeriesSpec,
) -> Result<Vec<Series>> {
    let mut out: Vec<Option<Series>> = vec![None; cpis.len()];
    let mut by_table: BTreeMap<String, Vec<(usize, Simple)>> = BTreeMap::new();
    if spec.entity.is_none() {
        for (i, (def, body)) in cpis.iter().enumerate() {
            if let Some(s) = simple(body, &def.time, spec.by.as_deref()) {
                by_table.entry(s.table.clone()).or_default().push((i, s));
            }
        }
    }
    for (table, group) in by_table {
        if group.len() < 2 {
            continue;
        }
        let defs: Vec<&CpiDefinition> = group.iter().map(|(i, _)| cpis[*i].0).collect();
        for (k, series) in one_pass(ctx, &table, &group, &defs, cal, spec)
            .await?
            .into_iter()
            .enumerate()
        {
            out[group[k].0] = Some(series);
        }
    }
    let mut all = Vec::with_capacity(cpis.len());
    for (i, s) in out.into_iter().enumerate() {
        all.push(match s {
            Some(s) => s,
            None => cpi_series(ctx, cpis[i].0, cal, spec).await?,
        });
    }
    Ok(all)
}

/// One aggregation over `table` answering every CPI of `group`.
async fn one_pass(
    ctx: &SessionContext,
    table: &str,
    group: &[(usize, Simple)],
    defs: &[&CpiDefinition],
    cal: &Calendar,
    spec: &SeriesSpec,
) -> Result<Vec<Series>> {
    // CPIs cut by the same period and dimension expressions share one
    // grouping set (each set costs the aggregation a pass over the rows).
    let mut sets: Vec<(String, Option<String>)> = Vec::new();
    let mut set_of = Vec::new();
    let mut aggs = Vec::new();
    for (k, ((_, s), def)) in group.iter().zip(defs).enumerate() {
        let ts = timestamp_of(ctx, def, &s.time).await?;
        let period = cal.period_sql(spec.per, &ts).ok_or_else(needs_grain)?;
        let key = (period, s.dim.clone());
        let j = match sets.iter().position(|x| *x == key) {
            Some(j) => j,
            None => {
                sets.push(key);
                sets.len() - 1
            }
        };
        set_of.push(j);
        let mut conds: Vec<String> = s.filter.iter().cloned().collect();
        conds.extend(range_conds(&ts, spec.from, spec.to));
        let when = if conds.is_empty() {
            "TRUE".to_string()
        } else {
            conds.join(" AND ")
        };
        aggs.push(format!(
            "SUM(CASE WHEN {when} THEN CAST({} AS DOUBLE) END) AS __n{k}",
            s.numerator
        ));
        aggs.push(format!(
            "SUM(CASE WHEN {when} THEN CAST({} AS DOUBLE) END) AS __e{k}",
            s.denominator
        ));
    }
    let (mut inner, mut keys, mut groupings, mut grouping_sets) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (j, (period, dim)) in sets.iter().enumerate() {
        inner.push(format!("{period} AS __p{j}"));
        keys.push(format!("__p{j}"));
        let mut set = vec![format!("__p{j}")];
        if let Some(d) = dim {
            inner.push(format!("CAST({d} AS VARCHAR) AS __d{j}"));
            keys.push(format!("__d{j}"));
            set.push(format!("__d{j}"));
        }
        groupings.push(format!("GROUPING(__p{j}) AS __g{j}"));
        grouping_sets.push(format!("({})", set.join(", ")));
    }
    let sql = format!(
        "SELECT {}, {}, {} FROM (SELECT *, {} FROM {table}) __s GROUP BY GROUPING SETS ({})",
        groupings.join(", "),
        keys.join(", "),
        aggs.join(", "),
        inner.join(", "),
        grouping_sets.join(", ")
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    series_of(&batches, &set_of)
}

/// The series of each CPI `k` from the one-pass result: the rows of its
/// grouping set `set_of[k]` (GROUPING = 0), value Σn / Σe where defined.
fn series_of(batches: &[RecordBatch], set_of: &[usize]) -> Result<Vec<Series>> {
    let mut out = vec![Series::new(); set_of.len()];
    for b in batches {
        for (k, series) in out.iter_mut().enumerate() {
            let j = set_of[k];
            let g = cast(
                b.column_by_name(&format!("__g{j}"))
                    .ok_or_else(|| CpiqError::Usage("grouping".into()))?,
                &DataType::Int64,
            )?;
            let g = g
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| CpiqError::Usage("grouping".into()))?;
            let period = dates(b, &format!("__p{j}"))?;
            let dim = strings_if_present(b, &format!("__d{j}"))?;
            let (n, e) = (
                floats(b, &format!("__n{k}"))?,
                floats(b, &format!("__e{k}"))?,
            );
            for i in 0..b.num_rows() {
                if g.value(i) != 0
                    || period.is_null(i)
                    || n.is_null(i)
                    || e.is_null(i)
                    || e.value(i) == 0.0
                {
                    continue;
                }
                let v = n.value(i) / e.value(i);
                if !v.is_finite() {
                    continue;
                }
                let d = dim
                    .as_ref()
                    .filter(|d| !d.is_null(i))
                    .map(|d| d.value(i).to_string());
                series.insert((d, None, date_of(period.value(i))?), v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_body_is_taken_apart() {
        let body = "SELECT promised_at, customer_id, channel, segment,\n CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END AS numerator,\n 1 AS denominator\nFROM orders\nWHERE status = 'delivered'";
        let s = simple(body, "promised_at", Some("channel")).unwrap();
        assert_eq!(s.table, "orders");
        assert_eq!(s.time, "promised_at");
        assert_eq!(s.dim.as_deref(), Some("channel"));
        assert_eq!(
            s.numerator,
            "(CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END)"
        );
        assert_eq!(s.denominator, "(1)");
        assert_eq!(s.filter.as_deref(), Some("(status = 'delivered')"));
    }

    #[test]
    fn other_bodies_are_left_to_their_views() {
        for body in [
            "SELECT t, SUM(x) AS numerator, 1 AS denominator FROM e GROUP BY t",
            "SELECT a.t, 1 AS numerator, 1 AS denominator FROM a JOIN b ON a.k = b.k",
            "WITH w AS (SELECT 1) SELECT t, 1 AS numerator, 1 AS denominator FROM w",
            "SELECT DISTINCT t, 1 AS numerator, 1 AS denominator FROM e",
        ] {
            assert_eq!(simple(body, "t", None), None, "{body}");
        }
    }

    /// Every shipped CPI on the bundled sample: the one-pass series equal
    /// the series sliced through each CPI's view, for several cuts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_pass_series_equal_the_views() {
        use crate::model::calendar::Grain;
        let config = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/cpiq.toml"));
        let ws = crate::workspace::Workspace::load(config).unwrap();
        let engine = crate::engine::Engine::open(ws, Default::default())
            .await
            .unwrap();
        let defs = engine.definitions();
        assert_eq!(defs.len(), 8);
        let cal = engine.calendar();
        let from = chrono::NaiveDate::from_ymd_opt(2024, 3, 15);
        let to = chrono::NaiveDate::from_ymd_opt(2025, 6, 1);
        for (per, by, from, to) in [
            (Grain::Month, None, None, None),
            (Grain::Month, Some("segment"), None, None),
            (Grain::Week, Some("region"), from, to),
            (Grain::Quarter, Some("segment"), from, None),
        ] {
            let spec = SeriesSpec::levels(per, by.map(String::from), from, to);
            let chosen: Vec<(&CpiDefinition, String)> = defs
                .iter()
                .filter(|d| by.is_none_or(|b| d.dimensions.iter().any(|x| x == b)))
                .map(|d| (d, engine.rendered(d).unwrap()))
                .collect();
            assert!(chosen.len() >= 3);
            for (d, body) in &chosen {
                assert!(
                    simple(body, &d.time, by).is_some(),
                    "{} is not taken apart",
                    d.name
                );
            }
            let shared = cpi_series_all(engine.ctx(), &chosen, &cal, &spec)
                .await
                .unwrap();
            for ((def, _), got) in chosen.iter().zip(&shared) {
                let want = cpi_series(engine.ctx(), def, &cal, &spec).await.unwrap();
                assert!(!want.is_empty(), "{}", def.name);
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{} {per:?} {by:?}",
                    def.name
                );
                for (k, v) in &want {
                    let g = got[k];
                    assert!(
                        (g - v).abs() <= 1e-12 * v.abs().max(1.0),
                        "{} {k:?}: {g} vs {v}",
                        def.name
                    );
                }
            }
        }
    }
}
