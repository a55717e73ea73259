//! int8 LOGISTIC and TANH: TFLite 2.21 evaluates them (under `BUILTIN_REF`
//! too) with a 256-entry lookup table that `Prepare` fills in float32
//! (`kernels/internal/reference/lut.h` `LUTPopulate`, called from
//! `kernels/activations.cc` SigmoidPrepare / TanhPrepare): for every int8
//! value `v`, `x = S_in·(v − zp_in)`, `f(x)` in float32 (`expf` / `tanhf`
//! of the C library), `round_half_away(f(x)·(1/S_out)) + zp_out`, clamped.
//! Proven on every int8 input value at one scale and on three more scales
//! against TFLite's own output (tests/fixtures/op_probes/logistic_tanh).

use super::{check_tensor, clamp_i8, err, tensor, OpError};
use crate::golden::tensor::{QTensor, Quant};

/// `LUTPopulate<int8_t>`: the table of `f`, indexed by `v as u8`.
fn populate(input: Quant, out: Quant, f: impl Fn(f32) -> f32) -> [i8; 256] {
    let inverse_scale = 1.0f32 / out.scale;
    let mut lut = [0i8; 256];
    for v in i8::MIN as i32..=i8::MAX as i32 {
        let dequantized = input.scale * (v - input.zero_point) as f32;
        let transformed = f(dequantized);
        // TfLiteRound: std::round, half away from zero (f32::round).
        let rescaled = (transformed * inverse_scale).round();
        let quantized = (rescaled + out.zero_point as f32) as i32;
        lut[v as u8 as usize] = clamp_i8(quantized);
    }
    lut
}

fn apply(
    op: &'static str,
    input: &QTensor,
    out: Quant,
    f: impl Fn(f32) -> f32,
) -> Result<QTensor, OpError> {
    check_tensor(op, "input", input)?;
    let (s_in, s_out) = (input.quant.scale, out.scale);
    if !(s_in > 0.0 && s_out > 0.0 && s_in.is_finite() && s_out.is_finite()) {
        return Err(err(op, "input and output scales must be positive"));
    }
    let lut = populate(input.quant, out, f);
    let data = input.data.iter().map(|&v| lut[v as u8 as usize]).collect();
    Ok(tensor(input.shape.clone(), data, out))
}

/// int8 LOGISTIC (sigmoid). SigmoidPrepare requires the output quantization
/// TFLite gives it: scale 1/256, zero point −128.
pub fn logistic(input: &QTensor, out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "LOGISTIC";
    if out.zero_point != i8::MIN as i32 || out.scale != 1.0 / 256.0 {
        return Err(err(
            OP,
            format!(
                "int8 output must have scale 1/256 and zero point -128 (TFLite's SigmoidPrepare), got scale {} zero point {}",
                out.scale, out.zero_point
            ),
        ));
    }
    apply(OP, input, out, |x| 1.0 / (1.0 + (-x).exp()))
}

/// int8 TANH.
pub fn tanh(input: &QTensor, out: Quant) -> Result<QTensor, OpError> {
    apply("TANH", input, out, f32::tanh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(scale: f32, zero_point: i32) -> Quant {
        Quant { scale, zero_point }
    }

    #[test]
    fn logistic_of_zero_is_one_half_and_saturates_at_the_ends() {
        let x = QTensor {
            shape: vec![3],
            data: vec![-128, 5, 127],
            quant: q(0.1, 5),
        };
        let y = logistic(&x, q(1.0 / 256.0, -128)).unwrap();
        // sigmoid(0) = 0.5 = 128/256: 128 − 128 = 0.
        assert_eq!(y.data[1], 0);
        // sigmoid(−13.3) ≈ 1.7e-6 → −128; sigmoid(12.2) ≈ 1 → 256 − 128 = 128, clamped to 127.
        assert_eq!((y.data[0], y.data[2]), (-128, 127));
    }

    #[test]
    fn tanh_is_odd_around_the_zero_point() {
        let x = QTensor {
            shape: vec![5],
            data: vec![-20, -10, 0, 10, 20],
            quant: q(0.05, 0),
        };
        let y = tanh(&x, q(1.0 / 128.0, 0)).unwrap();
        assert_eq!(y.data[2], 0);
        assert_eq!(y.data[0], -y.data[4]);
        assert_eq!(y.data[1], -y.data[3]);
        // tanh(0.5) = 0.4621 · 128 = 59.15 → 59.
        assert_eq!(y.data[3], 59);
    }

    #[test]
    fn logistic_rejects_an_output_quantization_tflite_rejects() {
        let x = QTensor {
            shape: vec![1],
            data: vec![0],
            quant: q(0.1, 0),
        };
        let e = logistic(&x, q(1.0 / 128.0, 0)).unwrap_err();
        assert!(e.to_string().contains("scale 1/256"), "{e}");
    }
}
