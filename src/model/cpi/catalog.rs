//! The catalog's graph: which CPIs a CPI's body reads, and the cycle a
//! recursive definition forms. Definitions only: planning views is the
//! engine's (a view plans the views it reads when it is planned itself).

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

/// Which CPIs each CPI reads: every body is parsed once, for the cycles.
pub struct Graph<'a> {
    cpis: &'a [Option<&'a CpiDefinition>],
    /// `reads[i]`: indexes of the CPIs that CPI `i`'s body reads (itself
    /// included, when it reads itself).
    reads: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    /// The graph of `cpis` (slots of files that did not parse are `None`).
    pub fn new(cpis: &'a [Option<&'a CpiDefinition>]) -> Graph<'a> {
        let all: Vec<String> = cpis.iter().flatten().map(|d| d.name.clone()).collect();
        let index: HashMap<&str, usize> = cpis
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|d| (d.name.as_str(), i)))
            .collect();
        let reads = cpis
            .iter()
            .map(|c| match c {
                Some(def) => references(def, &all)
                    .into_iter()
                    .filter_map(|r| index.get(r).copied())
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        Graph { cpis, reads }
    }

    /// The cycle through CPI `start`, if its references lead back to it, as
    /// names from `start` back to `start`.
    pub fn cycle_of(&self, start: usize) -> Option<Vec<String>> {
        let name = |i: usize| self.cpis[i].map_or_else(String::new, |d| d.name.clone());
        self.cpis[start]?;
        let mut stack = vec![(start, vec![start])];
        let mut seen = HashSet::new();
        while let Some((i, path)) = stack.pop() {
            for &j in &self.reads[i] {
                if j == start {
                    return Some(path.iter().chain([&j]).map(|&k| name(k)).collect());
                }
                if seen.insert(j) {
                    let mut p = path.clone();
                    p.push(j);
                    stack.push((j, p));
                }
            }
        }
        None
    }
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
    fn cycles_are_found() {
        let cpis = vec![
            entry("a", "SELECT * FROM b"),
            entry("b", "SELECT * FROM events"),
            entry("c", "SELECT * FROM d"),
            entry("d", "SELECT * FROM c"),
            entry("e", "SELECT * FROM e"),
        ];
        let slots = slots(&cpis);
        let graph = Graph::new(&slots);
        assert_eq!(graph.cycle_of(0), None);
        assert_eq!(graph.cycle_of(2).unwrap(), ["c", "d", "c"]);
        assert_eq!(graph.cycle_of(4).unwrap(), ["e", "e"]);
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
        let slots = slots(&cpis);
        assert_eq!(Graph::new(&slots).cycle_of(0), None);
        let names: Vec<String> = cpis.iter().map(|d| d.name.clone()).collect();
        assert_eq!(references(&cpis[1], &names), ["c"]);
    }
}
