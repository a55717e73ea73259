//! AVERAGE_POOL_2D and MAX_POOL_2D.

use super::{act_bounds, check_tensor, checked_product, compute_padding, err, tensor, OpError};
use crate::arith::requant::Activation;
use crate::golden::tensor::{QTensor, Quant};

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
