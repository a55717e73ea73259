//! PyTorch's requantizing elementwise steps (add / add_relu, mul, cat, an
//! unfolded batch_norm; the cases of [`crate::formats::qcase::EltCase`]):
//! the integer path an
//! accelerator runs, PyTorch's float32 kernels emulated bit for bit, and
//! every difference between the two explained by a verified cause or not.
//!
//! The integer paths (docs/contract.md §5, elementwise steps):
//! * mul: `acc = (q₁ − zp₁)(q₂ − zp₂)`, `y = clamp(zp_y + R(acc·M))` with
//!   `M = S₁S₂/S_y` as M0·2^(e−31) (QuantizeMultiplier) and R one rounding
//!   with ties up (the datapath's single-rounding mode,
//!   TFLITE_SINGLE_ROUNDING). On the datapath: a depthwise 1×1
//!   convolution over the N outputs as channels, input q₁, filter q₂
//!   ([`lowered`]).
//! * cat: each input requantized, `y = clamp(zp_y + R((q − zpᵢ)·Mᵢ))` with
//!   `Mᵢ = Sᵢ/S_y` (exact when the scales are equal). On the datapath: a
//!   depthwise 1×1 convolution of the concatenated raw values, weight 1,
//!   bias −zpᵢ and multiplier Mᵢ per channel.
//!
//! Single rounding, not TFLite's double rounding: on accumulators this
//! small (|acc| < 2¹⁷) MultiplyByQuantizedMultiplier's first rounding, before
//! a shift of 1 or 2, moves up to 18 % of a cat's outputs by one from the
//! nearest value (seen on random PyTorch cats); one rounding differs from
//! PyTorch's float32 rounding only on ties and float32 error near .5.
//! * batch_norm: per channel `y = clamp(zp_y + R(acc·|α|/127))` with
//!   `acc = ±127·(q − zp) + round(β·127/|α|)` (α, β PyTorch's fused
//!   parameters, [`bn_alpha_beta`]). On the datapath: a depthwise 1×1
//!   convolution, weight ±127, an int32 bias, multiplier |α|/127.
//! * avg_pool / adaptive_avg_pool: `y = clamp(zp_y + R(Σ(q − zp_x)·M))` over
//!   each window, `M = S_x/(S_y·divisor)`. On the datapath: a depthwise
//!   convolution of ones (kernel, stride, padding of the pool) when every
//!   window has one divisor; otherwise per-position multipliers on the
//!   golden model.
//! * hardswish: a 256-entry table ([`hardswish_table`]), each entry the
//!   correctly rounded `h(S_x(q − zp_x))/S_y + zp_y`: what an accelerator
//!   loads for a unary 8-bit op (golden model only: a table is not a dot
//!   product).
//! * add: TFLite's 8-bit ADD ([`crate::golden::ops::AddParams`]): inputs
//!   rescaled to a common 2²⁰ fixed point, summed, requantized. It is not a
//!   dot product, so it runs on the golden model only.
//!
//! PyTorch 2.x's CPU kernels (`QuantizedOpKernels.cpp`), in float32:
//! * `qadd_kernel`: the vectorized loop dequantizes `fma(s, q, −s·zp)`, the
//!   scalar tail (the last `n mod 2V` elements in the kernel's memory order,
//!   V = the vector width in bytes) `s·(q − zp)`; `c = a + b` (ReLU: max 0);
//!   `y = zp_y + rne(c · (1/s_y))`.
//! * `qmul_kernel`: `y = zp_y + rne(float(acc) · m)` with the float32
//!   `m = (s₁·s₂)·(1/s_y)` (ReLU: max zp_y).
//! * `q_batch_norm_kernel`: `y = zp_y + rne(fma(α, q − zp, β))` (vectorized
//!   loop and scalar tail alike in the AVX2 / AVX512 builds, which contract
//!   the tail's `α·(q − zp) + β`); ReLU: max zp_y.
//! * `_qavg_pool_nhwc_kernel` / `_qadaptive_avg_pool_kernel` / NCHW
//!   `avg_pool2d_out_frame`: see the comment in [`emulate`].
//! * `qhardswish_kernel`: `x` dequantized as add's, `h(x) = (x·min(max(x +
//!   3, 0), 6))/6`, quantized with the float32 of the double `1/S_y` in the
//!   vectorized loop and `1.0f/S_y` in the scalar tail.
//! * `qcat` of channels-last inputs (`qcat_nhwc_kernel`): an input whose
//!   scale and zero point are the output's is copied; otherwise, per pixel,
//!   its channels below `⌊C/V⌋·V` (plus the next `⌊rest/(V/4)⌋·V/4` when
//!   `rest ≥ V/4`) dequantize `fma(s, q, −s·zp)` and quantize with the
//!   float32 of the double `1/s_y`; the rest `s·(q − zp)` and `1/s_y` in
//!   float32. Contiguous (NCHW) inputs take the generic path: dequantize
//!   `s·(q − zp)`, concatenate, quantize with float32 `1/s_y`.

use crate::arith::requant::{self, DatapathRounding, Requant};
use crate::arith::DType;
use crate::formats::qcase::{Case, EltCase, EltOp, Layout, Op, Rounding};
use crate::golden::ops::AddParams;
use crate::golden::pytorch::{exact_round_half_away, is_tie};
use crate::golden::tensor::Quant;

/// Round to nearest, ties to even (the CPU's default mode, `nearbyint`,
/// `_mm512_cvtps_epi32`).
fn rne(v: f32) -> i64 {
    v.round_ties_even() as i64
}

/// Per input of a cat: (scale, zero point) of the channel `c` of the output,
/// the channel's index within its input and that input's channel count.
fn cat_source(case: &EltCase, c: usize) -> (f32, i32, usize, usize) {
    let c1 = case.channels1();
    if c < c1 {
        (case.input_scale, case.input_zero_point, c, c1)
    } else {
        (
            case.input2_scale,
            case.input2_zero_point,
            c - c1,
            case.input2_shape[3],
        )
    }
}

/// The raw input value behind output `i` of a cat (flat NHWC).
fn cat_value(case: &EltCase, i: usize) -> i32 {
    let oc = case.output_shape[3];
    let (pix, c) = (i / oc, i % oc);
    let c1 = case.channels1();
    if c < c1 {
        case.input[pix * c1 + c]
    } else {
        let c2 = case.input2_shape[3];
        case.input2[pix * c2 + c - c1]
    }
}

/// Position of flat NHWC index `i` of `shape` in the kernel's memory order.
fn kernel_order(layout: Layout, shape: [usize; 4], i: usize) -> usize {
    match layout {
        Layout::Nhwc => i,
        Layout::Nchw => {
            let [_, h, w, c] = shape;
            let (n, rem) = (i / (h * w * c), i % (h * w * c));
            let (hw, ch) = (rem / c, rem % c);
            (n * c + ch) * h * w + hw
        }
    }
}

/// PyTorch's fused batch-norm parameters (`qbatch_norm.cpp`
/// `compute_fused_params`): `inv_σ = float(1.0 / sqrtf(var + float(ε)))`,
/// `α = float((inv_σ·γ) · (double(S_x)/double(S_y)))`,
/// `β = float((b − (μ·inv_σ)·γ) / double(S_y))`, the products in float32.
pub fn bn_alpha_beta(case: &EltCase) -> (Vec<f32>, Vec<f32>) {
    let Some(bn) = &case.bn else {
        return (Vec::new(), Vec::new());
    };
    let ratio = case.input_scale as f64 / case.output_scale as f64;
    let mut alpha = Vec::with_capacity(bn.weight.len());
    let mut beta = Vec::with_capacity(bn.weight.len());
    for c in 0..bn.weight.len() {
        let inv_sigma = (1.0f64 / (bn.var[c] + bn.eps as f32).sqrt() as f64) as f32;
        alpha.push(((inv_sigma * bn.weight[c]) as f64 * ratio) as f32);
        beta.push(
            ((bn.bias[c] - bn.mean[c] * inv_sigma * bn.weight[c]) as f64 / case.output_scale as f64)
                as f32,
        );
    }
    (alpha, beta)
}

/// PyTorch's output at every position (flat NHWC), and the last float32
/// value each rounded.
pub fn emulate(case: &EltCase) -> Vec<(f32, i32)> {
    let (lo, hi) = (case.act_min as i64, case.act_max as i64);
    let zo = case.output_zero_point;
    let so = case.output_scale;
    let inv_f = 1.0f32 / so;
    let quant = |v: f32, inv: f32| -> (f32, i32) {
        let t = v * inv;
        (t, (zo as i64 + rne(t)).clamp(lo, hi) as i32)
    };
    let n = case.outputs();
    match case.op {
        EltOp::BatchNorm => {
            // q_batch_norm_kernel: its vectorized loop computes
            // fma(α, q − zp, β) and quantizes with scale 1; the scalar tail's
            // `lrintf(α·(q − zp) + β)` is contracted to the same fma in the
            // AVX2 / AVX512 builds (seen: a tail value the unfused form puts
            // exactly on .5 is rounded up by PyTorch).
            let (alpha, beta) = bn_alpha_beta(case);
            let c_n = case.output_shape[3];
            (0..n)
                .map(|i| {
                    let c = i % c_n;
                    let x = (case.input[i] - case.input_zero_point) as f32;
                    let t = alpha[c].mul_add(x, beta[c]);
                    (t, (zo as i64 + rne(t)).clamp(lo, hi) as i32)
                })
                .collect()
        }
        EltOp::AvgPool | EltOp::AdaptiveAvgPool => {
            // _qavg_pool_nhwc_kernel: multiplier = S_x/S_y/divisor in float32;
            // channels below ⌊C/(V/4)⌋·(V/4) quantize acc·multiplier, the rest
            // (and every channel of _qadaptive_avg_pool_kernel) with the
            // scale 1/multiplier, i.e. acc·(1/(1/multiplier)). The NCHW
            // avg_pool2d: nearbyint(acc·float(S_x/S_y/divisor) + zp_y).
            let c_n = case.output_shape[3];
            let vw = case.torch_vector_bytes / 4;
            let (si, so32) = (case.input_scale, case.output_scale);
            (0..n)
                .map(|i| {
                    let (acc, div, c) = pool_acc(case, i);
                    let accf = acc as f32;
                    let mult = (si / so32) / div as f32;
                    let inv2 = 1.0f32 / (1.0f32 / mult);
                    match (case.op, case.torch_layout) {
                        (EltOp::AvgPool, Layout::Nchw) => {
                            // zp_y is added before the rounding here; the
                            // value shown is the one before it, as for the others.
                            let m = (si as f64 / so32 as f64 / div as f64) as f32;
                            let t = accf * m + zo as f32;
                            (t - zo as f32, rne(t).clamp(lo, hi) as i32)
                        }
                        (EltOp::AvgPool, _) if c < c_n / vw * vw => quant(accf, mult),
                        _ => quant(accf, inv2),
                    }
                })
                .collect()
        }
        EltOp::Hardswish => {
            // qhardswish_kernel: the vectorized loop dequantizes with fma and
            // quantizes with float(1.0 / double(S_y)); the scalar tail
            // s·(q − zp) and 1.0f / S_y. h(x) = (x·min(max(x + 3, 0), 6))/6.
            let block = 2 * case.torch_vector_bytes;
            let vector_end = n - n % block;
            let s = case.input_scale;
            let z = case.input_zero_point;
            let p = s * -(z as f32);
            let inv_d = (1.0f64 / so as f64) as f32;
            let h = |x: f32| x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
            (0..n)
                .map(|i| {
                    let q = case.input[i];
                    if kernel_order(case.torch_layout, case.output_shape, i) < vector_end {
                        quant(h(s.mul_add(q as f32, p)), inv_d)
                    } else {
                        quant(h(s * (q - z) as f32), inv_f)
                    }
                })
                .collect()
        }
        EltOp::Mul => {
            let m = (case.input_scale * case.input2_scale) * inv_f;
            (0..n)
                .map(|i| {
                    let acc = (case.input[i] - case.input_zero_point)
                        * (case.input2[i] - case.input2_zero_point);
                    let t = acc as f32 * m;
                    (t, (zo as i64 + rne(t)).clamp(lo, hi) as i32)
                })
                .collect()
        }
        EltOp::Add => {
            let block = 2 * case.torch_vector_bytes;
            let vector_end = n - n % block;
            let (s1, s2) = (case.input_scale, case.input2_scale);
            let (z1, z2) = (case.input_zero_point, case.input2_zero_point);
            let (p1, p2) = (s1 * -(z1 as f32), s2 * -(z2 as f32));
            (0..n)
                .map(|i| {
                    let (q1, q2) = (case.input[i], case.input2[i]);
                    let (a, b) =
                        if kernel_order(case.torch_layout, case.output_shape, i) < vector_end {
                            (s1.mul_add(q1 as f32, p1), s2.mul_add(q2 as f32, p2))
                        } else {
                            (s1 * (q1 - z1) as f32, s2 * (q2 - z2) as f32)
                        };
                    quant(a + b, inv_f)
                })
                .collect()
        }
        EltOp::Cat => {
            let oc = case.output_shape[3];
            let v = case.torch_vector_bytes;
            let inv_d = (1.0f64 / so as f64) as f32;
            (0..n)
                .map(|i| {
                    let (s, z, c, cin) = cat_source(case, i % oc);
                    let q = cat_value(case, i);
                    match case.torch_layout {
                        Layout::Nhwc => {
                            if s == so && z == zo {
                                return (q as f32, (q as i64).clamp(lo, hi) as i32);
                            }
                            let full = cin / v * v;
                            let rest = cin - full;
                            let k = v / 4;
                            let vector_end = if rest >= k { full + rest / k * k } else { full };
                            if c < vector_end {
                                quant(s.mul_add(q as f32, s * -(z as f32)), inv_d)
                            } else {
                                quant(s * (q - z) as f32, inv_f)
                            }
                        }
                        Layout::Nchw => quant(s * (q - z) as f32, inv_f),
                    }
                })
                .collect()
        }
    }
}

/// The operands of an elementwise product `(x₁ − zp₁)·(x₂ − zp₂)`.
pub struct Product<'a> {
    pub dtype: DType,
    pub x1: Vec<i32>,
    pub zp1: i32,
    pub x2: &'a [i32],
    pub zp2: i32,
}

/// THE lowering of an elementwise product onto the datapath (TFLite's MUL
/// in `qmac model`, PyTorch's mul here): a depthwise 1×1 convolution over
/// the N outputs as channels, one tap each, no bias: input x₁ (zero point
/// zp₁), filter x₂ as int8 (a uint8 factor as q − 128 with zero point
/// zp₂ − 128), the one multiplier `(m0, shift)`, clamped to `act`.
pub fn product_case(
    path: &std::path::Path,
    source: String,
    p: Product<'_>,
    (m0, shift): (i32, i32),
    rounding: Rounding,
    zp_out: i32,
    (act_min, act_max): (i32, i32),
) -> Case {
    let n = p.x1.len();
    let w_off = match p.dtype {
        DType::Int8 => 0,
        DType::Uint8 => 128,
    };
    Case {
        path: path.to_path_buf(),
        source,
        op: Op::DepthwiseConv2d,
        input_shape: [1, 1, 1, n],
        filter_shape: [1, 1, 1, n],
        output_shape: [1, 1, 1, n],
        stride: [1, 1],
        dilation: [1, 1],
        padding: [0; 4],
        depth_multiplier: 1,
        groups: 1,
        input_zero_point: p.zp1,
        filter_zero_point: p.zp2 - w_off,
        output_zero_point: zp_out,
        input_scale: None,
        filter_scales: None,
        output_scale: None,
        act_min,
        act_max,
        multiplier: vec![m0],
        shift: vec![shift],
        rounding,
        input_dtype: p.dtype,
        output_dtype: p.dtype,
        input: p.x1,
        filter: p.x2.iter().map(|&q| q - w_off).collect(),
        bias: None,
        bias_float: None,
        output: None,
    }
}

/// The MAC layer case the datapath runs for a mul, cat, batch_norm or an
/// evenly windowed pool (see the module docs); `None` for the others.
pub fn lowered(case: &EltCase) -> Option<Case> {
    let n = case.outputs();
    let [nn, h, w, oc] = case.output_shape;
    let so = case.output_scale as f64;
    // The other lowerings start from an n-channel 1×1 template and set
    // their own shapes, filter, bias and multipliers.
    let base = |op_note: String| {
        product_case(
            &case.path,
            op_note,
            Product {
                dtype: case.dtype,
                x1: Vec::new(),
                zp1: 0,
                x2: &[],
                zp2: if case.dtype == DType::Uint8 { 128 } else { 0 },
            },
            (0, 0),
            Rounding::Single,
            case.output_zero_point,
            (case.act_min, case.act_max),
        )
    };
    match case.op {
        EltOp::Add | EltOp::Hardswish => None,
        EltOp::AvgPool | EltOp::AdaptiveAvgPool => {
            let div = uniform_divisor(case)?;
            let [_, h, w, c_n] = case.input_shape;
            let [_, oh_n, ow_n, _] = case.output_shape;
            let (kernel, stride, pad) = match &case.pool {
                Some(p) => (p.kernel, p.stride, p.padding),
                None => ([h / oh_n, w / ow_n], [h / oh_n, w / ow_n], [0, 0]),
            };
            let r = pool_requant(case, div);
            let mut c = base(format!(
                "{} as a depthwise {}x{} convolution of ones: {}",
                case.op.name(),
                kernel[0],
                kernel[1],
                case.path.display()
            ));
            c.input_shape = case.input_shape;
            c.filter_shape = [1, kernel[0], kernel[1], c_n];
            c.output_shape = case.output_shape;
            c.stride = stride;
            c.padding = [pad[0], pad[0], pad[1], pad[1]];
            c.input_zero_point = case.input_zero_point;
            c.multiplier = vec![r.m0];
            c.shift = vec![r.shift];
            c.input = case.input.clone();
            c.filter = vec![1; kernel[0] * kernel[1] * c_n];
            Some(c)
        }
        EltOp::BatchNorm => {
            let mut c = base(format!(
                "batch_norm as a depthwise 1x1 convolution: {}",
                case.path.display()
            ));
            c.input_shape = [nn, h, w, oc];
            c.filter_shape = [1, 1, 1, oc];
            c.output_shape = [nn, h, w, oc];
            c.input_zero_point = case.input_zero_point;
            let (alpha, beta) = bn_alpha_beta(case);
            let (mut ms, mut es, mut bias, mut filter) = (vec![], vec![], vec![], vec![]);
            for ch in 0..oc {
                let (wgt, m, b) = bn_channel(alpha[ch], beta[ch]);
                let (m0, e) = requant::quantize_multiplier(m, true);
                filter.push(wgt);
                ms.push(m0);
                es.push(e);
                bias.push(b);
            }
            c.multiplier = ms;
            c.shift = es;
            c.bias = Some(bias);
            c.input = case.input.clone();
            c.filter = filter;
            Some(c)
        }
        EltOp::Mul => {
            let (m0, e) = requant::quantize_multiplier(
                case.input_scale as f64 * case.input2_scale as f64 / so,
                true,
            );
            Some(product_case(
                &case.path,
                format!("mul as one-tap dot products: {}", case.path.display()),
                Product {
                    dtype: case.dtype,
                    x1: case.input.clone(),
                    zp1: case.input_zero_point,
                    x2: &case.input2,
                    zp2: case.input2_zero_point,
                },
                (m0, e),
                Rounding::Single,
                case.output_zero_point,
                (case.act_min, case.act_max),
            ))
        }
        EltOp::Cat => {
            let mut c = base(format!(
                "cat as a depthwise 1x1 requantization: {}",
                case.path.display()
            ));
            c.input_shape = [nn, h, w, oc];
            c.filter_shape = [1, 1, 1, oc];
            c.output_shape = [nn, h, w, oc];
            let (mut ms, mut es, mut bias) = (Vec::new(), Vec::new(), Vec::new());
            for ch in 0..oc {
                let (s, z, _, _) = cat_source(case, ch);
                let (m0, e) = requant::quantize_multiplier(s as f64 / so, true);
                ms.push(m0);
                es.push(e);
                bias.push(-z);
            }
            c.multiplier = ms;
            c.shift = es;
            c.bias = Some(bias);
            c.input = (0..n).map(|i| cat_value(case, i)).collect();
            c.filter = vec![1; oc];
            Some(c)
        }
    }
}

/// A pooled output (flat NHWC index `i`): the window's `Σ(q − zp_x)`, its
/// divisor and the channel.
fn pool_acc(case: &EltCase, i: usize) -> (i32, usize, usize) {
    let [_, h, w, c_n] = case.input_shape;
    let [_, oh_n, ow_n, _] = case.output_shape;
    let (c, pos) = (i % c_n, i / c_n);
    let (n, oh, ow) = (pos / (oh_n * ow_n), pos / ow_n % oh_n, pos % ow_n);
    let (h0, h1, w0, w1, div) = case.pool_window(oh, ow);
    let mut acc = 0i32;
    for ih in h0..h1 {
        for iw in w0..w1 {
            acc += case.input[((n * h + ih) * w + iw) * c_n + c] - case.input_zero_point;
        }
    }
    (acc, div, c)
}

/// The integer requantization of a pooled window of divisor `div`: M =
/// S_x/(S_y·div), one rounding (the datapath's single-rounding mode).
fn pool_requant(case: &EltCase, div: usize) -> Requant {
    let (m0, shift) = requant::quantize_multiplier(
        case.input_scale as f64 / (case.output_scale as f64 * div as f64),
        true,
    );
    Requant {
        m0,
        shift,
        zp_out: case.output_zero_point,
        act_min: case.act_min,
        act_max: case.act_max,
        rounding: DatapathRounding::Single,
        mult_w: 32,
    }
}

/// The one divisor of every window of a pool, or `None` when the windows
/// differ (then its integer path needs a multiplier per position and runs
/// on the golden model).
fn uniform_divisor(case: &EltCase) -> Option<usize> {
    let [_, oh_n, ow_n, _] = case.output_shape;
    let div = case.pool_window(0, 0).4;
    let same = (0..oh_n).all(|oh| (0..ow_n).all(|ow| case.pool_window(oh, ow).4 == div));
    // Adaptive windows are a strided convolution only when they tile the input.
    let tiles = case.op != EltOp::AdaptiveAvgPool
        || (case.input_shape[1].is_multiple_of(oh_n) && case.input_shape[2].is_multiple_of(ow_n));
    (same && tiles).then_some(div)
}

/// The exact (f64) value of a hardswish output for input `q`, zp_y included.
fn hardswish_exact(case: &EltCase, q: i32) -> f64 {
    let x = case.input_scale as f64 * (q - case.input_zero_point) as f64;
    x * (x + 3.0).clamp(0.0, 6.0) / 6.0 / case.output_scale as f64 + case.output_zero_point as f64
}

/// The 256-entry table an accelerator loads for a hardswish (indexed by
/// q − qmin): each entry `clamp(round_half_away(h(S_x(q − zp_x))/S_y + zp_y))`,
/// computed offline (here in f64). A unary op on 8-bit values needs no
/// arithmetic at run time; the table is correctly rounded, so it differs
/// from PyTorch only on ties and where PyTorch's float32 misses .5.
pub fn hardswish_table(case: &EltCase) -> Vec<i32> {
    let (lo, hi) = case.dtype.range();
    (lo..=hi)
        .map(|q| {
            let r = hardswish_exact(case, q);
            let y = r.abs().round() * r.signum();
            (y as i64).clamp(case.act_min as i64, case.act_max as i64) as i32
        })
        .collect()
}

/// The weight magnitude of a batch norm's lowered channel: the int32 bias
/// is then quantized in steps of |α|/127 output LSBs.
const BN_WEIGHT: i32 = 127;

/// Channel `c` of a batch norm on the datapath: weight ±127 (the sign of
/// α), real multiplier |α|/127 and the int32 bias round(β·127/|α|), so
/// `acc·M = α(q − zp) + β` up to the bias's rounding. A channel whose bias
/// would leave int32 (|α| tiny against β) keeps only β: weight 0,
/// multiplier 1, bias round(β).
fn bn_channel(alpha: f32, beta: f32) -> (i32, f64, i32) {
    let (a, b) = (alpha as f64, beta as f64);
    let m = a.abs() / BN_WEIGHT as f64;
    let bias = if m > 0.0 {
        (b / m).round()
    } else {
        f64::INFINITY
    };
    if bias.abs() < 2f64.powi(31) - 1.0 {
        (BN_WEIGHT * a.signum() as i32, m, bias as i32)
    } else {
        (
            0,
            1.0,
            b.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32,
        )
    }
}

/// The integer path's output (flat NHWC): the lowered MAC case on the
/// golden model (mul, cat), TFLite's ADD (add).
pub fn integer(case: &EltCase) -> anyhow::Result<Vec<i32>> {
    if matches!(case.op, EltOp::AvgPool | EltOp::AdaptiveAvgPool) && lowered(case).is_none() {
        return Ok((0..case.outputs())
            .map(|i| {
                let (acc, div, _) = pool_acc(case, i);
                pool_requant(case, div).apply(acc)
            })
            .collect());
    }
    if case.op == EltOp::Hardswish {
        let table = hardswish_table(case);
        let lo = case.dtype.range().0;
        return Ok(case
            .input
            .iter()
            .map(|&q| table[(q - lo) as usize])
            .collect());
    }
    match lowered(case) {
        Some(mac) => Ok(crate::golden::layer::run(&mac)?
            .output
            .iter()
            .copied()
            .collect()),
        None => {
            let q = |s, z| Quant {
                scale: s,
                zero_point: z,
            };
            let p = AddParams::new(
                "ADD",
                q(case.input_scale, case.input_zero_point),
                q(case.input2_scale, case.input2_zero_point),
                q(case.output_scale, case.output_zero_point),
                1,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", case.path.display()))?;
            Ok(case
                .input
                .iter()
                .zip(&case.input2)
                .map(|(&a, &b)| p.apply(a, b, case.act_min, case.act_max))
                .collect())
        }
    }
}

/// Why the integer path and PyTorch round one output differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EltCause {
    /// TFLite's double rounding (SRDHM, then RoundingDivideByPOT) differs
    /// from one rounding of `acc·M0·2^(e−31)`: checked in exact integers
    /// (a case lowered with double rounding only).
    DoubleRounding,
    /// `acc·M0·2^(e−31)` is exactly on .5 (the integer path rounds away from
    /// zero, PyTorch to even) and the exact value is on the boundary.
    Tie,
    /// The integer path gives the nearest value and the exact one lies
    /// within PyTorch's float32 error of the .5 boundary between the two.
    Float32,
    /// add: the exact value lies within the error of TFLite ADD's 2²⁰ fixed
    /// point rescaling of the boundary.
    AddFixedPoint,
    /// mul / cat: the exact value lies within the Q31 multiplier's error of
    /// the boundary (the integer path's one rounding of acc·M0·2^(e−31)).
    Multiplier,
    /// batch_norm: the exact value lies within half a step of the int32
    /// bias (β quantized in steps of the channel's multiplier) of the boundary.
    BiasRounding,
}

impl EltCause {
    pub fn label(self) -> &'static str {
        match self {
            EltCause::DoubleRounding => "double rounding",
            EltCause::Tie => "rounding tie",
            EltCause::Float32 => "float32 rounding near .5",
            EltCause::AddFixedPoint => "ADD fixed-point rescaling near .5",
            EltCause::Multiplier => "Q31 multiplier near .5",
            EltCause::BiasRounding => "int32 bias rounding near .5",
        }
    }
}

/// One output where the integer path or the emulation differs from PyTorch.
#[derive(Debug, Clone, PartialEq)]
pub struct EltDifference {
    pub index: usize,
    pub coords: [usize; 4],
    /// The exact real value (f64 of the float32 scales), zp_y included.
    pub real: f64,
    pub integer: i32,
    pub emulated_value: f32,
    pub emulated: i32,
    pub pytorch: i32,
    /// The verified cause, or why none holds.
    pub cause: Result<EltCause, String>,
}

impl EltDifference {
    pub fn explained(&self) -> bool {
        self.emulated == self.pytorch && self.cause.is_ok()
    }
    pub fn position(&self) -> String {
        let [n, h, w, c] = self.coords;
        format!("output {} [n {n}, h {h}, w {w}, c {c}]", self.index)
    }
    /// The `--explain` / UNEXPLAINED line.
    pub fn line(&self) -> String {
        let verdict = if self.emulated != self.pytorch {
            "NOT explained: the emulation does not reproduce PyTorch".to_string()
        } else {
            match &self.cause {
                Ok(c) => format!(
                    "explained ({}; verified, and the PyTorch emulation reproduces PyTorch here)",
                    c.label()
                ),
                Err(why) => format!("NOT explained: {why}"),
            }
        };
        format!(
            "{}: exact value {:.7} (zp_y included); integer {}; PyTorch float32 {:.7} before zp_y -> emulation {}; PyTorch {}: {verdict}",
            self.position(),
            self.real,
            self.integer,
            self.emulated_value,
            self.emulated,
            self.pytorch
        )
    }
}

/// An elementwise case's integer path against PyTorch's output.
#[derive(Debug, Clone, PartialEq)]
pub struct EltComparison {
    pub outputs: usize,
    pub differing: usize,
    pub max_abs: i64,
    pub explained: usize,
    pub emulation_matches: usize,
    pub details: Vec<EltDifference>,
}

impl EltComparison {
    pub fn passed(&self) -> bool {
        self.emulation_matches == self.outputs && self.explained == self.differing
    }
    pub fn unexplained(&self) -> impl Iterator<Item = &EltDifference> {
        self.details.iter().filter(|d| !d.explained())
    }
}

/// The exact value of output `i` (f64 of the float32 scales; the products
/// of two float32 and an int below 2¹⁷ are exact in f64) and, for mul and
/// cat, the lowered case's accumulator and multiplier.
fn exact(case: &EltCase, mac: Option<&Case>, i: usize) -> (f64, Option<(i32, i32, i32, bool)>) {
    let so = case.output_scale as f64;
    let zo = case.output_zero_point as f64;
    match case.op {
        EltOp::AvgPool | EltOp::AdaptiveAvgPool => {
            let (acc, div, _) = pool_acc(case, i);
            let r = pool_requant(case, div);
            let real = case.input_scale as f64 * acc as f64 / (so * div as f64) + zo;
            (real, Some((acc, r.m0, r.shift, false)))
        }
        EltOp::Hardswish => (hardswish_exact(case, case.input[i]), None),
        EltOp::BatchNorm => {
            let bn = case
                .bn
                .as_ref()
                .expect("a batch_norm case has its parameters");
            let c = i % case.output_shape[3];
            let x = case.input_scale as f64 * (case.input[i] - case.input_zero_point) as f64;
            let y = (x - bn.mean[c] as f64) / (bn.var[c] as f64 + bn.eps).sqrt()
                * bn.weight[c] as f64
                + bn.bias[c] as f64;
            let m = mac.expect("batch_norm is lowered");
            let acc = m.filter[c] * (case.input[i] - case.input_zero_point) + m.bias_of(c);
            (y / so + zo, Some((acc, m.multiplier[c], m.shift[c], false)))
        }
        EltOp::Add => {
            let a = case.input_scale as f64 * (case.input[i] - case.input_zero_point) as f64;
            let b = case.input2_scale as f64 * (case.input2[i] - case.input2_zero_point) as f64;
            ((a + b) / so + zo, None)
        }
        EltOp::Mul => {
            let acc =
                (case.input[i] - case.input_zero_point) * (case.input2[i] - case.input2_zero_point);
            let m = mac.expect("mul is lowered");
            let r = case.input_scale as f64 * case.input2_scale as f64 * acc as f64 / so + zo;
            (
                r,
                Some((
                    acc,
                    m.multiplier[0],
                    m.shift[0],
                    m.rounding == Rounding::Double,
                )),
            )
        }
        EltOp::Cat => {
            let oc = case.output_shape[3];
            let (s, z, _, _) = cat_source(case, i % oc);
            let acc = cat_value(case, i) - z;
            let m = mac.expect("cat is lowered");
            let r = s as f64 * acc as f64 / so + zo;
            (
                r,
                Some((
                    acc,
                    m.multiplier[i % oc],
                    m.shift[i % oc],
                    m.rounding == Rounding::Double,
                )),
            )
        }
    }
}

/// The verified cause of `integer ≠ pytorch` at an output whose exact value
/// is `real`: the one of the two that is not the nearest integer erred, by
/// a cause whose error bound reaches the .5 boundary between them.
fn explain(
    integer: i32,
    pytorch: i32,
    real: f64,
    zp_out: i32,
    acc: Option<(i32, i32, i32, bool)>,
    int_err: (EltCause, f64),
) -> Result<EltCause, String> {
    if (integer as i64 - pytorch as i64).abs() != 1 {
        return Err(format!(
            "differs by {}: a rounding cause moves an output by 1",
            (integer - pytorch).abs()
        ));
    }
    let boundary = integer.min(pytorch) as f64 + 0.5;
    let off = (real - boundary).abs();
    // PyTorch's float32 path: a few float32 roundings of values below 2^9.
    let eps_f32 = ((real - zp_out as f64).abs() + 1.0) * (-19f64).exp2();
    let (d_int, d_pt) = ((real - integer as f64).abs(), (real - pytorch as f64).abs());
    let fail = |who: &str| {
        Err(format!(
            "the exact value {real:.7} is {off:.2e} from the .5 boundary {boundary}: no rounding cause of the {who} reaches that far"
        ))
    };
    if let Some((a, m0, e, double)) = acc {
        if double
            && requant::multiply_double(a, m0, e, 32) as i64 != exact_round_half_away(a, m0, e)
        {
            return Ok(EltCause::DoubleRounding);
        }
        if is_tie(a, m0, e) {
            return if off <= eps_f32 + int_err.1 {
                Ok(EltCause::Tie)
            } else {
                fail("integer path")
            };
        }
    }
    if d_int > d_pt {
        // PyTorch is the nearest: the integer path erred.
        if off <= int_err.1 {
            Ok(int_err.0)
        } else {
            fail("integer path")
        }
    } else if off <= eps_f32 {
        Ok(EltCause::Float32)
    } else {
        fail("PyTorch float32 path")
    }
}

/// Compares the integer outputs with the case's PyTorch output through the
/// emulation; `None` without an output.
pub fn compare(case: &EltCase, integer: &[i32]) -> Option<EltComparison> {
    let pt = case.output.as_deref()?;
    let emu = emulate(case);
    let mac = lowered(case);
    let add_eps = (case.op == EltOp::Add).then(|| {
        let q = |s, z| Quant {
            scale: s,
            zero_point: z,
        };
        let p = AddParams::new(
            "ADD",
            q(case.input_scale, case.input_zero_point),
            q(case.input2_scale, case.input2_zero_point),
            q(case.output_scale, case.output_zero_point),
            1,
        )
        .ok()?;
        // Each rescaled input is off by at most one unit of 2⁻²⁰·2·max(S)/S_y
        // output LSBs (rounding and the Q31 multipliers), the sum's
        // requantization by half a unit of 2^e_out plus the Q31 error.
        let twice_max = 2.0 * case.input_scale.max(case.input2_scale) as f64;
        let unit = twice_max / ((1u64 << AddParams::LEFT_SHIFT) as f64 * case.output_scale as f64);
        Some(3.0 * unit + (p.e_out as f64 - 1.0).exp2() + 1e-9)
    });
    let [_, h, w, c] = case.output_shape;
    let mut cmp = EltComparison {
        outputs: pt.len(),
        differing: 0,
        max_abs: 0,
        explained: 0,
        emulation_matches: 0,
        details: Vec::new(),
    };
    for i in 0..pt.len() {
        let (iy, (ev, ey), py) = (integer[i], emu[i], pt[i]);
        if ey == py {
            cmp.emulation_matches += 1;
        }
        if iy != py {
            cmp.differing += 1;
            cmp.max_abs = cmp.max_abs.max((iy as i64 - py as i64).abs());
        }
        if iy == py && ey == py {
            continue;
        }
        let (real, acc) = exact(case, mac.as_ref(), i);
        let mag = (real - case.output_zero_point as f64).abs() + 1.0;
        // The integer path with one rounding: M0's Q31 error (2⁻³¹ relative).
        let eps_q31 = mag * (-30f64).exp2();
        let int_err = match case.op {
            EltOp::Add => (EltCause::AddFixedPoint, add_eps.flatten().unwrap_or(0.0)),
            EltOp::Mul | EltOp::Cat | EltOp::AvgPool | EltOp::AdaptiveAvgPool => {
                (EltCause::Multiplier, eps_q31)
            }
            // The table is correctly rounded up to f64's error: it misses the
            // nearest value only on an exact tie (half away from zero).
            EltOp::Hardswish => (EltCause::Tie, mag * (-40f64).exp2()),
            EltOp::BatchNorm => {
                // The int32 bias is β in steps of the channel's multiplier
                // (half a step at most); a channel that keeps only β drops α·(q − zp).
                let m = mac.as_ref().expect("batch_norm is lowered");
                let ch = i % c;
                let (m0, e) = (m.multiplier[ch], m.shift[ch]);
                let step = m0 as f64 * (e as f64 - 31.0).exp2();
                let dropped = if m.filter[ch] == 0 {
                    let (alpha, _) = bn_alpha_beta(case);
                    (alpha[ch] as f64 * (case.input[i] - case.input_zero_point) as f64).abs()
                } else {
                    0.0
                };
                (EltCause::BiasRounding, 0.5 * step + dropped + eps_q31)
            }
        };
        let cause = explain(iy, py, real, case.output_zero_point, acc, int_err);
        let d = EltDifference {
            index: i,
            coords: [i / (h * w * c), i / (w * c) % h, i / c % w, i % c],
            real,
            integer: iy,
            emulated_value: ev,
            emulated: ey,
            pytorch: py,
            cause,
        };
        if iy != py && d.explained() {
            cmp.explained += 1;
        }
        cmp.details.push(d);
    }
    Some(cmp)
}
