//! TFLite reference integer kernels for the non-MAC ops of a whole model.
//!
//! Each function is a bit-exact port of the TensorFlow Lite 2.21 kernel that
//! the `BUILTIN_REF` op resolver (kernel type `kReference`) runs for int8
//! tensors, including the parameter derivation of the op's `Prepare`. The
//! source file is cited in every function's documentation; every rounding is
//! the one of that source. Parameter combinations TFLite rejects in `Prepare`
//! (or aborts on with `TFLITE_CHECK`) are returned as an [`OpError`]; no
//! function panics on user data.
//!
//! Conventions: tensors are row-major ([`QTensor`], NHWC for 4-D), every op
//! takes the output tensor's quantization `out` (as the .tflite stores it) and
//! returns a tensor carrying it. Multipliers follow [`crate::arith::requant`]: `m0` in
//! Q31 and TFLite's signed exponent (positive = left shift), applied with
//! TFLite's double-rounding `MultiplyByQuantizedMultiplier`
//! ([`requant::multiply_double`]).

use crate::arith::requant::{self, Activation};
use crate::arith::DType;
use crate::golden::tensor::{QTensor, Quant};

/// An op could not run: bad shapes, unsupported parameters, or a parameter
/// combination TFLite's `Prepare`/`Eval` rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct OpError {
    /// The TFLite op name (`ADD`, `SOFTMAX`, …).
    pub op: &'static str,
    /// What is wrong, in one line.
    pub message: String,
}

fn err(op: &'static str, message: impl Into<String>) -> OpError {
    OpError {
        op,
        message: message.into(),
    }
}

/// Checks that `t.data` fills `t.shape` (the fields are public, so a tensor
/// built by hand may be inconsistent) and returns the element count.
fn check_tensor(op: &'static str, what: &str, t: &QTensor) -> Result<usize, OpError> {
    let n = checked_product(&t.shape)
        .ok_or_else(|| err(op, format!("{what} shape {:?} overflows", t.shape)))?;
    if n != t.data.len() {
        return Err(err(
            op,
            format!(
                "{what} has {} elements but shape {:?} needs {n}",
                t.data.len(),
                t.shape
            ),
        ));
    }
    Ok(n)
}

fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn tensor(shape: Vec<usize>, data: Vec<i8>, quant: Quant) -> QTensor {
    QTensor { shape, data, quant }
}

fn clamp_i8(v: i32) -> i8 {
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// TFLite `QuantizeMultiplierSmallerThanOneExp` (`quantization_util.cc`):
/// `TFLITE_CHECK`s `0 < real < 1` and a non-positive exponent.
fn quantize_multiplier_smaller_than_one(
    op: &'static str,
    what: &str,
    real: f64,
) -> Result<(i32, i32), OpError> {
    if !(real > 0.0 && real < 1.0) {
        return Err(err(
            op,
            format!(
                "{what} multiplier {real} is not in (0, 1) (QuantizeMultiplierSmallerThanOneExp)"
            ),
        ));
    }
    let (m0, shift) = requant::quantize_multiplier(real, false);
    if shift > 0 {
        return Err(err(
            op,
            format!("{what} multiplier {real} has exponent {shift} > 0"),
        ));
    }
    Ok((m0, shift))
}

/// TFLite `CalculateActivationRangeQuantized` for an int8 output.
fn act_bounds(act: Activation, out: Quant) -> (i32, i32) {
    requant::activation_bounds(act, out.zero_point, out.scale, DType::Int8)
}

// ---------------------------------------------------------------------------
// Padding
// ---------------------------------------------------------------------------

/// TFLite `ComputeOutSize` + `ComputePaddingWithOffset` (`kernels/padding.h`,
/// the checked 2.21 versions) for one spatial dimension.
///
/// Returns `(out_size, pad_before, pad_after)` with `pad_after = pad_before +
/// offset` (TFLite puts the odd padding pixel after). SAME: `out = ⌈in/stride⌉`;
/// VALID: `out = (in + stride − eff_filter) / stride` truncated, with
/// `eff_filter = (filter − 1)·dilation + 1`; `total = max(0, (out − 1)·stride +
/// eff_filter − in)`, `pad_before = total / 2`. Errors where TFLite's checked
/// versions fail: zero filter/stride/dilation or a negative output size.
pub fn compute_padding(
    padding_same: bool,
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize, usize), OpError> {
    const OP: &str = "padding";
    if filter == 0 || stride == 0 || dilation == 0 {
        return Err(err(
            OP,
            format!("filter {filter}, stride {stride} and dilation {dilation} must all be >= 1"),
        ));
    }
    let big = |v: usize| i64::try_from(v).map_err(|_| err(OP, format!("{v} is too large")));
    let (in_size, filter, stride, dilation) =
        (big(in_size)?, big(filter)?, big(stride)?, big(dilation)?);
    let eff = (filter - 1)
        .checked_mul(dilation)
        .and_then(|v| v.checked_add(1))
        .ok_or_else(|| err(OP, "effective filter size overflows"))?;
    // Rust's `/` truncates towards zero like C's.
    let out = if padding_same {
        (in_size + stride - 1) / stride
    } else {
        (in_size + stride - eff) / stride
    };
    if out < 0 {
        return Err(err(
            OP,
            format!("VALID output size {out} < 0 (input {in_size}, effective filter {eff})"),
        ));
    }
    let total = ((out - 1) * stride + eff - in_size).max(0);
    let before = total / 2;
    let offset = total % 2;
    Ok((out as usize, before as usize, (before + offset) as usize))
}

// ---------------------------------------------------------------------------
// ADD
// ---------------------------------------------------------------------------

/// The broadcast shape of TFLite `CalculateShapeForBroadcast`
/// (`kernels/kernel_util.cc`): shapes aligned at the trailing dimension, each
/// pair equal or one of them 1.
fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>, OpError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0usize; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        if da != db && da != 1 && db != 1 {
            return Err(err(
                op,
                format!("shapes {a:?} and {b:?} are not broadcastable (dimension {i})"),
            ));
        }
        out[i] = if da == 1 { db } else { da };
    }
    Ok(out)
}

/// Strides of `shape` seen from a broadcast output of rank `rank`: 0 where
/// the dimension is broadcast (size 1 or missing) — TFLite
/// `NdArrayDescsForElementwiseBroadcast`.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let rank = out.len();
    let own = strides(shape);
    (0..rank)
        .map(|i| {
            if i < rank - shape.len() {
                0
            } else {
                let j = i - (rank - shape.len());
                if shape[j] == 1 && out[i] != 1 {
                    0
                } else {
                    own[j]
                }
            }
        })
        .collect()
}

/// int8 ADD: `kernels/add.cc` `Prepare` (general 8-bit path) and
/// `reference/integer_ops/add.h` (`AddFunc`; `Add` for equal shapes,
/// `BroadcastAdd6DSlow` otherwise, so broadcasting is limited to rank 6).
///
/// Prepare: `left_shift = 20`, `twice_max = 2·max(S₁, S₂)`, input multipliers
/// `Sᵢ/twice_max` and output multiplier `twice_max/(2²⁰·S_out)`, each through
/// `QuantizeMultiplierSmallerThanOneExp` (TFLite aborts unless in (0, 1): an
/// error here). Per element: `vᵢ = (xᵢ − zpᵢ)·2²⁰`, `sᵢ = MBQM(vᵢ, mᵢ, eᵢ)`,
/// `y = clamp(MBQM(s₁ + s₂, m_out, e_out) + zp_out, act_min, act_max)`.
pub fn add(a: &QTensor, b: &QTensor, out: Quant, act: Activation) -> Result<QTensor, OpError> {
    const OP: &str = "ADD";
    check_tensor(OP, "input1", a)?;
    check_tensor(OP, "input2", b)?;
    let same = a.shape == b.shape;
    let out_shape = if same {
        a.shape.clone()
    } else {
        broadcast_shape(OP, &a.shape, &b.shape)?
    };
    if !same && out_shape.len() > 6 {
        return Err(err(
            OP,
            format!(
                "broadcasting supports rank <= 6 (BroadcastAdd6DSlow), got {}",
                out_shape.len()
            ),
        ));
    }
    for (what, q) in [("input1", a.quant), ("input2", b.quant), ("output", out)] {
        if !(q.scale > 0.0 && q.scale.is_finite()) {
            return Err(err(
                OP,
                format!("{what} scale {} must be positive", q.scale),
            ));
        }
    }

    const LEFT_SHIFT: u32 = 20;
    // `2 * std::max(float, float)` is a float product (exact), widened to double.
    let twice_max = (2.0f32 * a.quant.scale.max(b.quant.scale)) as f64;
    let real1 = a.quant.scale as f64 / twice_max;
    let real2 = b.quant.scale as f64 / twice_max;
    // `(1 << left_shift) * output->params.scale` is a float product (exact).
    let real_out = twice_max / ((1u32 << LEFT_SHIFT) as f32 * out.scale) as f64;
    let (m1, e1) = quantize_multiplier_smaller_than_one(OP, "input1", real1)?;
    let (m2, e2) = quantize_multiplier_smaller_than_one(OP, "input2", real2)?;
    let (mo, eo) = quantize_multiplier_smaller_than_one(OP, "output", real_out)?;
    let (act_min, act_max) = act_bounds(act, out);
    let (zp1, zp2) = (a.quant.zero_point, b.quant.zero_point);

    let add_func = |x: i8, y: i8| -> i8 {
        let v1 = (x as i32 - zp1).wrapping_mul(1 << LEFT_SHIFT);
        let v2 = (y as i32 - zp2).wrapping_mul(1 << LEFT_SHIFT);
        let s1 = requant::multiply_double(v1, m1, e1, 32);
        let s2 = requant::multiply_double(v2, m2, e2, 32);
        let raw =
            requant::multiply_double(s1.wrapping_add(s2), mo, eo, 32).wrapping_add(out.zero_point);
        raw.clamp(act_min, act_max) as i8
    };

    let data = if same {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| add_func(x, y))
            .collect()
    } else {
        let n = checked_product(&out_shape).ok_or_else(|| err(OP, "output shape overflows"))?;
        let sa = broadcast_strides(&a.shape, &out_shape);
        let sb = broadcast_strides(&b.shape, &out_shape);
        let mut idx = vec![0usize; out_shape.len()];
        let mut data = Vec::with_capacity(n);
        for _ in 0..n {
            let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
            let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
            data.push(add_func(a.data[ia], b.data[ib]));
            // Next row-major index.
            for d in (0..out_shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        data
    };
    Ok(tensor(out_shape, data, out))
}

// ---------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------

/// Parameters of AVERAGE_POOL_2D / MAX_POOL_2D after TFLite's `Prepare`
/// (`kernels/pooling.cc`): explicit top/left padding and the output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParams {
    pub filter_h: usize,
    pub filter_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    /// `padding_values.height` of TFLite (rows of padding above).
    pub pad_top: usize,
    /// `padding_values.width` of TFLite (columns of padding on the left).
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// Fused activation (clamp bounds from the output quantization).
    pub activation: Activation,
}

impl PoolParams {
    /// What `pooling.cc` `GenericPrepare` derives from the Pool2DOptions:
    /// `ComputePaddingHeightWidth` with dilation 1 ([`compute_padding`]).
    #[allow(clippy::too_many_arguments)]
    pub fn from_options(
        padding_same: bool,
        in_h: usize,
        in_w: usize,
        filter_h: usize,
        filter_w: usize,
        stride_h: usize,
        stride_w: usize,
        activation: Activation,
    ) -> Result<PoolParams, OpError> {
        let (out_h, pad_top, _) = compute_padding(padding_same, in_h, filter_h, stride_h, 1)?;
        let (out_w, pad_left, _) = compute_padding(padding_same, in_w, filter_w, stride_w, 1)?;
        Ok(PoolParams {
            filter_h,
            filter_w,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            out_h,
            out_w,
            activation,
        })
    }
}

/// Walks the pooling windows of `reference/integer_ops/pooling.h`; `reduce`
/// gets the in-bounds taps of one window and channel.
fn pool(
    op: &'static str,
    input: &QTensor,
    p: &PoolParams,
    out: Quant,
    mut reduce: impl FnMut(&mut dyn Iterator<Item = i8>) -> Result<i32, OpError>,
) -> Result<QTensor, OpError> {
    check_tensor(op, "input", input)?;
    let &[batches, in_h, in_w, depth] = input.shape.as_slice() else {
        return Err(err(
            op,
            format!("input must be 4-D NHWC, got shape {:?}", input.shape),
        ));
    };
    if p.filter_h == 0 || p.filter_w == 0 || p.stride_h == 0 || p.stride_w == 0 {
        return Err(err(op, "filter and stride must be >= 1"));
    }
    let out_shape = vec![batches, p.out_h, p.out_w, depth];
    let n = checked_product(&out_shape).ok_or_else(|| err(op, "output shape overflows"))?;
    let (act_min, act_max) = act_bounds(p.activation, out);
    let big = |v: usize| i64::try_from(v).map_err(|_| err(op, format!("{v} is too large")));
    let (in_h, in_w) = (big(in_h)?, big(in_w)?);
    let (fh, fw) = (big(p.filter_h)?, big(p.filter_w)?);
    let mut data = Vec::with_capacity(n);
    for b in 0..batches {
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let in_y0 = big(oy)? * big(p.stride_h)? - big(p.pad_top)?;
                let in_x0 = big(ox)? * big(p.stride_w)? - big(p.pad_left)?;
                // Filter window clamped to the input (filter_{x,y}_{start,end}).
                let fy = (0.max(-in_y0), fh.min(in_h - in_y0));
                let fx = (0.max(-in_x0), fw.min(in_w - in_x0));
                for c in 0..depth {
                    let mut taps = (fy.0..fy.1).flat_map(|ky| {
                        (fx.0..fx.1).map(move |kx| {
                            let y = (in_y0 + ky) as usize;
                            let x = (in_x0 + kx) as usize;
                            input.data[((b * in_h as usize + y) * in_w as usize + x) * depth + c]
                        })
                    });
                    let v = reduce(&mut taps)?;
                    data.push(v.clamp(act_min, act_max) as i8);
                }
            }
        }
    }
    Ok(tensor(out_shape, data, out))
}

/// int8 AVERAGE_POOL_2D: `reference_integer_ops::AveragePool`
/// (`reference/integer_ops/pooling.h`, called by `kernels/pooling.cc` for
/// `kReference`).
///
/// Sum of the in-bounds taps (`filter_count` of them), then C-truncating
/// division rounded half away from zero: `acc > 0 ? (acc + n/2)/n :
/// (acc − n/2)/n`, clamped to the activation range. No requantization: the
/// output takes the input's integers (TFLite only `DCHECK`s equal
/// quantization). A window with no in-bounds tap is an error (the kernel
/// returns false).
pub fn average_pool_2d(input: &QTensor, p: &PoolParams, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "AVERAGE_POOL_2D";
    pool(OP, input, p, out, |taps| {
        let (mut acc, mut count) = (0i32, 0i32);
        for v in taps {
            acc = acc.wrapping_add(v as i32);
            count += 1;
        }
        if count == 0 {
            return Err(err(OP, "a pooling window has no in-bounds input"));
        }
        Ok(if acc > 0 {
            (acc + count / 2) / count
        } else {
            (acc - count / 2) / count
        })
    })
}

/// int8 MAX_POOL_2D: `reference_integer_ops::MaxPool`
/// (`reference/integer_ops/pooling.h`): the maximum of the in-bounds taps,
/// starting from −128, clamped to the activation range.
pub fn max_pool_2d(input: &QTensor, p: &PoolParams, out: Quant) -> Result<QTensor, OpError> {
    pool("MAX_POOL_2D", input, p, out, |taps| {
        Ok(taps.fold(i8::MIN, |m, v| m.max(v)) as i32)
    })
}

// ---------------------------------------------------------------------------
// MEAN
// ---------------------------------------------------------------------------

/// Resolves MEAN/reduce axes like `ResolveAxisForShape` (`kernels/reduce.cc`):
/// negative axes count from the end, duplicates are dropped, out-of-range
/// axes are an error. Keeps first-occurrence order.
fn resolve_axes(op: &'static str, rank: usize, axes: &[i32]) -> Result<Vec<usize>, OpError> {
    let mut out = Vec::new();
    for &a in axes {
        let r = rank as i64;
        let cur = if a < 0 { a as i64 + r } else { a as i64 };
        if cur < 0 || cur >= r {
            return Err(err(op, format!("axis {a} is out of range for rank {rank}")));
        }
        let cur = cur as usize;
        if !out.contains(&cur) {
            out.push(cur);
        }
    }
    Ok(out)
}

/// int8 MEAN as TFLite 2.21 runs it with the reference kernel.
///
/// `kernels/reduce.cc`: `PrepareMeanOrSum` quantizes `S_in/S_out` (in double)
/// with `QuantizeMultiplier` into `(multiplier, shift)`; `EvalMean<kReference>`
/// sends every int8 input — whatever the rank, axes, `keep_dims` or
/// quantization — to `EvalQuantizedMean`, i.e.
/// `reference_ops::QuantizedMeanOrSum(…, multiplier, shift, …, compute_sum =
/// false)` of `reference/reduce.h`. (The special cases of older releases —
/// `reference_integer_ops::Mean` for 4-D `keep_dims` over axes {1, 2}, and a
/// plain sum/count when the quantizations are equal — are no longer reached
/// for `kReference` in 2.21; the 4-D case survives only in the optimized
/// kernel.)
///
/// `QuantizedMeanOrSum`: `sum` of the raw int8 over the reduced axes (int32),
/// `n` = number of reduced elements; 1/n is folded into the multiplier:
/// `k = min(⌊log₂ n⌋, 32, 31 + shift)`, `multiplier' = (multiplier·2ᵏ) / n`
/// (int64, truncating), `shift' = shift − k`; then
/// `y = clamp(MBQM(sum − zp_in·n, multiplier', shift') + zp_out, −128, 127)`.
/// With no axes the op is a copy (`ReduceIsCopy`); an empty input gives
/// zeros (`InitializeMeanOutput`, int8 "NaN" is 0).
///
/// Output shape (`GetOutputShape`): reduced axes become 1 with `keep_dims`,
/// are removed otherwise.
pub fn mean(
    input: &QTensor,
    axes: &[i32],
    keep_dims: bool,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "MEAN";
    let n_in = check_tensor(OP, "input", input)?;
    let rank = input.shape.len();
    let resolved = resolve_axes(OP, rank, axes)?;
    let out_shape: Vec<usize> = if rank == 0 {
        Vec::new()
    } else if keep_dims {
        (0..rank)
            .map(|d| {
                if resolved.contains(&d) {
                    1
                } else {
                    input.shape[d]
                }
            })
            .collect()
    } else {
        (0..rank)
            .filter(|d| !resolved.contains(d))
            .map(|d| input.shape[d])
            .collect()
    };
    let n_out = checked_product(&out_shape).ok_or_else(|| err(OP, "output shape overflows"))?;
    if n_in == 0 {
        return Ok(tensor(out_shape, vec![0; n_out], out));
    }
    if axes.is_empty() {
        // ReduceIsCopy: the input bytes, unscaled.
        return Ok(tensor(input.shape.clone(), input.data.clone(), out));
    }
    if !(input.quant.scale > 0.0 && out.scale > 0.0) {
        return Err(err(OP, "input and output scales must be positive"));
    }
    let (mut multiplier, mut shift) =
        requant::quantize_multiplier(input.quant.scale as f64 / out.scale as f64, false);

    // Sum over the reduced axes (ReduceSumImpl with CastSumOp<int8, int32>).
    let kept: Vec<usize> = (0..rank).filter(|d| !resolved.contains(d)).collect();
    let kept_shape: Vec<usize> = kept.iter().map(|&d| input.shape[d]).collect();
    let kept_strides = strides(&kept_shape);
    let mut sums = vec![0i32; n_out];
    let mut idx = vec![0usize; rank];
    for &v in &input.data {
        let o: usize = kept
            .iter()
            .zip(&kept_strides)
            .map(|(&d, s)| idx[d] * s)
            .sum();
        sums[o] = sums[o].wrapping_add(v as i32);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < input.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let count: i64 = resolved.iter().map(|&d| input.shape[d] as i64).product();

    // Fold 1/count into the multiplier (compute_sum == false).
    let mut k = 63 - (count as u64).leading_zeros() as i32;
    k = k.min(32).min(31 + shift);
    if k < 0 {
        return Err(err(OP, format!("output shift {shift} is out of range")));
    }
    multiplier = (((multiplier as i64) << k) / count) as i32;
    shift -= k;
    let zp_in = input.quant.zero_point as i64;
    let data = sums
        .iter()
        .map(|&s| {
            let shifted = (s as i64 - zp_in * count) as i32;
            let y = requant::multiply_double(shifted, multiplier, shift, 32)
                .wrapping_add(out.zero_point);
            clamp_i8(y)
        })
        .collect();
    Ok(tensor(out_shape, data, out))
}

// ---------------------------------------------------------------------------
// PAD / PADV2 / RESHAPE / CONCATENATION / QUANTIZE
// ---------------------------------------------------------------------------

/// `reference_ops::PadKernelMaxDimensionCount()` (`reference/pad.h`).
const PAD_MAX_DIMS: usize = 5;

/// int8 PADV2: `kernels/pad.cc` `EvalInt` with a constant value: a copy of
/// the input surrounded by `pad_value`. `paddings[d] = (before, after)` for
/// every dimension (non-negative by type; TFLite rejects negative ones).
/// TFLite requires the constant's quantization to equal the output's; the
/// caller passes the constant's raw int8 value.
pub fn pad_v2(
    input: &QTensor,
    paddings: &[(usize, usize)],
    pad_value: i8,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "PAD";
    check_tensor(OP, "input", input)?;
    let rank = input.shape.len();
    if paddings.len() != rank {
        return Err(err(
            OP,
            format!(
                "paddings has {} rows but the input has rank {rank}",
                paddings.len()
            ),
        ));
    }
    if rank > PAD_MAX_DIMS {
        return Err(err(
            OP,
            format!("rank {rank} > {PAD_MAX_DIMS} is not supported"),
        ));
    }
    let out_shape: Vec<usize> = input
        .shape
        .iter()
        .zip(paddings)
        .map(|(&d, &(b, a))| d.checked_add(b).and_then(|v| v.checked_add(a)))
        .collect::<Option<_>>()
        .ok_or_else(|| err(OP, "output shape overflows"))?;
    let n = checked_product(&out_shape).ok_or_else(|| err(OP, "output shape overflows"))?;
    let mut data = vec![pad_value; n];
    let out_strides = strides(&out_shape);
    let mut idx = vec![0usize; rank];
    for &v in &input.data {
        let o: usize = (0..rank)
            .map(|d| (idx[d] + paddings[d].0) * out_strides[d])
            .sum();
        data[o] = v;
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < input.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(tensor(out_shape, data, out))
}

/// int8 PAD: `kernels/pad.cc` `EvalInt` without constant values — the pad
/// value is the output zero point (which must be a representable int8).
pub fn pad(input: &QTensor, paddings: &[(usize, usize)], out: Quant) -> Result<QTensor, OpError> {
    let zp = i8::try_from(out.zero_point).map_err(|_| {
        err(
            "PAD",
            format!("output zero point {} is not an int8", out.zero_point),
        )
    })?;
    pad_v2(input, paddings, zp, out)
}

/// RESHAPE (`kernels/reshape.cc`): the same bytes under a new shape. `shape`
/// is the new-shape tensor; at most one entry may be −1 (inferred from the
/// element count), the others must be non-negative, and the element count
/// must be preserved.
pub fn reshape(input: &QTensor, shape: &[i32], out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "RESHAPE";
    let n = check_tensor(OP, "input", input)?;
    let mut stretch = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if stretch.replace(i).is_some() {
                return Err(err(OP, format!("shape {shape:?} has more than one -1")));
            }
        } else if d < 0 {
            return Err(err(OP, format!("shape {shape:?} has a negative dimension")));
        } else {
            known = known
                .checked_mul(d as usize)
                .ok_or_else(|| err(OP, "shape overflows"))?;
        }
    }
    let mut out_shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = stretch {
        if known == 0 || n % known != 0 {
            return Err(err(
                OP,
                format!("cannot infer -1 in {shape:?} for {n} elements"),
            ));
        }
        out_shape[i] = n / known;
    } else if known != n {
        return Err(err(
            OP,
            format!("shape {shape:?} holds {known} elements, the input has {n}"),
        ));
    }
    Ok(tensor(out_shape, input.data.clone(), out))
}

/// int8 CONCATENATION (`kernels/concatenation.cc`). `Prepare` requires rank
/// <= 4, no fused activation, equal ranks and equal dimensions off the axis,
/// and — for int8 — every input's scale and zero point equal to the
/// output's ("no re-scaling needed for Int8 quantized kernel": an error here,
/// no `ConcatenationWithScaling`). The data is then copied
/// (`reference_ops::Concatenation`). `axis` may be negative.
pub fn concatenation(
    inputs: &[&QTensor],
    axis: i32,
    act: Activation,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "CONCATENATION";
    let first = inputs.first().ok_or_else(|| err(OP, "no inputs"))?;
    if act != Activation::None {
        return Err(err(OP, "only fused activation NONE is supported"));
    }
    let rank = first.shape.len();
    if rank > 4 {
        return Err(err(OP, format!("rank {rank} > 4 is not supported")));
    }
    let a = if axis < 0 {
        axis as i64 + rank as i64
    } else {
        axis as i64
    };
    if a < 0 || a >= rank as i64 {
        return Err(err(
            OP,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    let a = a as usize;
    let mut axis_sum = 0usize;
    for (i, t) in inputs.iter().enumerate() {
        check_tensor(OP, &format!("input {i}"), t)?;
        if t.shape.len() != rank {
            return Err(err(
                OP,
                format!("input {i} has rank {}, input 0 has {rank}", t.shape.len()),
            ));
        }
        for d in 0..rank {
            if d != a && t.shape[d] != first.shape[d] {
                return Err(err(
                    OP,
                    format!(
                        "input {i} shape {:?} differs from {:?} off axis {a}",
                        t.shape, first.shape
                    ),
                ));
            }
        }
        if t.quant.scale != out.scale || t.quant.zero_point != out.zero_point {
            return Err(err(
                OP,
                format!(
                    "input {i} quantization ({}, {}) differs from the output's ({}, {}); int8 CONCATENATION does not rescale",
                    t.quant.scale, t.quant.zero_point, out.scale, out.zero_point
                ),
            ));
        }
        axis_sum += t.shape[a];
    }
    let mut out_shape = first.shape.clone();
    out_shape[a] = axis_sum;
    let outer: usize = first.shape[..a].iter().product();
    let mut data = Vec::with_capacity(checked_product(&out_shape).unwrap_or(0));
    for o in 0..outer {
        for t in inputs {
            let inner: usize = t.shape[a..].iter().product();
            data.extend_from_slice(&t.data[o * inner..(o + 1) * inner]);
        }
    }
    Ok(tensor(out_shape, data, out))
}

/// int8 → int8 QUANTIZE (requantization): `kernels/quantize.cc` `Prepare`
/// quantizes `S_in/S_out` (double) with `QuantizeMultiplier`; `Eval` runs
/// `reference_ops::Requantize` (`reference/requantize.h`):
/// `y = clamp(MBQM(x − zp_in, m0, shift) + zp_out, −128, 127)`.
pub fn quantize(input: &QTensor, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "QUANTIZE";
    check_tensor(OP, "input", input)?;
    if !(input.quant.scale > 0.0 && out.scale > 0.0) {
        return Err(err(OP, "input and output scales must be positive"));
    }
    let (m0, shift) =
        requant::quantize_multiplier(input.quant.scale as f64 / out.scale as f64, false);
    let zp_in = input.quant.zero_point;
    let data = input
        .data
        .iter()
        .map(|&x| {
            let y = requant::multiply_double((x as i32).wrapping_sub(zp_in), m0, shift, 32)
                .wrapping_add(out.zero_point);
            clamp_i8(y)
        })
        .collect();
    Ok(tensor(input.shape.clone(), data, out))
}

// ---------------------------------------------------------------------------
// SOFTMAX and the gemmlowp fixed-point primitives it needs
// ---------------------------------------------------------------------------

/// gemmlowp fixed-point primitives (`fixedpoint/fixedpoint.h`) on the raw
/// int32 of a `FixedPoint<int32_t, IntegerBits>`; the integer bits are
/// tracked by the caller. int32 `Add`/`Sub` are plain (wrapping here).
pub mod fixedpoint {
    use crate::arith::requant::{rounding_divide_by_pot, srdhm};

    /// FixedPoint `operator*`: SaturatingRoundingDoublingHighMul (integer
    /// bits add up).
    pub fn mul(a: i32, b: i32) -> i32 {
        srdhm(a, b, 32)
    }

    /// `SaturatingRoundingMultiplyByPOT<exponent>`: saturating left shift for
    /// a positive exponent, `RoundingDivideByPOT` for a negative one.
    /// `exponent` is a compile-time constant in gemmlowp: it must be in
    /// `-31..=30`.
    pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
        if exponent > 0 {
            let threshold = (1i32 << (31 - exponent)) - 1;
            if x > threshold {
                i32::MAX
            } else if x < -threshold {
                i32::MIN
            } else {
                x.wrapping_mul(1 << exponent)
            }
        } else if exponent < 0 {
            rounding_divide_by_pot(x, (-exponent) as u32)
        } else {
            x
        }
    }

    /// `Rescale<dst>(FixedPoint<src>)`.
    pub fn rescale(x: i32, src_integer_bits: i32, dst_integer_bits: i32) -> i32 {
        saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)
    }

    /// `RoundingHalfSum` for int32: `(a + b + sign) / 2`, C truncation.
    pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
        let sum = a as i64 + b as i64;
        let sign = if sum >= 0 { 1 } else { -1 };
        ((sum + sign) / 2) as i32
    }

    /// `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in,
    /// Q0.31 out): Taylor expansion around −1/8.
    pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
        const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
        const CONSTANT_1_OVER_3: i32 = 715827883;
        let x = a.wrapping_add(1 << 28); // + ConstantPOT<-3>
        let x2 = mul(x, x);
        let x3 = mul(x2, x);
        let x4 = mul(x2, x2);
        let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
        let poly = saturating_rounding_multiply_by_pot(
            mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
            -1,
        );
        CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
    }

    /// `exp_on_negative_values` of a `FixedPoint<int32_t, integer_bits>`
    /// (`a <= 0`), result in Q0.31: exp of `a mod 1/4 − 1/4` on the interval,
    /// then the barrel shifter multiplies by exp(−2ᵉ) for each set bit of the
    /// remainder, the clamp to 0 below −32 (only for > 5 integer bits), and
    /// exp(0) = `One()` = `i32::MAX`. `integer_bits` is the template
    /// parameter: it must be in `0..=29` (SOFTMAX uses 5).
    pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
        let fractional_bits = 31 - integer_bits;
        let one_quarter = 1i32 << (fractional_bits - 2);
        let mask = one_quarter - 1;
        let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
        let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
            a_mod_quarter_minus_one_quarter,
            integer_bits,
            0,
        ));
        let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
        const BARREL: [(i32, i32); 7] = [
            (-2, 1672461947),
            (-1, 1302514674),
            (0, 790015084),
            (1, 290630308),
            (2, 39332535),
            (3, 720401),
            (4, 242),
        ];
        for (exponent, multiplier) in BARREL {
            if integer_bits > exponent {
                let shift = fractional_bits + exponent;
                if remainder & (1i32 << shift) != 0 {
                    result = mul(result, multiplier);
                }
            }
        }
        if integer_bits > 5 {
            let clamp = -(1i32 << (36 - integer_bits)); // -32.0
            if a < clamp {
                result = 0;
            }
        }
        if a == 0 {
            result = i32::MAX;
        }
        result
    }

    /// `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out): Newton–Raphson
    /// division with three iterations in Q2.29.
    pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
        const F2_ONE: i32 = 1 << 29;
        const CONSTANT_48_OVER_17: i32 = 1515870810;
        const CONSTANT_NEG_32_OVER_17: i32 = -1010580540;
        let half_denominator = rounding_half_sum(a, i32::MAX);
        let mut x =
            CONSTANT_48_OVER_17.wrapping_add(mul(half_denominator, CONSTANT_NEG_32_OVER_17));
        for _ in 0..3 {
            let half_denominator_times_x = mul(half_denominator, x);
            let one_minus = F2_ONE.wrapping_sub(half_denominator_times_x);
            x = x.wrapping_add(rescale(mul(x, one_minus), 4, 2));
        }
        // Rescale<0>(ExactMulByPot<-1>(x)): Q1.30 -> Q0.31.
        rescale(x, 1, 0)
    }
}

/// TFLite `GetReciprocal` (`kernels/internal/common.h`): `1/x` of a positive
/// Q`x_integer_digits` value as a Q0.31 `shifted_scale` and the
/// `num_bits_over_unit` exponent.
fn get_reciprocal(x: i32, x_integer_digits: i32) -> Option<(i32, i32)> {
    let headroom_plus_one = (x as u32).leading_zeros();
    if headroom_plus_one >= 32 {
        return None;
    }
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    let shifted_sum_minus_one = ((x as u32) << headroom_plus_one).wrapping_sub(1u32 << 31) as i32;
    Some((
        fixedpoint::one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    ))
}

/// Softmax parameters TFLite derives in `SoftmaxPrepare<kReference>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxParams {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    pub diff_min: i32,
}

/// `SoftmaxPrepare<kReference>` (`kernels/activations.cc`) for int8 input:
/// `PreprocessSoftmaxScaling(beta, S_in, 5)` (`quantization_util.cc`):
/// `real = min(β·S_in·2²⁶, 2³¹ − 1)` in double, `QuantizeMultiplierGreaterThanOne`
/// (TFLite aborts unless `real > 1` and the shift is >= 0); `diff_min =
/// −CalculateInputRadius(5, left_shift) = −⌊31·2²⁶ / 2^left_shift⌋`.
pub fn softmax_params(beta: f32, input_scale: f32) -> Result<SoftmaxParams, OpError> {
    const OP: &str = "SOFTMAX";
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let max_real = ((1i64 << 31) - 1) as f64;
    let real =
        (beta as f64 * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
            .min(max_real);
    if real.is_nan() || real <= 1.0 {
        return Err(err(
            OP,
            format!(
                "beta·input_scale·2^26 = {real} must be > 1 (QuantizeMultiplierGreaterThanOne)"
            ),
        ));
    }
    let (m0, shift) = requant::quantize_multiplier(real, false);
    if !(0..=31).contains(&shift) {
        return Err(err(OP, format!("input left shift {shift} is out of range")));
    }
    let radius = (((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) as f64
        * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64
        / (1i64 << shift) as f64)
        .floor() as i32;
    Ok(SoftmaxParams {
        input_multiplier: m0,
        input_left_shift: shift,
        diff_min: -radius,
    })
}

/// int8 → int8 SOFTMAX with TFLite's reference kernel: `SoftmaxPrepare` /
/// `SoftmaxEval<kReference>` (`kernels/activations.cc`), which for
/// `kReference` does not build the lookup table of the optimized kernel but
/// calls the quantized `reference_ops::Softmax` (`reference/softmax.h`).
///
/// Prepare requires the output zero point −128 and a scale within 0.1 % of
/// 1/256 ([`softmax_params`] for the rest). Per row of the last dimension:
/// `diff = x − max`; entries with `diff >= diff_min` get
/// `exp_on_negative_values` (gemmlowp, Q5.26 in) of
/// `SRDHM(diff·2^left_shift, input_multiplier)`, summed in Q12.19
/// (`Rescale<12>`); `GetReciprocal` gives a Q0.31 scale and
/// `num_bits_over_unit`; `y = RoundingDivideByPOT(SRDHM(scale, exp),
/// num_bits_over_unit + 23) − 128`, clamped; entries below `diff_min` give
/// −128.
pub fn softmax(input: &QTensor, beta: f32, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "SOFTMAX";
    check_tensor(OP, "input", input)?;
    let depth = *input
        .shape
        .last()
        .ok_or_else(|| err(OP, "input must have rank >= 1"))?;
    if out.zero_point != -128 {
        return Err(err(
            OP,
            format!("output zero point {} must be -128", out.zero_point),
        ));
    }
    // TF_LITE_ENSURE_NEAR(output scale, 1/256, 0.001/256), in float.
    let target = 1.0f32 / 256.0;
    let delta = if out.scale > target {
        out.scale - target
    } else {
        target - out.scale
    };
    if delta > 0.001f32 * target || delta.is_nan() {
        return Err(err(OP, format!("output scale {} must be 1/256", out.scale)));
    }
    let p = softmax_params(beta, input.quant.scale)?;
    const ACCUMULATION_INTEGER_BITS: i32 = 12;
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let mut data = Vec::with_capacity(input.data.len());
    if depth == 0 {
        return Ok(tensor(input.shape.clone(), data, out));
    }
    let exp_of = |diff: i32| {
        let rescaled = requant::srdhm(
            diff.wrapping_mul(1i32 << p.input_left_shift),
            p.input_multiplier,
            32,
        );
        fixedpoint::exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
    };
    for row in input.data.chunks(depth) {
        let max_in_row = row.iter().copied().fold(i8::MIN, i8::max) as i32;
        let mut sum_of_exps = 0i32;
        for &x in row {
            let diff = x as i32 - max_in_row;
            if diff >= p.diff_min {
                sum_of_exps = sum_of_exps.wrapping_add(fixedpoint::rescale(
                    exp_of(diff),
                    0,
                    ACCUMULATION_INTEGER_BITS,
                ));
            }
        }
        let (shifted_scale, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
                .ok_or_else(|| err(OP, "sum of exponentials is zero"))?;
        let exponent = num_bits_over_unit + 31 - 8;
        if !(0..=31).contains(&exponent) {
            return Err(err(
                OP,
                format!("output exponent {exponent} is out of [0, 31]"),
            ));
        }
        for &x in row {
            let diff = x as i32 - max_in_row;
            if diff >= p.diff_min {
                let unsat = requant::rounding_divide_by_pot(
                    fixedpoint::mul(shifted_scale, exp_of(diff)),
                    exponent as u32,
                );
                data.push(clamp_i8(unsat.wrapping_add(-128)));
            } else {
                data.push(i8::MIN);
            }
        }
    }
    Ok(tensor(input.shape.clone(), data, out))
}
