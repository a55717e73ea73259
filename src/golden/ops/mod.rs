//! TFLite reference integer kernels for the non-MAC ops of a whole model,
//! one file per family: `elementwise` (ADD, QUANTIZE), `pool` (AVERAGE_POOL_2D,
//! MAX_POOL_2D), `lut` (LOGISTIC, TANH: float-populated tables), `reduce` (MEAN), `resize` (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR), `shape` (PAD, PADV2, RESHAPE, TRANSPOSE, SPACE_TO_DEPTH, DEPTH_TO_SPACE, STRIDED_SLICE,
//! CONCATENATION), `softmax` (SOFTMAX and gemmlowp's fixed-point math); this
//! module holds what they share (errors, tensor checks, padding, multipliers).
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

mod elementwise;
mod lut;
mod pool;
mod reduce;
mod resize;
mod shape;
mod softmax;

pub use elementwise::{
    add, broadcast_to, dequantize, dequantize_is_injective, dequantize_value, hard_swish,
    leaky_relu, maximum_minimum, mul, mul_multiplier, prelu, quantize, relu, sub, AddParams,
};
pub use lut::{logistic, tanh};
pub use pool::{average_pool_2d, max_pool_2d, PoolParams};
pub use reduce::mean;
pub use resize::{resize_bilinear, resize_nearest_neighbor, ResizeParams};
pub use shape::{
    concatenation, depth_to_space, pad, pad_v2, reshape, space_to_depth, strided_slice, transpose,
    StridedSliceParams,
};
pub use softmax::{fixedpoint, softmax, softmax_params, SoftmaxParams};

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

pub(super) fn err(op: &'static str, message: impl Into<String>) -> OpError {
    OpError {
        op,
        message: message.into(),
    }
}

/// Checks that `t.data` fills `t.shape` (the fields are public, so a tensor
/// built by hand may be inconsistent) and returns the element count.
pub(super) fn check_tensor(op: &'static str, what: &str, t: &QTensor) -> Result<usize, OpError> {
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

pub(super) fn checked_product(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of `shape`.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

pub(super) fn tensor(shape: Vec<usize>, data: Vec<i8>, quant: Quant) -> QTensor {
    QTensor { shape, data, quant }
}

pub(super) fn clamp_i8(v: i32) -> i8 {
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// TFLite `QuantizeMultiplierSmallerThanOneExp` (`quantization_util.cc`):
/// `TFLITE_CHECK`s `0 < real < 1` and a non-positive exponent.
pub(super) fn quantize_multiplier_smaller_than_one(
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
pub fn act_bounds(act: Activation, out: Quant) -> (i32, i32) {
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
