//! `qmac export-c` and the reference C program sim/c_ref/qmac_ref.c: every
//! fixture layer (TFLite and PyTorch, plus single-rounding variants)
//! exported, the C program compiled with `cc` and run on the exported
//! one-value-per-line files, its output equal to the golden model's on every
//! output; the generated headers compile; the files hold integers only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{qmac_joined, qmac_split, scratch};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn cc(args: &[&str]) {
    let out = Command::new("cc")
        .args(args)
        .output()
        .expect("cc (a C compiler)");
    assert!(
        out.status.success(),
        "cc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Single-rounding copies of three fixture layers (a left shift, a
/// depthwise layer, an FC): the C program's TFLITE_SINGLE_ROUNDING path.
fn single_rounding_cases(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for f in [
        "edited_lshift_op0_conv2d",
        "mbnet_b_op0_depthwise_conv2d",
        "mlp_d_op1_fully_connected",
    ] {
        let text =
            std::fs::read_to_string(format!("{ROOT}/tests/fixtures/tflite/{f}.json")).unwrap();
        assert!(text.contains("\"rounding\": \"double\""), "{f}");
        let p = dir.join(format!("{f}_single.json"));
        std::fs::write(
            &p,
            text.replace("\"rounding\": \"double\"", "\"rounding\": \"single\""),
        )
        .unwrap();
        v.push(p);
    }
    v
}

#[test]
fn the_reference_c_program_equals_the_golden_model_on_every_fixture_layer() {
    let tmp = scratch("cexport", "all");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("out");
    let mut args: Vec<String> = vec![
        "export-c".into(),
        "tests/fixtures/tflite/index.json".into(),
        "tests/fixtures/torch/tiny_qat/index.json".into(),
        "tests/fixtures/torch/probe/index.json".into(),
        "tests/fixtures/torch/probe_x86/index.json".into(),
        // Grouped convs (groups 4 and 8); its add / mul / cat steps are
        // named and left out.
        "tests/fixtures/torch/qat_blocks/index.json".into(),
    ];
    args.extend(
        single_rounding_cases(&tmp)
            .iter()
            .map(|p| p.display().to_string()),
    );
    args.extend(["--out".into(), out.display().to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, text) = qmac_joined(&argv);
    assert_eq!(code, 0, "{text}");
    let names: Vec<String> = std::fs::read_to_string(out.join("layers.lst"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(names.len(), 23 + 13 + 7 + 3, "{names:?}");
    assert!(names.iter().any(|n| n == "gconv") && names.iter().any(|n| n == "down"));
    assert!(
        text.contains("note: not exported to C: tests/fixtures/torch/qat_blocks/join_cat (cat): an elementwise step, not a MAC layer"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} layer(s)", names.len())),
        "{text}"
    );

    // The program as written into the export (the repo's copy, byte for byte).
    assert_eq!(
        std::fs::read(out.join("qmac_ref.c")).unwrap(),
        std::fs::read(format!("{ROOT}/sim/c_ref/qmac_ref.c")).unwrap()
    );
    let exe = tmp.join("qmac_ref");
    cc(&[
        "-O2",
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
        exe.to_str().unwrap(),
        out.join("qmac_ref.c").to_str().unwrap(),
    ]);
    let (mut outputs, mut single, mut depthwise, mut uint8, mut grouped) = (0, 0, 0, 0, 0);
    for n in &names {
        let prefix = out.join(n);
        // Every .txt file: one integer per line and nothing else.
        for f in [
            "dims",
            "input",
            "weights",
            "bias",
            "folded_bias",
            "m0",
            "shift",
            "output",
        ] {
            let t = std::fs::read_to_string(out.join(format!("{n}.{f}.txt"))).unwrap();
            assert!(t.ends_with('\n'), "{n}.{f}.txt");
            for (i, l) in t.lines().enumerate() {
                assert!(
                    l.parse::<i64>().is_ok(),
                    "{n}.{f}.txt line {}: `{l}`",
                    i + 1
                );
            }
        }
        let dims: Vec<i64> = std::fs::read_to_string(out.join(format!("{n}.dims.txt")))
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        single += (dims[22] == 1) as usize;
        depthwise += (dims[0] == 1) as usize;
        grouped += (dims[24] > 1) as usize;
        let input = std::fs::read_to_string(out.join(format!("{n}.input.txt"))).unwrap();
        uint8 += input.lines().any(|l| l.parse::<i64>().unwrap() > 127) as usize;
        let run = Command::new(&exe).arg(&prefix).output().unwrap();
        assert!(
            run.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let want = std::fs::read_to_string(out.join(format!("{n}.output.txt"))).unwrap();
        let got = String::from_utf8(run.stdout).unwrap();
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        assert!(
            got == want,
            "{n}: the C program differs from the golden model (first at output {first:?}; {} vs {} lines)",
            got.lines().count(),
            want.lines().count()
        );
        outputs += want.lines().count();
    }
    assert_eq!(single, 3, "the single-rounding variants");
    assert!(
        depthwise >= 5 && uint8 >= 1 && grouped == 2,
        "{depthwise} depthwise, {uint8} uint8, {grouped} grouped layers"
    );
    assert!(outputs > 10_000, "{outputs}");

    // The check can fail: one folded bias changed by 1 moves that channel's outputs.
    let n = &names[0];
    let fb = out.join(format!("{n}.folded_bias.txt"));
    let t = std::fs::read_to_string(&fb).unwrap();
    let mut v: Vec<i64> = t.lines().map(|l| l.parse().unwrap()).collect();
    v[0] += 1 << 20;
    std::fs::write(&fb, v.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
    let run = Command::new(&exe).arg(out.join(n)).output().unwrap();
    let want = std::fs::read_to_string(out.join(format!("{n}.output.txt"))).unwrap();
    assert_ne!(String::from_utf8(run.stdout).unwrap(), want);

    // Array types follow the case's dtypes, not the values of this sample:
    // tiny_qat's conv1 is uint8 although reduce_range keeps it below 128.
    let h = std::fs::read_to_string(out.join("conv1.h")).unwrap();
    assert!(
        h.contains("static const uint8_t conv1_input["),
        "{}",
        &h[..400.min(h.len())]
    );
    assert!(h.contains("static const uint8_t conv1_expected["));

    // A generated header compiles and holds the layer (dims and expected output).
    let main = tmp.join("use_header.c");
    let id = &names[4]; // mbnet_b_op0_depthwise_conv2d
    std::fs::write(
        &main,
        format!(
            "#include <stdio.h>\n#include \"{id}.h\"\nint main(void) {{ printf(\"%d %d %d\\n\", {up}_COUT, {up}_TAPS, (int){id}_expected[0]); return 0; }}\n",
            up = id.to_uppercase()
        ),
    )
    .unwrap();
    let hexe = tmp.join("use_header");
    cc(&[
        "-std=c99",
        "-Wall",
        "-Werror",
        "-I",
        out.to_str().unwrap(),
        "-o",
        hexe.to_str().unwrap(),
        main.to_str().unwrap(),
    ]);
    let run = Command::new(&hexe).output().unwrap();
    let first_out = std::fs::read_to_string(out.join(format!("{id}.output.txt")))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        String::from_utf8(run.stdout).unwrap().trim(),
        format!("8 9 {first_out}"),
        "{id}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn export_c_is_all_or_nothing_and_never_overwrites() {
    let tmp = scratch("cexport", "safety");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("out");
    // A bad case among good ones: exit 2, one line, nothing written.
    let (code, _, err) = qmac_split(&[
        "export-c",
        "tests/fixtures/tflite/cnn_a_op0_conv2d.json",
        "tests/fixtures/tflite/no_such_case.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no_such_case.json"), "{err}");
    assert!(!out.exists());
    let case = "tests/fixtures/tflite/cnn_a_op0_conv2d.json";
    let (code, text) = qmac_joined(&["export-c", case, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    // An existing non-empty --out: refused without --force, replaced with it.
    let (code, _, err) = qmac_split(&["export-c", case, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --force"), "{err}");
    let (code, text) = qmac_joined(&["export-c", case, "--out", out.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0, "{text}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Names that differ only in case get distinct identifiers (the header's
/// guard and macros are upper case) and the renaming is said; qmac_ref
/// refuses a value outside its file's range instead of computing with it.
#[test]
fn export_c_names_are_unique_ignoring_case_and_qmac_ref_checks_ranges() {
    let tmp = scratch("cexport", "names");
    std::fs::create_dir_all(&tmp).unwrap();
    let src = format!("{ROOT}/tests/fixtures/tflite/cnn_a_op0_conv2d.json");
    for n in ["Conv.json", "conv.json"] {
        std::fs::copy(&src, tmp.join(n)).unwrap();
    }
    let out = tmp.join("out");
    let (code, text) = qmac_joined(&[
        "export-c",
        tmp.join("Conv.json").to_str().unwrap(),
        tmp.join("conv.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        std::fs::read_to_string(out.join("layers.lst")).unwrap(),
        "Conv\nconv_2\n"
    );
    assert!(text.contains("conv.json as conv_2"), "{text}");
    let h = std::fs::read_to_string(out.join("conv_2.h")).unwrap();
    assert!(
        h.contains("#define QMAC_CONV_2_H") && h.contains("CONV_2_COUT"),
        "{h}"
    );
    // An int8 input of 300: exit 2 naming the file and line.
    let exe = tmp.join("qmac_ref");
    cc(&[
        "-O2",
        "-o",
        exe.to_str().unwrap(),
        out.join("qmac_ref.c").to_str().unwrap(),
    ]);
    let input = out.join("Conv.input.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[2] = "300".into();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let run = Command::new(&exe).arg(out.join("Conv")).output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("Conv.input.txt: line 3: 300 is outside [-128, 255]"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
