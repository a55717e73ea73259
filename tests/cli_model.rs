//! `qmac model`: the three fixture models (copied from TFLite 2.21 reference
//! runs), both sample inputs, conv/dw/FC on the Verilated RTL: every
//! intermediate tensor and the final output bit-exact. Plus divergence
//! reporting, --dump-cases, and bad input (exit 2, one line, no panic).

mod common;

use std::path::{Path, PathBuf};

use common::{qmac_joined, qmac_split, scratch};

const MODELS: [&str; 3] = ["mbnet", "resnet", "kws"];

fn fx(name: &str) -> String {
    format!("tests/fixtures/models/{name}")
}

fn model_args(m: &str, backend: &str) -> Vec<String> {
    vec![
        "model".into(),
        fx(&format!("{m}.tflite")),
        "--input".into(),
        fx(&format!("{m}.input0.npy")),
        fx(&format!("{m}.input1.npy")),
        "--tensors".into(),
        fx(&format!("{m}.tensors0.npz")),
        fx(&format!("{m}.tensors1.npz")),
        "--expect".into(),
        fx(&format!("{m}.output0.npy")),
        fx(&format!("{m}.output1.npy")),
        "--backend".into(),
        backend.into(),
    ]
}

fn run(args: &[String]) -> (i32, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    qmac_joined(&a)
}

/// Number of operators of a model, from its ops.json.
fn op_count(m: &str) -> usize {
    let text = std::fs::read_to_string(fx(&format!("{m}.ops.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["operators"].as_array().unwrap().len()
}

/// The per-op rows of `qmac model`'s tables (`index TYPE …`).
fn op_rows(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            w.next().is_some_and(|t| t.parse::<usize>().is_ok())
                && w.next().is_some_and(|t| {
                    t.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                })
        })
        .collect()
}

/// Check the per-op rows of the table: every op compared, 0 mismatches.
fn assert_all_rows_exact(out: &str, m: &str, backend_col: &str) {
    let ops = op_count(m);
    let rows = op_rows(out);
    assert_eq!(rows.len(), 2 * ops, "{m}: one row per op per input\n{out}");
    for r in &rows {
        let w: Vec<&str> = r.split_whitespace().collect();
        let at = w
            .iter()
            .position(|t| t.contains('/'))
            .unwrap_or_else(|| panic!("{r}"));
        let mism = w[at];
        let (bad, total) = mism.split_once('/').unwrap();
        assert_eq!(bad, "0", "{m}: {r}");
        assert!(total.parse::<usize>().unwrap() > 0, "{r}");
        if ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"].contains(&w[1]) {
            assert!(
                w.contains(&backend_col),
                "{m}: MAC op not on {backend_col}: {r}"
            );
            if backend_col != "golden" {
                let beats: u64 = w[at - 2].parse().unwrap_or_else(|_| panic!("{r}"));
                assert!(beats > 0, "{r}");
                assert!(r.contains("rtl-vs-golden 0"), "{r}");
            }
        } else {
            assert!(w.contains(&"golden"), "{r}");
        }
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");
}

#[test]
fn three_models_bit_exact_on_the_rtl() {
    for m in MODELS {
        let mut args = model_args(m, "rtl");
        args.extend(["--jobs".into(), "2".into()]);
        let (code, out) = run(&args);
        assert_eq!(code, 0, "{m}:\n{out}");
        assert_all_rows_exact(&out, m, "rtl");
        let n = op_count(m);
        assert!(
            out.contains(&format!(
                "PASS {m}.input0.npy: {n} ops, {n} tensor(s) + final output compared ("
            )),
            "{out}"
        );
        assert!(out.contains(", 0 mismatching;"), "{out}");
    }
}

#[test]
fn three_models_bit_exact_on_the_golden_model_and_both() {
    for m in MODELS {
        let (code, out) = run(&model_args(m, "golden"));
        assert_eq!(code, 0, "{m}:\n{out}");
        assert_all_rows_exact(&out, m, "golden");
    }
    let (code, out) = run(&model_args("mbnet", "both"));
    assert_eq!(code, 0, "{out}");
    assert_all_rows_exact(&out, "mbnet", "rtl+golden");
}

#[test]
fn lanes_1_with_backpressure_is_bit_exact_too() {
    let mut args = model_args("mbnet", "rtl");
    args.extend([
        "--lanes".into(),
        "1".into(),
        "--backpressure".into(),
        "--seed".into(),
        "7".into(),
    ]);
    let (code, out) = run(&args);
    assert_eq!(code, 0, "{out}");
    assert_all_rows_exact(&out, "mbnet", "rtl");
    assert!(out.contains("LANES=1"), "{out}");
}

#[test]
fn a_diverging_tensor_names_the_op_and_exits_1() {
    let dir = scratch("model", "diverge");
    std::fs::create_dir_all(&dir).unwrap();
    // t28 is the output of mbnet op 2 (CONV_2D).
    let npz = dir.join("tensors0.npz");
    common::tampered_npz(&fx("mbnet.tensors0.npz"), "t28_", 5, 1, &npz);
    let (code, out) = qmac_joined(&[
        "model",
        &fx("mbnet.tflite"),
        "--input",
        &fx("mbnet.input0.npy"),
        "--tensors",
        npz.to_str().unwrap(),
        "--backend",
        "golden",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first diverging op: 2 (CONV_2D)"), "{out}");
    assert!(
        out.contains("differs from the reference on 1 of 4096 values"),
        "{out}"
    );
    assert!(out.contains("replay: qmac model"), "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");

    // A wrong expected output: exit 1 as well.
    let (code, out) = qmac_joined(&[
        "model",
        &fx("mbnet.tflite"),
        "--input",
        &fx("mbnet.input0.npy"),
        "--expect",
        &fx("mbnet.output1.npy"),
        "--backend",
        "golden",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("final output differs from --expect"), "{out}");
}

#[test]
fn dump_cases_writes_every_mac_op_as_a_runnable_qcase() {
    let dir = scratch("model", "dump");
    let (code, out) = qmac_joined(&[
        "model",
        &fx("kws.tflite"),
        "--input",
        &fx("kws.input1.npy"),
        "--tensors",
        &fx("kws.tensors1.npz"),
        "--backend",
        "golden",
        "--dump-cases",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // kws: 5 CONV_2D + 4 DEPTHWISE_CONV_2D + 1 FULLY_CONNECTED, and their index.
    assert_eq!(files.len(), 11, "{files:?}");
    let at = files
        .iter()
        .position(|f| f.ends_with("index.json"))
        .expect("index.json");
    files.remove(at);
    assert!(
        out.contains(&format!(
            "run them: qmac layer {}/index.json",
            dir.display()
        )),
        "{out}"
    );
    assert!(
        files[0].ends_with("kws.input1.op01.conv2d.json")
            && !files[0].ends_with("kws.kws.input1.op01.conv2d.json"),
        "{files:?}"
    );
    // Each dumped case carries TFLite's output: `qmac layer` on the RTL passes them all.
    let args = vec![
        "layer".to_string(),
        dir.join("index.json").display().to_string(),
    ];
    let (code, out) = run(&args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("10 passed, 0 failed"), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with("PASS") && l.contains("golden mismatches 0"))
            .count()
            == 10,
        "{out}"
    );
    // Existing files are not replaced without --force.
    let before = std::fs::read(&files[0]).unwrap();
    let (code, out) = qmac_joined(&[
        "model",
        &fx("kws.tflite"),
        "--input",
        &fx("kws.input1.npy"),
        "--backend",
        "golden",
        "--dump-cases",
        dir.to_str().unwrap(),
    ]);
    // Refused before any work, naming the flag that allows it.
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "--dump-cases: exists and is not empty; refusing to write into it (pass --force"
        ),
        "{out}"
    );
    assert!(!out.contains("input "), "{out}");
    assert!(
        std::fs::read(&files[0]).unwrap() == before,
        "an existing file was changed"
    );
    // All or nothing: a run that fails part-way (the second input is not a
    // valid tensor for this model) leaves no file behind and no staging
    // directory.
    let fresh = scratch("model", "dump-partial");
    let bad = scratch("model", "dump-bad").with_extension("npy");
    qmac::formats::npy::write_npy_int8(&bad, &[1, 3], &[1, 2, 3], true).unwrap();
    let (code, out) = qmac_joined(&[
        "model",
        &fx("kws.tflite"),
        "--input",
        &fx("kws.input1.npy"),
        bad.to_str().unwrap(),
        "--backend",
        "golden",
        "--dump-cases",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(!fresh.exists(), "{out}");
    let parent = fresh.parent().unwrap();
    assert!(
        !std::fs::read_dir(parent).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("dump-partial.partial-")),
        "a staging directory was left behind"
    );
    let _ = std::fs::remove_file(&bad);
    // With --force the dumped files are replaced, other files kept.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let (code, out) = qmac_joined(&[
        "model",
        &fx("kws.tflite"),
        "--input",
        &fx("kws.input1.npy"),
        "--tensors",
        &fx("kws.tensors1.npz"),
        "--backend",
        "golden",
        "--dump-cases",
        dir.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        std::fs::read(&files[0]).unwrap() == before,
        "the same case, rewritten"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- bad input --------------------------------------------------------------

fn one_line_exit_2(args: &[&str], needle: &str) {
    let (code, out, err) = qmac_split(args);
    assert_eq!(code, 2, "{args:?}\n{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "want `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Position of a table's field `id` (flatbuffer layout), if present.
fn field_pos(b: &[u8], table: usize, id: usize) -> Option<usize> {
    let rd32 = |p: usize| i32::from_le_bytes(b[p..p + 4].try_into().unwrap());
    let rd16 = |p: usize| u16::from_le_bytes(b[p..p + 2].try_into().unwrap()) as usize;
    let vt = (table as i64 - rd32(table) as i64) as usize;
    let off = 4 + 2 * id;
    if off >= rd16(vt) {
        return None;
    }
    match rd16(vt + off) {
        0 => None,
        fo => Some(table + fo),
    }
}

fn deref(b: &[u8], p: usize) -> usize {
    p + u32::from_le_bytes(b[p..p + 4].try_into().unwrap()) as usize
}

/// The model with its operator code `k` replaced by `code`.
fn with_opcode(bytes: &[u8], k: usize, code: i32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let root = deref(&b, 0);
    let codes = deref(&b, field_pos(&b, root, 1).unwrap());
    let table = deref(&b, codes + 4 + 4 * k);
    let mut changed = false;
    if let Some(p) = field_pos(&b, table, 0) {
        b[p] = code.min(127) as u8;
        changed = true;
    }
    if let Some(p) = field_pos(&b, table, 3) {
        b[p..p + 4].copy_from_slice(&code.to_le_bytes());
        changed = true;
    }
    assert!(changed);
    b
}

/// Position of field `id` of tensor `k` of subgraph 0.
fn tensor_field(b: &[u8], k: usize, id: usize) -> usize {
    let root = deref(b, 0);
    let subgraphs = deref(b, field_pos(b, root, 2).unwrap());
    let sg = deref(b, subgraphs + 4);
    let tensors = deref(b, field_pos(b, sg, 0).unwrap());
    let t = deref(b, tensors + 4 + 4 * k);
    field_pos(b, t, id).expect("field present")
}

#[test]
fn non_int8_tensors_and_missing_buffers_are_exit_2() {
    let dir = scratch("model", "types");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(fx("mbnet.tflite")).unwrap();
    let input = fx("mbnet.input0.npy");
    // mbnet tensor 26 is op 0's output: make it FLOAT32 (type 0 → field 1).
    let mut b = good.clone();
    let p = tensor_field(&b, 26, 1);
    assert_eq!(b[p], 9, "INT8");
    b[p] = 0;
    let f = dir.join("float.tflite");
    std::fs::write(&f, &b).unwrap();
    one_line_exit_2(
        &[
            "model",
            f.to_str().unwrap(),
            "--input",
            &input,
            "--backend",
            "golden",
        ],
        "float.tflite: op 0 (CONV_2D): tensor 26 (`",
    );
    let (_, _, err) = qmac_split(&["model", f.to_str().unwrap(), "--input", &input]);
    assert!(
        err.contains("is FLOAT32, only int8 activations are supported"),
        "{err}"
    );
    // Tensor 25 is op 0's filter: point it at buffer 0 (the empty sentinel).
    let mut b = good.clone();
    let p = tensor_field(&b, 25, 2);
    b[p..p + 4].copy_from_slice(&0u32.to_le_bytes());
    let f = dir.join("nobuf.tflite");
    std::fs::write(&f, &b).unwrap();
    one_line_exit_2(
        &[
            "model",
            f.to_str().unwrap(),
            "--input",
            &input,
            "--backend",
            "golden",
        ],
        "nobuf.tflite: op 0 (CONV_2D): constant tensor 25 (`",
    );
    let (_, _, err) = qmac_split(&["model", f.to_str().unwrap(), "--input", &input]);
    assert!(err.contains("has no buffer data (buffer 0)"), "{err}");
}

#[test]
fn corrupted_and_unsupported_models_are_exit_2() {
    let dir = scratch("model", "bad");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(fx("mbnet.tflite")).unwrap();
    let input = fx("mbnet.input0.npy");

    let trunc = dir.join("truncated.tflite");
    std::fs::write(&trunc, &good[..good.len() / 2]).unwrap();
    one_line_exit_2(
        &[
            "model",
            trunc.to_str().unwrap(),
            "--input",
            &input,
            "--backend",
            "golden",
        ],
        "truncated.tflite: flatbuffer: corrupted or truncated TFLite FlatBuffer",
    );

    // Operator code 0 of mbnet is CONV_2D (op 0); make it EMBEDDING_LOOKUP (7), then an unknown code.
    let mul = dir.join("mul.tflite");
    std::fs::write(&mul, with_opcode(&good, 0, 7)).unwrap();
    one_line_exit_2(
        &[
            "model",
            mul.to_str().unwrap(),
            "--input",
            &input,
            "--backend",
            "golden",
        ],
        "mul.tflite: operators: 6 unsupported ops: EMBEDDING_LOOKUP (ops 0, 2, 4, 6, 8, 10); qmac runs CONV_2D, ",
    );
    // Two unsupported types at once: one error lists both, with every op index.
    let two = dir.join("two.tflite");
    std::fs::write(&two, with_opcode(&with_opcode(&good, 0, 15), 1, 7)).unwrap();
    let (code, _, err) = qmac_split(&[
        "model",
        two.to_str().unwrap(),
        "--input",
        &input,
        "--backend",
        "golden",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("operators: 11 unsupported ops: LSH_PROJECTION (ops 0, 2, 4, 6, 8, 10), EMBEDDING_LOOKUP (ops 1, 3, 5, 7, 9); qmac runs CONV_2D"), "{err}");
    let unknown = dir.join("unknown.tflite");
    std::fs::write(&unknown, with_opcode(&good, 0, 999)).unwrap();
    one_line_exit_2(
        &[
            "model",
            unknown.to_str().unwrap(),
            "--input",
            &input,
            "--backend",
            "golden",
        ],
        "operators: 6 unsupported ops: BUILTIN_999 (ops 0, 2, 4, 6, 8, 10); qmac runs ",
    );

    let garbage = dir.join("garbage.tflite");
    std::fs::write(&garbage, b"this is not a flatbuffer at all").unwrap();
    one_line_exit_2(
        &["model", garbage.to_str().unwrap(), "--input", &input],
        "garbage.tflite: byte 4: file identifier is not `TFL3`",
    );
    one_line_exit_2(
        &["model", "no/such.tflite", "--input", &input],
        "no/such.tflite: file: cannot read",
    );

    // Inputs: wrong shape, wrong dtype range, wrong count of --expect, bad npz.
    let m = fx("mbnet.tflite");
    one_line_exit_2(
        &[
            "model",
            &m,
            "--input",
            &fx("kws.input0.npy"),
            "--backend",
            "golden",
        ],
        "kws.input0.npy: array: shape [1, 490] does not match the model's [1, 32, 32, 3]",
    );
    let wide = dir.join("wide.npy");
    {
        use ndarray_npy::WriteNpyExt;
        let a = ndarray::Array4::<i16>::from_elem((1, 32, 32, 3), 300);
        a.write_npy(std::fs::File::create(&wide).unwrap()).unwrap();
    }
    one_line_exit_2(
        &[
            "model",
            &m,
            "--input",
            wide.to_str().unwrap(),
            "--backend",
            "golden",
        ],
        "wide.npy: element 0: value 300 is not int8",
    );
    one_line_exit_2(
        &[
            "model",
            &m,
            "--input",
            &input,
            "--expect",
            &fx("mbnet.output0.npy"),
            &fx("mbnet.output1.npy"),
        ],
        "--expect: arguments: 2 file(s) given for 1 --input file(s)",
    );
    one_line_exit_2(
        &[
            "model",
            &m,
            "--input",
            &input,
            "--tensors",
            &fx("kws.tensors0.npz"),
            "--backend",
            "golden",
        ],
        // Another model's tensors: its model input is not this one.
        "kws.tensors0.npz: member t0_*: shape [1, 490] does not match the model's [1, 32, 32, 3]",
    );
    one_line_exit_2(
        &["model", &m, "--input", &input, "--lanes", "3"],
        "--lanes: value: this qmac build has no Verilated model with LANES=3",
    );
    let badnpz = dir.join("bad.npz");
    std::fs::write(&badnpz, b"PK\x03\x04 definitely not a zip").unwrap();
    one_line_exit_2(
        &[
            "model",
            &m,
            "--input",
            &input,
            "--tensors",
            badnpz.to_str().unwrap(),
        ],
        "bad.npz: file: not a valid .npz (zip) archive",
    );
}

#[test]
fn save_output_writes_tflite_s_output_and_never_overwrites() {
    let dir = scratch("model", "save");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("y.npy");
    let o = out.to_str().unwrap();
    let args = [
        "model",
        &fx("resnet.tflite"),
        "--input",
        &fx("resnet.input1.npy"),
        "--backend",
        "golden",
        "--save-output",
        o,
    ];
    let (code, text) = qmac_joined(&args);
    assert_eq!(code, 0, "{text}");
    let got = qmac::formats::npy::read_npy_int8(&out).unwrap();
    let want = qmac::formats::npy::read_npy_int8(Path::new(&fx("resnet.output1.npy"))).unwrap();
    assert_eq!(got, want);
    // A second run refuses to replace it (exit 2, file untouched) unless --force.
    std::fs::write(&out, b"mine").unwrap();
    one_line_exit_2(
        &args,
        "y.npy: --save-output: exists; refusing to overwrite it (pass --force to replace it)",
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"mine");
    let mut forced = args.to_vec();
    forced.push("--force");
    let (code, text) = qmac_joined(&forced);
    assert_eq!(code, 0, "{text}");
    assert_eq!(qmac::formats::npy::read_npy_int8(&out).unwrap(), want);
}

/// The op probes (tests/fixtures/op_probes: small Keras models converted by
/// TFLite 2.21, reference tensors from its BUILTIN_REF kernels): together with
/// the three models they put every op qmac runs through a real converted
/// model; each is bit-exact on every tensor, through the RTL.
#[test]
fn op_probes_cover_every_supported_op_bit_exactly() {
    let mut seen = std::collections::BTreeSet::new();
    for m in [
        "pool_concat_pad",
        "broadcast_add_mean",
        "softmax_quantize",
        "constant_operands",
        "activations_minmax",
        "mul_broadcast",
        "hard_swish",
        "sub_broadcast",
        "logistic_tanh",
        "prelu",
        "resize",
        "shapes",
        "transpose_conv",
        "yolo_head",
        "depth_to_space",
        "seg_decoder",
        "dequantize",
        "two_inputs",
        "grouped_conv",
    ] {
        let p = |f: String| format!("tests/fixtures/op_probes/{f}");
        // A model of several inputs takes each sample as one .npz.
        let ext = if m == "two_inputs" { "npz" } else { "npy" };
        let args: Vec<String> = vec![
            "model".into(),
            p(format!("{m}.tflite")),
            "--input".into(),
            p(format!("{m}.input0.{ext}")),
            p(format!("{m}.input1.{ext}")),
            "--tensors".into(),
            p(format!("{m}.tensors0.npz")),
            p(format!("{m}.tensors1.npz")),
            "--expect".into(),
            p(format!("{m}.output0.npy")),
            p(format!("{m}.output1.npy")),
        ];
        let (code, out) = run(&args);
        assert_eq!(code, 0, "{m}:\n{out}");
        assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");
        if m == "yolo_head" {
            // Two model outputs: both are reference tensors, both compared.
            assert!(out.contains("2 model outputs (tensors "), "{out}");
        }
        for l in op_rows(&out) {
            let w: Vec<&str> = l.split_whitespace().collect();
            let mism = w
                .iter()
                .find(|t| t.contains('/'))
                .unwrap_or_else(|| panic!("{l}"));
            assert!(mism.starts_with("0/"), "{m}: {l}");
            seen.insert(w[1].to_string());
        }
    }
    for m in MODELS {
        let (code, out) = run(&model_args(m, "golden"));
        assert_eq!(code, 0, "{out}");
        for l in op_rows(&out) {
            seen.insert(l.split_whitespace().nth(1).unwrap().to_string());
        }
    }
    // The rule `qmac model` checks every op against, not a copy of it.
    let want: std::collections::BTreeSet<String> = qmac::model::SUPPORTED_OPS
        .iter()
        .map(|&c| qmac::formats::tflite::op_name(c))
        .filter(|n| n != "PADV2")
        .collect();
    assert_eq!(want.len(), qmac::model::SUPPORTED_OPS.len() - 1);
    assert_eq!(
        seen, want,
        "every op qmac runs (except PADV2) appears in a real model"
    );
}

/// `--jobs 2` runs the inputs on two DUTs in parallel: every reported
/// figure (per-op beats, cycles, mismatches, the verdicts) and the saved
/// outputs are those of `--jobs 1`, under random backpressure.
#[test]
fn jobs_2_reports_exactly_what_jobs_1_does() {
    let dir = scratch("model", "jobs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut outs = Vec::new();
    for jobs in ["1", "2"] {
        let mut args = model_args("kws", "rtl");
        let sub = dir.join(format!("jobs{jobs}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (o0, o1) = (sub.join("y0.npy"), sub.join("y1.npy"));
        args.extend([
            "--backpressure".into(),
            "--seed".into(),
            "7".into(),
            "--jobs".into(),
            jobs.into(),
            "--save-output".into(),
            o0.display().to_string(),
            o1.display().to_string(),
        ]);
        let (code, out) = run(&args);
        assert_eq!(code, 0, "--jobs {jobs}:\n{out}");
        // Wall-clock seconds at the end of each PASS line are the only difference allowed.
        let text: Vec<String> = out
            .lines()
            .map(|l| match l.rsplit_once("; ") {
                Some((head, tail)) if l.starts_with("PASS ") && tail.ends_with(" s") => {
                    head.to_string()
                }
                _ => l.replace(&sub.display().to_string(), "<out>"),
            })
            .collect();
        outs.push((
            text,
            std::fs::read(&o0).unwrap(),
            std::fs::read(&o1).unwrap(),
        ));
    }
    assert!(
        outs[0].0.iter().any(|l| l.starts_with("    1  CONV_2D")),
        "{:?}",
        outs[0].0
    );
    assert_eq!(outs[0], outs[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One input with `--jobs 2`: every MAC op is split across two DUTs (its
/// channel groups in two shares, each on its own core) and the run is the
/// `--jobs 1` run: the same outputs, beats and verdicts of every op (cycles
/// may differ by the second pipeline's drain), under random backpressure;
/// the replay command names the split.
#[test]
fn one_input_split_across_two_duts_is_the_single_dut_run() {
    let dir = scratch("model", "split");
    std::fs::create_dir_all(&dir).unwrap();
    let mut runs = Vec::new();
    for jobs in ["1", "2"] {
        let (y, json) = (
            dir.join(format!("y{jobs}.npy")),
            dir.join(format!("r{jobs}.json")),
        );
        let (code, out) = run(&[
            "model".into(),
            fx("mbnet.tflite"),
            "--input".into(),
            fx("mbnet.input0.npy"),
            "--tensors".into(),
            fx("mbnet.tensors0.npz"),
            "--expect".into(),
            fx("mbnet.output0.npy"),
            "--backpressure".into(),
            "--jobs".into(),
            jobs.into(),
            "--save-output".into(),
            y.display().to_string(),
            "--json".into(),
            json.display().to_string(),
        ]);
        assert_eq!(code, 0, "--jobs {jobs}:\n{out}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let ops: Vec<(u64, bool, serde_json::Value)> = v["results"][0]["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["beats"].as_u64().unwrap(),
                    o["ok"].as_bool().unwrap(),
                    o["reference"].clone(),
                )
            })
            .collect();
        let replay = v["results"][0]["replay"].as_str().unwrap().to_string();
        runs.push((std::fs::read(&y).unwrap(), ops, replay));
    }
    assert_eq!(runs[0].0, runs[1].0, "the saved outputs differ");
    assert_eq!(runs[0].1, runs[1].1, "per-op beats / verdicts differ");
    assert!(runs[0].1.iter().any(|(b, _, _)| *b > 1000));
    assert!(!runs[0].2.contains("--jobs"), "{}", runs[0].2);
    assert!(
        runs[1].2.ends_with("--backpressure --jobs 2"),
        "{}",
        runs[1].2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--json -` prints only the JSON (the report goes to stderr) and `--junit`
/// writes a testsuite per input with a testcase per op, valid in the Ant
/// JUnit schema, the diverging op failed with the replay command.
#[test]
fn json_and_junit_reports_name_the_diverging_op() {
    let dir = scratch("model", "reports");
    std::fs::create_dir_all(&dir).unwrap();
    let npz = dir.join("tensors0.npz");
    common::tampered_npz(&fx("mbnet.tensors0.npz"), "t28_", 5, 1, &npz);
    let junit = dir.join("j.xml");
    let (code, out, err) = qmac_split(&[
        "model",
        &fx("mbnet.tflite"),
        "--input",
        &fx("mbnet.input0.npy"),
        "--tensors",
        npz.to_str().unwrap(),
        "--json",
        "-",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is only JSON");
    assert!(err.contains("first diverging op: 2 (CONV_2D)"), "{err}");
    assert_eq!(v["verdict"], "FAIL");
    assert_eq!(v["backend"], "rtl");
    let r = &v["results"][0];
    assert_eq!(r["first_diverging_op"], 2);
    assert_eq!(r["ops"][2]["op"], "CONV_2D");
    assert_eq!(r["ops"][2]["ok"], false);
    assert_eq!(r["ops"][2]["reference"]["mismatches"], 1);
    assert_eq!(r["ops"][1]["ok"], true);
    assert!(r["replay"].as_str().unwrap().starts_with("qmac model "));
    common::validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 14, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("name=\"op02_CONV_2D\" time="), "{xml}");
    assert!(xml.contains("message=\"op 2 (CONV_2D) differs\""), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--waves DIR`: one FST waveform per input of the model's RTL run.
#[test]
fn waves_for_every_input() {
    let dir = scratch("model", "waves");
    let probes = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/op_probes");
    let (code, out) = qmac_joined(&[
        "model",
        &format!("{probes}/wide_fc.tflite"),
        "--input",
        &format!("{probes}/wide_fc.input0.npy"),
        &format!("{probes}/wide_fc.input1.npy"),
        "--waves",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    for i in ["wide_fc.input0.npy.fst", "wide_fc.input1.npy.fst"] {
        let len = std::fs::metadata(dir.join(i)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{i}: {len} bytes\n{out}");
    }
    let (code, out) = qmac_joined(&[
        "model",
        &format!("{probes}/wide_fc.tflite"),
        "--input",
        &format!("{probes}/wide_fc.input0.npy"),
        "--backend",
        "golden",
        "--waves",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--waves: value: needs the RTL"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lowering's split and progress, on a real layer: two DUTs give the
/// one-DUT outputs, accumulators and beats, under backpressure too; the
/// progress counter grows by the layer's MACs per output for every output.
#[test]
fn a_layer_split_across_duts_equals_one_dut_and_reports_its_macs() {
    use qmac::cosim::dut::Dut;
    use qmac::cosim::lowering::run_layer_on;
    use qmac::cosim::transaction::Backpressure;
    use std::sync::atomic::{AtomicU64, Ordering};
    let path = format!(
        "{}/tests/fixtures/tflite/cnn_a_op0_conv2d.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let case = qmac::formats::qcase::Case::read(std::path::Path::new(&path)).unwrap();
    let outputs: u64 = case.output_shape.iter().product::<usize>() as u64;
    for bp in [Backpressure::NONE, Backpressure::RANDOM] {
        let opt = qmac::cosim::RunOptions {
            seed: 3,
            backpressure: bp,
            replay: "test".into(),
            stop_on_failure: false,
            coverage: false,
        };
        let ctr = AtomicU64::new(0);
        let mut one = [Dut::new(8, 1, false).unwrap()];
        let a = run_layer_on(&case, &mut one, &opt, Some(&ctr)).unwrap();
        assert_eq!(ctr.load(Ordering::Relaxed), case.macs() / outputs * outputs);
        let mut three: Vec<Dut> = (0..3).map(|_| Dut::new(8, 1, false).unwrap()).collect();
        let b = run_layer_on(&case, &mut three, &opt, None).unwrap();
        assert!(a.stats.passed() && b.stats.passed());
        assert_eq!(a.output, b.output);
        assert_eq!(a.acc, b.acc);
        assert_eq!(a.stats.beats, b.stats.beats);
        assert_eq!(a.stats.dots, b.stats.dots);
        assert!(
            a.output.iter().all(|&y| y != i32::MIN),
            "every output computed"
        );
    }
}

/// A DEQUANTIZE model output is float32: its reference tensor and `--expect`
/// are compared bit for bit (one ULP off fails, naming the element),
/// `--save-output` writes float32, an int8 `--expect` is exit 2, and a
/// DEQUANTIZE whose output is not float32 is refused.
#[test]
fn float32_outputs_are_compared_bit_for_bit() {
    use ndarray_npy::{NpzReader, NpzWriter, ReadNpyExt, WriteNpyExt};
    let p = |f: &str| format!("tests/fixtures/op_probes/{f}");
    let dir = scratch("model", "float32");
    std::fs::create_dir_all(&dir).unwrap();
    // t15 is the float32 logits (DEQUANTIZE op 6): one ULP up at element 3.
    let npz = dir.join("tensors0.npz");
    let mut r = NpzReader::new(std::fs::File::open(p("dequantize.tensors0.npz")).unwrap()).unwrap();
    let mut w = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    let mut floats = 0;
    for n in r.names().unwrap() {
        let key = n.trim_end_matches(".npy").to_string();
        match r.by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>(&n) {
            Ok(mut a) => {
                floats += 1;
                if key.starts_with("t15_") {
                    let v = &mut a.as_slice_mut().unwrap()[3];
                    *v = f32::from_bits(v.to_bits() + 1);
                }
                w.add_array(key, &a).unwrap();
            }
            Err(_) => {
                let a: ndarray::ArrayD<i8> = r.by_name(&n).unwrap();
                w.add_array(key, &a).unwrap();
            }
        }
    }
    w.finish().unwrap();
    assert_eq!(floats, 2, "two float32 outputs in the reference");
    let (code, out) = qmac_joined(&[
        "model",
        &p("dequantize.tflite"),
        "--input",
        &p("dequantize.input0.npy"),
        "--tensors",
        npz.to_str().unwrap(),
        "--expect",
        &p("dequantize.output0.npy"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first diverging op: 6 (DEQUANTIZE)"), "{out}");
    assert!(
        out.contains(
            "float32 output tensor t15 differs from the reference on 1 of 10 values (bit for bit"
        ),
        "{out}"
    );
    assert!(out.contains("t15 element [0, 3] (flat 3): got "), "{out}");
    // The untouched run passes, and --save-output writes TFLite's float32 output.
    let saved = dir.join("out.npy");
    let (code, out) = qmac_joined(&[
        "model",
        &p("dequantize.tflite"),
        "--input",
        &p("dequantize.input1.npy"),
        "--tensors",
        &p("dequantize.tensors1.npz"),
        "--expect",
        &p("dequantize.output1.npy"),
        "--save-output",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let ours = ndarray::ArrayD::<f32>::read_npy(std::fs::File::open(&saved).unwrap()).unwrap();
    let tfl =
        ndarray::ArrayD::<f32>::read_npy(std::fs::File::open(p("dequantize.output1.npy")).unwrap())
            .unwrap();
    assert_eq!(ours.shape(), tfl.shape());
    assert!(ours
        .iter()
        .zip(&tfl)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    // --expect one ULP off: exit 1.
    let mut off = tfl.clone();
    off.as_slice_mut().unwrap()[7] = f32::from_bits(off.as_slice().unwrap()[7].to_bits() ^ 1);
    let bad = dir.join("off.npy");
    off.write_npy(std::fs::File::create(&bad).unwrap()).unwrap();
    let (code, out) = qmac_joined(&[
        "model",
        &p("dequantize.tflite"),
        "--input",
        &p("dequantize.input1.npy"),
        "--expect",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("final float32 output differs from --expect on 1 of 64 values, bit for bit"),
        "{out}"
    );
    // An int8 --expect for a float32 output: exit 2, one line.
    one_line_exit_2(
        &[
            "model",
            &p("dequantize.tflite"),
            "--input",
            &p("dequantize.input0.npy"),
            "--expect",
            &p("dequantize.input0.npy"),
        ],
        "a float32 array is needed",
    );
    // A DEQUANTIZE whose output is int8 (mbnet op 2 relabelled): exit 2.
    let m = dir.join("deq_int8.tflite");
    std::fs::write(
        &m,
        with_opcode(&std::fs::read(fx("mbnet.tflite")).unwrap(), 2, 6),
    )
    .unwrap();
    one_line_exit_2(
        &[
            "model",
            m.to_str().unwrap(),
            "--input",
            &fx("mbnet.input0.npy"),
        ],
        "qmac runs DEQUANTIZE to float32",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A model of two inputs: each sample is one .npz holding every model input
/// (its --tensors file serves too), bit-exact through the RTL; an .npy, an
/// .npz without one of the inputs, or reference tensors of the other sample
/// are one-line exit-2 errors naming what is wrong.
#[test]
fn a_model_of_two_inputs_takes_each_sample_as_one_npz() {
    let p = |f: &str| format!("tests/fixtures/op_probes/{f}");
    let (code, out) = qmac_joined(&[
        "model",
        &p("two_inputs.tflite"),
        "--input",
        &p("two_inputs.tensors0.npz"),
        &p("two_inputs.input1.npz"),
        "--tensors",
        &p("two_inputs.tensors0.npz"),
        &p("two_inputs.tensors1.npz"),
        "--expect",
        &p("two_inputs.output0.npy"),
        &p("two_inputs.output1.npy"),
        "--jobs",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 model inputs (t0 `serving_default_feat:0` [1, 4, 4, 8], t1 `serving_default_img:0` [1, 8, 8, 3])"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");
    one_line_exit_2(
        &[
            "model",
            &p("two_inputs.tflite"),
            "--input",
            &p("two_inputs.output0.npy"),
        ],
        "the model has 2 inputs (t0 [1, 4, 4, 8], t1 [1, 8, 8, 3]): give one .npz per sample",
    );
    one_line_exit_2(
        &[
            "model",
            &p("two_inputs.tflite"),
            "--input",
            &p("mul_broadcast.tensors0.npz"),
        ],
        "member t1_*: missing: model input 1 (tensor 1 `serving_default_img:0`",
    );
    one_line_exit_2(
        &[
            "model",
            &p("two_inputs.tflite"),
            "--input",
            &p("two_inputs.input1.npz"),
            "--tensors",
            &p("two_inputs.tensors0.npz"),
        ],
        "the tensors belong to another input",
    );
}

/// Reference and output files are checked against the model before anything
/// runs, so no reference is skipped unseen and no output replaces another:
/// float data for an int8 tensor, integer data for a float32 (DEQUANTIZE)
/// tensor, a member that is no tensor of the model, a file that matches no
/// op output, two members for one model input, an --expect of the right
/// size but the wrong shape, and one file named by two outputs are all
/// one-line exit-2 errors (each was a silent pass or a late failure).
#[test]
fn reference_and_output_files_are_checked_before_running() {
    use ndarray_npy::NpzWriter;
    let p = |f: &str| format!("tests/fixtures/op_probes/{f}");
    let dir = scratch("model", "refcheck");
    std::fs::create_dir_all(&dir).unwrap();
    let npz = |name: &str,
               members: &[(&str, ndarray::ArrayD<f32>)],
               ints: &[(&str, ndarray::ArrayD<i8>)]| {
        let path = dir.join(name);
        let mut w = NpzWriter::new(std::fs::File::create(&path).unwrap());
        for (k, a) in members {
            w.add_array(*k, a).unwrap();
        }
        for (k, a) in ints {
            w.add_array(*k, a).unwrap();
        }
        w.finish().unwrap();
        path.display().to_string()
    };
    let f32s = |shape: &[usize]| ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(shape));
    let i8s = |shape: &[usize]| ndarray::ArrayD::<i8>::zeros(ndarray::IxDyn(shape));
    let model_run = |m: &str, input: &str, extra: &[&str], needle: &str| {
        let mut args = vec!["model", m, "--input", input];
        args.extend_from_slice(extra);
        one_line_exit_2(&args, needle);
    };
    let (ti, tin) = (p("two_inputs.tflite"), p("two_inputs.input0.npz"));
    // float32 data for tensor 10 (the int8 ADD output) of two_inputs.
    let f = npz(
        "float_for_int8.npz",
        &[("t10_add", f32s(&[1, 4, 4, 8]))],
        &[],
    );
    model_run(&ti, &tin, &["--tensors", &f], "float data, but tensor 10");
    // int8 data for tensor 15 (a DEQUANTIZE's float32 output) of dequantize.
    let (dq, din) = (p("dequantize.tflite"), p("dequantize.input0.npy"));
    let f = npz("int8_for_float.npz", &[], &[("t15_logits", i8s(&[1, 10]))]);
    model_run(&dq, &din, &["--tensors", &f], "integer data, but tensor 15");
    // A member that is no tensor of the model.
    let f = npz(
        "stranger.npz",
        &[],
        &[("t11_x", i8s(&[1, 4, 4, 4])), ("foo", i8s(&[3]))],
    );
    model_run(
        &dq,
        &din,
        &["--tensors", &f],
        "member `foo`: not a tensor of",
    );
    // Only the model inputs: nothing to check.
    model_run(
        &ti,
        &tin,
        &["--tensors", &tin],
        "none is the output of an op",
    );
    // Two members for model input 0.
    let f = npz(
        "two_t0.npz",
        &[],
        &[
            ("t0_a", i8s(&[1, 4, 4, 8])),
            ("t0_b", i8s(&[1, 4, 4, 8])),
            ("t1_c", i8s(&[1, 8, 8, 3])),
        ],
    );
    model_run(&ti, &f, &[], "two members for model input 0");
    // --expect with the output's 64 values in the wrong shape, named.
    let e = dir.join("wrong_shape.npy");
    {
        use ndarray_npy::WriteNpyExt;
        f32s(&[1, 16, 4])
            .write_npy(std::fs::File::create(&e).unwrap())
            .unwrap();
    }
    model_run(
        &dq,
        &din,
        &["--expect", e.to_str().unwrap()],
        "wrong_shape.npy: array: shape [1, 16, 4] does not match the model's [1, 4, 4, 4]",
    );
    // One file for two outputs: refused before running, nothing written.
    let same = dir.join("same.npy");
    let d1 = p("dequantize.input1.npy");
    model_run(
        &dq,
        &din,
        &[
            &d1,
            "--save-output",
            same.to_str().unwrap(),
            same.to_str().unwrap(),
        ],
        "--save-output: is the same file as --save-output",
    );
    assert!(!same.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
