//! The fbgemm reference mode of the golden model against values derived by
//! hand from docs/contract.md §5 (docs/contract.md): float32 multiplier, the three
//! bias forms, round half to even, cvtps2dq's INT32_MIN, the int16
//! saturations, the fused-ReLU clamp, and the depthwise fast path's int16 pair
//! saturation. The committed PyTorch fixture (tests/cli_torch.rs) checks the
//! same code against real PyTorch output.

use std::path::PathBuf;

use qmac::arith::requant::{cvt_f32_i32, Fbgemm, FbgemmBias, FbgemmPath, Onednn};
use qmac::formats::qcase::{Case, Op};
use qmac::golden::layer;

/// A uint8 fbgemm channel with M = 0.125 (S_x = 0.5, S_w = 0.25, S_y = 1).
fn eighth(bias: Option<f64>, per_channel: bool, path: FbgemmPath) -> Fbgemm {
    Fbgemm::new(0.5, 0.25, 1.0, bias, per_channel, path)
}

#[test]
fn ties_round_to_even_where_the_integer_path_rounds_away() {
    let f = eighth(None, true, FbgemmPath::Gemm);
    assert_eq!(f.multiplier, 0.125);
    // 20 · 0.125 = 2.5 → 2 (even); TFLite's double rounding gives 3.
    assert_eq!(f.apply(20), 2);
    assert_eq!(f.apply(28), 4); // 3.5 → 4
    assert_eq!(f.apply(21), 3); // 2.625 → 3
    let (m0, e) = qmac::arith::requant::quantize_multiplier(0.125, false);
    assert_eq!(qmac::arith::requant::multiply_double(20, m0, e, 32), 3);
    // Negative ties, before the uint8 clamp: −2.5 → −2, −3.5 → −4.
    assert_eq!(f.scaled(-20), -2);
    assert_eq!(f.scaled(-28), -4);
}

#[test]
fn per_channel_bias_is_divided_by_the_activation_weight_scale() {
    // f32(0.0625 / 0.125) = 0.5: xf = 19 + 0.5 = 19.5; 19.5 · 0.125 = 2.4375 → 2.
    let f = eighth(Some(0.0625), true, FbgemmPath::Gemm);
    assert_eq!(f.bias, FbgemmBias::Divided(0.5));
    assert_eq!(f.xf(19), 19.5);
    assert_eq!(f.apply(19), 2);
    // 20.5 · 0.125 = 2.5625 → 3.
    assert_eq!(f.apply(20), 3);
}

#[test]
fn per_tensor_bias_uses_the_reciprocal_fused_on_gemm_and_unfused_on_depthwise() {
    // rcp = f32(1 / double(0.125)) = 8.
    let g = eighth(Some(0.0625), false, FbgemmPath::Gemm);
    assert_eq!(
        g.bias,
        FbgemmBias::Fma {
            bias: 0.0625,
            rcp: 8.0
        }
    );
    let d = eighth(Some(0.0625), false, FbgemmPath::DepthwiseFast);
    assert_eq!(d.bias, FbgemmBias::Product(0.5));
    // Where one rounding and two differ: b = 1 + 2^-23, rcp = 1 − 2^-24,
    // b·rcp = 1 + 2^-24 − 2^-47. Fused: 2^24 + 1 + 2^-24 − 2^-47 rounds up to
    // 2^24 + 2. Unfused: f32(b·rcp) = 1, 2^24 + 1 is a tie → 2^24 (even).
    let b = 1.0f32 + f32::EPSILON;
    let rcp = 1.0f32 - f32::EPSILON / 2.0;
    let mut fused = g;
    fused.bias = FbgemmBias::Fma { bias: b, rcp };
    assert_eq!(fused.xf(1 << 24), 16_777_218.0);
    let mut unfused = g;
    unfused.bias = FbgemmBias::Product(b * rcp);
    assert_eq!(b * rcp, 1.0);
    assert_eq!(unfused.xf(1 << 24), 16_777_216.0);
}

#[test]
fn float32_multiplier_and_accumulator() {
    // The multiplier is f32(f32(S_x·S_w) / S_y), not the double ratio:
    // S_x = 0.1, S_w = 0.3, S_y = 0.7 in float32.
    let f = Fbgemm::new(0.1, 0.3, 0.7, None, true, FbgemmPath::Gemm);
    let want = (0.1f32 * 0.3f32) / 0.7f32;
    assert_eq!(f.multiplier, want);
    assert_ne!(f.multiplier as f64, 0.1 * 0.3 / 0.7);
    // The accumulator is converted to float32 first: 2^24 + 1 becomes 2^24.
    assert_eq!(
        eighth(None, true, FbgemmPath::Gemm).xf((1 << 24) + 1),
        16_777_216.0
    );
}

#[test]
fn cvtps2dq_and_the_int16_saturations() {
    assert_eq!(cvt_f32_i32(2.5), 2);
    assert_eq!(cvt_f32_i32(-0.5), 0);
    assert_eq!(cvt_f32_i32(2_147_483_648.0), i32::MIN);
    assert_eq!(cvt_f32_i32(-2_147_483_648.0), i32::MIN);
    assert_eq!(cvt_f32_i32(f32::NAN), i32::MIN);
    let mut f = Fbgemm::new(1.0, 2.0, 1.0, None, true, FbgemmPath::Gemm);
    f.zp_out = 10;
    // 2^30 · 2 = 2^31 is out of int32 → INT32_MIN → sat16 −32768 → +10 → clamp 0:
    // a huge positive value comes out as 0, not 255.
    assert_eq!(f.apply(1 << 30), 0);
    // 40 000 → sat16 32 767, + 10 saturates → 255.
    assert_eq!(f.apply(20_000), 255);
    assert_eq!(f.apply(-6), 0); // −12 + 10 = −2 → 0
    assert_eq!(f.apply(60), 130);
    // Fused ReLU: act_min = zp_out.
    f.act_min = 10;
    assert_eq!(f.apply(-3), 10);
    // int8 output type.
    f.qmin = -128;
    f.qmax = 127;
    f.act_min = -128;
    f.act_max = 127;
    assert_eq!(f.apply(-100), -128);
}

#[test]
fn onednn_scales_after_the_float_bias_and_rounds_half_even() {
    // S_x = 0.5, S_w = 0.5, S_y = 0.25: sx = 1/f32(1/0.5) = 0.5, dinv = 4.
    let mut o = Onednn::new(0.5, 0.5, 0.25, Some(0.125));
    assert_eq!((o.sx, o.sw, o.dinv, o.bias), (0.5, 0.5, 4.0, 0.125));
    // v = acc·0.25 + 0.125, y = v·4 + zp.
    assert_eq!(o.value(5), 5.5);
    assert_eq!(o.apply(5), 6); // 5.5 → 6 (even)
    assert_eq!(o.apply(2), 2); // 2.5 → 2 (even)
    assert_eq!(o.apply(3), 4); // 3.5 → 4
                               // Fused ReLU clamps v at 0 before the zero point is added.
    o.zp_out = 10;
    assert_eq!(o.value(-10), -9.5 + 10.0);
    assert_eq!(o.apply(-10), 0); // 0.5 → 0 (even)
    o.relu = true;
    o.act_min = 10;
    assert_eq!(o.apply(-10), 10);
    // Saturation to the output type happens before the rounding.
    assert_eq!(o.apply(1000), 255);
}

/// A 1x3x3x8 uint8 depthwise 3x3 layer, padding 1, that takes fbgemm's fast path.
fn depthwise_case(input: i32, weight: i32) -> Case {
    let json = serde_json::json!({
        "op": "depthwise_conv2d",
        "input_shape": [1, 3, 3, 8], "filter_shape": [1, 3, 3, 8], "output_shape": [1, 3, 3, 8],
        "padding": [1, 1, 1, 1],
        "input_zero_point": 0, "output_zero_point": 0,
        "input_scale": 1.0, "filter_scales": [1.0], "output_scale": 1024.0,
        "rounding": "fbgemm", "input_dtype": "uint8", "output_dtype": "uint8",
        "input": vec![input; 72], "filter": vec![weight; 72], "bias": null,
    });
    Case::from_json_str(&PathBuf::from("dw.json"), &json.to_string()).unwrap()
}

#[test]
fn depthwise_fast_path_saturates_tap_pairs_to_int16() {
    let case = depthwise_case(255, 127);
    assert_eq!(layer::fbgemm_path(&case), FbgemmPath::DepthwiseFast);
    let exact = layer::accumulate(&case).0;
    let fast = layer::accumulate_depthwise_fast(&case);
    // Centre: 9 taps of 255·127 = 32 385; each pair 64 770 saturates to 32 767:
    // 4·32 767 + 32 385 = 163 453 (exact: 291 465).
    assert_eq!(exact[[0, 1, 1, 0]], 291_465);
    assert_eq!(fast[[0, 1, 1, 0]], 163_453);
    // Corner (0, 0): taps [p, p, p, p, X, X, p, X, X] (p padded, x = zp_x = 0):
    // pairs 0, 0, sat(2X) = 32 767, X, lone X → 97 537 (exact 129 540).
    assert_eq!(exact[[0, 0, 0, 3]], 129_540);
    assert_eq!(fast[[0, 0, 0, 3]], 97_537);
    // The emulated output requantizes the saturated accumulator: 163 453 / 1024 = 159.6 → 160.
    let r = layer::fbgemm_reference(&case, &exact).unwrap();
    assert_eq!(r.output[[0, 1, 1, 0]], 160);
    assert_eq!(r.output[[0, 0, 0, 3]], 95); // 97 537 / 1024 = 95.25
                                            // Below 128 no pair leaves int16: the fast path equals the exact accumulator.
    let case = depthwise_case(127, -128);
    assert_eq!(
        layer::accumulate_depthwise_fast(&case),
        layer::accumulate(&case).0
    );
}

#[test]
fn fast_path_conditions() {
    let mut c = depthwise_case(1, 1);
    assert_eq!(layer::fbgemm_path(&c), FbgemmPath::DepthwiseFast);
    c.stride = [3, 3];
    assert_eq!(layer::fbgemm_path(&c), FbgemmPath::Gemm);
    let mut c = depthwise_case(1, 1);
    c.padding = [0, 2, 1, 1];
    assert_eq!(layer::fbgemm_path(&c), FbgemmPath::Gemm);
    let mut c = depthwise_case(1, 1);
    c.op = Op::Conv2d;
    assert_eq!(layer::fbgemm_path(&c), FbgemmPath::Gemm);
}

#[test]
fn golden_run_uses_the_emulation_for_fbgemm_cases() {
    let mut case = depthwise_case(100, 3);
    case.output_scale = Some(8.0);
    // Centre 9·300 = 2700 / 8 = 337.5 → 255 after the clamp; corner 4·300 / 8 = 150.
    let out = layer::run(&case).unwrap().output;
    assert_eq!(out[[0, 1, 1, 0]], 255);
    assert_eq!(out[[0, 0, 0, 0]], 150);
    // Edge (0, 1): 6 taps, 1800 / 8 = 225.
    assert_eq!(out[[0, 0, 1, 0]], 225);
}

/// Every case of the committed PyTorch fixtures (tests/fixtures/torch).
fn torch_fixture_cases() -> Vec<Case> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let mut out = Vec::new();
    for model in ["tiny_qat", "probe", "probe_x86"] {
        let index: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(model).join("index.json")).unwrap(),
        )
        .unwrap();
        for e in index["cases"].as_array().unwrap() {
            let dir = root.join(model).join(e["file"].as_str().unwrap());
            out.push(Case::read(&dir).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    out
}

#[test]
fn the_emulation_reproduces_pytorch_on_every_fixture_output() {
    let cases = torch_fixture_cases();
    assert_eq!(cases.len(), 13);
    let mut outputs = 0;
    for case in &cases {
        let out = layer::run(case).unwrap().output;
        let want = case.output.as_ref().unwrap();
        assert_eq!(
            out.as_slice().unwrap(),
            &want[..],
            "{}",
            case.path.display()
        );
        outputs += want.len();
    }
    assert_eq!(outputs, 4436);
}

#[test]
fn exporter_integer_parameters_match_qmac_quantize_multiplier_and_bias_rounding() {
    for case in torch_fixture_cases() {
        let (sx, sy) = (case.input_scale.unwrap(), case.output_scale.unwrap());
        let sw = case.filter_scales.clone().unwrap();
        for (c, &s) in sw.iter().enumerate() {
            let want = qmac::arith::requant::quantize_multiplier(sx * s / sy, false);
            assert_eq!(
                case.channel_params(c),
                want,
                "{} channel {c}",
                case.path.display()
            );
        }
        let (bias, bf) = (case.bias.clone().unwrap(), case.bias_float.clone().unwrap());
        for c in 0..case.out_channels() {
            let s = sw[if sw.len() > 1 { c } else { 0 }];
            assert_eq!(
                bias[c] as f64,
                (bf[c] / (sx * s)).round(),
                "{} channel {c}",
                case.path.display()
            );
            // The float bias is PyTorch's float32 value.
            assert_eq!(bf[c], bf[c] as f32 as f64);
        }
    }
}
