//! [`Plan`]: a TFLite model checked and prepared op by op, as TFLite's
//! `Prepare` does (padding, multipliers, shifts, activation bounds).

use std::path::PathBuf;

use anyhow::Result;

use crate::arith::requant::{activation_bounds, quantize_multiplier, Activation};
use crate::arith::DType;
use crate::error::InputError;
use crate::formats::qcase::{Case, Op, Rounding};
use crate::formats::tflite::{
    self, FusedActivation, Model, Operator, Options, Padding, TensorType,
};
use crate::golden::ops::{self, PoolParams};
use crate::golden::tensor::{QTensor, Quant};

/// What an op runs as.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// A conv / depthwise / fully-connected layer: the case with its input
    /// left empty (filled with the op's input at run time).
    Mac(Box<Case>),
    Add(Activation),
    AveragePool(PoolParams),
    MaxPool(PoolParams),
    Mean {
        axes: Vec<i32>,
        keep_dims: bool,
    },
    Pad {
        paddings: Vec<(usize, usize)>,
        value: Option<i8>,
    },
    Reshape(Vec<i32>),
    Softmax(f32),
    Quantize,
    /// DEQUANTIZE to a float32 model output. The step's output tensor holds
    /// its int8 input (quantization included), of which the float32 values
    /// are a one-to-one function ([`crate::golden::ops::dequantize`]); no op
    /// reads it.
    Dequantize,
    /// RELU (None) or RELU6 (Some(6.0)): the upper bound in real units.
    Relu(Option<f32>),
    LeakyRelu(f32),
    /// MAXIMUM (true) or MINIMUM (false).
    MaxMin(bool),
    Mul(Activation),
    Sub(Activation),
    HardSwish,
    /// LOGISTIC (true) or TANH (false).
    Lut(bool),
    Prelu,
    Transpose(Vec<i32>),
    /// TRANSPOSE_CONV, run as the CONV_2D `case` over its input with
    /// `stride − 1` zero-point pixels inserted between rows and columns
    /// (see [`upsample_for_transpose_conv`]); `macs` are the op's own.
    TransposeConv {
        case: Box<Case>,
        stride: [usize; 2],
        macs: u64,
    },
    SpaceToDepth,
    DepthToSpace,
    StridedSlice(crate::golden::ops::StridedSliceParams),
    /// RESIZE_BILINEAR (true) or RESIZE_NEAREST_NEIGHBOR (false) to the
    /// output tensor's height and width.
    Resize {
        bilinear: bool,
        params: crate::golden::ops::ResizeParams,
        out_hw: [usize; 2],
    },
    Concatenation {
        axis: i32,
        activation: Activation,
    },
}

/// One op of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub index: usize,
    pub name: String,
    /// Activation input tensors (constants are folded into the step).
    pub inputs: Vec<usize>,
    pub output: usize,
    pub output_shape: Vec<usize>,
    pub output_quant: Quant,
    pub kind: StepKind,
}

impl Step {
    /// Multiply-accumulates of an op the datapath runs (0 for the others).
    pub fn macs(&self) -> u64 {
        match &self.kind {
            StepKind::Mac(c) => c.macs(),
            StepKind::TransposeConv { macs, .. } => *macs,
            // One multiply per output, on the datapath as a one-tap dot product.
            StepKind::Mul(_) => self.output_shape.iter().product::<usize>() as u64,
            _ => 0,
        }
    }
}

/// A checked model, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    /// The model inputs, in the subgraph's order.
    pub inputs: Vec<ModelInput>,
    /// The first model output: the one `--expect` and `--save-output` take
    /// (every output is a tensor `--tensors` compares).
    pub output: usize,
    /// Every model output, in the subgraph's order.
    pub outputs: Vec<usize>,
    pub steps: Vec<Step>,
    /// Constant int8 operands of non-MAC ops (tensor index, value).
    pub constants: Vec<(usize, QTensor)>,
    /// Tensor names, by index (for reference-tensor keys and messages).
    pub tensor_names: Vec<String>,
}

/// One model input: its tensor, shape and quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInput {
    pub tensor: usize,
    pub name: String,
    pub shape: Vec<usize>,
    pub quant: Quant,
}

/// Largest tensor qmac runs (elements): far above any real int8 CNN layer,
/// small enough that a corrupted shape cannot exhaust memory.
const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

fn shape_of(t: &tflite::Tensor) -> std::result::Result<Vec<usize>, String> {
    let s = dims_of(t)?;
    match s.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(s),
        _ => Err(format!(
            "tensor {} (`{}`) shape {:?} has more than {MAX_TENSOR_ELEMENTS} elements",
            t.index, t.name, t.shape
        )),
    }
}

fn dims_of(t: &tflite::Tensor) -> std::result::Result<Vec<usize>, String> {
    t.shape
        .iter()
        .map(|&d| {
            usize::try_from(d).ok().filter(|&d| d >= 1).ok_or_else(|| {
                format!(
                    "tensor {} (`{}`) has a dynamic or empty shape {:?}",
                    t.index, t.name, t.shape
                )
            })
        })
        .collect()
}

/// A DEQUANTIZE qmac runs: int8 activations in, a float32 tensor out that is
/// a model output and feeds no op (qmac's ops take int8). Returns the input's
/// quantization, which the step's output keeps (see [`StepKind::Dequantize`]).
fn dequantize_output(
    model: &Model,
    op: &Operator,
    out_i: usize,
) -> std::result::Result<Quant, String> {
    let out_t = &model.tensors[out_i];
    if out_t.dtype != TensorType::Float32 {
        return Err(format!(
            "output tensor {out_i} (`{}`) is {}; qmac runs DEQUANTIZE to float32",
            out_t.name,
            out_t.dtype.name()
        ));
    }
    let in_i = op
        .inputs
        .first()
        .and_then(|&i| usize::try_from(i).ok())
        .ok_or("input 0 is missing")?;
    let q = act_quant(&model.tensors[in_i])?;
    if let Some(user) = model
        .operators
        .iter()
        .find(|o| o.inputs.contains(&(out_i as i32)))
    {
        return Err(format!(
            "its float32 output (tensor {out_i}) feeds op {} ({}); qmac runs DEQUANTIZE only where it makes a model output",
            user.index,
            user.name()
        ));
    }
    if !model.outputs.contains(&out_i) {
        return Err(format!(
            "its float32 output (tensor {out_i}) is not a model output; qmac runs DEQUANTIZE only where it makes one"
        ));
    }
    if !crate::golden::ops::dequantize_is_injective(q) {
        return Err(format!(
            "scale {} maps two int8 values to one float32, so its output cannot be checked bit for bit",
            q.scale
        ));
    }
    Ok(q)
}

/// The per-tensor int8 quantization of an activation tensor.
fn act_quant(t: &tflite::Tensor) -> std::result::Result<Quant, String> {
    if t.dtype != TensorType::Int8 {
        return Err(format!(
            "tensor {} (`{}`) is {}, only int8 activations are supported",
            t.index,
            t.name,
            t.dtype.name()
        ));
    }
    let q = t.quantization.as_ref().ok_or_else(|| {
        format!(
            "tensor {} (`{}`) has no quantization parameters",
            t.index, t.name
        )
    })?;
    if q.scale.len() != 1 || q.zero_point.len() != 1 {
        return Err(format!(
            "activation tensor {} (`{}`) must be per-tensor quantized, has {} scales",
            t.index,
            t.name,
            q.scale.len()
        ));
    }
    let zp = q.zero_point[0];
    if !((-128..=127).contains(&zp) && q.scale[0].is_finite() && q.scale[0] > 0.0) {
        return Err(format!(
            "tensor {} (`{}`): scale {} / zero point {zp} out of range for int8",
            t.index, t.name, q.scale[0]
        ));
    }
    Ok(Quant {
        scale: q.scale[0],
        zero_point: zp as i32,
    })
}

fn const_data(
    t: &tflite::Tensor,
    dtype: TensorType,
    elem: usize,
) -> std::result::Result<&[u8], String> {
    if t.dtype != dtype {
        return Err(format!(
            "constant tensor {} (`{}`) is {}, expected {}",
            t.index,
            t.name,
            t.dtype.name(),
            dtype.name()
        ));
    }
    let data = t.data.as_deref().ok_or_else(|| {
        format!(
            "constant tensor {} (`{}`) has no buffer data (buffer {})",
            t.index, t.name, t.buffer
        )
    })?;
    let count: usize = shape_of(t)?.iter().product();
    if data.len() != count * elem {
        return Err(format!(
            "constant tensor {} (`{}`): buffer holds {} bytes, shape {:?} needs {}",
            t.index,
            t.name,
            data.len(),
            t.shape,
            count * elem
        ));
    }
    Ok(data)
}

fn const_i32(t: &tflite::Tensor) -> std::result::Result<Vec<i32>, String> {
    Ok(const_data(t, TensorType::Int32, 4)?
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn const_i8(t: &tflite::Tensor) -> std::result::Result<Vec<i32>, String> {
    Ok(const_data(t, TensorType::Int8, 1)?
        .iter()
        .map(|&b| b as i8 as i32)
        .collect())
}

fn activation(a: FusedActivation) -> std::result::Result<Activation, String> {
    match a {
        FusedActivation::None => Ok(Activation::None),
        FusedActivation::Relu => Ok(Activation::Relu),
        FusedActivation::Relu6 => Ok(Activation::Relu6),
        other => Err(format!(
            "fused activation {} is not supported",
            other.name()
        )),
    }
}

fn positive(v: i32, what: &str) -> std::result::Result<usize, String> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| format!("{what} must be >= 1, got {v}"))
}

/// Builds a step's [`Case`] the way TFLite's conv / depthwise / FC `Prepare`
/// derives its parameters.
fn mac_case(model: &Model, op: &Operator) -> std::result::Result<Case, String> {
    let t = |i: i32| -> std::result::Result<&tflite::Tensor, String> {
        usize::try_from(i)
            .ok()
            .and_then(|i| model.tensors.get(i))
            .ok_or_else(|| format!("missing input tensor {i}"))
    };
    if op.inputs.len() < 2 || op.outputs.len() != 1 {
        return Err(format!(
            "needs input, filter[, bias] and one output, has {} inputs and {} outputs",
            op.inputs.len(),
            op.outputs.len()
        ));
    }
    let input = t(op.inputs[0])?;
    let filter = t(op.inputs[1])?;
    let bias = match op.inputs.get(2) {
        Some(&i) if i >= 0 => Some(t(i)?),
        _ => None,
    };
    let output = t(op.outputs[0])?;
    let iq = act_quant(input)?;
    let oq = act_quant(output)?;
    let in_shape = shape_of(input)?;
    let out_shape = shape_of(output)?;
    let f_shape = shape_of(filter)?;
    let fq = filter
        .quantization
        .as_ref()
        .ok_or_else(|| format!("filter tensor {} has no quantization", filter.index))?;
    let weights = const_i8(filter)?;
    if fq.zero_point.iter().any(|&z| z != 0) {
        return Err(format!(
            "filter tensor {} has non-zero zero points (TFLite int8 filters are symmetric)",
            filter.index
        ));
    }
    let (code, opts) = (op.code, &op.options);
    // [h, w] stride and dilation, each >= 1.
    let geometry = |sh: i32,
                    sw: i32,
                    dh: i32,
                    dw: i32|
     -> std::result::Result<([usize; 2], [usize; 2]), String> {
        Ok((
            [positive(sh, "stride_h")?, positive(sw, "stride_w")?],
            [positive(dh, "dilation_h")?, positive(dw, "dilation_w")?],
        ))
    };
    let (case_op, act, stride, dilation, padding_same) = match *opts {
        Options::Conv2d {
            padding,
            stride_w,
            stride_h,
            activation: a,
            dilation_w,
            dilation_h,
        } => {
            let (stride, dilation) = geometry(stride_h, stride_w, dilation_h, dilation_w)?;
            (Op::Conv2d, a, stride, dilation, padding == Padding::Same)
        }
        Options::DepthwiseConv2d {
            padding,
            stride_w,
            stride_h,
            activation: a,
            dilation_w,
            dilation_h,
            ..
        } => {
            let (stride, dilation) = geometry(stride_h, stride_w, dilation_h, dilation_w)?;
            (
                Op::DepthwiseConv2d,
                a,
                stride,
                dilation,
                padding == Padding::Same,
            )
        }
        Options::FullyConnected {
            activation: a,
            weights_format,
            ..
        } => {
            if weights_format != 0 {
                return Err(format!(
                    "weights_format {weights_format} (shuffled) is not supported"
                ));
            }
            (Op::FullyConnected, a, [1, 1], [1, 1], false)
        }
        _ => return Err(format!("unexpected options for {}", tflite::op_name(code))),
    };
    let act = activation(act)?;
    let (input_shape, filter_shape, output_shape, pad, (dm, groups)) = match case_op {
        Op::Conv2d | Op::DepthwiseConv2d => {
            let [n, h, w, cin] = <[usize; 4]>::try_from(in_shape.clone())
                .map_err(|_| format!("input shape {in_shape:?} is not 4-D NHWC"))?;
            let fs = <[usize; 4]>::try_from(f_shape.clone())
                .map_err(|_| format!("filter shape {f_shape:?} is not 4-D"))?;
            let (kh, kw) = (fs[1], fs[2]);
            let (oh, pt, pb) = ops::compute_padding(padding_same, h, kh, stride[0], dilation[0])
                .map_err(|e| e.to_string())?;
            let (ow, pl, pr) = ops::compute_padding(padding_same, w, kw, stride[1], dilation[1])
                .map_err(|e| e.to_string())?;
            let cout = if case_op == Op::Conv2d { fs[0] } else { fs[3] };
            let want = vec![n, oh, ow, cout];
            if out_shape != want {
                return Err(format!(
                    "output tensor shape {out_shape:?}, but input {in_shape:?} and filter {f_shape:?} give {want:?}"
                ));
            }
            let dm = if case_op == Op::DepthwiseConv2d {
                if fs[0] != 1 || cout % cin != 0 {
                    return Err(format!(
                        "depthwise filter {f_shape:?} does not fit input channels {cin}"
                    ));
                }
                (cout / cin, 1)
            } else {
                // TFLite's CONV_2D is grouped when the filter has fewer input
                // channels than the input (conv.cc: groups = Cin / filter Cin).
                let fc = fs[3];
                if fc == 0 || !cin.is_multiple_of(fc) || !cout.is_multiple_of(cin / fc) {
                    return Err(format!(
                        "filter {f_shape:?} does not fit the input's {cin} channels (not the whole input nor a group of it)"
                    ));
                }
                (1, cin / fc)
            };
            ([n, h, w, cin], fs, [n, oh, ow, cout], [pt, pb, pl, pr], dm)
        }
        Op::FullyConnected => {
            let [cout, k] = <[usize; 2]>::try_from(f_shape.clone())
                .map_err(|_| format!("filter shape {f_shape:?} is not [units, depth]"))?;
            let count: usize = in_shape.iter().product();
            if !count.is_multiple_of(k) {
                return Err(format!(
                    "input shape {in_shape:?} is not a multiple of the filter depth {k}"
                ));
            }
            let batch = count / k;
            let out_count: usize = out_shape.iter().product();
            if out_count != batch * cout {
                return Err(format!(
                    "output tensor shape {out_shape:?}, but {batch} rows × {cout} units were expected"
                ));
            }
            (
                [batch, 1, 1, k],
                [cout, 1, 1, k],
                [batch, 1, 1, cout],
                [0; 4],
                (1, 1),
            )
        }
    };
    let cout = output_shape[3];
    // TFLite 2.21's reference FULLY_CONNECTED requantizes in float64
    // (docs/arithmetic.md §4): the case says so, so the golden model gives
    // TFLite's output and the integer path (the RTL's) is compared with it,
    // each difference explained or not. CONV_2D and DEPTHWISE_CONV_2D use
    // double rounding.
    let rounding = if case_op == Op::FullyConnected {
        Rounding::Float64
    } else {
        Rounding::Double
    };
    let (multiplier, shift) = channel_multipliers(case_op, rounding, filter, iq, oq, cout)?;
    let bias = bias_values(bias, cout)?;
    let (act_min, act_max) = activation_bounds(act, oq.zero_point, oq.scale, DType::Int8);
    let case = Case {
        path: model.path.clone(),
        source: format!(
            "{} op {} {} (qmac model)",
            model
                .path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            op.index,
            op.name()
        ),
        op: case_op,
        input_shape,
        filter_shape: [
            filter_shape[0],
            filter_shape[1],
            filter_shape[2],
            filter_shape[3],
        ],
        output_shape,
        stride,
        dilation,
        padding: pad,
        depth_multiplier: dm,
        groups,
        input_zero_point: iq.zero_point,
        filter_zero_point: 0,
        output_zero_point: oq.zero_point,
        input_scale: Some(iq.scale as f64),
        filter_scales: Some(fq.scale.iter().map(|&s| s as f64).collect()),
        output_scale: Some(oq.scale as f64),
        act_min,
        act_max,
        multiplier,
        shift,
        rounding,
        input_dtype: DType::Int8,
        output_dtype: DType::Int8,
        input: vec![0; input_shape.iter().product()],
        filter: weights,
        bias,
        bias_float: None,
        output: None,
    };
    case.validate().map_err(|e| e.message)?;
    Ok(case)
}

/// Per-channel (or per-tensor: one) M0 / shift of a MAC op with `cout`
/// output channels: TFLite's multiplier derivation (kernel_util.cc), the one
/// rule of `qcase::framework_real_multiplier`; a filter with one scale is
/// per-tensor.
fn channel_multipliers(
    case_op: Op,
    rounding: Rounding,
    filter: &tflite::Tensor,
    iq: Quant,
    oq: Quant,
    cout: usize,
) -> std::result::Result<(Vec<i32>, Vec<i32>), String> {
    let fq = filter
        .quantization
        .as_ref()
        .ok_or_else(|| format!("filter tensor {} has no quantization", filter.index))?;
    let per_channel = fq.scale.len() > 1;
    if per_channel && fq.scale.len() != cout || fq.scale.is_empty() {
        return Err(format!(
            "filter tensor {} has {} scales for {cout} output channels",
            filter.index,
            fq.scale.len()
        ));
    }
    Ok((0..if per_channel { cout } else { 1 })
        .map(|c| {
            let real = crate::formats::qcase::framework_real_multiplier(
                case_op,
                rounding,
                !per_channel,
                iq.scale as f64,
                fq.scale[c] as f64,
                oq.scale as f64,
            );
            quantize_multiplier(real, false)
        })
        .unzip())
}

/// The int32 bias of a MAC op with `cout` output channels, if it has one.
fn bias_values(
    bias: Option<&tflite::Tensor>,
    cout: usize,
) -> std::result::Result<Option<Vec<i32>>, String> {
    bias.map(|b| {
        let v = const_i32(b)?;
        if v.len() != cout {
            return Err(format!(
                "bias has {} entries for {cout} output channels",
                v.len()
            ));
        }
        Ok(v)
    })
    .transpose()
}

/// TRANSPOSE_CONV (`kernels/transpose_conv.cc`, `reference_integer_ops::
/// TransposeConv`) as the CONV_2D case it equals: TFLite scatters every
/// input pixel's products into the outputs at `in·stride − pad + k`; the
/// same sums are a stride-1 convolution of the input upsampled by `stride`
/// (`stride − 1` pixels of value zp_x, which add 0, between rows and
/// columns) with the kernel flipped in both axes and padding
/// `k − 1 − pad` before (`pad` from TransposeConvPrepare's
/// `ComputePaddingHeightWidth` on the output size). The per-channel
/// multipliers, bias and activation are the conv's; int32 sums wrap alike in
/// any order. Returns the case, the stride and the op's own MACs (input
/// pixels × kernel taps × output channels, as TFLite counts them).
fn transpose_conv_case(
    model: &Model,
    op: &Operator,
) -> std::result::Result<(Case, [usize; 2], u64), String> {
    let Options::TransposeConv {
        padding,
        stride_w,
        stride_h,
        activation: act,
    } = op.options
    else {
        return Err("unexpected options for TRANSPOSE_CONV".into());
    };
    let t = |k: usize| -> std::result::Result<&tflite::Tensor, String> {
        op.inputs
            .get(k)
            .and_then(|&i| usize::try_from(i).ok())
            .and_then(|i| model.tensors.get(i))
            .ok_or_else(|| format!("input {k} is missing"))
    };
    let (filter, input) = (t(1)?, t(2)?);
    let bias = t(3).ok();
    let output = op
        .outputs
        .first()
        .and_then(|&i| usize::try_from(i).ok())
        .and_then(|i| model.tensors.get(i))
        .ok_or("no output tensor")?;
    let (iq, oq) = (act_quant(input)?, act_quant(output)?);
    let fq = filter
        .quantization
        .as_ref()
        .ok_or_else(|| format!("filter tensor {} has no quantization", filter.index))?;
    if fq.zero_point.iter().any(|&z| z != 0) {
        return Err(format!(
            "filter tensor {} has non-zero zero points",
            filter.index
        ));
    }
    let [n, h, w, cin] = <[usize; 4]>::try_from(shape_of(input)?)
        .map_err(|_| "input is not 4-D NHWC".to_string())?;
    let [cout, kh, kw, fcin] = <[usize; 4]>::try_from(shape_of(filter)?)
        .map_err(|_| "filter is not 4-D [Cout, KH, KW, Cin]".to_string())?;
    let [on, oh, ow, oc] = <[usize; 4]>::try_from(shape_of(output)?)
        .map_err(|_| "output is not 4-D NHWC".to_string())?;
    if fcin != cin || oc != cout || on != n {
        return Err(format!(
            "input [{n}, {h}, {w}, {cin}], filter [{cout}, {kh}, {kw}, {fcin}] and output [{on}, {oh}, {ow}, {oc}] do not fit"
        ));
    }
    let stride = [
        positive(stride_h, "stride_h")?,
        positive(stride_w, "stride_w")?,
    ];
    let same = padding == Padding::Same;
    let (_, pad_h, _) =
        ops::compute_padding(same, oh, kh, stride[0], 1).map_err(|e| e.to_string())?;
    let (_, pad_w, _) =
        ops::compute_padding(same, ow, kw, stride[1], 1).map_err(|e| e.to_string())?;
    let (uh, uw) = ((h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1);
    let before = |k: usize, p: usize| k.checked_sub(1 + p);
    let after = |o: usize, k: usize, u: usize, b: usize| (o + k - 1).checked_sub(u + b);
    let (Some(pt), Some(pl)) = (before(kh, pad_h), before(kw, pad_w)) else {
        return Err(format!(
            "padding ({pad_h}, {pad_w}) larger than the kernel [{kh}, {kw}] allows"
        ));
    };
    let (Some(pb), Some(pr)) = (after(oh, kh, uh, pt), after(ow, kw, uw, pl)) else {
        return Err(format!(
            "output [{oh}, {ow}] smaller than the upsampled input [{uh}, {uw}] allows"
        ));
    };
    // The kernel flipped in both axes, [Cout, KH, KW, Cin] kept.
    let weights = const_i8(filter)?;
    let mut flipped = vec![0i32; weights.len()];
    for o in 0..cout {
        for y in 0..kh {
            for x in 0..kw {
                for c in 0..cin {
                    flipped[((o * kh + (kh - 1 - y)) * kw + (kw - 1 - x)) * cin + c] =
                        weights[((o * kh + y) * kw + x) * cin + c];
                }
            }
        }
    }
    let (multiplier, shift) =
        channel_multipliers(Op::Conv2d, Rounding::Double, filter, iq, oq, cout)?;
    let bias = bias_values(bias, cout)?;
    let (act_min, act_max) =
        activation_bounds(activation(act)?, oq.zero_point, oq.scale, DType::Int8);
    let case = Case {
        path: model.path.clone(),
        source: format!(
            "{} op {} TRANSPOSE_CONV as a stride-1 CONV_2D over its input upsampled by {stride:?} (qmac model)",
            model
                .path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            op.index
        ),
        op: Op::Conv2d,
        input_shape: [n, uh, uw, cin],
        filter_shape: [cout, kh, kw, cin],
        output_shape: [n, oh, ow, cout],
        stride: [1, 1],
        dilation: [1, 1],
        padding: [pt, pb, pl, pr],
        depth_multiplier: 1,
        groups: 1,
        input_zero_point: iq.zero_point,
        filter_zero_point: 0,
        output_zero_point: oq.zero_point,
        input_scale: Some(iq.scale as f64),
        filter_scales: Some(fq.scale.iter().map(|&s| s as f64).collect()),
        output_scale: Some(oq.scale as f64),
        act_min,
        act_max,
        multiplier,
        shift,
        rounding: Rounding::Double,
        input_dtype: DType::Int8,
        output_dtype: DType::Int8,
        input: vec![iq.zero_point; n * uh * uw * cin],
        filter: flipped,
        bias,
        bias_float: None,
        output: None,
    };
    case.validate().map_err(|e| e.message)?;
    let macs = (n * h * w * cin * kh * kw * cout) as u64;
    Ok((case, stride, macs))
}

/// The input of a TRANSPOSE_CONV's conv case: `x` with `stride − 1` pixels
/// of value `zp` inserted between its rows and between its columns.
pub fn upsample_for_transpose_conv(x: &QTensor, stride: [usize; 2], zp: i32) -> Vec<i32> {
    let [n, h, w, c] = match x.shape.as_slice() {
        [n, h, w, c] => [*n, *h, *w, *c],
        _ => return x.data.iter().map(|&v| v as i32).collect(),
    };
    let (uh, uw) = ((h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1);
    let mut u = vec![zp; n * uh * uw * c];
    for b in 0..n {
        for y in 0..h {
            for xx in 0..w {
                let from = ((b * h + y) * w + xx) * c;
                let to = ((b * uh + y * stride[0]) * uw + xx * stride[1]) * c;
                for k in 0..c {
                    u[to + k] = x.data[from + k] as i32;
                }
            }
        }
    }
    u
}

/// The TFLite ops `qmac model` runs (the rule [`Plan::new`] checks every
/// operator against before anything runs).
pub const SUPPORTED_OPS: &[i32] = &[
    tflite::CONV_2D,
    tflite::DEPTHWISE_CONV_2D,
    tflite::FULLY_CONNECTED,
    tflite::ADD,
    tflite::AVERAGE_POOL_2D,
    tflite::MAX_POOL_2D,
    tflite::MEAN,
    tflite::PAD,
    tflite::PADV2,
    tflite::RESHAPE,
    tflite::SOFTMAX,
    tflite::QUANTIZE,
    tflite::DEQUANTIZE,
    tflite::CONCATENATION,
    tflite::RELU,
    tflite::RELU6,
    tflite::LEAKY_RELU,
    tflite::MAXIMUM,
    tflite::MINIMUM,
    tflite::MUL,
    tflite::HARD_SWISH,
    tflite::SUB,
    tflite::LOGISTIC,
    tflite::TANH,
    tflite::PRELU,
    tflite::RESIZE_NEAREST_NEIGHBOR,
    tflite::RESIZE_BILINEAR,
    tflite::TRANSPOSE,
    tflite::SPACE_TO_DEPTH,
    tflite::STRIDED_SLICE,
    tflite::TRANSPOSE_CONV,
    tflite::SPLIT,
    tflite::SPLIT_V,
    tflite::DEPTH_TO_SPACE,
];

impl Plan {
    /// Check a model and derive every op's parameters. Errors name the op
    /// index and type.
    pub fn new(model: &Model) -> Result<Plan, InputError> {
        let path = &model.path;
        let at = |op: &Operator| format!("op {} ({})", op.index, op.name());
        if model.inputs.is_empty() || model.outputs.is_empty() {
            return Err(InputError::new(
                path,
                "subgraph",
                format!(
                    "{} inputs and {} outputs; qmac runs models with at least one of each",
                    model.inputs.len(),
                    model.outputs.len()
                ),
            ));
        }
        let output = model.outputs[0];
        let mut inputs = Vec::new();
        for (k, &i) in model.inputs.iter().enumerate() {
            let t = &model.tensors[i];
            let at = format!("model input {k}");
            inputs.push(ModelInput {
                tensor: i,
                name: t.name.clone(),
                shape: shape_of(t).map_err(|m| InputError::new(path, &at, m))?,
                quant: act_quant(t).map_err(|m| InputError::new(path, &at, m))?,
            });
        }
        // Every unsupported op at once, by type with its op indices: a user
        // sees in one run all that stands between the model and qmac.
        let mut unsupported: Vec<(String, Vec<usize>)> = Vec::new();
        for op in model
            .operators
            .iter()
            .filter(|op| !SUPPORTED_OPS.contains(&op.code))
        {
            match unsupported.iter_mut().find(|(n, _)| *n == op.name()) {
                Some((_, at)) => at.push(op.index),
                None => unsupported.push((op.name(), vec![op.index])),
            }
        }
        if !unsupported.is_empty() {
            let n: usize = unsupported.iter().map(|(_, v)| v.len()).sum();
            let list: Vec<String> = unsupported
                .iter()
                .map(|(name, at)| {
                    let idx: Vec<String> = at.iter().map(usize::to_string).collect();
                    format!(
                        "{name} (op{} {})",
                        if at.len() == 1 { "" } else { "s" },
                        idx.join(", ")
                    )
                })
                .collect();
            let names: Vec<String> = SUPPORTED_OPS.iter().map(|&c| tflite::op_name(c)).collect();
            return Err(InputError::new(
                path,
                "operators",
                format!(
                    "{n} unsupported op{}: {}; qmac runs {}",
                    if n == 1 { "" } else { "s" },
                    list.join(", "),
                    names.join(", ")
                ),
            ));
        }
        // Which activation tensors exist so far (data flow check).
        let mut produced = vec![false; model.tensors.len()];
        for i in &inputs {
            produced[i.tensor] = true;
        }
        let mut steps = Vec::new();
        let mut constants = Vec::new();
        for op in &model.operators {
            let fail = |m: String| InputError::new(path, at(op), m);
            if matches!(op.code, tflite::SPLIT | tflite::SPLIT_V) {
                // One slice step per output (each a copy of its part of the
                // input along the split axis, as `reference_ops::Split`).
                let (data_k, axis_k) = if op.code == tflite::SPLIT {
                    (1, 0)
                } else {
                    (0, 2)
                };
                let t = |k: usize| -> Result<&tflite::Tensor, InputError> {
                    op.inputs
                        .get(k)
                        .and_then(|&i| usize::try_from(i).ok())
                        .map(|i| &model.tensors[i])
                        .ok_or_else(|| fail(format!("input {k} is missing")))
                };
                let data = t(data_k)?;
                if !produced[data.index] {
                    return Err(fail(format!(
                        "input tensor {} (`{}`) is not produced by an earlier op or the model input",
                        data.index, data.name
                    )));
                }
                let in_shape = shape_of(data).map_err(&fail)?;
                let axis = const_i32(t(axis_k)?).map_err(&fail)?;
                let rank = in_shape.len() as i32;
                let axis = match axis.as_slice() {
                    [a] if (-rank..rank).contains(a) => a.rem_euclid(rank) as usize,
                    a => return Err(fail(format!("axis {a:?} for an input of rank {rank}"))),
                };
                let mut begin = 0usize;
                for &o in &op.outputs {
                    let out_i =
                        usize::try_from(o).map_err(|_| fail("an output is missing".into()))?;
                    let out_t = &model.tensors[out_i];
                    let output_shape = shape_of(out_t).map_err(&fail)?;
                    let output_quant = act_quant(out_t).map_err(&fail)?;
                    let ok_shape = output_shape.len() == in_shape.len()
                        && (0..in_shape.len()).all(|d| d == axis || output_shape[d] == in_shape[d]);
                    if !ok_shape {
                        return Err(fail(format!(
                            "output {out_i} shape {output_shape:?} is not a part of {in_shape:?} along axis {axis}"
                        )));
                    }
                    let end = begin + output_shape[axis];
                    let mut b: Vec<i32> = vec![0; in_shape.len()];
                    let mut e: Vec<i32> = in_shape.iter().map(|&d| d as i32).collect();
                    b[axis] = begin as i32;
                    e[axis] = end as i32;
                    steps.push(Step {
                        index: op.index,
                        name: op.name(),
                        inputs: vec![data.index],
                        output: out_i,
                        output_shape,
                        output_quant,
                        kind: StepKind::StridedSlice(ops::StridedSliceParams {
                            begin: b,
                            end: e,
                            strides: vec![1; in_shape.len()],
                            begin_mask: 0,
                            end_mask: 0,
                            shrink_axis_mask: 0,
                        }),
                    });
                    produced[out_i] = true;
                    begin = end;
                }
                if begin != in_shape[axis] {
                    return Err(fail(format!(
                        "the outputs cover {begin} of the {} elements along axis {axis}",
                        in_shape[axis]
                    )));
                }
                continue;
            }
            if op.outputs.len() != 1 {
                return Err(fail(format!(
                    "{} outputs; qmac runs single-output ops",
                    op.outputs.len()
                )));
            }
            let out_i = op.outputs[0] as usize;
            let out_t = &model.tensors[out_i];
            let output_quant = if op.code == tflite::DEQUANTIZE {
                dequantize_output(model, op, out_i).map_err(fail)?
            } else {
                act_quant(out_t).map_err(fail)?
            };
            let output_shape = shape_of(out_t).map_err(fail)?;
            let tensor = |k: usize| -> Result<&tflite::Tensor, InputError> {
                op.inputs
                    .get(k)
                    .and_then(|&i| usize::try_from(i).ok())
                    .map(|i| &model.tensors[i])
                    .ok_or_else(|| fail(format!("input {k} is missing")))
            };
            let constant_i32 = |k: usize| -> Result<Vec<i32>, InputError> {
                const_i32(tensor(k)?).map_err(|m| InputError::new(path, at(op), m))
            };
            // Activation inputs: the op's first input, both of ADD / SUB /
            // MUL / MAXIMUM / MINIMUM / PRELU (its alpha), all of CONCATENATION.
            let act_inputs: Vec<usize> = match op.code {
                tflite::ADD
                | tflite::SUB
                | tflite::MUL
                | tflite::MAXIMUM
                | tflite::MINIMUM
                | tflite::PRELU => vec![0, 1],
                tflite::CONCATENATION => (0..op.inputs.len()).collect(),
                // output_shape, weights, input[, bias]
                tflite::TRANSPOSE_CONV => vec![2],
                _ => vec![0],
            };
            let mut inputs = Vec::new();
            for k in act_inputs {
                let t = tensor(k)?;
                let q = act_quant(t).map_err(|m| InputError::new(path, at(op), m))?;
                if !produced[t.index] {
                    if t.data.is_none() {
                        return Err(fail(format!(
                            "input tensor {} (`{}`) is neither the model input, a constant, nor produced by an earlier op",
                            t.index, t.name
                        )));
                    }
                    // A constant operand (e.g. of ADD or CONCATENATION).
                    let shape = shape_of(t).map_err(&fail)?;
                    let data = const_i8(t)
                        .map_err(&fail)?
                        .into_iter()
                        .map(|v| v as i8)
                        .collect();
                    constants.push((t.index, QTensor::new(shape, data, q)));
                    produced[t.index] = true;
                }
                inputs.push(t.index);
            }
            let in_shape = shape_of(tensor(if op.code == tflite::TRANSPOSE_CONV {
                2
            } else {
                0
            })?)
            .map_err(|m| InputError::new(path, at(op), m))?;
            let kind = match (op.code, &op.options) {
                (tflite::CONV_2D | tflite::DEPTHWISE_CONV_2D | tflite::FULLY_CONNECTED, _) => {
                    StepKind::Mac(Box::new(mac_case(model, op).map_err(fail)?))
                }
                (tflite::ADD, Options::Add { activation: a }) => {
                    StepKind::Add(activation(*a).map_err(fail)?)
                }
                (
                    tflite::AVERAGE_POOL_2D | tflite::MAX_POOL_2D,
                    Options::Pool2d {
                        padding,
                        stride_w,
                        stride_h,
                        filter_width,
                        filter_height,
                        activation: a,
                    },
                ) => {
                    if in_shape.len() != 4 {
                        return Err(fail(format!("input shape {in_shape:?} is not 4-D NHWC")));
                    }
                    let p = PoolParams::from_options(
                        *padding == Padding::Same,
                        in_shape[1],
                        in_shape[2],
                        positive(*filter_height, "filter_height").map_err(fail)?,
                        positive(*filter_width, "filter_width").map_err(fail)?,
                        positive(*stride_h, "stride_h").map_err(fail)?,
                        positive(*stride_w, "stride_w").map_err(fail)?,
                        activation(*a).map_err(fail)?,
                    )
                    .map_err(|e| fail(e.to_string()))?;
                    if op.code == tflite::AVERAGE_POOL_2D {
                        StepKind::AveragePool(p)
                    } else {
                        StepKind::MaxPool(p)
                    }
                }
                (tflite::MEAN, Options::Reducer { keep_dims }) => StepKind::Mean {
                    axes: constant_i32(1)?,
                    keep_dims: *keep_dims,
                },
                (tflite::PAD | tflite::PADV2, _) => {
                    let p = constant_i32(1)?;
                    if p.len() != 2 * in_shape.len() {
                        return Err(fail(format!(
                            "paddings has {} values for a rank-{} input",
                            p.len(),
                            in_shape.len()
                        )));
                    }
                    let mut paddings = Vec::new();
                    for (d, pair) in p.chunks_exact(2).enumerate() {
                        let (Ok(b), Ok(a)) = (usize::try_from(pair[0]), usize::try_from(pair[1]))
                        else {
                            return Err(fail(format!(
                                "negative padding {pair:?} on dimension {d}"
                            )));
                        };
                        paddings.push((b, a));
                    }
                    let value = if op.code == tflite::PADV2
                        && op.inputs.get(2).is_some_and(|&i| i >= 0)
                    {
                        let v = const_i8(tensor(2)?).map_err(fail)?;
                        if v.len() != 1 {
                            return Err(fail("PADV2 constant_values must hold one value".into()));
                        }
                        Some(v[0] as i8)
                    } else {
                        None
                    };
                    StepKind::Pad { paddings, value }
                }
                (tflite::RESHAPE, _) => {
                    StepKind::Reshape(output_shape.iter().map(|&d| d as i32).collect())
                }
                (tflite::SOFTMAX, Options::Softmax { beta }) => StepKind::Softmax(*beta),
                (tflite::QUANTIZE, _) => StepKind::Quantize,
                (tflite::DEQUANTIZE, _) => StepKind::Dequantize,
                (tflite::RELU, _) => StepKind::Relu(None),
                (tflite::HARD_SWISH, _) => StepKind::HardSwish,
                (tflite::LOGISTIC, _) => StepKind::Lut(true),
                (tflite::TANH, _) => StepKind::Lut(false),
                (tflite::PRELU, _) => StepKind::Prelu,
                (tflite::TRANSPOSE, _) => StepKind::Transpose(constant_i32(1)?),
                (tflite::TRANSPOSE_CONV, _) => {
                    let (case, stride, macs) = transpose_conv_case(model, op).map_err(fail)?;
                    StepKind::TransposeConv {
                        case: Box::new(case),
                        stride,
                        macs,
                    }
                }
                (tflite::SPACE_TO_DEPTH, _) => StepKind::SpaceToDepth,
                (tflite::DEPTH_TO_SPACE, _) => StepKind::DepthToSpace,
                (
                    tflite::STRIDED_SLICE,
                    Options::StridedSlice {
                        begin_mask,
                        end_mask,
                        ellipsis_mask,
                        new_axis_mask,
                        shrink_axis_mask,
                        offset,
                    },
                ) => {
                    if *ellipsis_mask != 0 || *new_axis_mask != 0 || *offset {
                        return Err(fail(format!(
                            "ellipsis_mask {ellipsis_mask}, new_axis_mask {new_axis_mask}, offset {offset}: qmac runs STRIDED_SLICE without ellipsis, new axes or offset"
                        )));
                    }
                    StepKind::StridedSlice(crate::golden::ops::StridedSliceParams {
                        begin: constant_i32(1)?,
                        end: constant_i32(2)?,
                        strides: constant_i32(3)?,
                        begin_mask: *begin_mask,
                        end_mask: *end_mask,
                        shrink_axis_mask: *shrink_axis_mask,
                    })
                }
                (
                    tflite::RESIZE_BILINEAR | tflite::RESIZE_NEAREST_NEIGHBOR,
                    Options::Resize {
                        align_corners,
                        half_pixel_centers,
                    },
                ) => {
                    // The size input (a constant [2] of int32) must agree with
                    // the output tensor's height and width.
                    let size = constant_i32(1)?;
                    let out_hw = match output_shape.as_slice() {
                        [_, h, w, _] => [*h, *w],
                        s => return Err(fail(format!("output must be 4-D (NHWC), got {s:?}"))),
                    };
                    if size.len() != 2
                        || size
                            .iter()
                            .zip(&out_hw)
                            .any(|(&a, &b)| a as i64 != b as i64)
                    {
                        return Err(fail(format!(
                            "size input {size:?} does not match the output tensor's height and width {out_hw:?}"
                        )));
                    }
                    StepKind::Resize {
                        bilinear: op.code == tflite::RESIZE_BILINEAR,
                        params: crate::golden::ops::ResizeParams {
                            align_corners: *align_corners,
                            half_pixel_centers: *half_pixel_centers,
                        },
                        out_hw,
                    }
                }
                (tflite::RELU6, _) => StepKind::Relu(Some(6.0)),
                (tflite::LEAKY_RELU, Options::LeakyRelu { alpha }) => StepKind::LeakyRelu(*alpha),
                (tflite::MAXIMUM, _) => StepKind::MaxMin(true),
                (tflite::SUB, Options::Sub { activation: a }) => {
                    StepKind::Sub(activation(*a).map_err(fail)?)
                }
                (tflite::MUL, Options::Mul { activation: a }) => {
                    StepKind::Mul(activation(*a).map_err(fail)?)
                }
                (tflite::MINIMUM, _) => StepKind::MaxMin(false),
                (
                    tflite::CONCATENATION,
                    Options::Concatenation {
                        axis,
                        activation: a,
                    },
                ) => StepKind::Concatenation {
                    axis: *axis,
                    activation: activation(*a).map_err(fail)?,
                },
                _ => {
                    return Err(fail(format!(
                        "options of type {:?} do not fit the op",
                        op.options
                    )))
                }
            };
            produced[out_i] = true;
            steps.push(Step {
                index: op.index,
                name: op.name(),
                inputs,
                output: out_i,
                output_shape,
                output_quant,
                kind,
            });
        }
        for &o in &model.outputs {
            if !produced[o] {
                return Err(InputError::new(
                    path,
                    "subgraph outputs",
                    format!("output tensor {o} is never produced"),
                ));
            }
        }
        Ok(Plan {
            path: path.clone(),
            outputs: model.outputs.clone(),
            inputs,
            output,
            steps,
            constants,
            tensor_names: model.tensors.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// The quantization of a float32 model output (a DEQUANTIZE's output
    /// tensor): `None` for an int8 tensor.
    pub fn float_output(&self, tensor: usize) -> Option<Quant> {
        self.steps
            .iter()
            .find(|s| s.output == tensor && s.kind == StepKind::Dequantize)
            .map(|s| s.output_quant)
    }

    /// Total MACs of the conv / depthwise / FC ops.
    pub fn macs(&self) -> u64 {
        self.steps.iter().map(Step::macs).sum()
    }
}

#[cfg(test)]
mod transpose_conv_tests {
    use super::*;

    #[test]
    fn upsampling_inserts_zero_point_pixels_between_rows_and_columns() {
        let x = QTensor::new(
            vec![1, 2, 2, 1],
            vec![1, 2, 3, 4],
            Quant {
                scale: 1.0,
                zero_point: -5,
            },
        );
        let u = upsample_for_transpose_conv(&x, [2, 3], -5);
        // 3 × 4: rows 0 and 2 hold the pixels at columns 0 and 3.
        assert_eq!(u, vec![1, -5, -5, 2, -5, -5, -5, -5, 3, -5, -5, 4]);
    }
}
