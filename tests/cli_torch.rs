//! `qmac layer` on the committed PyTorch fixtures (tests/fixtures/torch, real
//! PyTorch fbgemm output): the RTL equals the golden integer path bit-exactly,
//! every integer-vs-PyTorch difference is explained by the fbgemm emulation,
//! and a difference the emulation does not explain fails the run, naming the
//! output. No torch needed.

mod common;

use std::path::{Path, PathBuf};

const TINY: &str = "tests/fixtures/torch/tiny_qat/index.json";
const PROBE: &str = "tests/fixtures/torch/probe/index.json";
const PROBE_X86: &str = "tests/fixtures/torch/probe_x86/index.json";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn rtl_is_bit_exact_and_every_pytorch_difference_is_explained() {
    for lanes in ["8", "1"] {
        let (code, out, err) = common::qmac_split(&[
            "layer",
            "--backend",
            "both",
            "--lanes",
            lanes,
            TINY,
            PROBE,
            PROBE_X86,
        ]);
        assert_eq!(code, 0, "LANES={lanes}\n{out}{err}");
        assert_eq!(out.matches("PASS ").count(), 13, "{out}");
        assert_eq!(
            out.matches("rtl mismatches 0 (acc 0, beat checks 0 failed)")
                .count(),
            13,
            "{out}"
        );
        assert!(
            out.contains(
                "PyTorch cases: RTL = golden integer bit-exact on 13 of 13 layers; 13 layers, 4436 outputs: \
                 integer vs PyTorch differs on 59 (max|diff| 67), 59 of them explained by the PyTorch (fbgemm / oneDNN) \
                 emulation; emulation = PyTorch on 4436 of 4436 outputs"
            ),
            "{out}"
        );
        assert!(out.trim_end().ends_with("13 passed, 0 failed"), "{out}");
    }
}

#[test]
fn per_layer_counts_and_kernels() {
    for (index, layers) in [
        (TINY, &[
            ("conv1", "[fbgemm case (fbgemm GEMM kernel): integer vs PyTorch differs on 2 of 1024 outputs, max|diff| 1, 2 explained by the fbgemm emulation]"),
            ("dw", "[fbgemm case (fbgemm depthwise fast path): integer vs PyTorch differs on 0 of 1024 outputs, max|diff| 0, 0 explained"),
            ("conv3", "[fbgemm case (fbgemm GEMM kernel): integer vs PyTorch differs on 0 of 512 outputs"),
            ("fc2", "[fbgemm case (fbgemm GEMM kernel): integer vs PyTorch differs on 0 of 8 outputs"),
        ][..]),
        (PROBE, &[
            ("dw1", "[fbgemm case (fbgemm depthwise fast path): integer vs PyTorch differs on 53 of 512 outputs, max|diff| 67, 53 explained by the fbgemm emulation]"),
            ("dw2", "[fbgemm case (fbgemm depthwise fast path): integer vs PyTorch differs on 2 of 256 outputs, max|diff| 1, 2 explained"),
            ("pw", "[fbgemm case (fbgemm GEMM kernel): integer vs PyTorch differs on 0 of 128 outputs"),
        ][..]),
        (PROBE_X86, &[
            ("dw1", "[onednn case (oneDNN conv): integer vs PyTorch differs on 1 of 512 outputs, max|diff| 1, 1 explained by the oneDNN emulation]"),
            ("dw2", "[onednn case (oneDNN conv): integer vs PyTorch differs on 1 of 256 outputs, max|diff| 1, 1 explained by the oneDNN emulation]"),
            ("pw", "[onednn case (oneDNN conv): integer vs PyTorch differs on 0 of 128 outputs"),
            ("fc", "[fbgemm case (fbgemm GEMM kernel): integer vs PyTorch differs on 0 of 6 outputs"),
        ][..]),
    ] {
        let (code, out) = common::qmac_joined(&["layer", "--backend", "golden", index]);
        assert_eq!(code, 0, "{out}");
        for (name, what) in layers {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("PASS {name} ")))
                .unwrap_or_else(|| panic!("no line for {name}\n{out}"));
            assert!(line.contains(what), "{line}");
            assert!(line.contains("golden mismatches 0 (max|diff| 0)"), "{line}");
        }
    }
}

#[test]
fn explain_lists_accumulator_real_value_roundings_and_cause() {
    let (code, out) = common::qmac_joined(&[
        "layer",
        "--backend",
        "golden",
        "--explain",
        TINY,
        PROBE,
        PROBE_X86,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(
        "  output 231 [n 0, h 3, w 4, c 7]: acc 11345 (int32 bias -1134), exact real value 27.4988669 (+ zp_out 0); \
         integer: acc*M = 27.4989196 -> y 28; fbgemm float32: 27.4988689 -> y 27; PyTorch 27: \
         explained (double rounding: SRDHM gives 7040, 7040/2^8 = 27.5 rounds again; verified: the fbgemm emulation reproduces PyTorch here)"
    ), "{out}");
    let explained = |cause: &str| {
        out.lines()
            .filter(|l| l.contains(&format!(": explained ({cause}")))
            .count()
    };
    assert_eq!(explained("double rounding"), 6, "{out}");
    assert_eq!(
        explained("int16 pair saturation of the depthwise fast path"),
        53,
        "{out}"
    );
    assert!(out.contains(
        "  output 89 [n 0, h 1, w 1, c 9]: acc 2765 (int32 bias 1139), exact real value 6.4987593 (+ zp_out 128); \
         integer: acc*M = 6.4988826 -> y 135; oneDNN float32: 134.4987640 -> y 134; PyTorch 134: explained (double rounding"
    ), "{out}");
    // A saturated output names the accumulator PyTorch's kernel used.
    assert!(
        out.contains("output 44 [n 0, h 0, w 5, c 4]: acc 51396 (int32 bias -6113, PyTorch's kernel accumulator 47454 + bias)"),
        "{out}"
    );
    assert!(!out.contains("NOT explained"), "{out}");
}

/// A copy of fixture case `case` whose PyTorch output element `index` is
/// changed by `delta` (the .npy holds uint8 data after its header).
fn altered_copy(case: &str, index: usize, delta: i32, tag: &str) -> (PathBuf, i32, i32) {
    let src = fixture(&format!("tests/fixtures/torch/{case}"));
    let dst = common::scratch("torch", tag);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let npy = dst.join("output.npy");
    let mut bytes = std::fs::read(&npy).unwrap();
    let text = std::fs::read_to_string(dst.join("case.toml")).unwrap();
    let shape_line = text
        .lines()
        .find(|l| l.starts_with("output_shape"))
        .unwrap();
    let count: usize = shape_line
        .split(['[', ']', ','])
        .filter_map(|t| t.trim().parse::<usize>().ok())
        .product();
    let at = bytes.len() - count + index;
    let old = bytes[at] as i32;
    let new = old + delta;
    bytes[at] = u8::try_from(new).unwrap();
    std::fs::write(&npy, bytes).unwrap();
    (dst, old, new)
}

#[test]
fn an_unexplained_difference_fails_naming_the_output() {
    // fc1 output 5 [n 0, h 0, w 0, c 5]: PyTorch 0 -> 2; integer and emulation say 0.
    let (dir, old, new) = altered_copy("tiny_qat/fc1", 5, 2, "fc1-plus2");
    assert_eq!((old, new), (0, 2));
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", &d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL ") && l.contains("fc1-plus2")),
        "{out}"
    );
    assert!(
        out.contains(
            "  UNEXPLAINED output 5 [n 0, h 0, w 0, c 5]: integer 0, PyTorch 2, fbgemm emulation 0 \
             (the emulation does not reproduce PyTorch)"
        ),
        "{out}"
    );
    assert!(
        out.contains("differs on 1 of 64 outputs, max|diff| 2, 0 explained by the fbgemm emulation, 1 unexplained; emulation = PyTorch on 63 of 64"),
        "{out}"
    );
    // The RTL itself is still bit-exact with the golden integer path.
    assert!(out.contains("rtl mismatches 0 (acc 0"), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_emulation_mismatch_where_the_integer_path_agrees_also_fails() {
    // conv1 output 231: PyTorch 27 (integer 28, emulation 27). Set it to 28.
    let (dir, old, new) = altered_copy("tiny_qat/conv1", 231, 1, "conv1-plus1");
    assert_eq!((old, new), (27, 28));
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "  UNEXPLAINED output 231 [n 0, h 3, w 4, c 7]: integer 28 = PyTorch 28, but the fbgemm emulation gives 27"
        ),
        "{out}"
    );
    // The case line counts it: the integer path now agrees with PyTorch
    // everywhere, yet one output is unexplained.
    assert!(
        out.contains("differs on 1 of 1024 outputs, max|diff| 1, 1 explained by the fbgemm emulation, 1 unexplained"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An export directory runs as its index; a narrow multiplier (--m0-bits)
/// is reported for a PyTorch case against its 32-bit integer path.
#[test]
fn an_export_directory_runs_as_its_index_and_m0_bits_applies_to_pytorch_cases() {
    let dir = fixture("tests/fixtures/torch/qat_blocks")
        .display()
        .to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("12 passed, 0 failed"), "{out}");
    let conv1 = fixture("tests/fixtures/torch/tiny_qat/conv1")
        .display()
        .to_string();
    let (code, out, err) =
        common::qmac_split(&["layer", "--backend", "golden", "--m0-bits", "16", &conv1]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("[16-bit multiplier: differs from the 32-bit result on 2 of 1024 outputs (0.195%), max|diff| 1]"),
        "{out}"
    );
}

#[test]
fn asymmetric_weights_are_an_input_error() {
    // PyTorch's fbgemm / oneDNN kernels take symmetric qint8 weights only.
    let (dir, _, _) = altered_copy("tiny_qat/fc2", 0, 0, "asym");
    let toml = dir.join("case.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("filter_zero_point = 0", "filter_zero_point = 3"),
    )
    .unwrap();
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &d]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("case.toml: field `filter_zero_point`: is 3; the fbgemm emulation covers"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_unexplained_differences_are_counted_and_the_list_is_capped() {
    // Every PyTorch output of dw raised by 1 (255 stays): most are unexplained.
    let (dir, _, _) = altered_copy("tiny_qat/dw", 0, 0, "dw-all");
    let npy = dir.join("output.npy");
    let mut bytes = std::fs::read(&npy).unwrap();
    let n = bytes.len();
    let mut changed = 0;
    for b in &mut bytes[n - 1024..] {
        if *b < 255 {
            *b += 1;
            changed += 1;
        }
    }
    std::fs::write(&npy, bytes).unwrap();
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{changed} unexplained; emulation = PyTorch on {} of 1024",
            1024 - changed
        )),
        "{out}"
    );
    assert_eq!(out.matches("  UNEXPLAINED output ").count(), 20, "{out}");
    assert!(
        out.contains(&format!(
            "  … and {} more unexplained outputs",
            changed - 20
        )),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const BLOCKS: &str = "tests/fixtures/torch/qat_blocks/index.json";
const ELT_PROBE: &str = "tests/fixtures/torch/eltwise_probe/index.json";

/// The QAT model of scripts/qat_blocks.py: grouped convs (groups 4 and 8), a
/// residual add_relu, a cat, a mul gate and an add, exported from PyTorch:
/// every case passes on both backends, the RTL runs the MAC layers and the
/// mul / cat steps bit-exactly, the adds run on the golden model (said on
/// their line), every integer-vs-PyTorch difference is explained.
#[test]
fn qat_blocks_with_grouped_conv_add_cat_mul_pass_on_rtl_and_golden() {
    for backend in ["rtl", "golden"] {
        let (code, out, err) = common::qmac_split(&["layer", "--backend", backend, BLOCKS]);
        assert_eq!(code, 0, "{backend}\n{out}{err}");
        assert!(out.trim_end().ends_with("12 passed, 0 failed"), "{out}");
        let rtl = if backend == "rtl" {
            "RTL = golden integer bit-exact on 3 of 3 steps run on the RTL (mul, cat, batch_norm, pooling); "
        } else {
            ""
        };
        assert!(
            out.contains(&format!(
                "PyTorch elementwise steps (add, mul, cat, batch_norm, hardswish, pooling): {rtl}5 steps, 11392 outputs: integer vs PyTorch \
                 differs on 17, 17 of them explained by a verified cause; emulation = PyTorch on 11392 of 11392 outputs"
            )),
            "{out}"
        );
        let rtl = if backend == "rtl" {
            "RTL = golden integer bit-exact on 7 of 7 layers; "
        } else {
            ""
        };
        assert!(
            out.contains(&format!(
                "PyTorch cases: {rtl}7 layers, 10760 outputs: integer vs PyTorch differs on 10 (max|diff| 1), 10 of them explained"
            )),
            "{out}"
        );
        let adds = out
            .lines()
            .filter(|l| l.contains("[add is not a dot product: its integer path (TFLite's ADD) runs on the golden model, not the RTL]"))
            .count();
        assert_eq!(adds, if backend == "rtl" { 2 } else { 0 }, "{out}");
    }
    let toml = |c: &str| {
        std::fs::read_to_string(fixture(&format!(
            "tests/fixtures/torch/qat_blocks/{c}/case.toml"
        )))
        .unwrap()
    };
    assert!(toml("gconv").contains("\ngroups = 4\n"));
    assert!(toml("down").contains("\ngroups = 8\n"));
    assert!(
        toml("res_add").contains("act_min = ") && toml("res_add").contains("QFunctional.add_relu")
    );
}

/// 80 random PyTorch add / add_relu / mul / mul_relu / cat / batch_norm /
/// batch_norm_relu / hardswish / avg_pool / adaptive_avg_pool steps
/// (scripts/torch_eltwise_probe.py --seed 3 --count 80): the emulation
/// reproduces PyTorch on every output, the RTL runs every mul, cat,
/// batch_norm and evenly windowed pool bit-exactly, and the 937 outputs
/// where the integer path differs (843 pooling averages on an exact .5 that
/// the datapath rounds up and PyTorch to even, 88 where PyTorch's float32
/// misses .5, 6 batch norms whose int32 bias is β in steps of |α|/127) are
/// explained with their cause checked. `add_near_half` is a PyTorch add_relu
/// whose exact value is 1e-5 below .5, where TFLite ADD's fixed point rounds up.
#[test]
fn elementwise_probe_emulation_equals_pytorch_and_its_differences_are_explained() {
    let (code, out, err) = common::qmac_split(&["layer", ELT_PROBE]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "PyTorch elementwise steps (add, mul, cat, batch_norm, hardswish, pooling): RTL = golden integer bit-exact on 52 of 52 \
             steps run on the RTL (mul, cat, batch_norm, pooling); 80 steps, 98386 outputs: integer vs PyTorch differs on 937, 937 of them \
             explained by a verified cause; emulation = PyTorch on 98386 of 98386 outputs"
        ),
        "{out}"
    );
    let explain = |case: &str| {
        let d = fixture(&format!("tests/fixtures/torch/{case}"))
            .display()
            .to_string();
        let (code, out, _) = common::qmac_split(&["layer", "--backend", "golden", "--explain", &d]);
        assert_eq!(code, 0, "{out}");
        out
    };
    let out = explain("eltwise_probe/e05_batch_norm");
    assert!(
        out.contains(
            "  output 1315 [n 0, h 3, w 0, c 19]: exact value 17.5001299 (zp_y included); integer 17; PyTorch float32 -33.4998665 before zp_y \
             -> emulation 18; PyTorch 18: explained (int32 bias rounding near .5"
        ),
        "{out}"
    );
    let out = explain("add_near_half");
    assert!(
        out.contains(
            "  output 318 [n 0, h 4, w 0, c 22]: exact value 245.4999892 (zp_y included); integer 246; PyTorch float32 82.4999924 before zp_y \
             -> emulation 245; PyTorch 245: explained (ADD fixed-point rescaling near .5"
        ),
        "{out}"
    );
}

#[test]
fn a_tampered_elementwise_output_fails_naming_it() {
    // The explained output set to the integer path's value: now the
    // emulation no longer reproduces PyTorch there.
    let (dir, old, new) = altered_copy("add_near_half", 318, 1, "e46-plus1");
    assert_eq!((old, new), (245, 246));
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(
            "  UNEXPLAINED output 318 [n 0, h 4, w 0, c 22]: exact value 245.4999892 (zp_y included); integer 246;"
        ) && out.contains("NOT explained: the emulation does not reproduce PyTorch"),
        "{out}"
    );
    assert!(out.contains("emulation = PyTorch on 369 of 370"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    // A mul output moved by 2 where everything agreed: unexplained, and the
    // RTL (which runs the integer path) is still bit-exact.
    let (dir, old, new) = altered_copy("qat_blocks/scale_mul", 7, 2, "mul-plus2");
    assert_eq!(new, old + 2);
    let d = dir.display().to_string();
    let (code, out, err) = common::qmac_split(&["layer", &d]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("rtl mismatches 0 (acc 0, beat checks 0 failed)"),
        "{out}"
    );
    assert!(
        out.contains("  UNEXPLAINED output 7 [n 0, h 0, w 0, c 7]:")
            && out.contains(&format!("PyTorch {new}: NOT explained")),
        "{out}"
    );
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    // A batch norm whose bias rounding explains an output: with its running
    // mean moved by one float32 step the emulation no longer reproduces
    // PyTorch on some outputs (the case is not what PyTorch ran).
    let src = fixture("tests/fixtures/torch/eltwise_probe/e05_batch_norm");
    let dst = common::scratch("torch", "bn-mean");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let npy = dst.join("bn_mean.npy");
    let mut bytes = std::fs::read(&npy).unwrap();
    let n = bytes.len();
    // Channel 19's float32 (little-endian) plus one ulp, ten thousand times.
    let at = n - 72 * 4 + 19 * 4;
    let v = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let moved = v + 1e4 * f32::EPSILON * v.abs().max(1.0);
    bytes[at..at + 4].copy_from_slice(&moved.to_le_bytes());
    std::fs::write(&npy, bytes).unwrap();
    let (code, out, err) =
        common::qmac_split(&["layer", "--backend", "golden", &dst.display().to_string()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("UNEXPLAINED") && out.contains("the emulation does not reproduce PyTorch"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dst);
}

/// Malformed elementwise cases: one line naming the file and field, exit 2.
#[test]
fn malformed_elementwise_cases_are_input_errors() {
    let src = fixture("tests/fixtures/torch/qat_blocks/res_add");
    for (k, (from, to, want)) in [
        (
            "rounding = \"torch\"",
            "rounding = \"double\"",
            "field `rounding`: \"double\": an elementwise case's output is PyTorch's",
        ),
        (
            "input2_shape = [2, 8, 8, 16]",
            "input2_shape = [2, 8, 8, 8]",
            "field `input2_shape`: [2, 8, 8, 8] differs from input_shape",
        ),
        (
            "torch_vector_bytes = 64\n",
            "",
            "field `torch_vector_bytes`: missing (required field)",
        ),
        (
            "torch_vector_bytes = 64",
            "torch_vector_bytes = 16",
            "field `torch_vector_bytes`: 16: expected 64",
        ),
        (
            "input_dtype = \"uint8\"",
            "input_dtype = \"int8\"",
            "field `output_dtype`: uint8 differs from input_dtype int8",
        ),
        (
            "op = \"add\"",
            "op = \"add\"\ngroups = 2",
            "field `groups`: an elementwise case (add) takes no groups",
        ),
        (
            "output_zero_point = ",
            "output_zero_point = 300 #",
            "field `output_zero_point`: value 300 is outside the uint8 range",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dst = common::scratch("torch", &format!("bad-elt-{k}"));
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
        let toml = std::fs::read_to_string(dst.join("case.toml")).unwrap();
        assert!(toml.contains(from), "{from}");
        std::fs::write(dst.join("case.toml"), toml.replacen(from, to, 1)).unwrap();
        let d = dst.display().to_string();
        let (code, out, err) = common::qmac_split(&["layer", "--backend", "golden", &d]);
        assert_eq!(code, 2, "{want}\n{out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("{}: {want}", dst.join("case.toml").display())),
            "{want}\n{err}"
        );
        let _ = std::fs::remove_dir_all(&dst);
    }
    // batch_norm's own fields.
    let bn = fixture("tests/fixtures/torch/eltwise_probe/e05_batch_norm");
    for (k, (from, to, want)) in [
        (
            "bn_eps = 0.001\n",
            "",
            "field `bn_eps`: missing (required field)",
        ),
        (
            "op = \"batch_norm\"",
            "op = \"batch_norm\"\ninput2_scale = 0.5",
            "field `input2_scale`: op batch_norm takes no input2_scale",
        ),
        (
            "bn_eps = 0.001",
            "bn_eps = -1.0",
            "field `bn_eps`: -1 must be finite and >= 0",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dst = common::scratch("torch", &format!("bad-bn-{k}"));
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&bn).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
        let toml = std::fs::read_to_string(dst.join("case.toml")).unwrap();
        assert!(toml.contains(from), "{from}");
        std::fs::write(dst.join("case.toml"), toml.replacen(from, to, 1)).unwrap();
        let (code, _, err) =
            common::qmac_split(&["layer", "--backend", "golden", &dst.display().to_string()]);
        assert_eq!(code, 2, "{want}\n{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{want}\n{err}");
        let _ = std::fs::remove_dir_all(&dst);
    }
    // Pooling's own fields.
    for (k, (case, from, to, want)) in [
        ("e08_avg_pool", "pool_padding = [0, 1]", "pool_padding = [4, 1]", "field `pool_padding`: [4, 1] is more than half the kernel [6, 2]"),
        ("e08_avg_pool", "pool_stride = [1, 1]", "pool_stride = [2, 1]", "field `output_shape`: [2, 2, 4, 78], but the inputs give [2, 1, 4, 78]"),
        ("e08_avg_pool", "pool_kernel = [6, 2]", "pool_kernel = [9, 2]", "field `pool_kernel`: [9, 2] is larger than the padded input [7, 5]"),
        ("e09_adaptive_avg_pool", "torch_layout = \"nhwc\"", "torch_layout = \"nchw\"", "field `torch_layout`: \"nchw\": PyTorch's adaptive average pooling of a contiguous (NCHW) tensor is not emulated"),
        ("e09_adaptive_avg_pool", "op = \"adaptive_avg_pool\"", "op = \"adaptive_avg_pool\"\npool_kernel = [2, 2]", "field `pool_kernel`: op adaptive_avg_pool takes no pool_kernel"),
    ]
    .into_iter()
    .enumerate()
    {
        let src = fixture(&format!("tests/fixtures/torch/eltwise_probe/{case}"));
        let dst = common::scratch("torch", &format!("bad-pool-{k}"));
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
        let toml = std::fs::read_to_string(dst.join("case.toml")).unwrap();
        assert!(toml.contains(from), "{from}");
        std::fs::write(dst.join("case.toml"), toml.replacen(from, to, 1)).unwrap();
        let (code, _, err) = common::qmac_split(&["layer", "--backend", "golden", &dst.display().to_string()]);
        assert_eq!(code, 2, "{want}\n{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{want}\n{err}");
        let _ = std::fs::remove_dir_all(&dst);
    }
    // A command that takes MAC layer cases only says what an elementwise case is.
    let out_dir = common::scratch("torch", "export-c-elt");
    let (code, _, err) = common::qmac_split(&[
        "export-c",
        &src.display().to_string(),
        "--out",
        &out_dir.display().to_string(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("field `op`: \"add\" is an elementwise case"),
        "{err}"
    );
    assert!(!out_dir.exists());
}
