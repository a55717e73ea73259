//! Golden tests of the non-MAC TFLite kernels (`qmac::golden::ops`).
//!
//! 1. Every non-MAC op of the three fixture models (tests/fixtures/models,
//!    TFLite 2.21 `BUILTIN_REF`), both samples: the op's input tensors from the
//!    npz, quantization and options from `ops.json`, output compared bit for
//!    bit with TFLite's tensor. Constant operands (MEAN axes, PAD paddings,
//!    RESHAPE shape) are not in the JSON by value, only by sha256: the test
//!    derives the candidates from the tensor shapes and keeps the one whose
//!    little-endian int32 bytes hash to the stored sha256 (so the constant is
//!    proven, not assumed).
//! 2. Hand-computed unit cases for ops and paths the models do not reach, with
//!    the derivation from the reference source in a comment.
//! 3. Bad parameters give an `Err`, never a panic.

use std::fs::File;
use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::NpzReader;
use qmac::arith::requant::Activation;
use qmac::golden::ops::{self, PoolParams};
use qmac::golden::tensor::{QTensor, Quant};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MODELS: [&str; 3] = ["mbnet", "resnet", "kws"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models")
}

fn load_ops(model: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{model}.ops.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn shape_of(t: &Value) -> Vec<usize> {
    t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// Per-tensor quantization; scales parsed as f64 and narrowed to the f32 the
/// .tflite stores (exact: they are float32 values printed round-trip).
fn quant_of(t: &Value) -> Quant {
    let q = &t["quantization"];
    let scales = q["scale"].as_array().unwrap();
    let zps = q["zero_point"].as_array().unwrap();
    assert_eq!(scales.len(), 1, "activation tensors are per-tensor");
    Quant {
        scale: scales[0].as_f64().unwrap() as f32,
        zero_point: zps[0].as_i64().unwrap() as i32,
    }
}

fn activation(name: &str) -> Activation {
    match name {
        "NONE" => Activation::None,
        "RELU" => Activation::Relu,
        "RELU6" => Activation::Relu6,
        other => panic!("fused activation {other} not handled by the test"),
    }
}

fn sha256_i32(values: &[i32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one candidate whose int32 bytes hash to the constant tensor's sha256.
fn pick_constant(t: &Value, candidates: Vec<Vec<i32>>, what: &str) -> Vec<i32> {
    let want = t["sha256"].as_str().unwrap();
    let hits: Vec<Vec<i32>> = candidates
        .into_iter()
        .filter(|c| sha256_i32(c) == want)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{what}: no unique candidate matches sha256 {want}"
    );
    hits.into_iter().next().unwrap()
}

struct Comparison {
    tensors: usize,
    elements: usize,
}

fn compare(label: &str, got: &QTensor, want: &ArrayD<i8>) -> usize {
    let want_shape: Vec<usize> = want.shape().to_vec();
    assert_eq!(got.shape, want_shape, "{label}: output shape");
    let want: Vec<i8> = want.iter().copied().collect();
    let mism: Vec<usize> = (0..want.len())
        .filter(|&i| got.data[i] != want[i])
        .collect();
    assert!(
        mism.is_empty(),
        "{label}: {} of {} elements differ; first at flat index {} (got {}, want {})",
        mism.len(),
        want.len(),
        mism[0],
        got.data[mism[0]],
        want[mism[0]]
    );
    want.len()
}

/// Runs one non-MAC op of a model on one sample; `None` for MAC ops.
fn run_op(
    op: &Value,
    tensors: &[Value],
    npz: &mut NpzReader<File>,
) -> Option<(QTensor, ArrayD<i8>)> {
    let kind = op["op"].as_str().unwrap();
    let opts = &op["builtin_options"];
    let ins: Vec<usize> = op["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as usize)
        .collect();
    let out_t = &tensors[op["outputs"][0].as_u64().unwrap() as usize];
    let out_q = quant_of(out_t);
    let mut load = |t: &Value| -> QTensor {
        let a: ArrayD<i8> = npz.by_name(t["npz_key"].as_str().unwrap()).unwrap();
        assert_eq!(a.shape(), &shape_of(t)[..]);
        QTensor::new(shape_of(t), a.iter().copied().collect(), quant_of(t))
    };
    let got = match kind {
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED" => return None,
        "ADD" => {
            let a = load(&tensors[ins[0]]);
            let b = load(&tensors[ins[1]]);
            let act = activation(opts["fused_activation_function"].as_str().unwrap());
            ops::add(&a, &b, out_q, act).unwrap()
        }
        "AVERAGE_POOL_2D" | "MAX_POOL_2D" => {
            let x = load(&tensors[ins[0]]);
            let g = |k: &str| opts[k].as_u64().unwrap() as usize;
            let p = PoolParams::from_options(
                opts["padding"].as_str().unwrap() == "SAME",
                x.shape[1],
                x.shape[2],
                g("filter_height"),
                g("filter_width"),
                g("stride_h"),
                g("stride_w"),
                activation(opts["fused_activation_function"].as_str().unwrap()),
            )
            .unwrap();
            assert_eq!([p.out_h, p.out_w], [shape_of(out_t)[1], shape_of(out_t)[2]]);
            if kind == "AVERAGE_POOL_2D" {
                ops::average_pool_2d(&x, &p, out_q).unwrap()
            } else {
                ops::max_pool_2d(&x, &p, out_q).unwrap()
            }
        }
        "MEAN" => {
            let x = load(&tensors[ins[0]]);
            let axes_t = &tensors[ins[1]];
            let n = shape_of(axes_t).iter().product::<usize>();
            // Candidates: every strictly increasing set of n axes, positive
            // or negative spelling.
            let rank = x.shape.len() as i32;
            let mut cands = Vec::new();
            for mask in 0u32..(1 << rank) {
                if mask.count_ones() as usize == n {
                    let pos: Vec<i32> = (0..rank).filter(|d| mask & (1 << d) != 0).collect();
                    cands.push(pos.iter().map(|d| d - rank).collect());
                    cands.push(pos);
                }
            }
            let axes = pick_constant(axes_t, cands, "MEAN axes");
            let keep = opts["keep_dims"].as_bool().unwrap();
            ops::mean(&x, &axes, keep, out_q).unwrap()
        }
        "PAD" => {
            let x = load(&tensors[ins[0]]);
            let out_shape = shape_of(out_t);
            // Candidates: every split (before, after) of each dimension's growth.
            let mut cands: Vec<Vec<i32>> = vec![vec![]];
            for (i, o) in x.shape.iter().zip(&out_shape) {
                let grow = (o - i) as i32;
                cands = cands
                    .into_iter()
                    .flat_map(|c| {
                        (0..=grow).map(move |b| {
                            let mut c = c.clone();
                            c.extend([b, grow - b]);
                            c
                        })
                    })
                    .collect();
            }
            let flat = pick_constant(&tensors[ins[1]], cands, "PAD paddings");
            let pads: Vec<(usize, usize)> = flat
                .chunks(2)
                .map(|p| (p[0] as usize, p[1] as usize))
                .collect();
            ops::pad(&x, &pads, out_q).unwrap()
        }
        "RESHAPE" => {
            let x = load(&tensors[ins[0]]);
            let out_shape: Vec<i32> = shape_of(out_t).iter().map(|&d| d as i32).collect();
            let mut cands = vec![out_shape.clone()];
            for i in 0..out_shape.len() {
                let mut c = out_shape.clone();
                c[i] = -1;
                cands.push(c);
            }
            let shape = pick_constant(&tensors[ins[1]], cands, "RESHAPE shape");
            ops::reshape(&x, &shape, out_q).unwrap()
        }
        "SOFTMAX" => {
            let x = load(&tensors[ins[0]]);
            let beta = opts["beta"].as_f64().unwrap() as f32;
            ops::softmax(&x, beta, out_q).unwrap()
        }
        other => panic!("op {other} has no kernel in qmac::golden::ops"),
    };
    let want: ArrayD<i8> = npz.by_name(out_t["npz_key"].as_str().unwrap()).unwrap();
    Some((got, want))
}

#[test]
fn model_non_mac_ops_match_tflite_reference() {
    let mut per_kind: std::collections::BTreeMap<String, Comparison> = Default::default();
    for model in MODELS {
        let doc = load_ops(model);
        let tensors = doc["tensors"].as_array().unwrap();
        for sample in 0..2 {
            let path = fixtures().join(format!("{model}.tensors{sample}.npz"));
            let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
            for op in doc["operators"].as_array().unwrap() {
                let Some((got, want)) = run_op(op, tensors, &mut npz) else {
                    continue;
                };
                let kind = op["op"].as_str().unwrap().to_string();
                let label = format!("{model} sample {sample} op {} {kind}", op["index"]);
                let n = compare(&label, &got, &want);
                let e = per_kind.entry(kind).or_insert(Comparison {
                    tensors: 0,
                    elements: 0,
                });
                e.tensors += 1;
                e.elements += n;
            }
        }
    }
    for (kind, c) in &per_kind {
        eprintln!(
            "{kind}: {} tensors, {} elements, 0 mismatches",
            c.tensors, c.elements
        );
    }
    // The fixture README: ADD ×3, PAD ×2, AVERAGE_POOL_2D ×2, MEAN ×1,
    // RESHAPE ×1, SOFTMAX ×3 over the three models, two samples each.
    let count = |k: &str| per_kind.get(k).map_or(0, |c| c.tensors);
    assert_eq!(count("ADD"), 6);
    assert_eq!(count("PAD"), 4);
    assert_eq!(count("AVERAGE_POOL_2D"), 4);
    assert_eq!(count("MEAN"), 2);
    assert_eq!(count("RESHAPE"), 2);
    assert_eq!(count("SOFTMAX"), 6);
}

/// The MEAN of `mbnet` distinguishes 2.21's integer `QuantizedMeanOrSum`
/// (1/n folded into the multiplier) from the float formula of older
/// releases' `QuantizedMeanOrSum(…, input_scale, …, output_scale, …)`
/// (`round(sum/n · S_in/S_out − zp_in·S_in/S_out) + zp_out` in float). The
/// integer kernel must match everywhere (checked above); this reports how
/// many elements the float formula would get wrong, as evidence of which
/// kernel TFLite ran.
#[test]
fn mbnet_mean_is_the_integer_kernel_not_the_float_one() {
    let doc = load_ops("mbnet");
    let tensors = doc["tensors"].as_array().unwrap();
    let op = doc["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "MEAN")
        .unwrap();
    let t_in = &tensors[op["inputs"][0].as_u64().unwrap() as usize];
    let t_out = &tensors[op["outputs"][0].as_u64().unwrap() as usize];
    let (qi, qo) = (quant_of(t_in), quant_of(t_out));
    let mut float_diffs = 0;
    for sample in 0..2 {
        let path = fixtures().join(format!("mbnet.tensors{sample}.npz"));
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        let x: ArrayD<i8> = npz.by_name(t_in["npz_key"].as_str().unwrap()).unwrap();
        let y: ArrayD<i8> = npz.by_name(t_out["npz_key"].as_str().unwrap()).unwrap();
        let &[_, h, w, c] = x.shape() else { panic!() };
        let scale = qi.scale / qo.scale;
        let bias = -(qi.zero_point as f32) * scale;
        for ch in 0..c {
            let mut sum = 0i32;
            for yy in 0..h {
                for xx in 0..w {
                    sum += x[[0, yy, xx, ch]] as i32;
                }
            }
            let mean = sum as f32 / (h * w) as f32;
            let r = ((mean * scale + bias).round() + qo.zero_point as f32).clamp(-128.0, 127.0);
            if r as i8 != y[[0, ch]] {
                float_diffs += 1;
            }
        }
    }
    eprintln!(
        "mbnet MEAN: the float QuantizedMeanOrSum would differ in {float_diffs} of 128 elements"
    );
    assert!(
        float_diffs > 0,
        "the fixture does not discriminate the integer and float MEAN kernels"
    );
}

// ---------------------------------------------------------------------------
// Hand-computed cases
// ---------------------------------------------------------------------------

fn q(scale: f32, zero_point: i32) -> Quant {
    Quant { scale, zero_point }
}

fn t(shape: &[usize], data: &[i8], quant: Quant) -> QTensor {
    QTensor::new(shape.to_vec(), data.to_vec(), quant)
}

#[test]
fn max_pool_hand_computed() {
    // 1×3×3×1, filter 2×2, stride 1, SAME: out 3×3, total padding
    // (3−1)·1 + 2 − 3 = 1 → pad_top = pad_left = 0 (the odd pixel goes
    // after). Windows are clamped to the input, max starts at −128.
    // Input        windows (rows y..y+1, cols x..x+1 within bounds):
    //  1  5 -3     max(1,5,-2,0)=5  max(5,-3,0,7)=7  max(-3,7)=7
    // -2  0  7     max(-2,0,4,-9)=4 max(0,7,-9,2)=7  max(7,2)=7
    //  4 -9  2     max(4,-9)=4      max(-9,2)=2      max(2)=2
    let x = t(&[1, 3, 3, 1], &[1, 5, -3, -2, 0, 7, 4, -9, 2], q(0.5, 0));
    let p = PoolParams::from_options(true, 3, 3, 2, 2, 1, 1, Activation::None).unwrap();
    assert_eq!((p.pad_top, p.pad_left, p.out_h, p.out_w), (0, 0, 3, 3));
    let y = ops::max_pool_2d(&x, &p, q(0.5, 0)).unwrap();
    assert_eq!(y.data, vec![5, 7, 7, 4, 7, 7, 4, 2, 2]);
    // RELU with zero point 3 clamps from below at 3 (CalculateActivationRangeQuantized).
    let p = PoolParams {
        activation: Activation::Relu,
        ..p
    };
    let y = ops::max_pool_2d(&x, &p, q(0.5, 3)).unwrap();
    assert_eq!(y.data, vec![5, 7, 7, 4, 7, 7, 4, 3, 3]);
}

#[test]
fn average_pool_rounds_half_away_from_zero_over_in_bounds_taps() {
    // 1×2×2×1, filter 3×3, stride 1, explicit pad 1: the window of output
    // (0,0) covers all four inputs. sum = 1+2+3+5 = 11, count 4:
    // (11 + 2)/4 = 3 (2.75 → 3). Output (1,1) same window = 3.
    // Negative: -1-2-3-5 = -11 → (-11 - 2)/4 = -3 (C truncation).
    // Tie: values 1,2 in a 1×1×2 window: sum 3, count 2 → (3+1)/2 = 2;
    //      -1,-2 → (-3-1)/2 = -2 (half away from zero).
    let p = PoolParams {
        filter_h: 3,
        filter_w: 3,
        stride_h: 1,
        stride_w: 1,
        pad_top: 1,
        pad_left: 1,
        out_h: 2,
        out_w: 2,
        activation: Activation::None,
    };
    let x = t(&[1, 2, 2, 1], &[1, 2, 3, 5], q(1.0, 0));
    assert_eq!(
        ops::average_pool_2d(&x, &p, q(1.0, 0)).unwrap().data,
        vec![3; 4]
    );
    let x = t(&[1, 2, 2, 1], &[-1, -2, -3, -5], q(1.0, 0));
    assert_eq!(
        ops::average_pool_2d(&x, &p, q(1.0, 0)).unwrap().data,
        vec![-3; 4]
    );
    let p2 = PoolParams {
        filter_h: 1,
        filter_w: 2,
        stride_h: 1,
        stride_w: 2,
        pad_top: 0,
        pad_left: 0,
        out_h: 1,
        out_w: 2,
        activation: Activation::None,
    };
    let x = t(&[1, 1, 4, 1], &[1, 2, -1, -2], q(1.0, 0));
    assert_eq!(
        ops::average_pool_2d(&x, &p2, q(1.0, 0)).unwrap().data,
        vec![2, -2]
    );
}

#[test]
fn quantize_requantizes_with_double_rounding() {
    // S_in/S_out = 0.5/0.25 = 2 → QuantizeMultiplier: frexp(2) = (0.5, 2),
    // m0 = 2^30, shift 2. MBQM(v) = RDBP(SRDHM(v·4, 2^30), 0) = 2v.
    // y = 2(x − 1) + (−3): x = 1 → −3, x = 10 → 15, x = 100 → 195 → 127,
    // x = −128 → −261 → −128.
    let x = t(&[4], &[1, 10, 100, -128], q(0.5, 1));
    let y = ops::quantize(&x, q(0.25, -3)).unwrap();
    assert_eq!(y.data, vec![-3, 15, 127, -128]);
    // S_in/S_out = 1/3: m0 = round(2/3·2^31) = 1431655765, shift −1.
    // x − zp = 5: SRDHM(5, m0) = round(5·m0/2^31) = round(3.3333) = 3;
    // RDBP(3, 1) = 2 (1.5 rounds away from zero) → y = 2.
    // x − zp = −5: SRDHM = round(−3.333) = −3; RDBP(−3, 1) = −2.
    // x − zp = 7: SRDHM = round(4.6667) = 5; RDBP(5, 1) = 3 (2.5 → 3).
    let x = t(&[3], &[5, -5, 7], q(1.0, 0));
    let y = ops::quantize(&x, q(3.0, 0)).unwrap();
    assert_eq!(y.data, vec![2, -2, 3]);
}

#[test]
fn concatenation_copies_and_rejects_rescaling() {
    let qq = q(0.1, 2);
    let a = t(&[1, 2, 2], &[1, 2, 3, 4], qq);
    let b = t(&[1, 2, 1], &[9, 8], qq);
    // axis −1 = 2: rows [1,2 | 9], [3,4 | 8].
    let y = ops::concatenation(&[&a, &b], -1, Activation::None, qq).unwrap();
    assert_eq!(y.shape, vec![1, 2, 3]);
    assert_eq!(y.data, vec![1, 2, 9, 3, 4, 8]);
    // axis 1 needs equal last dims.
    let c = t(&[1, 1, 2], &[5, 6], qq);
    let y = ops::concatenation(&[&a, &c], 1, Activation::None, qq).unwrap();
    assert_eq!(y.shape, vec![1, 3, 2]);
    assert_eq!(y.data, vec![1, 2, 3, 4, 5, 6]);
    // int8 CONCATENATION does not rescale: a different scale or zero point
    // is rejected in Prepare.
    let d = t(&[1, 2, 1], &[9, 8], q(0.2, 2));
    assert!(ops::concatenation(&[&a, &d], 2, Activation::None, qq).is_err());
    let e = t(&[1, 2, 1], &[9, 8], q(0.1, 3));
    assert!(ops::concatenation(&[&a, &e], 2, Activation::None, qq).is_err());
    assert!(ops::concatenation(&[&a, &b], 2, Activation::Relu, qq).is_err());
    assert!(ops::concatenation(&[&a, &b], 1, Activation::None, qq).is_err());
    assert!(ops::concatenation(&[&a, &b], 3, Activation::None, qq).is_err());
    assert!(ops::concatenation(&[], 0, Activation::None, qq).is_err());
}

#[test]
fn add_broadcast_hand_computed() {
    // All scales 1, zero points 0: twice_max = 2, input multipliers 0.5 →
    // QuantizeMultiplier(0.5) = (2^30, 0); output multiplier 2/2^20 = 2^-19
    // → (2^30, −18).
    // s_i = SRDHM(v·2^20, 2^30) = v·2^19 exactly; raw = (x+y)·2^19;
    // MBQM(raw, 2^30, −18) = RDBP((x+y)·2^18, 18) = x + y. So y = a + b.
    // Broadcast [2,1,3] + [2,1] → [2,2,3]: out[i][j][k] = a[i][0][k] + b[j][0].
    let one = q(1.0, 0);
    let a = t(&[2, 1, 3], &[1, 2, 3, 10, 20, 30], one);
    let b = t(&[2, 1], &[100, -100], one);
    let y = ops::add(&a, &b, one, Activation::None).unwrap();
    assert_eq!(y.shape, vec![2, 2, 3]);
    assert_eq!(
        y.data,
        vec![101, 102, 103, -99, -98, -97, 110, 120, 127, -90, -80, -70]
    );
    // Same with b first (input order swapped, multipliers equal).
    let y2 = ops::add(&b, &a, one, Activation::None).unwrap();
    assert_eq!(y2.data, y.data);
    // Rescaling: S1 = 1, S2 = 0.5, S_out = 1, zp_out = −3, RELU.
    // twice_max = 2: m1 = 0.5 → (2^30, 0); m2 = 0.25 → (2^30, −1);
    // out 2/2^20 → (2^30, −18). x = 7, y = 3: s1 = 7·2^19,
    // s2 = RDBP(3·2^19, 1) = 3·2^18; raw = 17·2^18 → MBQM = RDBP(17·2^17, 18)
    // = 8.5 → 9 (ties away) ; + zp −3 = 6. x = −7, y = −3: −9 − 3 = −12,
    // RELU clamps at zp = −3.
    let a = t(&[2], &[7, -7], one);
    let b = t(&[2], &[3, -3], q(0.5, 0));
    let y = ops::add(&a, &b, q(1.0, -3), Activation::Relu).unwrap();
    assert_eq!(y.data, vec![6, -3]);
}

#[test]
fn mean_keep_dims_4d_uses_quantized_mean_or_sum() {
    // 4-D, keep_dims, axes {1,2}: in 2.21 the reference kernel still runs
    // QuantizedMeanOrSum (the integer_ops::Mean shortcut is gone from
    // EvalMean<kReference>). S_in/S_out = 0.5/0.25 = 2 → (2^30, 2).
    // n = 4: k = min(⌊log2 4⌋ = 2, 32, 31 + 2) = 2; multiplier' = 2^30·4/4 =
    // 2^30, shift' = 0 → MBQM(v) = SRDHM(v, 2^30) = round-half-up(v/2).
    // Channel 0: 1+2+3+4 = 10, zp_in 1 → 10 − 4 = 6 → 3; + zp_out −1 → 2.
    // Channel 1: 1+0+0+0 = 1 → 1 − 4 = −3 → SRDHM(−3, 2^30) = floor(−1.5+0.5)
    // = −1 → −2. (The old integer_ops::Mean would instead scale the sum and
    // subtract a float-rounded bias.)
    let x = t(&[1, 2, 2, 2], &[1, 1, 2, 0, 3, 0, 4, 0], q(0.5, 1));
    let y = ops::mean(&x, &[1, 2], true, q(0.25, -1)).unwrap();
    assert_eq!(y.shape, vec![1, 1, 1, 2]);
    assert_eq!(y.data, vec![2, -2]);
    // Axes in the other order, or negative, give the same result.
    let y2 = ops::mean(&x, &[-2, 1], true, q(0.25, -1)).unwrap();
    assert_eq!(y2, y);
}

#[test]
fn mean_same_quantization_rounds_not_truncates() {
    // Equal input and output quantization: S_in/S_out = 1 → QuantizeMultiplier
    // (2^30, 1). Axis 1 of [2,3], n = 3: k = min(1, 32, 32) = 1;
    // multiplier' = 2^31/3 = 715827882, shift' = 0.
    // Row 0: 1+1+2 = 4, zp 0: SRDHM(4, 715827882) = round(4·0.33333) = 1.
    // Row 1: 2+2+1 = 5: SRDHM(5, 715827882) = round(1.6667) = 2 — the old
    // sum/count path (reference_ops::Mean<int8,int>) truncates 5/3 to 1.
    // Row 2 (keep_dims false shape [3]): −5 → round(−1.6667) = −2 (old: −1).
    let qq = q(0.1, 0);
    let x = t(&[3, 3], &[1, 1, 2, 2, 2, 1, -2, -2, -1], qq);
    let y = ops::mean(&x, &[1], false, qq).unwrap();
    assert_eq!(y.shape, vec![3]);
    assert_eq!(y.data, vec![1, 2, -2]);
    // No axes: ReduceIsCopy, no requantization at all.
    let y = ops::mean(&x, &[], false, q(0.3, 5)).unwrap();
    assert_eq!(y.data, x.data);
}

#[test]
fn softmax_hand_computed_uniform_row() {
    // A row of equal values: every diff = 0 → exp = One() = 2^31 − 1 each.
    // Rescale<12>: RDBP(2^31 − 1, 12) = 2^19 per entry; 4 entries → sum =
    // 2^21 (= 4.0 in Q12.19). GetReciprocal: clz(2^21) = 10, num_bits_over_unit
    // = 12 − 10 = 2, shifted_sum_minus_one = (2^21 << 10) − 2^31 = 0 →
    // one_over_one_plus_x(0) ≈ 1.0 (Q0.31 ≈ 2^31 − small). exponent =
    // 2 + 31 − 8 = 25; SRDHM(≈2^31, 2^31 − 1) ≈ 2^31 → RDBP(·, 25) = 64 →
    // 64 − 128 = −64 (0.25 · 256 = 64).
    let x = t(&[1, 4], &[7, 7, 7, 7], q(0.1, 0));
    let y = ops::softmax(&x, 1.0, q(1.0 / 256.0, -128)).unwrap();
    assert_eq!(y.data, vec![-64; 4]);
    // Two entries, one far below: input scale 1, diff −100 < diff_min
    // (β·S·2^26 = 2^26 → QuantizeMultiplier(2^26) = (2^30, 27); diff_min =
    // −⌊31·2^26/2^27⌋ = −15) → −128; the other gets all the mass: sum = 2^19,
    // num_bits_over_unit = 12 − 12 = 0, exponent 23; 1.0 → 2^31/2^23 = 256 →
    // 128 → clamped to 127.
    let p = ops::softmax_params(1.0, 1.0).unwrap();
    assert_eq!(
        (p.input_multiplier, p.input_left_shift, p.diff_min),
        (1 << 30, 27, -15)
    );
    let x = t(&[2], &[50, -50], q(1.0, 0));
    let y = ops::softmax(&x, 1.0, q(1.0 / 256.0, -128)).unwrap();
    assert_eq!(y.data, vec![127, -128]);
}

/// The fixed-point functions of TFLite's int8 SOFTMAX equal gemmlowp's bit
/// for bit: exp_on_negative_values (integer bits 1, 5 — the one SOFTMAX uses —
/// and 12) and one_over_one_plus_x_for_x_in_0_1 on 12 962 inputs (a sweep,
/// every power-of-two boundary, random values), against the table
/// `scripts/gemmlowp_table.cc` printed with gemmlowp's own fixedpoint.h (the
/// copy TensorFlow 2.21 ships).
#[test]
fn fixedpoint_exp_and_reciprocal_equal_gemmlowp_exactly() {
    let table = include_str!("fixtures/gemmlowp/fixedpoint.txt");
    let (mut exp_n, mut recip_n) = (0, 0);
    for (i, line) in table
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (bits, a, want): (i32, i32, i32) = (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        let got = match f[0] {
            "exp" => {
                exp_n += 1;
                ops::fixedpoint::exp_on_negative_values(a, bits)
            }
            "recip" => {
                recip_n += 1;
                ops::fixedpoint::one_over_one_plus_x_for_x_in_0_1(a)
            }
            other => panic!("line {}: unknown function {other}", i + 1),
        };
        assert_eq!(got, want, "line {}: {line}", i + 1);
    }
    assert_eq!((exp_n, recip_n), (3 * 3646, 2024));
    assert_eq!(ops::fixedpoint::exp_on_negative_values(0, 5), i32::MAX);
}

#[test]
fn compute_padding_matches_tflite() {
    // kws first conv: 49×10 input, 10×4 filter, stride 2, SAME →
    // ops.json derived padding_tblr [4, 5, 1, 1].
    assert_eq!(
        ops::compute_padding(true, 49, 10, 2, 1).unwrap(),
        (25, 4, 5)
    );
    assert_eq!(ops::compute_padding(true, 10, 4, 2, 1).unwrap(), (5, 1, 1));
    // mbnet first conv: 32, 3×3, stride 2, SAME → [0, 1].
    assert_eq!(ops::compute_padding(true, 32, 3, 2, 1).unwrap(), (16, 0, 1));
    assert_eq!(ops::compute_padding(false, 8, 8, 8, 1).unwrap(), (1, 0, 0));
    assert_eq!(ops::compute_padding(false, 7, 3, 2, 2).unwrap(), (2, 0, 0));
    assert!(ops::compute_padding(true, 8, 0, 1, 1).is_err());
    assert!(ops::compute_padding(true, 8, 3, 0, 1).is_err());
    assert!(ops::compute_padding(false, 2, 9, 1, 1).is_err());
}

#[test]
fn pad_reshape_hand_computed() {
    let qq = q(0.5, -7);
    let x = t(&[1, 2], &[1, 2], qq);
    let y = ops::pad(&x, &[(1, 0), (0, 2)], qq).unwrap();
    assert_eq!(y.shape, vec![2, 4]);
    assert_eq!(y.data, vec![-7, -7, -7, -7, 1, 2, -7, -7]);
    let y = ops::pad_v2(&x, &[(0, 0), (1, 1)], 9, qq).unwrap();
    assert_eq!(y.data, vec![9, 1, 2, 9]);
    let x = t(&[2, 3], &[1, 2, 3, 4, 5, 6], qq);
    let y = ops::reshape(&x, &[3, -1], qq).unwrap();
    assert_eq!(
        (y.shape.clone(), y.data.clone()),
        (vec![3, 2], x.data.clone())
    );
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    let qq = q(0.1, 0);
    let x4 = t(&[1, 2, 2, 1], &[1, 2, 3, 4], qq);
    let x2 = t(&[2, 2], &[1, 2, 3, 4], qq);
    // ADD: non-broadcastable shapes; inconsistent tensor; zero scale.
    let y = t(&[3], &[1, 2, 3], qq);
    assert!(ops::add(&x2, &y, qq, Activation::None).is_err());
    let broken = QTensor {
        shape: vec![2, 2],
        data: vec![1, 2, 3],
        quant: qq,
    };
    assert!(ops::add(&broken, &x2, qq, Activation::None).is_err());
    assert!(ops::add(&x2, &x2, q(0.0, 0), Activation::None).is_err());
    // Output multiplier >= 1 (S_out tiny): QuantizeMultiplierSmallerThanOneExp aborts in TFLite.
    assert!(ops::add(&x2, &x2, q(1e-9, 0), Activation::None).is_err());
    // Pooling: wrong rank; zero stride; an empty window.
    let p = PoolParams::from_options(false, 2, 2, 2, 2, 1, 1, Activation::None).unwrap();
    assert!(ops::average_pool_2d(&x2, &p, qq).is_err());
    assert!(ops::max_pool_2d(&x2, &p, qq).is_err());
    let p0 = PoolParams { stride_h: 0, ..p };
    assert!(ops::average_pool_2d(&x4, &p0, qq).is_err());
    let far = PoolParams {
        pad_top: 5,
        out_h: 1,
        ..p
    };
    assert!(ops::average_pool_2d(&x4, &far, qq).is_err());
    // MEAN: axis out of range.
    assert!(ops::mean(&x4, &[4], false, qq).is_err());
    assert!(ops::mean(&x4, &[-5], false, qq).is_err());
    // PAD: wrong number of rows; rank > 5.
    assert!(ops::pad(&x4, &[(1, 1)], qq).is_err());
    let x6 = t(&[1, 1, 1, 1, 1, 1], &[0], qq);
    assert!(ops::pad(&x6, &[(0, 0); 6], qq).is_err());
    assert!(ops::pad(&x2, &[(0, 0); 2], q(0.1, 300)).is_err());
    // RESHAPE: element count, two -1, negative.
    assert!(ops::reshape(&x4, &[3, 2], qq).is_err());
    assert!(ops::reshape(&x4, &[-1, -1], qq).is_err());
    assert!(ops::reshape(&x4, &[-2, 2], qq).is_err());
    assert!(ops::reshape(&x4, &[3, -1], qq).is_err());
    // SOFTMAX: rank 0, wrong output quantization, beta·scale too small.
    let s = t(&[], &[1], qq);
    assert!(ops::softmax(&s, 1.0, q(1.0 / 256.0, -128)).is_err());
    assert!(ops::softmax(&x2, 1.0, q(1.0 / 256.0, 0)).is_err());
    assert!(ops::softmax(&x2, 1.0, q(1.0 / 128.0, -128)).is_err());
    assert!(ops::softmax(&x2, 1e-9, q(1.0 / 256.0, -128)).is_err());
    // QUANTIZE: zero scale.
    assert!(ops::quantize(&x2, q(0.0, 0)).is_err());
}
