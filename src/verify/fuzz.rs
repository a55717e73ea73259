//! Constrained-random fuzzing of the RTL against the golden model, with
//! generators weighted toward the edges, functional coverage, automatic
//! shrinking of a failing transaction and replayable repro files.
//!
//! Iteration `i` of seed `S` draws everything from ChaCha8(S, "fuzz-i"), so
//! the same seed and iteration count give the same transactions and the same
//! coverage whatever `--jobs` is.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::arith::requant::{narrow_multiplier, quantize_multiplier, IntRounding};
use crate::arith::DType;
use crate::cosim::coverage::Coverage;
use crate::cosim::dut::Dut;
use crate::cosim::scoreboard::RunStats;
use crate::cosim::transaction::{
    Backpressure, DotJob, Item, LaneParams, Params, StreamCheck, StreamError,
};
use crate::cosim::{self, RunOptions};
use crate::error::InputError;
use crate::verify::stimulus::{
    clamp_corner, dot_with_targets, items, m0_normal, mode_switch_params, random_dot,
    random_params, random_stream, rng_for, seed_for, tie_target,
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
};
const OUT_HEAVY: Backpressure = Backpressure {
    in_gap: 0.05,
    out_stall: 0.9,
    long_stall: 0.02,
};

fn rounding(rng: &mut ChaCha8Rng) -> IntRounding {
    if rng.random_bool(0.5) {
        IntRounding::Double
    } else {
        IntRounding::Single
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
                    let (m0, e) = quantize_multiplier(real, p.rounding == IntRounding::Single);
                    let (m0, e) = narrow_multiplier(m0, e, w);
                    lp.m0 = m0;
                    lp.shift = e;
                    gen_cov.hit("m0_carry");
                }
                let k = rng.random_range(1..10);
                pairs.push((p, random_dot(&mut rng, lanes, k, i)));
            }
        }
        36..=39 => {
            // SRDHM's one overflow: a = M0 = INT32_MIN (directly, or by a wrapping left shift).
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                p.rounding = IntRounding::Double;
                let via = rng.random_bool(0.5);
                for lp in p.lanes.iter_mut() {
                    lp.m0 = (-(1i64 << (w - 1))) as i32;
                    lp.shift = if via { 2 } else { rng.random_range(-5..=0) };
                }
                let t = if via { 1 << 29 } else { i32::MIN };
                let k = rng.random_range(1..3);
                pairs.push(dot_with_targets(&mut rng, &p, k, &vec![t; lanes], i));
            }
        }
        40..=49 => {
            // Accumulators and biases near ±2^31, wrapping.
            for i in 0..n {
                let mut p = random_params(&mut rng, lanes, w);
                for lp in p.lanes.iter_mut() {
                    lp.bias = match rng.random_range(0..4) {
                        0 => i32::MAX - rng.random_range(0..60_000),
                        1 => i32::MIN + rng.random_range(0..60_000),
                        2 => i32::MAX,
                        _ => i32::MIN,
                    };
                }
                let k = rng.random_range(1..12);
                pairs.push((p, random_dot(&mut rng, lanes, k, i)));
            }
        }
        50..=51 => {
            // A full-scale reduction long enough to wrap (K >= 65 794).
            let mut p = random_params(&mut rng, lanes, w);
            let u8 = rng.random_bool(0.5);
            p.input_dtype = if u8 { DType::Uint8 } else { DType::Int8 };
            p.zp_x = if u8 { 0 } else { -128 };
            p.zp_w = 0;
            let x = if u8 { 255u8 } else { 127u8 };
            let k = rng.random_range(65_794..66_200);
            pairs.push((
                p,
                DotJob {
                    x: vec![x; k],
                    w: vec![0x80; k * lanes],
                    tag: 0,
                },
            ));
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
                let mut j = random_dot(&mut rng, lanes, k, i);
                let (lo, hi) = dt.range();
                let far = if zp == lo { hi } else { lo };
                for x in j.x.iter_mut() {
                    if rng.random_bool(0.8) {
                        *x = far as u8;
                    }
                }
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
                pairs.push((p, random_dot(&mut rng, lanes, k, i)));
            }
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
        3..=6 => Backpressure::RANDOM,
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

fn fails(dut: &mut Dut, tx: &Transaction, runs: &mut usize) -> bool {
    *runs += 1;
    !run(dut, tx, "").passed()
}

/// Rebuild the items from (params, dot) pairs (parameters reloaded where they change).
fn pairs_of(tx: &Transaction) -> Vec<(Params, DotJob)> {
    let mut p: Option<Arc<Params>> = None;
    let mut out = Vec::new();
    for it in &tx.items {
        match it {
            Item::Params(q) => p = Some(q.clone()),
            Item::Dot(j) => {
                out.push(((**p.as_ref().expect("params first")).clone(), (**j).clone()))
            }
        }
    }
    out
}

fn with_pairs(tx: &Transaction, pairs: Vec<(Params, DotJob)>) -> Transaction {
    Transaction {
        items: items(pairs),
        ..tx.clone()
    }
}

/// Shrink a failing transaction while it still fails: no backpressure, fewer
/// dot products, fewer taps, smaller magnitudes, simpler parameters.
/// Returns the minimal transaction and the number of runs it took.
pub fn shrink(dut: &mut Dut, tx: &Transaction, budget: usize) -> (Transaction, usize) {
    let mut runs = 0;
    let mut best = tx.clone();
    if !fails(dut, &best, &mut runs) {
        return (best, runs);
    }
    let try_tx =
        |dut: &mut Dut, cand: Transaction, best: &mut Transaction, runs: &mut usize| -> bool {
            if *runs < budget && fails(dut, &cand, runs) {
                *best = cand;
                true
            } else {
                false
            }
        };
    if !best.backpressure.is_none() {
        let cand = Transaction {
            backpressure: Backpressure::NONE,
            ..best.clone()
        };
        try_tx(dut, cand, &mut best, &mut runs);
    }
    let mut changed = true;
    while changed && runs < budget {
        changed = false;
        // Fewer dot products: drop halves, then single ones.
        let pairs = pairs_of(&best);
        let mut chunk = pairs.len() / 2;
        while chunk >= 1 {
            let pairs = pairs_of(&best);
            let mut i = 0;
            while i < pairs.len() && pairs.len() > 1 {
                let mut cand: Vec<(Params, DotJob)> = pairs.clone();
                let end = (i + chunk).min(cand.len());
                cand.drain(i..end);
                if !cand.is_empty() && try_tx(dut, with_pairs(&best, cand), &mut best, &mut runs) {
                    changed = true;
                    break;
                }
                i += chunk;
            }
            if !changed {
                chunk /= 2;
            } else {
                break;
            }
        }
        if changed {
            continue;
        }
        // Fewer taps, smaller operands, simpler parameters (per dot product).
        let pairs = pairs_of(&best);
        let lanes = best.lanes;
        'outer: for d in 0..pairs.len() {
            let (p, j) = &pairs[d];
            let k = j.x.len();
            let mut cands: Vec<(Params, DotJob)> = Vec::new();
            if k > 1 {
                for (a, b) in [(0, k / 2), (k / 2, k)] {
                    cands.push((
                        p.clone(),
                        DotJob {
                            x: j.x[a..b].to_vec(),
                            w: j.w[a * lanes..b * lanes].to_vec(),
                            tag: j.tag,
                        },
                    ));
                }
                for t in 0..k.min(64) {
                    let mut x = j.x.clone();
                    let mut w = j.w.clone();
                    x.remove(t);
                    w.drain(t * lanes..(t + 1) * lanes);
                    cands.push((p.clone(), DotJob { x, w, tag: j.tag }));
                }
            }
            let zpx_byte = match p.input_dtype {
                DType::Int8 => p.zp_x as i8 as u8,
                DType::Uint8 => p.zp_x as u8,
            };
            for t in 0..k.min(64) {
                if j.x[t] != zpx_byte {
                    let mut x = j.x.clone();
                    x[t] = zpx_byte;
                    cands.push((
                        p.clone(),
                        DotJob {
                            x,
                            w: j.w.clone(),
                            tag: j.tag,
                        },
                    ));
                }
                for l in 0..lanes {
                    let v = j.w[t * lanes + l];
                    for nv in [0u8, ((v as i8) / 2) as u8] {
                        if v != nv {
                            let mut w = j.w.clone();
                            w[t * lanes + l] = nv;
                            cands.push((
                                p.clone(),
                                DotJob {
                                    x: j.x.clone(),
                                    w,
                                    tag: j.tag,
                                },
                            ));
                        }
                    }
                }
            }
            let mut simpler = Vec::new();
            // Keep one lane's parameters, all others zero (collapses multi-lane noise fast).
            if lanes > 1 {
                for keep in 0..lanes {
                    let mut q = p.clone();
                    for (l, lp) in q.lanes.iter_mut().enumerate() {
                        if l != keep {
                            *lp = LaneParams::default();
                        }
                    }
                    if q != *p {
                        simpler.push(q);
                    }
                }
            }
            for l in 0..lanes {
                let lp = p.lanes[l];
                for c in [
                    LaneParams { bias: 0, ..lp },
                    LaneParams {
                        bias: lp.bias / 2,
                        ..lp
                    },
                    LaneParams {
                        m0: 1 << (best.mult_w - 2),
                        ..lp
                    },
                    LaneParams { shift: -1, ..lp },
                    LaneParams::default(),
                ] {
                    if c != lp {
                        let mut q = p.clone();
                        q.lanes[l] = c;
                        simpler.push(q);
                    }
                }
            }
            for q in [
                Params {
                    zp_w: 0,
                    ..p.clone()
                },
                Params {
                    zp_out: 0.clamp(p.act_min, p.act_max),
                    ..p.clone()
                },
                Params {
                    // The widest bounds the datapath takes (parenthesised: `-128.min(x)`
                    // would parse as `-(128.min(x))`).
                    act_min: (-128i32).min(p.act_min),
                    act_max: 127i32.max(p.act_max),
                    ..p.clone()
                },
            ] {
                if q != *p {
                    simpler.push(q);
                }
            }
            // Structure first (fewer taps), then operands, then parameters.
            cands.extend(simpler.into_iter().map(|q| (q, j.clone())));
            for c in cands {
                let mut cp = pairs.clone();
                cp[d] = c;
                if try_tx(dut, with_pairs(&best, cp), &mut best, &mut runs) {
                    changed = true;
                    break 'outer;
                }
            }
        }
    }
    (best, runs)
}

// ---------------- transaction files ----------------

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BpFile {
    in_gap: f64,
    out_stall: f64,
    long_stall: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LaneFile {
    bias: i32,
    m0: i32,
    shift: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsFile {
    rounding: String,
    input_dtype: String,
    zp_x: i32,
    zp_w: i32,
    zp_out: i32,
    act_min: i32,
    act_max: i32,
    lanes: Vec<LaneFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DotFile {
    /// Activations as values of the parameter set's input type.
    x: Vec<i32>,
    /// int8 weights, tap-major: w[t·lanes + l].
    w: Vec<i32>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ItemFile {
    Params(ParamsFile),
    Dot(DotFile),
}

/// The JSON transaction file written for a repro and read by `qmac fuzz --replay`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxFile {
    qmac_transaction: u32,
    /// Where it came from (seed, iteration, shrinking), free text.
    source: String,
    lanes: usize,
    mult_w: u32,
    bp_seed: u64,
    backpressure: BpFile,
    items: Vec<ItemFile>,
}

pub fn to_json(tx: &Transaction, source: &str) -> String {
    let mut items_f = Vec::new();
    let mut cur: Option<Arc<Params>> = None;
    for it in &tx.items {
        match it {
            Item::Params(p) => {
                items_f.push(ItemFile::Params(ParamsFile {
                    rounding: p.rounding.name().into(),
                    input_dtype: p.input_dtype.name().into(),
                    zp_x: p.zp_x,
                    zp_w: p.zp_w,
                    zp_out: p.zp_out,
                    act_min: p.act_min,
                    act_max: p.act_max,
                    lanes: p
                        .lanes
                        .iter()
                        .map(|l| LaneFile {
                            bias: l.bias,
                            m0: l.m0,
                            shift: l.shift,
                        })
                        .collect(),
                }));
                cur = Some(p.clone());
            }
            Item::Dot(j) => {
                let p = cur.as_ref().expect("params first");
                items_f.push(ItemFile::Dot(DotFile {
                    x: j.x.iter().map(|&b| p.x_value(b)).collect(),
                    w: j.w.iter().map(|&b| b as i8 as i32).collect(),
                }));
            }
        }
    }
    let f = TxFile {
        qmac_transaction: 1,
        source: source.into(),
        lanes: tx.lanes,
        mult_w: tx.mult_w,
        bp_seed: tx.bp_seed,
        backpressure: BpFile {
            in_gap: tx.backpressure.in_gap,
            out_stall: tx.backpressure.out_stall,
            long_stall: tx.backpressure.long_stall,
        },
        items: items_f,
    };
    serde_json::to_string_pretty(&f).expect("serialisable") + "\n"
}

/// Read and validate a transaction file.
pub fn read(path: &Path) -> Result<Transaction, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    let f: TxFile = serde_json::from_str(&text)
        .map_err(|e| InputError::new(path, format!("line {}", e.line()), e.to_string()))?;
    if f.qmac_transaction != 1 {
        return Err(InputError::new(
            path,
            "field `qmac_transaction`",
            "unsupported version (expected 1)",
        ));
    }
    if f.lanes == 0 || f.lanes > 64 {
        return Err(InputError::new(
            path,
            "field `lanes`",
            format!("{} is not in 1..=64", f.lanes),
        ));
    }
    if !(2..=32).contains(&f.mult_w) {
        return Err(InputError::new(
            path,
            "field `mult_w`",
            format!("{} is not in 2..=32", f.mult_w),
        ));
    }
    let mut out = Vec::new();
    // The stream rules (widths, order, taps) are the driver's own: StreamCheck.
    let mut check = StreamCheck::new(f.lanes);
    let stream_err =
        |i: usize, e: StreamError| InputError::new(path, format!("field `items[{i}]`"), e);
    for (i, it) in f.items.into_iter().enumerate() {
        let at = |field: &str| format!("field `items[{i}].{field}`");
        match it {
            ItemFile::Params(p) => {
                let rounding = match p.rounding.as_str() {
                    "double" => IntRounding::Double,
                    "single" => IntRounding::Single,
                    o => {
                        return Err(InputError::new(
                            path,
                            at("rounding"),
                            format!("`{o}` is not double or single"),
                        ))
                    }
                };
                let input_dtype = match p.input_dtype.as_str() {
                    "int8" => DType::Int8,
                    "uint8" => DType::Uint8,
                    o => {
                        return Err(InputError::new(
                            path,
                            at("input_dtype"),
                            format!("`{o}` is not int8 or uint8"),
                        ))
                    }
                };
                let (lo, hi) = input_dtype.range();
                if p.zp_x < lo || p.zp_x > hi {
                    return Err(InputError::new(
                        path,
                        at("zp_x"),
                        format!("{} is outside [{lo}, {hi}]", p.zp_x),
                    ));
                }
                if !(-128..=127).contains(&p.zp_w) {
                    return Err(InputError::new(
                        path,
                        at("zp_w"),
                        format!("{} is not int8", p.zp_w),
                    ));
                }
                if p.act_min > p.act_max
                    || p.act_min < -128
                    || p.act_max > 255
                    || !(-256..=255).contains(&p.zp_out)
                {
                    return Err(InputError::new(
                        path,
                        at("act_min"),
                        "act_min <= act_max within [-128, 255] and zp_out in [-256, 255] required",
                    ));
                }
                let wmax = (1i64 << (f.mult_w - 1)) - 1;
                let mut lanes = Vec::new();
                for (l, lp) in p.lanes.iter().enumerate() {
                    if !(-31..=30).contains(&lp.shift)
                        || (lp.m0 as i64) > wmax
                        || (lp.m0 as i64) < -wmax - 1
                    {
                        return Err(InputError::new(
                            path,
                            at(&format!("lanes[{l}]")),
                            format!("shift must be in [-31, 30] and m0 fit {} bits", f.mult_w),
                        ));
                    }
                    lanes.push(LaneParams {
                        bias: lp.bias,
                        m0: lp.m0,
                        shift: lp.shift,
                    });
                }
                let p = Arc::new(Params {
                    rounding,
                    input_dtype,
                    zp_x: p.zp_x,
                    zp_w: p.zp_w,
                    zp_out: p.zp_out,
                    act_min: p.act_min,
                    act_max: p.act_max,
                    lanes,
                });
                let item = Item::Params(p);
                check.next(&item).map_err(|e| stream_err(i, e))?;
                out.push(item);
            }
            ItemFile::Dot(d) => {
                let item = Item::Dot(Arc::new(DotJob {
                    x: d.x.iter().map(|&v| v as u8).collect(),
                    w: d.w.iter().map(|&v| v as i8 as u8).collect(),
                    tag: i as u64,
                }));
                let p = check
                    .next(&item)
                    .map_err(|e| stream_err(i, e))?
                    .expect("StreamCheck returns a dot product's parameters");
                let (lo, hi) = p.input_dtype.range();
                if let Some(t) = d.x.iter().position(|&x| x < lo || x > hi) {
                    return Err(InputError::new(
                        path,
                        format!("element {t} of `items[{i}].x`"),
                        format!("{} is outside [{lo}, {hi}]", d.x[t]),
                    ));
                }
                if let Some(t) = d.w.iter().position(|&w| !(-128..=127).contains(&w)) {
                    return Err(InputError::new(
                        path,
                        format!("element {t} of `items[{i}].w`"),
                        format!("{} is not int8", d.w[t]),
                    ));
                }
                out.push(item);
            }
        }
    }
    let bp = Backpressure {
        in_gap: f.backpressure.in_gap,
        out_stall: f.backpressure.out_stall,
        long_stall: f.backpressure.long_stall,
    };
    if let Err((field, why)) = bp.check() {
        return Err(InputError::new(
            path,
            format!("field `backpressure.{field}`"),
            why,
        ));
    }
    Ok(Transaction {
        lanes: f.lanes,
        mult_w: f.mult_w,
        backpressure: bp,
        bp_seed: f.bp_seed,
        items: out,
    })
}

/// Write `tx` as a repro file (refusing to overwrite).
pub fn write_repro(path: &Path, tx: &Transaction, source: &str) -> Result<()> {
    if path.exists() {
        anyhow::bail!(InputError::new(
            path,
            "file",
            "exists: refusing to overwrite a repro"
        ));
    }
    std::fs::write(path, to_json(tx, source)).with_context(|| format!("writing {}", path.display()))
}
