//! The prompt: where the session is, in as much detail as the terminal has
//! room for. It owns only the wording and the shortening; what the session
//! is doing comes from [`Whereabouts`], the width from the front end.
//!
//! `shop> ` in a plain session; `shop[sla_hours=48 · read-only · cluster]> `
//! with a parameter off its default, `--read-only` and a cluster. When that
//! is longer than two fifths of the terminal, the parameters become a count
//! (`shop[2 params · read-only]> `), then the workspace name is shortened
//! with `…`, and last the modes are dropped, so a prompt never takes more
//! than its share of a narrow terminal.

use crate::exec::Whereabouts;

/// The separator between the parts in brackets.
const SEP: &str = " · ";

/// The prompt for `w` on a terminal `width` columns wide.
pub fn prompt(w: &Whereabouts, width: usize) -> String {
    let budget = (width * 2 / 5).max(8);
    let modes: Vec<&str> = [(w.read_only, "read-only"), (w.cluster, "cluster")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let each: Vec<String> = w.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let count = match w.params.len() {
        0 => Vec::new(),
        1 => vec!["1 param".to_string()],
        n => vec![format!("{n} params")],
    };
    let with_modes = |params: &[String]| -> Vec<String> {
        params
            .iter()
            .cloned()
            .chain(modes.iter().map(|m| m.to_string()))
            .collect()
    };
    let counted = with_modes(&count);
    for parts in [with_modes(&each), counted.clone()] {
        let full = render(&w.workspace, &parts);
        if width_of(&full) <= budget {
            return full;
        }
    }
    // A shorter workspace name before giving up the parts, if two columns
    // of it fit beside them.
    let suffix = width_of(&render("", &counted));
    if suffix + 2 <= budget {
        return render(&shorten(&w.workspace, budget - suffix), &counted);
    }
    render(&shorten(&w.workspace, budget.saturating_sub(2)), &[])
}

fn render(name: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        format!("{name}> ")
    } else {
        format!("{name}[{}]> ", parts.join(SEP))
    }
}

/// Columns `s` takes (every character here is one column wide).
fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// `name` in at most `max` columns, ending in `…` when cut.
fn shorten(name: &str, max: usize) -> String {
    if width_of(name) <= max {
        return name.to_string();
    }
    let keep = max.saturating_sub(1);
    name.chars()
        .take(keep)
        .chain(std::iter::once('…'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(params: &[(&str, &str)], read_only: bool, cluster: bool) -> Whereabouts {
        Whereabouts {
            workspace: "cpiq".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            read_only,
            cluster,
        }
    }

    #[test]
    fn a_plain_session_is_the_workspace_name() {
        assert_eq!(prompt(&at(&[], false, false), 100), "cpiq> ");
    }

    #[test]
    fn the_issue_example_reads_as_written() {
        assert_eq!(
            prompt(&at(&[("sla_hours", "48")], true, false), 100),
            "cpiq[sla_hours=48 · read-only]> "
        );
        assert_eq!(
            prompt(&at(&[("days", "3"), ("sla_hours", "48")], true, true), 160),
            "cpiq[days=3 · sla_hours=48 · read-only · cluster]> "
        );
    }

    #[test]
    fn narrow_terminals_count_parameters_then_shorten_the_name_then_drop_modes() {
        let w = at(&[("days", "3"), ("sla_hours", "48")], true, false);
        // 110 columns: 44 for the prompt; the full one is 41.
        assert_eq!(prompt(&w, 110), "cpiq[days=3 · sla_hours=48 · read-only]> ");
        assert_eq!(prompt(&w, 100), "cpiq[2 params · read-only]> ");
        // 80 columns: 32; the count form is 27.
        assert_eq!(prompt(&w, 80), "cpiq[2 params · read-only]> ");
        let long = Whereabouts {
            workspace: "customer-support-2026".into(),
            ..w.clone()
        };
        assert_eq!(prompt(&long, 80), "custome…[2 params · read-only]> ");
        // 40 columns: 16, too few for the modes.
        assert_eq!(prompt(&long, 40), "customer-supp…> ");
        assert_eq!(prompt(&w, 40), "cpiq> ");
        assert!(
            prompt(&long, 10).chars().count() <= 8,
            "{}",
            prompt(&long, 10)
        );
    }
}
