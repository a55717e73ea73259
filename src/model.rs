//! Whole int8 TFLite models (`qmac model`).
//!
//! [`Plan::new`] checks a [`tflite::Model`] and derives what TFLite's `Prepare`
//! derives for every op: for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED a
//! qcase [`Case`] (explicit padding from SAME/VALID, per-channel M0/shift by
//! QuantizeMultiplier of the model's float32 scales, activation bounds), for
//! the other ops the parameters of their [`crate::golden::ops`] kernel. [`run`] then
//! executes the ops in order: the MAC ops on the Verilated datapath through the
//! same lowering as `qmac layer` (every output beat checked against the golden
//! model) and/or on the golden model, the others on the golden kernels, and
//! compares every tensor with the reference tensors when given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::arith::requant::{activation_bounds, quantize_multiplier, Activation};
use crate::arith::DType;
use crate::cosim::dut::Dut;
use crate::cosim::RunOptions;
use crate::error::InputError;
use crate::formats::npy::Int8Array;
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
    /// Multiply-accumulates of a MAC op (0 for the others).
    pub fn macs(&self) -> u64 {
        match &self.kind {
            StepKind::Mac(c) => c.macs(),
            _ => 0,
        }
    }
}

/// A checked model, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    pub input: usize,
    pub input_shape: Vec<usize>,
    pub input_quant: Quant,
    pub output: usize,
    pub steps: Vec<Step>,
    /// Constant int8 operands of non-MAC ops (tensor index, value).
    pub constants: Vec<(usize, QTensor)>,
    /// Tensor names, by index (for reference-tensor keys and messages).
    pub tensor_names: Vec<String>,
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
    let (input_shape, filter_shape, output_shape, pad, dm) = match case_op {
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
                cout / cin
            } else {
                if fs[3] != cin {
                    return Err(format!(
                        "filter {f_shape:?} does not have the input's {cin} channels"
                    ));
                }
                1
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
                1,
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
    let per_channel = fq.scale.len() > 1;
    if per_channel && fq.scale.len() != cout || fq.scale.is_empty() {
        return Err(format!(
            "filter tensor {} has {} scales for {cout} output channels",
            filter.index,
            fq.scale.len()
        ));
    }
    // TFLite's multiplier derivation (kernel_util.cc), the one rule of
    // `qcase::framework_real_multiplier`; a model's filter is per-tensor by its one scale.
    let mut multiplier = Vec::with_capacity(cout);
    let mut shift = Vec::with_capacity(cout);
    let channels = if per_channel { cout } else { 1 };
    for c in 0..channels {
        let real = crate::formats::qcase::framework_real_multiplier(
            case_op,
            rounding,
            !per_channel,
            iq.scale as f64,
            fq.scale[c] as f64,
            oq.scale as f64,
        );
        let (m, s) = quantize_multiplier(real, false);
        multiplier.push(m);
        shift.push(s);
    }
    let bias = match bias {
        Some(b) => {
            let v = const_i32(b)?;
            if v.len() != cout {
                return Err(format!(
                    "bias has {} entries for {cout} output channels",
                    v.len()
                ));
            }
            Some(v)
        }
        None => None,
    };
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

impl Plan {
    /// Check a model and derive every op's parameters. Errors name the op
    /// index and type.
    pub fn new(model: &Model) -> Result<Plan, InputError> {
        let path = &model.path;
        let at = |op: &Operator| format!("op {} ({})", op.index, op.name());
        if model.inputs.len() != 1 || model.outputs.len() != 1 {
            return Err(InputError::new(
                path,
                "subgraph",
                format!(
                    "{} inputs and {} outputs; qmac runs single-input single-output models",
                    model.inputs.len(),
                    model.outputs.len()
                ),
            ));
        }
        let input = model.inputs[0];
        let output = model.outputs[0];
        let in_t = &model.tensors[input];
        let input_shape = shape_of(in_t).map_err(|m| InputError::new(path, "model input", m))?;
        let input_quant = act_quant(in_t).map_err(|m| InputError::new(path, "model input", m))?;
        // Which activation tensors exist so far (data flow check).
        let mut produced = vec![false; model.tensors.len()];
        produced[input] = true;
        let mut steps = Vec::new();
        let mut constants = Vec::new();
        for op in &model.operators {
            let fail = |m: String| InputError::new(path, at(op), m);
            if op.outputs.len() != 1 {
                return Err(fail(format!(
                    "{} outputs; qmac runs single-output ops",
                    op.outputs.len()
                )));
            }
            let out_i = op.outputs[0] as usize;
            let out_t = &model.tensors[out_i];
            let output_quant = act_quant(out_t).map_err(fail)?;
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
            // Activation inputs: the op's first input, all inputs for ADD / CONCATENATION.
            let n_act = match op.code {
                tflite::ADD => 2,
                tflite::CONCATENATION => op.inputs.len(),
                _ => 1,
            };
            let mut inputs = Vec::new();
            for k in 0..n_act {
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
            let in_shape = shape_of(tensor(0)?).map_err(|m| InputError::new(path, at(op), m))?;
            let kind = match (op.code, &op.options) {
                (tflite::CONV_2D | tflite::DEPTHWISE_CONV_2D | tflite::FULLY_CONNECTED, _) => {
                    StepKind::Mac(Box::new(mac_case(model, op).map_err(fail)?))
                }
                (tflite::ADD, Options::Add { activation: a }) => StepKind::Add(activation(*a).map_err(fail)?),
                (
                    tflite::AVERAGE_POOL_2D | tflite::MAX_POOL_2D,
                    Options::Pool2d { padding, stride_w, stride_h, filter_width, filter_height, activation: a },
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
                        let (Ok(b), Ok(a)) = (usize::try_from(pair[0]), usize::try_from(pair[1])) else {
                            return Err(fail(format!("negative padding {pair:?} on dimension {d}")));
                        };
                        paddings.push((b, a));
                    }
                    let value = if op.code == tflite::PADV2 && op.inputs.get(2).is_some_and(|&i| i >= 0) {
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
                (tflite::RESHAPE, _) => StepKind::Reshape(output_shape.iter().map(|&d| d as i32).collect()),
                (tflite::SOFTMAX, Options::Softmax { beta }) => StepKind::Softmax(*beta),
                (tflite::QUANTIZE, _) => StepKind::Quantize,
                (tflite::CONCATENATION, Options::Concatenation { axis, activation: a }) => StepKind::Concatenation {
                    axis: *axis,
                    activation: activation(*a).map_err(fail)?,
                },
                _ => {
                    return Err(fail(
                        "unsupported op: qmac runs CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, \
                         MAX_POOL_2D, MEAN, PAD, PADV2, RESHAPE, SOFTMAX, QUANTIZE and CONCATENATION"
                            .into(),
                    ))
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
        if !produced[output] {
            return Err(InputError::new(
                path,
                "subgraph outputs",
                format!("output tensor {output} is never produced"),
            ));
        }
        Ok(Plan {
            path: path.clone(),
            input,
            input_shape,
            input_quant,
            output,
            steps,
            constants,
            tensor_names: model.tensors.iter().map(|t| t.name.clone()).collect(),
        })
    }

    /// Total MACs of the conv / depthwise / FC ops.
    pub fn macs(&self) -> u64 {
        self.steps.iter().map(Step::macs).sum()
    }
}

/// Which model runs the MAC ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacBackend {
    Rtl,
    Golden,
    Both,
}

/// Comparison of a tensor with a reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TensorDiff {
    pub compared: usize,
    pub mismatches: usize,
    pub max_abs: i32,
    pub first: Option<usize>,
}

fn diff(a: &[i8], b: &[i8]) -> TensorDiff {
    let mut d = TensorDiff {
        compared: a.len().min(b.len()),
        ..Default::default()
    };
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        if x != y {
            d.mismatches += 1;
            d.max_abs = d.max_abs.max((x as i32 - y as i32).abs());
            d.first.get_or_insert(i);
        }
    }
    d
}

/// The verified cause that explains an op's differences from the reference:
/// TFLite 2.21's reference FULLY_CONNECTED requantizes in float64
/// (docs/arithmetic.md §4), the datapath with the Q31 multiplier.
pub const FLOAT64_FC: &str = "TFLite's float64 FC";

/// How an op's output (on the reference's own inputs) compares with the
/// reference tensor: every differing element is explained only when the
/// framework emulation reproduces the reference there and the difference is
/// at most 1 LSB (all a rounding cause can produce).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub diff: TensorDiff,
    /// Of `diff.mismatches`, those explained by `cause`.
    pub explained: usize,
    /// The cause, when the op has a framework emulation that differs from the integer path.
    pub cause: Option<&'static str>,
    /// Elements where the emulation equals the reference (of `diff.compared`).
    pub emulation_matches: usize,
    /// The first unexplained elements: (flat index, integer, reference, emulation).
    pub unexplained: Vec<(usize, i8, i8, i8)>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.diff.mismatches == self.explained
    }
}

/// Unexplained elements kept per op (all are counted).
const MAX_UNEXPLAINED: usize = 5;

/// THE per-element rule of `qmac model`: `integer` (what the datapath
/// computes) against the reference, a difference explained only where the
/// framework's own arithmetic (`framework`, when it differs from the integer
/// path) reproduces the reference and the difference is at most 1 LSB.
pub fn judge(
    integer: &[i8],
    framework: Option<(&[i8], &'static str)>,
    reference: &[i8],
) -> Verdict {
    let mut v = Verdict {
        diff: diff(integer, reference),
        cause: framework.map(|(_, c)| c),
        ..Default::default()
    };
    for (i, (&y, &r)) in integer.iter().zip(reference).enumerate() {
        let emu = framework.map_or(y, |(f, _)| f[i]);
        if emu == r {
            v.emulation_matches += 1;
        }
        if y == r {
            continue;
        }
        if framework.is_some() && emu == r && (y as i32 - r as i32).abs() <= 1 {
            v.explained += 1;
        } else if v.unexplained.len() < MAX_UNEXPLAINED {
            v.unexplained.push((i, y, r, emu));
        }
    }
    v
}

/// What one op did.
#[derive(Debug, Clone, PartialEq)]
pub struct OpReport {
    pub index: usize,
    pub name: String,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shape: Vec<usize>,
    pub macs: u64,
    pub backend: &'static str,
    pub beats: u64,
    pub cycles: u64,
    /// RTL output vs the golden integer path (MAC ops with both computed).
    pub rtl_vs_golden: Option<TensorDiff>,
    /// Beat-level failures the co-simulation scoreboard reported.
    pub beat_failures: u64,
    /// This op, run on the reference's own input tensors, against the
    /// reference output tensor: the op judged on its own.
    pub reference: Option<Verdict>,
    /// The end-to-end chain's output of this op against the reference tensor
    /// (differs from `reference` only downstream of an explained difference).
    pub chain: Option<TensorDiff>,
    /// The op also ran on the reference's inputs because the chain's differed.
    pub isolated: bool,
}

impl OpReport {
    /// True when nothing this op produced disagreed with anything unexplained.
    pub fn ok(&self) -> bool {
        self.beat_failures == 0
            && self.rtl_vs_golden.is_none_or(|d| d.mismatches == 0)
            && self.reference.as_ref().is_none_or(Verdict::passed)
    }
}

/// The final output against `--expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectCheck {
    pub diff: TensorDiff,
    /// When the chain differs: the framework-emulation chain (every MAC op
    /// with the framework's own requantization, every other op as in the
    /// chain) reproduces `--expect` exactly; names the cause and the first op
    /// where the two chains part.
    pub explained_by: Option<String>,
}

impl ExpectCheck {
    pub fn passed(&self) -> bool {
        self.diff.mismatches == 0 || self.explained_by.is_some()
    }
}

/// The result of running one input through a model.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub ops: Vec<OpReport>,
    pub output: QTensor,
    /// The final output vs `--expect`.
    pub expect: Option<ExpectCheck>,
    /// Reference tensors compared (intermediate + final).
    pub tensors_compared: usize,
    pub failure_messages: Vec<String>,
    /// Differences that passed, each with its verified cause.
    pub notes: Vec<String>,
    /// The MAC ops as qcase cases (input filled, `output` = the reference
    /// tensor when one was given), for `--dump-cases`.
    pub cases: Vec<Case>,
    /// The co-simulation statistics of every RTL layer, merged.
    pub rtl_stats: crate::cosim::scoreboard::RunStats,
}

impl ModelRun {
    pub fn passed(&self) -> bool {
        self.ops.iter().all(OpReport::ok) && self.expect.as_ref().is_none_or(ExpectCheck::passed)
    }
    /// The first op whose output disagreed with the reference (unexplained)
    /// or whose RTL disagreed with the golden model.
    pub fn first_divergence(&self) -> Option<&OpReport> {
        self.ops.iter().find(|o| !o.ok())
    }
    pub fn macs(&self) -> u64 {
        self.ops.iter().map(|o| o.macs).sum()
    }
    pub fn beats(&self) -> u64 {
        self.ops.iter().map(|o| o.beats).sum()
    }
    pub fn cycles(&self) -> u64 {
        self.ops.iter().map(|o| o.cycles).sum()
    }
}

/// The reference tensor of tensor `index`: the npz key `t<index>_<name>`
/// (names are sanitised and may be truncated, so the `t<index>_` prefix decides).
pub fn reference_for(refs: &BTreeMap<String, Int8Array>, index: usize) -> Option<&Int8Array> {
    // Keys with the prefix are contiguous and sort at or after it.
    let prefix = format!("t{index}_");
    refs.range(prefix.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
}

/// Options of a run.
pub struct ModelRunOptions<'a> {
    pub backend: MacBackend,
    pub cosim: RunOptions,
    /// Reference tensors and the file they came from (named in messages).
    pub reference: Option<(&'a Path, &'a BTreeMap<String, Int8Array>)>,
    pub expect: Option<&'a Int8Array>,
    /// Called after every op (progress).
    pub on_op: &'a (dyn Fn(&OpReport) + Sync),
}

fn no_progress(_: &OpReport) {}

impl ModelRunOptions<'_> {
    /// Everything on the golden model, no references, no progress.
    pub fn golden() -> ModelRunOptions<'static> {
        ModelRunOptions {
            backend: MacBackend::Golden,
            cosim: RunOptions {
                seed: 1,
                backpressure: crate::cosim::transaction::Backpressure::NONE,
                replay: String::new(),
                stop_on_failure: false,
                coverage: false,
            },
            reference: None,
            expect: None,
            on_op: &no_progress,
        }
    }
}

fn check_shape(label: &Path, what: &str, got: &[usize], want: &[usize]) -> Result<(), InputError> {
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    if got == want || squeeze(got) == squeeze(want) {
        Ok(())
    } else {
        Err(InputError::new(
            label,
            what,
            format!("shape {got:?} does not match the model's {want:?}"),
        ))
    }
}

/// A MAC op on the golden model: the integer path (what the datapath
/// computes: TFLite's double rounding) and, when the framework requantizes
/// otherwise (TFLite's float64 FC), the framework's own output.
struct GoldenMac {
    case: Case,
    acc: ndarray::Array4<i32>,
    integer: Vec<i8>,
    framework: Option<Vec<i8>>,
}

fn golden_mac(template: &Case, input: &QTensor) -> Result<GoldenMac> {
    let mut case = template.clone();
    case.input = input.data.iter().map(|&v| v as i32).collect();
    let g = crate::golden::layer::run(&case)?;
    let own: Vec<i8> = g.output.iter().map(|&v| v as i8).collect();
    let (integer, framework) = if case.rounding.is_integer() {
        (own, None)
    } else {
        let int = crate::golden::layer::requantize(
            &case,
            &g.acc,
            crate::golden::layer::integer_rounding(case.rounding),
            32,
        );
        (int.iter().map(|&v| v as i8).collect(), Some(own))
    };
    Ok(GoldenMac {
        case,
        acc: g.acc,
        integer,
        framework,
    })
}

/// A non-MAC op on the golden model (TFLite's reference integer kernels).
fn golden_op(plan: &Plan, step: &Step, args: &[&QTensor]) -> Result<QTensor> {
    let here = format!("op {} ({})", step.index, step.name);
    let op_err = |e: ops::OpError| InputError::new(&plan.path, &here, e.to_string());
    let oq = step.output_quant;
    let out = match &step.kind {
        StepKind::Mac(_) => unreachable!("MAC ops go through golden_mac"),
        StepKind::Add(a) => ops::add(args[0], args[1], oq, *a).map_err(op_err)?,
        StepKind::AveragePool(p) => ops::average_pool_2d(args[0], p, oq).map_err(op_err)?,
        StepKind::MaxPool(p) => ops::max_pool_2d(args[0], p, oq).map_err(op_err)?,
        StepKind::Mean { axes, keep_dims } => {
            ops::mean(args[0], axes, *keep_dims, oq).map_err(op_err)?
        }
        StepKind::Pad { paddings, value } => match value {
            Some(v) => ops::pad_v2(args[0], paddings, *v, oq).map_err(op_err)?,
            None => ops::pad(args[0], paddings, oq).map_err(op_err)?,
        },
        StepKind::Reshape(shape) => ops::reshape(args[0], shape, oq).map_err(op_err)?,
        StepKind::Softmax(beta) => ops::softmax(args[0], *beta, oq).map_err(op_err)?,
        StepKind::Quantize => ops::quantize(args[0], oq).map_err(op_err)?,
        StepKind::Concatenation { axis, activation } => {
            ops::concatenation(args, *axis, *activation, oq).map_err(op_err)?
        }
    };
    if out.shape.iter().product::<usize>() != step.output_shape.iter().product::<usize>() {
        bail!(InputError::new(
            &plan.path,
            &here,
            format!(
                "computes shape {:?} but the model declares {:?}",
                out.shape, step.output_shape
            )
        ));
    }
    Ok(QTensor::new(step.output_shape.clone(), out.data, oq))
}

/// A golden step's integer output, framework output (when it differs in
/// kind) and, for a MAC op, its golden layer.
type StepOut = (Vec<i8>, Option<Vec<i8>>, Option<GoldenMac>);

/// One op on the golden model: its integer output and, for a MAC op whose
/// framework requantizes otherwise, the framework's output with its cause.
fn golden_step(plan: &Plan, step: &Step, args: &[&QTensor]) -> Result<StepOut> {
    match &step.kind {
        StepKind::Mac(t) => {
            let g = golden_mac(t, args[0])?;
            Ok((g.integer.clone(), g.framework.clone(), Some(g)))
        }
        _ => Ok((golden_op(plan, step, args)?.data, None, None)),
    }
}

/// `[d0, d1, …]` of flat index `i` in `shape`.
fn coords(shape: &[usize], mut i: usize) -> String {
    let mut c = vec![0; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            c[k] = i % d;
            i /= d;
        }
    }
    format!(
        "[{}]",
        c.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Run one input through the plan.
///
/// The *chain* runs every op on the previous ops' outputs, MAC ops on the
/// RTL (or the golden integer path): it is what the hardware computes end to
/// end. With reference tensors each op is also judged on its own: on the
/// reference's own input tensors (the chain's, as long as the chain agrees
/// with the reference), its integer output against the reference output,
/// through [`judge`], so an explained difference never makes a later op
/// fail. The final output is checked against `--expect`; a chain that differs
/// passes only when the framework-emulation chain (TFLite's float64 FC)
/// reproduces `--expect` exactly.
pub fn run(
    plan: &Plan,
    input_path: &Path,
    input: &Int8Array,
    dut: Option<&mut Dut>,
    opt: &ModelRunOptions<'_>,
) -> Result<ModelRun> {
    check_shape(input_path, "array", &input.shape, &plan.input_shape)?;
    let mut dut = dut;
    if opt.backend != MacBackend::Golden && dut.is_none() {
        bail!("the rtl backend needs a Verilated model");
    }
    let mut values: Vec<Option<QTensor>> = vec![None; plan.tensor_names.len()];
    for (i, t) in &plan.constants {
        values[*i] = Some(t.clone());
    }
    values[plan.input] = Some(QTensor::new(
        plan.input_shape.clone(),
        input.data.clone(),
        plan.input_quant,
    ));
    let is_constant = |i: usize| plan.constants.iter().any(|(k, _)| *k == i);
    // The framework-emulation chain, kept only once it parts from the chain:
    // (its tensors, the op where it parted, the cause).
    let mut emulation: Option<(Vec<Option<QTensor>>, usize, &'static str)> = None;
    let mut reports = Vec::new();
    let mut messages = Vec::new();
    let mut notes = Vec::new();
    let mut cases = Vec::new();
    let mut compared = 0;
    let mut rtl_stats = crate::cosim::scoreboard::RunStats::default();
    let mult_w = if opt.backend == MacBackend::Golden {
        32
    } else {
        crate::cosim::dut::built_mult_w()
    };
    for step in &plan.steps {
        let args: Vec<&QTensor> = step
            .inputs
            .iter()
            .map(|&i| values[i].as_ref().expect("plan checked the data flow"))
            .collect();
        let here = format!("op {} ({})", step.index, step.name);
        let mut report = OpReport {
            index: step.index,
            name: step.name.clone(),
            input_shapes: args.iter().map(|t| t.shape.clone()).collect(),
            output_shape: step.output_shape.clone(),
            macs: step.macs(),
            backend: "golden",
            beats: 0,
            cycles: 0,
            rtl_vs_golden: None,
            beat_failures: 0,
            reference: None,
            chain: None,
            isolated: false,
        };
        let oq = step.output_quant;
        // 1. The chain.
        let (golden_int, framework, mac) = golden_step(plan, step, &args)?;
        let mut chain_out = golden_int.clone();
        if let (Some(g), true) = (&mac, opt.backend != MacBackend::Golden) {
            let dut = dut.as_deref_mut().expect("checked above");
            let cosim = RunOptions {
                // Each op's backpressure stream is its own: (seed, op index).
                seed: crate::cosim::transaction::stream_seed(opt.cosim.seed, step.index as u64),
                ..opt.cosim.clone()
            };
            let rtl = crate::cosim::lower::run_layer(&g.case, dut, &cosim)?;
            let rtl_out: Vec<i8> = rtl.output.iter().map(|&v| v as i8).collect();
            // The one RTL layer rule: outputs and accumulators bit-exact.
            let rv = crate::verdict::rtl_layer(&g.case, &g.acc, &rtl, mult_w);
            let expected: Vec<i8> =
                crate::golden::layer::requantize_datapath(&g.case, &g.acc, mult_w)
                    .iter()
                    .map(|&v| v as i8)
                    .collect();
            let d = diff(&rtl_out, &expected);
            if let Some(i) = rv.accs.first {
                messages.push(format!(
                    "{here}: RTL accumulators differ from the golden model on {} of {} outputs (first at {} = flat index {i}: rtl {} golden {})",
                    rv.accs.mismatches,
                    rv.accs.compared,
                    coords(&step.output_shape, i),
                    rtl.acc[i],
                    g.acc.as_slice().expect("standard layout")[i]
                ));
            }
            report.backend = if opt.backend == MacBackend::Both {
                "rtl+golden"
            } else {
                "rtl"
            };
            report.beats = rtl.stats.beats;
            report.cycles = rtl.stats.cycles;
            report.beat_failures = rtl.stats.failure_count + u64::from(rv.accs.mismatches > 0);
            report.rtl_vs_golden = Some(d);
            rtl_stats.merge(&rtl.stats);
            for f in &rtl.stats.failures {
                messages.push(format!("{here}: {}", f.message));
            }
            if let Some(i) = d.first {
                messages.push(format!(
                    "{here}: RTL output differs from the golden integer path on {} of {} outputs (first at {} = flat index {i}: rtl {} golden {})",
                    d.mismatches,
                    d.compared,
                    coords(&step.output_shape, i),
                    rtl_out[i],
                    expected[i]
                ));
            }
            chain_out = rtl_out;
        }
        // 2. The framework-emulation chain (only where it parts from the chain).
        let emu_out: Vec<i8> = match &mut emulation {
            Some((ev, _, _)) => {
                let eargs: Vec<&QTensor> = step
                    .inputs
                    .iter()
                    .map(|&i| ev[i].as_ref().expect("plan checked the data flow"))
                    .collect();
                let (int, fw, _) = golden_step(plan, step, &eargs)?;
                fw.unwrap_or(int)
            }
            None => framework.clone().unwrap_or_else(|| golden_int.clone()),
        };
        if emulation.is_none() && emu_out != golden_int {
            emulation = Some((values.clone(), step.index, FLOAT64_FC));
        }
        // 3. The op judged on its own, on the reference's input tensors.
        let reference = opt
            .reference
            .and_then(|(f, r)| reference_for(r, step.output).map(|r| (f, r)));
        let mut case_input: Option<QTensor> = None;
        if let Some((file, r)) = reference {
            if r.data.len() != golden_int.len() {
                bail!(InputError::new(
                    file,
                    format!("member t{}_*", step.output),
                    format!(
                        "has shape {:?}, but tensor {} (output of {here}) of {} is {:?}",
                        r.shape,
                        step.output,
                        plan.path.display(),
                        step.output_shape
                    )
                ));
            }
            let (_, refs) = opt.reference.expect("reference given");
            let ref_args: Vec<QTensor> = step
                .inputs
                .iter()
                .zip(&args)
                .map(|(&i, a)| match reference_for(refs, i) {
                    Some(t) if !is_constant(i) && t.data.len() == a.data.len() => {
                        QTensor::new(a.shape.clone(), t.data.clone(), a.quant)
                    }
                    _ => (*a).clone(),
                })
                .collect();
            let same = ref_args.iter().zip(&args).all(|(x, a)| x.data == a.data);
            let (int, fw) = if same {
                (chain_out.clone(), framework.clone())
            } else {
                report.isolated = true;
                let refs_ref: Vec<&QTensor> = ref_args.iter().collect();
                let (int, fw, _) = golden_step(plan, step, &refs_ref)?;
                (int, fw)
            };
            let v = judge(&int, fw.as_deref().map(|f| (f, FLOAT64_FC)), &r.data);
            compared += 1;
            if !v.passed() {
                messages.push(format!(
                    "{here}: output tensor t{} differs from the reference on {} of {} values, max|diff| {}, {} unexplained{}",
                    step.output,
                    v.diff.mismatches,
                    v.diff.compared,
                    v.diff.max_abs,
                    v.diff.mismatches - v.explained,
                    if same { "" } else { " (judged on the reference's input tensors)" }
                ));
            }
            for &(i, y, t, e) in &v.unexplained {
                messages.push(format!(
                    "{here}:   t{} element {} (flat {i}): got {y}, reference {t}{}: UNEXPLAINED",
                    step.output,
                    coords(&step.output_shape, i),
                    v.cause
                        .map_or(String::new(), |c| format!(", {c} emulation {e}"))
                ));
            }
            let unexplained = v.diff.mismatches - v.explained;
            if unexplained > v.unexplained.len() {
                messages.push(format!(
                    "{here}: … {} more unexplained differences in t{} (of {}, max|diff| {})",
                    unexplained - v.unexplained.len(),
                    step.output,
                    v.diff.compared,
                    v.diff.max_abs
                ));
            }
            if v.explained > 0 {
                notes.push(format!(
                    "{here}: integer path differs on {} of {} outputs (max|diff| {}), {} explained by {} (its emulation = reference on {} of {}){}",
                    v.diff.mismatches,
                    v.diff.compared,
                    v.diff.max_abs,
                    v.explained,
                    v.cause.unwrap_or("?"),
                    v.emulation_matches,
                    v.diff.compared,
                    if report.isolated { "; judged on the reference's input tensors" } else { "" }
                ));
            } else if report.isolated && v.passed() {
                notes.push(format!(
                    "{here}: judged on the reference's input tensors (an explained difference upstream): equal to the reference"
                ));
            }
            let chain = diff(&chain_out, &r.data);
            report.chain = Some(chain);
            report.reference = Some(v);
            if !same {
                case_input = ref_args.into_iter().next();
            }
        }
        if let Some(g) = mac {
            let mut case = g.case;
            if let Some(t) = case_input {
                case.input = t.data.iter().map(|&v| v as i32).collect();
            }
            case.output = reference.map(|(_, r)| r.data.iter().map(|&v| v as i32).collect());
            cases.push(case);
        }
        (opt.on_op)(&report);
        reports.push(report);
        if let Some((ev, _, _)) = &mut emulation {
            ev[step.output] = Some(QTensor::new(step.output_shape.clone(), emu_out, oq));
        }
        values[step.output] = Some(QTensor::new(step.output_shape.clone(), chain_out, oq));
    }
    let output = values[plan.output]
        .take()
        .expect("plan checked the output is produced");
    let expect = match opt.expect {
        Some(e) => {
            if e.data.len() != output.data.len() {
                bail!(InputError::new(
                    "--expect",
                    "array",
                    format!(
                        "shape {:?} does not match the model output {:?}",
                        e.shape, output.shape
                    )
                ));
            }
            let d = diff(&output.data, &e.data);
            let mut explained_by = None;
            if let Some(i) = d.first {
                let emulated = emulation
                    .as_ref()
                    .and_then(|(ev, k, cause)| ev[plan.output].as_ref().map(|t| (t, k, cause)));
                match emulated {
                    Some((t, k, cause)) if t.data == e.data => {
                        let why = format!(
                            "the {cause} emulation chain (parting from the integer chain at op {k}) reproduces --expect on all {} values",
                            d.compared
                        );
                        notes.push(format!(
                            "final output differs from --expect on {} of {} values (max|diff| {}); explained: {why}",
                            d.mismatches, d.compared, d.max_abs
                        ));
                        explained_by = Some(why);
                    }
                    _ => messages.push(format!(
                        "final output differs from --expect on {} of {} values (first at {} = flat index {i}: got {} expected {}){}",
                        d.mismatches,
                        d.compared,
                        coords(&output.shape, i),
                        output.data[i],
                        e.data[i],
                        if emulation.is_some() {
                            "; the framework-emulation chain does not reproduce --expect either: UNEXPLAINED"
                        } else {
                            ""
                        }
                    )),
                }
            }
            Some(ExpectCheck {
                diff: d,
                explained_by,
            })
        }
        None => None,
    };
    Ok(ModelRun {
        ops: reports,
        output,
        expect,
        tensors_compared: compared,
        failure_messages: messages,
        notes,
        cases,
        rtl_stats,
    })
}
