//! `--where` predicates: parsed with DataFusion's SQL parser, checked to
//! name only dimensions of the sliced CPIs.

use datafusion::sql::sqlparser::ast::{Expr, visit_expressions};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::foundation::error::{CpiqError, Result};
use crate::model::cpi::CpiDefinition;

/// The predicate must be one SQL expression reading only columns every
/// chosen CPI declares (its dimensions and time column), without subqueries.
pub(super) fn check_predicate(pred: &str, defs: &[&CpiDefinition]) -> Result<()> {
    let bad = |m: String| CpiqError::Usage(format!("--where: {m}"));
    let expr = parse_predicate(pred)?;
    let allowed: Vec<String> = {
        let first = defs[0];
        let mut cols: Vec<String> = first.dimensions.clone();
        cols.push(first.time.clone());
        cols.retain(|c| {
            defs.iter()
                .all(|d| d.dimensions.contains(c) || d.time == *c)
        });
        cols
    };
    let mut problem: Option<String> = None;
    let _ = visit_expressions(&expr, |e: &Expr| {
        let msg = match e {
            Expr::Identifier(id) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&id.value)) => {
                Some(format!(
                    "column \"{}\" is not a declared dimension or the time column",
                    id.value
                ))
            }
            Expr::CompoundIdentifier(parts) => Some(format!(
                "qualified name \"{}\" is not allowed; use a dimension name",
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )),
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                Some("subqueries are not allowed".to_string())
            }
            _ => None,
        };
        match msg {
            Some(m) => {
                problem = Some(m);
                std::ops::ControlFlow::Break(())
            }
            None => std::ops::ControlFlow::Continue(()),
        }
    });
    match problem {
        Some(m) => Err(bad(format!("{m} (allowed: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// A `--where` predicate parsed as one SQL expression.
pub(super) fn parse_predicate(pred: &str) -> Result<Expr> {
    let bad = |m: String| CpiqError::Usage(format!("--where: {m}"));
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(pred)
        .map_err(|e| bad(e.to_string()))?;
    let expr = parser.parse_expr().map_err(|e| bad(e.to_string()))?;
    if parser.peek_token().token != Token::EOF {
        return Err(bad(format!("\"{pred}\" is not a single expression")));
    }
    Ok(expr)
}

/// The column names a `--where` predicate reads (as written), or an error
/// when it does not parse as one expression.
pub fn predicate_columns(pred: &str) -> Result<Vec<String>> {
    let expr = parse_predicate(pred)?;
    let mut cols = Vec::new();
    let _ = visit_expressions(&expr, |e: &Expr| {
        match e {
            Expr::Identifier(id) => cols.push(id.value.clone()),
            Expr::CompoundIdentifier(parts) => {
                cols.extend(parts.last().map(|p| p.value.clone()));
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(cols)
}
