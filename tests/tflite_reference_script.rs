//! scripts/tflite_reference.py: with TensorFlow importable it must reproduce
//! the fixture models' reference tensors exactly (and qmac model passes on
//! them); without TensorFlow it must say so, exit 2 (reported as skipped).

mod common;

use std::process::Command;

use common::{qmac_joined, scratch};

fn script(args: &[&str]) -> (i32, String) {
    let out = Command::new("python3")
        .arg("scripts/tflite_reference.py")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn tensorflow_importable() -> bool {
    Command::new("python3")
        .args(["-c", "import tensorflow, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn reference_script_reproduces_tflite_s_tensors() {
    let dir = scratch("tfref", "kws");
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("kws1");
    let p = prefix.to_str().unwrap();
    let model = "tests/fixtures/models/kws.tflite";
    let input = "tests/fixtures/models/kws.input1.npy";
    if !tensorflow_importable() {
        let (code, out) = script(&[model, input, p]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("needs TensorFlow"), "{out}");
        eprintln!("skipped: TensorFlow is not importable (pip install tensorflow-cpu); checked the script's error instead");
        return;
    }
    let (code, out) = script(&[model, input, p]);
    assert_eq!(code, 0, "{out}");
    let npz = format!("{p}.tensors.npz");
    let mine = qmac::formats::npy::read_npz_int8(std::path::Path::new(&npz)).unwrap();
    let fixture = qmac::formats::npy::read_npz_int8(std::path::Path::new(
        "tests/fixtures/models/kws.tensors1.npz",
    ))
    .unwrap();
    assert_eq!(
        mine, fixture,
        "the script's tensors equal the fixture's, keys included"
    );
    let output = format!("{p}.output.npy");
    let (code, out) = qmac_joined(&[
        "model",
        model,
        "--input",
        input,
        "--tensors",
        &npz,
        "--expect",
        &output,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    // Never over an existing file without --force.
    let (code, out) = script(&[model, input, p]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("exists; pass --force"), "{out}");
    let (code, out) = script(&[model, input, p, "--force"]);
    assert_eq!(code, 0, "{out}");
    // Bad input: the wrong model input shape.
    let (code, out) = script(&[
        model,
        "tests/fixtures/models/mbnet.input0.npy",
        &format!("{p}x"),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("does not match the model's [1, 490]"), "{out}");
}
