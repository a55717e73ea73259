//! `qmac bench` runs end to end and reports every figure (the figures
//! themselves are machine-dependent and not asserted).
use std::process::Command;

#[test]
fn bench_prints_the_table_and_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args([
            "bench",
            "--beats",
            "40000",
            "--reps",
            "1",
            "--regress-tests",
            "2",
            "--no-build",
            "--json",
        ])
        .output()
        .unwrap();
    let (json, text) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{json}{text}");
    // With --json, stdout is the JSON alone; the table goes to stderr, its
    // labels inside their column.
    assert!(
        text.contains("pure C++ Verilator driver, beats/s") && text.contains("ratio qmac / C++"),
        "{text}"
    );
    for l in text
        .lines()
        .filter(|l| l.contains(", beats/s") || l.starts_with("ratio "))
    {
        assert_eq!(&l[50..51], " ", "a label overflows its column: {l}");
    }
    let v: serde_json::Value = serde_json::from_str(&json).expect("stdout is one JSON object");
    for key in [
        "cosim_beats_per_s",
        "cpp_beats_per_s",
        "ratio_vs_cpp",
        "ratio_vs_cpp_lanes8",
        "golden_gmac_per_s",
        "jobs2_speedup",
        "trace_off_ratio",
    ] {
        let x = v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {json}"));
        assert!(x.is_finite() && x > 0.0, "{key} = {x}");
    }
}
