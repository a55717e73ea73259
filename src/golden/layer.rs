//! Golden model of the three MAC layers over NHWC tensors: conv2d (grouped
//! or not), depthwise_conv2d (with depth multiplier) and fully_connected, per-tensor or
//! per-channel, int8 / uint8 activations, any per-tensor filter zero point.
//!
//! The reduction of every output is split into the *dot products* that an
//! output-stationary datapath computes: [`DotProduct`] lists the taps of one
//! output position for a group of output channels that share the activation
//! stream. The golden model and the RTL lowering (`lower`) walk the same
//! [`dot_products`], so the stream order (and with it the sticky overflow
//! flag) is defined in one place: for each non-padded window position in
//! (kh, kw) row-major order, each input channel in order.

use ndarray::Array4;

use crate::arith::mac::{Accumulator, Dot};
use crate::arith::requant::{
    real_multiplier, requant_float64, DatapathRounding, Fbgemm, FbgemmPath, Requant,
};
use crate::formats::qcase::{Case, Op, Rounding};

/// One tap of a dot product: flat indices into the case's `input` and into
/// the `filter` row of the first channel of the group (see [`DotProduct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    pub input: usize,
    pub filter: usize,
}

/// Dot products of one output position `(n, oh, ow)` sharing activations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotProduct {
    /// Flat NHWC index of the output of channel `channels.start`.
    pub output_base: usize,
    /// The output channels computed together (consecutive).
    pub channels: std::ops::Range<usize>,
    /// The taps; channel `c` reads filter element `tap.filter + filter_step·(c − channels.start)`.
    pub taps: Vec<Tap>,
    pub filter_step: usize,
}

/// The spatial window of output `(oh, ow)`: non-padded `(kh, kw, ih, iw)` in order.
pub fn window(case: &Case, oh: usize, ow: usize) -> Vec<(usize, usize, usize, usize)> {
    let [_, h, w, _] = case.input_shape;
    let (kh_n, kw_n) = (case.filter_shape[1], case.filter_shape[2]);
    let mut out = Vec::with_capacity(kh_n * kw_n);
    for kh in 0..kh_n {
        let ih = (oh * case.stride[0] + kh * case.dilation[0]) as isize - case.padding[0] as isize;
        if ih < 0 || ih >= h as isize {
            continue;
        }
        for kw in 0..kw_n {
            let iw =
                (ow * case.stride[1] + kw * case.dilation[1]) as isize - case.padding[2] as isize;
            if iw < 0 || iw >= w as isize {
                continue;
            }
            out.push((kh, kw, ih as usize, iw as usize));
        }
    }
    out
}

/// Every dot product of the layer, output channels grouped at most `group`
/// wide (the datapath's LANES). Conv and FC groups are consecutive output
/// channels of one filter group (they all read the same activations); a depthwise group is the
/// `depth_multiplier` channels of one input channel (chunked by `group`).
pub fn dot_products(case: &Case, group: usize, mut f: impl FnMut(&DotProduct)) {
    assert!(group >= 1);
    let [n_n, oh_n, ow_n, oc_n] = case.output_shape;
    let [_, h, w, cin] = case.input_shape;
    let [_, kh_n, kw_n, fc] = case.filter_shape;
    let mut dp = DotProduct {
        output_base: 0,
        channels: 0..0,
        taps: Vec::new(),
        filter_step: 0,
    };
    for n in 0..n_n {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let win = window(case, oh, ow);
                let out_pos = ((n * oh_n + oh) * ow_n + ow) * oc_n;
                let in_pix = |ih: usize, iw: usize| ((n * h + ih) * w + iw) * cin;
                match case.op {
                    Op::Conv2d | Op::FullyConnected => {
                        // A grouped conv is one conv per group of output
                        // channels over its own slice of input channels.
                        let per_group = oc_n / case.groups;
                        dp.filter_step = kh_n * kw_n * fc;
                        for g in 0..case.groups {
                            let (g0, g1) = (g * per_group, (g + 1) * per_group);
                            let in_base = case.group_input_base(g0);
                            dp.taps.clear();
                            for &(kh, kw, ih, iw) in &win {
                                for ic in 0..fc {
                                    dp.taps.push(Tap {
                                        input: in_pix(ih, iw) + in_base + ic,
                                        filter: (kh * kw_n + kw) * fc + ic,
                                    });
                                }
                            }
                            let mut c0 = g0;
                            while c0 < g1 {
                                let c1 = c0.saturating_add(group).min(g1);
                                dp.output_base = out_pos + c0;
                                dp.channels = c0..c1;
                                let shift = c0 * dp.filter_step;
                                for t in dp.taps.iter_mut() {
                                    t.filter += shift;
                                }
                                f(&dp);
                                for t in dp.taps.iter_mut() {
                                    t.filter -= shift;
                                }
                                c0 = c1;
                            }
                        }
                    }
                    Op::DepthwiseConv2d => {
                        let dm = case.depth_multiplier;
                        dp.filter_step = 1;
                        for ic in 0..cin {
                            let mut m0 = 0;
                            while m0 < dm {
                                let m1 = m0.saturating_add(group).min(dm);
                                let c0 = ic * dm + m0;
                                dp.taps.clear();
                                for &(kh, kw, ih, iw) in &win {
                                    dp.taps.push(Tap {
                                        input: in_pix(ih, iw) + ic,
                                        filter: (kh * kw_n + kw) * fc + c0,
                                    });
                                }
                                dp.output_base = out_pos + c0;
                                dp.channels = c0..ic * dm + m1;
                                f(&dp);
                                m0 = m1;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Accumulators and outputs of a layer, NHWC.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerResult {
    pub acc: Array4<i32>,
    pub overflow: Array4<bool>,
    pub output: Array4<i32>,
}

/// The per-channel integer requantization parameters of a case.
pub fn channel_requant(case: &Case, c: usize, rounding: DatapathRounding, mult_w: u32) -> Requant {
    let (m0, shift) = case.channel_params(c);
    let (m0, shift) = crate::arith::requant::narrow_multiplier(m0, shift, mult_w);
    Requant {
        m0,
        shift,
        zp_out: case.output_zero_point,
        act_min: case.act_min,
        act_max: case.act_max,
        rounding,
        mult_w,
    }
}

/// All int32 accumulators (direct form, wrapping) and their overflow flags.
pub fn accumulate(case: &Case) -> (Array4<i32>, Array4<bool>) {
    let shape = case.output_shape;
    let mut acc = vec![0i32; shape.iter().product()];
    let mut ovf = vec![false; acc.len()];
    let (zp_x, zp_w) = (case.input_zero_point, case.filter_zero_point);
    dot_products(case, usize::MAX, |dp| {
        for (lane, c) in dp.channels.clone().enumerate() {
            let mut a = Accumulator::start(case.bias_of(c));
            let off = lane * dp.filter_step;
            for t in &dp.taps {
                a.add(Accumulator::product(
                    case.input[t.input],
                    case.filter[t.filter + off],
                    zp_x,
                    zp_w,
                ));
            }
            let Dot { acc: v, overflow } = a.dot;
            acc[dp.output_base + lane] = v;
            ovf[dp.output_base + lane] = overflow;
        }
    });
    (
        Array4::from_shape_vec(shape, acc).expect("output shape"),
        Array4::from_shape_vec(shape, ovf).expect("output shape"),
    )
}

/// The accumulators in the folded form many accelerators use (raw int8
/// products): for each output position the folded bias
/// `bias − zp_x·Σw + zp_x·zp_w·K` over the taps present at that position (a
/// border position has fewer taps, hence its own folded bias), then
/// `+ Σ x·w − zp_w·Σx`. Identical to [`accumulate`] mod 2^32.
pub fn accumulate_folded(case: &Case) -> Array4<i32> {
    let shape = case.output_shape;
    let mut acc = vec![0i32; shape.iter().product()];
    let (zp_x, zp_w) = (case.input_zero_point, case.filter_zero_point);
    dot_products(case, usize::MAX, |dp| {
        for (lane, c) in dp.channels.clone().enumerate() {
            let off = lane * dp.filter_step;
            let weights = dp.taps.iter().map(|t| case.filter[t.filter + off]);
            let fb = crate::arith::mac::folded_bias(case.bias_of(c), weights, zp_x, zp_w);
            let taps = dp
                .taps
                .iter()
                .map(|t| (case.input[t.input], case.filter[t.filter + off]));
            acc[dp.output_base + lane] = crate::arith::mac::dot_folded(fb, taps, zp_w);
        }
    });
    Array4::from_shape_vec(shape, acc).expect("output shape")
}

/// Integer requantization of every accumulator (channel = last axis).
pub fn requantize(
    case: &Case,
    acc: &Array4<i32>,
    rounding: DatapathRounding,
    mult_w: u32,
) -> Array4<i32> {
    let params: Vec<Requant> = (0..case.out_channels())
        .map(|c| channel_requant(case, c, rounding, mult_w))
        .collect();
    let mut out = acc.clone();
    for (i, v) in out.iter_mut().enumerate() {
        *v = params[i % params.len()].apply(*v);
    }
    out
}

/// The `float64` reference requantization (needs the case's scales).
pub fn requantize_float64(case: &Case, acc: &Array4<i32>) -> Option<Array4<i32>> {
    let sx = case.input_scale?;
    let sw = case.filter_scales.as_ref()?;
    let sy = case.output_scale?;
    let oc = case.out_channels();
    let m: Vec<f64> = (0..oc)
        .map(|c| real_multiplier(sx, sw[if sw.len() == 1 { 0 } else { c }], sy))
        .collect();
    let mut out = acc.clone();
    for (i, v) in out.iter_mut().enumerate() {
        *v = requant_float64(
            *v,
            m[i % oc],
            case.output_zero_point,
            case.act_min,
            case.act_max,
        );
    }
    Some(out)
}

/// The fbgemm kernel PyTorch runs for a case's layer (docs/contract.md §5):
/// the depthwise fast path when groups = Cin, Cout ∈ {Cin, 2·Cin}, Cin % 8 = 0,
/// a square 3/5/7 kernel, equal strides of 1 or 2, dilation 1 and symmetric
/// "same" padding (K−1)/2 (fbgemm `takeDepthWiseFastPath`); GEMM otherwise.
pub fn fbgemm_path(case: &Case) -> FbgemmPath {
    let [_, kh, kw, _] = case.filter_shape;
    let cin = case.input_shape[3];
    let fast = case.op == Op::DepthwiseConv2d
        && matches!(case.depth_multiplier, 1 | 2)
        && cin.is_multiple_of(8)
        && kh == kw
        && matches!(kh, 3 | 5 | 7)
        && case.stride[0] == case.stride[1]
        && matches!(case.stride[0], 1 | 2)
        && case.dilation == [1, 1]
        && case.padding == [(kh - 1) / 2; 4];
    if fast {
        FbgemmPath::DepthwiseFast
    } else {
        FbgemmPath::Gemm
    }
}

/// `(input_scale, filter_scales, output_scale)` of a case, which the float
/// emulations (`what`: fbgemm, oneDNN) need.
fn float_scales<'a>(
    case: &'a Case,
    what: &str,
) -> Result<(f64, &'a [f64], f64), crate::error::InputError> {
    let need = |f: &str| {
        crate::error::InputError::new(
            &case.path,
            format!("field `{f}`"),
            format!("the {what} emulation needs input_scale, filter_scales and output_scale"),
        )
    };
    let sx = case.input_scale.ok_or_else(|| need("input_scale"))?;
    let sw = case
        .filter_scales
        .as_deref()
        .ok_or_else(|| need("filter_scales"))?;
    let sy = case.output_scale.ok_or_else(|| need("output_scale"))?;
    Ok((sx, sw, sy))
}

/// The per-channel fbgemm requantization parameters of a case (needs its
/// scales; a bias needs `bias_float`, which validation guarantees).
pub fn fbgemm_channels(case: &Case) -> Result<Vec<Fbgemm>, crate::error::InputError> {
    let (sx, sw, sy) = float_scales(case, "fbgemm")?;
    if case.filter_zero_point != 0 {
        return Err(crate::error::InputError::new(
            &case.path,
            "field `filter_zero_point`",
            format!(
                "is {}; the fbgemm emulation covers PyTorch's symmetric qint8 weights (zero point 0)",
                case.filter_zero_point
            ),
        ));
    }
    let per_channel = sw.len() > 1;
    let path = fbgemm_path(case);
    let (qmin, qmax) = case.output_dtype.range();
    Ok((0..case.out_channels())
        .map(|c| {
            let bias = match (&case.bias, &case.bias_float) {
                (None, _) => None,
                (Some(_), Some(bf)) => Some(bf[c]),
                (Some(b), None) => Some(b[c] as f64 * sx * sw[if per_channel { c } else { 0 }]),
            };
            let mut f = Fbgemm::new(
                sx,
                sw[if per_channel { c } else { 0 }],
                sy,
                bias,
                per_channel,
                path,
            );
            f.zp_out = case.output_zero_point;
            f.qmin = qmin;
            f.qmax = qmax;
            f.act_min = case.act_min;
            f.act_max = case.act_max;
            f
        })
        .collect())
}

/// The accumulators (without bias) of fbgemm's depthwise fast path: the raw
/// products `x·w` of consecutive taps of the full K×K window (row-major kh, kw;
/// a padded tap reads x = zp_x) summed in pairs saturated to int16
/// (`_mm256_maddubs_epi16`), the lone last tap added, then `− zp_x·Σw`.
/// Equal to the exact accumulator unless a pair sum leaves int16, which needs
/// activations above 127.
pub fn accumulate_depthwise_fast(case: &Case) -> Array4<i32> {
    let shape = case.output_shape;
    let [n_n, oh_n, ow_n, oc_n] = shape;
    let [_, h, w, cin] = case.input_shape;
    let [_, k, _, fc] = case.filter_shape;
    let dm = case.depth_multiplier;
    let zp_x = case.input_zero_point;
    let pad = case.padding[0] as isize;
    let s = case.stride[0] as isize;
    let mut acc = vec![0i32; shape.iter().product()];
    let mut taps: Vec<(i32, i32)> = Vec::with_capacity(k * k);
    for n in 0..n_n {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                for c in 0..oc_n {
                    let ic = c / dm;
                    taps.clear();
                    for kh in 0..k {
                        for kw in 0..k {
                            let ih = oh as isize * s + kh as isize - pad;
                            let iw = ow as isize * s + kw as isize - pad;
                            let inside =
                                (0..h as isize).contains(&ih) && (0..w as isize).contains(&iw);
                            let x = if inside {
                                case.input[((n * h + ih as usize) * w + iw as usize) * cin + ic]
                            } else {
                                zp_x
                            };
                            taps.push((x, case.filter[(kh * k + kw) * fc + c]));
                        }
                    }
                    let sum_w: i32 = taps.iter().map(|t| t.1).sum();
                    let pairs: i32 = taps
                        .chunks(2)
                        .map(|p| {
                            let v: i32 = p.iter().map(|&(x, w)| x * w).sum();
                            if p.len() == 2 {
                                v.clamp(i16::MIN as i32, i16::MAX as i32)
                            } else {
                                v
                            }
                        })
                        .sum();
                    acc[((n * oh_n + oh) * ow_n + ow) * oc_n + c] = pairs - zp_x * sum_w;
                }
            }
        }
    }
    Array4::from_shape_vec(shape, acc).expect("output shape")
}

/// Which PyTorch kernel a float-reference case's `output` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchKernel {
    Fbgemm(FbgemmPath),
    /// oneDNN conv (PyTorch's x86 engine on AVX512-VNNI CPUs).
    Onednn,
}

impl TorchKernel {
    pub fn describe(self) -> &'static str {
        match self {
            TorchKernel::Fbgemm(FbgemmPath::Gemm) => "fbgemm GEMM kernel",
            TorchKernel::Fbgemm(FbgemmPath::DepthwiseFast) => "fbgemm depthwise fast path",
            TorchKernel::Onednn => "oneDNN conv",
        }
    }
    /// The emulation's name in reports.
    pub fn emulation(self) -> &'static str {
        match self {
            TorchKernel::Fbgemm(_) => "fbgemm",
            TorchKernel::Onednn => "oneDNN",
        }
    }
}

/// PyTorch's float32 requantization of a layer, emulated (`fbgemm` or
/// `onednn`), with the accumulators (without bias) the kernel requantized.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatReference {
    pub kernel: TorchKernel,
    /// The kernel's accumulator without bias (the exact one except on the
    /// depthwise fast path's int16 saturation).
    pub acc: Array4<i32>,
    /// The float32 value the kernel rounds last (fbgemm `xf·M`; oneDNN the
    /// scaled value plus the zero point).
    pub value: Array4<f32>,
    pub output: Array4<i32>,
}

/// The exact accumulators without the int32 bias.
fn without_bias(case: &Case, acc: &Array4<i32>) -> Array4<i32> {
    let oc = case.out_channels();
    let mut a = acc.clone();
    for (i, v) in a.iter_mut().enumerate() {
        *v = v.wrapping_sub(case.bias_of(i % oc));
    }
    a
}

/// The fbgemm emulation of a case (docs/contract.md §5) from its exact
/// accumulators `acc` (with the integer bias, as [`accumulate`] returns them).
pub fn fbgemm_reference(
    case: &Case,
    acc: &Array4<i32>,
) -> Result<FloatReference, crate::error::InputError> {
    let channels = fbgemm_channels(case)?;
    let path = fbgemm_path(case);
    let oc = case.out_channels();
    let kernel_acc = match path {
        FbgemmPath::DepthwiseFast => accumulate_depthwise_fast(case),
        FbgemmPath::Gemm => without_bias(case, acc),
    };
    let value = kernel_acc.indexed_iter().map(|((_, _, _, c), &a)| {
        let ch = &channels[c];
        ch.xf(a) * ch.multiplier
    });
    let value = Array4::from_shape_vec(kernel_acc.dim(), value.collect()).expect("shape");
    let mut output = kernel_acc.clone();
    for (i, v) in output.iter_mut().enumerate() {
        *v = channels[i % oc].apply(*v);
    }
    Ok(FloatReference {
        kernel: TorchKernel::Fbgemm(path),
        acc: kernel_acc,
        value,
        output,
    })
}

/// The oneDNN emulation of a conv case (docs/contract.md §5). A fused ReLU is
/// read from the bounds: `act_min` above the output type's minimum (it is
/// `zp_out` for PyTorch's ReLU; with `zp_out` at the minimum ReLU changes nothing).
pub fn onednn_reference(
    case: &Case,
    acc: &Array4<i32>,
) -> Result<FloatReference, crate::error::InputError> {
    let (sx, sw, sy) = float_scales(case, "oneDNN")?;
    if case.filter_zero_point != 0 {
        return Err(crate::error::InputError::new(
            &case.path,
            "field `filter_zero_point`",
            "oneDNN runs PyTorch conv only with symmetric weights (zero point 0)",
        ));
    }
    let (qmin, qmax) = case.output_dtype.range();
    let channels: Vec<crate::arith::requant::Onednn> = (0..case.out_channels())
        .map(|c| {
            let bias = match (&case.bias, &case.bias_float) {
                (None, _) => None,
                (Some(_), Some(bf)) => Some(bf[c]),
                (Some(b), None) => Some(b[c] as f64 * sx * sw[if sw.len() > 1 { c } else { 0 }]),
            };
            let mut o = crate::arith::requant::Onednn::new(
                sx,
                sw[if sw.len() > 1 { c } else { 0 }],
                sy,
                bias,
            );
            o.zp_out = case.output_zero_point;
            o.relu = case.act_min > qmin;
            o.qmin = qmin;
            o.qmax = qmax;
            o.act_min = case.act_min;
            o.act_max = case.act_max;
            o
        })
        .collect();
    let kernel_acc = without_bias(case, acc);
    let value = kernel_acc
        .indexed_iter()
        .map(|((_, _, _, c), &a)| channels[c].value(a));
    let value = Array4::from_shape_vec(kernel_acc.dim(), value.collect()).expect("shape");
    let oc = case.out_channels();
    let mut output = kernel_acc.clone();
    for (i, v) in output.iter_mut().enumerate() {
        *v = channels[i % oc].apply(*v);
    }
    Ok(FloatReference {
        kernel: TorchKernel::Onednn,
        acc: kernel_acc,
        value,
        output,
    })
}

/// The PyTorch emulation a case's rounding names (`fbgemm` or `onednn`);
/// `None` for the other roundings.
pub fn torch_reference(
    case: &Case,
    acc: &Array4<i32>,
) -> Result<Option<FloatReference>, crate::error::InputError> {
    match case.rounding {
        Rounding::Fbgemm => fbgemm_reference(case, acc).map(Some),
        Rounding::Onednn => onednn_reference(case, acc).map(Some),
        _ => Ok(None),
    }
}

/// The integer rounding the datapath uses for a case: its own for
/// double/single cases, TFLite's default (double) for float references.
pub fn integer_rounding(rounding: Rounding) -> DatapathRounding {
    match rounding {
        Rounding::Single => DatapathRounding::Single,
        _ => DatapathRounding::Double,
    }
}

/// The rounding a datapath with a `mult_w`-wide multiplier applies to a
/// case: the case's integer mode at 32 bits; single rounding for narrow
/// multipliers, the DSP-friendly design point of docs/contract.md §4.
pub fn datapath_rounding(rounding: Rounding, mult_w: u32) -> DatapathRounding {
    if mult_w < 32 {
        DatapathRounding::Single
    } else {
        integer_rounding(rounding)
    }
}

/// The outputs of the integer datapath with a `mult_w`-wide multiplier.
pub fn requantize_datapath(case: &Case, acc: &Array4<i32>, mult_w: u32) -> Array4<i32> {
    requantize(case, acc, datapath_rounding(case.rounding, mult_w), mult_w)
}

/// Run the golden model in the case's own rounding mode.
pub fn run(case: &Case) -> anyhow::Result<LayerResult> {
    let (acc, overflow) = accumulate(case);
    let output = match case.rounding {
        Rounding::Double | Rounding::Single => {
            requantize(case, &acc, integer_rounding(case.rounding), 32)
        }
        Rounding::Float64 => requantize_float64(case, &acc).ok_or_else(|| {
            crate::error::InputError::new(
                &case.path,
                "field `input_scale`",
                "float64 rounding needs input_scale, filter_scales and output_scale",
            )
        })?,
        Rounding::Fbgemm => fbgemm_reference(case, &acc)?.output,
        Rounding::Onednn => onednn_reference(case, &acc)?.output,
    };
    Ok(LayerResult {
        acc,
        overflow,
        output,
    })
}
