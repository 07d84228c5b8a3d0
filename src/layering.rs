//! The dependency graph of the top-level modules must stay a DAG in this order:
//! entry (`main`, `cli`) → `app` → `web` → `api` → {`auth`, `chat`} → `error` → `store` →
//! {`domain`, `config`, `ids`} → {`search`, `clock`}. This test reads every source file,
//! collects the `crate::x` paths each module uses, and fails on any edge that points upwards
//! (which is also what rules out cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module's rank; a module may only use modules of a strictly lower rank.
const RANKS: &[(&str, u8)] = &[
    ("clock", 0),
    ("ids", 1),
    ("search", 0),
    ("secrets", 0),
    ("domain", 1),
    ("config", 1),
    ("store", 2),
    ("error", 3),
    ("auth", 4),
    ("chat", 4),
    ("api", 5),
    ("web", 6),
    ("app", 7),
    ("cli", 8),
];

fn rank(module: &str) -> Option<u8> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// The top-level modules named by `crate::x` and `crate::{x, y::z}` paths in `source`.
fn used_modules(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

fn collect(dir: &Path, src: &Path, graph: &mut BTreeMap<String, BTreeSet<String>>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, src, graph);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
            let source = std::fs::read_to_string(&path).unwrap();
            let uses = used_modules(&source);
            graph
                .entry(module.clone())
                .or_default()
                .extend(uses.into_iter().filter(|m| *m != module));
        }
    }
}

#[test]
fn module_graph_points_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    collect(&src, &src, &mut graph);
    let mut upward = Vec::new();
    for (module, uses) in &graph {
        let Some(from) = rank(module) else {
            assert!(
                ["lib", "main", "layering"].contains(&module.as_str()),
                "module {module} has no rank in RANKS: place it in the layering"
            );
            continue;
        };
        for used in uses {
            let to = rank(used).unwrap_or_else(|| panic!("{module} uses unknown crate::{used}"));
            if to >= from {
                upward.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(upward.is_empty(), "edges against the layering: {upward:?}");
    assert!(
        graph["store"].contains("search"),
        "the scan found the store's edges"
    );
}

#[test]
fn paths_are_read_in_both_forms() {
    let found = used_modules("use crate::store::Store;\nuse crate::{api, domain::Tenant};");
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        vec!["api", "domain", "store"]
    );
}
