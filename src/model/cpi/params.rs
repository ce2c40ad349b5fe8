//! Safe substitution of `${name}` parameters into SQL text.
//!
//! A value is placed according to where the placeholder stands:
//!
//! - inside a quoted string (`'…${status}…'`) it is escaped so that it cannot
//!   end the string (`'` doubles; in an `E'…'` string `\` doubles too);
//! - elsewhere only a number (`48`, `-0.5`, `1e3`), an ISO date (written out
//!   as `DATE '2024-01-31'`) or a plain identifier (`segment`) is accepted.
//!
//! Anything else is refused, so no parameter value can change the structure of
//! a statement. Placeholders inside comments are left alone. Both CPI bodies
//! and job scripts use this one function.

use crate::foundation::error::{CpiqError, Result};
use crate::workspace::is_identifier;

/// Where a placeholder was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Code,
    String { backslash_escapes: bool },
}

/// Replace every `${name}` in `sql` with the value `lookup(name)` returns.
///
/// `lookup` returning `None` is an error naming the parameter ("no value").
///
/// ```
/// let sql = cpiq::model::cpi::substitute(
///     "SELECT * FROM t WHERE s = '${s}' LIMIT ${n}",
///     |name| match name { "s" => Some("O'Brien".to_string()), "n" => Some("5".to_string()), _ => None },
/// ).unwrap();
/// assert_eq!(sql, "SELECT * FROM t WHERE s = 'O''Brien' LIMIT 5");
/// ```
pub fn substitute(sql: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut ctx = Context::Code;
    // On a backslash command line (`\\slice … from ${month}`) an ISO date is
    // a plain word, not a SQL literal.
    let mut command_line = sql.trim_start_matches([' ', '\t']).starts_with('\\');
    // Copy text verbatim in runs; `start` marks the beginning of the pending run.
    let mut start = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' && ctx == Context::Code {
            let rest = &sql[i + 1..];
            command_line = rest.trim_start_matches([' ', '\t']).starts_with('\\');
        }
        match ctx {
            Context::Code => {
                if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
                    // Line comment: skip to end of line.
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    i += 2;
                    while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                        i += 1;
                    }
                    i = (i + 2).min(bytes.len());
                    continue;
                }
                if c == b'\'' {
                    let e_string = i > 0
                        && matches!(bytes[i - 1], b'e' | b'E')
                        && (i < 2
                            || !(bytes[i - 2].is_ascii_alphanumeric() || bytes[i - 2] == b'_'));
                    ctx = Context::String {
                        backslash_escapes: e_string,
                    };
                    i += 1;
                    continue;
                }
                if c == b'"' {
                    // Quoted identifier: copy through to the closing quote.
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += 1;
                    }
                    i = (i + 1).min(bytes.len());
                    continue;
                }
            }
            Context::String { backslash_escapes } => {
                if backslash_escapes && c == b'\\' {
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    ctx = Context::Code;
                    i += 1;
                    continue;
                }
            }
        }
        if c == b'$' && bytes.get(i + 1) == Some(&b'{') {
            let Some(close) = sql[i + 2..].find('}') else {
                return Err(CpiqError::param(
                    "?",
                    format!("unterminated placeholder at \"{}\"", &sql[i..]),
                ));
            };
            let name = &sql[i + 2..i + 2 + close];
            if !is_identifier(name) {
                return Err(CpiqError::param(
                    name,
                    "a placeholder must be ${name} with a plain identifier",
                ));
            }
            let value = lookup(name)
                .ok_or_else(|| CpiqError::param(name, "no value given and no default declared"))?;
            out.push_str(&sql[start..i]);
            out.push_str(&placed(name, &value, ctx, command_line)?);
            i += 2 + close + 1;
            start = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&sql[start..]);
    Ok(out)
}

/// `value` as the text that replaces `${name}` where it stands: escaped
/// inside a string, a plain word for an ISO date on a backslash command
/// line, else a SQL literal ([`code_literal`]).
fn placed(name: &str, value: &str, ctx: Context, command_line: bool) -> Result<String> {
    Ok(match ctx {
        Context::String { backslash_escapes } => {
            let v = value.replace('\'', "''");
            if backslash_escapes {
                v.replace('\\', "\\\\")
            } else {
                v
            }
        }
        Context::Code if command_line && is_iso_date(value.trim()) => value.trim().to_string(),
        Context::Code => code_literal(name, value)?,
    })
}

/// The SQL text for `value` placed outside a string, or an error if it is not
/// a number, an ISO date or a plain identifier.
pub fn code_literal(name: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if is_number(v) || is_identifier(v) {
        return Ok(v.to_string());
    }
    if is_iso_date(v) {
        return Ok(format!("DATE '{v}'"));
    }
    Err(CpiqError::param(
        name,
        format!(
            "value {value:?} is refused: outside a quoted string a parameter must be a number, \
             an ISO date (YYYY-MM-DD) or a plain identifier"
        ),
    ))
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let ok_mantissa = match frac {
        None => digits(int),
        Some(f) => (digits(int) || int.is_empty()) && (digits(f) || (f.is_empty() && digits(int))),
    };
    let ok_exp = match exponent {
        None => true,
        Some(e) => digits(e.strip_prefix(['+', '-']).unwrap_or(e)),
    };
    ok_mantissa && ok_exp
}

/// True for a valid calendar date written `YYYY-MM-DD`.
pub fn is_iso_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(sql: &str, v: &str) -> Result<String> {
        substitute(sql, |_| Some(v.to_string()))
    }

    #[test]
    fn values_are_placed_as_their_context_needs() {
        for (sql, value, expected) in [
            // In code: numbers, dates and identifiers.
            ("x <= ${h} * 3600", "48", "x <= 48 * 3600"),
            ("x > ${d}", "2024-02-29", "x > DATE '2024-02-29'"),
            ("GROUP BY ${c}", "segment", "GROUP BY segment"),
            ("${v}", "-1.5e3", "-1.5e3"),
            // Inside strings: quotes cannot end the string.
            (
                "status = '${s}'",
                "x' OR '1'='1",
                "status = 'x'' OR ''1''=''1'",
            ),
            ("s = 'a${s}b'", "it's", "s = 'ait''sb'"),
            ("s = E'${s}'", "\\'; x", "s = E'\\\\''; x'"),
            // After escaped quotes; never in comments.
            ("'it''s ${s}' ", "a'", "'it''s a''' "),
            ("-- uses ${n}\n1", "x y", "-- uses ${n}\n1"),
            ("/* ${n} */ 1", "x y", "/* ${n} */ 1"),
        ] {
            assert_eq!(sub(sql, value).unwrap(), expected, "{sql:?} with {value:?}");
        }
    }

    #[test]
    fn injection_outside_strings_is_refused() {
        for bad in [
            "1; DROP TABLE t",
            "1 OR 1=1",
            "'a'",
            "2024-02-30",
            "a b",
            "--",
            "",
        ] {
            let e = sub("LIMIT ${n}", bad).unwrap_err().to_string();
            assert!(e.contains("parameter n: value"), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_on_command_lines_stay_plain_words() {
        let s = sub(
            "SELECT ${d};\n\\slice x from ${d}\nSELECT ${d}",
            "2024-01-01",
        )
        .unwrap();
        assert_eq!(
            s,
            "SELECT DATE '2024-01-01';\n\\slice x from 2024-01-01\nSELECT DATE '2024-01-01'"
        );
        assert!(sub("\\slice x from ${d}", "1; DROP").is_err());
    }

    #[test]
    fn missing_values_and_bad_placeholders_are_errors() {
        let e = substitute("${nope}", |_| None).unwrap_err().to_string();
        assert_eq!(e, "parameter nope: no value given and no default declared");
        assert!(sub("${a b}", "1").is_err());
        assert!(sub("${a", "1").is_err());
    }
}
