//! How CPI values read to people: a value in its unit (93.1%, 2.40 h) and a
//! change between two values (+1.2 pp). Presentation modules call these;
//! the numbers in files stay raw.

use super::Unit;

/// Format a CPI value in its unit, for people.
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{:.1}%", v * 100.0),
        Unit::Ratio => format!("{v:.3}"),
        Unit::Hours => format!("{v:.2} h"),
        Unit::Minutes => format!("{v:.1} min"),
        Unit::Days => format!("{v:.2} d"),
        Unit::Count => format!("{v:.1}"),
        Unit::Currency => format!("{v:.2}"),
    }
}

/// Format a change of a CPI value: percentage points for percent CPIs.
pub fn format_change(unit: Unit, v: f64) -> String {
    let sign = if v > 0.0 { "+" } else { "" };
    match unit {
        Unit::Percent => format!("{sign}{:.1} pp", v * 100.0),
        _ => format!("{sign}{}", format_value(unit, v)),
    }
}

pub fn format_count(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_shown_in_their_units() {
        assert_eq!(format_value(Unit::Percent, 0.9312), "93.1%");
        assert_eq!(format_value(Unit::Hours, 2.4), "2.40 h");
        assert_eq!(format_change(Unit::Percent, 0.012), "+1.2 pp");
        assert_eq!(format_change(Unit::Hours, -0.5), "-0.50 h");
        assert_eq!(format_count(30.0), "30");
    }
}
