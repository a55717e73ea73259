//! Constrained-random fuzzing of the RTL against the golden model, with
//! generators weighted toward the edges, functional coverage, automatic
//! shrinking of a failing transaction and replayable repro files.
//!
//! Iteration `i` of seed `S` draws everything from ChaCha8(S, "fuzz-i"), so
//! the same seed and iteration count give the same transactions and the same
//! coverage whatever `--jobs` is.
//!
//! * this module: the [`Transaction`] and its generator ([`generate`]);
//! * [`campaign`]: many iterations on parallel DUTs, coverage merged;
//! * `shrink`: the minimisation of a failing transaction ([`shrink`]);
//! * `repro`: the JSON transaction file of a repro ([`read`], [`to_json`],
//!   [`write_repro`]), replayed by `qmac fuzz --replay`.

pub mod campaign;
mod repro;
mod shrink;

pub use repro::{read, to_json, write_repro};
pub use shrink::shrink;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::arith::requant::{narrow_multiplier, quantize_multiplier, DatapathRounding};
use crate::arith::DType;
use crate::cosim::coverage::Coverage;
use crate::cosim::dut::Dut;
use crate::cosim::scoreboard::RunStats;
use crate::cosim::transaction::{Backpressure, DotJob, HostModel, Item, Params};
use crate::cosim::{self, RunOptions};
use crate::verify::stimulus::{
    bias_near_wrap, clamp_corner, dot_with_targets, full_scale_reduction, items, m0_normal,
    mode_switch_params, one_register_steps, random_dot, random_params, random_stream, rng_for,
    seed_for, srdhm_saturation, tie_target, SrdhmOperand,
};

/// One fuzz transaction: a stimulus and the backpressure it runs under.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub lanes: usize,
    pub mult_w: u32,
    pub backpressure: Backpressure,
    /// Seed of the backpressure generator (and X-initialisation).
    pub bp_seed: u64,
    pub items: Vec<Item>,
}

impl Transaction {
    pub fn dots(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Dot(_)))
            .count()
    }
    pub fn taps(&self) -> usize {
        self.items
            .iter()
            .map(|i| if let Item::Dot(j) = i { j.x.len() } else { 0 })
            .sum()
    }
}

const HEAVY: Backpressure = Backpressure {
    in_gap: 0.7,
    out_stall: 0.8,
    long_stall: 0.01,
    ready_after_valid: false,
    host: HostModel::EAGER,
};
const OUT_HEAVY: Backpressure = Backpressure {
    in_gap: 0.05,
    out_stall: 0.9,
    long_stall: 0.02,
    ready_after_valid: false,
    host: HostModel::RANDOM,
};

fn rounding(rng: &mut ChaCha8Rng) -> DatapathRounding {
    if rng.random_bool(0.5) {
        DatapathRounding::Double
    } else {
        DatapathRounding::Single
    }
}

/// Generate iteration `iteration` of `seed`; also returns the coverage bins
/// only the generator can know (an M0 that came from the QuantizeMultiplier carry).
pub fn generate(seed: u64, iteration: u64, lanes: usize, w: u32) -> (Transaction, Coverage) {
    let mut rng = rng_for(seed, &format!("fuzz-{iteration}"));
    let mut gen_cov = Coverage::default();
    let mut pairs: Vec<(Params, DotJob)> = Vec::new();
    let scenario = rng.random_range(0..100);
    let n = rng.random_range(1..24u64);
    let mut raw_items: Option<Vec<Item>> = None;
    match scenario {
        0..=11 => {
            // Exact ties: M = 2^(e-1) with m0 = 2^(W-2), acc = ±(2j+1)·2^(-e) (± 1).
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                p.rounding = rounding(&mut rng);
                for lp in p.lanes.iter_mut() {
                    lp.m0 = 1 << (w - 2);
                    lp.shift = rng.random_range(-8..=-1);
                }
                let targets: Vec<i32> = p
                    .lanes
                    .iter()
                    .map(|lp| tie_target(&mut rng, lp.shift))
                    .collect();
                let k = rng.random_range(1..6);
                pairs.push(dot_with_targets(&mut rng, &p, k, &targets, i));
            }
        }
        12..=21 => {
            // Double vs single rounding at small right shifts.
            let mut p = random_params(&mut rng, lanes, w);
            for i in 0..n {
                p.rounding = rounding(&mut rng);
                for lp in p.lanes.iter_mut() {
                    lp.m0 = m0_normal(&mut rng, w);
                    lp.shift = rng.random_range(-6..=-1);
                }
                let targets: Vec<i32> = (0..lanes)
                    .map(|_| rng.random_range(-20_000..20_000))
                    .collect();
                let k = rng.random_range(1..8);
                pairs.push(dot_with_targets(&mut rng, &p, k, &targets, i));
            }
        }
        22..=31 => {
            // Shift and multiplier extremes.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                for lp in p.lanes.iter_mut() {
                    lp.shift = [-31, -30, 0, 1, 2, 15, 29, 30][rng.random_range(0..8)];
                    lp.m0 = match rng.random_range(0..3) {
                        0 => 1 << (w - 2),
                        1 => ((1i64 << (w - 1)) - 1) as i32,
                        _ => m0_normal(&mut rng, w),
                    };
                }
                let targets: Vec<i32> = (0..lanes)
                    .map(|_| {
                        if rng.random_bool(0.5) {
                            rng.random()
                        } else {
                            rng.random_range(-64..64)
                        }
                    })
                    .collect();
                let k = rng.random_range(1..4);
                pairs.push(dot_with_targets(&mut rng, &p, k, &targets, i));
            }
        }
        32..=35 => {
            // Multipliers from QuantizeMultiplier's carry: q·2^31 rounds up to 2^31.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                for lp in p.lanes.iter_mut() {
                    let k: i32 = rng.random_range(-24..=-2);
                    let real = (1.0 - 2f64.powi(-33)) * 2f64.powi(k);
                    let (m0, e) = quantize_multiplier(real, p.rounding == DatapathRounding::Single);
                    let (m0, e) = narrow_multiplier(m0, e, w);
                    lp.m0 = m0;
                    lp.shift = e;
                    gen_cov.hit(crate::cosim::coverage::Bin::M0Carry);
                }
                let k = rng.random_range(1..10);
                pairs.push({
                    let j = random_dot(&mut rng, &p, k, i);
                    (p, j)
                });
            }
        }
        36..=39 => {
            // SRDHM's one overflow: a = M0 = INT32_MIN (directly, or by a wrapping left shift).
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                p.rounding = DatapathRounding::Double;
                let operand = [
                    SrdhmOperand::Min,
                    SrdhmOperand::ViaShift,
                    SrdhmOperand::Small,
                ][rng.random_range(0..3usize)];
                let t = srdhm_saturation(&mut rng, &mut p, w, operand);
                let k = rng.random_range(1..3);
                pairs.push(dot_with_targets(&mut rng, &p, k, &vec![t; lanes], i));
            }
        }
        40..=49 => {
            // Accumulators and biases near ±2^31, wrapping.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                bias_near_wrap(&mut rng, &mut p);
                let k = rng.random_range(1..12);
                pairs.push({
                    let j = random_dot(&mut rng, &p, k, i);
                    (p, j)
                });
            }
        }
        50..=51 => {
            // A full-scale reduction long enough to wrap (K >= 65 794).
            let mut p = random_params(&mut rng, lanes, w);
            let u8 = rng.random_bool(0.5);
            let k = rng.random_range(65_794..66_200);
            let j = full_scale_reduction(&mut p, u8, k, lanes);
            pairs.push((p, j));
        }
        52..=61 => {
            // x - zp_x and w at their extremes.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                let (dt, zp) = [
                    (DType::Uint8, 0),
                    (DType::Uint8, 255),
                    (DType::Int8, -128),
                    (DType::Int8, 127),
                ][rng.random_range(0..4)];
                p.input_dtype = dt;
                p.zp_x = zp;
                let k = rng.random_range(1..20);
                let mut j = random_dot(&mut rng, &p, k, i);
                let (lo, hi) = dt.range();
                let far = if zp == lo { hi } else { lo };
                j.map_x(lanes, |x| if rng.random_bool(0.8) { far as u8 } else { x });
                for wv in j.w.iter_mut() {
                    if rng.random_bool(0.6) {
                        *wv = 0x80;
                    }
                }
                pairs.push((p, j));
            }
        }
        62..=73 => {
            // Clamps: inside the range, act_min = act_max, ReLU / ReLU6 bounds.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                let kind = rng.random_range(0..4);
                clamp_corner(&mut rng, &mut p, kind);
                let targets: Vec<i32> = (0..lanes)
                    .map(|_| rng.random_range(-1 << 22..1 << 22))
                    .collect();
                let k = rng.random_range(1..6);
                pairs.push(dot_with_targets(&mut rng, &p, k, &targets, i));
            }
        }
        74..=83 => {
            // Rounding mode and signedness switch between every dot product.
            for i in 0..n.max(4) {
                let p = mode_switch_params(&mut rng, lanes, w, i);
                let k = rng.random_range(1..10);
                pairs.push({
                    let j = random_dot(&mut rng, &p, k, i);
                    (p, j)
                });
            }
        }
        84..=91 => {
            // One register changed per dot product (a host writing only what
            // changes sends it alone, right before the beat).
            pairs = one_register_steps(&mut rng, lanes, w, n as usize * 2);
        }
        _ => {
            // A random stream with parameter reloads mid-stream.
            let count = rng.random_range(20..200);
            raw_items = Some(random_stream(&mut rng, lanes, w, count));
        }
    }
    let items = raw_items.unwrap_or_else(|| items(pairs));
    let backpressure = match rng.random_range(0..10) {
        0..=2 => Backpressure::NONE,
        3..=5 => Backpressure::RANDOM,
        6 => Backpressure::LAZY_CONSUMER,
        7..=8 => HEAVY,
        _ => OUT_HEAVY,
    };
    let bp_seed = seed_for(seed, &format!("fuzz-bp-{iteration}"));
    (
        Transaction {
            lanes,
            mult_w: w,
            backpressure,
            bp_seed,
            items,
        },
        gen_cov,
    )
}

/// Run one transaction on `dut`.
pub fn run(dut: &mut Dut, tx: &Transaction, replay: &str) -> RunStats {
    let opt = RunOptions {
        seed: tx.bp_seed,
        backpressure: tx.backpressure,
        replay: replay.to_string(),
        stop_on_failure: true,
        coverage: true,
    };
    cosim::run(dut, tx.items.iter(), &opt, |_, _, _| {})
}
