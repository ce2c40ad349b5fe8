//! The house keeps its layers (issue 18): every `crate::…` path in `src/`
//! (outside `#[cfg(test)]` modules and comments) names a module of its own
//! layer or a lower one, and no two rooms (second-level modules) import each
//! other, directly or through others. This test reads the source; it fails
//! with the file, the line and the offending path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/`, lowest first (lib.rs lists them in this order).
const LAYERS: [&str; 8] = [
    "foundation",
    "workspace",
    "model",
    "engine",
    "analysis",
    "present",
    "exec",
    "front",
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of `text` without its unit-test module and comments.
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level items of a `{…}` group whose opening brace is already
/// consumed: `a::b, c::{d, e}, f}` gives `a::b`, `c::{d, e}`, `f`.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut depth = 0;
    let mut items = Vec::new();
    let mut from = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[from..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[from..]);
    items
}

/// `(line, layer, room)` of every `crate::LAYER[::ROOM]` path in `code`,
/// including those inside `use crate::{…}` groups.
fn references(code: &str) -> Vec<(usize, String, Option<String>)> {
    let mut out = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut at = 0;
    while let Some(i) = code[at..].find("crate::") {
        let start = at + i + "crate::".len();
        at = start;
        if code[..start - "crate::".len()].ends_with('$') {
            continue;
        }
        let rest = &code[start..];
        if let Some(group) = rest.strip_prefix('{') {
            let items = top_level_items(group);
            for it in items {
                let it = it.trim();
                let layer = ident(it);
                if layer.is_empty() {
                    continue;
                }
                let rest = it[layer.len()..].trim_start().strip_prefix("::");
                match rest.map(str::trim_start) {
                    // `model::{cpi::Unit, calendar}`: one room per item.
                    Some(inner) if inner.starts_with('{') => {
                        for room in top_level_items(&inner[1..]) {
                            let room = ident(room.trim());
                            if !room.is_empty() {
                                out.push((line_of(start), layer.clone(), Some(room)));
                            }
                        }
                    }
                    rest => {
                        let room = rest.map(ident).filter(|r| !r.is_empty());
                        out.push((line_of(start), layer, room));
                    }
                }
            }
        } else {
            let layer = ident(rest);
            let room = rest[layer.len()..]
                .strip_prefix("::")
                .map(ident)
                .filter(|r| !r.is_empty());
            out.push((line_of(start), layer, room));
        }
    }
    out
}

/// `(layer, room)` of a source file: `src/engine/cluster/client.rs` is
/// room `engine::cluster`; `src/engine/mod.rs` is the layer itself.
fn room_of(src: &Path, file: &Path) -> (String, Option<String>) {
    let rel = file.strip_prefix(src).unwrap();
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let layer = parts[0].clone();
    let room = parts.get(1).filter(|r| *r != "mod").cloned();
    (layer, room)
}

/// The upward imports among `files` (path under `src`, text), and a cycle
/// among their rooms if there is one.
fn violations(src: &Path, files: &[(PathBuf, String)]) -> (Vec<String>, Option<Vec<String>>) {
    let mut upward = Vec::new();
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in files {
        let (layer, room) = room_of(src, file);
        let Some(own) = rank(&layer) else {
            if !["lib", "main"].contains(&layer.as_str()) {
                upward.push(format!(
                    "{}: a top-level module outside the layers {LAYERS:?}",
                    file.display()
                ));
            }
            continue;
        };
        for (line, to_layer, to_room) in references(&code(text)) {
            let Some(to) = rank(&to_layer) else {
                upward.push(format!(
                    "{}:{line}: crate::{to_layer} is not a layer",
                    file.display()
                ));
                continue;
            };
            if to > own {
                upward.push(format!(
                    "{}:{line}: {layer} imports crate::{to_layer} (a higher layer)",
                    file.display()
                ));
            }
            if let (Some(from), Some(to)) = (&room, &to_room)
                && (layer != to_layer || from != to)
            {
                rooms
                    .entry(format!("{layer}::{from}"))
                    .or_default()
                    .insert(format!("{to_layer}::{to}"));
            }
        }
    }
    let mut state = BTreeMap::new();
    let cycle = rooms
        .keys()
        .find_map(|n| visit(n, &rooms, &mut state, &mut Vec::new()));
    (upward, cycle)
}

/// Depth-first search for a cycle through `n` (state 1: on the path, 2: done).
fn visit<'a>(
    n: &'a str,
    g: &'a BTreeMap<String, BTreeSet<String>>,
    state: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match state.get(n) {
        Some(1) => {
            let i = path.iter().position(|p| *p == n)?;
            let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        Some(_) => return None,
        None => {}
    }
    state.insert(n, 1);
    path.push(n);
    for m in g.get(n).into_iter().flatten() {
        if let Some(c) = visit(m, g, state, path) {
            return Some(c);
        }
    }
    path.pop();
    state.insert(n, 2);
    None
}

#[test]
fn no_module_imports_a_higher_layer_and_rooms_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&src, &mut paths);
    paths.sort();
    let files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    let found: usize = files.iter().map(|(_, t)| references(&code(t)).len()).sum();
    assert!(found > 100, "only {found} paths found: is the scan broken?");
    let (upward, cycle) = violations(&src, &files);
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
    assert_eq!(cycle, None, "rooms that import each other");
}

#[test]
fn an_upward_import_or_a_cycle_of_rooms_is_caught() {
    let src = Path::new("/x/src");
    let file = |p: &str, t: &str| (src.join(p), t.to_string());
    let (upward, _) = violations(
        src,
        &[file(
            "engine/register.rs",
            "use crate::foundation::error::Result;\nuse crate::analysis::slice::SliceRequest;",
        )],
    );
    assert_eq!(upward.len(), 1, "{upward:?}");
    assert!(upward[0].ends_with("register.rs:2: engine imports crate::analysis (a higher layer)"));
    let (upward, cycle) = violations(
        src,
        &[
            file(
                "analysis/slice/mod.rs",
                "use crate::analysis::rollup::Choice;",
            ),
            file(
                "analysis/rollup.rs",
                "fn f() { crate::analysis::slice::run(); }",
            ),
        ],
    );
    assert!(upward.is_empty(), "{upward:?}");
    assert_eq!(
        cycle,
        Some(
            ["analysis::rollup", "analysis::slice", "analysis::rollup"]
                .map(String::from)
                .to_vec()
        )
    );
}

#[test]
fn the_scan_sees_grouped_and_inline_paths() {
    let code = code(
        "use crate::{engine::Engine, model::{cpi::Unit, calendar}};\n\
         // crate::front::cli in a comment\n\
         let x = crate::present::output::Format::Csv;\n\
         #[cfg(test)]\nmod tests { use crate::front::shell; }",
    );
    let found: Vec<(usize, String, Option<String>)> = references(&code);
    let names: Vec<String> = found
        .iter()
        .map(|(l, a, b)| format!("{l}:{a}:{}", b.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        names,
        [
            "1:engine:Engine",
            "1:model:cpi",
            "1:model:calendar",
            "3:present:output"
        ],
        "{found:?}"
    );
}
