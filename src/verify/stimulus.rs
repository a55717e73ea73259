//! Stimulus generators: parameter sets and dot products aimed at targets.
//!
//! Every generator draws from a [`ChaCha8Rng`] derived from (seed, name), so a
//! named test means the same stimulus on every machine and whatever the
//! number of parallel jobs.

use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::arith::mac::Accumulator;
use crate::arith::requant::DatapathRounding;
use crate::arith::DType;
use crate::cosim::transaction::{DotJob, Item, LaneParams, Params};

/// The generator of a named test: seed mixed with an FNV-1a hash of the name.
pub fn rng_for(seed: u64, name: &str) -> ChaCha8Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(seed ^ h)
}

/// Derived seed of a named test (for X-initialisation and backpressure).
pub fn seed_for(seed: u64, name: &str) -> u64 {
    rng_for(seed, name).random()
}

/// A multiplier in the normal Q31 range [2^30, 2^31) with its edges.
pub fn m0_normal(rng: &mut ChaCha8Rng, mult_w: u32) -> i32 {
    let hi = 1i64 << (mult_w - 1);
    let lo = hi / 2;
    match rng.random_range(0..8) {
        0 => lo as i32,
        1 => (hi - 1) as i32,
        _ => rng.random_range(lo..hi) as i32,
    }
}

/// A random activation byte, raw.
pub fn x_byte(rng: &mut ChaCha8Rng) -> u8 {
    match rng.random_range(0..8) {
        0 => 0x80,
        1 => 0x7f,
        2 => 0xff,
        3 => 0,
        _ => rng.random(),
    }
}

/// A random weight byte, -128 included.
pub fn w_byte(rng: &mut ChaCha8Rng) -> u8 {
    match rng.random_range(0..8) {
        0 => 0x80,
        1 => 0x7f,
        _ => rng.random(),
    }
}

/// Random but valid parameters: zero points within the activation type,
/// e in [−31, 30] (mostly realistic right shifts), bounds within the type.
pub fn random_params(rng: &mut ChaCha8Rng, lanes: usize, mult_w: u32) -> Params {
    let input_dtype = if rng.random_bool(0.3) {
        DType::Uint8
    } else {
        DType::Int8
    };
    let out_dtype = if rng.random_bool(0.3) {
        DType::Uint8
    } else {
        DType::Int8
    };
    let (xlo, xhi) = input_dtype.range();
    let (ylo, yhi) = out_dtype.range();
    let zp_x = match rng.random_range(0..6) {
        0 => xlo,
        1 => xhi,
        _ => rng.random_range(xlo..=xhi),
    };
    let zp_w = if rng.random_bool(0.2) {
        rng.random_range(-128..=127)
    } else {
        0
    };
    let zp_out = rng.random_range(ylo..=yhi);
    let (act_min, act_max) = match rng.random_range(0..6) {
        0 => (zp_out.max(ylo), yhi),
        1 => {
            let a = rng.random_range(ylo..=yhi);
            (a, a)
        }
        2 => {
            let a = rng.random_range(ylo..=yhi);
            let b = rng.random_range(ylo..=yhi);
            (a.min(b), a.max(b))
        }
        _ => (ylo, yhi),
    };
    let lanes = (0..lanes)
        .map(|_| LaneParams {
            bias: match rng.random_range(0..6) {
                0 => rng.random(),
                _ => rng.random_range(-100_000..100_000),
            },
            m0: m0_normal(rng, mult_w),
            shift: match rng.random_range(0..10) {
                0 => rng.random_range(-31..=30),
                1 => rng.random_range(-6..=-1),
                _ => rng.random_range(-14..=-4),
            },
        })
        .collect();
    Params {
        rounding: if rng.random_bool(0.5) {
            DatapathRounding::Double
        } else {
            DatapathRounding::Single
        },
        input_dtype,
        zp_x,
        zp_w,
        zp_out,
        act_min,
        act_max,
        x_per_lane: rng.random_bool(0.3),
        lanes,
    }
}

/// A random dot product of `k` taps for parameters `p` (per-lane
/// activations when `p` says so).
pub fn random_dot(rng: &mut ChaCha8Rng, p: &Params, k: usize, tag: u64) -> DotJob {
    let lanes = p.lanes.len();
    if p.x_per_lane {
        let xl = (0..k * lanes).map(|_| x_byte(rng)).collect();
        let w = (0..k * lanes).map(|_| w_byte(rng)).collect();
        return DotJob::per_lane(xl, w, lanes, tag);
    }
    let x = (0..k).map(|_| x_byte(rng)).collect();
    let w = (0..k * lanes).map(|_| w_byte(rng)).collect();
    DotJob::new(x, w, tag)
}

/// Random taps, then per-lane biases chosen so that lane l's accumulator is
/// exactly `targets[l]` (mod 2^32). Returns the parameters with those biases.
pub fn dot_with_targets(
    rng: &mut ChaCha8Rng,
    params: &Params,
    k: usize,
    targets: &[i32],
    tag: u64,
) -> (Params, DotJob) {
    let lanes = params.lanes.len();
    let job = random_dot(rng, params, k, tag);
    let mut p = params.clone();
    for (l, &target) in targets.iter().enumerate().take(lanes) {
        let mut sum = Accumulator::start(0);
        for t in 0..job.x.len() {
            sum.add(Accumulator::product(
                params.x_value(job.x_at(t, l, lanes)),
                job.w[t * lanes + l] as i8 as i32,
                params.zp_x,
                params.zp_w,
            ));
        }
        p.lanes[l].bias = target.wrapping_sub(sum.dot.acc);
    }
    (p, job)
}

/// The cfg-port corner: `count` short dot products (1..3 taps), each after a
/// parameter set that differs from the previous one in exactly one register
/// (a rounding or signedness switch, a zero point, a clamp bound, or one
/// lane's bias, M0 or shift), so a host that writes only what changes sends
/// one register write right before a beat.
pub fn one_register_steps(
    rng: &mut ChaCha8Rng,
    lanes: usize,
    mult_w: u32,
    count: usize,
) -> Vec<(Params, DotJob)> {
    let mut p = random_params(rng, lanes, mult_w);
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let q = random_params(rng, lanes, mult_w);
        let l = rng.random_range(0..lanes);
        match rng.random_range(0..10) {
            0 => p.rounding = q.rounding,
            1 if (0..=127).contains(&p.zp_x) => {
                p.input_dtype = match p.input_dtype {
                    DType::Int8 => DType::Uint8,
                    DType::Uint8 => DType::Int8,
                }
            }
            1 | 2 => {
                let (lo, hi) = p.input_dtype.range();
                p.zp_x = rng.random_range(lo..=hi);
            }
            3 => p.zp_w = rng.random_range(-128..=127),
            4 => p.zp_out = q.zp_out,
            5 => p.act_min = rng.random_range(-128..=p.act_max.min(255)),
            6 => p.act_max = rng.random_range(p.act_min.max(-128)..=255),
            7 => p.lanes[l].bias = q.lanes[l].bias,
            8 => p.lanes[l].m0 = q.lanes[l].m0,
            _ => p.lanes[l].shift = q.lanes[l].shift,
        }
        let k = rng.random_range(1..=3);
        pairs.push({
            let j = random_dot(rng, &p, k, i);
            (p.clone(), j)
        });
    }
    pairs
}

/// A parameter set that leaves most registers at their reset values
/// ([`Params::reset_values`]) and sets a random few: after a reset, a host
/// that writes only what differs relies on the documented reset values.
pub fn mostly_reset_values(rng: &mut ChaCha8Rng, lanes: usize, mult_w: u32) -> Params {
    let q = random_params(rng, lanes, mult_w);
    let mut p = Params::reset_values(lanes);
    if rng.random_bool(0.3) {
        p.rounding = q.rounding;
    }
    if rng.random_bool(0.3) {
        p.input_dtype = q.input_dtype;
    }
    if rng.random_bool(0.3) {
        let (lo, hi) = p.input_dtype.range();
        p.zp_x = q.zp_x.clamp(lo, hi);
    }
    if rng.random_bool(0.3) {
        p.zp_w = q.zp_w;
    }
    if rng.random_bool(0.3) {
        p.zp_out = q.zp_out;
    }
    match rng.random_range(0..4) {
        0 => {}
        1 => p.act_max = q.act_max.max(0),
        2 => p.act_min = q.act_min.min(0),
        _ => (p.act_min, p.act_max) = (q.act_min, q.act_max),
    }
    for (l, lp) in p.lanes.iter_mut().enumerate() {
        if rng.random_bool(0.5) {
            lp.bias = q.lanes[l].bias;
        }
        if rng.random_bool(0.5) {
            lp.m0 = q.lanes[l].m0;
        }
        if rng.random_bool(0.5) {
            lp.shift = q.lanes[l].shift;
        }
    }
    p
}

/// Items for a list of (params, job) pairs, loading parameters only when they change.
pub fn items(pairs: Vec<(Params, DotJob)>) -> Vec<Item> {
    let mut out = Vec::with_capacity(pairs.len() * 2);
    let mut last: Option<Arc<Params>> = None;
    for (p, j) in pairs {
        if last.as_deref() != Some(&p) {
            let a = Arc::new(p);
            out.push(Item::Params(a.clone()));
            last = Some(a);
        }
        out.push(Item::Dot(Arc::new(j)));
    }
    out
}

/// A constrained-random stream of `count` dot products: random parameter
/// sets (reloaded mid-stream, ~3% of dot products), K mostly 1..40 with long
/// reductions now and then.
pub fn random_stream(rng: &mut ChaCha8Rng, lanes: usize, mult_w: u32, count: usize) -> Vec<Item> {
    let mut pairs = Vec::with_capacity(count);
    let mut p = random_params(rng, lanes, mult_w);
    for i in 0..count as u64 {
        if rng.random_bool(0.03) {
            p = random_params(rng, lanes, mult_w);
        }
        let k = match rng.random_range(0..20) {
            0 => rng.random_range(100..400),
            1..=4 => 1,
            _ => rng.random_range(2..40),
        };
        pairs.push({
            let j = random_dot(rng, &p, k, i);
            (p.clone(), j)
        });
    }
    items(pairs)
}

/// Clamp-bound corners on `p` (output type int8 or uint8 drawn here):
/// `kind % 4` = 0 act_min = act_max, 1 ReLU [zp_out, max], 2 ReLU6-like
/// [zp_out, zp_out + up to 200], 3 random bounds inside the range.
pub fn clamp_corner(rng: &mut ChaCha8Rng, p: &mut Params, kind: u64) {
    let (lo, hi) = if rng.random_bool(0.5) {
        (-128, 127)
    } else {
        (0, 255)
    };
    p.zp_out = rng.random_range(lo..=hi);
    let (a, b) = match kind % 4 {
        0 => {
            let a = rng.random_range(lo..=hi);
            (a, a)
        }
        1 => (p.zp_out, hi),
        2 => (p.zp_out, (p.zp_out + rng.random_range(0..200)).min(hi)),
        _ => {
            let a = rng.random_range(lo..=hi);
            let b = rng.random_range(lo..=hi);
            (a.min(b), a.max(b))
        }
    };
    p.act_min = a;
    p.act_max = b;
}

/// Random parameters for the `i`-th dot product of a mode-switching run:
/// the rounding mode alternates every dot product and the activation
/// signedness every two (zp_x kept inside the type).
pub fn mode_switch_params(rng: &mut ChaCha8Rng, lanes: usize, mult_w: u32, i: u64) -> Params {
    let mut p = random_params(rng, lanes, mult_w);
    p.rounding = if i.is_multiple_of(2) {
        DatapathRounding::Double
    } else {
        DatapathRounding::Single
    };
    p.input_dtype = if (i / 2).is_multiple_of(2) {
        DType::Int8
    } else {
        DType::Uint8
    };
    let (lo, hi) = p.input_dtype.range();
    p.zp_x = p.zp_x.clamp(lo, hi);
    p
}

/// An accumulator on (or next to) an exact tie of M = 2^(e−1) (m0 = 2^(W−2)):
/// ±(2j+1)·2^(−e), sometimes ± 1. `e` must be negative.
pub fn tie_target(rng: &mut ChaCha8Rng, e: i32) -> i32 {
    let j: i32 = rng.random_range(0..40);
    let sign = if rng.random_bool(0.5) { 1 } else { -1 };
    sign * (2 * j + 1) * (1i32 << (-e)) + [0, 0, 0, 1, -1][rng.random_range(0..5)]
}

/// How far below 2^31 / above −2^31 the "near the wrap" biases reach.
pub const NEAR_WRAP: i32 = 60_000;

/// Corner: every lane's bias at or near ±2^31, so the accumulation wraps
/// (and sets the sticky overflow flag) on small dot products.
pub fn bias_near_wrap(rng: &mut ChaCha8Rng, p: &mut Params) {
    for lp in p.lanes.iter_mut() {
        lp.bias = match rng.random_range(0..4) {
            0 => i32::MAX - rng.random_range(0..NEAR_WRAP),
            1 => i32::MIN + rng.random_range(0..NEAR_WRAP),
            2 => i32::MAX,
            _ => i32::MIN,
        };
    }
}

/// Which accumulator meets `M0 = INT32_MIN` in [`srdhm_saturation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrdhmOperand {
    /// INT32_MIN itself (a right shift in −5..=0): the saturation.
    Min,
    /// 2^29, which the left shift by 2 wraps to INT32_MIN: the saturation.
    ViaShift,
    /// A small accumulator: no saturation (a datapath that saturates on
    /// `M0 = INT32_MIN` alone, ignoring the operand, is wrong here).
    Small,
}

/// Corner: SRDHM's one overflow, `a = M0 = INT32_MIN` (at the multiplier
/// width `mult_w`), and its near miss: every lane's M0 is the most negative
/// value; returns the accumulator target for the `operand` case.
pub fn srdhm_saturation(
    rng: &mut ChaCha8Rng,
    p: &mut Params,
    mult_w: u32,
    operand: SrdhmOperand,
) -> i32 {
    for lp in p.lanes.iter_mut() {
        lp.m0 = (-(1i64 << (mult_w - 1))) as i32;
        lp.shift = match operand {
            SrdhmOperand::ViaShift => 2,
            _ => rng.random_range(-5..=0),
        };
    }
    match operand {
        SrdhmOperand::Min => i32::MIN,
        SrdhmOperand::ViaShift => 1 << 29,
        SrdhmOperand::Small => rng.random_range(-1000..=1000),
    }
}

/// Corner: a full-scale reduction of `k` taps, every product the extreme
/// (255 − 0)·(−128) for uint8 (zp_x = 0) or (127 + 128)·(−128) for int8
/// (zp_x = −128): K ≥ 65 794 wraps the 32-bit accumulator, 65 793 does not.
pub fn full_scale_reduction(p: &mut Params, uint8: bool, k: usize, lanes: usize) -> DotJob {
    p.input_dtype = if uint8 { DType::Uint8 } else { DType::Int8 };
    p.zp_x = if uint8 { 0 } else { -128 };
    p.zp_w = 0;
    p.x_per_lane = false;
    DotJob::new(
        vec![if uint8 { 255 } else { 127 }; k],
        vec![0x80; k * lanes],
        0,
    )
}
