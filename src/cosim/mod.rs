//! Stimulus → driver → DUT → monitor → scoreboard, checked every cycle.
//!
//! A stimulus is a stream of [`Item`]s: parameter sets ([`Params`], loaded
//! through the cfg port) and dot products ([`DotJob`], streamed as beats with
//! `first`/`last`). The scoreboard computes each dot product's expected
//! result with the golden model ([`crate::arith::mac`], [`crate::arith::requant`]) when the
//! driver takes it, and checks, every cycle:
//! * each output beat, in order, bit-exact on every lane: y, the 32-bit
//!   accumulator and the sticky overflow flag;
//! * no output without a pending dot product, none lost or duplicated;
//! * out_valid and the output data stay steady while out_ready is low;
//! * the latency from a dot product's last beat to its result is
//!   [`LATENCY`] when the pipeline did not stall in between;
//! * progress: a stall-free cycle budget without any transfer is a deadlock.
//!
//! Backpressure (input valid gaps, output ready low, long stalls) is drawn
//! on the C++ side from a xorshift generator seeded by the run's seed, so a
//! run is reproducible.

pub mod coverage;
pub mod dut;
pub mod lower;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::arith::mac::Accumulator;
use crate::arith::requant::{IntRounding, Requant};
use crate::arith::DType;
use crate::cosim::dut::{op, reg, BatchConfig, BatchOut, Dut, LATENCY};

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
    pub rounding: IntRounding,
    pub input_dtype: DType,
    pub zp_x: i32,
    pub zp_w: i32,
    pub zp_out: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub lanes: Vec<LaneParams>,
}

impl Params {
    /// The cfg writes that load these parameters (every register).
    pub fn cfg_writes(&self) -> Vec<(u16, u32)> {
        let mut ctl = 0;
        if self.rounding == IntRounding::Single {
            ctl |= reg::CTRL_SINGLE;
        }
        if self.input_dtype == DType::Uint8 {
            ctl |= reg::CTRL_U8;
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

    /// The golden requantization of lane `l` with a `mult_bits`-wide multiplier.
    pub fn requant(&self, l: usize, mult_bits: u32) -> Requant {
        let p = self.lanes[l];
        Requant {
            m0: p.m0,
            shift: p.shift,
            zp_out: self.zp_out,
            act_min: self.act_min,
            act_max: self.act_max,
            rounding: self.rounding,
            mult_bits,
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

/// One dot product per lane: `x[t]` shared, `w[t·lanes + l]` for lane l.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotJob {
    pub x: Vec<u8>,
    pub w: Vec<u8>,
    /// Caller's identifier (e.g. the output index of lane 0).
    pub tag: u64,
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
}

impl Backpressure {
    pub const NONE: Backpressure = Backpressure {
        in_gap: 0.0,
        out_stall: 0.0,
        long_stall: 0.0,
    };
    pub const RANDOM: Backpressure = Backpressure {
        in_gap: 0.25,
        out_stall: 0.3,
        long_stall: 0.002,
    };
    pub fn is_none(&self) -> bool {
        self.in_gap == 0.0 && self.out_stall == 0.0 && self.long_stall == 0.0
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

/// The cycle bound of a run: every run ends with a verdict. Generous (4× the
/// expected cycles of the stimulus under its backpressure, plus the deadlock
/// watchdog and a fixed margin), so only a DUT that makes no progress, or
/// far too little, reaches it.
pub fn cycle_bound(ops: u64, dots: u64, bp: &Backpressure) -> u64 {
    let expected = (ops + dots * (LATENCY + 2)) as f64 * bp.slowdown();
    (4.0 * expected).min(1e18) as u64 + WATCHDOG + 10_000
}

/// The expected result of one dot product, kept while it is in flight.
#[derive(Debug, Clone)]
pub struct Expected {
    pub index: u64,
    pub tag: u64,
    pub y: Vec<u8>,
    pub acc: Vec<i32>,
    pub ovf: Vec<u8>,
    pub job: Arc<DotJob>,
    pub params: Arc<Params>,
}

/// The golden result of `job` under `params`, lane by lane, into the slices.
pub fn expect_into(
    job: &DotJob,
    params: &Params,
    mult_bits: u32,
    y: &mut [u8],
    acc: &mut [i32],
    ovf: &mut [u8],
) {
    let lanes = y.len();
    for l in 0..lanes {
        let mut a = Accumulator::start(params.lanes[l].bias);
        for (t, &x) in job.x.iter().enumerate() {
            let w = job.w[t * lanes + l] as i8 as i32;
            a.add(Accumulator::product(
                params.x_value(x),
                w,
                params.zp_x,
                params.zp_w,
            ));
        }
        acc[l] = a.dot.acc;
        ovf[l] = a.dot.overflow as u8;
        y[l] = params.requant(l, mult_bits).apply(a.dot.acc) as u8;
    }
}

/// The golden result of `job` under `params` (lane by lane).
pub fn expect(
    job: &DotJob,
    params: &Params,
    lanes: usize,
    mult_bits: u32,
) -> (Vec<u8>, Vec<i32>, Vec<u8>) {
    let (mut y, mut acc, mut ovf) = (vec![0u8; lanes], vec![0i32; lanes], vec![0u8; lanes]);
    expect_into(job, params, mult_bits, &mut y, &mut acc, &mut ovf);
    (y, acc, ovf)
}

/// A checker failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub cycle: u64,
    pub message: String,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub cycles: u64,
    pub beats: u64,
    pub dots: u64,
    pub cfg_writes: u64,
    /// Lane results compared (dots × lanes).
    pub lane_results: u64,
    /// Lane results that differed.
    pub mismatches: u64,
    /// Cycles from the first to the last input beat (inclusive).
    pub stream_cycles: u64,
    pub failures: Vec<Failure>,
    pub failure_count: u64,
    /// Functional coverage of the run (when [`RunOptions::coverage`]).
    pub coverage: crate::cosim::coverage::Coverage,
}

impl RunStats {
    pub fn passed(&self) -> bool {
        self.failure_count == 0
    }
    pub fn beats_per_cycle(&self) -> f64 {
        if self.stream_cycles == 0 {
            0.0
        } else {
            self.beats as f64 / self.stream_cycles as f64
        }
    }
    pub fn merge(&mut self, o: &RunStats) {
        self.cycles += o.cycles;
        self.beats += o.beats;
        self.dots += o.dots;
        self.cfg_writes += o.cfg_writes;
        self.lane_results += o.lane_results;
        self.mismatches += o.mismatches;
        self.stream_cycles += o.stream_cycles;
        self.failure_count += o.failure_count;
        self.coverage.merge(&o.coverage);
        let room = MAX_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(o.failures.iter().take(room).cloned());
    }
}

/// Failures kept in detail (all are counted).
pub const MAX_FAILURES: usize = 10;
/// Cycles without any transfer while work is pending before a deadlock is declared.
pub const WATCHDOG: u64 = 5_000;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    pub backpressure: Backpressure,
    /// Appended to every failure message: how to replay this run.
    pub replay: String,
    /// Stop at the first failure (the default for regressions).
    pub stop_on_failure: bool,
    /// Sample functional coverage of every dot product.
    pub coverage: bool,
}

fn fmt_bytes_i(v: &[u8], signed: bool, max: usize) -> String {
    let mut s = String::from("[");
    for (i, &b) in v.iter().take(max).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}", if signed { b as i8 as i32 } else { b as i32 });
    }
    if v.len() > max {
        let _ = write!(s, ",… ({} total)", v.len());
    }
    s.push(']');
    s
}

fn describe(e: &Expected, lane: usize, lanes: usize) -> String {
    let p = &e.params;
    let lp = p.lanes[lane];
    let w: Vec<u8> = (0..e.job.x.len())
        .map(|t| e.job.w[t * lanes + lane])
        .collect();
    format!(
        "inputs: K={} x={} w[lane {lane}]={}; params: rounding={} input={} zp_x={} zp_w={} zp_out={} act=[{}, {}] bias={} m0={} shift={}",
        e.job.x.len(),
        fmt_bytes_i(&e.job.x, p.input_dtype == DType::Int8, 16),
        fmt_bytes_i(&w, true, 16),
        p.rounding.name(),
        p.input_dtype.name(),
        p.zp_x,
        p.zp_w,
        p.zp_out,
        p.act_min,
        p.act_max,
        lp.bias,
        lp.m0,
        lp.shift
    )
}

/// Operations per batch handed to the C++ side, and result records per batch.
const BATCH_OPS: usize = 8192;
const BATCH_OUT: usize = 2048;

fn prob(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 4_294_967_295.0) as u32
}

/// Drive `items` through `dut` and check every cycle. The stimulus is
/// streamed to the C++ side in batches (one FFI call per few thousand
/// cycles); the C++ driver applies AXI-Stream rules and the seeded
/// backpressure, and checks output stability while stalled; the scoreboard
/// here checks every result, its order and its latency. `on_result` sees
/// each checked result (the dot product's tag, the DUT's y and acc lanes) in
/// output order.
pub fn run<I>(
    dut: &mut Dut,
    items: I,
    opt: &RunOptions,
    mut on_result: impl FnMut(u64, &[u8], &[i32]),
) -> RunStats
where
    I: IntoIterator,
    I::Item: std::borrow::Borrow<Item>,
{
    use std::borrow::Borrow;
    let lanes = dut.lanes();
    let mult_bits = crate::cosim::dut::built_mult_w();
    let bp = opt.backpressure;
    let mut st = RunStats::default();
    dut.reset(4);
    // Cycles in failure messages count from the end of this run's reset, so
    // a run reports the same cycle on a fresh DUT (a replay) as on a reused one.
    let start_cycle = dut.cycles();
    let fail = |st: &mut RunStats, abs_cycle: u64, msg: String| {
        let cycle = abs_cycle.saturating_sub(start_cycle);
        st.failure_count += 1;
        if st.failures.len() < MAX_FAILURES {
            st.failures.push(Failure {
                cycle,
                message: format!(
                    "cycle {cycle}: {msg}; seed {}; replay: {}",
                    opt.seed, opt.replay
                ),
            });
        }
    };
    let mut cfg = BatchConfig {
        seed: opt.seed,
        reseed: true,
        in_gap: prob(bp.in_gap),
        out_stall: prob(bp.out_stall),
        long_stall: prob(bp.long_stall),
        watchdog: WATCHDOG,
        drain: false,
        tail_cycles: LATENCY + 6,
        stop_on_violation: opt.stop_on_failure,
        max_cycle: 0,
    };
    // Work encoded so far (ops and dot products), for the cycle bound.
    let (mut work_ops, mut work_dots) = (0u64, 0u64);
    let mut items = items.into_iter();
    let mut params: Option<Arc<Params>> = None;
    let mut prev_params: Option<Arc<Params>> = None;
    let mut reloaded = false;
    let mut ops: Vec<u64> = Vec::with_capacity(BATCH_OPS + 1024);
    let mut weights: Vec<u8> = Vec::with_capacity((BATCH_OPS + 1024) * lanes);
    // In-flight dot products: (index, job, params), and their expected lanes.
    let mut pending: VecDeque<(u64, Arc<DotJob>, Arc<Params>)> = VecDeque::new();
    // Expected lanes of the in-flight dot products, consumed from `ehead` on.
    let (mut ey, mut eacc, mut eovf) = (Vec::<u8>::new(), Vec::<i32>::new(), Vec::<u8>::new());
    let mut ehead = 0usize;
    let (mut ty, mut tacc, mut tovf) = (vec![0u8; lanes], vec![0i32; lanes], vec![0u8; lanes]);
    let mut lasts: VecDeque<(u64, u64)> = VecDeque::new();
    let mut out = BatchOut::new(lanes, BATCH_OUT);
    let mut next_index = 0u64;
    let mut exhausted = false;
    let mut first_beat: Option<u64> = None;
    let mut last_beat = 0u64;
    loop {
        // Encode stimulus up to a batch.
        while !exhausted && ops.len() < BATCH_OPS {
            let Some(it) = items.next() else {
                exhausted = true;
                break;
            };
            match it.borrow() {
                Item::Params(p) => {
                    if p.lanes.len() != lanes {
                        fail(
                            &mut st,
                            dut.cycles(),
                            format!(
                                "stimulus error: parameter set has {} lanes, DUT has {lanes}",
                                p.lanes.len()
                            ),
                        );
                        return st;
                    }
                    let writes = p.cfg_writes();
                    work_ops += writes.len() as u64;
                    ops.extend(writes.into_iter().map(|(a, d)| op::cfg(a, d)));
                    params = Some(p.clone());
                    reloaded = true;
                }
                Item::Dot(j) => {
                    let Some(p) = params.clone() else {
                        fail(
                            &mut st,
                            dut.cycles(),
                            "stimulus error: a dot product before any parameter set".into(),
                        );
                        return st;
                    };
                    let k = j.x.len();
                    if k == 0 || j.w.len() != k * lanes {
                        fail(
                            &mut st,
                            dut.cycles(),
                            format!(
                                "stimulus error: dot product with K = {k} and {} weights",
                                j.w.len()
                            ),
                        );
                        return st;
                    }
                    for t in 0..k {
                        ops.push(op::beat(j.x[t], t == 0, t + 1 == k));
                    }
                    work_ops += k as u64;
                    work_dots += 1;
                    weights.extend_from_slice(&j.w);
                    expect_into(j, &p, mult_bits, &mut ty, &mut tacc, &mut tovf);
                    if opt.coverage {
                        st.coverage.sample_dot(
                            &p,
                            prev_params.as_deref(),
                            reloaded,
                            j,
                            &tacc,
                            &tovf,
                            mult_bits,
                        );
                        prev_params = Some(p.clone());
                        reloaded = false;
                    }
                    ey.extend_from_slice(&ty);
                    eacc.extend_from_slice(&tacc);
                    eovf.extend_from_slice(&tovf);
                    pending.push_back((next_index, j.clone(), p));
                    next_index += 1;
                }
            }
        }
        cfg.drain = exhausted;
        cfg.max_cycle = start_cycle.saturating_add(cycle_bound(work_ops, work_dots, &bp));
        let r = dut.run_batch(&cfg, &ops, &weights, &mut out);
        cfg.reseed = false;
        if opt.coverage {
            st.coverage.sample_batch(&r);
        }
        if r.beats > 0 {
            first_beat.get_or_insert(r.first_beat_cycle);
            last_beat = r.last_beat_cycle;
        }
        st.beats += r.beats;
        st.cfg_writes += r.cfg_writes;
        st.dots += r.dots as u64;
        for d in 0..r.dots {
            lasts.push_back((out.last_cycle[d], out.last_stalls[d]));
        }
        ops.drain(..r.ops_done);
        weights.drain(..r.beats as usize * lanes);
        for k in 0..r.outputs {
            let cyc = out.cycle[k];
            let Some((index, job, params)) = pending.pop_front() else {
                fail(
                    &mut st,
                    cyc,
                    "out_valid with no dot product in flight (output without input)".into(),
                );
                continue;
            };
            let espan = ehead..ehead + lanes;
            ehead += lanes;
            let Some((lc, ls)) = lasts.pop_front() else {
                fail(
                    &mut st,
                    cyc,
                    format!("dot #{index}: a result before its last beat was accepted"),
                );
                continue;
            };
            if ls == out.stalls[k] && cyc - lc != LATENCY + 1 {
                fail(&mut st, cyc, format!("dot #{index}: result appeared {} cycles after its last beat, expected LATENCY = {LATENCY}", cyc - lc - 1));
            }
            let span = k * lanes..(k + 1) * lanes;
            let (gy, gacc, govf) = (&out.y[span.clone()], &out.acc[span.clone()], &out.ovf[span]);
            st.lane_results += lanes as u64;
            if gy != &ey[espan.clone()]
                || gacc != &eacc[espan.clone()]
                || govf != &eovf[espan.clone()]
            {
                let e = Expected {
                    index,
                    tag: job.tag,
                    y: ey[espan.clone()].to_vec(),
                    acc: eacc[espan.clone()].to_vec(),
                    ovf: eovf[espan].to_vec(),
                    job: job.clone(),
                    params,
                };
                for l in 0..lanes {
                    if gy[l] != e.y[l] || gacc[l] != e.acc[l] || govf[l] != e.ovf[l] {
                        st.mismatches += 1;
                        let signed = e.params.act_min < 0;
                        let yv = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
                        fail(
                            &mut st,
                            cyc,
                            format!(
                                "dot #{} (tag {}), lane {l}: expected y={} acc={} ovf={}, got y={} acc={} ovf={}; {}",
                                e.index,
                                e.tag,
                                yv(e.y[l]),
                                e.acc[l],
                                e.ovf[l],
                                yv(gy[l]),
                                gacc[l],
                                govf[l],
                                describe(&e, l, lanes)
                            ),
                        );
                    }
                }
            }
            on_result(job.tag, gy, gacc);
        }
        if ehead > 1 << 14 && ehead * 2 > ey.len() {
            ey.drain(..ehead);
            eacc.drain(..ehead);
            eovf.drain(..ehead);
            ehead = 0;
        }
        match r.violation {
            0 => {}
            1 => fail(
                &mut st,
                r.violation_cycle,
                "output changed while stalled (out_valid && !out_ready)".into(),
            ),
            2 => fail(
                &mut st,
                r.violation_cycle,
                "out_valid dropped before the output was accepted".into(),
            ),
            3 => {
                fail(
                    &mut st,
                    r.violation_cycle,
                    format!(
                        "no progress: no transfer for {WATCHDOG} cycles with work pending and no output held (deadlock): {} results in flight, {} operations not yet accepted",
                        pending.len(),
                        ops.len()
                    ),
                );
                break;
            }
            _ => {
                fail(
                    &mut st,
                    r.violation_cycle,
                    format!(
                        "timeout: the run's cycle bound ({} cycles for {work_ops} operations and {work_dots} dot products under this backpressure) is exhausted: {} results in flight, {} operations not yet accepted",
                        cycle_bound(work_ops, work_dots, &bp),
                        pending.len(),
                        ops.len()
                    ),
                );
                break;
            }
        }
        if opt.stop_on_failure && st.failure_count > 0 {
            break;
        }
        let buffers_full = r.outputs == BATCH_OUT || r.dots == BATCH_OUT;
        if exhausted && ops.is_empty() && !buffers_full {
            if !pending.is_empty() {
                fail(
                    &mut st,
                    dut.cycles(),
                    format!("{} dot products never produced a result", pending.len()),
                );
            }
            break;
        }
    }
    st.cycles = dut.cycles() - start_cycle;
    if let Some(f) = first_beat {
        st.stream_cycles = last_beat - f + 1;
    }
    st
}
