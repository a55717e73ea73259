//! Shape ops: PAD, PADV2, RESHAPE, CONCATENATION, and the data movement of
//! TRANSPOSE, SPACE_TO_DEPTH and STRIDED_SLICE (copies, no requantization).

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

/// int8 TRANSPOSE: `kernels/transpose.cc`, `reference_ops::Transpose`: the
/// output's dimension `k` is the input's dimension `perm[k]` (a constant
/// input; rank ≤ 6, every axis once); a copy, no requantization.
pub fn transpose(input: &QTensor, perm: &[i32], out: Quant) -> Result<QTensor, OpError> {
    const OP: &str = "TRANSPOSE";
    check_tensor(OP, "input", input)?;
    let rank = input.shape.len();
    if perm.len() != rank || rank > 6 {
        return Err(err(
            OP,
            format!("perm {perm:?} for an input of rank {rank} (at most 6)"),
        ));
    }
    let mut seen = vec![false; rank];
    for &p in perm {
        let ok = usize::try_from(p).ok().filter(|&p| p < rank && !seen[p]);
        match ok {
            Some(p) => seen[p] = true,
            None => {
                return Err(err(
                    OP,
                    format!("perm {perm:?} is not a permutation of 0..{rank}"),
                ))
            }
        }
    }
    let perm: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
    let out_shape: Vec<usize> = perm.iter().map(|&p| input.shape[p]).collect();
    let in_strides = strides(&input.shape);
    // The input stride of each output axis.
    let walk: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n = input.data.len();
    let mut idx = vec![0usize; rank];
    let mut data = Vec::with_capacity(n);
    for _ in 0..n {
        let at: usize = idx.iter().zip(&walk).map(|(i, s)| i * s).sum();
        data.push(input.data[at]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(tensor(out_shape, data, out))
}

/// The one index map of SPACE_TO_DEPTH and DEPTH_TO_SPACE
/// (`reference_ops::SpaceToDepth` / `DepthToSpace`): with `space` =
/// `[N, H, W, C]` and `depth` = `[N, H/b, W/b, C·b²]`, element `(n, y, x, c)`
/// of the space tensor is element `(n, y/b, x/b, c + ((y mod b)·b + x mod b)·C)`
/// of the depth tensor. `(space index, depth index)` of every element; the
/// block size b is the one the two shapes imply.
fn space_depth_pairs(
    op: &'static str,
    space: &[usize],
    depth: &[usize],
) -> Result<Vec<(usize, usize)>, OpError> {
    let bad = || {
        err(
            op,
            format!("{depth:?} is not a block rearrangement of {space:?}"),
        )
    };
    let ([n, h, w, c], [dn, dh, dw, dc]) = (
        <[usize; 4]>::try_from(space).map_err(|_| err(op, format!("{space:?} is not 4-D")))?,
        <[usize; 4]>::try_from(depth).map_err(|_| err(op, format!("{depth:?} is not 4-D")))?,
    );
    let b = h.checked_div(dh).unwrap_or(0);
    if b == 0 || dn != n || dh * b != h || dw * b != w || dc != c * b * b {
        return Err(bad());
    }
    let mut pairs = Vec::with_capacity(n * h * w * c);
    for i in 0..n {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let d = ch + ((y % b) * b + x % b) * c;
                    pairs.push((
                        ((i * h + y) * w + x) * c + ch,
                        ((i * dh + y / b) * dw + x / b) * dc + d,
                    ));
                }
            }
        }
    }
    Ok(pairs)
}

/// int8 SPACE_TO_DEPTH: `kernels/space_to_depth.cc`,
/// `reference_ops::SpaceToDepth`: each `block × block` patch of an NHWC
/// input becomes `block²·C` channels ([`space_depth_pairs`]). The block size
/// is the one the output tensor's shape implies (Prepare derives that shape
/// from it).
pub fn space_to_depth(
    input: &QTensor,
    out_shape: &[usize],
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "SPACE_TO_DEPTH";
    check_tensor(OP, "input", input)?;
    let mut data = vec![0i8; input.data.len()];
    for (s, d) in space_depth_pairs(OP, &input.shape, out_shape)? {
        data[d] = input.data[s];
    }
    Ok(tensor(out_shape.to_vec(), data, out))
}

/// int8 DEPTH_TO_SPACE: `kernels/depth_to_space.cc`,
/// `reference_ops::DepthToSpace`, the inverse of SPACE_TO_DEPTH.
pub fn depth_to_space(
    input: &QTensor,
    out_shape: &[usize],
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "DEPTH_TO_SPACE";
    check_tensor(OP, "input", input)?;
    let mut data = vec![0i8; input.data.len()];
    for (s, d) in space_depth_pairs(OP, out_shape, &input.shape)? {
        data[s] = input.data[d];
    }
    Ok(tensor(out_shape.to_vec(), data, out))
}

/// The parameters of STRIDED_SLICE: constant `begin`, `end`, `strides` (one
/// per input axis) and the masks of StridedSliceOptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StridedSliceParams {
    pub begin: Vec<i32>,
    pub end: Vec<i32>,
    pub strides: Vec<i32>,
    pub begin_mask: i32,
    pub end_mask: i32,
    pub shrink_axis_mask: i32,
}

/// int8 STRIDED_SLICE: `kernels/strided_slice.cc`,
/// `reference_ops::StridedSlice` with `strided_slice_logic.h`'s
/// `StartForAxis` / `StopForAxis`: a masked bit takes the axis from its
/// first (last, for a negative stride) element; negative indices count from
/// the end; start and stop are clamped (to [0, n] for a positive stride, to
/// [−1, n−1] for a negative one); a shrunk axis takes exactly its start
/// element and disappears from the output shape. Ellipsis and new-axis masks
/// and `offset` are refused by the caller.
pub fn strided_slice(
    input: &QTensor,
    p: &StridedSliceParams,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "STRIDED_SLICE";
    check_tensor(OP, "input", input)?;
    let rank = input.shape.len();
    if p.begin.len() != rank || p.end.len() != rank || p.strides.len() != rank {
        return Err(err(
            OP,
            format!(
                "begin {:?}, end {:?}, strides {:?} must each have one value per input axis ({rank})",
                p.begin, p.end, p.strides
            ),
        ));
    }
    let mut ranges = Vec::with_capacity(rank);
    let mut out_shape = Vec::new();
    for axis in 0..rank {
        let size = input.shape[axis] as i64;
        let stride = p.strides[axis] as i64;
        if stride == 0 {
            return Err(err(OP, format!("stride of axis {axis} is 0")));
        }
        let clamp = |v: i64| {
            if stride > 0 {
                v.clamp(0, size)
            } else {
                v.clamp(-1, size - 1)
            }
        };
        let bit = 1i32 << axis;
        // StartForAxis / StopForAxis: a masked bound is the far end in the
        // stride's direction (the start's far end is the stop's near one),
        // a negative one counts from the end, then clamped.
        let bound = |v: i32, mask: i32, is_start: bool| {
            let mut b = v as i64;
            if mask & bit != 0 {
                b = if (stride > 0) == is_start {
                    i32::MIN as i64
                } else {
                    i32::MAX as i64
                };
            }
            if b < 0 {
                b += size;
            }
            clamp(b)
        };
        let start = if size == 0 {
            0
        } else {
            bound(p.begin[axis], p.begin_mask, true)
        };
        let shrink = p.shrink_axis_mask & bit != 0;
        let stop = if size == 0 {
            0
        } else if shrink {
            start + 1
        } else {
            bound(p.end[axis], p.end_mask, false)
        };
        let idx: Vec<usize> = if stride > 0 {
            (start..stop)
                .step_by(stride as usize)
                .map(|i| i as usize)
                .collect()
        } else {
            let mut v = Vec::new();
            let mut i = start;
            while i > stop {
                v.push(i as usize);
                i += stride;
            }
            v
        };
        if shrink && idx.len() != 1 {
            return Err(err(
                OP,
                format!("shrunk axis {axis} selects {} elements", idx.len()),
            ));
        }
        if !shrink {
            out_shape.push(idx.len());
        }
        ranges.push(idx);
    }
    let in_strides = strides(&input.shape);
    let mut data = Vec::new();
    let mut pos = vec![0usize; rank];
    if ranges.iter().all(|r| !r.is_empty()) {
        loop {
            let at: usize = (0..rank).map(|d| ranges[d][pos[d]] * in_strides[d]).sum();
            data.push(input.data[at]);
            let mut d = rank;
            loop {
                if d == 0 {
                    return Ok(tensor(out_shape, data, out));
                }
                d -= 1;
                pos[d] += 1;
                if pos[d] < ranges[d].len() {
                    break;
                }
                pos[d] = 0;
            }
        }
    }
    Ok(tensor(out_shape, data, out))
}

#[cfg(test)]
mod movement_tests {
    use super::*;

    fn t(shape: Vec<usize>) -> QTensor {
        let n: usize = shape.iter().product();
        QTensor {
            data: (0..n).map(|i| i as i8).collect(),
            shape,
            quant: Quant {
                scale: 1.0,
                zero_point: 0,
            },
        }
    }

    #[test]
    fn transpose_swaps_axes_and_rejects_a_non_permutation() {
        let x = t(vec![2, 3]);
        let y = transpose(&x, &[1, 0], x.quant).unwrap();
        assert_eq!(y.shape, vec![3, 2]);
        assert_eq!(y.data, vec![0, 3, 1, 4, 2, 5]);
        assert!(transpose(&x, &[0, 0], x.quant).is_err());
    }

    #[test]
    fn space_to_depth_moves_each_patch_into_channels() {
        let x = t(vec![1, 2, 2, 1]);
        let y = space_to_depth(&x, &[1, 1, 1, 4], x.quant).unwrap();
        assert_eq!(y.data, vec![0, 1, 2, 3]);
        assert!(space_to_depth(&x, &[1, 1, 2, 2], x.quant).is_err());
        // DEPTH_TO_SPACE undoes it.
        let back = depth_to_space(&y, &[1, 2, 2, 1], x.quant).unwrap();
        assert_eq!(back.data, x.data);
        assert!(depth_to_space(&y, &[1, 2, 1, 2], x.quant).is_err());
    }

    #[test]
    fn strided_slice_follows_masks_negative_strides_and_shrink() {
        let x = t(vec![1, 6]);
        let p =
            |begin: Vec<i32>, end: Vec<i32>, strides: Vec<i32>, bm, em, sm| StridedSliceParams {
                begin,
                end,
                strides,
                begin_mask: bm,
                end_mask: em,
                shrink_axis_mask: sm,
            };
        // x[:, 1:5:2]
        let y =
            strided_slice(&x, &p(vec![0, 1], vec![1, 5], vec![1, 2], 0, 0, 0), x.quant).unwrap();
        assert_eq!((y.shape.clone(), y.data), (vec![1, 2], vec![1, 3]));
        // x[:, ::-2] (begin and end masked)
        let y = strided_slice(
            &x,
            &p(vec![0, 0], vec![1, 0], vec![1, -2], 0b10, 0b10, 0),
            x.quant,
        )
        .unwrap();
        assert_eq!(y.data, vec![5, 3, 1]);
        // x[:, 5:1:-1]
        let y = strided_slice(
            &x,
            &p(vec![0, 5], vec![1, 1], vec![1, -1], 0, 0, 0),
            x.quant,
        )
        .unwrap();
        assert_eq!(y.data, vec![5, 4, 3, 2]);
        // x[0, -2] with both axes shrunk: one element, shape [].
        let y = strided_slice(
            &x,
            &p(vec![0, -2], vec![1, -1], vec![1, 1], 0, 0, 0b11),
            x.quant,
        )
        .unwrap();
        assert_eq!((y.shape.clone(), y.data), (vec![], vec![4]));
    }
}
