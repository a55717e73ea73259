//! `qmac quantize` end to end through the binary: every TFLite fixture's
//! multiplier / shift from its scales, the table and JSON outputs, the
//! activation bounds, and exit code 2 with a one-line message for bad input.
use std::path::{Path, PathBuf};

mod common;

fn qmac(args: &[&str]) -> (i32, String, String) {
    common::qmac_split(args)
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite")
}

/// Every case file (not index.json), relative to tests/fixtures/tflite.
fn fixture_names() -> Vec<String> {
    let root = fixture_root();
    let mut v = Vec::new();
    for dir in [root.clone(), root.join("fc_float64")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") && !p.ends_with("index.json") {
                v.push(p.strip_prefix(&root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    v.sort();
    v
}

/// The number text after `"key":` in the file (a scalar, or the items of an
/// array), exactly as written: the binary parses the same decimal strings.
fn raw_numbers(text: &str, key: &str) -> Vec<String> {
    let at = text.find(&format!("\"{key}\"")).unwrap() + key.len() + 2;
    let rest = text[at..]
        .trim_start()
        .strip_prefix(':')
        .unwrap()
        .trim_start();
    let body = if let Some(r) = rest.strip_prefix('[') {
        &r[..r.find(']').unwrap()]
    } else {
        &rest[..rest.find([',', '}', '\n']).unwrap()]
    };
    body.split(',').map(|s| s.trim().to_string()).collect()
}

struct Fixture {
    name: String,
    input_scale: String,
    filter_scales: Vec<String>,
    output_scale: String,
    multiplier: Vec<i64>,
    shift: Vec<i64>,
    single: bool,
    /// TFLite's per-tensor FULLY_CONNECTED kernel forms S_x·S_w in float32.
    float32_product: bool,
}

fn fixtures() -> Vec<Fixture> {
    let root = fixture_root();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap()).unwrap();
    let per_tensor = |name: &str| {
        index["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["file"] == name)
            .unwrap_or_else(|| panic!("{name} not in index.json"))["per_tensor_filter"]
            .as_bool()
            .unwrap()
    };
    fixture_names()
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name)).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let ints = |k: &str| -> Vec<i64> {
                v[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect()
            };
            Fixture {
                input_scale: raw_numbers(&text, "input_scale").remove(0),
                filter_scales: raw_numbers(&text, "filter_scales"),
                output_scale: raw_numbers(&text, "output_scale").remove(0),
                multiplier: ints("multiplier"),
                shift: ints("shift"),
                single: v["rounding"] == "single",
                float32_product: per_tensor(&name) && v["op"] == "fully_connected",
                name,
            }
        })
        .collect()
}

fn quantize_args(f: &Fixture, extra: &[&'static str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "quantize",
        "--input-scale",
        &f.input_scale,
        "--filter-scale",
        &f.filter_scales.join(","),
        "--output-scale",
        &f.output_scale,
        "--rounding",
        if f.single { "single" } else { "double" },
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_json(args: &[String]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, out, err) = qmac(&args);
    assert_eq!(code, 0, "qmac {args:?}\n{out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("qmac {args:?}: not JSON ({e}):\n{out}"))
}

/// `(m0, shift)` of every channel of a `--json` output.
fn json_params(v: &serde_json::Value) -> Vec<(i64, i64)> {
    v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["channel"].as_u64(), Some(i as u64));
            let (m0, shift) = (c["m0"].as_i64().unwrap(), c["shift"].as_i64().unwrap());
            assert_eq!(c["n"].as_i64(), Some(-shift), "n = -shift");
            (m0, shift)
        })
        .collect()
}

/// The error line of a failed run: one line starting `error:` (qmac's own
/// input errors are exactly that; clap's argument errors add only its
/// `For more information, try '--help'.` hint).
fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let extra_is_clap_hint = lines[1..]
        .iter()
        .all(|l| *l == "For more information, try '--help'.");
    assert!(
        !lines.is_empty() && extra_is_clap_hint,
        "expected a one-line message, got:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0]
}

fn assert_input_error(args: &[&str], flag: &str, also: &str) {
    let (code, out, err) = qmac(args);
    assert_eq!(code, 2, "qmac {args:?}\n{out}{err}");
    assert!(out.is_empty(), "qmac {args:?} printed {out}");
    let line = error_line(&err);
    assert!(
        line.contains(flag),
        "qmac {args:?}: {line:?} does not name {flag}"
    );
    assert!(
        line.contains(also),
        "qmac {args:?}: {line:?} does not say {also:?}"
    );
}

#[test]
fn json_reproduces_every_fixture_multiplier() {
    let all = fixtures();
    assert!(all.len() >= 23, "found {} fixtures", all.len());
    let mut channels = 0;
    for f in &all {
        let extra: &[&str] = if f.float32_product {
            &["--json", "--float32-product"]
        } else {
            &["--json"]
        };
        let v = run_json(&quantize_args(f, extra));
        assert_eq!(v["rounding"], if f.single { "single" } else { "double" });
        assert_eq!(v["m0_bits"], 32);
        let expected: Vec<(i64, i64)> = f
            .multiplier
            .iter()
            .copied()
            .zip(f.shift.iter().copied())
            .collect();
        assert_eq!(json_params(&v), expected, "{}", f.name);
        assert!(v.get("act_min").is_none() && v.get("act_max").is_none());
        channels += expected.len();
    }
    assert!(channels > 200);
}

/// The per-tensor FC fixtures need `--float32-product`: with the f64
/// product of docs/contract.md §3 some channel comes out different.
#[test]
fn per_tensor_fc_fixtures_differ_without_float32_product() {
    let pt: Vec<Fixture> = fixtures()
        .into_iter()
        .filter(|f| f.float32_product)
        .collect();
    let names: Vec<&str> = pt.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fc_float64/edited_probe_fc_pt_op0_fully_connected.json",
            "mlp_d_op0_fully_connected.json",
            "mlp_d_op1_fully_connected.json",
        ]
    );
    for f in &pt {
        let got = json_params(&run_json(&quantize_args(f, &["--json"])));
        let expected: Vec<(i64, i64)> = f
            .multiplier
            .iter()
            .copied()
            .zip(f.shift.iter().copied())
            .collect();
        assert_ne!(got, expected, "{}", f.name);
    }
    // The case the golden test names: channel 0 of edited_probe_fc_pt.
    let got = json_params(&run_json(&quantize_args(&pt[0], &["--json"])));
    assert_eq!(got[0], (1900577712, -20));
    assert_eq!((pt[0].multiplier[0], pt[0].shift[0]), (1900577664, -20));
}

#[test]
fn table_has_header_and_fixture_rows() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "cnn_a_op0_conv2d.json")
        .unwrap();
    let args = quantize_args(&f, &[]);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, out, err) = qmac(&args);
    assert_eq!(code, 0, "{out}{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "channel",
            "real M",
            "M0",
            "shift",
            "n",
            "effective M",
            "rel.error"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), f.multiplier.len(), "{out}");
    for (c, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 7, "{out}");
        assert_eq!(r[0].parse::<usize>().unwrap(), c);
        assert_eq!(r[2].parse::<i64>().unwrap(), f.multiplier[c], "{out}");
        assert_eq!(r[3].parse::<i64>().unwrap(), f.shift[c], "{out}");
        assert_eq!(r[4].parse::<i64>().unwrap(), -f.shift[c], "{out}");
        // real M and effective M agree to ~2^-31 relative.
        let real: f64 = r[1].parse().unwrap();
        let eff: f64 = r[5].parse().unwrap();
        assert!(((eff - real) / real).abs() < 1e-9, "{out}");
    }
    assert!(!out.contains("activation bounds"));
}

#[test]
fn relu6_prints_bounds() {
    let base = [
        "quantize",
        "--input-scale",
        "0.5",
        "--filter-scale",
        "0.5",
        "--activation",
        "relu6",
        "--output-zero-point",
        "-128",
    ];
    // zp + round(6/S_y) = −128 + 120 = −8.
    let mut args = base.to_vec();
    args.extend(["--output-scale", "0.05"]);
    let (code, out, err) = qmac(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().last(),
        Some("activation bounds: act_min = -128, act_max = -8"),
        "{out}"
    );
    // 6/S_y = 255 → −128 + 255 = 127, the int8 maximum.
    let mut args = base.to_vec();
    args.extend(["--output-scale", "0.0235294122248888"]);
    let (code, out, err) = qmac(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("activation bounds: act_min = -128, act_max = 127"),
        "{out}"
    );
    // JSON carries the bounds too.
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    args.extend(["--output-scale", "0.05", "--json"].map(String::from));
    let v = run_json(&args);
    assert_eq!(
        (v["act_min"].as_i64(), v["act_max"].as_i64()),
        (Some(-128), Some(-8))
    );
}

#[test]
fn relu_and_uint8_bounds() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "quantize",
            "--input-scale",
            "0.5",
            "--filter-scale",
            "0.5",
            "--output-scale",
            "0.03",
            "--json",
        ];
        args.extend(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let v = run_json(&args);
        (
            v["act_min"].as_i64().unwrap(),
            v["act_max"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        run(&["--activation", "relu", "--output-zero-point", "10"]),
        (10, 127)
    );
    assert_eq!(
        run(&["--activation", "none", "--output-zero-point", "10"]),
        (-128, 127)
    );
    // uint8: 6/f32(0.03) = 200.
    assert_eq!(
        run(&[
            "--activation",
            "relu6",
            "--output-zero-point",
            "0",
            "--output-dtype",
            "uint8"
        ]),
        (0, 200)
    );
}

#[test]
fn single_rounding_clamps_and_narrow_multiplier() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "quantize",
            "--input-scale",
            "1",
            "--filter-scale",
            "1073741824,0.5,0.9999999998835847",
            "--output-scale",
            "1",
            "--json",
        ];
        args.extend(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        json_params(&run_json(&args))
    };
    // M = 2^30: QuantizeMultiplier gives e = 31 for double rounding, outside
    // the datapath's [-31, 30]: bad input, exit 2, naming the channel; single
    // rounding clamps it to (2^31 − 1, 30) as TFLite does.
    // 0.9999999998835847 = 1 − 2^−33: the 2^31 carry to (2^30, 1).
    assert_input_error(
        &[
            "quantize",
            "--input-scale",
            "1",
            "--filter-scale",
            "1073741824,0.5,0.9999999998835847",
            "--output-scale",
            "1",
            "--rounding",
            "double",
        ],
        "--filter-scale",
        "value 1 (channel 0): the real multiplier 1.073741824e9 needs shift e = 31",
    );
    assert_eq!(
        run(&["--rounding", "single"]),
        [(i32::MAX as i64, 30), (1 << 30, 0), (1 << 30, 1)]
    );
    // 16-bit multiplier: 2^30 → 2^14, e unchanged.
    assert_eq!(
        run(&["--rounding", "single", "--m0-bits", "16"]),
        [((1 << 15) - 1, 30), (1 << 14, 0), (1 << 14, 1)]
    );
}

#[test]
fn unrepresentable_multipliers_are_input_errors() {
    // Before: M0 = -1 (an infinite multiplier), NaN errors and shift 997 were
    // printed with exit 0. Now each is one line, exit 2, naming the value.
    for (sx, sw, sy, why) in [
        ("1e300", "1e300", "1e-300", "is not a finite number"),
        ("1e300", "1e10", "1", "is not a finite number"),
        ("1e150", "1e150", "1", "needs shift e = 997"),
        ("1", "17179869184", "1", "needs shift e = 35"),
    ] {
        assert_input_error(
            &[
                "quantize",
                "--input-scale",
                sx,
                "--filter-scale",
                sw,
                "--output-scale",
                sy,
            ],
            "--filter-scale",
            why,
        );
    }
}

#[test]
fn negative_input_scale_is_an_input_error() {
    // `--input-scale=-1` reaches the scale check.
    assert_input_error(
        &[
            "quantize",
            "--input-scale=-1",
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
        ],
        "--input-scale",
        "positive",
    );
    // Space-separated, clap still rejects it with exit code 2.
    let (code, out, err) = qmac(&[
        "quantize",
        "--input-scale",
        "-1",
        "--filter-scale",
        "0.5",
        "--output-scale",
        "1",
    ]);
    assert_eq!(code, 2, "{out}{err}");
}

/// `--input-scale -1` (value as a separate argument) should name the flag in
/// one line like every other bad scale.
#[test]
fn negative_input_scale_space_separated_names_the_flag() {
    assert_input_error(
        &[
            "quantize",
            "--input-scale",
            "-1",
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
        ],
        "--input-scale",
        "-1",
    );
}

#[test]
fn non_numeric_input_scale_is_an_input_error() {
    assert_input_error(
        &[
            "quantize",
            "--input-scale",
            "abc",
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
        ],
        "--input-scale",
        "abc",
    );
}

#[test]
fn relu_without_zero_point_is_an_input_error() {
    assert_input_error(
        &[
            "quantize",
            "--input-scale",
            "0.5",
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
            "--activation",
            "relu",
        ],
        "--activation",
        "--output-zero-point",
    );
}

#[test]
fn other_bad_scales_and_ranges_are_input_errors() {
    let base = ["quantize", "--input-scale", "0.5"];
    let with = |rest: &[&'static str]| {
        let mut v = base.to_vec();
        v.extend(rest);
        v
    };
    assert_input_error(
        &with(&["--filter-scale", "0.5,-0.25", "--output-scale", "1"]),
        "--filter-scale",
        "value 2",
    );
    assert_input_error(
        &with(&["--filter-scale", "0.5,abc", "--output-scale", "1"]),
        "--filter-scale",
        "abc",
    );
    assert_input_error(
        &with(&["--filter-scale", "0.5", "--output-scale", "0"]),
        "--output-scale",
        "positive",
    );
    assert_input_error(
        &with(&["--filter-scale", "0.5", "--output-scale", "inf"]),
        "--output-scale",
        "positive",
    );
    assert_input_error(
        &with(&[
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
            "--activation",
            "relu",
            "--output-zero-point",
            "200",
        ]),
        "--output-zero-point",
        "200",
    );
    assert_input_error(
        &with(&[
            "--filter-scale",
            "0.5",
            "--output-scale",
            "1",
            "--m0-bits",
            "40",
        ]),
        "--m0-bits",
        "40",
    );
}
