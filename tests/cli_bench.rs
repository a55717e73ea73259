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

/// `qmac bench --model`: the whole-model figure (a real model through the
/// RTL, every beat checked) next to the C++ driver in the same run; figures
/// are printed, not judged, but they must be the model's own counts.
#[test]
fn bench_model_measures_a_whole_model_next_to_the_cpp_driver() {
    let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args([
            "bench",
            "--model",
            "tests/fixtures/models/mbnet.tflite",
            "--input",
            "tests/fixtures/models/mbnet.input0.npy",
            "--beats",
            "40000",
            "--reps",
            "1",
            "--json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // The model's own counts (as `qmac model` prints them for this input).
    assert_eq!(v["ops"], 14);
    assert_eq!(v["macs"], 345216);
    assert_eq!(v["beats"], 41821);
    assert_eq!(v["cycles"], 43741);
    assert_eq!(v["passed"], true);
    for k in [
        "macs_per_s_per_core",
        "beats_per_s_per_core",
        "cpp_beats_per_s",
        "ratio_vs_cpp",
        "peak_rss_mb",
    ] {
        let x = v[k].as_f64().unwrap_or_else(|| panic!("{k}: {v}"));
        assert!(x.is_finite() && x > 0.0, "{k} = {x}");
    }
    assert!(
        stderr.contains("pure C++ Verilator driver, same model, same run"),
        "{stderr}"
    );
    // --input without --model (and the reverse) is a usage error.
    let bad = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(["bench", "--input", "x.npy"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
