//! The catalog's order: which CPIs a CPI's body reads, the order that
//! registers each CPI after those it reads, and the cycle a recursive
//! definition forms. Definitions only: registering views is the engine's.

use std::collections::{HashMap, HashSet};

use super::CpiDefinition;

/// Names of CPIs that `def`'s body reads as relations (`FROM`, `JOIN`,
/// subqueries), from its SQL with the parameters' defaults; when the body
/// does not parse here, every word that names a CPI (DataFusion then reports
/// the real problem).
fn references<'a>(def: &CpiDefinition, names: &'a [String]) -> Vec<&'a str> {
    use datafusion::sql::sqlparser::{
        ast::visit_relations, dialect::GenericDialect, parser::Parser,
    };
    let relations = def
        .render(&HashMap::new())
        .ok()
        .and_then(|sql| Parser::parse_sql(&GenericDialect {}, &sql).ok())
        .map(|statements| {
            let mut found = HashSet::new();
            let _ = visit_relations(&statements, |r| {
                if let Some(last) = r.0.last() {
                    found.insert(last.to_string().trim_matches('"').to_ascii_lowercase());
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
            found
        });
    let words: HashSet<String> = relations.unwrap_or_else(|| {
        def.body
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(|w| w.to_ascii_lowercase())
            .collect()
    });
    names
        .iter()
        .filter(|n| words.contains(&n.to_ascii_lowercase()))
        .map(String::as_str)
        .collect()
}

fn names(defs: &[Option<&CpiDefinition>]) -> Vec<String> {
    defs.iter().flatten().map(|d| d.name.clone()).collect()
}

/// Indexes of `cpis` ordered so that each CPI comes after the CPIs it reads.
/// CPIs on a cycle come last (and are rejected by [`cycle_of`]).
pub fn dependency_order(cpis: &[Option<&CpiDefinition>]) -> Vec<usize> {
    let all = names(cpis);
    let index: HashMap<&str, usize> = cpis
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|d| (d.name.as_str(), i)))
        .collect();
    let mut order = Vec::new();
    let mut state = vec![0u8; cpis.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        cpis: &[Option<&CpiDefinition>],
        all: &[String],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return;
        }
        state[i] = 1;
        if let Some(def) = cpis[i] {
            for r in references(def, all) {
                if r != def.name
                    && let Some(&j) = index.get(r)
                {
                    visit(j, cpis, all, index, state, order);
                }
            }
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..cpis.len() {
        visit(i, cpis, &all, &index, &mut state, &mut order);
    }
    order
}

/// The cycle through CPI `start`, if its references lead back to it.
pub fn cycle_of(cpis: &[Option<&CpiDefinition>], start: usize) -> Option<Vec<String>> {
    let all = names(cpis);
    let by_name: HashMap<&str, &CpiDefinition> = cpis
        .iter()
        .flatten()
        .map(|d| (d.name.as_str(), *d))
        .collect();
    let start_def = cpis[start]?;
    let mut stack = vec![(start_def.name.clone(), vec![start_def.name.clone()])];
    let mut seen = HashSet::new();
    while let Some((name, path)) = stack.pop() {
        let def = by_name.get(name.as_str())?;
        for r in references(def, &all) {
            if r == start_def.name {
                let mut cycle = path.clone();
                cycle.push(r.to_string());
                return Some(cycle);
            }
            if seen.insert(r.to_string()) {
                let mut p = path.clone();
                p.push(r.to_string());
                stack.push((r.to_string(), p));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entry(name: &str, body: &str) -> CpiDefinition {
        let text = format!(
            "-- cpi: {name}\n-- label: x\n-- unit: ratio\n-- direction: higher_is_better\n-- time: t\n{body}\n"
        );
        CpiDefinition::parse(Path::new("x.sql"), &text).unwrap()
    }

    fn slots(defs: &[CpiDefinition]) -> Vec<Option<&CpiDefinition>> {
        defs.iter().map(Some).collect()
    }

    #[test]
    fn dependencies_register_first_and_cycles_are_found() {
        let cpis = vec![
            entry("a", "SELECT * FROM b"),
            entry("b", "SELECT * FROM events"),
            entry("c", "SELECT * FROM d"),
            entry("d", "SELECT * FROM c"),
            entry("e", "SELECT * FROM e"),
        ];
        let order = dependency_order(&slots(&cpis));
        let pos = |i| order.iter().position(|&x| x == i).unwrap();
        assert!(pos(1) < pos(0));
        assert_eq!(cycle_of(&slots(&cpis), 0), None);
        assert_eq!(cycle_of(&slots(&cpis), 2).unwrap(), ["c", "d", "c"]);
        assert_eq!(cycle_of(&slots(&cpis), 4).unwrap(), ["e", "e"]);
    }

    #[test]
    fn a_column_named_like_a_cpi_is_not_a_reference() {
        let cpis = vec![
            entry(
                "solved",
                "SELECT t, CASE WHEN solved THEN 1 ELSE 0 END AS numerator FROM tickets",
            ),
            entry(
                "b",
                "SELECT t, solved FROM tickets WHERE x IN (SELECT x FROM c)",
            ),
            entry("c", "SELECT t FROM tickets"),
        ];
        assert_eq!(cycle_of(&slots(&cpis), 0), None);
        assert_eq!(references(&cpis[1], &names(&slots(&cpis))), ["c"]);
    }
}
