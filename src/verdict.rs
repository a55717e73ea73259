//! The verdict rules, each written once and called by `qmac layer`,
//! `qmac regress` and `qmac model`:
//!
//! * [`diff`]: how two tensors compare (count, max |diff|, first index).
//! * [`rtl_layer`]: the RTL against the golden integer path of a layer:
//!   every output and every accumulator bit-exact, and no beat-level
//!   scoreboard failure.
//! * [`layer_reference`]: a layer case's reference output (TFLite's or
//!   PyTorch's) against the golden model, by the case's rounding mode; every
//!   difference of the integer path is either explained by a *verified*
//!   cause that can produce it, or fails the case.
//! * [`LayerVerdict`]: both together, the one answer to "did this layer pass".
//! * [`judge`]: one tensor of a whole-model run against the reference, each
//!   difference explained by the framework emulation or not ([`Verdict`]).

use ndarray::Array4;

use crate::cosim::lowering::RtlLayer;
use crate::formats::qcase::{Case, Rounding};
use crate::golden::layer::LayerResult;

/// Comparison of two tensors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diff {
    pub compared: usize,
    pub mismatches: usize,
    pub max_abs: i64,
    /// Flat index of the first mismatch.
    pub first: Option<usize>,
}

/// Compare `a` with `b` element by element (over the shorter length).
pub fn diff<T: Copy + Into<i64>>(a: &[T], b: &[T]) -> Diff {
    let mut d = Diff {
        compared: a.len().min(b.len()),
        ..Default::default()
    };
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let (x, y): (i64, i64) = (x.into(), y.into());
        if x != y {
            d.mismatches += 1;
            d.max_abs = d.max_abs.max((x - y).abs());
            d.first.get_or_insert(i);
        }
    }
    d
}

/// The RTL run of a layer against the golden integer path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtlVerdict {
    /// RTL outputs vs the golden integer path at the built multiplier width.
    pub outputs: Diff,
    /// RTL accumulators vs the golden accumulators.
    pub accs: Diff,
    /// Beat-level failures of the co-simulation scoreboard.
    pub beat_failures: u64,
}

impl RtlVerdict {
    pub fn passed(&self) -> bool {
        self.outputs.mismatches == 0 && self.accs.mismatches == 0 && self.beat_failures == 0
    }
}

/// THE rule for an RTL layer run: every output equals the golden integer
/// path at the built multiplier width (`mult_w`), every accumulator the
/// golden accumulator, and the scoreboard failed no beat.
pub fn rtl_layer(case: &Case, golden_acc: &Array4<i32>, rtl: &RtlLayer, mult_w: u32) -> RtlVerdict {
    let int_out = crate::golden::layer::requantize_datapath(case, golden_acc, mult_w);
    RtlVerdict {
        outputs: diff(&rtl.output, int_out.as_slice().expect("standard layout")),
        accs: diff(&rtl.acc, golden_acc.as_slice().expect("standard layout")),
        beat_failures: rtl.stats.failure_count,
    }
}

/// A layer case's reference output against the golden model.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferenceVerdict {
    /// An integer case (double / single rounding): the golden model must
    /// equal the reference exactly.
    Integer { golden: Diff },
    /// A TFLite `float64` case: the golden float64 emulation must equal the
    /// reference exactly; the integer path's differences are explained by
    /// TFLite's float64 requantization when the emulation reproduces the
    /// reference there (it does, or `emulation` fails) and they are 1 LSB.
    Float64 {
        emulation: Diff,
        integer: Diff,
        explained: usize,
    },
    /// A PyTorch case: parameters checked against the float parameters, each
    /// integer-vs-PyTorch difference explained by a verified cause.
    Torch(crate::golden::pytorch::Comparison),
}

impl ReferenceVerdict {
    pub fn passed(&self) -> bool {
        match self {
            ReferenceVerdict::Integer { golden } => golden.mismatches == 0,
            ReferenceVerdict::Float64 {
                emulation,
                integer,
                explained,
            } => emulation.mismatches == 0 && integer.mismatches == *explained,
            ReferenceVerdict::Torch(c) => c.passed(),
        }
    }
}

/// THE rule for a layer case's reference output (see [`ReferenceVerdict`]).
/// `None` when the case has no reference output.
pub fn layer_reference(
    case: &Case,
    golden: &LayerResult,
) -> Result<Option<ReferenceVerdict>, crate::error::InputError> {
    let Some(reference) = case.output.as_deref() else {
        return Ok(None);
    };
    let golden_out = golden.output.as_slice().expect("standard layout");
    Ok(Some(match case.rounding {
        Rounding::Double | Rounding::Single => ReferenceVerdict::Integer {
            golden: diff(golden_out, reference),
        },
        Rounding::Float64 => {
            let int_out = crate::golden::layer::requantize(
                case,
                &golden.acc,
                crate::golden::layer::integer_rounding(case.rounding),
                32,
            );
            let int_out = int_out.as_slice().expect("standard layout");
            let explained = int_out
                .iter()
                .zip(golden_out)
                .zip(reference)
                .filter(|((&y, &e), &r)| y != r && float64_explained(y, e, r))
                .count();
            ReferenceVerdict::Float64 {
                emulation: diff(golden_out, reference),
                integer: diff(int_out, reference),
                explained,
            }
        }
        Rounding::Fbgemm | Rounding::Onednn => {
            let int_out = crate::golden::layer::requantize(
                case,
                &golden.acc,
                crate::golden::layer::integer_rounding(case.rounding),
                32,
            );
            match crate::golden::pytorch::compare_torch(case, &golden.acc, &int_out)? {
                Some(c) => ReferenceVerdict::Torch(c),
                None => return Ok(None),
            }
        }
    }))
}

/// THE rule for one output of a TFLite `float64` case where the integer
/// (Q31) path gives `integer` and the reference `reference`: the difference
/// is explained by TFLite's float64 requantization when the golden float64
/// emulation reproduces the reference there and it is 1 LSB.
pub fn float64_explained(integer: i32, emulation: i32, reference: i32) -> bool {
    emulation == reference && (integer as i64 - reference as i64).abs() <= 1
}

/// Everything known about one layer: did it pass.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerVerdict {
    pub rtl: Option<RtlVerdict>,
    pub reference: Option<ReferenceVerdict>,
    /// At MULT_W = 32 an integer case's reference must be met by the RTL
    /// too: the RTL output against the reference (narrow builds are another
    /// design point, reported, not judged here).
    pub rtl_vs_reference: Option<Diff>,
}

impl LayerVerdict {
    /// THE answer to "did this layer pass".
    pub fn passed(&self) -> bool {
        self.rtl.as_ref().is_none_or(RtlVerdict::passed)
            && self.reference.as_ref().is_none_or(ReferenceVerdict::passed)
            && self.rtl_vs_reference.is_none_or(|d| d.mismatches == 0)
    }
    /// A run that compared nothing is not a pass.
    pub fn checked_anything(&self) -> bool {
        self.rtl.is_some() || self.reference.is_some()
    }
}

/// The verdict of a layer: its golden result `golden`, its RTL run (if
/// any) at multiplier width `mult_w`, and the case's reference output.
pub fn layer(
    case: &Case,
    golden: &LayerResult,
    rtl: Option<&RtlLayer>,
    mult_w: u32,
) -> Result<LayerVerdict, crate::error::InputError> {
    let rtl_v = rtl.map(|r| rtl_layer(case, &golden.acc, r, mult_w));
    let rtl_vs_reference = match (rtl, case.output.as_deref()) {
        (Some(r), Some(reference)) if case.rounding.is_integer() && mult_w == 32 => {
            Some(diff(&r.output, reference))
        }
        _ => None,
    };
    Ok(LayerVerdict {
        rtl: rtl_v,
        reference: layer_reference(case, golden)?,
        rtl_vs_reference,
    })
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
    pub diff: Diff,
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

/// The rule of a float32 model output (a DEQUANTIZE of the int8 tensor
/// `ints` at `quant`) against the framework's float32 values: equal bit for
/// bit or a mismatch (no cause explains a float output). `max_abs` and the
/// unexplained elements are in int8 steps: the reference value's nearest
/// int8 (`round(r / scale) + zp`, clamped), at least 1 step for a mismatch
/// (a difference below one step, or a NaN / infinite reference, counts 1).
pub fn judge_dequantized(
    ints: &[i8],
    quant: crate::golden::tensor::Quant,
    reference: &[f32],
) -> Verdict {
    let mut v = Verdict {
        diff: Diff {
            compared: ints.len().min(reference.len()),
            ..Default::default()
        },
        ..Default::default()
    };
    for (i, (&q, &r)) in ints.iter().zip(reference).enumerate() {
        let ours = crate::golden::ops::dequantize_value(q, quant);
        if ours.to_bits() == r.to_bits() {
            v.emulation_matches += 1;
            continue;
        }
        let near = if r.is_finite() {
            ((r as f64 / quant.scale as f64).round() + quant.zero_point as f64).clamp(-128.0, 127.0)
                as i8
        } else {
            q
        };
        v.diff.mismatches += 1;
        v.diff.max_abs = v.diff.max_abs.max((q as i64 - near as i64).abs().max(1));
        v.diff.first.get_or_insert(i);
        if v.unexplained.len() < MAX_UNEXPLAINED {
            v.unexplained.push((i, q, near, q));
        }
    }
    v
}

/// Unexplained elements kept per op (all are counted).
const MAX_UNEXPLAINED: usize = 5;

/// THE per-element rule of a whole-model tensor (`qmac model`): `integer` (what the datapath
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
        if framework.is_some() && emu == r && (y as i64 - r as i64).abs() <= 1 {
            v.explained += 1;
        } else if v.unexplained.len() < MAX_UNEXPLAINED {
            v.unexplained.push((i, y, r, emu));
        }
    }
    v
}
