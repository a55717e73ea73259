//! Elementwise PyTorch cases (`"op": "add" | "mul" | "cat" | "batch_norm" | "hardswish"`,
//! docs/qcase.md §4): the requantizing steps of a quantized model between
//! its MAC layers (FloatFunctional / QFunctional `add`, `add_relu`, `mul`,
//! `cat`; an unfolded BatchNorm2d / BNReLU2d; Hardswish; average
//! pooling), with
//! PyTorch's own output. Read by [`super::read_any`]; the golden model's
//! PyTorch emulation and integer paths are in [`crate::golden::eltwise`].

use std::path::PathBuf;

use crate::arith::DType;

/// The elementwise operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EltOp {
    /// `y = (s₁(q₁ − zp₁) + s₂(q₂ − zp₂)) / s_y + zp_y` (add, add_relu).
    Add,
    /// `y = s₁s₂(q₁ − zp₁)(q₂ − zp₂) / s_y + zp_y` (mul).
    Mul,
    /// Concatenation along channels, each input requantized to the output's
    /// scale and zero point (cat, dim = 1 of NCHW).
    Cat,
    /// An unfolded quantized BatchNorm2d (batch_norm2d, with ReLU: bn_relu):
    /// `y = (γ(s₁(q − zp₁) − μ)/√(σ² + ε) + β)/s_y + zp_y` per channel.
    BatchNorm,
    /// Quantized Hardswish: `y = h(s₁(q − zp₁))/s_y + zp_y`,
    /// `h(x) = x·min(max(x + 3, 0), 6)/6`.
    Hardswish,
    /// AvgPool2d on a quantized tensor (kernel, stride, padding,
    /// count_include_pad, divisor_override in [`Pool`]).
    AvgPool,
    /// AdaptiveAvgPool2d: window `[⌊o·I/O⌋, ⌈(o+1)·I/O⌉)` per output.
    AdaptiveAvgPool,
}

impl EltOp {
    /// Ops of one input (no `input2*` fields).
    pub fn unary(self) -> bool {
        matches!(
            self,
            EltOp::BatchNorm | EltOp::Hardswish | EltOp::AvgPool | EltOp::AdaptiveAvgPool
        )
    }
}

impl EltOp {
    pub fn name(self) -> &'static str {
        match self {
            EltOp::Add => "add",
            EltOp::Mul => "mul",
            EltOp::Cat => "cat",
            EltOp::BatchNorm => "batch_norm",
            EltOp::Hardswish => "hardswish",
            EltOp::AvgPool => "avg_pool",
            EltOp::AdaptiveAvgPool => "adaptive_avg_pool",
        }
    }
}

/// The memory layout PyTorch's kernel walked (its vectorized main loop and
/// scalar tail follow that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    Nhwc,
    Nchw,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Nhwc => "nhwc",
            Layout::Nchw => "nchw",
        }
    }
}

/// A BatchNorm2d's parameters (float32, one per channel) and ε.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f64,
}

/// An AvgPool2d's window parameters (`[h, w]` each; padding on both sides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub count_include_pad: bool,
    pub divisor_override: Option<usize>,
}

/// One validated elementwise case. Tensors are flat NHWC, like a layer case.
/// A batch_norm or hardswish has one input ([`EltOp::unary`]): `input2` is
/// empty, `input2_shape`, `input2_zero_point` and `input2_scale` repeat
/// input 1's.
#[derive(Debug, Clone, PartialEq)]
pub struct EltCase {
    pub path: PathBuf,
    pub source: String,
    pub op: EltOp,
    pub input_shape: [usize; 4],
    pub input2_shape: [usize; 4],
    pub output_shape: [usize; 4],
    pub input_zero_point: i32,
    pub input2_zero_point: i32,
    pub output_zero_point: i32,
    /// float32 scales (PyTorch's kernels compute in float32).
    pub input_scale: f32,
    pub input2_scale: f32,
    pub output_scale: f32,
    pub act_min: i32,
    pub act_max: i32,
    /// Inputs and output share one dtype (PyTorch requires it).
    pub dtype: DType,
    /// The width in bytes of the CPU vectors PyTorch's kernel ran with (64
    /// for AVX512, 32 for AVX2): which elements its vectorized loop took
    /// and which its scalar tail (they dequantize differently).
    pub torch_vector_bytes: usize,
    pub torch_layout: Layout,
    pub input: Vec<i32>,
    pub input2: Vec<i32>,
    pub output: Option<Vec<i32>>,
    /// batch_norm only.
    pub bn: Option<BatchNorm>,
    /// avg_pool only.
    pub pool: Option<Pool>,
}

impl EltCase {
    /// The input window `(h0, h1, w0, w1)` of pooled output `(oh, ow)`
    /// (clipped to the input) and its divisor, as PyTorch's kernels form
    /// them (avg_pool / adaptive_avg_pool only).
    pub fn pool_window(&self, oh: usize, ow: usize) -> (usize, usize, usize, usize, usize) {
        let [_, h, w, _] = self.input_shape;
        let [_, o_h, o_w, _] = self.output_shape;
        match &self.pool {
            Some(p) => {
                let (hs, ws) = (
                    (oh * p.stride[0]) as i64 - p.padding[0] as i64,
                    (ow * p.stride[1]) as i64 - p.padding[1] as i64,
                );
                let he = (hs + p.kernel[0] as i64).min((h + p.padding[0]) as i64);
                let we = (ws + p.kernel[1] as i64).min((w + p.padding[1]) as i64);
                let pool_size = ((he - hs) * (we - ws)) as usize;
                let (h0, w0) = (hs.max(0) as usize, ws.max(0) as usize);
                let (h1, w1) = ((he as usize).min(h), (we as usize).min(w));
                let size = (h1 - h0) * (w1 - w0);
                let div = p.divisor_override.unwrap_or(if p.count_include_pad {
                    pool_size
                } else {
                    size
                });
                (h0, h1, w0, w1, div)
            }
            None => {
                let (h0, h1) = (oh * h / o_h, ((oh + 1) * h).div_ceil(o_h));
                let (w0, w1) = (ow * w / o_w, ((ow + 1) * w).div_ceil(o_w));
                (h0, h1, w0, w1, (h1 - h0) * (w1 - w0))
            }
        }
    }
}

impl EltCase {
    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.output_shape.iter().product()
    }
    /// The channel count of input 1 (cat: input 2's channels follow it).
    pub fn channels1(&self) -> usize {
        self.input_shape[3]
    }
}
