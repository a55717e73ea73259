//! The qcase layer-case format (see docs/qcase.md): one quantized layer, its
//! integer tensors, quantization parameters and optionally the framework's
//! output. Read from a JSON file or a directory (case.toml + .npy/.txt), written
//! as JSON. Every violation is an [`InputError`](crate::error::InputError)
//! naming the file and field.
//!
//! * this module: the types ([`Case`], [`Op`], [`Rounding`]) and what a case
//!   computes from its fields (channels, multipliers, MACs);
//! * `read`: JSON files and case directories (case.toml + .npy / .txt
//!   arrays) into a [`Case`];
//! * `validate`: every rule of docs/qcase.md ([`Case::validate`]);
//! * `write`: a [`Case`] as JSON ([`Case::to_json`], [`Case::write_json`]);
//! * `elementwise`: PyTorch's requantizing elementwise steps (add, mul, cat)
//!   as [`EltCase`]s; [`read_any`] reads either kind.

use std::path::PathBuf;

use crate::arith::DType;

mod elementwise;
mod read;
mod validate;
mod write;

pub use elementwise::{BatchNorm, EltCase, EltOp, Layout, Pool};
pub use read::{read_any, AnyCase, CASE_TOML};

const SHIFT_MIN: i64 = -31;
const SHIFT_MAX: i64 = 30;
const INT8: (i64, i64) = (-128, 127);
const INT32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);

/// The layer operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Conv2d,
    DepthwiseConv2d,
    FullyConnected,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Conv2d => "conv2d",
            Op::DepthwiseConv2d => "depthwise_conv2d",
            Op::FullyConnected => "fully_connected",
        }
    }
}

/// How the case's reference `output` was requantized (docs/contract.md §2,
/// §5): one of the datapath's schemes, or a framework's float arithmetic.
/// What the datapath itself does is a
/// [`DatapathRounding`](crate::arith::requant::DatapathRounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// TFLite / gemmlowp: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT.
    Double,
    /// TFLITE_SINGLE_ROUNDING: one 64-bit rounding shift.
    Single,
    /// round_half_away(double(acc) * M): TFLite 2.21's reference FC kernel.
    Float64,
    /// PyTorch fbgemm float32 requantization.
    Fbgemm,
    /// PyTorch oneDNN float32 requantization.
    Onednn,
}

impl Rounding {
    pub fn name(self) -> &'static str {
        match self {
            Rounding::Double => "double",
            Rounding::Single => "single",
            Rounding::Float64 => "float64",
            Rounding::Fbgemm => "fbgemm",
            Rounding::Onednn => "onednn",
        }
    }
    /// True for the two integer modes an integer datapath implements.
    pub fn is_integer(self) -> bool {
        matches!(self, Rounding::Double | Rounding::Single)
    }
}

/// One validated layer case. Tensors are flat, row-major in the qcase layouts
/// (NHWC activations, `[Cout, KH, KW, Cin]` conv filters, `[1, KH, KW, C·dm]`
/// depthwise filters, `[N,1,1,K]` / `[Cout,1,1,K]` for fully-connected).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Where the case was read from (used in messages); empty when built in memory.
    pub path: PathBuf,
    pub source: String,
    pub op: Op,
    pub input_shape: [usize; 4],
    pub filter_shape: [usize; 4],
    pub output_shape: [usize; 4],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// [top, bottom, left, right]
    pub padding: [usize; 4],
    pub depth_multiplier: usize,
    /// conv2d filter groups (PyTorch `groups`, TFLite's grouped CONV_2D):
    /// output channel `c` of `Cout` reads only the `Cin/groups` input
    /// channels of its group `c / (Cout/groups)`; the filter is
    /// `[Cout, KH, KW, Cin/groups]`. 1 for every other op.
    pub groups: usize,
    pub input_zero_point: i32,
    pub filter_zero_point: i32,
    pub output_zero_point: i32,
    pub input_scale: Option<f64>,
    pub filter_scales: Option<Vec<f64>>,
    pub output_scale: Option<f64>,
    pub act_min: i32,
    pub act_max: i32,
    /// One entry per output channel, or one for per-tensor quantization.
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub rounding: Rounding,
    pub input_dtype: DType,
    pub output_dtype: DType,
    pub input: Vec<i32>,
    pub filter: Vec<i32>,
    pub bias: Option<Vec<i32>>,
    /// PyTorch's float bias (fbgemm / onednn cases).
    pub bias_float: Option<Vec<f64>>,
    pub output: Option<Vec<i32>>,
}

/// A case's filter is per-tensor when it has one scale, or one repeated for
/// every channel (the qcase convention; a TFLite model says so by its one scale).
pub fn per_tensor_scales(filter_scales: &[f64]) -> bool {
    filter_scales.iter().all(|&v| v == filter_scales[0])
}

/// THE rule for which real multiplier a framework quantizes (written once;
/// `qcase` derivation, `qmac model`'s Prepare, `regress` coverage and
/// `quantize` all call it): TFLite forms `double(S_x)·double(S_w)/double(S_y)`
/// (PopulateConvolutionQuantizationParams), except that its per-tensor
/// FULLY_CONNECTED (GetQuantizedConvolutionMultipler) forms the product
/// `S_x·S_w` in float32 first. PyTorch cases (fbgemm / onednn) use the f64 ratio.
pub fn framework_real_multiplier(
    op: Op,
    rounding: Rounding,
    per_tensor: bool,
    s_x: f64,
    s_w: f64,
    s_y: f64,
) -> f64 {
    let float32_product = op == Op::FullyConnected
        && per_tensor
        && !matches!(rounding, Rounding::Fbgemm | Rounding::Onednn);
    crate::arith::requant::tflite_real_multiplier(s_x, s_w, s_y, float32_product)
}

impl Case {
    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.output_shape[3]
    }
    /// The first input channel output channel `c` of a conv2d reads (its
    /// group's first channel; 0 unless the conv is grouped).
    pub fn group_input_base(&self, c: usize) -> usize {
        let per_group_out = self.out_channels() / self.groups.max(1);
        (c / per_group_out.max(1)) * self.filter_shape[3]
    }
    /// Multiplier and shift of output channel `c` (per-tensor cases broadcast).
    pub fn channel_params(&self, c: usize) -> (i32, i32) {
        let i = if self.multiplier.len() == 1 { 0 } else { c };
        (self.multiplier[i], self.shift[i])
    }
    pub fn bias_of(&self, c: usize) -> i32 {
        self.bias.as_ref().map_or(0, |b| b[c])
    }
    /// The real multiplier `S_x·S_w[c]/S_y` of output channel `c` exactly as
    /// the case's framework forms it ([`framework_real_multiplier`]); `None`
    /// without scales.
    pub fn real_multiplier(&self, c: usize) -> Option<f64> {
        let (sx, sw, sy) = (
            self.input_scale?,
            self.filter_scales.as_ref()?,
            self.output_scale?,
        );
        let w = *sw.get(if sw.len() == 1 { 0 } else { c })?;
        Some(framework_real_multiplier(
            self.op,
            self.rounding,
            per_tensor_scales(sw),
            sx,
            w,
            sy,
        ))
    }
    /// Multiply-accumulate count (non-padded taps are counted as well).
    pub fn macs(&self) -> u64 {
        let [n, oh, ow, oc] = self.output_shape;
        let taps = match self.op {
            Op::Conv2d => self.filter_shape[1] * self.filter_shape[2] * self.filter_shape[3],
            Op::DepthwiseConv2d => self.filter_shape[1] * self.filter_shape[2],
            Op::FullyConnected => self.filter_shape[3],
        };
        (n * oh * ow * oc * taps) as u64
    }
}
