//! The layering of ARCHITECTURE.md, checked on the source: every `crate::` (or, in the
//! binary, `lookalike::`) path of a module names a module of its own layer or of a layer
//! below, and no modules reach each other in a circle. A folder's `mod.rs` may use its own
//! children (it declares and exposes them), and a unit test module may use a sibling's
//! helpers; every other reference counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first (ARCHITECTURE.md, "Layers").
const LAYERS: &[&[&str]] = &[
    &["error", "problem", "progress", "text", "vector"],
    &["ingest"],
    &["model"],
    &["index"],
    &["dedup"],
    &["eval"],
    &["train"],
    &["serve"],
    &["cli", "main"],
];

fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| {
            panic!("module `{top}` is in no layer: add it to LAYERS and ARCHITECTURE.md")
        })
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`index/store.rs` → `[index, store]`,
/// `index/mod.rs` → `[index]`; the binary's files are under the `cli` and `main` modules).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The paths a source names: `crate::a::b` and `lookalike::a::b` (first segments), and
/// `super::a` resolved against `module`. Comments are left out (doc links are not imports).
fn references(text: &str, module: &[String]) -> Vec<(Vec<String>, bool)> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let tests_at = code.find("mod tests {").unwrap_or(code.len());
    let mut out = Vec::new();
    // The identifiers of a path, up to the first character that ends it.
    let ident = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        for segment in s.split("::") {
            let name: String = segment
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let ends = name.len() < segment.len();
            if !name.is_empty() {
                out.push(name);
            }
            if ends || out.is_empty() {
                break;
            }
        }
        out
    };
    for (prefix, base) in [("crate::", Vec::new()), ("lookalike::", Vec::new())] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let at = from + at;
            let before = code[..at].chars().last();
            from = at + prefix.len();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let mut path = base.clone();
            path.extend(ident(&code[from..]));
            if !path.is_empty() {
                out.push((path, at >= tests_at));
            }
        }
    }
    // `super::x` from a file module `a::b` names `a::x`; from `a/mod.rs` (module `a`), the
    // crate root's `x`; inside the file's inline `mod tests`, the file's own module.
    let mut from = 0;
    while let Some(at) = code[from..].find("super::") {
        let at = from + at;
        from = at + "super::".len();
        let mut parent = module.to_vec();
        if at < tests_at {
            parent.pop();
        }
        out.push((
            parent.into_iter().chain(ident(&code[from..])).collect(),
            at >= tests_at,
        ));
    }
    out
}

#[test]
fn imports_point_down_the_layers_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).unwrap()))
        .collect();
    // The deepest known module a path names.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains(p))
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong_way = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel == Path::new("lib.rs") {
            continue;
        }
        let from = module_of(rel);
        let is_mod_rs = rel.file_name().is_some_and(|n| n == "mod.rs");
        let text = std::fs::read_to_string(file).unwrap();
        for (path, in_tests) in references(&text, &from) {
            // `use super::*` in a file's inline test module names the file itself.
            let Some(to) = resolve(&path)
                .or_else(|| (path.len() < from.len() || path.is_empty()).then(|| from.clone()))
            else {
                continue;
            };
            if to == from || (is_mod_rs && to.starts_with(&from)) {
                continue;
            }
            let (a, b) = (layer_of(&from[0]), layer_of(&to[0]));
            if b > a {
                wrong_way.push(format!("{} → {}", from.join("::"), to.join("::")));
            }
            // A unit test may use a sibling's helpers without making the two one design.
            if !in_tests {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        wrong_way.is_empty(),
        "imports from a lower layer into a higher one:\n{}",
        wrong_way.join("\n")
    );
    // Cycles: depth-first search with colours.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                0 => visit(next, edges, state, stack, cycles),
                1 => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle: Vec<String> = stack[at..].iter().map(|n| n.join("::")).collect();
                    cycle.push(next.join("::"));
                    cycles.push(cycle.join(" → "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for node in edges.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            visit(node, &edges, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(
        cycles.is_empty(),
        "modules in a circle:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_checker_sees_paths_of_every_form() {
    let module = vec!["index".to_string(), "store".to_string()];
    let refs = references(
        "use crate::model::{Head, Task};\n// crate::dedup in a comment\nlet x = super::graph::dot(a, b);\nuse lookalike::ingest::decode;",
        &module,
    );
    let names: Vec<String> = refs.iter().map(|(p, _)| p.join("::")).collect();
    assert_eq!(
        names,
        ["model", "ingest::decode", "index::graph::dot"],
        "{names:?}"
    );
}
