//! Transactions: what a stimulus is made of, independent of how it is
//! driven. A stimulus is a stream of [`Item`]s: parameter sets ([`Params`],
//! loaded through the cfg port as the register writes of
//! [`Params::cfg_writes`]) and dot products ([`DotJob`], streamed as beats
//! with `first`/`last`), under a [`Backpressure`] model. [`StreamCheck`] is
//! the one place that decides whether a stream is well-formed for a
//! LANES-wide datapath (the driver, the vector encoder and the repro reader
//! all call it).

use std::sync::Arc;

use crate::arith::requant::{DatapathRounding, Requant};
use crate::arith::DType;
use crate::cosim::interface::reg;

/// Per-lane requantization parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LaneParams {
    pub bias: i32,
    pub m0: i32,
    pub shift: i32,
}

/// Everything loaded through the cfg port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    pub rounding: DatapathRounding,
    pub input_dtype: DType,
    pub zp_x: i32,
    pub zp_w: i32,
    pub zp_out: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// Per-lane activations (CTRL.xl): every dot product under these
    /// parameters gives each lane its own activation ([`DotJob::xl`]).
    pub x_per_lane: bool,
    pub lanes: Vec<LaneParams>,
}

impl Params {
    /// int8 activations, every zero point 0, the full int8 output range, and
    /// the given per-lane parameters.
    pub fn int8(rounding: DatapathRounding, lanes: Vec<LaneParams>) -> Params {
        Params {
            rounding,
            input_dtype: DType::Int8,
            zp_x: 0,
            zp_w: 0,
            zp_out: 0,
            act_min: -128,
            act_max: 127,
            x_per_lane: false,
            lanes,
        }
    }

    /// The cfg writes that load these parameters (every register).
    pub fn cfg_writes(&self) -> Vec<(u16, u32)> {
        let mut ctl = 0;
        if self.rounding == DatapathRounding::Single {
            ctl |= reg::CTRL_SINGLE;
        }
        if self.input_dtype == DType::Uint8 {
            ctl |= reg::CTRL_U8;
        }
        if self.x_per_lane {
            ctl |= reg::CTRL_XL;
        }
        let mut v = vec![
            (reg::CTRL, ctl),
            (reg::ZP_X, self.zp_x as u32),
            (reg::ZP_W, self.zp_w as u32),
            (reg::ZP_OUT, self.zp_out as u32),
            (reg::ACT_MIN, self.act_min as u32),
            (reg::ACT_MAX, self.act_max as u32),
        ];
        for (l, p) in self.lanes.iter().enumerate() {
            v.push((reg::bias(l), p.bias as u32));
            v.push((reg::m0(l), p.m0 as u32));
            v.push((reg::shift(l), p.shift as u32));
        }
        v
    }

    /// What the registers hold after reset (rtl/qmac_top.v's contract: every
    /// parameter register resets to 0: double rounding, int8 activations,
    /// broadcast, zero points 0, ACT_MIN = ACT_MAX = 0, and BIAS, M0, SHIFT 0 on every lane).
    pub fn reset_values(lanes: usize) -> Params {
        Params {
            rounding: DatapathRounding::Double,
            input_dtype: DType::Int8,
            zp_x: 0,
            zp_w: 0,
            zp_out: 0,
            act_min: 0,
            act_max: 0,
            x_per_lane: false,
            lanes: vec![LaneParams::default(); lanes],
        }
    }

    /// The cfg writes that take registers holding `held` to these
    /// parameters: only the registers whose value changes (map order).
    pub fn delta_writes(&self, held: &Params) -> Vec<(u16, u32)> {
        let (new, old) = (self.cfg_writes(), held.cfg_writes());
        if new.len() != old.len() {
            return new;
        }
        new.into_iter()
            .zip(old)
            .filter(|(n, o)| n != o)
            .map(|(n, _)| n)
            .collect()
    }

    /// The golden requantization of lane `l` with a `mult_w`-wide multiplier.
    pub fn requant(&self, l: usize, mult_w: u32) -> Requant {
        let p = self.lanes[l];
        Requant {
            m0: p.m0,
            shift: p.shift,
            zp_out: self.zp_out,
            act_min: self.act_min,
            act_max: self.act_max,
            rounding: self.rounding,
            mult_w,
        }
    }

    /// Activation byte as the datapath interprets it.
    pub fn x_value(&self, x: u8) -> i32 {
        match self.input_dtype {
            DType::Int8 => x as i8 as i32,
            DType::Uint8 => x as i32,
        }
    }
}

/// One dot product per lane: weight `w[t·lanes + l]` for lane l at tap t;
/// activation `x[t]` shared by every lane (broadcast), or, under parameters
/// with [`Params::x_per_lane`], `xl[t·lanes + l]` for each lane (then `x[t]`
/// is lane 0's, `xl[t·lanes]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotJob {
    pub x: Vec<u8>,
    pub w: Vec<u8>,
    /// Caller's identifier (e.g. the output index of lane 0).
    pub tag: u64,
    /// Per-lane activations (empty for a broadcast dot product).
    pub xl: Vec<u8>,
}

impl DotJob {
    /// A broadcast dot product.
    pub fn new(x: Vec<u8>, w: Vec<u8>, tag: u64) -> DotJob {
        DotJob {
            x,
            w,
            tag,
            xl: Vec::new(),
        }
    }

    /// A dot product with lane l's activation of tap t at `xl[t·lanes + l]`.
    pub fn per_lane(xl: Vec<u8>, w: Vec<u8>, lanes: usize, tag: u64) -> DotJob {
        DotJob {
            x: xl.iter().step_by(lanes.max(1)).copied().collect(),
            w,
            tag,
            xl,
        }
    }

    /// Lane `l`'s activation at tap `t`.
    #[inline]
    pub fn x_at(&self, t: usize, l: usize, lanes: usize) -> u8 {
        if self.xl.is_empty() {
            self.x[t]
        } else {
            self.xl[t * lanes + l]
        }
    }

    /// Applies `f` to every activation (each lane's, under per-lane activations).
    pub fn map_x(&mut self, lanes: usize, mut f: impl FnMut(u8) -> u8) {
        if self.xl.is_empty() {
            self.x.iter_mut().for_each(|x| *x = f(*x));
        } else {
            self.xl.iter_mut().for_each(|x| *x = f(*x));
            self.x = self.xl.iter().step_by(lanes.max(1)).copied().collect();
        }
    }

    /// Taps `a..b` of this dot product.
    pub fn taps_slice(&self, a: usize, b: usize, lanes: usize) -> DotJob {
        DotJob {
            x: self.x[a..b].to_vec(),
            w: self.w[a * lanes..b * lanes].to_vec(),
            tag: self.tag,
            xl: if self.xl.is_empty() {
                Vec::new()
            } else {
                self.xl[a * lanes..b * lanes].to_vec()
            },
        }
    }

    /// This dot product without tap `t`.
    pub fn without_tap(&self, t: usize, lanes: usize) -> DotJob {
        let mut j = self.clone();
        j.x.remove(t);
        j.w.drain(t * lanes..(t + 1) * lanes);
        if !j.xl.is_empty() {
            j.xl.drain(t * lanes..(t + 1) * lanes);
        }
        j
    }

    /// Tap `t`'s activation set to `x` on every lane.
    pub fn with_x(&self, t: usize, x: u8, lanes: usize) -> DotJob {
        let mut j = self.clone();
        j.x[t] = x;
        if !j.xl.is_empty() {
            j.xl[t * lanes..(t + 1) * lanes].fill(x);
        }
        j
    }

    /// Appends the in_x bytes (LANES of them) of tap `t`.
    #[inline]
    pub fn push_in_x(&self, t: usize, lanes: usize, out: &mut Vec<u8>) {
        if self.xl.is_empty() {
            crate::cosim::interface::push_broadcast_x(out, self.x[t], lanes);
        } else {
            out.extend_from_slice(&self.xl[t * lanes..(t + 1) * lanes]);
        }
    }
}

/// One element of a stimulus stream.
#[derive(Debug, Clone)]
pub enum Item {
    Params(Arc<Params>),
    Dot(Arc<DotJob>),
}

/// Random backpressure on both streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backpressure {
    /// Probability that the driver inserts an idle cycle before a beat.
    pub in_gap: f64,
    /// Probability that out_ready is low in a cycle.
    pub out_stall: f64,
    /// Probability per cycle of starting a long stall (both sides, 20..200 cycles).
    pub long_stall: f64,
    /// A lazy consumer: out_ready is raised only while out_valid is high (AXI-Stream
    /// lets a consumer wait for valid before it raises ready; a DUT whose in_ready
    /// waits for out_ready deadlocks against it).
    pub ready_after_valid: bool,
    /// How the host uses the cfg port (register-level behaviour).
    pub host: HostModel,
}

/// How the host drives the configuration port beyond loading every register
/// in map order: the register-level behaviours the interface contract
/// (rtl/qmac_top.v) allows, each drawn per parameter load with its
/// probability from the run's seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostModel {
    /// Write only the registers whose value changes, relying on what the DUT
    /// holds (its reset values after a reset): a lone register write right
    /// before a beat, dot products that use reset values.
    pub delta_load: f64,
    /// Write the load's registers in a random order.
    pub shuffle: f64,
    /// Add 1..3 writes to unmapped addresses (which the contract says are
    /// ignored): 0x006, 0x0FF, a lane's fourth slot, past the last lane, 0x200, 0xFFFF, ….
    pub unmapped: f64,
    /// Reset the DUT before the load, in the middle of a sacrificial dot
    /// product (left open, or complete with its result in flight) sent once
    /// every expected result is out.
    pub reset: f64,
    /// Present the first beat after the load together with the load's last
    /// write (cfg_valid and in_valid high in the same cycle: cfg must win).
    pub overlap: f64,
}

impl HostModel {
    /// Every register written, in map order, nothing else (layers, models, bench).
    pub const PLAIN: HostModel = HostModel {
        delta_load: 0.0,
        shuffle: 0.0,
        unmapped: 0.0,
        reset: 0.0,
        overlap: 0.0,
    };
    /// Every behaviour now and then.
    pub const RANDOM: HostModel = HostModel {
        delta_load: 0.5,
        shuffle: 0.3,
        unmapped: 0.2,
        reset: 0.05,
        overlap: 0.3,
    };
    /// Every behaviour often (the protocol corners).
    pub const EAGER: HostModel = HostModel {
        delta_load: 0.9,
        shuffle: 0.5,
        unmapped: 0.5,
        reset: 0.3,
        overlap: 0.5,
    };
    pub fn is_plain(&self) -> bool {
        *self == HostModel::PLAIN
    }
    fn fields(&self) -> [(&'static str, f64); 5] {
        [
            ("host.delta_load", self.delta_load),
            ("host.shuffle", self.shuffle),
            ("host.unmapped", self.unmapped),
            ("host.reset", self.reset),
            ("host.overlap", self.overlap),
        ]
    }
}

impl Backpressure {
    pub const NONE: Backpressure = Backpressure {
        in_gap: 0.0,
        out_stall: 0.0,
        long_stall: 0.0,
        ready_after_valid: false,
        host: HostModel::PLAIN,
    };
    pub const RANDOM: Backpressure = Backpressure {
        in_gap: 0.25,
        out_stall: 0.3,
        long_stall: 0.002,
        ready_after_valid: false,
        host: HostModel::RANDOM,
    };
    /// A consumer that waits for out_valid before raising out_ready, with
    /// light random stalls on both sides.
    pub const LAZY_CONSUMER: Backpressure = Backpressure {
        in_gap: 0.1,
        out_stall: 0.2,
        long_stall: 0.0,
        ready_after_valid: true,
        host: HostModel::RANDOM,
    };
    pub fn is_none(&self) -> bool {
        self.in_gap == 0.0
            && self.out_stall == 0.0
            && self.long_stall == 0.0
            && !self.ready_after_valid
            && self.host.is_plain()
    }

    /// Every probability must be a number in [0, 1): at 1 the producer never
    /// sends, or the consumer never takes, and no run could end. The error
    /// names the field and the value.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (name, p) in [
            ("in_gap", self.in_gap),
            ("out_stall", self.out_stall),
            ("long_stall", self.long_stall),
        ] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err((
                    name,
                    format!("probability {p} is not in [0, 1) (at 1 the stream never moves)"),
                ));
            }
        }
        for (name, p) in self.host.fields() {
            if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                return Err((name, format!("probability {p} is not in [0, 1]")));
            }
        }
        Ok(())
    }

    /// The expected number of cycles one transfer takes under this
    /// backpressure (at least 1): the input gap and the output stall each
    /// stretch a transfer by 1/(1 − p); a long stall (20..200 cycles,
    /// 110 on average) starts with probability `long_stall` per cycle.
    pub fn slowdown(&self) -> f64 {
        let open = |p: f64| 1.0 / (1.0 - p.clamp(0.0, 0.999));
        open(self.in_gap) * open(self.out_stall) * (1.0 + 110.0 * self.long_stall.clamp(0.0, 1.0))
    }
}

/// The seed of one run's backpressure stream: a pure function of the user's
/// seed and the run's own identity (an op index, a case's name), never of
/// the run's position in a list or of the worker that ran it.
pub fn stream_seed(seed: u64, identity: u64) -> u64 {
    // splitmix64 of the pair.
    let mut z = seed ^ identity.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Why a stimulus stream is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("parameter set for {got} lanes, the datapath has {lanes}")]
    Lanes { got: usize, lanes: usize },
    #[error("a dot product before any parameter set")]
    DotBeforeParams,
    #[error("a dot product of {taps} taps needs {} weights ({taps} x {lanes} lanes), got {weights}", taps * lanes)]
    Weights {
        taps: usize,
        lanes: usize,
        weights: usize,
    },
    #[error("a dot product needs at least one tap")]
    NoTaps,
    #[error("a dot product {} per-lane activations under parameters with CTRL.xl = {}", if *per_lane { "with" } else { "without" }, u8::from(!*per_lane))]
    ActivationMode { per_lane: bool },
    #[error("a dot product of {taps} taps with per-lane activations needs {} of them ({taps} x {lanes} lanes, lane 0's also in x), got {got}", taps * lanes)]
    LaneActivations {
        taps: usize,
        lanes: usize,
        got: usize,
    },
}

/// Walks a stimulus stream for a `lanes`-wide datapath and checks each item:
/// parameter sets of the right width, a parameter set before the first dot
/// product, at least one tap, LANES weights per tap, and per-lane
/// activations (LANES per tap) exactly under per-lane parameters.
#[derive(Debug, Clone)]
pub struct StreamCheck {
    lanes: usize,
    params: Option<Arc<Params>>,
}

impl StreamCheck {
    pub fn new(lanes: usize) -> StreamCheck {
        StreamCheck {
            lanes,
            params: None,
        }
    }

    /// Check the next item. For a dot product, the parameter set it runs
    /// under; for a parameter set, `None`.
    pub fn next(&mut self, item: &Item) -> Result<Option<Arc<Params>>, StreamError> {
        match item {
            Item::Params(p) => {
                if p.lanes.len() != self.lanes {
                    return Err(StreamError::Lanes {
                        got: p.lanes.len(),
                        lanes: self.lanes,
                    });
                }
                self.params = Some(p.clone());
                Ok(None)
            }
            Item::Dot(j) => {
                let p = self.params.clone().ok_or(StreamError::DotBeforeParams)?;
                if j.x.is_empty() {
                    return Err(StreamError::NoTaps);
                }
                if j.w.len() != j.x.len() * self.lanes {
                    return Err(StreamError::Weights {
                        taps: j.x.len(),
                        lanes: self.lanes,
                        weights: j.w.len(),
                    });
                }
                if p.x_per_lane == j.xl.is_empty() {
                    return Err(StreamError::ActivationMode {
                        per_lane: !j.xl.is_empty(),
                    });
                }
                if !j.xl.is_empty()
                    && (j.xl.len() != j.w.len()
                        || (0..j.x.len()).any(|t| j.xl[t * self.lanes] != j.x[t]))
                {
                    return Err(StreamError::LaneActivations {
                        taps: j.x.len(),
                        lanes: self.lanes,
                        got: j.xl.len(),
                    });
                }
                Ok(Some(p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::int8(
            DatapathRounding::Double,
            vec![
                LaneParams {
                    bias: 5,
                    m0: 1 << 30,
                    shift: -3
                };
                2
            ],
        )
    }

    #[test]
    fn a_delta_load_writes_exactly_the_registers_that_change() {
        let a = params();
        assert!(a.delta_writes(&a).is_empty());
        let mut b = a.clone();
        b.zp_x = -7;
        assert_eq!(b.delta_writes(&a), vec![(reg::ZP_X, -7i32 as u32)]);
        b.lanes[1].shift = 2;
        assert_eq!(
            b.delta_writes(&a),
            vec![(reg::ZP_X, -7i32 as u32), (reg::shift(1), 2)]
        );
        // From the reset values: everything that is not 0.
        let from_reset = a.delta_writes(&Params::reset_values(2));
        assert_eq!(
            from_reset,
            vec![
                (reg::ACT_MIN, -128i32 as u32),
                (reg::ACT_MAX, 127),
                (reg::bias(0), 5),
                (reg::m0(0), 1 << 30),
                (reg::shift(0), -3i32 as u32),
                (reg::bias(1), 5),
                (reg::m0(1), 1 << 30),
                (reg::shift(1), -3i32 as u32),
            ]
        );
        // A different width: every register.
        assert_eq!(
            a.delta_writes(&Params::reset_values(3)).len(),
            a.cfg_writes().len()
        );
    }

    #[test]
    fn host_probabilities_are_checked() {
        let mut bp = Backpressure::RANDOM;
        assert!(bp.check().is_ok());
        bp.host.delta_load = 1.0;
        assert!(bp.check().is_ok(), "1 is a valid host probability");
        bp.host.reset = 1.5;
        assert_eq!(bp.check().unwrap_err().0, "host.reset");
        bp.host.reset = f64::NAN;
        assert_eq!(bp.check().unwrap_err().0, "host.reset");
        assert!(!Backpressure {
            host: HostModel::RANDOM,
            ..Backpressure::NONE
        }
        .is_none());
    }
}
