//! SOFTMAX and the gemmlowp fixed-point arithmetic it rests on.

use super::{check_tensor, clamp_i8, err, tensor, OpError};
use crate::arith::requant::{self};
use crate::golden::tensor::{QTensor, Quant};

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
