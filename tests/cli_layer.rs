//! `qmac layer` end to end through the binary: the golden model and the RTL
//! on every real TFLite case, and exit codes for bad input.

mod common;

fn qmac(args: &[&str]) -> (i32, String, String) {
    common::qmac_split(args)
}

fn fixture_cases() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite"
    ))
    .unwrap()
    .map(|e| e.unwrap().path())
    .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"))
    .map(|p| p.display().to_string())
    .collect();
    v.sort();
    for f in [
        "edited_probe_fc_pc_op0_fully_connected",
        "edited_probe_fc_pt_op0_fully_connected",
    ] {
        v.push(format!(
            "{}/tests/fixtures/tflite/fc_float64/{f}.json",
            env!("CARGO_MANIFEST_DIR")
        ));
    }
    v
}

#[test]
fn golden_backend_passes_every_tflite_case() {
    let cases = fixture_cases();
    let mut args = vec!["layer", "--backend", "golden"];
    args.extend(cases.iter().map(|s| s.as_str()));
    let (code, out, err) = qmac(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.trim_end()
            .ends_with(&format!("{} passed, 0 failed", cases.len())),
        "{out}"
    );
    // The float64 cases report the integer path's differing outputs.
    assert!(
        out.contains("[float64 case: integer Q31 path differs on 13 outputs"),
        "{out}"
    );
}

#[test]
fn rtl_backend_passes_every_tflite_case_lanes_8_and_1() {
    let cases = fixture_cases();
    for lanes in ["8", "1"] {
        let mut args = vec!["layer", "--backend", "both", "--lanes", lanes];
        args.extend(cases.iter().map(|s| s.as_str()));
        let (code, out, err) = qmac(&args);
        assert_eq!(code, 0, "LANES={lanes}\n{out}{err}");
        assert!(
            out.trim_end()
                .ends_with(&format!("{} passed, 0 failed", cases.len())),
            "{out}"
        );
        assert!(
            out.contains("rtl mismatches 0 (acc 0, beat checks 0 failed)"),
            "{out}"
        );
    }
}

#[test]
fn rtl_backend_under_backpressure() {
    let (code, out, err) = qmac(&[
        "layer",
        "--backpressure",
        "--seed",
        "7",
        "tests/fixtures/tflite/mbnet_b_op2_depthwise_conv2d.json",
        "tests/fixtures/tflite/odd_c_op0_conv2d.json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");
    // The backpressure is really applied: every case streams clearly below
    // one beat per cycle (without it the conv case reaches ~1.0).
    for line in out.lines().filter(|l| l.starts_with("PASS ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let i = w.iter().position(|t| *t == "beats/cycle").unwrap();
        let bpc: f64 = w[i - 1].parse().unwrap();
        assert!(bpc < 0.8, "backpressure not applied? {line}");
    }
}

#[test]
fn index_file_expands_to_each_case_once() {
    let (code, out, err) = qmac(&[
        "layer",
        "--backend",
        "golden",
        "tests/fixtures/tflite/index.json",
        "tests/fixtures/tflite/cnn_a_op0_conv2d.json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let n = fixture_cases().len(); // index.json lists every case, fc_float64/ included
    assert!(out.contains(&format!("{n} passed, 0 failed")), "{out}");
}

#[test]
fn wrong_reference_output_fails_with_exit_1() {
    let dir = std::env::temp_dir().join(format!("qmac-layer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite/mlp_d_op1_fully_connected.json"
    ))
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&src).unwrap();
    let o = v["output"][3].as_i64().unwrap();
    v["output"][3] = serde_json::json!(if o < 127 { o + 1 } else { o - 1 });
    let p = dir.join("bad.json");
    std::fs::write(&p, v.to_string()).unwrap();
    for backend in ["golden", "rtl"] {
        let (code, out, _) = qmac(&["layer", "--backend", backend, p.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("FAIL bad") && out.contains("0 passed, 1 failed"),
            "{out}"
        );
        // The differing output by position, with the case's, the golden
        // model's and the RTL's values and the accumulator.
        let line = out
            .lines()
            .find(|l| l.starts_with("  [0, 0, 0, 3]: case "))
            .unwrap_or_else(|| panic!("no position line in\n{out}"));
        assert!(
            line.contains(&format!("case {} golden {o} acc ", v["output"][3])),
            "{line}"
        );
        assert_eq!(line.contains(" rtl "), backend == "rtl", "{line}");
    }
    // --explain lists every differing output of any case (here: none of a
    // correct one, the one of the tampered one).
    let (code, out, _) = qmac(&[
        "layer",
        "--backend",
        "golden",
        "--explain",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("  [")).count(),
        1,
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let (code, _, err) = qmac(&[
        "layer",
        "--backend",
        "golden",
        "tests/fixtures/does_not_exist.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("does_not_exist.json"), "{err}");
    let (code, _, err) = qmac(&[
        "layer",
        "--lanes",
        "3",
        "tests/fixtures/tflite/cnn_a_op0_conv2d.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("LANES=3"), "{err}");
}

/// `qmac layer --json -` / `--junit`: one record and one testcase per case.
#[test]
fn json_and_junit_reports_per_case() {
    let dir = std::env::temp_dir().join(format!("qmac-layer-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite/mlp_d_op1_fully_connected.json"
    );
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(good).unwrap()).unwrap();
    let o = v["output"][0].as_i64().unwrap();
    v["output"][0] = serde_json::json!(if o < 127 { o + 1 } else { o - 1 });
    let bad = dir.join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let junit = dir.join("j.xml");
    let (code, out, err) = qmac(&[
        "layer",
        good,
        bad.to_str().unwrap(),
        "--json",
        "-",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let j: serde_json::Value = serde_json::from_str(&out).expect("stdout is only JSON");
    assert!(err.contains("FAIL bad"), "{err}");
    assert_eq!(j["verdict"], "FAIL");
    assert_eq!(
        (j["passed"].as_u64(), j["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(j["results"][1]["verdict"], "FAIL");
    assert_eq!(j["results"][1]["reference"]["mismatches"], 1);
    assert_eq!(j["results"][1]["rtl"]["output_mismatches"], 0);
    assert!(j["results"][1]["details"][0]
        .as_str()
        .unwrap()
        .starts_with("[0, 0, 0, 0]: case "));
    common::validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 2);
    assert_eq!(xml.matches("<failure ").count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--waves DIR`: a waveform of every case, passing or not; `--color always`
/// colours the verdict.
#[test]
fn waves_for_every_case_and_color() {
    let dir = std::env::temp_dir().join(format!("qmac-layer-waves-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite/mlp_d_op1_fully_connected.json"
    );
    let (code, out, err) = qmac(&[
        "layer",
        c,
        "--waves",
        dir.to_str().unwrap(),
        "--color",
        "always",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("\x1b[32mPASS\x1b[0m mlp_d_op1_fully_connected"),
        "{out}"
    );
    let fst = dir.join("mlp_d_op1_fully_connected.fst");
    assert!(std::fs::metadata(&fst).unwrap().len() > 1000, "{out}");
    assert!(
        out.contains(&format!("waveform: {}", fst.display())),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An index that lists no case checks nothing: exit 1, not a PASS.
#[test]
fn an_empty_index_is_not_a_pass() {
    let dir = std::env::temp_dir().join(format!("qmac-layer-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let idx = dir.join("index.json");
    std::fs::write(&idx, r#"{"cases": []}"#).unwrap();
    let (code, out, err) = qmac(&["layer", idx.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("no case to check (the index lists none)"),
        "{err}"
    );
    assert!(!out.contains("passed"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
