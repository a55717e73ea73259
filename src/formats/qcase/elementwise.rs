//! Elementwise PyTorch cases (`"op": "add" | "mul" | "cat" | "batch_norm" | "hardswish"`,
//! docs/qcase.md §4): the requantizing steps of a quantized model between
//! its MAC layers (FloatFunctional / QFunctional `add`, `add_relu`, `mul`,
//! `cat`; an unfolded BatchNorm2d / BNReLU2d; Hardswish), with
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
}

impl EltOp {
    /// Ops of one input (no `input2*` fields).
    pub fn unary(self) -> bool {
        matches!(self, EltOp::BatchNorm | EltOp::Hardswish)
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
