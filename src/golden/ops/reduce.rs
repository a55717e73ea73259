//! MEAN (`reduce.cc`, `QuantizedMeanOrSum`).

use super::{check_tensor, checked_product, clamp_i8, err, strides, tensor, OpError};
use crate::arith::requant::{self};
use crate::golden::tensor::{QTensor, Quant};

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
