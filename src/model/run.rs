//! One input through a [`Plan`]: the chain (RTL or golden integer path),
//! each op judged on its own against the reference tensors, the final
//! output against `--expect`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use super::plan::{Plan, Step, StepKind};
#[cfg(feature = "rtl")]
use crate::cosim::dut::Dut;
use crate::cosim::lowering::RtlLayer;
#[cfg(feature = "rtl")]
use crate::cosim::RunOptions;
use crate::error::InputError;
use crate::formats::npy::{F32Array, Int8Array};
use crate::formats::qcase::Case;
use crate::golden::ops;
use crate::golden::tensor::QTensor;
use crate::verdict::{diff, judge, judge_dequantized, Diff, Verdict, FLOAT64_FC};

/// What computes a model's MAC ops besides the golden model, which always
/// runs (it is the reference the engine is checked against). The seam
/// between the whole-model run and the co-simulation: the run knows nothing
/// of DUTs, seeds or backpressure.
pub trait MacEngine {
    /// The table's backend column: `golden`, `rtl`, `rtl+golden`.
    fn label(&self) -> &'static str;
    /// The multiplier width of the engine's datapath (32 for the golden model).
    fn mult_w(&self) -> u32;
    /// Run the lowered MAC op `case` (op `op_index` of the model); `None`
    /// when the engine is the golden model alone.
    fn run_layer(&mut self, case: &Case, op_index: usize) -> Result<Option<RtlLayer>>;
}

/// The golden model alone.
pub struct GoldenEngine;

impl MacEngine for GoldenEngine {
    fn label(&self) -> &'static str {
        "golden"
    }
    fn mult_w(&self) -> u32 {
        32
    }
    fn run_layer(&mut self, _: &Case, _: usize) -> Result<Option<RtlLayer>> {
        Ok(None)
    }
}

/// The Verilated RTL: each MAC op lowered onto the datapath and co-simulated
/// with every beat checked; each op's backpressure stream derives from
/// (`cosim.seed`, op index) only.
#[cfg(feature = "rtl")]
pub struct RtlEngine<'a> {
    /// The DUTs a MAC op is split across (one, or one per core: see
    /// [`crate::cosim::lowering::run_layer_on`]).
    pub duts: &'a mut [Dut],
    pub cosim: RunOptions,
    /// Label the ops `rtl+golden` (`--backend both`).
    pub both: bool,
    /// Grows with every MAC the RTL has computed (progress within an op).
    pub progress: Option<&'a std::sync::atomic::AtomicU64>,
}

#[cfg(feature = "rtl")]
impl MacEngine for RtlEngine<'_> {
    fn label(&self) -> &'static str {
        if self.both {
            "rtl+golden"
        } else {
            "rtl"
        }
    }
    fn mult_w(&self) -> u32 {
        crate::cosim::dut::built_mult_w()
    }
    fn run_layer(&mut self, case: &Case, op_index: usize) -> Result<Option<RtlLayer>> {
        let cosim = RunOptions {
            seed: crate::cosim::transaction::stream_seed(self.cosim.seed, op_index as u64),
            ..self.cosim.clone()
        };
        Ok(Some(crate::cosim::lowering::run_layer_on(
            case,
            self.duts,
            &cosim,
            self.progress,
        )?))
    }
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
    /// Dot products (result beats) the RTL computed.
    pub dots: u64,
    /// RTL output vs the golden integer path (MAC ops with both computed).
    pub rtl_vs_golden: Option<Diff>,
    /// Beat-level failures the co-simulation scoreboard reported.
    pub beat_failures: u64,
    /// This op, run on the reference's own input tensors, against the
    /// reference output tensor: the op judged on its own.
    pub reference: Option<Verdict>,
    /// The end-to-end chain's output of this op against the reference tensor
    /// (differs from `reference` only downstream of an explained difference).
    pub chain: Option<Diff>,
    /// The op also ran on the reference's inputs because the chain's differed.
    pub isolated: bool,
    /// Wall time of the op (chain, RTL, and the isolated run if any), seconds.
    pub wall_s: f64,
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
    pub diff: Diff,
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
pub fn reference_for<T>(refs: &BTreeMap<String, T>, index: usize) -> Option<&T> {
    // Keys with the prefix are contiguous and sort at or after it.
    let prefix = format!("t{index}_");
    refs.range(prefix.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
}

/// An expected model output.
pub enum Expected {
    Int8(crate::formats::npy::Int8Array),
    Float32(crate::formats::npy::F32Array),
}

impl Expected {
    /// Parse the expected output of `plan` (float32 when its output 0 is a DEQUANTIZE).
    pub fn parse(
        plan: &Plan,
        path: &std::path::Path,
        bytes: &[u8],
    ) -> Result<Expected, crate::error::InputError> {
        let e = if plan.float_output(plan.output).is_some() {
            Expected::Float32(crate::formats::npy::parse_npy_f32(path, bytes)?)
        } else {
            Expected::Int8(crate::formats::npy::parse_npy_int8(path, bytes)?)
        };
        let shape = match &e {
            Expected::Int8(a) => &a.shape,
            Expected::Float32(a) => &a.shape,
        };
        if let Some(s) = plan.steps.iter().find(|s| s.output == plan.output) {
            check_shape(path, "array", shape, &s.output_shape)?;
        }
        Ok(e)
    }
    /// Read the expected output of `plan` from a `.npy` file.
    pub fn read(plan: &Plan, path: &Path) -> Result<Expected, InputError> {
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
        Expected::parse(plan, path, &bytes)
    }
    pub fn int8(&self) -> Option<&crate::formats::npy::Int8Array> {
        match self {
            Expected::Int8(a) => Some(a),
            Expected::Float32(_) => None,
        }
    }
    pub fn float32(&self) -> Option<&crate::formats::npy::F32Array> {
        match self {
            Expected::Float32(a) => Some(a),
            Expected::Int8(_) => None,
        }
    }
}

/// Options of a run.
pub struct ModelRunOptions<'a> {
    /// Reference tensors and the file they came from (named in messages).
    pub reference: Option<(&'a Path, &'a BTreeMap<String, Int8Array>)>,
    pub expect: Option<&'a Int8Array>,
    /// Float32 reference tensors (DEQUANTIZE outputs), from the same file.
    pub reference_f32: Option<&'a BTreeMap<String, F32Array>>,
    /// The expected final output when it is float32 (a DEQUANTIZE output).
    pub expect_f32: Option<&'a F32Array>,
    /// Called after every op (progress).
    pub on_op: &'a (dyn Fn(&OpReport) + Sync),
    /// Keep every MAC op's case in [`ModelRun::cases`] (for `--dump-cases`;
    /// they hold copies of the op's tensors, so only when asked).
    pub keep_cases: bool,
}

fn no_progress(_: &OpReport) {}

impl ModelRunOptions<'_> {
    /// No references, no progress.
    pub fn plain() -> ModelRunOptions<'static> {
        ModelRunOptions {
            reference: None,
            expect: None,
            reference_f32: None,
            expect_f32: None,
            on_op: &no_progress,
            keep_cases: false,
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
    golden_mac_filled(case)
}

/// int8 MUL as the case the datapath runs: every output one dot product of
/// one tap, `(x₁ − zp₁)·(x₂ − zp₂)` with no bias, requantized by MUL's
/// multiplier (double rounding, MultiplyByQuantizedMultiplier) and clamped to
/// the fused activation. It is a depthwise 1×1 convolution over all N
/// outputs as channels: input x₁, filter x₂ broadcast to the output shape
/// (filter zero point zp₂).
fn mul_case(
    plan: &Plan,
    step: &Step,
    a: &QTensor,
    b: &QTensor,
    act: crate::arith::requant::Activation,
) -> Result<Case> {
    let here = format!("op {} ({})", step.index, step.name);
    let op_err = |e: ops::OpError| InputError::new(&plan.path, &here, e.to_string());
    let shape = &step.output_shape;
    let x1 = ops::broadcast_to("MUL", a, shape).map_err(op_err)?;
    let x2 = ops::broadcast_to("MUL", b, shape).map_err(op_err)?;
    let oq = step.output_quant;
    let (m0, e) = ops::mul_multiplier(a.quant.scale, b.quant.scale, oq.scale);
    let (act_min, act_max) = ops::act_bounds(act, oq);
    let x2: Vec<i32> = x2.iter().map(|&v| v as i32).collect();
    let mut case = crate::golden::eltwise::product_case(
        &plan.path,
        format!(
            "{} op {} MUL as one-tap dot products (qmac model)",
            plan.path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            step.index
        ),
        crate::golden::eltwise::Product {
            dtype: crate::arith::DType::Int8,
            x1: x1.iter().map(|&v| v as i32).collect(),
            zp1: a.quant.zero_point,
            x2: &x2,
            zp2: b.quant.zero_point,
        },
        (m0, e),
        crate::formats::qcase::Rounding::Double,
        oq.zero_point,
        (act_min, act_max),
    );
    case.input_scale = Some(a.quant.scale as f64);
    case.filter_scales = Some(vec![b.quant.scale as f64]);
    case.output_scale = Some(oq.scale as f64);
    case.validate()
        .map_err(|e| InputError::new(&plan.path, &here, e.message))?;
    Ok(case)
}

/// [`golden_mac`] of a case whose input is already filled in.
fn golden_mac_filled(case: Case) -> Result<GoldenMac> {
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
        StepKind::Mac(_) | StepKind::TransposeConv { .. } => {
            unreachable!("MAC ops go through golden_mac")
        }
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
        // The int8 values the float32 output is a one-to-one function of.
        StepKind::Dequantize => args[0].clone(),
        StepKind::Mul(a) => ops::mul(args[0], args[1], oq, *a).map_err(op_err)?,
        StepKind::HardSwish => ops::hard_swish(args[0], oq).map_err(op_err)?,
        StepKind::Lut(true) => ops::logistic(args[0], oq).map_err(op_err)?,
        StepKind::Lut(false) => ops::tanh(args[0], oq).map_err(op_err)?,
        StepKind::Prelu => ops::prelu(args[0], args[1], oq).map_err(op_err)?,
        StepKind::Transpose(perm) => ops::transpose(args[0], perm, oq).map_err(op_err)?,
        StepKind::DepthToSpace => {
            ops::depth_to_space(args[0], &step.output_shape, oq).map_err(op_err)?
        }
        StepKind::SpaceToDepth => {
            ops::space_to_depth(args[0], &step.output_shape, oq).map_err(op_err)?
        }
        StepKind::StridedSlice(p) => ops::strided_slice(args[0], p, oq).map_err(op_err)?,
        StepKind::Resize {
            bilinear: true,
            params,
            out_hw,
        } => ops::resize_bilinear(args[0], *out_hw, *params, oq).map_err(op_err)?,
        StepKind::Resize {
            bilinear: false,
            params,
            out_hw,
        } => ops::resize_nearest_neighbor(args[0], *out_hw, *params, oq).map_err(op_err)?,
        StepKind::Sub(a) => ops::sub(args[0], args[1], oq, *a).map_err(op_err)?,
        StepKind::Relu(hi) => ops::relu(args[0], oq, *hi).map_err(op_err)?,
        StepKind::LeakyRelu(alpha) => ops::leaky_relu(args[0], oq, *alpha).map_err(op_err)?,
        StepKind::MaxMin(max) => {
            ops::maximum_minimum(args[0], args[1], oq, *max).map_err(op_err)?
        }
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
        StepKind::Mul(act) => {
            // TFLite's MUL kernel is the golden result; the same products as
            // a case the datapath runs (one tap per output) must equal it.
            let out = golden_op(plan, step, args)?;
            let g = golden_mac_filled(mul_case(plan, step, args[0], args[1], *act)?)?;
            anyhow::ensure!(
                g.integer == out.data,
                "op {} (MUL): the one-tap dot products differ from TFLite's MUL kernel (a qmac bug)",
                step.index
            );
            Ok((out.data, None, Some(g)))
        }
        StepKind::TransposeConv { case, stride, .. } => {
            let mut t = (**case).clone();
            t.input = crate::model::plan::upsample_for_transpose_conv(
                args[0],
                *stride,
                case.input_zero_point,
            );
            let g = golden_mac_filled(t)?;
            Ok((g.integer.clone(), g.framework.clone(), Some(g)))
        }
        _ => Ok((golden_op(plan, step, args)?.data, None, None)),
    }
}

/// A reference member whose size is not its op output's.
fn member_shape_error(plan: &Plan, step: &Step, file: &Path, shape: &[usize]) -> InputError {
    InputError::new(
        file,
        format!("member t{}_*", step.output),
        format!(
            "has shape {shape:?}, but tensor {} (output of op {} ({})) of {} is {:?}",
            step.output,
            step.index,
            step.name,
            plan.path.display(),
            step.output_shape
        ),
    )
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

/// The model inputs of one sample: an int8 `.npy` for a model of one
/// input, or an `.npz` holding every model input as the member `t<index>_*`
/// (the keying of reference tensors, so a reference `--tensors` file of the
/// sample is also its input file).
pub fn read_inputs(plan: &Plan, path: &Path) -> Result<Vec<Int8Array>, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    parse_inputs(plan, path, &bytes)
}

/// [`read_inputs`] of a file already read (an `.npz` is told by its zip magic).
pub fn parse_inputs(plan: &Plan, path: &Path, bytes: &[u8]) -> Result<Vec<Int8Array>, InputError> {
    if !bytes.starts_with(b"PK\x03\x04") {
        if plan.inputs.len() != 1 {
            return Err(InputError::new(
                path,
                "file",
                format!(
                    "the model has {} inputs ({}): give one .npz per sample with a member t<index>_… for each (e.g. the sample's --tensors file)",
                    plan.inputs.len(),
                    input_list(plan)
                ),
            ));
        }
        return Ok(vec![crate::formats::npy::parse_npy_int8(path, bytes)?]);
    }
    let members = crate::formats::npy::parse_npz_int8(path, bytes)?;
    plan.inputs
        .iter()
        .enumerate()
        .map(|(k, mi)| {
            let prefix = format!("t{}_", mi.tensor);
            let mut named = members.keys().filter(|m| m.starts_with(&prefix));
            if let (Some(a), Some(b)) = (named.next(), named.next()) {
                return Err(InputError::new(
                    path,
                    format!("member t{}_*", mi.tensor),
                    format!("two members for model input {k} (`{a}`, `{b}`): which one is meant is ambiguous"),
                ));
            }
            reference_for(&members, mi.tensor).cloned().ok_or_else(|| {
                InputError::new(
                    path,
                    format!("member t{}_*", mi.tensor),
                    format!(
                        "missing: model input {k} (tensor {} `{}`, shape {:?}); the model's inputs are {}",
                        mi.tensor,
                        mi.name,
                        mi.shape,
                        input_list(plan)
                    ),
                )
            })
        })
        .collect()
}

/// One array per model input, each of its input's shape (an error names
/// `input_path` and the member).
pub fn check_inputs(
    plan: &Plan,
    input_path: &Path,
    inputs: &[Int8Array],
) -> Result<(), InputError> {
    if inputs.len() != plan.inputs.len() {
        return Err(InputError::new(
            input_path,
            "file",
            format!(
                "{} arrays for a model of {} inputs ({})",
                inputs.len(),
                plan.inputs.len(),
                input_list(plan)
            ),
        ));
    }
    for (mi, input) in plan.inputs.iter().zip(inputs) {
        let what = if plan.inputs.len() == 1 {
            "array".to_string()
        } else {
            format!("member t{}_*", mi.tensor)
        };
        check_shape(input_path, &what, &input.shape, &mi.shape)?;
    }
    Ok(())
}

/// `t3 [1, 8, 8, 3], t7 [1, 4, 4, 8]`: the model inputs for messages.
fn input_list(plan: &Plan) -> String {
    plan.inputs
        .iter()
        .map(|i| format!("t{} {:?}", i.tensor, i.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tensor index of a reference member `t<index>_<name>` (`None` for any
/// other name).
fn member_index(key: &str) -> Option<usize> {
    let rest = key.strip_prefix('t')?;
    let end = rest.find('_')?;
    rest[..end].parse().ok().filter(|_| end > 0)
}

/// Reference tensors checked against the plan before anything runs, so no
/// member is skipped unseen: every member is `t<index>_…` of a tensor of the
/// model, one member per tensor, int8 data for an int8 tensor and float32
/// data exactly for a DEQUANTIZE's float32 output; and at least one member is
/// an op's output (a file that matches no op would check nothing).
pub fn check_reference_tensors(
    plan: &Plan,
    file: &Path,
    tensors: &crate::formats::npy::NpzTensors,
) -> Result<(), InputError> {
    let n = plan.tensor_names.len();
    let mut seen: BTreeMap<usize, &str> = BTreeMap::new();
    let members = tensors
        .0
        .keys()
        .map(|k| (k, false))
        .chain(tensors.1.keys().map(|k| (k, true)));
    for (key, float) in members {
        let member = format!("member `{key}`");
        let i = member_index(key).filter(|&i| i < n).ok_or_else(|| {
            InputError::new(
                file,
                &member,
                format!(
                    "not a tensor of {} (members are t<index>_<name>, index below {n})",
                    plan.path.display()
                ),
            )
        })?;
        if let Some(other) = seen.insert(i, key) {
            return Err(InputError::new(
                file,
                &member,
                format!("a second member for tensor {i} (also `{other}`): which one is meant is ambiguous"),
            ));
        }
        match (float, plan.float_output(i).is_some()) {
            (true, false) => {
                return Err(InputError::new(
                    file,
                    &member,
                    format!("float data, but tensor {i} (`{}`) is int8", plan.tensor_names[i]),
                ))
            }
            (false, true) => {
                return Err(InputError::new(
                    file,
                    &member,
                    format!(
                        "integer data, but tensor {i} (`{}`) is a DEQUANTIZE's float32 output, compared bit for bit: float32 data is needed",
                        plan.tensor_names[i]
                    ),
                ))
            }
            _ => {}
        }
    }
    if !plan.steps.iter().any(|s| seen.contains_key(&s.output)) {
        return Err(InputError::new(
            file,
            "members",
            format!(
                "none is the output of an op of {} ({} member(s)): it would check nothing",
                plan.path.display(),
                seen.len()
            ),
        ));
    }
    Ok(())
}

/// Reference tensors of another input would judge every op on their own
/// inputs and pass: the reference's model-input tensors (npz members
/// `t<input>_*`, when present) must be `inputs` themselves.
pub fn check_reference_input(
    plan: &Plan,
    input_path: &Path,
    inputs: &[Int8Array],
    file: &Path,
    refs: &BTreeMap<String, Int8Array>,
) -> Result<(), InputError> {
    for (mi, input) in plan.inputs.iter().zip(inputs) {
        let Some(r) = reference_for(refs, mi.tensor) else {
            continue;
        };
        let member = format!("member t{}_*", mi.tensor);
        check_shape(file, &member, &r.shape, &mi.shape)?;
        if let Some(i) =
            (0..r.data.len().max(input.data.len())).find(|&i| r.data.get(i) != input.data.get(i))
        {
            return Err(InputError::new(
            file,
            member,
            format!(
                "the model input the reference tensors were made from is not {} (differs at element {i}{}): the tensors belong to another input",
                input_path.display(),
                match (r.data.get(i), input.data.get(i)) {
                    (Some(a), Some(b)) => format!(": {a} there, {b} in the input"),
                    _ => format!(": {} values there, {} in the input", r.data.len(), input.data.len()),
                }
            ),
        ));
        }
    }
    Ok(())
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
    inputs: &[Int8Array],
    engine: &mut dyn MacEngine,
    opt: &ModelRunOptions<'_>,
) -> Result<ModelRun> {
    check_inputs(plan, input_path, inputs)?;
    if let Some((file, refs)) = opt.reference {
        check_reference_input(plan, input_path, inputs, file, refs)?;
    }
    let mut values: Vec<Option<QTensor>> = vec![None; plan.tensor_names.len()];
    for (i, t) in &plan.constants {
        values[*i] = Some(t.clone());
    }
    for (mi, input) in plan.inputs.iter().zip(inputs) {
        values[mi.tensor] = Some(QTensor::new(mi.shape.clone(), input.data.clone(), mi.quant));
    }
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
    let mult_w = engine.mult_w();
    for step in &plan.steps {
        let args: Vec<&QTensor> = step
            .inputs
            .iter()
            .map(|&i| values[i].as_ref().expect("plan checked the data flow"))
            .collect();
        let here = format!("op {} ({})", step.index, step.name);
        let op_started = std::time::Instant::now();
        let mut report = OpReport {
            index: step.index,
            name: step.name.clone(),
            input_shapes: args.iter().map(|t| t.shape.clone()).collect(),
            output_shape: step.output_shape.clone(),
            macs: step.macs(),
            backend: "golden",
            beats: 0,
            cycles: 0,
            dots: 0,
            rtl_vs_golden: None,
            beat_failures: 0,
            reference: None,
            chain: None,
            isolated: false,
            wall_s: 0.0,
        };
        let oq = step.output_quant;
        // 1. The chain.
        let (golden_int, framework, mac) = golden_step(plan, step, &args)?;
        let mut chain_out = golden_int.clone();
        let rtl = match &mac {
            Some(g) => engine.run_layer(&g.case, step.index)?,
            None => None,
        };
        if let (Some(g), Some(rtl)) = (&mac, rtl) {
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
            report.backend = engine.label();
            report.beats = rtl.stats.beats;
            report.cycles = rtl.stats.cycles;
            report.dots = rtl.stats.dots;
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
                bail!(member_shape_error(plan, step, file, &r.shape));
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
        // 3b. A float32 output (DEQUANTIZE) against the reference's float32
        // tensor, bit for bit, on the reference's int8 input when it has one.
        if let (StepKind::Dequantize, Some((file, refs)), Some(rf)) =
            (&step.kind, opt.reference, opt.reference_f32)
        {
            if let Some(r) = reference_for(rf, step.output) {
                if r.data.len() != chain_out.len() {
                    bail!(member_shape_error(plan, step, file, &r.shape));
                }
                let src: &[i8] = match reference_for(refs, step.inputs[0]) {
                    Some(t) if t.data.len() == chain_out.len() => &t.data,
                    _ => &chain_out,
                };
                report.isolated = src != chain_out.as_slice();
                let v = judge_dequantized(src, oq, &r.data);
                compared += 1;
                if !v.passed() {
                    messages.push(format!(
                        "{here}: float32 output tensor t{} differs from the reference on {} of {} values (bit for bit){}",
                        step.output,
                        v.diff.mismatches,
                        v.diff.compared,
                        if report.isolated { " (judged on the reference's input tensor)" } else { "" }
                    ));
                }
                for &(i, q, _, _) in &v.unexplained {
                    messages.push(format!(
                        "{here}:   t{} element {} (flat {i}): got {:e} (int8 {q}), reference {:e}: UNEXPLAINED",
                        step.output,
                        coords(&step.output_shape, i),
                        ops::dequantize_value(q, oq),
                        r.data[i]
                    ));
                }
                report.chain = Some(judge_dequantized(&chain_out, oq, &r.data).diff);
                report.reference = Some(v);
            }
        }
        if let Some(g) = mac.filter(|_| opt.keep_cases) {
            let mut case = g.case;
            if let Some(t) = case_input {
                case.input = match &step.kind {
                    StepKind::TransposeConv { stride, .. } => {
                        crate::model::plan::upsample_for_transpose_conv(
                            &t,
                            *stride,
                            case.input_zero_point,
                        )
                    }
                    _ => t.data.iter().map(|&v| v as i32).collect(),
                };
            }
            case.output = reference.map(|(_, r)| r.data.iter().map(|&v| v as i32).collect());
            cases.push(case);
        }
        report.wall_s = op_started.elapsed().as_secs_f64();
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
    let float_quant = plan.float_output(plan.output);
    let emulated = emulation
        .as_ref()
        .and_then(|(ev, k, cause)| ev[plan.output].as_ref().map(|t| (t, *k, *cause)));
    let expect = match (opt.expect, opt.expect_f32) {
        (None, None) => None,
        (None, Some(_)) if float_quant.is_none() => bail!(InputError::new(
            "--expect",
            "array",
            "float data, but the model output is int8"
        )),
        (Some(_), _) if float_quant.is_some() => bail!(InputError::new(
            "--expect",
            "array",
            "int8 data, but the model output is float32 (a DEQUANTIZE): a float32 array is needed"
        )),
        (int8, float32) => {
            let (expect_shape, expect_len) = match (int8, float32) {
                (Some(e), _) => (&e.shape, e.data.len()),
                (None, Some(e)) => (&e.shape, e.data.len()),
                (None, None) => unreachable!("matched above"),
            };
            if expect_len != output.data.len() {
                bail!(InputError::new(
                    "--expect",
                    "array",
                    format!(
                        "shape {expect_shape:?} does not match the model output {:?}",
                        output.shape
                    )
                ));
            }
            // int8: value for value; float32 (a DEQUANTIZE): bit for bit.
            let judge = |t: &QTensor| match (int8, float32, float_quant) {
                (Some(e), _, _) => diff(&t.data, &e.data),
                (None, Some(e), Some(q)) => judge_dequantized(&t.data, q, &e.data).diff,
                _ => unreachable!("matched above"),
            };
            let show = |i: usize| match (int8, float32, float_quant) {
                (Some(e), _, _) => (output.data[i].to_string(), e.data[i].to_string()),
                (None, Some(e), Some(q)) => (
                    format!("{:e}", ops::dequantize_value(output.data[i], q)),
                    format!("{:e}", e.data[i]),
                ),
                _ => unreachable!("matched above"),
            };
            let what = if float32.is_some() {
                "final float32 output"
            } else {
                "final output"
            };
            let d = judge(&output);
            let mut explained_by = None;
            if let Some(i) = d.first {
                // A differing output is explained only when the framework-
                // emulation chain reproduces --expect on every value.
                match emulated {
                    Some((t, k, cause)) if judge(t).mismatches == 0 => {
                        let why = format!(
                            "the {cause} emulation chain (parting from the integer chain at op {k}) reproduces --expect on all {} values",
                            d.compared
                        );
                        notes.push(format!(
                            "{what} differs from --expect on {} of {} values (max|diff| {}); explained: {why}",
                            d.mismatches, d.compared, d.max_abs
                        ));
                        explained_by = Some(why);
                    }
                    _ => {
                        let (got, want) = show(i);
                        messages.push(format!(
                            "{what} differs from --expect on {} of {} values{} (first at {} = flat index {i}: got {got} expected {want}){}",
                            d.mismatches,
                            d.compared,
                            if float32.is_some() { ", bit for bit" } else { "" },
                            coords(&output.shape, i),
                            if emulation.is_some() {
                                "; the framework-emulation chain does not reproduce --expect either: UNEXPLAINED"
                            } else {
                                ""
                            }
                        ))
                    }
                }
            }
            Some(ExpectCheck {
                diff: d,
                explained_by,
            })
        }
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
