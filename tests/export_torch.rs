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

/// Without torch the exporter says what to install: one line, exit 2.
fn assert_the_no_torch_message() {
    let out = std::env::temp_dir().join(format!("qmac-export-notorch2-{}", std::process::id()));
    let (code, _, err) = python(&[
        "scripts/export_torch.py",
        "scripts/qat_blocks.py:build_quantized",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("needs torch and numpy"), "{err}");
    assert!(!out.exists());
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
    assert!(
        out.contains("5 layer case(s) and 0 elementwise case(s) written"),
        "{out}"
    );
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

/// Writes `body` as a model file in `dir` and returns its path.
fn model_file(dir: &Path, name: &str, body: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

const HEADER: &str = "import torch, torch.nn as nn, torch.ao.quantization as tq\n\n";

/// A post-training-quantized conv model built by `build()`; `conv` is the
/// Conv2d expression, `extra` runs before prepare.
fn ptq_model(conv: &str, extra: &str) -> String {
    format!(
        "{HEADER}def build():\n    m = nn.Sequential(tq.QuantStub(), {conv}, nn.Conv2d(4, 4, 1), tq.DeQuantStub())\n    \
         m.eval()\n{extra}    m.qconfig = tq.get_default_qconfig(torch.backends.quantized.engine)\n    \
         tq.prepare(m, inplace=True)\n    torch.manual_seed(0)\n    m(torch.randn(2, 3, 8, 8))\n    \
         return tq.convert(m)\n\n\ndef example_input():\n    torch.manual_seed(1)\n    return torch.randn(1, 3, 8, 8)\n"
    )
}

/// The "never surprises" items of the exporter (issue: the PyTorch path),
/// each as a user meets it.
#[test]
fn the_exporter_never_surprises() {
    if !torch_importable() {
        assert_the_no_torch_message();
        println!("skipped: torch is not importable (pip install torch)");
        return;
    }
    let tmp = common::scratch("export", "surprises");
    let out = |name: &str| tmp.join(name).display().to_string();

    // 1. PyTorch's own failure inside the user's function (padding='same'
    // cannot be converted): one line naming the exception and the user's
    // file:line, exit 2; the traceback only with --verbose.
    let same = model_file(
        &tmp,
        "same.py",
        &ptq_model("nn.Conv2d(3, 4, 3, padding=\"same\")", ""),
    );
    let (code, _, err) = python(&[
        "scripts/export_torch.py",
        &format!("{same}:build"),
        &out("o1"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{same}: build() failed: RuntimeError: quantized::conv2d_prepack()"
        )) && err.contains(&format!("at {same}:10 (--verbose for the traceback)")),
        "{err}"
    );
    let (code, _, err) = python(&[
        "scripts/export_torch.py",
        &format!("{same}:build"),
        &out("o1"),
        "--verbose",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Traceback (most recent call last)"), "{err}");
    assert!(!tmp.join("o1").exists());

    // 2. All or nothing: the first conv is written, the second is refused
    // (reflect padding): no OUT_DIR and no partial directory left behind.
    let reflect = model_file(
        &tmp,
        "reflect.py",
        &ptq_model("nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, padding_mode=\"reflect\")", ""),
    );
    let (code, _, err) = python(&[
        "scripts/export_torch.py",
        &format!("{reflect}:build"),
        &out("o2"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("padding_mode 'reflect' (only zero padding)"),
        "{err}"
    );
    assert!(!tmp.join("o2").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // 3. The engine is the one that ran: the model's own code switches to
    // x86 before building, so its convs were prepacked there (oneDNN on an
    // AVX512-VNNI CPU); the cases say so, and qmac's emulation of that
    // engine reproduces PyTorch on every output.
    let x86 = model_file(
        &tmp,
        "x86.py",
        &ptq_model(
            "nn.Conv2d(3, 4, 3, padding=1)",
            "    torch.backends.quantized.engine = \"x86\"\n",
        ),
    );
    let (code, stdout, err) = python(&[
        "scripts/export_torch.py",
        &format!("{x86}:build"),
        &out("o3"),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        err.contains(
            "ran on the x86 engine (its weights were prepacked there), not --engine fbgemm"
        ),
        "{err}"
    );
    let case = std::fs::read_to_string(tmp.join("o3/1/case.toml")).unwrap();
    assert!(case.contains("engine x86"), "{case}");
    let index = tmp.join("o3/index.json").display().to_string();
    let (code, o, e) = common::qmac_split(&["layer", "--backend", "golden", &index]);
    assert_eq!(code, 0, "{o}{e}");
    let (matched, total) = emulation_counts(&o);
    assert_eq!(matched, total, "{o}");

    // 4. A dynamically quantized model is refused by name.
    let dynamic = model_file(
        &tmp,
        "dyn.py",
        &format!("{HEADER}def build():\n    return tq.quantize_dynamic(nn.Sequential(nn.Linear(8, 4)), {{nn.Linear}}, dtype=torch.qint8)\n\n\ndef example_input():\n    return torch.randn(2, 8)\n"),
    );
    let (code, _, err) = python(&[
        "scripts/export_torch.py",
        &format!("{dynamic}:build"),
        &out("o4"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("dynamic quantization (0 (Linear)): float activations, quantized on the fly; qmac needs static int8 activations"),
        "{err}"
    );

    // 5. An all-zero conv bias (an untrained model) is warned about; several
    // samples (--input twice) give one case per sample and layer.
    let zero = model_file(
        &tmp,
        "zero.py",
        &ptq_model(
            "nn.Conv2d(3, 4, 3, padding=1)",
            "    nn.init.zeros_(m[1].bias)\n",
        ),
    );
    let s0 = tmp.join("s0.npy");
    let s1 = tmp.join("s1.npy");
    let (code, _, err) = python(&[
        "-c",
        &format!(
            "import numpy as np; r = np.random.default_rng(3); np.save('{}', r.standard_normal((1, 3, 8, 8)).astype(np.float32)); np.save('{}', r.standard_normal((1, 3, 8, 8)).astype(np.float32))",
            s0.display(),
            s1.display()
        ),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = python(&[
        "scripts/export_torch.py",
        &format!("{zero}:build"),
        &out("o5"),
        "--input",
        &s0.display().to_string(),
        "--input",
        &s1.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        err.contains("warning: layer 1: its bias is all zeros"),
        "{err}"
    );
    for c in ["1_s0", "1_s1", "2_s0", "2_s1"] {
        assert!(
            tmp.join("o5").join(c).join("case.toml").is_file(),
            "{c}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("4 layer case(s) and 0 elementwise case(s) written"),
        "{stdout}"
    );
    // Quantized modules that ran and were not exported are listed.
    assert!(
        err.contains("note: not exported: 0: the model input's float -> int quantization"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The QAT model with grouped convs, add / add_relu, cat and mul, trained for
/// a few steps and exported: every case passes `qmac layer` on the RTL.
#[test]
fn exporter_on_a_qat_model_with_grouped_conv_add_cat_mul_passes_qmac_layer() {
    if !torch_importable() {
        assert_the_no_torch_message();
        println!("skipped: torch is not importable (pip install torch)");
        return;
    }
    let tmp = common::scratch("export", "blocks");
    let model = tmp.join("model").display().to_string();
    let cases = tmp.join("cases").display().to_string();
    let (code, out, err) = python(&[
        "scripts/qat_blocks.py",
        &model,
        "--steps",
        "20",
        "--batch",
        "8",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = python(&[
        "scripts/export_torch.py",
        "scripts/qat_blocks.py:build_quantized",
        &cases,
        "--state-dict",
        &format!("{model}/qat_blocks.pt"),
        "--input",
        &format!("{model}/blocks_sample.npy"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("7 layer case(s) and 5 elementwise case(s) written"),
        "{out}"
    );
    assert!(
        out.contains("fbgemm groupwise conv") && out.contains("fbgemm GEMM (im2col, grouped)"),
        "{out}"
    );
    assert!(
        out.contains("adaptive_avg_pool ATen adaptive_avg_pool (nhwc)"),
        "{out}"
    );
    let index = format!("{cases}/index.json");
    let (code, o, e) = common::qmac_split(&["layer", &index]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.trim_end().ends_with("12 passed, 0 failed"), "{o}");
    assert!(
        o.contains(
            "RTL = golden integer bit-exact on 3 of 3 steps run on the RTL (mul, cat, batch_norm, pooling); 5 steps"
        ),
        "{o}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A BatchNorm2d left unfolded (and a BNReLU2d) is exported as a batch_norm
/// case, a Hardswish as a hardswish case; PyTorch's output is reproduced and
/// the RTL runs the batch norms.
#[test]
fn an_unfolded_batch_norm_and_a_hardswish_are_exported_and_pass_qmac_layer() {
    if !torch_importable() {
        assert_the_no_torch_message();
        println!("skipped: torch is not importable (pip install torch)");
        return;
    }
    let tmp = common::scratch("export", "bn");
    let model = model_file(
        &tmp,
        "bn.py",
        &format!(
            "{HEADER}def build():\n    m = nn.Sequential(tq.QuantStub(), nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), \
             nn.BatchNorm2d(24), nn.ReLU(), nn.Hardswish(), tq.DeQuantStub())\n    torch.manual_seed(4)\n    \
             for bn in (m[2], m[3]):\n        bn.running_mean.normal_(0, 0.3)\n        bn.running_var.uniform_(0.2, 2.0)\n        \
             bn.weight.data.normal_(1, 0.4)\n        bn.bias.data.normal_(0, 0.3)\n    m.eval()\n    \
             m = tq.fuse_modules(m, [[\"3\", \"4\"]])\n    m.qconfig = tq.get_default_qconfig(\"fbgemm\")\n    \
             tq.prepare(m, inplace=True)\n    m(torch.randn(4, 3, 8, 8))\n    return tq.convert(m)\n\n\n\
             def example_inputs():\n    torch.manual_seed(6)\n    return [torch.randn(2, 3, 8, 8)]\n"
        ),
    );
    let out = tmp.join("cases").display().to_string();
    let (code, stdout, err) = python(&["scripts/export_torch.py", &format!("{model}:build"), &out]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("1 layer case(s) and 3 elementwise case(s) written"),
        "{stdout}"
    );
    let hs = std::fs::read_to_string(tmp.join("cases/5/case.toml")).unwrap();
    assert!(hs.contains("op = \"hardswish\""), "{hs}");
    let bn_relu = std::fs::read_to_string(tmp.join("cases/3/case.toml")).unwrap();
    assert!(
        bn_relu.contains("op = \"batch_norm\"") && bn_relu.contains("BNReLU2d"),
        "{bn_relu}"
    );
    let index = format!("{out}/index.json");
    let (code, o, e) = common::qmac_split(&["layer", &index]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        o.contains(
            "RTL = golden integer bit-exact on 2 of 2 steps run on the RTL (mul, cat, batch_norm, pooling); 3 steps"
        ),
        "{o}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// What the exporter refuses before it imports torch (so this runs with or
/// without it): --force never deletes what it did not write, the export
/// never lands in the current directory or in one holding its inputs, and a
/// model file without its function says how to name it. Each is one line,
/// exit 2, and the user's files survive.
#[test]
fn the_exporter_never_deletes_what_it_did_not_write() {
    let tmp = common::scratch("export", "force");
    let notes = tmp.join("mine");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("notes.txt"), "keep me").unwrap();
    let model = notes.join("net.py");
    std::fs::write(&model, "def build():\n    return None\n").unwrap();
    let spec = format!("{}:build", model.display());
    let run = |args: &[&str], dir: &Path| {
        let out = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/export_torch.py"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("python3 runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let other = tmp.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("data.txt"), "mine too").unwrap();
    for (args, dir, want) in [
        (vec![spec.as_str(), ".", "--force"], notes.clone(), "is the current directory or holds it"),
        (vec![spec.as_str(), notes.to_str().unwrap(), "--force"], tmp.clone(), "holds the input"),
        (
            vec![spec.as_str(), other.to_str().unwrap(), "--force"],
            tmp.clone(),
            "not empty and not an export of export_torch.py (no index.json of it); --force replaces only an earlier export, so nothing was deleted",
        ),
        (vec![spec.as_str(), other.to_str().unwrap()], tmp.clone(), "not empty (use --force to replace an earlier export there)"),
        (
            vec![model.to_str().unwrap(), tmp.join("x").to_str().unwrap()],
            tmp.clone(),
            "a Python file needs the function that returns the converted model: MODEL is FILE.py:FUNCTION",
        ),
    ] {
        let (code, err) = run(&args, &dir);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(notes.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert!(model.is_file());
    assert_eq!(
        std::fs::read_to_string(other.join("data.txt")).unwrap(),
        "mine too"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
