//! `qmac quantize`: M0 / shift from float scales, exactly as TFLite derives them.

use anyhow::Result;
use serde::Serialize;

use qmac::arith::requant::{activation_bounds, narrow_multiplier, quantize_multiplier, Activation};
use qmac::arith::DType;
use qmac::error::InputError;

/// The long `--help` text of `qmac quantize`.
pub const LONG_ABOUT: &str = "Prints, for every output channel, the fixed-point multiplier M0 and the shift e that \
TFLite's QuantizeMultiplier derives from M = S_in*S_filter/S_out (frexp, round half away from zero, \
the 2^31 carry, the flush to zero when the frexp exponent is below -31 (M < 2^-32) and, for single rounding, the clamp of e > 30), the seed tool's \
n = -e, the multiplier the hardware then really applies (M0*2^(e-(W-1))) and its relative error vs M. \
With --m0-bits W < 32 the Q31 multiplier is narrowed to W bits (docs/contract.md section 4).";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input (activation) scale S_x
    #[arg(long, allow_negative_numbers = true)]
    pub input_scale: f64,
    /// Filter scale(s) S_w: one for per-tensor, comma-separated for per-channel
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        allow_negative_numbers = true
    )]
    pub filter_scale: Vec<f64>,
    /// Output scale S_y
    #[arg(long, allow_negative_numbers = true)]
    pub output_scale: f64,
    /// Rounding scheme the multiplier is for (single clamps e > 30)
    #[arg(long, value_enum, default_value = "double")]
    pub rounding: RoundingArg,
    /// Multiplier width W in bits (32 = TFLite Q31; 16/18 fit one DSP slice)
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..=32))]
    pub m0_bits: u32,
    /// Fused activation: prints the clamp bounds too (needs --output-zero-point)
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Output zero point (for the activation bounds; needs --activation)
    #[arg(long, allow_negative_numbers = true, requires = "activation")]
    pub output_zero_point: Option<i32>,
    /// Output type (for the activation bounds)
    #[arg(long, value_enum, default_value = "int8")]
    pub output_dtype: DTypeArg,
    /// Form S_x·S_w in float32 before dividing by S_y, as TFLite's per-tensor
    /// FULLY_CONNECTED kernel does (GetQuantizedConvolutionMultipler)
    #[arg(long)]
    pub float32_product: bool,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundingArg {
    Double,
    Single,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ActivationArg {
    None,
    Relu,
    Relu6,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DTypeArg {
    Int8,
    Uint8,
}

impl From<DTypeArg> for DType {
    fn from(d: DTypeArg) -> Self {
        match d {
            DTypeArg::Int8 => DType::Int8,
            DTypeArg::Uint8 => DType::Uint8,
        }
    }
}

/// One channel of the table.
#[derive(Debug, Serialize, PartialEq)]
pub struct Channel {
    pub channel: usize,
    pub real_multiplier: f64,
    pub m0: i32,
    pub shift: i32,
    pub n: i32,
    pub effective_multiplier: f64,
    pub relative_error: f64,
}

#[derive(Debug, Serialize)]
struct Output {
    rounding: &'static str,
    m0_bits: u32,
    channels: Vec<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act_min: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    act_max: Option<i32>,
}

fn check_scale(flag: &str, index: Option<usize>, v: f64) -> Result<(), InputError> {
    if !(v.is_finite() && v > 0.0) {
        let pos = match index {
            Some(i) => format!("value {}", i + 1),
            None => "value".to_string(),
        };
        return Err(InputError::new(
            flag,
            pos,
            format!("scale must be a positive finite number, got {v}"),
        ));
    }
    Ok(())
}

/// The table rows for the given scales.
pub fn channels(
    sx: f64,
    sw: &[f64],
    sy: f64,
    single: bool,
    m0_bits: u32,
    float32_product: bool,
) -> Result<Vec<Channel>, InputError> {
    sw.iter()
        .enumerate()
        .map(|(c, &s)| {
            let real = qmac::arith::requant::tflite_real_multiplier(sx, s, sy, float32_product);
            let at = || {
                if sw.len() > 1 {
                    format!("value {} (channel {c})", c + 1)
                } else {
                    "value".to_string()
                }
            };
            if !(real.is_finite() && real >= 0.0) {
                return Err(InputError::new(
                    "--filter-scale",
                    at(),
                    format!(
                        "the real multiplier S_x*S_w/S_y = {sx:e}*{s:e}/{sy:e} = {real} is not a finite number"
                    ),
                ));
            }
            let (m0, e) = quantize_multiplier(real, single);
            if e > qmac::arith::requant::SHIFT_MAX {
                return Err(InputError::new(
                    "--filter-scale",
                    at(),
                    format!(
                        "the real multiplier {real:e} needs shift e = {e}, above the datapath's maximum {} (M must be below 2^{})",
                        qmac::arith::requant::SHIFT_MAX,
                        qmac::arith::requant::SHIFT_MAX
                    ),
                ));
            }
            let (m0, e) = narrow_multiplier(m0, e, m0_bits);
            let eff = m0 as f64 * 2f64.powi(e - (m0_bits as i32 - 1));
            Ok(Channel {
                channel: c,
                real_multiplier: real,
                m0,
                shift: e,
                n: -e,
                effective_multiplier: eff,
                relative_error: if real == 0.0 {
                    0.0
                } else {
                    (eff - real) / real
                },
            })
        })
        .collect()
}

pub fn run(a: &Args) -> Result<()> {
    check_scale("--input-scale", None, a.input_scale)?;
    check_scale("--output-scale", None, a.output_scale)?;
    for (i, &s) in a.filter_scale.iter().enumerate() {
        check_scale("--filter-scale", Some(i), s)?;
    }
    let single = a.rounding == RoundingArg::Single;
    let rows = channels(
        a.input_scale,
        &a.filter_scale,
        a.output_scale,
        single,
        a.m0_bits,
        a.float32_product,
    )?;
    let bounds = match a.activation {
        None => None,
        Some(act) => {
            let zp = a.output_zero_point.ok_or_else(|| {
                InputError::new(
                    "--activation",
                    "value",
                    "needs --output-zero-point to compute the clamp bounds",
                )
            })?;
            let dtype: DType = a.output_dtype.into();
            let (lo, hi) = dtype.range();
            if zp < lo || zp > hi {
                return Err(InputError::new(
                    "--output-zero-point",
                    "value",
                    format!("{zp} is outside the {} range [{lo}, {hi}]", dtype.name()),
                )
                .into());
            }
            let act = match act {
                ActivationArg::None => Activation::None,
                ActivationArg::Relu => Activation::Relu,
                ActivationArg::Relu6 => Activation::Relu6,
            };
            Some(activation_bounds(act, zp, a.output_scale as f32, dtype))
        }
    };
    if a.json {
        let out = Output {
            rounding: if single { "single" } else { "double" },
            m0_bits: a.m0_bits,
            channels: rows,
            act_min: bounds.map(|b| b.0),
            act_max: bounds.map(|b| b.1),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:>7}  {:>22}  {:>11}  {:>5}  {:>4}  {:>22}  {:>10}",
        "channel", "real M", "M0", "shift", "n", "effective M", "rel.error"
    );
    for r in &rows {
        println!(
            "{:>7}  {:>22.15e}  {:>11}  {:>5}  {:>4}  {:>22.15e}  {:>10.2e}",
            r.channel,
            r.real_multiplier,
            r.m0,
            r.shift,
            r.n,
            r.effective_multiplier,
            r.relative_error
        );
    }
    if let Some((lo, hi)) = bounds {
        println!("activation bounds: act_min = {lo}, act_max = {hi}");
    }
    Ok(())
}
