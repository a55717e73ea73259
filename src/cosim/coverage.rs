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

use crate::arith::requant::{multiply_double, multiply_single, srdhm, DatapathRounding};
use crate::arith::DType;
#[cfg(feature = "rtl")]
use crate::cosim::dut::BatchResult;
use crate::cosim::transaction::{DotJob, Params};
use crate::error::InputError;

/// Declares the bins once: the variant, its name in tables and JSON, and
/// what hits it.
macro_rules! bins {
    ($($v:ident = $name:literal, $what:literal;)*) => {
        /// A functional coverage bin. Bins are hit only through [`Coverage`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Bin {
            $($v),*
        }

        impl Bin {
            /// Every bin, in table order.
            pub const ALL: &'static [Bin] = &[$(Bin::$v),*];
            /// The bin's name in tables and coverage JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $(Bin::$v => $name),*
                }
            }
            /// What hits it.
            pub fn what(self) -> &'static str {
                match self {
                    $(Bin::$v => $what),*
                }
            }
            /// The bin named `name`.
            pub fn from_name(name: &str) -> Option<Bin> {
                Bin::ALL.iter().copied().find(|b| b.name() == name)
            }
        }
    };
}

bins! {
    TiePos = "tie_pos", "an exact rounding tie, acc > 0";
    TieNeg = "tie_neg", "an exact rounding tie, acc < 0";
    DoubleNeSingle = "double_ne_single", "double and single rounding give different results";
    ShiftEMin = "shift_e_min", "e = -31";
    ShiftSmallRight = "shift_small_right", "e in -6..-1";
    ShiftE0 = "shift_e_0", "e = 0";
    ShiftLeft = "shift_left", "e > 0 (left shift)";
    ShiftEMax = "shift_e_max", "e = 30";
    M02pow30 = "m0_2pow30", "M0 = 2^(W-2) (0.5)";
    M0Max = "m0_max", "M0 = 2^(W-1) - 1";
    M0Carry = "m0_carry", "M0 from QuantizeMultiplier's 2^31 carry";
    SrdhmSaturation = "srdhm_saturation", "SRDHM's INT32_MIN x INT32_MIN saturation";
    AccNearMax = "acc_near_max", "acc within 2^16 of INT32_MAX";
    AccNearMin = "acc_near_min", "acc within 2^16 of INT32_MIN";
    AccOverflow = "acc_overflow", "a partial sum overflowed (sticky flag set)";
    LongReductionWrap = "long_reduction_wrap", "K >= 65 794 taps and the accumulator wrapped";
    DxPos255 = "dx_pos_255", "x - zp_x = +255";
    DxNeg255 = "dx_neg_255", "x - zp_x = -255";
    WMin = "w_min", "w = -128";
    U8Zp0 = "u8_zp_0", "uint8 activations, zp_x = 0";
    U8Zp255 = "u8_zp_255", "uint8 activations, zp_x = 255";
    I8ZpMin = "i8_zp_min", "int8 activations, zp_x = -128";
    I8ZpMax = "i8_zp_max", "int8 activations, zp_x = 127";
    ClampLow = "clamp_low", "output clamped at act_min";
    ClampHigh = "clamp_high", "output clamped at act_max";
    ClampInside = "clamp_inside", "clamped at a bound inside the type range";
    ActMinEqMax = "act_min_eq_max", "act_min = act_max";
    ReluBound = "relu_bound", "clamped at act_min = zp_out (ReLU)";
    RoundingSwitch = "rounding_switch", "rounding mode changed between consecutive dot products";
    SignednessSwitch = "signedness_switch", "activation signedness changed between consecutive dot products";
    ParamReload = "param_reload", "parameters reloaded between dot products of one run";
    XPerLane = "x_per_lane", "per-lane activations (CTRL.xl = 1)";
    XModeSwitch = "x_mode_switch", "broadcast and per-lane activations between consecutive dot products";
    BpGapFirst = "bp_gap_first", "input gap right before a first beat";
    BpGapLast = "bp_gap_last", "input gap right before a last beat";
    BpOutStall = "bp_out_stall", "out_ready low while out_valid";
    BpLongStall = "bp_long_stall", "a long stall (20..200 cycles)";
    CfgThenBeat = "cfg_then_beat", "a beat transferred in the cycle right after a cfg write";
    CfgBehindDot = "cfg_behind_dot", "a cfg write waited for the pipeline to drain (right behind a dot product)";
    CfgWhileHeld = "cfg_while_held", "a cfg write presented while an output was held";
    CfgWithBeat = "cfg_with_beat", "cfg_valid and in_valid high together while idle";
    SingleWriteLoad = "single_write_load", "a load of one register write";
    UnmappedWrite = "unmapped_write", "writes to unmapped addresses";
    HostReset = "host_reset", "a reset between loads";
    MidTrafficReset = "mid_traffic_reset", "a reset with a dot product open or a result in flight";
    ResetValueUsed = "reset_value_used", "dot products relying on registers left at their reset values";
    XDoublePosTie = "x_double_pos_tie", "double rounding, acc > 0, tie";
    XDoublePosNotie = "x_double_pos_notie", "double rounding, acc > 0, no tie";
    XDoubleNegTie = "x_double_neg_tie", "double rounding, acc < 0, tie";
    XDoubleNegNotie = "x_double_neg_notie", "double rounding, acc < 0, no tie";
    XSinglePosTie = "x_single_pos_tie", "single rounding, acc > 0, tie";
    XSinglePosNotie = "x_single_pos_notie", "single rounding, acc > 0, no tie";
    XSingleNegTie = "x_single_neg_tie", "single rounding, acc < 0, tie";
    XSingleNegNotie = "x_single_neg_notie", "single rounding, acc < 0, no tie";
}

/// Hit counts of every bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    counts: Vec<u64>,
    /// The runs counted in (provenance, written to the JSON file).
    pub sources: Vec<Source>,
}

/// Where a coverage count came from: one `qmac fuzz` or `qmac regress` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `qmac fuzz` or `qmac regress`.
    pub tool: String,
    pub version: String,
    pub seed: u64,
    /// `K/N`, or absent for an unsharded run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Fuzz iterations, or regression tests, run.
    pub runs: u64,
    pub lanes: usize,
    pub mult_w: u32,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            counts: vec![0; Bin::ALL.len()],
            sources: Vec::new(),
        }
    }
}

/// Whether the last rounding of `acc` under (m0, e, mode) is an exact tie.
pub fn is_tie(acc: i32, m0: i32, e: i32, mode: DatapathRounding, w: u32) -> bool {
    match mode {
        DatapathRounding::Single => {
            let n = (w as i32 - 1) - e;
            n >= 1 && (acc as i128 * m0 as i128).rem_euclid(1i128 << n) == 1i128 << (n - 1)
        }
        DatapathRounding::Double => {
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
    pub fn hit(&mut self, bin: Bin) {
        let c = &mut self.counts[bin as usize];
        *c = c.saturating_add(1);
    }
    pub fn count(&self, bin: Bin) -> u64 {
        self.counts[bin as usize]
    }
    pub fn merge(&mut self, o: &Coverage) {
        // Saturating: a count never wraps to 0 ("not hit").
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a = a.saturating_add(*b);
        }
        self.sources.extend(o.sources.iter().cloned());
    }
    /// Bins never hit.
    pub fn missing(&self) -> Vec<&'static str> {
        Bin::ALL
            .iter()
            .zip(&self.counts)
            .filter(|(_, &c)| c == 0)
            .map(|(b, _)| b.name())
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
                self.hit(Bin::RoundingSwitch);
            }
            if q.input_dtype != p.input_dtype {
                self.hit(Bin::SignednessSwitch);
            }
            if reloaded {
                self.hit(Bin::ParamReload);
            }
            if q.x_per_lane != p.x_per_lane {
                self.hit(Bin::XModeSwitch);
            }
        }
        if p.x_per_lane {
            self.hit(Bin::XPerLane);
        }
        match (p.input_dtype, p.zp_x) {
            (DType::Uint8, 0) => self.hit(Bin::U8Zp0),
            (DType::Uint8, 255) => self.hit(Bin::U8Zp255),
            (DType::Int8, -128) => self.hit(Bin::I8ZpMin),
            (DType::Int8, 127) => self.hit(Bin::I8ZpMax),
            _ => {}
        }
        if p.act_min == p.act_max {
            self.hit(Bin::ActMinEqMax);
        }
        let (mut dxp, mut dxn) = (false, false);
        for &x in if job.xl.is_empty() { &job.x } else { &job.xl } {
            let d = p.x_value(x) - p.zp_x;
            dxp |= d == 255;
            dxn |= d == -255;
        }
        if dxp {
            self.hit(Bin::DxPos255);
        }
        if dxn {
            self.hit(Bin::DxNeg255);
        }
        if job.w.contains(&0x80) {
            self.hit(Bin::WMin);
        }
        let m0_half = 1i64 << (w - 2);
        let m0_max = (1i64 << (w - 1)) - 1;
        let m0_min = -(1i64 << (w - 1));
        for (l, lp) in p.lanes.iter().enumerate() {
            let (a, m0, e) = (acc[l], lp.m0, lp.shift);
            match e {
                -31 => self.hit(Bin::ShiftEMin),
                -6..=-1 => self.hit(Bin::ShiftSmallRight),
                0 => self.hit(Bin::ShiftE0),
                _ => {}
            }
            if e > 0 {
                self.hit(Bin::ShiftLeft);
            }
            if e == 30 {
                self.hit(Bin::ShiftEMax);
            }
            if m0 as i64 == m0_half {
                self.hit(Bin::M02pow30);
            }
            if m0 as i64 == m0_max {
                self.hit(Bin::M0Max);
            }
            if p.rounding == DatapathRounding::Double && m0 as i64 == m0_min {
                let sh = if e > 0 { a.wrapping_shl(e as u32) } else { a };
                if sh == i32::MIN {
                    self.hit(Bin::SrdhmSaturation);
                }
            }
            if a > i32::MAX - (1 << 16) {
                self.hit(Bin::AccNearMax);
            }
            if a < i32::MIN + (1 << 16) {
                self.hit(Bin::AccNearMin);
            }
            if ovf[l] != 0 {
                self.hit(Bin::AccOverflow);
                if job.x.len() >= 65_794 {
                    self.hit(Bin::LongReductionWrap);
                }
            }
            let tie = is_tie(a, m0, e, p.rounding, w);
            if tie {
                self.hit(if a > 0 { Bin::TiePos } else { Bin::TieNeg });
            }
            if (-31..=30).contains(&e)
                && multiply_double(a, m0, e, w) as i64 != multiply_single(a, m0, e, w)
            {
                self.hit(Bin::DoubleNeSingle);
            }
            if a != 0 {
                let name = match (p.rounding, a > 0, tie) {
                    (DatapathRounding::Double, true, true) => Bin::XDoublePosTie,
                    (DatapathRounding::Double, true, false) => Bin::XDoublePosNotie,
                    (DatapathRounding::Double, false, true) => Bin::XDoubleNegTie,
                    (DatapathRounding::Double, false, false) => Bin::XDoubleNegNotie,
                    (DatapathRounding::Single, true, true) => Bin::XSinglePosTie,
                    (DatapathRounding::Single, true, false) => Bin::XSinglePosNotie,
                    (DatapathRounding::Single, false, true) => Bin::XSingleNegTie,
                    (DatapathRounding::Single, false, false) => Bin::XSingleNegNotie,
                };
                self.hit(name);
            }
            let r = crate::arith::requant::scale(a, m0, e, p.rounding, w) + p.zp_out as i64;
            if r < p.act_min as i64 {
                self.hit(Bin::ClampLow);
                if p.act_min != -128 && p.act_min != 0 {
                    self.hit(Bin::ClampInside);
                }
                if p.act_min == p.zp_out {
                    self.hit(Bin::ReluBound);
                }
            }
            if r > p.act_max as i64 {
                self.hit(Bin::ClampHigh);
                if p.act_max != 127 && p.act_max != 255 {
                    self.hit(Bin::ClampInside);
                }
            }
        }
    }

    /// Sample the backpressure a batch applied.
    #[cfg(feature = "rtl")]
    pub fn sample_batch(&mut self, r: &BatchResult) {
        for (bin, n) in [
            (Bin::BpGapFirst, r.gap_first),
            (Bin::BpGapLast, r.gap_last),
            (Bin::BpOutStall, r.out_stall_cycles),
            (Bin::BpLongStall, r.long_stalls),
            (Bin::CfgThenBeat, r.cfg_then_beat),
            (Bin::CfgBehindDot, r.cfg_behind_dot),
            (Bin::CfgWhileHeld, r.cfg_while_held),
            (Bin::CfgWithBeat, r.cfg_with_beat),
            (Bin::MidTrafficReset, r.resets_mid_traffic),
        ] {
            let c = &mut self.counts[bin as usize];
            *c = c.saturating_add(n);
        }
    }

    /// One line: the bins hit, and the ones missed.
    pub fn summary(&self) -> String {
        let missing = self.missing();
        format!(
            "coverage: {} of {} bins hit{}",
            self.bins_hit(),
            Bin::ALL.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!("; not hit: {}", missing.join(", "))
            }
        )
    }

    /// The table: bin, hits, description.
    pub fn table(&self) -> String {
        let mut s = format!(
            "coverage: {} of {} bins hit\n",
            self.bins_hit(),
            Bin::ALL.len()
        );
        for (b, c) in Bin::ALL.iter().zip(&self.counts) {
            s += &format!(
                "  {:<22} {:>12}  {}{}\n",
                b.name(),
                c,
                b.what(),
                if *c == 0 { "   <-- not hit" } else { "" }
            );
        }
        s
    }

    /// The coverage part of a `--json` report (regress, fuzz): how many
    /// bins, how many hit, the ones missing, and every bin's count.
    pub fn summary_json(&self) -> serde_json::Value {
        let counts: serde_json::Map<String, serde_json::Value> = Bin::ALL
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| (b.name().to_string(), (*c).into()))
            .collect();
        serde_json::json!({
            "bins": Bin::ALL.len(),
            "hit": self.bins_hit(),
            "missing": self.missing(),
            "counts": counts,
        })
    }

    pub fn to_json(&self) -> String {
        let m: BTreeMap<&str, u64> = Bin::ALL
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| (b.name(), *c))
            .collect();
        serde_json::to_string_pretty(&CoverageFile {
            bins: m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            sources: self.sources.clone(),
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
            let Some(b) = Bin::from_name(&k) else {
                return Err(InputError::new(
                    path,
                    format!("bin `{k}`"),
                    "unknown coverage bin",
                ));
            };
            c.counts[b as usize] = v;
        }
        c.sources = f.sources;
        Ok(c)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CoverageFile {
    bins: BTreeMap<String, u64>,
    /// Absent in files written before provenance was recorded.
    #[serde(default)]
    sources: Vec<Source>,
}

#[cfg(test)]
mod tests {
    //! Hand-built dot products that must, and must not, hit bins.
    use super::*;
    use crate::arith::mac::Accumulator;
    use crate::cosim::transaction::LaneParams;

    fn params(m0: i32, shift: i32, bias: i32) -> Params {
        Params::int8(
            DatapathRounding::Double,
            vec![LaneParams { bias, m0, shift }],
        )
    }

    /// The bins one lane's dot product `x·w` hits under `p` (the accumulator
    /// and overflow computed as the scoreboard does).
    fn bins(p: &Params, x: &[i8], w: &[i8]) -> Vec<Bin> {
        let mut a = Accumulator::start(p.lanes[0].bias);
        for (&x, &w) in x.iter().zip(w) {
            a.add(Accumulator::product(x as i32, w as i32, p.zp_x, p.zp_w));
        }
        let job = DotJob::new(
            x.iter().map(|&v| v as u8).collect(),
            w.iter().map(|&v| v as u8).collect(),
            0,
        );
        let mut c = Coverage::default();
        c.sample_dot(
            p,
            None,
            false,
            &job,
            &[a.dot.acc],
            &[a.dot.overflow as u8],
            32,
        );
        Bin::ALL
            .iter()
            .copied()
            .filter(|&b| c.count(b) > 0)
            .collect()
    }

    #[test]
    fn exact_ties_hit_the_tie_bins_by_sign_and_near_misses_do_not() {
        // M = 0.5 (M0 = 2^30, e = 0): acc = 3 -> 1.5, a tie; acc = -3 -> -1.5.
        let p = params(1 << 30, 0, 0);
        let pos = bins(&p, &[3], &[1]);
        assert!(
            pos.contains(&Bin::TiePos) && !pos.contains(&Bin::TieNeg),
            "{pos:?}"
        );
        let neg = bins(&p, &[-3], &[1]);
        assert!(
            neg.contains(&Bin::TieNeg) && !neg.contains(&Bin::TiePos),
            "{neg:?}"
        );
        let none = bins(&p, &[4], &[1]);
        assert!(
            !none.contains(&Bin::TiePos) && !none.contains(&Bin::TieNeg),
            "{none:?}"
        );
        assert!(pos.contains(&Bin::M02pow30) && pos.contains(&Bin::ShiftE0));
    }

    #[test]
    fn srdhm_saturation_needs_both_operands_at_int32_min() {
        let p = params(i32::MIN, 0, i32::MIN);
        assert!(bins(&p, &[0], &[0]).contains(&Bin::SrdhmSaturation));
        let p = params(i32::MIN, 0, 5);
        assert!(!bins(&p, &[0], &[0]).contains(&Bin::SrdhmSaturation));
    }

    #[test]
    fn overflow_and_accumulator_extremes() {
        // bias INT32_MAX + 1 wraps: overflow, and the accumulator ends near INT32_MIN.
        let p = params(1 << 30, -20, i32::MAX);
        let b = bins(&p, &[1], &[1]);
        assert!(
            b.contains(&Bin::AccOverflow) && b.contains(&Bin::AccNearMin),
            "{b:?}"
        );
        let p = params(1 << 30, -20, i32::MAX - 10);
        let b = bins(&p, &[1], &[1]);
        assert!(
            !b.contains(&Bin::AccOverflow) && b.contains(&Bin::AccNearMax),
            "{b:?}"
        );
    }

    #[test]
    fn clamps_at_each_bound() {
        let mut p = params(1 << 30, 0, 0);
        p.act_min = -10;
        p.act_max = 10;
        let low = bins(&p, &[-100], &[1]);
        assert!(
            low.contains(&Bin::ClampLow) && low.contains(&Bin::ClampInside),
            "{low:?}"
        );
        let high = bins(&p, &[100], &[1]);
        assert!(high.contains(&Bin::ClampHigh), "{high:?}");
        let inside = bins(&p, &[4], &[1]);
        assert!(!inside.contains(&Bin::ClampLow) && !inside.contains(&Bin::ClampHigh));
    }

    #[test]
    fn operand_extremes_and_zero_points() {
        let mut p = params(1 << 30, 0, 0);
        p.zp_x = -128;
        let b = bins(&p, &[127, -128], &[-128, 1]);
        assert!(
            b.contains(&Bin::DxPos255) && b.contains(&Bin::WMin) && b.contains(&Bin::I8ZpMin),
            "{b:?}"
        );
        assert!(!b.contains(&Bin::DxNeg255));
    }
}
