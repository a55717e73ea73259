//! Elementwise kernels: ADD, MUL, MAXIMUM, MINIMUM (with broadcasting), RELU,
//! RELU6, LEAKY_RELU and QUANTIZE (int8 -> int8).

use super::{
    act_bounds, check_tensor, checked_product, clamp_i8, err, quantize_multiplier_smaller_than_one,
    strides, tensor, OpError,
};
use crate::arith::requant::{self, Activation};
use crate::golden::tensor::{QTensor, Quant};

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

/// The integer parameters of TFLite's 8-bit ADD / SUB (`kernels/add.cc`
/// `Prepare`, general 8-bit path): written once, used by the int8 kernel
/// ([`add`]) and by PyTorch `add` cases, whose integer path an
/// accelerator runs the same way (int8 or uint8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    pub zp1: i32,
    pub zp2: i32,
    pub zp_out: i32,
    pub m1: i32,
    pub e1: i32,
    pub m2: i32,
    pub e2: i32,
    pub m_out: i32,
    pub e_out: i32,
}

impl AddParams {
    /// `left_shift = 20`, `twice_max = 2·max(S₁, S₂)`, input multipliers
    /// `Sᵢ/twice_max` and output multiplier `twice_max/(2²⁰·S_out)`, each through
    /// `QuantizeMultiplierSmallerThanOneExp`; `sign` −1 negates input 2's
    /// multiplier (SUB).
    pub fn new(
        op: &'static str,
        a: Quant,
        b: Quant,
        out: Quant,
        sign: i32,
    ) -> Result<AddParams, OpError> {
        // `2 * std::max(float, float)` is a float product (exact), widened to double.
        let twice_max = (2.0f32 * a.scale.max(b.scale)) as f64;
        let real1 = a.scale as f64 / twice_max;
        let real2 = b.scale as f64 / twice_max;
        // `(1 << left_shift) * output->params.scale` is a float product (exact).
        let real_out = twice_max / ((1u32 << Self::LEFT_SHIFT) as f32 * out.scale) as f64;
        let (m1, e1) = quantize_multiplier_smaller_than_one(op, "input1", real1)?;
        let (m2, e2) = quantize_multiplier_smaller_than_one(op, "input2", real2)?;
        let (m_out, e_out) = quantize_multiplier_smaller_than_one(op, "output", real_out)?;
        Ok(AddParams {
            zp1: a.zero_point,
            zp2: b.zero_point,
            zp_out: out.zero_point,
            m1,
            e1,
            m2: m2 * sign,
            e2,
            m_out,
            e_out,
        })
    }

    pub const LEFT_SHIFT: u32 = 20;

    /// One element: `vᵢ = (xᵢ − zpᵢ)·2²⁰`, `sᵢ = MBQM(vᵢ, mᵢ, eᵢ)`,
    /// `y = clamp(MBQM(s₁ + s₂, m_out, e_out) + zp_out, act_min, act_max)`.
    pub fn apply(&self, x: i32, y: i32, act_min: i32, act_max: i32) -> i32 {
        let v1 = (x - self.zp1).wrapping_mul(1 << Self::LEFT_SHIFT);
        let v2 = (y - self.zp2).wrapping_mul(1 << Self::LEFT_SHIFT);
        let s1 = requant::multiply_double(v1, self.m1, self.e1, 32);
        let s2 = requant::multiply_double(v2, self.m2, self.e2, 32);
        let raw = requant::multiply_double(s1.wrapping_add(s2), self.m_out, self.e_out, 32)
            .wrapping_add(self.zp_out);
        raw.clamp(act_min, act_max)
    }
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
    add_sub("ADD", a, b, out, act, 1)
}

/// int8 SUB: `kernels/sub.cc` `PrepareGeneralSubOp` computes ADD's
/// parameters and negates input 2's multiplier (`op_sign = −1`); the int8
/// reference path then runs ADD's kernel, so `s₂ = MBQM(v₂, −m₂, e₂)` (not
/// `−MBQM(v₂, m₂, e₂)`: the rounding nudge follows the product's sign).
pub fn sub(a: &QTensor, b: &QTensor, out: Quant, act: Activation) -> Result<QTensor, OpError> {
    add_sub("SUB", a, b, out, act, -1)
}

fn add_sub(
    op: &'static str,
    a: &QTensor,
    b: &QTensor,
    out: Quant,
    act: Activation,
    sign: i32,
) -> Result<QTensor, OpError> {
    check_tensor(op, "input1", a)?;
    check_tensor(op, "input2", b)?;
    let same = a.shape == b.shape;
    let out_shape = if same {
        a.shape.clone()
    } else {
        broadcast_shape(op, &a.shape, &b.shape)?
    };
    if !same && out_shape.len() > 6 {
        return Err(err(
            op,
            format!(
                "broadcasting supports rank <= 6 (BroadcastAdd6DSlow), got {}",
                out_shape.len()
            ),
        ));
    }
    for (what, q) in [("input1", a.quant), ("input2", b.quant), ("output", out)] {
        if !(q.scale > 0.0 && q.scale.is_finite()) {
            return Err(err(
                op,
                format!("{what} scale {} must be positive", q.scale),
            ));
        }
    }

    let p = AddParams::new(op, a.quant, b.quant, out, sign)?;
    let (act_min, act_max) = act_bounds(act, out);
    let add_func = |x: i8, y: i8| -> i8 { p.apply(x as i32, y as i32, act_min, act_max) as i8 };

    let data = broadcast_map(op, a, b, &out_shape, add_func)?;
    Ok(tensor(out_shape, data, out))
}

/// `f` of every pair of elements of `a` and `b` broadcast to `out_shape`
/// (row-major), the walk of TFLite's `*BroadcastSlow` kernels; the plain
/// zip when the shapes are equal.
fn broadcast_map(
    op: &'static str,
    a: &QTensor,
    b: &QTensor,
    out_shape: &[usize],
    f: impl Fn(i8, i8) -> i8,
) -> Result<Vec<i8>, OpError> {
    if a.shape == b.shape {
        return Ok(a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect());
    }
    let n = checked_product(out_shape).ok_or_else(|| err(op, "output shape overflows"))?;
    let sa = broadcast_strides(&a.shape, out_shape);
    let sb = broadcast_strides(&b.shape, out_shape);
    let mut idx = vec![0usize; out_shape.len()];
    let mut data = Vec::with_capacity(n);
    for _ in 0..n {
        let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        data.push(f(a.data[ia], b.data[ib]));
        // Next row-major index.
        for d in (0..out_shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(data)
}

/// int8 MUL: `kernels/mul.cc` Prepare (`QuantizeMultiplier(double(S₁)·
/// double(S₂)/double(S_out))`, activation bounds of the fused activation)
/// and `reference_integer_ops::Mul` / `BroadcastMul6DSlow` (`MulElementwise`):
/// `y = clamp(zp_out + MBQM((x₁ − zp₁)·(x₂ − zp₂), m0, e), act_min, act_max)`
/// — a one-tap dot product requantized by the datapath's own formula.
pub fn mul(a: &QTensor, b: &QTensor, out: Quant, act: Activation) -> Result<QTensor, OpError> {
    const OP: &str = "MUL";
    check_tensor(OP, "input1", a)?;
    check_tensor(OP, "input2", b)?;
    let out_shape = if a.shape == b.shape {
        a.shape.clone()
    } else {
        broadcast_shape(OP, &a.shape, &b.shape)?
    };
    if out_shape.len() > 6 {
        return Err(err(
            OP,
            format!("broadcasting supports rank <= 6, got {}", out_shape.len()),
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
    let (m0, e) = mul_multiplier(a.quant.scale, b.quant.scale, out.scale);
    let (act_min, act_max) = act_bounds(act, out);
    let (zp1, zp2) = (a.quant.zero_point, b.quant.zero_point);
    let data = broadcast_map(OP, a, b, &out_shape, |x, y| {
        let p = (x as i32 - zp1) * (y as i32 - zp2);
        out.zero_point
            .wrapping_add(requant::multiply_double(p, m0, e, 32))
            .clamp(act_min, act_max) as i8
    })?;
    Ok(tensor(out_shape, data, out))
}

/// int8 PRELU: `kernels/activations.cc` PreluPrepare (QuantizeMultiplier of
/// S_in/S_out and of S_in·S_α/S_out, the quotients formed in float32) and
/// `reference_ops::Prelu` / `BroadcastPrelu4DSlow` (`reference/prelu.h`):
/// v = x − zp_in; `zp_out + MBQM(v, m₁, e₁)` when v ≥ 0, else
/// `zp_out + MBQM(v·(α − zp_α), m₂, e₂)`; clamp to int8. α broadcasts
/// (rank ≤ 4), e.g. a per-channel `[1, 1, C]` shared over H and W.
pub fn prelu(input: &QTensor, alpha: &QTensor, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "PRELU";
    check_tensor(OP, "input", input)?;
    check_tensor(OP, "alpha", alpha)?;
    let out_shape = if input.shape == alpha.shape {
        input.shape.clone()
    } else {
        broadcast_shape(OP, &input.shape, &alpha.shape)?
    };
    if out_shape.len() > 4 {
        return Err(err(
            OP,
            format!("broadcasting supports rank <= 4, got {}", out_shape.len()),
        ));
    }
    for (what, q) in [
        ("input", input.quant),
        ("alpha", alpha.quant),
        ("output", out),
    ] {
        if !(q.scale > 0.0 && q.scale.is_finite()) {
            return Err(err(
                OP,
                format!("{what} scale {} must be positive", q.scale),
            ));
        }
    }
    let (m1, e1) = requant::quantize_multiplier((input.quant.scale / out.scale) as f64, false);
    let (m2, e2) = requant::quantize_multiplier(
        (input.quant.scale * alpha.quant.scale / out.scale) as f64,
        false,
    );
    let (zp_in, zp_a) = (input.quant.zero_point, alpha.quant.zero_point);
    let data = broadcast_map(OP, input, alpha, &out_shape, |x, a| {
        let v = x as i32 - zp_in;
        let y = if v >= 0 {
            requant::multiply_double(v, m1, e1, 32)
        } else {
            requant::multiply_double(v * (a as i32 - zp_a), m2, e2, 32)
        };
        clamp_i8(y.wrapping_add(out.zero_point))
    })?;
    Ok(tensor(out_shape, data, out))
}

/// MUL's multiplier (`mul.cc` Prepare): `QuantizeMultiplier(double(S₁)·
/// double(S₂)/double(S_out))`, Q31 and TFLite's exponent.
pub fn mul_multiplier(s1: f32, s2: f32, s_out: f32) -> (i32, i32) {
    requant::quantize_multiplier(s1 as f64 * s2 as f64 / s_out as f64, false)
}

/// `t` broadcast to `shape` (row-major), as the `*BroadcastSlow` kernels
/// read it.
pub fn broadcast_to(op: &'static str, t: &QTensor, shape: &[usize]) -> Result<Vec<i8>, OpError> {
    if t.shape == shape {
        return Ok(t.data.clone());
    }
    if broadcast_shape(op, &t.shape, shape)? != shape {
        return Err(err(
            op,
            format!("{:?} does not broadcast to {shape:?}", t.shape),
        ));
    }
    let ones = QTensor {
        shape: shape.to_vec(),
        data: vec![0; checked_product(shape).ok_or_else(|| err(op, "shape overflows"))?],
        quant: t.quant,
    };
    broadcast_map(op, &ones, t, shape, |_, y| y)
}

/// int8 MAXIMUM / MINIMUM: `kernels/maximum_minimum.cc` with the reference
/// kernel (`MaximumMinimumBroadcastSlow`): the larger / smaller raw int8 of
/// each broadcast pair. No requantization: TFLite's quantization spec gives
/// both inputs and the output one scale and zero point, and the kernel
/// compares the stored values.
pub fn maximum_minimum(
    a: &QTensor,
    b: &QTensor,
    out: Quant,
    maximum: bool,
) -> Result<QTensor, OpError> {
    let op = if maximum { "MAXIMUM" } else { "MINIMUM" };
    check_tensor(op, "input1", a)?;
    check_tensor(op, "input2", b)?;
    let out_shape = if a.shape == b.shape {
        a.shape.clone()
    } else {
        broadcast_shape(op, &a.shape, &b.shape)?
    };
    let data = broadcast_map(op, a, b, &out_shape, |x, y| {
        if maximum {
            x.max(y)
        } else {
            x.min(y)
        }
    })?;
    Ok(tensor(out_shape, data, out))
}

/// The multiplier of `S_in/S_out` as TFLite's activation kernels form it:
/// the quotient of the two float scales in float, widened to double, then
/// `QuantizeMultiplier` (`double real_multiplier = input->params.scale /
/// output->params.scale;`).
fn scale_ratio(op: &'static str, num: f32, den: f32) -> Result<(i32, i32), OpError> {
    if !(num > 0.0 && den > 0.0 && num.is_finite() && den.is_finite()) {
        return Err(err(op, "input and output scales must be positive"));
    }
    Ok(requant::quantize_multiplier((num / den) as f64, false))
}

/// int8 RELU (`hi` = None) / RELU6 (`hi` = 6): `kernels/activations.cc`
/// `ReluPrepare` (`QuantizeMultiplier(S_in/S_out)`) and `QuantizedReluX` →
/// `ReluX`: `y = clamp(zp_out + MBQM(x − zp_in, m0, e), lo, hi)` with
/// `lo = max(−128, zp_out + roundf(0/S_out))` and
/// `hi = min(127, zp_out + roundf(6/S_out))` (127 for RELU).
pub fn relu(input: &QTensor, out: Quant, hi: Option<f32>) -> Result<QTensor, OpError> {
    let op = if hi.is_some() { "RELU6" } else { "RELU" };
    check_tensor(op, "input", input)?;
    let (m0, e) = scale_ratio(op, input.quant.scale, out.scale)?;
    // roundf: half away from zero, in float.
    let q = |v: f32| out.zero_point + (v / out.scale).round() as i32;
    let lo = (-128).max(q(0.0));
    let hi = hi.map_or(127, |h| 127.min(q(h)));
    let zp_in = input.quant.zero_point;
    let data = input
        .data
        .iter()
        .map(|&x| {
            let y = out.zero_point.wrapping_add(requant::multiply_double(
                (x as i32).wrapping_sub(zp_in),
                m0,
                e,
                32,
            ));
            y.clamp(lo, hi.max(lo)) as i8
        })
        .collect();
    Ok(tensor(input.shape.clone(), data, out))
}

/// int8 LEAKY_RELU: `kernels/activations.cc` `LeakyReluPrepare` (the
/// identity multiplier `S_in/S_out` and the alpha multiplier
/// `S_in·alpha/S_out`, each computed in float and quantized by
/// `QuantizeMultiplier`) and `reference_ops::QuantizeLeakyRelu`:
/// `v = x − zp_in`; `y = clamp(zp_out + MBQM(v, identity or alpha for v < 0), −128, 127)`.
pub fn leaky_relu(input: &QTensor, out: Quant, alpha: f32) -> Result<QTensor, OpError> {
    const OP: &str = "LEAKY_RELU";
    check_tensor(OP, "input", input)?;
    let (mi, ei) = scale_ratio(OP, input.quant.scale, out.scale)?;
    let alpha_real = input.quant.scale * alpha / out.scale;
    if !alpha_real.is_finite() {
        return Err(err(
            OP,
            format!("alpha {alpha} gives a non-finite multiplier"),
        ));
    }
    let (ma, ea) = requant::quantize_multiplier(alpha_real as f64, false);
    let zp_in = input.quant.zero_point;
    let data = input
        .data
        .iter()
        .map(|&x| {
            let v = x as i32 - zp_in;
            let (m, e) = if v >= 0 { (mi, ei) } else { (ma, ea) };
            clamp_i8(
                out.zero_point
                    .wrapping_add(requant::multiply_double(v, m, e, 32)),
            )
        })
        .collect();
    Ok(tensor(input.shape.clone(), data, out))
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

/// int8 → float32 DEQUANTIZE of one value: `reference_ops::Dequantize`
/// (`reference/dequantize.h`) computes `static_cast<float>(scale · (q − zp))`
/// with `scale` widened to double (`DequantizationParams::scale`).
pub fn dequantize_value(q: i8, quant: Quant) -> f32 {
    (quant.scale as f64 * (q as i32 - quant.zero_point) as f64) as f32
}

/// DEQUANTIZE of a tensor ([`dequantize_value`] of every element).
pub fn dequantize(input: &QTensor) -> Vec<f32> {
    input
        .data
        .iter()
        .map(|&q| dequantize_value(q, input.quant))
        .collect()
}

/// Whether DEQUANTIZE at `quant` gives 256 distinct float32 values, so a
/// float32 output determines its int8 values (and comparing the floats bit for
/// bit compares the int8 values).
pub fn dequantize_is_injective(quant: Quant) -> bool {
    let mut bits: Vec<u32> = (-128..=127)
        .map(|q| dequantize_value(q as i8, quant).to_bits())
        .collect();
    bits.sort_unstable();
    bits.windows(2).all(|w| w[0] != w[1])
}

/// gemmlowp's int16 `SaturatingRoundingDoublingHighMul`.
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// `reference_ops::SaturatingDoublingHighMul` (hard_swish.h): no rounding
/// nudge (truncating division), saturating only `MIN·MIN`.
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// gemmlowp's saturating `ShiftLeft` of an int16.
fn shift_left16(a: i16, offset: i32) -> i16 {
    (a as i64 * (1i64 << offset)).clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// gemmlowp's `RoundingDivideByPOT` of an int16 (ties away from zero).
fn rdbp16(x: i16, exponent: i32) -> i16 {
    let mask: i32 = (1 << exponent) - 1;
    let x = x as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    ((x >> exponent) + i32::from(remainder > threshold)) as i16
}

/// `DownScaleInt32ToInt16Multiplier` (kernels/internal/common.h).
fn down_scale_multiplier(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        return i16::MAX;
    }
    ((m + ROUNDING) >> 16) as i16
}

/// int8 HARD_SWISH: `kernels/activations.cc` HardSwishPrepare and
/// `reference_ops::HardSwish` (`reference/hard_swish.h`), in int16 fixed
/// point: the input on a "hires" scale `S_in/128`; the output multiplier
/// `(S_in/128)/S_out` and the "reluish" multiplier `(S_in/128)/(3/32768)`
/// (float32 quotients, `QuantizeMultiplier`, then rounded to int16
/// multipliers); `x·relu6(x+3)/6` as the product of the rescaled input and
/// a [0, 1] "reluish" factor, a saturating left shift for large
/// multipliers, `RoundingDivideByPOT` for small ones, clamp to int8.
pub fn hard_swish(input: &QTensor, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "HARD_SWISH";
    check_tensor(OP, "input", input)?;
    let s_in = input.quant.scale;
    if !(s_in > 0.0 && out.scale > 0.0 && s_in.is_finite() && out.scale.is_finite()) {
        return Err(err(OP, "input and output scales must be positive"));
    }
    let hires = (1.0f32 / 128.0) * s_in;
    let reluish_scale = 3.0f32 / 32768.0;
    let (om32, out_exp) = requant::quantize_multiplier((hires / out.scale) as f64, false);
    if out_exp > 0 {
        return Err(err(
            OP,
            format!("output multiplier exponent {out_exp} > 0 (TFLite requires <= 0)"),
        ));
    }
    let om16 = down_scale_multiplier(om32);
    let (rm32, rexp) = requant::quantize_multiplier((hires / reluish_scale) as f64, false);
    let rm16 = down_scale_multiplier(rm32);
    let zp_in = input.quant.zero_point;
    let data = input
        .data
        .iter()
        .map(|&x| {
            let v = (x as i32 - zp_in) as i16;
            let hires_v = v.wrapping_mul(1 << 7);
            let preshift_out = srdhm16(hires_v, om16);
            let mut reluish = hires_v;
            if rexp > 0 {
                reluish = shift_left16(reluish, rexp - 1);
            }
            reluish = srdhm16(reluish, rm16);
            if rexp > 0 {
                reluish = shift_left16(reluish, 1);
            }
            if rexp < 0 {
                reluish = rdbp16(reluish, -rexp);
            }
            let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
            let pre = sdhm16(reluish, preshift_out);
            let y = rdbp16(pre, -out_exp) as i32 + out.zero_point;
            clamp_i8(y)
        })
        .collect();
    Ok(tensor(input.shape.clone(), data, out))
}
