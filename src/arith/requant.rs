//! Requantization: the scale-down of a 32-bit accumulator to an 8-bit output,
//! bit-exact with TFLite / gemmlowp (docs/contract.md §2–4, docs/arithmetic.md).
//!
//! Conventions: `m0` is the fixed-point multiplier in Q(W−1) (Q31 for the
//! default W = 32), `shift` is TFLite's exponent `e` (positive = left shift,
//! negative = right shift; the seed tool's `n` is `−e`). The real multiplier
//! is `M = m0 · 2^(e − (W−1))`.

use crate::arith::DType;

/// The two rounding schemes an integer datapath implements (the RTL's
/// CTRL.single bit). Not to be confused with a layer case's
/// [`Rounding`](crate::formats::qcase::Rounding), which says how the case's
/// *reference output* was made (also float64, fbgemm, oneDNN); a case's
/// datapath rounding is `golden::layer::integer_rounding` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatapathRounding {
    /// TFLite default: SaturatingRoundingDoublingHighMul (ties → +∞) then
    /// RoundingDivideByPOT (ties away from zero).
    Double,
    /// TFLITE_SINGLE_ROUNDING: one rounding right shift by `n = (W−1) − e`
    /// of the exact product (ties → +∞).
    Single,
}

impl DatapathRounding {
    pub fn name(self) -> &'static str {
        match self {
            DatapathRounding::Double => "double",
            DatapathRounding::Single => "single",
        }
    }
}

/// Legal range of the exponent `e` for both integer modes.
pub const SHIFT_MIN: i32 = -31;
pub const SHIFT_MAX: i32 = 30;

/// Requantization parameters of one output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Requant {
    pub m0: i32,
    pub shift: i32,
    pub zp_out: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub rounding: DatapathRounding,
    /// Multiplier width W (32 = TFLite's Q31; 16/18 are DSP-friendly points).
    pub mult_w: u32,
}

impl Requant {
    /// `y = clamp(scale(acc) + zp_out, act_min, act_max)`.
    pub fn apply(&self, acc: i32) -> i32 {
        let r = scale(acc, self.m0, self.shift, self.rounding, self.mult_w);
        clamp_output(r, self.zp_out, self.act_min, self.act_max)
    }
}

/// `clamp(r + zp_out, act_min, act_max)` with `r + zp_out` computed without wrap.
pub fn clamp_output(r: i64, zp_out: i32, act_min: i32, act_max: i32) -> i32 {
    (r + zp_out as i64).clamp(act_min as i64, act_max as i64) as i32
}

/// The scaled accumulator `r ≈ acc · M` before the output zero point.
/// Double rounding always fits in i32; single rounding may not (large left
/// shifts), which is why the result is i64: the clamp sees the exact value.
pub fn scale(acc: i32, m0: i32, shift: i32, rounding: DatapathRounding, mult_w: u32) -> i64 {
    match rounding {
        DatapathRounding::Double => multiply_double(acc, m0, shift, mult_w) as i64,
        DatapathRounding::Single => multiply_single(acc, m0, shift, mult_w),
    }
}

/// gemmlowp SaturatingRoundingDoublingHighMul generalised to a W-bit `b`:
/// `floor((a·b + 2^(W−2)) / 2^(W−1))`, ties towards +∞, saturating the one
/// overflowing input pair `a = INT32_MIN, b = −2^(W−1)` to INT32_MAX.
pub fn srdhm(a: i32, b: i32, mult_w: u32) -> i32 {
    debug_assert!((2..=32).contains(&mult_w));
    let w = mult_w;
    if a == i32::MIN && b as i64 == -(1i64 << (w - 1)) {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    ((ab + (1i64 << (w - 2))) >> (w - 1)) as i32
}

/// gemmlowp RoundingDivideByPOT: `x / 2^exponent` rounded half away from zero.
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31);
    let x = x as i64;
    let mask = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    ((x >> exponent) + i64::from(remainder > threshold)) as i32
}

/// TFLite MultiplyByQuantizedMultiplier, double rounding:
/// `RDivByPOT(SRDHM(wrap32(acc << max(e,0)), m0), max(−e,0))`.
pub fn multiply_double(acc: i32, m0: i32, shift: i32, mult_w: u32) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let a = acc.wrapping_shl(left.min(31));
    let a = if left > 31 { 0 } else { a };
    rounding_divide_by_pot(srdhm(a, m0, mult_w), right)
}

/// TFLITE_SINGLE_ROUNDING MultiplyByQuantizedMultiplier generalised to W
/// bits: `n = (W−1) − e`; `(acc·m0 + 2^(n−1)) >> n` (arithmetic) when n ≥ 1,
/// the exact product `acc·m0·2^(−n)` when n ≤ 0 (narrow W with large e).
pub fn multiply_single(acc: i32, m0: i32, shift: i32, mult_w: u32) -> i64 {
    let n = (mult_w as i32 - 1) - shift;
    let p = acc as i128 * m0 as i128;
    let r = if n >= 1 {
        (p + (1i128 << (n - 1))) >> n
    } else {
        p << (-n)
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// The `float64` reference of docs/qcase.md (TFLite 2.21's reference FC kernel):
/// `clamp(round_half_away(double(acc) · M) + zp_out, act_min, act_max)`
/// with `M = double(S_x)·double(S_w) / double(S_y)`.
pub fn requant_float64(
    acc: i32,
    real_multiplier: f64,
    zp_out: i32,
    act_min: i32,
    act_max: i32,
) -> i32 {
    let r = (acc as f64 * real_multiplier).round();
    // `as` saturates out-of-range floats; the clamp below then bounds it.
    clamp_output(r as i64, zp_out, act_min, act_max)
}

/// The real multiplier of the float references: `S_x · S_w / S_y` in f64.
pub fn real_multiplier(input_scale: f64, filter_scale: f64, output_scale: f64) -> f64 {
    input_scale * filter_scale / output_scale
}

/// The real multiplier TFLite quantizes for a layer: `S_x·S_w/S_y` in f64,
/// except that the per-tensor FULLY_CONNECTED kernel (GetQuantizedConvolutionMultipler)
/// forms the product `S_x·S_w` in float32 first (`float32_product`). A case
/// file marks per-tensor FC weights by one filter scale, or one repeated per channel.
pub fn tflite_real_multiplier(
    input_scale: f64,
    filter_scale: f64,
    output_scale: f64,
    float32_product: bool,
) -> f64 {
    if float32_product {
        (input_scale as f32 * filter_scale as f32) as f64 / output_scale
    } else {
        input_scale * filter_scale / output_scale
    }
}

/// C's `frexp` for finite `x`: `x = q · 2^e` with `|q|` in [0.5, 1); (0, 0) for 0.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    if exp_field == 0 {
        // Subnormal: scale into the normal range first (exact).
        let (q, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000)); // 2^64
        return (q, e - 64);
    }
    let e = exp_field - 1022;
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, e)
}

/// TFLite QuantizeMultiplier: `(m0, e)` with `M ≈ m0 · 2^(e−31)`.
/// frexp, round half away from zero, the 2^31 carry (m0 = 2^30, e + 1),
/// flush to (0, 0) below 2^−31·…, and with single rounding the clamp of
/// e > 30 to (2^31 − 1, 30).
pub fn quantize_multiplier(real: f64, single_rounding: bool) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut e) = frexp(real);
    let mut q_fixed = (q * (1u64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        e += 1;
    }
    if e < -31 {
        e = 0;
        q_fixed = 0;
    }
    if single_rounding && e > 30 {
        e = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    (q_fixed as i32, e)
}

/// Whether QuantizeMultiplier of `real` takes the 2^31 carry (q·2^31 rounds to 2^31).
pub fn takes_carry(real: f64) -> bool {
    real != 0.0 && (frexp(real).0 * (1u64 << 31) as f64).round().abs() == (1u64 << 31) as f64
}

/// Narrow a Q31 multiplier to W bits (docs/contract.md §4):
/// `m0_W = round_half_away(m0 / 2^(32−W))`, carry as in QuantizeMultiplier.
/// The exponent `e` keeps its meaning (`M = m0_W · 2^(e − (W−1))`).
pub fn narrow_multiplier(m0: i32, shift: i32, mult_w: u32) -> (i32, i32) {
    assert!(
        (2..=32).contains(&mult_w),
        "multiplier width must be 2..=32"
    );
    if mult_w == 32 {
        return (m0, shift);
    }
    let drop = 32 - mult_w;
    let m = m0 as i64;
    let half = 1i64 << (drop - 1);
    let mut mw = if m >= 0 {
        (m + half) >> drop
    } else {
        -((-m + half) >> drop)
    };
    let mut e = shift;
    if mw == 1i64 << (mult_w - 1) {
        mw = 1i64 << (mult_w - 2);
        e += 1;
    }
    if e > SHIFT_MAX {
        e = SHIFT_MAX;
        mw = (1i64 << (mult_w - 1)) - 1;
    }
    (mw as i32, e)
}

/// How PyTorch's fbgemm kernel folds the float bias into the accumulator
/// (docs/contract.md §5), decided by the weight granularity and the kernel path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FbgemmBias {
    /// No bias: `xf = f32(acc)`.
    None,
    /// Per-channel weights: `xf = f32(f32(acc) + f32(bias_f / atw))`; holds `f32(bias_f / atw)`.
    Divided(f32),
    /// Per-tensor weights, GEMM path (FC, im2col and 1x1 conv): `xf = fma_f32(bias_f, rcp, f32(acc))`.
    Fma { bias: f32, rcp: f32 },
    /// Per-tensor weights, depthwise fast path: `xf = f32(f32(acc) + f32(bias_f · rcp))`; holds `f32(bias_f · rcp)`.
    Product(f32),
}

/// The float32 requantization of one output channel as PyTorch's fbgemm
/// kernel performs it (docs/contract.md §5, fbgemm `requantizeOutputProcessingAvx2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fbgemm {
    /// `M = f32(f32(S_x·S_w) / S_y)`.
    pub multiplier: f32,
    pub bias: FbgemmBias,
    pub zp_out: i32,
    /// The output type's range (fbgemm saturates to it) and the fused activation bounds.
    pub qmin: i32,
    pub qmax: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Which fbgemm kernel produced an output (it decides the bias form and,
/// for the depthwise fast path, the int16 pair saturation of the accumulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FbgemmPath {
    /// GEMM (fully-connected, im2col conv, 1x1 conv): exact int32 accumulator.
    Gemm,
    /// The depthwise 3x3/5x5/7x7 fast path (`takeDepthWiseFastPath`).
    DepthwiseFast,
}

impl Fbgemm {
    /// Parameters of one channel from the scales (all rounded to float32 as
    /// PyTorch hands them to fbgemm) and the float bias.
    pub fn new(
        input_scale: f64,
        filter_scale: f64,
        output_scale: f64,
        bias_float: Option<f64>,
        per_channel: bool,
        path: FbgemmPath,
    ) -> Self {
        let atw = input_scale as f32 * filter_scale as f32;
        let multiplier = atw / output_scale as f32;
        let bias = match bias_float.map(|b| b as f32) {
            None => FbgemmBias::None,
            Some(b) if per_channel => FbgemmBias::Divided(b / atw),
            Some(b) => {
                let rcp = (1.0 / atw as f64) as f32;
                match path {
                    FbgemmPath::Gemm => FbgemmBias::Fma { bias: b, rcp },
                    FbgemmPath::DepthwiseFast => FbgemmBias::Product(b * rcp),
                }
            }
        };
        Fbgemm {
            multiplier,
            bias,
            zp_out: 0,
            qmin: 0,
            qmax: 255,
            act_min: 0,
            act_max: 255,
        }
    }

    /// The float accumulator `xf` (bias folded in) of an accumulator without bias.
    pub fn xf(&self, acc: i32) -> f32 {
        let accf = acc as f32;
        match self.bias {
            FbgemmBias::None => accf,
            FbgemmBias::Divided(b) | FbgemmBias::Product(b) => accf + b,
            FbgemmBias::Fma { bias, rcp } => bias.mul_add(rcp, accf),
        }
    }

    /// `r = round_half_even(f32(xf · M))` (`_mm256_cvtps_epi32`: out of range or NaN → INT32_MIN).
    pub fn scaled(&self, acc: i32) -> i32 {
        cvt_f32_i32(self.xf(acc) * self.multiplier)
    }

    /// The output: `clamp(sat16(sat16(r) + zp_out), qmin, qmax)`, then the fused activation.
    pub fn apply(&self, acc: i32) -> i32 {
        let sat16 = |v: i32| v.clamp(i16::MIN as i32, i16::MAX as i32);
        let y = sat16(sat16(self.scaled(acc)) + self.zp_out).clamp(self.qmin, self.qmax);
        y.clamp(self.act_min, self.act_max)
    }
}

/// The float32 requantization of one output channel as oneDNN's conv runs it
/// under PyTorch's x86 engine on AVX512-VNNI CPUs (docs/contract.md §5): the
/// scales pass through float reciprocals, the bias is added after scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Onednn {
    /// `f32(1.0f / f32(1.0 / double(S_x)))`.
    pub sx: f32,
    /// `f32(S_w[c])`.
    pub sw: f32,
    /// `f32(1.0f / f32(1.0f / f32(1.0 / double(S_y))))`.
    pub dinv: f32,
    pub bias: f32,
    pub zp_out: i32,
    /// Fused ReLU: `v = max(v, 0)` before the output scale.
    pub relu: bool,
    pub qmin: i32,
    pub qmax: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl Onednn {
    pub fn new(
        input_scale: f64,
        filter_scale: f64,
        output_scale: f64,
        bias_float: Option<f64>,
    ) -> Self {
        let sx = 1.0f32 / (1.0 / input_scale) as f32;
        let dinv = 1.0f32 / (1.0f32 / (1.0 / output_scale) as f32);
        Onednn {
            sx,
            sw: filter_scale as f32,
            dinv,
            bias: bias_float.map_or(0.0, |b| b as f32),
            zp_out: 0,
            relu: false,
            qmin: 0,
            qmax: 255,
            act_min: 0,
            act_max: 255,
        }
    }

    /// The float value before the final rounding: `f32(f32(v · dinv) + f32(zp))`.
    pub fn value(&self, acc: i32) -> f32 {
        let mut v = (acc as f32 * self.sx) * self.sw;
        v += self.bias;
        if self.relu {
            v = v.max(0.0);
        }
        v * self.dinv + self.zp_out as f32
    }

    /// `round_half_even(min(max(v, qmin), qmax))`, then the activation bounds.
    pub fn apply(&self, acc: i32) -> i32 {
        let v = self.value(acc).clamp(self.qmin as f32, self.qmax as f32);
        (v.round_ties_even() as i32).clamp(self.act_min, self.act_max)
    }
}

/// x86 `cvtps2dq` under the default rounding mode: round half to even, and
/// the "integer indefinite" INT32_MIN for NaN and values outside int32.
pub fn cvt_f32_i32(v: f32) -> i32 {
    if v.is_nan() || v.abs() >= 2_147_483_648.0 {
        return i32::MIN;
    }
    v.round_ties_even() as i32
}

/// Fused activation of a quantized layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

/// TFLite CalculateActivationRangeQuantized: the clamp bounds of a fused
/// activation, computed with TFLite's float arithmetic (`zp + round(6/S_y)`).
pub fn activation_bounds(
    act: Activation,
    zp_out: i32,
    output_scale: f32,
    dtype: DType,
) -> (i32, i32) {
    let (qmin, qmax) = dtype.range();
    let quantize = |f: f32| zp_out + (f / output_scale).round() as i32;
    match act {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(zp_out), qmax),
        Activation::Relu6 => (qmin.max(zp_out), qmax.min(quantize(6.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }

    #[test]
    fn srdhm_ties_go_up() {
        // a·b = ±2^30 is exactly half an LSB of the Q31 product.
        assert_eq!(srdhm(1 << 15, 1 << 15, 32), 1);
        assert_eq!(srdhm(-(1 << 15), 1 << 15, 32), 0);
        assert_eq!(srdhm(i32::MIN, i32::MIN, 32), i32::MAX);
    }

    #[test]
    fn rdbp_ties_away() {
        assert_eq!(rounding_divide_by_pot(3, 1), 2);
        assert_eq!(rounding_divide_by_pot(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot(5, 2), 1);
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }
}
