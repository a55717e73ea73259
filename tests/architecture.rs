//! The module structure stays acyclic: no file of `src/` imports (names a
//! path of) a module that, directly or not, names it back. A module's own
//! `mod` declarations and its children are not imports. Before the
//! restructuring `case ⇄ requant` (over `DType`) and `cosim ⇄ coverage`
//! (over `DotJob` / `Params`) were such loops.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a library file: `src/cosim/dut.rs` -> ["cosim", "dut"],
/// `src/cosim/mod.rs` -> ["cosim"], `src/lib.rs` -> [].
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(SRC).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// Every `crate::a::b::…` path named in `text` (use lines and code), as
/// segment lists; `crate::{a, b::c}` groups expanded one level.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let seg: String = rest
            .chars()
            .take_while(|c| {
                c.is_alphanumeric()
                    || *c == '_'
                    || *c == ':'
                    || *c == '{'
                    || *c == '}'
                    || *c == ','
                    || *c == ' '
                    || *c == '\n'
            })
            .collect();
        let head: String = seg
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let base: Vec<String> = head
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if seg[head.len()..].trim_start().starts_with('{') {
            let inner = seg[head.len()..].trim_start()[1..]
                .split('}')
                .next()
                .unwrap_or("");
            for item in inner.split(',') {
                let mut p = base.clone();
                p.extend(
                    item.trim()
                        .split("::")
                        .filter(|s| !s.is_empty() && *s != "self" && !s.contains(' '))
                        .map(String::from),
                );
                out.push(p);
            }
        } else {
            out.push(base);
        }
    }
    out
}

#[test]
fn no_import_cycles_between_source_files() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    // The binary's files (main.rs and cmd/) are not library modules.
    files.retain(|f| {
        let r = f.strip_prefix(SRC).unwrap();
        !(r.starts_with("cmd") || r == Path::new("main.rs"))
    });
    let modules: BTreeMap<Vec<String>, PathBuf> =
        files.iter().map(|f| (module_of(f), f.clone())).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        let e = edges.entry(m.clone()).or_default();
        for p in crate_paths(&text) {
            // The longest prefix that is a module file.
            let target = (1..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|q| modules.contains_key(q));
            if let Some(t) = target {
                // A parent naming its own children (`pub mod`, re-uses) is not an import.
                let is_child = t.len() > m.len() && t[..m.len()] == m[..];
                if t != *m && !is_child {
                    e.insert(t);
                }
            }
        }
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the import scan found too few imports: {edges:?}"
    );
    // Depth-first search for a cycle; report it as a path.
    fn dfs(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|s| s == t).unwrap();
                    let mut c = stack[i..].to_vec();
                    c.push(t.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = dfs(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = dfs(n, &edges, &mut state, &mut Vec::new()) {
                let names: Vec<String> = c
                    .iter()
                    .map(|m| format!("crate::{}", m.join("::")))
                    .collect();
                panic!("import cycle: {}", names.join(" -> "));
            }
        }
    }
}

/// The binary is thin: the command-line modules are not part of the library.
#[test]
fn the_cli_is_not_in_the_library() {
    let lib = std::fs::read_to_string(format!("{SRC}/lib.rs")).unwrap();
    assert!(!lib.contains("mod cmd"), "lib.rs declares cmd");
    let main = std::fs::read_to_string(format!("{SRC}/main.rs")).unwrap();
    assert!(main.contains("mod cmd;"));
}

/// A scan that cannot see a planted cycle would pass vacuously.
#[test]
fn the_scan_sees_paths_in_use_groups_and_code() {
    let p = crate_paths(
        "use crate::cosim::{dut::Dut, transaction::Item};\nlet x = crate::arith::requant::srdhm(1, 2, 3); // crate::nope",
    );
    assert!(
        p.contains(&vec!["cosim".into(), "dut".into(), "Dut".into()]),
        "{p:?}"
    );
    assert!(
        p.contains(&vec!["cosim".into(), "transaction".into(), "Item".into()]),
        "{p:?}"
    );
    assert!(
        p.contains(&vec!["arith".into(), "requant".into(), "srdhm".into()]),
        "{p:?}"
    );
    assert!(!p.iter().any(|q| q.contains(&"nope".to_string())), "{p:?}");
}

/// The arithmetic, the formats, the golden model and whole-model runs on the
/// golden model build without Verilator (`--no-default-features` leaves out
/// the `rtl` feature: no verilating, no C++ bridge), so they are a library of
/// their own. `QMAC_VERILATOR` points nowhere to prove nothing calls it.
#[test]
fn the_golden_model_builds_without_verilator() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new(cargo)
        .args([
            "check",
            "--release",
            "--locked",
            "--no-default-features",
            "--lib",
            "--quiet",
        ])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", format!("{root}/target/no-rtl"))
        .env("QMAC_VERILATOR", "/nonexistent/verilator")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo check --no-default-features failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
