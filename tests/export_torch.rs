//! scripts/export_torch.py end to end, when torch is importable: train a tiny
//! QAT model (scripts/tiny_qat.py, a few steps), export its layers, and check
//! that `qmac layer` finds the RTL bit-exact with the golden integer path and
//! every integer-vs-PyTorch difference explained by the fbgemm emulation.
//! Without torch (`pip install torch`) the test reports itself skipped.

mod common;

use std::path::Path;
use std::process::Command;

fn python(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("python3")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn torch_importable() -> bool {
    Command::new("python3")
        .args(["-c", "import torch, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `(N, M)` of the closing note's "emulation = PyTorch on N of M outputs".
fn emulation_counts(out: &str) -> (usize, usize) {
    let tail = out
        .split("emulation = PyTorch on ")
        .nth(1)
        .unwrap_or_else(|| panic!("no closing note\n{out}"));
    let nums: Vec<usize> = tail
        .split_whitespace()
        .take(3)
        .filter_map(|t| t.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn exporter_on_a_freshly_trained_qat_model_passes_qmac_layer() {
    if !torch_importable() {
        // What a user without torch gets: one line naming what to install, exit 2.
        let out = std::env::temp_dir().join(format!("qmac-export-notorch-{}", std::process::id()));
        let (code, _, err) = python(&[
            "scripts/export_torch.py",
            "scripts/tiny_qat.py:build_quantized",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains("needs torch and numpy") && err.contains("pip install torch"),
            "{err}"
        );
        println!("skipped: torch is not importable (pip install torch)");
        return;
    }
    let tmp = common::scratch("export", "tiny");
    let model = tmp.join("model");
    let cases = tmp.join("cases");
    let (m, c) = (model.display().to_string(), cases.display().to_string());

    let (code, out, err) = python(&[
        "scripts/tiny_qat.py",
        &m,
        "--steps",
        "30",
        "--batch",
        "16",
        "--seed",
        "3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let sd = model.join("tiny_qat.pt").display().to_string();
    let sample = model.join("sample.npy").display().to_string();
    let export = |dir: &str, extra: &[&str]| {
        let mut args = vec![
            "scripts/export_torch.py",
            "scripts/tiny_qat.py:build_quantized",
            dir,
            "--state-dict",
            &sd,
            "--input",
            &sample,
        ];
        args.extend_from_slice(extra);
        python(&args)
    };
    let (code, out, err) = export(&c, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 layer case(s) and 0 elementwise case(s) written"), "{out}");
    assert!(out.contains("fbgemm depthwise fast path"), "{out}");
    for layer in ["conv1", "dw", "conv3", "fc1", "fc2"] {
        assert!(cases.join(layer).join("case.toml").is_file(), "{layer}");
    }

    let index = cases.join("index.json").display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "both", &index]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("5 passed, 0 failed"), "{out}");
    assert!(
        out.contains("PyTorch cases: RTL = golden integer bit-exact on 5 of 5 layers; 5 layers, 2632 outputs"),
        "{out}"
    );
    let (matched, total) = emulation_counts(&out);
    assert_eq!((matched, total), (2632, 2632), "{out}");
    assert!(!out.contains("UNEXPLAINED"), "{out}");

    // Seed-style text arrays carry the same case.
    let txt = tmp.join("cases_txt");
    let (code, out, err) = export(&txt.display().to_string(), &["--txt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(txt.join("conv1").join("input.txt").is_file());
    assert!(!txt.join("conv1").join("input.npy").exists());
    // One integer per line and nothing else (a C fscanf("%d") loop reads it).
    let t = std::fs::read_to_string(txt.join("conv1").join("input.txt")).unwrap();
    assert!(
        t.lines().all(|l| l.parse::<i64>().is_ok()),
        "input.txt holds more than integers: {}",
        t.lines().next().unwrap_or("")
    );
    let (code, out_txt, err) = common::qmac_split(&[
        "layer",
        "--backend",
        "golden",
        &txt.join("index.json").display().to_string(),
    ]);
    assert_eq!(code, 0, "{out_txt}{err}");
    let (code, out_npy, _) = common::qmac_split(&["layer", "--backend", "golden", &index]);
    assert_eq!(code, 0);
    let note = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("PyTorch cases"))
            .map(str::to_owned)
    };
    assert_eq!(note(&out_txt), note(&out_npy));

    // An existing export is not overwritten without --force.
    let (code, _, err) = export(&c, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not empty (use --force"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (code, _, err) = export(&c, &["--force"]);
    assert_eq!(code, 0, "{err}");

    // Bad input: one line, exit 2.
    let bad = tmp.join("bad").display().to_string();
    let (code, _, err) = python(&["scripts/export_torch.py", "no/such/model.pt", &bad]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no/such/model.pt: no such file"), "{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn exporter_on_the_probe_model_passes_qmac_layer_on_both_engines() {
    if !torch_importable() {
        println!("skipped: torch is not importable (pip install torch)");
        return;
    }
    for (engine, kernel) in [
        ("fbgemm", "fbgemm case (fbgemm depthwise fast path)"),
        ("x86", "onednn case (oneDNN conv)"),
    ] {
        let dir = common::scratch("export", &format!("probe-{engine}"));
        let d = dir.display().to_string();
        let (code, out, err) = python(&[
            "scripts/export_torch.py",
            "scripts/torch_probe.py:build_probe",
            &d,
            "--engine",
            engine,
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let index = Path::new(&d).join("index.json").display().to_string();
        let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &index]);
        assert_eq!(code, 0, "{engine}: {out}{err}");
        let (matched, total) = emulation_counts(&out);
        assert_eq!((matched, total), (902, 902), "{out}");
        assert!(out.contains(kernel), "{out}");
        assert!(out.trim_end().ends_with("4 passed, 0 failed"), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
