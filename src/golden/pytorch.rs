//! The integer datapath against PyTorch's own output on an `fbgemm` case:
//! which outputs differ, by how much, and whether the fbgemm emulation of the
//! golden model (docs/contract.md §5, [`crate::arith::requant::Fbgemm`]) explains each
//! difference, i.e. reproduces PyTorch's value there. A difference it does not
//! explain means the case, the exporter or the emulation is wrong: never
//! waved through.

use ndarray::Array4;

use crate::error::InputError;
use crate::formats::qcase::Case;
use crate::golden::layer::{torch_reference, FloatReference, TorchKernel};

/// Why the integer path and PyTorch round one output differently.
/// (For oneDNN, whose bias is added after scaling, `Tie` and `Float32` are the
/// float-arithmetic causes as well.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The depthwise fast path saturated a tap pair to int16, so PyTorch
    /// requantized a different accumulator.
    Int16Saturation,
    /// TFLite's double rounding: SaturatingRoundingDoublingHighMul rounds to
    /// `high`, then RoundingDivideByPOT by 2^`shift` rounds again (a value
    /// just below .5 can land on a tie and go up).
    DoubleRounding { high: i32, shift: u32 },
    /// The int32 bias round(bias_f / (S_x·S_w)) moves the value across a rounding boundary.
    BiasRounding,
    /// The exact integer product sits on a rounding tie: the integer path
    /// rounds it away from zero (up), fbgemm half to even.
    Tie,
    /// Float32 rounding of the multiplier / accumulator (or the Q31
    /// multiplier's own error) moves a value near .5 across it.
    Float32,
}

impl Cause {
    /// The cause's kind, without the numbers of one output (charts, tallies).
    pub fn label(self) -> &'static str {
        match self {
            Cause::Int16Saturation => "int16 pair saturation",
            Cause::DoubleRounding { .. } => "double rounding",
            Cause::BiasRounding => "int32 bias rounding",
            Cause::Tie => "rounding tie",
            Cause::Float32 => "float32 rounding near .5",
        }
    }

    pub fn describe(self) -> String {
        match self {
            Cause::Int16Saturation => "int16 pair saturation of the depthwise fast path".into(),
            Cause::DoubleRounding { high, shift } => format!(
                "double rounding: SRDHM gives {high}, {high}/2^{shift} = {} rounds again",
                high as f64 / (shift as f64).exp2()
            ),
            Cause::BiasRounding => "int32 bias rounding".into(),
            Cause::Tie => {
                "rounding tie (integer: half away from zero; PyTorch: half to even)".into()
            }
            Cause::Float32 => "float32 multiplier / accumulator rounding near .5".into(),
        }
    }
}

/// One output on which the integer path or the emulation differs from PyTorch.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Flat NHWC index and `[n, h, w, c]`.
    pub index: usize,
    pub coords: [usize; 4],
    /// The integer datapath's accumulator (with the int32 bias) and the bias.
    pub acc: i32,
    pub bias: i32,
    /// The accumulator (without bias) PyTorch's kernel requantized.
    pub kernel_acc: i32,
    /// `(acc − bias + bias_f/(S_x·S_w)) · S_x·S_w/S_y` in f64: the exact real
    /// value before the output zero point.
    pub real: f64,
    pub zp_out: i32,
    /// `acc · M0·2^(e−31)` in f64: the value the integer path rounds.
    pub real_integer: f64,
    /// The integer datapath's output (TFLite double rounding).
    pub integer: i32,
    /// The emulation's last float32 value (fbgemm `xf · M`; oneDNN the
    /// scaled value plus zp_out) and its output.
    pub emulated_value: f32,
    pub emulated: i32,
    pub pytorch: i32,
    pub cause: Cause,
    /// "fbgemm" or "oneDNN".
    pub emulation: &'static str,
}

impl Cause {
    /// The largest |integer − PyTorch| this cause can produce: a rounding
    /// cause moves a value across one rounding boundary (1 LSB); the int16
    /// saturation changes the accumulator itself (any amount).
    pub fn max_lsb(self) -> Option<i64> {
        match self {
            Cause::Int16Saturation => None,
            _ => Some(1),
        }
    }
}

impl Difference {
    /// Explained: the emulation reproduces PyTorch here, and the difference
    /// is one the cause can produce (see [`Cause::max_lsb`]; the int16
    /// saturation only where the emulation saturated this very output).
    pub fn explained(&self) -> bool {
        self.emulated == self.pytorch
            && self
                .cause
                .max_lsb()
                .is_none_or(|m| (self.integer as i64 - self.pytorch as i64).abs() <= m)
    }

    /// Why this output is not explained (when [`Self::explained`] is false).
    pub fn why_unexplained(&self) -> String {
        if self.emulated != self.pytorch {
            "the emulation does not reproduce PyTorch".to_string()
        } else {
            format!(
                "the emulation reproduces PyTorch, but {} cannot move an output by {}: at most {} LSB",
                self.cause.describe(),
                (self.integer as i64 - self.pytorch as i64).abs(),
                self.cause.max_lsb().unwrap_or(0)
            )
        }
    }

    /// The one-line UNEXPLAINED report of this output.
    pub fn unexplained_line(&self) -> String {
        if self.integer == self.pytorch {
            format!(
                "UNEXPLAINED {}: integer {} = PyTorch {}, but the {} emulation gives {} (the emulation does not reproduce PyTorch)",
                self.position(),
                self.integer,
                self.pytorch,
                self.emulation,
                self.emulated
            )
        } else {
            format!(
                "UNEXPLAINED {}: integer {}, PyTorch {}, {} emulation {} ({})",
                self.position(),
                self.integer,
                self.pytorch,
                self.emulation,
                self.emulated,
                self.why_unexplained()
            )
        }
    }

    pub fn position(&self) -> String {
        let [n, h, w, c] = self.coords;
        format!("output {} [n {n}, h {h}, w {w}, c {c}]", self.index)
    }

    /// The `--explain` line: accumulator, exact real value, both roundings.
    pub fn explain(&self) -> String {
        let sat = if self.kernel_acc != self.acc.wrapping_sub(self.bias) {
            format!(", PyTorch's kernel accumulator {} + bias", self.kernel_acc)
        } else {
            String::new()
        };
        format!(
            "{}: acc {} (int32 bias {}{sat}), exact real value {:.7} (+ zp_out {}); integer: acc*M = {:.7} -> y {}; \
             {} float32: {:.7} -> y {}; PyTorch {}: {}",
            self.position(),
            self.acc,
            self.bias,
            self.real,
            self.zp_out,
            self.real_integer,
            self.integer,
            self.emulation,
            self.emulated_value,
            self.emulated,
            self.pytorch,
            if self.explained() {
                format!("explained ({}; verified: the {} emulation reproduces PyTorch here)", self.cause.describe(), self.emulation)
            } else {
                format!("NOT explained: {}", self.why_unexplained())
            }
        )
    }
}

/// The comparison of one fbgemm case.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub kernel: TorchKernel,
    pub outputs: usize,
    /// Outputs where the integer path differs from PyTorch.
    pub differing: usize,
    /// max |integer − PyTorch|.
    pub max_abs: i64,
    /// Of `differing`, those the emulation reproduces.
    pub explained: usize,
    /// Outputs where the emulation reproduces PyTorch (of `outputs`).
    pub emulation_matches: usize,
    /// Every output where the integer path or the emulation differs from
    /// PyTorch, in index order.
    pub details: Vec<Difference>,
    /// Integer parameters (M0 / shift, int32 bias) that are not the ones the
    /// case's float parameters imply: each fails the case.
    pub parameter_errors: Vec<String>,
}

impl Comparison {
    pub fn unexplained(&self) -> impl Iterator<Item = &Difference> {
        self.details.iter().filter(|d| !d.explained())
    }
    /// Every parameter is the one the float parameters imply, the emulation
    /// reproduces PyTorch on every output, and every difference of the
    /// integer path is explained by a cause that can produce it.
    pub fn passed(&self) -> bool {
        self.parameter_errors.is_empty()
            && self.emulation_matches == self.outputs
            && self.explained == self.differing
    }
}

/// The integer parameters of a PyTorch case against its float parameters,
/// derived as scripts/export_torch.py (and a C test of the original tool)
/// derives them: M0 / shift = QuantizeMultiplier(S_x·S_w[c]/S_y) in f64, and
/// the int32 bias = round_half_away(bias_f[c] / (S_x·S_w[c])). One message
/// per wrong value, naming the channel, the value and what it should be.
pub fn check_parameters(case: &Case) -> Vec<String> {
    let mut errs = Vec::new();
    let (Some(sx), Some(sw)) = (case.input_scale, case.filter_scales.as_ref()) else {
        return vec![
            "input_scale and filter_scales are missing: the integer parameters cannot be checked"
                .into(),
        ];
    };
    let channels = if case.multiplier.len() == 1 {
        1
    } else {
        case.out_channels()
    };
    for c in 0..channels {
        let Some(real) = case.real_multiplier(c) else {
            errs.push("output_scale is missing: M0 / shift cannot be checked".into());
            break;
        };
        let want = crate::arith::requant::quantize_multiplier(real, false);
        let got = case.channel_params(c);
        if got != want {
            errs.push(format!(
                "channel {c}: multiplier {} shift {}, but QuantizeMultiplier(S_x*S_w/S_y = {real:e}) gives multiplier {} shift {}",
                got.0, got.1, want.0, want.1
            ));
        }
    }
    if let (Some(b), Some(bf)) = (case.bias.as_ref(), case.bias_float.as_ref()) {
        for c in 0..case.out_channels() {
            let atw = sx * sw[if sw.len() > 1 { c } else { 0 }];
            let want = (bf[c] / atw).round();
            if want != b[c] as f64 {
                errs.push(format!(
                    "channel {c}: int32 bias {}, but round(bias_float / (S_x*S_w) = {:e}) is {want}",
                    b[c],
                    bf[c] / atw
                ));
            }
        }
    }
    errs
}

/// Compare the integer outputs `integer` (from the exact accumulators `acc`,
/// with the int32 bias) with the case's PyTorch `output`, through the
/// emulation of the case's kernel (`fbgemm` or `onednn`). `None` when the case
/// has no output or is not a PyTorch case.
pub fn compare_torch(
    case: &Case,
    acc: &Array4<i32>,
    integer: &Array4<i32>,
) -> Result<Option<Comparison>, InputError> {
    let Some(pt) = case.output.as_deref() else {
        return Ok(None);
    };
    let Some(FloatReference {
        kernel,
        acc: kernel_acc,
        value,
        output: emulated,
    }) = torch_reference(case, acc)?
    else {
        return Ok(None);
    };
    let oc = case.out_channels();
    let [_, oh, ow, _] = case.output_shape;
    let (sx, sw, sy) = (
        case.input_scale.unwrap_or(1.0),
        case.filter_scales.clone().unwrap_or_default(),
        case.output_scale.unwrap_or(1.0),
    );
    let mut cmp = Comparison {
        kernel,
        outputs: pt.len(),
        differing: 0,
        max_abs: 0,
        explained: 0,
        emulation_matches: 0,
        details: Vec::new(),
        parameter_errors: check_parameters(case),
    };
    let (acc, integer, kernel_acc, emulated, value) = (
        acc.as_slice().expect("standard layout"),
        integer.as_slice().expect("standard layout"),
        kernel_acc.as_slice().expect("standard layout"),
        emulated.as_slice().expect("standard layout"),
        value.as_slice().expect("standard layout"),
    );
    for i in 0..pt.len() {
        let (int_y, emu_y, pt_y) = (integer[i], emulated[i], pt[i]);
        if emu_y == pt_y {
            cmp.emulation_matches += 1;
        }
        if int_y != pt_y {
            cmp.differing += 1;
            cmp.max_abs = cmp.max_abs.max((int_y as i64 - pt_y as i64).abs());
        }
        if int_y == pt_y && emu_y == pt_y {
            continue;
        }
        let c = i % oc;
        let s_w = sw
            .get(if sw.len() > 1 { c } else { 0 })
            .copied()
            .unwrap_or(1.0);
        let atw = sx * s_w;
        let m = atw / sy;
        let bias = case.bias_of(c);
        let bias_f = case.bias_float.as_ref().map_or(bias as f64 * atw, |b| b[c]);
        let exact_acc = acc[i].wrapping_sub(bias);
        let (m0, e) = case.channel_params(c);
        let real_integer = acc[i] as f64 * m0 as f64 * (e as f64 - 31.0).exp2();
        let real = (exact_acc as f64 + bias_f / atw) * m;
        let cause = if kernel_acc[i] != exact_acc {
            Cause::Int16Saturation
        } else if crate::arith::requant::multiply_double(acc[i], m0, e, 32) as i64
            != exact_round_half_away(acc[i], m0, e)
        {
            Cause::DoubleRounding {
                high: crate::arith::requant::srdhm(acc[i].wrapping_shl(e.max(0) as u32), m0, 32),
                shift: (-e).max(0) as u32,
            }
        } else if (acc[i] as f64 * m).round() != real.round() {
            Cause::BiasRounding
        } else if is_tie(acc[i], m0, e) {
            Cause::Tie
        } else {
            Cause::Float32
        };
        let pos = i / oc;
        let d = Difference {
            index: i,
            coords: [pos / (oh * ow), pos / ow % oh, pos % ow, c],
            acc: acc[i],
            bias,
            kernel_acc: kernel_acc[i],
            real,
            zp_out: case.output_zero_point,
            real_integer,
            integer: int_y,
            emulated_value: value[i],
            emulated: emu_y,
            pytorch: pt_y,
            cause,
            emulation: kernel.emulation(),
        };
        if int_y != pt_y && d.explained() {
            cmp.explained += 1;
        }
        cmp.details.push(d);
    }
    Ok(Some(cmp))
}

/// `round_half_away(acc · M0 · 2^(e−31))`, exactly (one rounding).
pub(crate) fn exact_round_half_away(acc: i32, m0: i32, e: i32) -> i64 {
    let n = 31 - e;
    let p = acc as i128 * m0 as i128;
    if n < 1 {
        return (p << (-n)) as i64;
    }
    let half = 1i128 << (n - 1);
    let r = if p >= 0 {
        (p + half) >> n
    } else {
        -((-p + half) >> n)
    };
    r as i64
}

/// The exact product `acc · M0 · 2^(e−31)` has a fractional part of exactly 1/2.
pub(crate) fn is_tie(acc: i32, m0: i32, e: i32) -> bool {
    let n = 31 - e;
    if n < 1 {
        return false;
    }
    let p = acc as i128 * m0 as i128;
    p.rem_euclid(1i128 << n) == 1i128 << (n - 1)
}
