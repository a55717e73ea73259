//! Reading, validating and writing layer cases (docs/qcase.md).

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array4};
use ndarray_npy::write_npy;
use qmac::arith::DType;
use qmac::error::InputError;
use qmac::formats::qcase::{Case, Op, Rounding};
use qmac::formats::textarray::{parse_int_array, read_int_array};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["tflite", "tflite/fc_float64"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn mbnet_json() -> PathBuf {
    fixtures().join("tflite/mbnet_b_op0_depthwise_conv2d.json")
}

fn load_value(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Writes `v` as a JSON case in `dir` and reads it back.
fn read_value(dir: &Path, name: &str, v: &Value) -> (PathBuf, Result<Case, InputError>) {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    let r = Case::read(&p);
    (p, r)
}

/// Asserts that `r` failed, that the message is one line naming `file`, and
/// that its position is `position`.
fn expect_err(r: Result<Case, InputError>, file: &Path, position: &str) -> InputError {
    let e = r.expect_err("expected an input error");
    let shown = e.to_string();
    assert!(!shown.contains('\n'), "multi-line error: {shown}");
    assert!(
        shown.starts_with(&format!("{}: ", file.display())),
        "error does not name {}: {shown}",
        file.display()
    );
    assert_eq!(e.position, position, "{shown}");
    e
}

/// Everything but `path` and `source`.
fn assert_same_case(a: &Case, b: &Case) {
    let mut b2 = b.clone();
    b2.path = a.path.clone();
    b2.source = a.source.clone();
    assert_eq!(a, &b2);
}

#[test]
fn every_fixture_json_reads() {
    let files = json_fixtures();
    assert_eq!(files.len(), 23, "{files:?}");
    for p in &files {
        let c = Case::read(p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.path, *p);
        assert!(c.source.starts_with("TFLite"), "{}", c.source);
        assert!(c.output.is_some());
        assert_eq!(c.input_dtype, DType::Int8);
        let float64 = p.parent().unwrap().ends_with("fc_float64");
        assert_eq!(c.rounding == Rounding::Float64, float64, "{}", p.display());
    }
}

#[test]
fn floats_are_read_exactly() {
    // Compare with Rust's correctly rounded parser on the text of each fixture.
    for p in json_fixtures() {
        let c = Case::read(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let field = |key: &str| -> Vec<f64> {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("\"{key}\":")))
                .unwrap();
            let v = line.split_once(':').unwrap().1;
            v.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']'))
                .filter(|t| !t.is_empty())
                .map(|t| t.parse::<f64>().unwrap())
                .collect()
        };
        assert_eq!(
            c.input_scale,
            Some(field("input_scale")[0]),
            "{}",
            p.display()
        );
        assert_eq!(
            c.output_scale,
            Some(field("output_scale")[0]),
            "{}",
            p.display()
        );
        assert_eq!(
            c.filter_scales,
            Some(field("filter_scales")),
            "{}",
            p.display()
        );
    }
}

#[test]
fn index_lists_readable_cases_but_is_not_a_case() {
    let index_path = fixtures().join("tflite/index.json");
    let index = load_value(&index_path);
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 23);
    for entry in cases {
        let file = entry["file"].as_str().unwrap();
        let p = [
            fixtures().join("tflite").join(file),
            fixtures().join("tflite/fc_float64").join(file),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{file} listed in index.json is missing"));
        let c = Case::read(&p).unwrap();
        assert_eq!(c.op.name(), entry["op"].as_str().unwrap());
        assert_eq!(c.rounding.name(), entry["rounding"].as_str().unwrap());
        assert_eq!(c.macs(), entry["macs"].as_u64().unwrap(), "{file}");
        assert_eq!(
            c.bias.is_some(),
            entry["has_bias"].as_bool().unwrap(),
            "{file}"
        );
        assert_eq!(c.act_min as i64, entry["act_min"].as_i64().unwrap());
        assert_eq!(c.act_max as i64, entry["act_max"].as_i64().unwrap());
        assert_eq!(
            *c.shift.iter().min().unwrap() as i64,
            entry["shift_min"].as_i64().unwrap()
        );
        assert_eq!(
            *c.shift.iter().max().unwrap() as i64,
            entry["shift_max"].as_i64().unwrap()
        );
    }
    // The index itself is not a case: an input error, not a panic.
    let e = Case::read(&index_path).unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn seed_style_directory_equals_its_json_twin() {
    let dir = fixtures().join("seed_style");
    let seed = Case::read(&dir).unwrap_or_else(|e| panic!("{e}"));
    let json = Case::read(&mbnet_json()).unwrap();
    assert_eq!(seed.path, dir.join("case.toml"));
    assert_eq!(seed.op, Op::DepthwiseConv2d);
    assert_eq!(seed.input.len(), 800);
    assert_same_case(&json, &seed);
}

/// Deriving multiplier/shift from the scales reproduces TFLite's arrays for
/// every fixture, including the per-tensor fully_connected cases, where TFLite
/// forms `S_x · S_w` in float32 (GetQuantizedConvolutionMultipler).
#[test]
fn derived_multiplier_and_shift_match_tflite() {
    let tmp = tempfile::tempdir().unwrap();
    for p in json_fixtures() {
        let want = Case::read(&p).unwrap();
        // Edit the text (one key per line) so the float scales stay as written.
        let text: String = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .filter(|l| !l.contains("\"multiplier\":") && !l.contains("\"shift\":"))
            .map(|l| format!("{l}\n"))
            .collect();
        let q = tmp.path().join("derived.json");
        std::fs::write(&q, text).unwrap();
        let got = Case::read(&q).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got.multiplier.len(),
            want.filter_scales.as_ref().unwrap().len()
        );
        assert_eq!(
            (&got.multiplier, &got.shift),
            (&want.multiplier, &want.shift),
            "{}",
            p.display()
        );
    }
}

#[test]
fn defaults_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let v = json!({
        "op": "conv2d",
        "input_shape": [1, 2, 2, 1], "filter_shape": [1, 1, 1, 1], "output_shape": [1, 2, 2, 1],
        "input_zero_point": 0, "output_zero_point": 0,
        "multiplier": [1073741824], "shift": [0],
        "input": [1, 2, 3, 4], "filter": [1]
    });
    let (_, c) = read_value(tmp.path(), "min.json", &v);
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.source, "");
    assert_eq!(
        (c.stride, c.dilation, c.padding),
        ([1, 1], [1, 1], [0, 0, 0, 0])
    );
    assert_eq!((c.depth_multiplier, c.filter_zero_point), (1, 0));
    assert_eq!((c.act_min, c.act_max), (-128, 127));
    assert_eq!((c.input_dtype, c.output_dtype), (DType::Int8, DType::Int8));
    assert_eq!(c.rounding, Rounding::Double);
    assert_eq!((c.bias.clone(), c.output.clone()), (None, None));

    let mut u = v.clone();
    u["output_dtype"] = json!("uint8");
    u["output_zero_point"] = json!(128);
    let (_, c) = read_value(tmp.path(), "u8.json", &u);
    let c = c.unwrap();
    assert_eq!((c.act_min, c.act_max), (0, 255));
}

#[test]
fn npy_directory_case() {
    let src = Case::read(&mbnet_json()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sh = |s: [usize; 4]| (s[0], s[1], s[2], s[3]);

    let input = Array4::from_shape_vec(
        sh(src.input_shape),
        src.input.iter().map(|&x| x as i8).collect(),
    )
    .unwrap();
    write_npy(d.join("input.npy"), &input).unwrap();
    let filter = Array4::from_shape_vec(
        sh(src.filter_shape),
        src.filter.iter().map(|&x| x as i64).collect(),
    )
    .unwrap();
    write_npy(d.join("filter.npy"), &filter).unwrap();
    let bias: Array1<i32> = src.bias.clone().unwrap().into();
    write_npy(d.join("bias.npy"), &bias).unwrap();
    // A flat 1-D output is accepted when the element count matches.
    let output: Array1<i16> = src
        .output
        .as_ref()
        .unwrap()
        .iter()
        .map(|&x| x as i16)
        .collect();
    write_npy(d.join("output.npy"), &output).unwrap();
    let mult: Array1<u32> = src.multiplier.iter().map(|&x| x as u32).collect();
    write_npy(d.join("multiplier.npy"), &mult).unwrap();
    let shift: Array1<i64> = src.shift.iter().map(|&x| x as i64).collect();
    write_npy(d.join("shift.npy"), &shift).unwrap();
    let scales: Array1<f64> = src.filter_scales.clone().unwrap().into();
    write_npy(d.join("scales.npy"), &scales).unwrap();

    let toml = format!(
        r#"source = "npy test"
op = "depthwise_conv2d"
input_shape = {:?}
filter_shape = {:?}
output_shape = {:?}
padding = [1, 1, 1, 1]
input_zero_point = {}
output_zero_point = {}
input_scale = {:?}
output_scale = {:?}
filter_scales = "scales.npy"
input = "input.npy"
filter = "filter.npy"
bias = "bias.npy"
output = "output.npy"
multiplier = "multiplier.npy"
shift = "shift.npy"
"#,
        src.input_shape,
        src.filter_shape,
        src.output_shape,
        src.input_zero_point,
        src.output_zero_point,
        src.input_scale.unwrap(),
        src.output_scale.unwrap(),
    );
    std::fs::write(d.join("case.toml"), &toml).unwrap();
    let c = Case::read(d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.source, "npy test");
    assert_same_case(&src, &c);

    // A shape that does not match the tensor's is an error naming the .npy.
    let bad = Array4::<i8>::zeros((1, 10, 8, 10));
    write_npy(d.join("input.npy"), &bad).unwrap();
    let e = expect_err(Case::read(d), &d.join("input.npy"), "field `input`");
    assert!(e.message.contains("[1, 10, 8, 10]"), "{e}");

    // Float data is refused for integer tensors.
    let f = Array4::<f32>::zeros(sh(src.input_shape));
    write_npy(d.join("input.npy"), &f).unwrap();
    let e = expect_err(Case::read(d), &d.join("input.npy"), "field `input`");
    assert!(e.message.contains("float"), "{e}");

    // An out-of-range value in an .npy names the element and the array file.
    let mut big = Array4::<i16>::zeros(sh(src.input_shape));
    big[[0, 0, 2, 1]] = 300; // flat index 2*8 + 1 = 17
    write_npy(d.join("input.npy"), &big).unwrap();
    let e = expect_err(Case::read(d), &d.join("input.npy"), "element 17 of `input`");
    assert!(e.message.contains("300"), "{e}");

    // A truncated .npy file.
    write_npy(d.join("input.npy"), &input).unwrap();
    let bytes = std::fs::read(d.join("input.npy")).unwrap();
    std::fs::write(d.join("input.npy"), &bytes[..bytes.len() - 10]).unwrap();
    expect_err(Case::read(d), &d.join("input.npy"), "file");

    // Not an .npy at all.
    std::fs::write(d.join("input.npy"), b"hello").unwrap();
    expect_err(Case::read(d), &d.join("input.npy"), "file");
}

#[test]
fn json_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases: Vec<Case> = json_fixtures()
        .iter()
        .map(|p| Case::read(p).unwrap())
        .collect();
    cases.push(Case::read(&fixtures().join("seed_style")).unwrap());
    // A uint8 fbgemm case with a float bias and no output.
    let mut fb = cases[0].clone();
    fb.rounding = Rounding::Fbgemm;
    fb.input_dtype = DType::Uint8;
    fb.output_dtype = DType::Uint8;
    fb.input_zero_point = 0;
    fb.output_zero_point = 3;
    fb.act_min = 0;
    fb.act_max = 255;
    fb.input.iter_mut().for_each(|x| *x += 128);
    fb.bias_float = Some(
        (0..fb.out_channels())
            .map(|c| c as f64 * 0.125 - 1e-7)
            .collect(),
    );
    fb.output = None;
    fb.validate().unwrap();
    cases.push(fb);

    for (i, c) in cases.iter().enumerate() {
        let p = tmp.path().join(format!("case{i}.json"));
        c.write_json(&p, false).unwrap();
        let back = Case::read(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.path, p);
        let mut back2 = back.clone();
        back2.path = c.path.clone();
        assert_eq!(&back2, c);
        assert_eq!(back.to_json(), c.to_json());
    }

    // Field order follows docs/qcase.md.
    let text = cases[0].to_json();
    let order = [
        "\"source\"",
        "\"op\"",
        "\"input_shape\"",
        "\"filter_shape\"",
        "\"output_shape\"",
        "\"stride\"",
        "\"dilation\"",
        "\"padding\"",
        "\"depth_multiplier\"",
        "\"input_zero_point\"",
        "\"filter_zero_point\"",
        "\"output_zero_point\"",
        "\"input_scale\"",
        "\"filter_scales\"",
        "\"output_scale\"",
        "\"act_min\"",
        "\"act_max\"",
        "\"multiplier\"",
        "\"shift\"",
        "\"rounding\"",
        "\"input\"",
        "\"filter\"",
        "\"bias\"",
        "\"output\"",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\n  {k}:")).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");

    // No silent overwrite.
    let p = tmp.path().join("case0.json");
    let e = cases[1].write_json(&p, false).unwrap_err();
    assert!(e.to_string().contains("overwrite"), "{e}");
    assert_eq!(Case::read(&p).unwrap().source, cases[0].source);
    cases[1].write_json(&p, true).unwrap();
    assert_eq!(Case::read(&p).unwrap().source, cases[1].source);
}

#[test]
fn text_arrays() {
    let f = Path::new("x.txt");
    assert_eq!(
        parse_int_array(f, "1\n-2\n# c\n\n3 # three\n").unwrap(),
        vec![1, -2, 3]
    );
    assert_eq!(
        parse_int_array(f, "[1, -2,\n  3,\n]\n").unwrap(),
        vec![1, -2, 3]
    );
    assert_eq!(
        parse_int_array(f, "[[1, 2], [3, 4]]").unwrap(),
        vec![1, 2, 3, 4]
    );
    let e = parse_int_array(f, "1\n2\n\n0x5\n").unwrap_err();
    assert_eq!(e.to_string(), "x.txt: line 4: `0x5` is not an integer");
    assert_eq!(parse_int_array(f, "[1,\n2").unwrap_err().position, "line 1");

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.txt");
    let e = read_int_array(&missing).unwrap_err();
    assert_eq!(e.position, "file");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: file: ", missing.display())),
        "{e}"
    );
    assert!(e.message.contains("os error"), "{e}");
}

/// A copy of the seed-style directory in a temp dir, for corruption tests.
fn seed_copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("seed_style")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
    }
    tmp
}

#[test]
fn malformed_inputs_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let good = load_value(&mbnet_json());

    // Truncated JSON.
    let text = std::fs::read_to_string(mbnet_json()).unwrap();
    let p = d.join("trunc.json");
    std::fs::write(&p, &text[..text.len() / 2]).unwrap();
    let e = Case::read(&p).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: line ", p.display())),
        "{e}"
    );

    // Wrong input length.
    let mut v = good.clone();
    v["input"].as_array_mut().unwrap().pop();
    let (p, r) = read_value(d, "short.json", &v);
    let e = expect_err(r, &p, "field `input`");
    assert!(
        e.message.contains("799") && e.message.contains("800"),
        "{e}"
    );

    // Out-of-range value.
    let mut v = good.clone();
    v["input"][17] = json!(300);
    let (p, r) = read_value(d, "range.json", &v);
    let e = expect_err(r, &p, "element 17 of `input`");
    assert!(
        e.message.contains("300") && e.message.contains("int8"),
        "{e}"
    );

    // A non-integer element.
    let mut v = good.clone();
    v["filter"][3] = json!(1.5);
    let (p, r) = read_value(d, "float.json", &v);
    expect_err(r, &p, "element 3 of `filter`");

    // act_min > act_max.
    let mut v = good.clone();
    v["act_min"] = json!(10);
    v["act_max"] = json!(-10);
    let (p, r) = read_value(d, "act.json", &v);
    let e = expect_err(r, &p, "field `act_min`");
    assert!(e.message.contains("act_max"), "{e}");

    // act_max outside the output type.
    let mut v = good.clone();
    v["act_max"] = json!(128);
    let (p, r) = read_value(d, "actmax.json", &v);
    expect_err(r, &p, "field `act_max`");

    // output_shape inconsistent with padding / stride.
    let mut v = good.clone();
    v["padding"] = json!([0, 0, 0, 0]);
    let (p, r) = read_value(d, "pad.json", &v);
    let e = expect_err(r, &p, "field `output_shape`");
    assert!(e.message.contains("= 8"), "{e}");
    let mut v = good.clone();
    v["stride"] = json!([2, 2]);
    let (p, r) = read_value(d, "stride.json", &v);
    expect_err(r, &p, "field `output_shape`");

    // Shift outside [-31, 30], negative multiplier.
    let mut v = good.clone();
    v["shift"][2] = json!(31);
    let (p, r) = read_value(d, "shift.json", &v);
    expect_err(r, &p, "element 2 of `shift`");
    let mut v = good.clone();
    v["multiplier"][0] = json!(-1);
    let (p, r) = read_value(d, "mult.json", &v);
    expect_err(r, &p, "element 0 of `multiplier`");

    // Wrong channel counts.
    let mut v = good.clone();
    v["filter_shape"] = json!([1, 3, 3, 16]);
    let (p, r) = read_value(d, "dw.json", &v);
    expect_err(r, &p, "field `filter_shape`");
    let mut v = good.clone();
    v["bias"].as_array_mut().unwrap().push(json!(0));
    let (p, r) = read_value(d, "bias.json", &v);
    expect_err(r, &p, "field `bias`");

    // Unknown field, missing field, bad enum value.
    let mut v = good.clone();
    v["colour"] = json!("blue");
    let (p, r) = read_value(d, "unknown.json", &v);
    let e = r.unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: line ", p.display())),
        "{e}"
    );
    assert!(e.message.contains("colour"), "{e}");
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("op");
    let (p, r) = read_value(d, "noop.json", &v);
    expect_err(r, &p, "field `op`");
    let mut v = good.clone();
    v["rounding"] = json!("triple");
    let (p, r) = read_value(d, "round.json", &v);
    expect_err(r, &p, "field `rounding`");

    // No multiplier and no scales to derive it from.
    let mut v = good.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("multiplier");
    o.remove("shift");
    o.remove("output_scale");
    let (p, r) = read_value(d, "noscale.json", &v);
    expect_err(r, &p, "field `output_scale`");

    // Array files are for directory cases only.
    let mut v = good.clone();
    v["input"] = json!("input.txt");
    let (p, r) = read_value(d, "file.json", &v);
    expect_err(r, &p, "field `input`");

    // fbgemm with a bias needs bias_float.
    let mut v = good.clone();
    v["rounding"] = json!("fbgemm");
    let (p, r) = read_value(d, "fbgemm.json", &v);
    expect_err(r, &p, "field `bias_float`");

    // Huge shapes do not overflow or allocate.
    let mut v = good.clone();
    v["input_shape"] = json!([1, 4294967296i64, 4294967296i64, 8]);
    let (p, r) = read_value(d, "huge.json", &v);
    assert!(r
        .unwrap_err()
        .to_string()
        .starts_with(&p.display().to_string()));

    // Missing case file.
    let p = d.join("does_not_exist.json");
    let e = expect_err(Case::read(&p), &p, "file");
    assert!(e.message.contains("os error"), "{e}");

    // A directory without case.toml.
    let empty = d.join("empty_dir");
    std::fs::create_dir(&empty).unwrap();
    expect_err(Case::read(&empty), &empty.join("case.toml"), "file");
}

#[test]
fn malformed_directory_cases() {
    // A bad number token in a .txt array names the file and the line.
    let tmp = seed_copy();
    let d = tmp.path();
    let txt = d.join("input.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(&txt)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[41] = "12z".into();
    std::fs::write(&txt, lines.join("\n")).unwrap();
    let e = expect_err(Case::read(d), &txt, "line 42");
    assert!(e.message.contains("`12z`"), "{e}");

    // An out-of-range value in a .txt names the line and the element.
    lines[41] = "-129".into();
    std::fs::write(&txt, lines.join("\n")).unwrap();
    let e = expect_err(Case::read(d), &txt, "line 42");
    assert!(e.message.contains("element 41 of `input`"), "{e}");

    // A wrong element count in a .txt array.
    lines[41] = "0".into();
    lines.truncate(799);
    std::fs::write(&txt, lines.join("\n")).unwrap();
    expect_err(Case::read(d), &d.join("case.toml"), "field `input`");

    // A missing array file.
    let tmp = seed_copy();
    let d = tmp.path();
    std::fs::remove_file(d.join("weights.txt")).unwrap();
    let e = expect_err(Case::read(d), &d.join("weights.txt"), "file");
    assert!(e.message.contains("os error"), "{e}");

    // Bad TOML names case.toml and the line.
    let tmp = seed_copy();
    let d = tmp.path();
    let toml = std::fs::read_to_string(d.join("case.toml")).unwrap();
    std::fs::write(
        d.join("case.toml"),
        toml.replace("stride = [1, 1]", "stride = [1, 1"),
    )
    .unwrap();
    let e = Case::read(d).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: line ", d.join("case.toml").display())),
        "{e}"
    );

    // An unknown key in case.toml.
    std::fs::write(d.join("case.toml"), format!("{toml}strid = [1, 1]\n")).unwrap();
    let line = format!("line {}", toml.lines().count() + 1);
    let e = expect_err(Case::read(d), &d.join("case.toml"), &line);
    assert!(e.message.contains("strid"), "{e}");

    // An unsupported array file type.
    std::fs::write(
        d.join("case.toml"),
        toml.replace("\"bias.txt\"", "\"bias.csv\""),
    )
    .unwrap();
    expect_err(Case::read(d), &d.join("case.toml"), "field `bias`");

    // Inline arrays and float .txt arrays work in case.toml too.
    std::fs::write(
        d.join("scales.txt"),
        "# per channel\n[0.5, 0.25,\n 0.125, 1, 2, 3, 4, 5]\n",
    )
    .unwrap();
    let t = toml
        .replace("\"bias.txt\"", "[1, 2, 3, 4, 5, 6, 7, 8]")
        .lines()
        .map(|l| {
            if l.starts_with("filter_scales") {
                "filter_scales = \"scales.txt\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("case.toml"), t).unwrap();
    let c = Case::read(d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.bias, Some((1..=8).collect()));
    assert_eq!(c.filter_scales.unwrap()[..3], [0.5, 0.25, 0.125]);
}

#[test]
fn validate_rejects_in_memory_inconsistencies_without_panicking() {
    let base = Case::read(&mbnet_json()).unwrap();
    let mut c = base.clone();
    c.input_shape = [usize::MAX, usize::MAX, 2, 8];
    assert!(c.validate().is_err());
    let mut c = base.clone();
    c.stride = [0, 1];
    assert_eq!(c.validate().unwrap_err().position, "field `stride`");
    let mut c = base.clone();
    c.filter_shape = [1, 300, 3, 8];
    assert!(c.validate().is_err());
    let mut c = base.clone();
    c.output.as_mut().unwrap()[5] = 200;
    assert_eq!(c.validate().unwrap_err().position, "element 5 of `output`");
    let mut c = base.clone();
    c.shift.pop();
    assert_eq!(c.validate().unwrap_err().position, "field `shift`");
    let mut c = base;
    c.path = PathBuf::from("mem.json");
    c.filter_scales = Some(vec![f64::NAN; 8]);
    assert_eq!(
        c.validate().unwrap_err().to_string().split(": ").next(),
        Some("mem.json")
    );
}

/// A .npy header that declares 4 GiB (found by cargo-fuzz, fuzz/README.md) is
/// rejected before the npy parser allocates it; nested brackets likewise.
#[test]
fn npy_lying_header_is_rejected_before_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = "op = \"fully_connected\"\ninput_shape = [1, 1, 1, 2]\nfilter_shape = [1, 1, 1, 2]\noutput_shape = [1, 1, 1, 1]\ninput_zero_point = 0\noutput_zero_point = 0\nmultiplier = [1073741824]\nshift = [0]\ninput = \"input.npy\"\nfilter = [1, 2]\n";
    std::fs::write(tmp.path().join("case.toml"), toml).unwrap();
    for (bytes, needle) in [
        (
            b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec(),
            "header length 4294967295 exceeds the file",
        ),
        (
            [b"\x93NUMPY\x01\x00\x20\x00".as_slice(), &[b'{'; 32]].concat(),
            "nests brackets too deeply",
        ),
    ] {
        std::fs::write(tmp.path().join("input.npy"), &bytes).unwrap();
        let e = Case::read(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("input.npy") && e.contains(needle), "{e}");
    }
}

/// A grouped conv2d (`groups`): the filter holds Cin/groups input channels,
/// each output channel reads its group's slice, and every inconsistent
/// combination is a field error.
#[test]
fn grouped_conv_cases() {
    let tmp = tempfile::tempdir().unwrap();
    // The 4-channel probe conv as 2 groups: filter [16, 3, 3, 2], its first
    // half of every filter row kept.
    let mut v = load_value(&fixtures().join("tflite/edited_probe_conv_op0_conv2d.json"));
    let f: Vec<i64> = v["filter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let grouped: Vec<i64> = f.chunks(4).flat_map(|c| c[..2].to_vec()).collect();
    v["filter"] = json!(grouped);
    v["filter_shape"] = json!([16, 3, 3, 2]);
    v["groups"] = json!(2);
    v.as_object_mut().unwrap().remove("output");
    let (_, r) = read_value(tmp.path(), "g2.json", &v);
    let c = r.unwrap();
    assert_eq!(c.groups, 2);
    assert_eq!(c.macs(), 16 * 9 * 2);
    // Output channel 9 (group 1) reads input channels 2 and 3.
    assert_eq!(c.group_input_base(9), 2);
    let g = qmac::golden::layer::run(&c).unwrap();
    let acc9: i32 = (0..9)
        .flat_map(|t| (0..2).map(move |ic| (t, ic)))
        .map(|(t, ic)| (c.input[t * 4 + 2 + ic] + 1) * c.filter[9 * 18 + t * 2 + ic])
        .sum::<i32>()
        + c.bias_of(9);
    assert_eq!(g.acc[[0, 0, 0, 9]], acc9);
    // Written back with its groups, and read equal.
    let back = tmp.path().join("back.json");
    c.write_json(&back, false).unwrap();
    assert!(std::fs::read_to_string(&back)
        .unwrap()
        .contains("\n  \"groups\": 2,"));
    assert_same_case(&Case::read(&back).unwrap(), &c);

    for (groups, fshape, op, want) in [
        (
            json!(3),
            json!([16, 3, 3, 2]),
            "conv2d",
            "groups 3 must divide the input channels 4",
        ),
        (
            json!(2),
            json!([16, 3, 3, 4]),
            "conv2d",
            "has 4 input channels, input_shape [1, 3, 3, 4] has 4 / groups 2 = 2 per group",
        ),
        (
            json!(0),
            json!([16, 3, 3, 2]),
            "conv2d",
            "must be >= 1, got 0",
        ),
        (
            json!(-2),
            json!([16, 3, 3, 2]),
            "conv2d",
            "must be >= 1, got -2",
        ),
        (
            json!(2),
            json!([16, 1, 1, 4]),
            "fully_connected",
            "only conv2d takes groups",
        ),
    ] {
        let mut w = v.clone();
        w["groups"] = groups;
        w["filter_shape"] = fshape;
        w["op"] = json!(op);
        let (p, r) = read_value(tmp.path(), "bad.json", &w);
        let e = r.expect_err(want);
        assert_eq!(e.file, p, "{e}");
        assert!(e.to_string().contains(want), "{e}");
    }
}

/// A layer case refuses every elementwise-only field by name (none is
/// silently ignored).
#[test]
fn layer_cases_refuse_elementwise_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let base = load_value(&fixtures().join("tflite/edited_probe_conv_op0_conv2d.json"));
    for (field, value) in [
        ("input2", json!([1, 2])),
        ("input2_scale", json!(0.5)),
        ("torch_vector_bytes", json!(64)),
        ("bn_eps", json!(1e-5)),
        ("bn_weight", json!([1.0])),
        ("pool_kernel", json!([2, 2])),
        ("count_include_pad", json!(false)),
        ("divisor_override", json!(3)),
    ] {
        let mut v = base.clone();
        v[field] = value;
        let (p, r) = read_value(tmp.path(), "c.json", &v);
        let e = expect_err(r, &p, &format!("field `{field}`"));
        assert!(e.to_string().contains("only elementwise cases"), "{e}");
    }
}
