//! The TFLite FlatBuffer reader against the `ops.json` descriptions of the
//! three fixture models (every op, option, tensor shape/type/buffer, scale,
//! zero point, quantized dimension and the sha256 of every constant buffer),
//! and corrupted files: one-line errors, never a panic.

use std::path::{Path, PathBuf};

use qmac::formats::tflite::{FusedActivation, Model, Options, Padding};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

fn ops_json(model: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{model}.ops.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn act(a: FusedActivation) -> String {
    a.name()
}

fn pad(p: Padding) -> &'static str {
    match p {
        Padding::Same => "SAME",
        Padding::Valid => "VALID",
    }
}

/// The options of `op` by schema field name, as ops.json spells them.
fn options_json(o: &Options) -> Value {
    use serde_json::json;
    match o {
        Options::Conv2d {
            padding,
            stride_w,
            stride_h,
            activation,
            dilation_w,
            dilation_h,
        } => json!({
            "padding": pad(*padding), "stride_w": stride_w, "stride_h": stride_h,
            "fused_activation_function": act(*activation),
            "dilation_w_factor": dilation_w, "dilation_h_factor": dilation_h}),
        Options::DepthwiseConv2d {
            padding,
            stride_w,
            stride_h,
            depth_multiplier,
            activation,
            dilation_w,
            dilation_h,
        } => json!({
            "padding": pad(*padding), "stride_w": stride_w, "stride_h": stride_h,
            "depth_multiplier": depth_multiplier, "fused_activation_function": act(*activation),
            "dilation_w_factor": dilation_w, "dilation_h_factor": dilation_h}),
        Options::FullyConnected {
            activation,
            weights_format,
            keep_num_dims,
        } => json!({
            "fused_activation_function": act(*activation),
            "weights_format": if *weights_format == 0 { "DEFAULT".to_string() } else { weights_format.to_string() },
            "keep_num_dims": keep_num_dims}),
        Options::Pool2d {
            padding,
            stride_w,
            stride_h,
            filter_width,
            filter_height,
            activation,
        } => json!({
            "padding": pad(*padding), "stride_w": stride_w, "stride_h": stride_h,
            "filter_width": filter_width, "filter_height": filter_height,
            "fused_activation_function": act(*activation)}),
        Options::Add { activation } => json!({"fused_activation_function": act(*activation)}),
        Options::Softmax { beta } => json!({"beta": *beta as f64}),
        Options::LeakyRelu { alpha } => json!({"alpha": *alpha as f64}),
        Options::Mul { activation } => json!({"fused_activation_function": act(*activation)}),
        Options::Sub { activation } => json!({"fused_activation_function": act(*activation)}),
        Options::Concatenation { axis, activation } => {
            json!({"axis": axis, "fused_activation_function": act(*activation)})
        }
        Options::Reducer { keep_dims } => json!({"keep_dims": keep_dims}),
        Options::Reshape { new_shape } => match new_shape {
            Some(s) => json!({"new_shape": s}),
            None => Value::Null,
        },
        Options::TransposeConv {
            padding,
            stride_w,
            stride_h,
            activation,
        } => json!({"padding": pad(*padding), "stride_w": stride_w, "stride_h": stride_h,
            "fused_activation_function": act(*activation)}),
        Options::StridedSlice {
            begin_mask,
            end_mask,
            ellipsis_mask,
            new_axis_mask,
            shrink_axis_mask,
            offset,
        } => json!({"begin_mask": begin_mask, "end_mask": end_mask, "ellipsis_mask": ellipsis_mask,
            "new_axis_mask": new_axis_mask, "shrink_axis_mask": shrink_axis_mask, "offset": offset}),
        Options::Resize {
            align_corners,
            half_pixel_centers,
        } => json!({"align_corners": align_corners, "half_pixel_centers": half_pixel_centers}),
        Options::None => json!({}),
    }
}

#[test]
fn reader_matches_ops_json_for_all_three_models() {
    for name in ["mbnet", "resnet", "kws"] {
        let model = Model::read(&fixture(&format!("{name}.tflite"))).unwrap();
        let j = ops_json(name);
        assert_eq!(
            model.inputs,
            serde_json::from_value::<Vec<usize>>(j["subgraph_inputs"].clone()).unwrap(),
            "{name}: subgraph inputs"
        );
        assert_eq!(
            model.outputs,
            serde_json::from_value::<Vec<usize>>(j["subgraph_outputs"].clone()).unwrap(),
            "{name}: subgraph outputs"
        );
        let ops = j["operators"].as_array().unwrap();
        assert_eq!(model.operators.len(), ops.len(), "{name}: operator count");
        for (op, jo) in model.operators.iter().zip(ops) {
            let here = format!("{name} op {}", op.index);
            assert_eq!(op.name(), jo["op"].as_str().unwrap(), "{here}: type");
            assert_eq!(
                op.version as i64,
                jo["version"].as_i64().unwrap(),
                "{here}: version"
            );
            let ins: Vec<i32> = serde_json::from_value(jo["inputs"].clone()).unwrap();
            let outs: Vec<i32> = serde_json::from_value(jo["outputs"].clone()).unwrap();
            assert_eq!(op.inputs, ins, "{here}: inputs");
            assert_eq!(op.outputs, outs, "{here}: outputs");
            // Every option the reader decodes must equal the json's field of that name.
            let mine = options_json(&op.options);
            if let Value::Object(fields) = &mine {
                for (k, v) in fields {
                    assert_eq!(&jo["builtin_options"][k], v, "{here}: option {k}");
                }
            }
            if jo["builtin_options"].is_object()
                && !jo["builtin_options"].as_object().unwrap().is_empty()
            {
                assert!(
                    mine.as_object().is_some_and(|m| !m.is_empty()),
                    "{here}: options present in the model but not decoded"
                );
            }
        }
        let tensors = j["tensors"].as_array().unwrap();
        assert_eq!(model.tensors.len(), tensors.len(), "{name}: tensor count");
        let mut constants = 0;
        for (t, jt) in model.tensors.iter().zip(tensors) {
            let here = format!("{name} tensor {}", t.index);
            assert_eq!(t.name, jt["name"].as_str().unwrap(), "{here}: name");
            let shape: Vec<i32> = serde_json::from_value(jt["shape"].clone()).unwrap();
            assert_eq!(t.shape, shape, "{here}: shape");
            assert_eq!(t.dtype.name(), jt["type"].as_str().unwrap(), "{here}: type");
            assert_eq!(
                t.buffer as u64,
                jt["buffer"].as_u64().unwrap(),
                "{here}: buffer"
            );
            match (&t.quantization, &jt["quantization"]) {
                (None, Value::Null) => {}
                (Some(q), jq) if jq.is_object() => {
                    let scale: Vec<f64> = serde_json::from_value(jq["scale"].clone()).unwrap();
                    let scale32: Vec<f32> = scale.iter().map(|&s| s as f32).collect();
                    assert_eq!(q.scale, scale32, "{here}: scales");
                    // ops.json prints the float32 widened to f64: exact.
                    assert!(
                        q.scale.iter().zip(&scale).all(|(a, b)| *a as f64 == *b),
                        "{here}: scales exact"
                    );
                    let zp: Vec<i64> = serde_json::from_value(jq["zero_point"].clone()).unwrap();
                    assert_eq!(q.zero_point, zp, "{here}: zero points");
                    assert_eq!(
                        q.quantized_dimension as i64,
                        jq["quantized_dimension"].as_i64().unwrap(),
                        "{here}: quantized_dimension"
                    );
                }
                (q, jq) => panic!("{here}: quantization {q:?} vs {jq}"),
            }
            if jt["constant"].as_bool().unwrap() {
                constants += 1;
                let data = t
                    .data
                    .as_ref()
                    .unwrap_or_else(|| panic!("{here}: constant without data"));
                assert_eq!(
                    data.len() as u64,
                    jt["nbytes"].as_u64().unwrap(),
                    "{here}: nbytes"
                );
                let sha: String = Sha256::digest(data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(sha, jt["sha256"].as_str().unwrap(), "{here}: sha256");
            } else {
                assert!(
                    t.data.is_none(),
                    "{here}: activation tensor with constant data"
                );
            }
        }
        assert!(
            constants > 10,
            "{name}: only {constants} constants compared"
        );
    }
}

#[test]
fn corrupted_models_are_one_line_errors() {
    let bytes = std::fs::read(fixture("mbnet.tflite")).unwrap();
    let path = Path::new("bad.tflite");
    // Every truncation point of the first 4 KiB and a stride through the rest.
    let mut cuts: Vec<usize> = (0..4096.min(bytes.len())).collect();
    cuts.extend((4096..bytes.len()).step_by(97));
    for cut in cuts {
        let e = Model::parse(path, &bytes[..cut]).expect_err("a truncated model must not parse");
        let msg = e.to_string();
        assert!(msg.starts_with("bad.tflite: "), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
    // Single-byte corruptions anywhere: either a clean error or a model
    // (a changed weight byte is still a valid model) — never a panic.
    let mut errors = 0;
    for pos in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[pos] ^= 0x5a;
        if let Err(e) = Model::parse(path, &b) {
            errors += 1;
            assert!(!e.to_string().contains('\n'));
        }
    }
    assert!(errors > 0);
    let e = Model::parse(path, b"TFL3").unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
    let mut not_tflite = bytes.clone();
    not_tflite[4..8].copy_from_slice(b"XXXX");
    let e = Model::parse(path, &not_tflite).unwrap_err().to_string();
    assert!(e.contains("TFL3"), "{e}");
}

/// Byte flips through the whole model, then plan and run every variant that
/// still parses (on the golden model): a clean error or a result, never a
/// panic, never an unbounded allocation.
#[test]
fn corrupted_models_never_panic_when_planned_and_run() {
    use qmac::model::{self, ModelRunOptions, Plan};
    let bytes = std::fs::read(fixture("mbnet.tflite")).unwrap();
    let path = Path::new("bad.tflite");
    let (mut parsed, mut planned, mut ran) = (0, 0, 0);
    for pos in (0..bytes.len()).step_by(11) {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[pos] ^= flip;
            let Ok(m) = Model::parse(path, &b) else {
                continue;
            };
            parsed += 1;
            let Ok(plan) = Plan::new(&m) else { continue };
            planned += 1;
            let inputs: Vec<qmac::formats::npy::Int8Array> = plan
                .inputs
                .iter()
                .map(|i| qmac::formats::npy::Int8Array {
                    shape: i.shape.clone(),
                    data: vec![3; i.shape.iter().product()],
                })
                .collect();
            let opt = ModelRunOptions::plain();
            if let Err(e) = model::run(
                &plan,
                Path::new("x.npy"),
                &inputs,
                &mut model::GoldenEngine,
                &opt,
            ) {
                assert!(!e.to_string().contains('\n'), "{e}");
            } else {
                ran += 1;
            }
        }
    }
    // Most flips land in weights: those models still plan and run.
    assert!(
        parsed > 1000 && planned > 500 && ran > 500,
        "{parsed} {planned} {ran}"
    );
}
