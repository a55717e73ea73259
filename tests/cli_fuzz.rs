//! `qmac fuzz` and `qmac coverage merge`: the default budget covers every bin,
//! results do not depend on --jobs, shards add up to the unsharded run, and
//! the same holds for `qmac regress --shard`.
use std::path::{Path, PathBuf};

mod common;

fn qmac(args: &[&str]) -> (i32, String) {
    common::qmac_joined(args)
}

fn tmp(name: &str) -> PathBuf {
    common::scratch("fuzz", name)
}

fn summary(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("seed ") && l.contains(" iterations, "))
        .map(|l| l.split(" in ").next().unwrap().to_string())
        .unwrap_or_default()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// The bin counts of a coverage file, and the shards of its sources.
fn bins_and_shards(p: &Path) -> (serde_json::Value, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(&read(p)).unwrap();
    let shards = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shard"].as_str().unwrap_or("-").to_string())
        .collect();
    (v["bins"].clone(), shards)
}

#[test]
fn default_budget_hits_every_bin() {
    let d = tmp("default");
    let (code, out) = qmac(&["fuzz", "--seed", "11", "--out", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let n = qmac::cosim::coverage::Bin::ALL.len();
    assert!(
        out.contains(&format!("coverage: {n} of {n} bins hit")),
        "{out}"
    );
    assert!(
        out.contains("qmac fuzz: seed 11,") && out.trim_end().ends_with("3000 passed, 0 failed"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn same_seed_same_cases_and_coverage_whatever_the_jobs() {
    let (a, b) = (tmp("j1"), tmp("j2"));
    let (c1, o1) = qmac(&[
        "fuzz",
        "--seed",
        "5",
        "--iterations",
        "400",
        "--jobs",
        "1",
        "--out",
        a.to_str().unwrap(),
    ]);
    let (c2, o2) = qmac(&[
        "fuzz",
        "--seed",
        "5",
        "--iterations",
        "400",
        "--jobs",
        "2",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert_eq!((c1, c2), (0, 0), "{o1}{o2}");
    assert_eq!(summary(&o1), summary(&o2));
    assert!(summary(&o1).starts_with("seed 5: 400 iterations"), "{o1}");
    assert_eq!(
        read(&a.join("coverage-seed5.json")),
        read(&b.join("coverage-seed5.json"))
    );
    // Shards 1/2 and 2/2 add up to the unsharded run.
    let (s1, s2) = (tmp("s1"), tmp("s2"));
    for (k, d) in [("1/2", &s1), ("2/2", &s2)] {
        let (c, o) = qmac(&[
            "fuzz",
            "--seed",
            "5",
            "--iterations",
            "400",
            "--shard",
            k,
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{o}");
    }
    let merged = tmp("merged.json");
    let (c, o) = qmac(&[
        "coverage",
        "merge",
        s1.join("coverage-seed5-shard1of2.json").to_str().unwrap(),
        s2.join("coverage-seed5-shard2of2.json").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "--require-full",
    ]);
    assert_eq!(c, 0, "{o}");
    // The merged shards count exactly what the unsharded run counts.
    let (mb, ms) = bins_and_shards(&merged);
    let (fb, fs) = bins_and_shards(&a.join("coverage-seed5.json"));
    assert_eq!(mb, fb);
    assert_eq!(
        (ms, fs),
        (vec!["1/2".to_string(), "2/2".into()], vec!["-".to_string()])
    );
    // One shard alone after a handful of iterations misses bins: --require-full fails (exit 1).
    let small = tmp("small");
    let (c, o) = qmac(&[
        "fuzz",
        "--seed",
        "5",
        "--iterations",
        "2",
        "--out",
        small.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{o}");
    let (c, o) = qmac(&[
        "coverage",
        "merge",
        small.join("coverage-seed5.json").to_str().unwrap(),
        "--require-full",
    ]);
    assert_eq!(c, 1, "{o}");
    assert!(o.contains("bins not hit: "), "{o}");
    let _ = std::fs::remove_dir_all(&small);
    for d in [a, b, s1, s2, merged] {
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_file(&d);
    }
}

#[test]
fn until_covered_stops_early_with_every_bin() {
    let d = tmp("uc");
    let (code, out) = qmac(&[
        "fuzz",
        "--seed",
        "2",
        "--until-covered",
        "--iterations",
        "100000",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let n = qmac::cosim::coverage::Bin::ALL.len();
    assert!(
        out.contains(&format!("coverage: {n} of {n} bins hit")),
        "{out}"
    );
    let n: u64 = summary(&out)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(n < 100_000, "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn regress_shards_add_up() {
    let dir = tmp("rs");
    std::fs::create_dir_all(&dir).unwrap();
    let full = dir.join("full.json");
    let (c, o) = qmac(&[
        "regress",
        "--suite",
        "corners",
        "--coverage",
        full.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{o}");
    let total: usize = o
        .lines()
        .find(|l| l.starts_with("total "))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut parts = Vec::new();
    let mut n = 0;
    for k in ["1/3", "2/3", "3/3"] {
        let p = dir.join(format!("shard{}.json", &k[..1]));
        let (c, o) = qmac(&[
            "regress",
            "--suite",
            "corners",
            "--shard",
            k,
            "--coverage",
            p.to_str().unwrap(),
        ]);
        assert_eq!(c, 0, "{o}");
        n += o
            .lines()
            .find(|l| l.starts_with("total "))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<usize>()
            .unwrap();
        parts.push(p);
    }
    assert_eq!(n, total);
    let merged = dir.join("merged.json");
    let mut args = vec!["coverage", "merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let (c, o) = qmac(&args);
    assert_eq!(c, 0, "{o}");
    let (mb, ms) = bins_and_shards(&merged);
    let (fb, _) = bins_and_shards(&full);
    assert_eq!(mb, fb);
    assert_eq!(ms, ["1/3", "2/3", "3/3"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_fuzz_arguments_exit_2() {
    // Argument errors: clap's full message (what is wrong, the usage, the
    // help hint), exit 2.
    for (args, why) in [
        (vec!["fuzz", "--shard", "3/2"], "need 1 <= K <= N"),
        (vec!["fuzz", "--duration", "abc"], "is not a duration"),
    ] {
        let (c, o) = qmac(&args);
        assert_eq!(c, 2, "{args:?}: {o}");
        assert!(
            o.starts_with("error: invalid value") && o.contains(why),
            "{o}"
        );
        assert!(o.contains("For more information, try '--help'."), "{o}");
    }
    // A bad input file: one line naming it, exit 2.
    let (c, o) = qmac(&["fuzz", "--replay", "no/such/file.json"]);
    assert_eq!(c, 2, "{o}");
    assert_eq!(o.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{o}");
    assert!(o.contains("no/such/file.json"), "{o}");
    let (c, o) = qmac(&["coverage", "merge", "no/such.json"]);
    assert_eq!(c, 2, "{o}");
    assert!(o.contains("no/such.json"), "{o}");
    // A transaction without a dot product would check nothing: not a PASS.
    let empty = tmp("empty-tx").with_extension("json");
    std::fs::write(
        &empty,
        r#"{"qmac_transaction": 1, "source": "x", "lanes": 8, "mult_w": 32, "bp_seed": 1,
            "backpressure": {"in_gap": 0, "out_stall": 0, "long_stall": 0}, "items": []}"#,
    )
    .unwrap();
    let (c, o) = qmac(&["fuzz", "--replay", empty.to_str().unwrap()]);
    assert_eq!(c, 2, "{o}");
    assert!(
        o.contains("field `items`: no dot product: a replay of it would check nothing"),
        "{o}"
    );
    assert!(!o.contains("passed"), "{o}");
    let _ = std::fs::remove_file(&empty);
}

/// Coverage files carry their provenance; `coverage merge` refuses to count
/// the same run (or the same file) twice, and the merged file lists every
/// run it counts.
#[test]
fn coverage_provenance_and_no_double_counting() {
    let (a, b) = (tmp("prov-a"), tmp("prov-b"));
    for (dir, shard) in [(&a, "1/2"), (&b, "1/2"), (&b, "2/2")] {
        let (code, out) = qmac(&[
            "fuzz",
            "--seed",
            "5",
            "--iterations",
            "20",
            "--shard",
            shard,
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}");
    }
    let a1 = a.join("coverage-seed5-shard1of2.json");
    let b1 = b.join("coverage-seed5-shard1of2.json");
    let b2 = b.join("coverage-seed5-shard2of2.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a1).unwrap()).unwrap();
    assert_eq!(v["sources"][0]["tool"], "qmac fuzz");
    assert_eq!(v["sources"][0]["seed"], 5);
    assert_eq!(v["sources"][0]["shard"], "1/2");
    assert_eq!(v["sources"][0]["runs"], 10);
    assert_eq!(v["sources"][0]["lanes"], 8);
    // The same shard from two directories, and the same file twice: exit 2.
    let (code, out) = qmac(&[
        "coverage",
        "merge",
        a1.to_str().unwrap(),
        b1.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the run `qmac fuzz --seed 5 --shard 1/2` (10 runs) is already counted from"),
        "{out}"
    );
    let (code, out) = qmac(&[
        "coverage",
        "merge",
        a1.to_str().unwrap(),
        a1.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("given twice"), "{out}");
    // Two different shards merge, and the result says what it counts.
    let m = a.join("merged.json");
    let (code, out) = qmac(&[
        "coverage",
        "merge",
        a1.to_str().unwrap(),
        b2.to_str().unwrap(),
        "--out",
        m.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("counted: qmac fuzz --seed 5 --shard 1/2: 10 runs, LANES=8 MULT_W=32"),
        "{out}"
    );
    assert!(
        out.contains("counted: qmac fuzz --seed 5 --shard 2/2: 10 runs"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(v["sources"].as_array().unwrap().len(), 2);
    // The merged file and one of its shards overlap: refused.
    let (code, out) = qmac(&[
        "coverage",
        "merge",
        m.to_str().unwrap(),
        b2.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// `fuzz --json -`: only the campaign's JSON on stdout.
#[test]
fn fuzz_json_report() {
    let d = tmp("json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args([
            "fuzz",
            "--seed",
            "3",
            "--iterations",
            "40",
            "--out",
            d.to_str().unwrap(),
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["seed"], 3);
    assert_eq!(v["iterations"], 40);
    assert!(v["failure"].is_null());
    assert!(v["coverage"]["file"]
        .as_str()
        .unwrap()
        .ends_with("coverage-seed3.json"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("40 passed, 0 failed"));
    let _ = std::fs::remove_dir_all(&d);
}
