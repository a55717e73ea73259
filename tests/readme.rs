//! The README cannot go stale: every ```console block of README.md is run
//! and its output compared with what the block shows.
//!
//! A block holds `$ command` lines (a trailing `\` continues a command) each
//! followed by the output it shows. Commands run with bash in a fresh
//! directory that links `tests`, `vectors`, `scripts`, `sim` and `rtl` of this checkout,
//! with the built `qmac` first on PATH, so relative paths work and nothing
//! is written into the checkout. Both sides are normalised before comparing:
//! the checkout's path, the RTL hash prefix, `jobs N`, decimal numbers
//! (timings, rates) and `N beats/s` / `N cycles/s` are masked, and runs of
//! spaces (column widths) count as one. In the README, a line `…` stands for
//! any number of lines; a line ending in `…` matches any line that starts
//! with the rest. Everything else must be equal, so a change in what a
//! command prints fails here until the README shows it.
use std::path::Path;
use std::process::Command;

use regex::Regex;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_console = false;
    let mut cur: Option<Example> = None;
    let mut continued = false;
    for (i, l) in readme.lines().enumerate() {
        if l.starts_with("```") {
            if in_console {
                out.extend(cur.take());
                in_console = false;
            } else {
                in_console = l.trim() == "```console";
            }
            continue;
        }
        if !in_console {
            continue;
        }
        if continued {
            let c = cur.as_mut().expect("a command");
            c.command.push('\n');
            c.command.push_str(l);
            continued = l.ends_with('\\');
        } else if let Some(cmd) = l.strip_prefix("$ ") {
            out.extend(cur.take());
            cur = Some(Example {
                line: i + 1,
                command: cmd.to_string(),
                expected: Vec::new(),
            });
            continued = l.ends_with('\\');
        } else if let Some(c) = cur.as_mut() {
            c.expected.push(l.to_string());
        }
    }
    out
}

fn normalise(s: &str, root: &str) -> String {
    let masks: [(&str, &str); 6] = [
        (r"sha256 [0-9a-f]{16}\b", "sha256 <sha>"),
        (r"\bjobs \d+", "jobs N"),
        (r"\d+(\.\d+)? (beats|cycles)/s", "# $2/s"),
        (r"\d+\.\d+", "#.#"),
        (r"[ \t]+", " "),
        (r"\x1b\[[0-9;]*m", ""),
    ];
    let mut s = s.replace(root, "<root>").trim_end().to_string();
    for (re, to) in masks {
        s = Regex::new(re).unwrap().replace_all(&s, to).into_owned();
    }
    s
}

/// Does `got` match the README's `want` (with `…` lines and line prefixes)?
/// The first mismatch as (want line, got line) otherwise.
fn matches(want: &[String], got: &[String]) -> Result<(), String> {
    fn go(w: &[String], g: &[String]) -> bool {
        match w.split_first() {
            None => g.is_empty(),
            Some((first, rest)) if first == "…" => (0..=g.len()).any(|k| go(rest, &g[k..])),
            Some((first, rest)) => {
                let ok = g.first().is_some_and(|line| match first.strip_suffix('…') {
                    Some(prefix) => line.starts_with(prefix),
                    None => line == first,
                });
                ok && go(rest, &g[1..])
            }
        }
    }
    if go(want, got) {
        return Ok(());
    }
    // Point at the first line without a counterpart, for the report.
    let missing = want
        .iter()
        .filter(|w| *w != "…")
        .find(|w| {
            !got.iter().any(|g| match w.strip_suffix('…') {
                Some(p) => g.starts_with(p),
                None => g == *w,
            })
        })
        .cloned()
        .unwrap_or_else(|| "(the order or the number of lines differs)".into());
    Err(missing)
}

fn link_checkout(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for d in ["tests", "vectors", "scripts", "sim", "rtl"] {
        let _ = std::os::unix::fs::symlink(Path::new(ROOT).join(d), dir.join(d));
    }
}

#[test]
fn every_console_example_in_the_readme_prints_what_it_shows() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let all = examples(&readme);
    assert!(all.len() >= 8, "only {} console examples found", all.len());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_qmac")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (k, ex) in all.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("qmac-readme-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        link_checkout(&dir);
        let out = Command::new("bash")
            .args(["-c", &format!("exec 2>&1\n{}", ex.command)])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let root = dir.display().to_string();
        let got: Vec<String> = text
            .lines()
            .map(|l| normalise(&l.replace(ROOT, &root), &root))
            .filter(|l| !l.is_empty())
            .collect();
        let want: Vec<String> = ex
            .expected
            .iter()
            .map(|l| normalise(l, "/work/main"))
            .filter(|l| !l.is_empty())
            .collect();
        if let Err(line) = matches(&want, &got) {
            failures.push(format!(
                "README.md line {}: `{}`\n  the README shows: {line}\n  the command printed:\n    {}",
                ex.line,
                ex.command,
                got.join("\n    ")
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_matcher_itself() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches(&s(&["a", "…", "d"]), &s(&["a", "b", "c", "d"])).is_ok());
    assert!(matches(&s(&["a", "…", "d"]), &s(&["a", "d"])).is_ok());
    assert!(matches(&s(&["a", "x…"]), &s(&["a", "xyz"])).is_ok());
    assert_eq!(matches(&s(&["a", "e"]), &s(&["a", "d"])), Err("e".into()));
    assert!(matches(&s(&["a"]), &s(&["a", "extra"])).is_err());
    assert_eq!(
        normalise(
            "wall 0.58 s: 10012405 beats/s, RTL /x/y/rtl (sha256 7a79b587ffade0d8), jobs 2",
            "/x/y"
        ),
        "wall #.# s: # beats/s, RTL <root>/rtl (sha256 <sha>), jobs N"
    );
}

/// Every flag of every subcommand (as `--help` lists it) is in the README.
#[test]
fn every_flag_in_help_is_documented_in_the_readme() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let flag = Regex::new(r"(?m)^\s+(?:-[a-zA-Z], )?(--[a-z0-9-]+)").unwrap();
    let sub = Regex::new(r"(?m)^  ([a-z]+)\s{2,}").unwrap();
    let top = help(&["--help"]);
    let mut missing = Vec::new();
    let subs: Vec<String> = sub
        .captures_iter(&top[top.find("Commands:").unwrap()..top.find("Options:").unwrap()])
        .map(|c| c[1].to_string())
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 10, "{subs:?}");
    for s in &subs {
        if !readme.contains(&format!("qmac {s}")) {
            missing.push(format!("the subcommand `qmac {s}`"));
        }
        let mut paths = vec![vec![s.clone()]];
        if s == "coverage" {
            paths = vec![
                vec![s.clone(), "merge".into()],
                vec![s.clone(), "show".into()],
            ];
        }
        for p in paths {
            let mut args: Vec<&str> = p.iter().map(String::as_str).collect();
            args.push("--help");
            for c in flag.captures_iter(&help(&args)) {
                let f = &c[1];
                if ["--help", "--version"].contains(&f) {
                    continue;
                }
                if !readme.contains(f) {
                    missing.push(format!("`qmac {} {f}`", p.join(" ")));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in README.md: {}",
        missing.join(", ")
    );
}
