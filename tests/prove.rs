//! `qmac prove`: the fast subset proves the shipped RTL, and broken RTL is
//! refuted by the proof that covers the broken rule, with its counterexample
//! printed and exit code 1; bad arguments exit 2 with one line.
use std::path::Path;

use qmac::verify::mutants::{apply, MUTANTS};

mod common;
use common::qmac_joined as qmac;

/// A copy of rtl/ with mutant `name` applied.
fn mutant_rtl(name: &str, dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("rtl");
    for f in ["qmac_lane.v", "qmac_top.v"] {
        std::fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    let m = MUTANTS
        .iter()
        .find(|m| m.name == name)
        .expect("a known mutant");
    apply(dir, m).unwrap();
}

#[test]
fn fast_subset_proves_the_shipped_rtl() {
    let (code, t) = qmac(&["prove", "--fast"]);
    assert_eq!(code, 0, "{t}");
    for name in [
        "requant e=-31",
        "requant e=-8",
        "requant e=-1",
        "requant e=0",
        "requant e=1",
        "requant e=30",
        "mac",
        "protocol",
    ] {
        assert!(
            t.lines().any(|l| l.starts_with("PROVEN ")
                && l[8..].trim_start().starts_with(&format!("{name} "))),
            "no PROVEN line for {name}:\n{t}"
        );
    }
    assert!(t.contains("BMC depth 10 from reset"), "{t}");
    assert!(t.contains("qmac prove: PASS: 8 of 8 proofs proven"), "{t}");
}

#[test]
fn broken_rtl_is_refuted_by_the_proof_of_its_rule() {
    // (mutant, --only, the proof that must refute it)
    for (mutant, only, proof) in [
        ("rdbp_no_increment", "e=-8", "requant e=-8"),
        ("single_no_round", "e=0", "requant e=0"),
        ("srdhm_sat_m0_only", "e=1", "requant e=1"),
        ("ovf_not_sticky", "mac", "mac"),
        ("zp_w_ignored", "mac", "mac"),
        ("latency_short", "protocol", "protocol"),
        ("cfg_no_priority", "protocol", "protocol"),
        ("act_max_reset_127", "protocol", "protocol"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        mutant_rtl(mutant, dir.path());
        let (code, t) = qmac(&[
            "prove",
            "--fast",
            "--rtl",
            dir.path().to_str().unwrap(),
            "--only",
            only,
        ]);
        assert_eq!(code, 1, "{mutant}: {t}");
        assert!(t.contains(&format!("REFUTED {proof}:")), "{mutant}: {t}");
        assert!(t.contains("counterexample"), "{mutant}: {t}");
        assert!(
            t.contains("qmac prove: FAIL: 0 proven, 1 refuted"),
            "{mutant}: {t}"
        );
        assert!(t.contains("(rerun: qmac prove --rtl "), "{mutant}: {t}");
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, t) = qmac(&["prove", "--rtl", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{t}");
    assert!(t.contains("qmac_lane.v: missing"), "{t}");
    let (code, t) = qmac(&["prove", "--only", "nothing-by-this-name"]);
    assert_eq!(code, 2, "{t}");
    assert!(t.contains("names no proof"), "{t}");
    let (code, t) = qmac(&["prove", "--depth", "1"]);
    assert_eq!(code, 2, "{t}");
}
