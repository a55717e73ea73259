//! Resampling: int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR on NHWC
//! tensors, as TFLite 2.21's reference kernels compute them (no
//! requantization: the raw int8 values are picked or interpolated, the
//! output carries its own quantization, which the converter makes the
//! input's).

use super::{check_tensor, err, tensor, OpError};
use crate::golden::tensor::{QTensor, Quant};

/// The sampling flags of both resize ops (ResizeBilinearOptions /
/// ResizeNearestNeighborOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResizeParams {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// The NHWC input and the output's (height, width); errors name `op`.
fn dims(op: &'static str, input: &QTensor, out_hw: [usize; 2]) -> Result<[usize; 4], OpError> {
    check_tensor(op, "input", input)?;
    let [n, h, w, c] = <[usize; 4]>::try_from(input.shape.as_slice()).map_err(|_| {
        err(
            op,
            format!("input must be 4-D (NHWC), got {:?}", input.shape),
        )
    })?;
    if h == 0 || w == 0 || out_hw.contains(&0) {
        return Err(err(
            op,
            "input and output height and width must be positive",
        ));
    }
    if out_hw.iter().any(|&d| d > i32::MAX as usize / 1024)
        || h > i32::MAX as usize / 1024
        || w > i32::MAX as usize / 1024
    {
        return Err(err(
            op,
            "sizes too large for the kernel's 10-bit fixed point",
        ));
    }
    Ok([n, h, w, c])
}

/// `reference_ops::GetNearestNeighbor` (`reference/resize_nearest_neighbor.h`),
/// in float32 as there.
fn nearest(value: usize, in_size: usize, out_size: usize, p: ResizeParams) -> usize {
    let scale = if p.align_corners && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    };
    let offset = if p.half_pixel_centers { 0.5f32 } else { 0.0 };
    let x = (value as f32 + offset) * scale;
    // TfLiteRound: half away from zero; std::floor otherwise.
    let v = if p.align_corners {
        x.round()
    } else {
        x.floor()
    } as i64;
    let v = v.min(in_size as i64 - 1);
    // Only half_pixel_centers clamps below; the value is never negative here.
    v.max(0) as usize
}

/// int8 RESIZE_NEAREST_NEIGHBOR: `kernels/resize_nearest_neighbor.cc`,
/// `reference_ops::ResizeNearestNeighbor`: every output pixel copies the
/// input pixel `GetNearestNeighbor` picks in each axis.
pub fn resize_nearest_neighbor(
    input: &QTensor,
    out_hw: [usize; 2],
    p: ResizeParams,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "RESIZE_NEAREST_NEIGHBOR";
    let [n, h, w, c] = dims(OP, input, out_hw)?;
    let [oh, ow] = out_hw;
    let ys: Vec<usize> = (0..oh).map(|y| nearest(y, h, oh, p)).collect();
    let xs: Vec<usize> = (0..ow).map(|x| nearest(x, w, ow, p)).collect();
    let mut data = Vec::with_capacity(n * oh * ow * c);
    for b in 0..n {
        for &iy in &ys {
            for &ix in &xs {
                let at = ((b * h + iy) * w + ix) * c;
                data.extend_from_slice(&input.data[at..at + c]);
            }
        }
    }
    Ok(tensor(vec![n, oh, ow, c], data, out))
}

/// `ComputeInterpolationValuesInteger` (`reference/resize_bilinear.h`): the
/// source coordinate in 1/1024 and its two neighbours (C division, which
/// truncates towards zero).
fn interpolation(value: i32, scale_10: i32, half_pixel: bool, in_size: i32) -> (i32, i32, i32) {
    let scaled = if half_pixel {
        value * scale_10 + scale_10 / 2 - (1 << 9)
    } else {
        value * scale_10
    };
    let lower = (scaled / (1 << 10)).max(0);
    let upper = ((scaled + (1 << 10) - 1) / (1 << 10)).min(in_size - 1);
    (scaled, lower, upper)
}

/// int8 RESIZE_BILINEAR: `kernels/resize_bilinear.cc`,
/// `reference_ops::ResizeBilinearInteger`: scales in 1/1024
/// (`(1024·in + out/2) / out`, or `(1024·(in−1) + (out−1)/2) / (out−1)` with
/// align_corners), the four neighbours weighted in 1/2^20 in int64, rounded
/// half away from zero (`(v ± 2^19) / 2^20`, TFLite's default double-rounding
/// build), cast to int8.
pub fn resize_bilinear(
    input: &QTensor,
    out_hw: [usize; 2],
    p: ResizeParams,
    out: Quant,
) -> Result<QTensor, OpError> {
    const OP: &str = "RESIZE_BILINEAR";
    let [n, h, w, c] = dims(OP, input, out_hw)?;
    if p.align_corners && p.half_pixel_centers {
        return Err(err(
            OP,
            "align_corners and half_pixel_centers cannot both be set",
        ));
    }
    let [oh, ow] = out_hw;
    let (ih, iw, ohi, owi) = (h as i32, w as i32, oh as i32, ow as i32);
    let mut height_scale_10 = ((1 << 10) * ih + ohi / 2) / ohi;
    let mut width_scale_10 = ((1 << 10) * iw + owi / 2) / owi;
    if p.align_corners && ohi > 1 {
        height_scale_10 = ((1 << 10) * (ih - 1) + (ohi - 1) / 2) / (ohi - 1);
    }
    if p.align_corners && owi > 1 {
        width_scale_10 = ((1 << 10) * (iw - 1) + (owi - 1) / 2) / (owi - 1);
    }
    let at = |b: usize, y: i32, x: i32, ch: usize| {
        input.data[((b * h + y as usize) * w + x as usize) * c + ch] as i64
    };
    let mut data = Vec::with_capacity(n * oh * ow * c);
    for b in 0..n {
        for y in 0..ohi {
            let (input_y, y0, y1) = interpolation(y, height_scale_10, p.half_pixel_centers, ih);
            let dy = (input_y - (1 << 10) * y0) as i64;
            for x in 0..owi {
                let (input_x, x0, x1) = interpolation(x, width_scale_10, p.half_pixel_centers, iw);
                let dx = (input_x - (1 << 10) * x0) as i64;
                for ch in 0..c {
                    let v = at(b, y0, x0, ch) * ((1 << 10) - dy) * ((1 << 10) - dx)
                        + at(b, y1, x0, ch) * dy * ((1 << 10) - dx)
                        + at(b, y0, x1, ch) * ((1 << 10) - dy) * dx
                        + at(b, y1, x1, ch) * dy * dx;
                    let round = if v > 0 { 1i64 << 19 } else { -(1i64 << 19) };
                    // static_cast<int8_t> of the int64 quotient: keeps the low 8 bits.
                    data.push(((v + round) / (1 << 20)) as i8);
                }
            }
        }
    }
    Ok(tensor(vec![n, oh, ow, c], data, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: Vec<usize>, data: Vec<i8>) -> QTensor {
        QTensor {
            shape,
            data,
            quant: Quant {
                scale: 0.1,
                zero_point: 0,
            },
        }
    }

    #[test]
    fn nearest_upsampling_by_two_repeats_every_pixel() {
        let x = t(vec![1, 2, 2, 1], vec![1, 2, 3, 4]);
        let q = x.quant;
        let y = resize_nearest_neighbor(&x, [4, 4], ResizeParams::default(), q).unwrap();
        assert_eq!(y.data, vec![1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
        // half_pixel_centers picks the same pixels for an exact factor of 2.
        let p = ResizeParams {
            align_corners: false,
            half_pixel_centers: true,
        };
        assert_eq!(
            resize_nearest_neighbor(&x, [4, 4], p, q).unwrap().data,
            y.data
        );
        // align_corners: scale (2−1)/(4−1) = 1/3, round(i/3) = 0, 0, 1, 1.
        let p = ResizeParams {
            align_corners: true,
            half_pixel_centers: false,
        };
        assert_eq!(
            resize_nearest_neighbor(&x, [4, 4], p, q).unwrap().data[..4],
            [1, 1, 2, 2]
        );
    }

    #[test]
    fn bilinear_interpolates_and_keeps_the_corners() {
        // 1-D along x: [0, 100] → 3 pixels with align_corners: 0, 50, 100.
        let x = t(vec![1, 1, 2, 1], vec![0, 100]);
        let p = ResizeParams {
            align_corners: true,
            half_pixel_centers: false,
        };
        let y = resize_bilinear(&x, [1, 3], p, x.quant).unwrap();
        assert_eq!(y.data, vec![0, 50, 100]);
        // Without flags, x = 0, 2/3, 4/3 → 0, 66.6… → 67, then clamped at the edge: 100.
        let y = resize_bilinear(&x, [1, 3], ResizeParams::default(), x.quant).unwrap();
        assert_eq!(y.data, vec![0, 67, 100]);
        let bad = ResizeParams {
            align_corners: true,
            half_pixel_centers: true,
        };
        assert!(resize_bilinear(&x, [1, 3], bad, x.quant).is_err());
    }
}
