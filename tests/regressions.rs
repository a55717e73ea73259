//! Every shrunk repro in tests/regressions/ is replayed on the RTL and must
//! pass (each once caught a bug; see its `source`).
use std::process::Command;

#[test]
fn every_regression_repro_passes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "tests/regressions/ holds no repro");
    for f in files {
        let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
            .args(["fuzz", "--replay"])
            .arg(&f)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{}:\n{text}", f.display());
        assert!(text.contains("1 passed, 0 failed"), "{text}");
    }
}

#[test]
fn malformed_transaction_files_are_input_errors() {
    let dir = std::env::temp_dir().join(format!("qmac-tx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/regressions/rdbp_rounding_increment_dropped.json"
    ))
    .unwrap();
    let cases = [
        ("truncated", good[..good.len() / 2].to_string(), "line "),
        (
            "shift",
            good.replacen("\"shift\": 0", "\"shift\": 31", 1),
            "shift must be in [-31, 30]",
        ),
        (
            "lanes",
            good.replacen("\"lanes\": 8", "\"lanes\": 0", 1),
            "field `lanes`",
        ),
    ];
    for (name, text, needle) in cases {
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
            .args(["fuzz", "--replay"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.json")) && err.contains(needle),
            "{name}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
