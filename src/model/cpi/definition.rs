//! The CPI definition file: a header of `-- key: value` lines, then one SELECT.
//!
//! [`CpiDefinition::parse`] reads the file's text into a checked definition;
//! it does not plan the body (the engine does, and reports planning errors at
//! the body's first line). Every error is `file:line: message`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;

use super::params::substitute;
use crate::foundation::error::{CpiqError, Result};
use crate::workspace::is_identifier;

/// The unit a CPI is measured in; it decides how values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A share stored as a fraction (0.931), shown as a percentage (93.1%).
    Percent,
    /// A plain ratio.
    Ratio,
    /// A duration in hours.
    Hours,
    /// A duration in minutes.
    Minutes,
    /// A duration in days.
    Days,
    /// A count.
    Count,
    /// A money amount.
    Currency,
}

impl Unit {
    /// All units, in the order the docs list them.
    pub const ALL: [Unit; 7] = [
        Unit::Percent,
        Unit::Ratio,
        Unit::Hours,
        Unit::Minutes,
        Unit::Days,
        Unit::Count,
        Unit::Currency,
    ];

    /// The unit's name as written in a header.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Ratio => "ratio",
            Unit::Hours => "hours",
            Unit::Minutes => "minutes",
            Unit::Days => "days",
            Unit::Count => "count",
            Unit::Currency => "currency",
        }
    }

    fn parse(s: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.name() == s)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a higher value of the CPI is better for the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher is better (on-time rate).
    HigherIsBetter,
    /// Lower is better (hours to first response).
    LowerIsBetter,
}

impl Direction {
    /// The direction's name as written in a header.
    pub fn name(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
        }
    }

    /// Whether `value` meets `target` in this direction.
    pub fn meets(self, value: f64, target: f64) -> bool {
        match self {
            Direction::HigherIsBetter => value >= target,
            Direction::LowerIsBetter => value <= target,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A declared parameter with its default value.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name used as `${name}` in the body.
    pub name: String,
    /// The default value, as written.
    pub default: String,
}

/// A parsed CPI definition.
#[derive(Debug, Clone)]
pub struct CpiDefinition {
    /// The CPI's name; also the name of its view.
    pub name: String,
    /// A short human label.
    pub label: String,
    /// What it measures, in a sentence.
    pub description: String,
    /// The unit of its value.
    pub unit: Unit,
    /// Whether higher or lower is better.
    pub direction: Direction,
    /// The target value, if any.
    pub target: Option<f64>,
    /// Cells whose denominator is below this are reported as insufficient.
    pub min_denominator: Option<f64>,
    /// The column that places an event in a period.
    pub time: String,
    /// The columns the CPI can be sliced by.
    pub dimensions: Vec<String>,
    /// Declared parameters, in header order.
    pub params: Vec<Param>,
    /// The column naming the customer (or other entity) of each event, for
    /// per-entity correlation.
    pub entity: Option<String>,
    /// The SELECT, with `${…}` placeholders.
    pub body: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The 1-based line where the body starts.
    pub body_line: usize,
    /// The line of each header key (the first `param` line for params).
    pub key_lines: HashMap<String, usize>,
}

const KEYS: [&str; 11] = [
    "entity",
    "cpi",
    "label",
    "description",
    "unit",
    "direction",
    "target",
    "min_denominator",
    "time",
    "dimensions",
    "param",
];
const REQUIRED: [&str; 5] = ["cpi", "label", "unit", "direction", "time"];

/// Strip a trailing ` # comment` from a header value.
fn strip_comment(v: &str) -> &str {
    match v.find(" #").or_else(|| v.find("\t#")) {
        Some(p) => v[..p].trim(),
        None => v.trim(),
    }
}

impl CpiDefinition {
    /// Parse the text of a CPI file found at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<CpiDefinition> {
        let err = |line: usize, msg: String| CpiqError::definition(path, line, msg);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Header {
            values,
            params,
            body_line,
        } = Header::read(path, text)?;
        let header_end = text.lines().count().max(1);
        let get = |k: &str| values.get(k).map(|(v, l)| (v.as_str(), *l));
        let required = |k: &str| {
            get(k).ok_or_else(|| {
                err(
                    if body_line > 0 { body_line } else { header_end },
                    format!("missing header key \"{k}\""),
                )
            })
        };
        for key in REQUIRED {
            required(key)?;
        }
        let (name, name_line) = required("cpi")?;
        if !is_identifier(name) {
            return Err(err(
                name_line,
                format!("cpi: \"{name}\" is not a plain SQL identifier (letters, digits, _)"),
            ));
        }
        let (unit, l) = required("unit")?;
        let unit = Unit::parse(unit).ok_or_else(|| {
            err(
                l,
                format!(
                    "unknown unit \"{unit}\" (expected one of: {})",
                    Unit::ALL.map(Unit::name).join(", ")
                ),
            )
        })?;
        let (direction, l) = required("direction")?;
        let direction = match direction {
            "higher_is_better" => Direction::HigherIsBetter,
            "lower_is_better" => Direction::LowerIsBetter,
            other => {
                let msg = format!(
                    "unknown direction \"{other}\" (expected higher_is_better or lower_is_better)"
                );
                return Err(err(l, msg));
            }
        };
        let number = |k: &str| -> Result<Option<f64>> {
            match get(k) {
                None => Ok(None),
                Some((v, l)) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(Some)
                    .ok_or_else(|| err(l, format!("{k}: \"{v}\" is not a number"))),
            }
        };
        let target = number("target")?;
        let min_denominator = number("min_denominator")?;
        let (time, l) = required("time")?;
        if !is_identifier(time) {
            return Err(err(l, format!("time: \"{time}\" is not a column name")));
        }
        let dimensions = match get("dimensions") {
            Some((dims, l)) => parse_dimensions(dims).map_err(|m| err(l, m))?,
            None => Vec::new(),
        };
        if body_line == 0 {
            return Err(err(header_end, "no SELECT after the header".into()));
        }
        let body = body_of(text, body_line);
        let key_lines = values.iter().map(|(k, (_, l))| (k.clone(), *l)).collect();
        let def = CpiDefinition {
            name: name.to_string(),
            label: required("label")?.0.to_string(),
            description: get("description")
                .map(|d| d.0.to_string())
                .unwrap_or_default(),
            unit,
            direction,
            target,
            min_denominator,
            time: time.to_string(),
            dimensions,
            params,
            entity: get("entity").map(|e| e.0.to_string()),
            body,
            path: path.to_path_buf(),
            body_line,
            key_lines,
        };
        // The body must be exactly one query, whatever the parameters.
        let sql = def.render(&HashMap::new())?;
        def.check_is_one_select(&sql)?;
        Ok(def)
    }

    /// The line of header key `key`, or the body line if it is absent.
    pub fn line_of(&self, key: &str) -> usize {
        self.key_lines.get(key).copied().unwrap_or(self.body_line)
    }

    /// The body with parameters substituted: `overrides` first, then defaults.
    pub fn render(&self, overrides: &HashMap<String, String>) -> Result<String> {
        substitute(&self.body, |name| {
            overrides.get(name).cloned().or_else(|| {
                self.params
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.default.clone())
            })
        })
        .map_err(|e| CpiqError::definition(&self.path, self.body_line, e.to_string()))
    }

    fn check_is_one_select(&self, sql: &str) -> Result<()> {
        let statements = DFParser::parse_sql(sql).map_err(|e| {
            CpiqError::definition(
                &self.path,
                self.body_line,
                format!("the body does not parse: {e}"),
            )
        })?;
        match statements.len() {
            1 => {}
            0 => {
                return Err(CpiqError::definition(
                    &self.path,
                    self.body_line,
                    "the body is empty",
                ));
            }
            n => {
                return Err(CpiqError::definition(
                    &self.path,
                    self.body_line,
                    format!("the body must be one SELECT, found {n} statements"),
                ));
            }
        }
        match &statements[0] {
            DFStatement::Statement(s) if matches!(**s, Statement::Query(_)) => Ok(()),
            _ => Err(CpiqError::definition(
                &self.path,
                self.body_line,
                "the body must be a SELECT (or WITH … SELECT), not another kind of statement",
            )),
        }
    }
}

/// The header of a definition file: each `-- key: value` with its line,
/// the declared parameters, and the line the body starts on (0: none).
struct Header {
    values: HashMap<String, (String, usize)>,
    params: Vec<Param>,
    body_line: usize,
}

impl Header {
    /// Read the `-- key: value` lines up to the first line of SQL.
    fn read(path: &Path, text: &str) -> Result<Header> {
        let err = |line: usize, msg: String| CpiqError::definition(path, line, msg);
        let mut values: HashMap<String, (String, usize)> = HashMap::new();
        let mut params: Vec<Param> = Vec::new();
        let mut body_line = 0;
        for (idx, line) in text.lines().enumerate() {
            let lineno = idx + 1;
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let Some(comment) = t.strip_prefix("--") else {
                body_line = lineno;
                break;
            };
            let comment = comment.trim();
            // `-- key: value`, where key is a lowercase word; other comment
            // lines are prose and are ignored.
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let key = key.trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                continue;
            }
            if !KEYS.contains(&key) {
                return Err(err(
                    lineno,
                    format!(
                        "unknown header key \"{key}\" (expected one of: {})",
                        KEYS.join(", ")
                    ),
                ));
            }
            let value = if key == "label" || key == "description" {
                value.trim().to_string()
            } else {
                strip_comment(value).to_string()
            };
            if key == "param" {
                let param = parse_param(&value, &params).map_err(|m| err(lineno, m))?;
                params.push(param);
                values
                    .entry("param".into())
                    .or_insert((String::new(), lineno));
                continue;
            }
            if let Some((_, first)) = values.get(key) {
                return Err(err(
                    lineno,
                    format!("duplicate header key \"{key}\" (first given on line {first})"),
                ));
            }
            values.insert(key.to_string(), (value, lineno));
        }
        Ok(Header {
            values,
            params,
            body_line,
        })
    }
}

/// The SQL from line `body_line` on, without a trailing `;`.
fn body_of(text: &str, body_line: usize) -> String {
    let body: String = text
        .lines()
        .skip(body_line - 1)
        .collect::<Vec<_>>()
        .join("\n");
    body.trim_end().trim_end_matches(';').trim_end().to_string()
}

/// `-- param: name = default`: a new parameter, not declared before.
fn parse_param(value: &str, declared: &[Param]) -> std::result::Result<Param, String> {
    let Some((name, default)) = value.split_once('=') else {
        return Err("param: expected `-- param: name = default`".into());
    };
    let (name, default) = (name.trim(), default.trim());
    if !is_identifier(name) {
        return Err(format!("param: \"{name}\" is not a plain identifier"));
    }
    if declared.iter().any(|p| p.name == name) {
        return Err(format!("param: \"{name}\" is declared twice"));
    }
    let default = default
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
        .unwrap_or(default)
        .to_string();
    Ok(Param {
        name: name.to_string(),
        default,
    })
}

/// `-- dimensions: a, b`: column names, each once.
fn parse_dimensions(dims: &str) -> std::result::Result<Vec<String>, String> {
    let mut dimensions: Vec<String> = Vec::new();
    for d in dims.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !is_identifier(d) {
            return Err(format!("dimensions: \"{d}\" is not a column name"));
        }
        if dimensions.iter().any(|x| x == d) {
            return Err(format!("dimensions: \"{d}\" is listed twice"));
        }
        dimensions.push(d.to_string());
    }
    Ok(dimensions)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- cpi: on_time_delivery
-- label: On-time delivery rate
-- description: Delivered orders that arrived by the promised date.
-- unit: percent                 # percent | ratio | hours
-- direction: higher_is_better   # or lower_is_better
-- target: 0.95                  # optional
-- min_denominator: 30
-- time: promised_at
-- dimensions: channel, segment, region
-- param: sla_hours = 24
SELECT promised_at, channel, segment, region,
       CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM orders WHERE status = 'delivered' AND ${sla_hours} > 0;
";

    fn parse(text: &str) -> Result<CpiDefinition> {
        CpiDefinition::parse(Path::new("q/x.sql"), text)
    }

    #[test]
    fn parses_the_documented_example() {
        let d = parse(GOOD).unwrap();
        assert_eq!(d.name, "on_time_delivery");
        assert_eq!(d.unit, Unit::Percent);
        assert_eq!(d.direction, Direction::HigherIsBetter);
        assert_eq!(d.target, Some(0.95));
        assert_eq!(d.min_denominator, Some(30.0));
        assert_eq!(d.dimensions, ["channel", "segment", "region"]);
        assert_eq!(
            d.params,
            [Param {
                name: "sla_hours".into(),
                default: "24".into()
            }]
        );
        assert_eq!(d.body_line, 11);
        assert!(d.render(&HashMap::new()).unwrap().contains("AND 24 > 0"));
        let o = HashMap::from([("sla_hours".to_string(), "48".to_string())]);
        assert!(d.render(&o).unwrap().contains("AND 48 > 0"));
    }

    #[test]
    fn header_mistakes_name_their_line() {
        for (written, mistyped, want) in [
            ("percent   ", "percnt    ", "4: unknown unit \"percnt\""),
            ("-- target", "-- targte", "6: unknown header key \"targte\""),
            (
                "-- min_denominator: 30",
                "-- label: again",
                "7: duplicate header key \"label\" (first given on line 2)",
            ),
            (
                "-- time: promised_at\n",
                "",
                "10: missing header key \"time\"",
            ),
            (
                "higher_is_better   #",
                "up #",
                "5: unknown direction \"up\"",
            ),
            ("0.95", "lots", "6: target: \"lots\" is not a number"),
        ] {
            assert!(
                GOOD.contains(written),
                "{written:?} is not in the good header"
            );
            let want = format!("q/x.sql:{want}");
            let got = parse(&GOOD.replace(written, mistyped))
                .unwrap_err()
                .to_string();
            assert!(got.starts_with(&want), "want {want}\n got {got}");
        }
    }

    #[test]
    fn the_body_must_be_one_select() {
        let head = GOOD.split("SELECT").next().unwrap();
        let e = parse(&format!("{head}DELETE FROM orders"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("q/x.sql:11: the body must be a SELECT"),
            "{e}"
        );
        let e = parse(&format!("{head}SELECT 1; SELECT 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("found 2 statements"), "{e}");
        let e = parse(&format!("{head}SELEC 1")).unwrap_err().to_string();
        assert!(e.starts_with("q/x.sql:11: the body does not parse"), "{e}");
        let e = parse(head).unwrap_err().to_string();
        assert!(e.contains("no SELECT after the header"), "{e}");
    }

    #[test]
    fn prose_comments_are_allowed_in_the_header() {
        let text = format!("-- On-time delivery, as the customer feels it\n{GOOD}");
        assert_eq!(parse(&text).unwrap().body_line, 12);
    }

    #[test]
    fn injected_override_is_refused() {
        let d = parse(GOOD).unwrap();
        let o = HashMap::from([("sla_hours".to_string(), "1; DROP TABLE orders".to_string())]);
        let e = d.render(&o).unwrap_err().to_string();
        assert!(e.contains("parameter sla_hours: value"), "{e}");
    }
}
