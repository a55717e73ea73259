//! Functional coverage: named bins for the corners that matter (docs/contract.md
//! and the datapath's protocol), counted on every checked dot product of a
//! run (regress and fuzz), printed as a table and saved as JSON.
//!
//! Bins are sampled from the stimulus and the golden model (what the DUT was
//! asked to compute), plus the backpressure the C++ driver applied, so the
//! counts of a seed do not depend on `--jobs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::arith::requant::{multiply_double, multiply_single, srdhm, IntRounding};
use crate::arith::DType;
use crate::cosim::dut::BatchResult;
use crate::cosim::transaction::{DotJob, Params};
use crate::error::InputError;

/// Every bin: (name, what hits it).
pub const BINS: &[(&str, &str)] = &[
    ("tie_pos", "an exact rounding tie, acc > 0"),
    ("tie_neg", "an exact rounding tie, acc < 0"),
    (
        "double_ne_single",
        "double and single rounding give different results",
    ),
    ("shift_e_min", "e = -31"),
    ("shift_small_right", "e in -6..-1"),
    ("shift_e_0", "e = 0"),
    ("shift_left", "e > 0 (left shift)"),
    ("shift_e_max", "e = 30"),
    ("m0_2pow30", "M0 = 2^(W-2) (0.5)"),
    ("m0_max", "M0 = 2^(W-1) - 1"),
    ("m0_carry", "M0 from QuantizeMultiplier's 2^31 carry"),
    (
        "srdhm_saturation",
        "SRDHM's INT32_MIN x INT32_MIN saturation",
    ),
    ("acc_near_max", "acc within 2^16 of INT32_MAX"),
    ("acc_near_min", "acc within 2^16 of INT32_MIN"),
    ("acc_overflow", "a partial sum overflowed (sticky flag set)"),
    (
        "long_reduction_wrap",
        "K >= 65 794 taps and the accumulator wrapped",
    ),
    ("dx_pos_255", "x - zp_x = +255"),
    ("dx_neg_255", "x - zp_x = -255"),
    ("w_min", "w = -128"),
    ("u8_zp_0", "uint8 activations, zp_x = 0"),
    ("u8_zp_255", "uint8 activations, zp_x = 255"),
    ("i8_zp_min", "int8 activations, zp_x = -128"),
    ("i8_zp_max", "int8 activations, zp_x = 127"),
    ("clamp_low", "output clamped at act_min"),
    ("clamp_high", "output clamped at act_max"),
    ("clamp_inside", "clamped at a bound inside the type range"),
    ("act_min_eq_max", "act_min = act_max"),
    ("relu_bound", "clamped at act_min = zp_out (ReLU)"),
    (
        "rounding_switch",
        "rounding mode changed between consecutive dot products",
    ),
    (
        "signedness_switch",
        "activation signedness changed between consecutive dot products",
    ),
    (
        "param_reload",
        "parameters reloaded between dot products of one run",
    ),
    ("bp_gap_first", "input gap right before a first beat"),
    ("bp_gap_last", "input gap right before a last beat"),
    ("bp_out_stall", "out_ready low while out_valid"),
    ("bp_long_stall", "a long stall (20..200 cycles)"),
    ("x_double_pos_tie", "double rounding, acc > 0, tie"),
    ("x_double_pos_notie", "double rounding, acc > 0, no tie"),
    ("x_double_neg_tie", "double rounding, acc < 0, tie"),
    ("x_double_neg_notie", "double rounding, acc < 0, no tie"),
    ("x_single_pos_tie", "single rounding, acc > 0, tie"),
    ("x_single_pos_notie", "single rounding, acc > 0, no tie"),
    ("x_single_neg_tie", "single rounding, acc < 0, tie"),
    ("x_single_neg_notie", "single rounding, acc < 0, no tie"),
];

fn index(name: &str) -> usize {
    BINS.iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown coverage bin {name}"))
}

/// Hit counts of every bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    counts: Vec<u64>,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            counts: vec![0; BINS.len()],
        }
    }
}

/// Whether the last rounding of `acc` under (m0, e, mode) is an exact tie.
pub fn is_tie(acc: i32, m0: i32, e: i32, mode: IntRounding, w: u32) -> bool {
    match mode {
        IntRounding::Single => {
            let n = (w as i32 - 1) - e;
            n >= 1 && (acc as i128 * m0 as i128).rem_euclid(1i128 << n) == 1i128 << (n - 1)
        }
        IntRounding::Double => {
            let a = if e > 0 {
                acc.wrapping_shl(e as u32)
            } else {
                acc
            };
            let first = (a as i128 * m0 as i128).rem_euclid(1i128 << (w - 1)) == 1i128 << (w - 2);
            let rs = (-e).max(0);
            let second = rs >= 1 && {
                let t = srdhm(a, m0, w) as i64;
                t & ((1i64 << rs) - 1) == 1i64 << (rs - 1)
            };
            first || second
        }
    }
}

impl Coverage {
    pub fn hit(&mut self, name: &str) {
        let c = &mut self.counts[index(name)];
        *c = c.saturating_add(1);
    }
    pub fn count(&self, name: &str) -> u64 {
        self.counts[index(name)]
    }
    pub fn merge(&mut self, o: &Coverage) {
        // Saturating: a count never wraps to 0 ("not hit").
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a = a.saturating_add(*b);
        }
    }
    /// Bins never hit.
    pub fn missing(&self) -> Vec<&'static str> {
        BINS.iter()
            .zip(&self.counts)
            .filter(|(_, &c)| c == 0)
            .map(|((n, _), _)| *n)
            .collect()
    }
    pub fn bins_hit(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }

    /// Sample one checked dot product (all lanes). `prev` are the parameters
    /// of the previous dot product, `reloaded` whether a load came between.
    #[allow(clippy::too_many_arguments)]
    pub fn sample_dot(
        &mut self,
        p: &Params,
        prev: Option<&Params>,
        reloaded: bool,
        job: &DotJob,
        acc: &[i32],
        ovf: &[u8],
        mult_w: u32,
    ) {
        let w = mult_w;
        if let Some(q) = prev {
            if q.rounding != p.rounding {
                self.hit("rounding_switch");
            }
            if q.input_dtype != p.input_dtype {
                self.hit("signedness_switch");
            }
            if reloaded {
                self.hit("param_reload");
            }
        }
        match (p.input_dtype, p.zp_x) {
            (DType::Uint8, 0) => self.hit("u8_zp_0"),
            (DType::Uint8, 255) => self.hit("u8_zp_255"),
            (DType::Int8, -128) => self.hit("i8_zp_min"),
            (DType::Int8, 127) => self.hit("i8_zp_max"),
            _ => {}
        }
        if p.act_min == p.act_max {
            self.hit("act_min_eq_max");
        }
        let (mut dxp, mut dxn) = (false, false);
        for &x in &job.x {
            let d = p.x_value(x) - p.zp_x;
            dxp |= d == 255;
            dxn |= d == -255;
        }
        if dxp {
            self.hit("dx_pos_255");
        }
        if dxn {
            self.hit("dx_neg_255");
        }
        if job.w.contains(&0x80) {
            self.hit("w_min");
        }
        let m0_half = 1i64 << (w - 2);
        let m0_max = (1i64 << (w - 1)) - 1;
        let m0_min = -(1i64 << (w - 1));
        for (l, lp) in p.lanes.iter().enumerate() {
            let (a, m0, e) = (acc[l], lp.m0, lp.shift);
            match e {
                -31 => self.hit("shift_e_min"),
                -6..=-1 => self.hit("shift_small_right"),
                0 => self.hit("shift_e_0"),
                _ => {}
            }
            if e > 0 {
                self.hit("shift_left");
            }
            if e == 30 {
                self.hit("shift_e_max");
            }
            if m0 as i64 == m0_half {
                self.hit("m0_2pow30");
            }
            if m0 as i64 == m0_max {
                self.hit("m0_max");
            }
            if p.rounding == IntRounding::Double && m0 as i64 == m0_min {
                let sh = if e > 0 { a.wrapping_shl(e as u32) } else { a };
                if sh == i32::MIN {
                    self.hit("srdhm_saturation");
                }
            }
            if a > i32::MAX - (1 << 16) {
                self.hit("acc_near_max");
            }
            if a < i32::MIN + (1 << 16) {
                self.hit("acc_near_min");
            }
            if ovf[l] != 0 {
                self.hit("acc_overflow");
                if job.x.len() >= 65_794 {
                    self.hit("long_reduction_wrap");
                }
            }
            let tie = is_tie(a, m0, e, p.rounding, w);
            if tie {
                self.hit(if a > 0 { "tie_pos" } else { "tie_neg" });
            }
            if (-31..=30).contains(&e)
                && multiply_double(a, m0, e, w) as i64 != multiply_single(a, m0, e, w)
            {
                self.hit("double_ne_single");
            }
            if a != 0 {
                let name = match (p.rounding, a > 0, tie) {
                    (IntRounding::Double, true, true) => "x_double_pos_tie",
                    (IntRounding::Double, true, false) => "x_double_pos_notie",
                    (IntRounding::Double, false, true) => "x_double_neg_tie",
                    (IntRounding::Double, false, false) => "x_double_neg_notie",
                    (IntRounding::Single, true, true) => "x_single_pos_tie",
                    (IntRounding::Single, true, false) => "x_single_pos_notie",
                    (IntRounding::Single, false, true) => "x_single_neg_tie",
                    (IntRounding::Single, false, false) => "x_single_neg_notie",
                };
                self.hit(name);
            }
            let r = crate::arith::requant::scale(a, m0, e, p.rounding, w) + p.zp_out as i64;
            if r < p.act_min as i64 {
                self.hit("clamp_low");
                if p.act_min != -128 && p.act_min != 0 {
                    self.hit("clamp_inside");
                }
                if p.act_min == p.zp_out {
                    self.hit("relu_bound");
                }
            }
            if r > p.act_max as i64 {
                self.hit("clamp_high");
                if p.act_max != 127 && p.act_max != 255 {
                    self.hit("clamp_inside");
                }
            }
        }
    }

    /// Sample the backpressure a batch applied.
    pub fn sample_batch(&mut self, r: &BatchResult) {
        for (bin, n) in [
            ("bp_gap_first", r.gap_first),
            ("bp_gap_last", r.gap_last),
            ("bp_out_stall", r.out_stall_cycles),
            ("bp_long_stall", r.long_stalls),
        ] {
            let c = &mut self.counts[index(bin)];
            *c = c.saturating_add(n);
        }
    }

    /// The table: bin, hits, description.
    pub fn table(&self) -> String {
        let mut s = format!("coverage: {} of {} bins hit\n", self.bins_hit(), BINS.len());
        for ((n, d), c) in BINS.iter().zip(&self.counts) {
            s += &format!(
                "  {:<22} {:>12}  {}{}\n",
                n,
                c,
                d,
                if *c == 0 { "   <-- not hit" } else { "" }
            );
        }
        s
    }

    pub fn to_json(&self) -> String {
        let m: BTreeMap<&str, u64> = BINS
            .iter()
            .zip(&self.counts)
            .map(|((n, _), c)| (*n, *c))
            .collect();
        serde_json::to_string_pretty(&CoverageFile {
            bins: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        })
        .expect("serialisable")
    }

    pub fn read_json(path: &Path) -> Result<Coverage, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
        let f: CoverageFile = serde_json::from_str(&text)
            .map_err(|e| InputError::new(path, format!("line {}", e.line()), e.to_string()))?;
        let mut c = Coverage::default();
        for (k, v) in f.bins {
            let Some(i) = BINS.iter().position(|(n, _)| *n == k) else {
                return Err(InputError::new(
                    path,
                    format!("bin `{k}`"),
                    "unknown coverage bin",
                ));
            };
            c.counts[i] = v;
        }
        Ok(c)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverageFile {
    bins: BTreeMap<String, u64>,
}
