//! Shape ops: PAD, PADV2, RESHAPE, CONCATENATION.

use super::{check_tensor, checked_product, err, strides, tensor, OpError};
use crate::arith::requant::Activation;
use crate::golden::tensor::{QTensor, Quant};

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
