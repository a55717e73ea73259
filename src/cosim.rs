//! Stimulus → driver → DUT → monitor → scoreboard, checked every cycle.
//!
//! A stimulus is a stream of [`Item`]s: parameter sets ([`Params`], loaded
//! through the cfg port) and dot products ([`DotJob`], streamed as beats with
//! `first`/`last`). The scoreboard computes each dot product's expected
//! result with the golden model ([`crate::mac`], [`crate::requant`]) when the
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
//! from a ChaCha8 stream seeded by the run's seed, so a run is reproducible.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::case::DType;
use crate::dut::{ctrl, reg, status, Drive, Dut, Sample, LATENCY};
use crate::mac::Accumulator;
use crate::requant::{IntRounding, Requant};

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
    Dot(DotJob),
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
}

/// The expected result of one dot product, kept while it is in flight.
#[derive(Debug, Clone)]
pub struct Expected {
    pub index: u64,
    pub tag: u64,
    pub y: Vec<u8>,
    pub acc: Vec<i32>,
    pub ovf: Vec<u8>,
    pub job: DotJob,
    pub params: Arc<Params>,
    last_fire: u64,
    stalled: bool,
    seen_valid: bool,
}

/// The golden result of `job` under `params` (lane by lane).
pub fn expect(
    job: &DotJob,
    params: &Params,
    lanes: usize,
    mult_bits: u32,
) -> (Vec<u8>, Vec<i32>, Vec<u8>) {
    let mut y = vec![0u8; lanes];
    let mut acc = vec![0i32; lanes];
    let mut ovf = vec![0u8; lanes];
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

/// Drive `items` through `dut` and check every cycle. `on_result` sees each
/// checked result (expected entry and the DUT's sample) in output order.
pub fn run(
    dut: &mut Dut,
    items: impl IntoIterator<Item = Item>,
    opt: &RunOptions,
    mut on_result: impl FnMut(&Expected, &Sample),
) -> RunStats {
    let lanes = dut.lanes();
    let mult_bits = crate::dut::built_mult_w();
    let mut rng = ChaCha8Rng::seed_from_u64(opt.seed);
    let bp = opt.backpressure;
    let mut st = RunStats::default();
    let mut items = items.into_iter();
    let fail = |st: &mut RunStats, cycle: u64, msg: String| {
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

    dut.reset(4);
    let start_cycle = dut.cycles();
    let mut params: Option<Arc<Params>> = None;
    let mut cfg_q: VecDeque<(u16, u32)> = VecDeque::new();
    let mut job: Option<DotJob> = None;
    let mut beat = 0usize;
    let mut in_valid_held = false; // AXI: once valid, hold until accepted
    let mut pending: VecDeque<Expected> = VecDeque::new();
    let mut next_index = 0u64;
    let mut long_stall = 0u32;
    let mut prev_stalled_sample: Option<Sample> = None;
    let mut idle_cycles = 0u64;
    let mut first_beat_cycle: Option<u64> = None;
    let mut last_beat_cycle = 0u64;
    let mut exhausted = false;
    let mut drain_left = LATENCY + 6;

    loop {
        // Fetch work when idle.
        while cfg_q.is_empty() && job.is_none() && !exhausted {
            match items.next() {
                None => exhausted = true,
                Some(Item::Params(p)) => {
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
                    cfg_q.extend(p.cfg_writes());
                    params = Some(p);
                }
                Some(Item::Dot(j)) => {
                    if j.x.is_empty() || j.w.len() != j.x.len() * lanes || params.is_none() {
                        fail(&mut st, dut.cycles(), "stimulus error: empty dot product, wrong weight count, or no parameters loaded".into());
                        return st;
                    }
                    job = Some(j);
                    beat = 0;
                }
            }
        }
        if exhausted && cfg_q.is_empty() && job.is_none() && pending.is_empty() {
            if drain_left == 0 {
                break;
            }
            drain_left -= 1;
        }

        // Backpressure decisions for this cycle.
        if long_stall == 0 && bp.long_stall > 0.0 && rng.random_bool(bp.long_stall) {
            long_stall = rng.random_range(20..200);
        }
        let stalling = long_stall > 0;
        if stalling {
            long_stall -= 1;
        }
        let out_ready = !(stalling || bp.out_stall > 0.0 && rng.random_bool(bp.out_stall));

        let mut d = Drive::default();
        if out_ready {
            d.ctrl |= ctrl::OUT_READY;
        }
        if let Some(&(a, v)) = cfg_q.front() {
            d.ctrl |= ctrl::CFG_VALID;
            d.cfg_addr = a;
            d.cfg_data = v;
        } else if let Some(j) = &job {
            let present =
                in_valid_held || !(stalling || bp.in_gap > 0.0 && rng.random_bool(bp.in_gap));
            if present {
                in_valid_held = true;
                d.ctrl |= ctrl::IN_VALID;
                if beat == 0 {
                    d.ctrl |= ctrl::IN_FIRST;
                }
                if beat + 1 == j.x.len() {
                    d.ctrl |= ctrl::IN_LAST;
                }
                d.x = j.x[beat];
                d.w = &j.w[beat * lanes..(beat + 1) * lanes];
            }
        }
        let cyc = dut.cycles();
        let s = dut.cycle(&d);

        // Output-side checks.
        if s & status::OUT_VALID != 0 {
            if let Some(prev) = &prev_stalled_sample {
                if *prev != dut.sample {
                    fail(&mut st, cyc, format!("output changed while stalled (out_valid && !out_ready): was {prev:?}, now {:?}", dut.sample));
                }
            }
            match pending.front_mut() {
                None => fail(
                    &mut st,
                    cyc,
                    "out_valid with no dot product in flight (output without input)".into(),
                ),
                Some(e) if !e.seen_valid => {
                    e.seen_valid = true;
                    let lat = cyc - e.last_fire;
                    if !e.stalled && lat != LATENCY + 1 {
                        fail(&mut st, cyc, format!("dot #{}: result appeared {} edges after its last beat, expected LATENCY = {LATENCY}", e.index, lat - 1));
                    }
                }
                Some(_) => {}
            }
        } else if prev_stalled_sample.is_some() {
            fail(
                &mut st,
                cyc,
                "out_valid dropped before the output was accepted".into(),
            );
        }
        prev_stalled_sample = if s & status::OUT_VALID != 0 && s & status::OUT_FIRE == 0 {
            Some(dut.sample.clone())
        } else {
            None
        };
        if s & status::OUT_VALID != 0 && s & status::OUT_FIRE == 0 {
            for e in pending.iter_mut() {
                e.stalled = true;
            }
        }
        if s & status::OUT_FIRE != 0 {
            if let Some(e) = pending.pop_front() {
                st.lane_results += lanes as u64;
                for l in 0..lanes {
                    let got = &dut.sample;
                    if got.y[l] != e.y[l] || got.acc[l] != e.acc[l] || got.ovf[l] != e.ovf[l] {
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
                                yv(got.y[l]),
                                got.acc[l],
                                got.ovf[l],
                                describe(&e, l, lanes)
                            ),
                        );
                    }
                }
                on_result(&e, &dut.sample);
            }
        }

        // Input-side bookkeeping.
        if s & status::CFG_FIRE != 0 {
            cfg_q.pop_front();
            st.cfg_writes += 1;
        }
        if s & status::IN_FIRE != 0 {
            in_valid_held = false;
            st.beats += 1;
            first_beat_cycle.get_or_insert(cyc);
            last_beat_cycle = cyc;
            beat += 1;
            let j = job
                .as_ref()
                .expect("a beat fired, so a job is being driven");
            if beat == j.x.len() {
                let j = job.take().expect("job");
                let p = params.clone().expect("params loaded before dots");
                let (y, acc, ovf) = expect(&j, &p, lanes, mult_bits);
                pending.push_back(Expected {
                    index: next_index,
                    tag: j.tag,
                    y,
                    acc,
                    ovf,
                    job: j,
                    params: p,
                    last_fire: cyc,
                    stalled: false,
                    seen_valid: false,
                });
                next_index += 1;
                st.dots += 1;
            }
        }
        if s & (status::IN_FIRE | status::CFG_FIRE | status::OUT_FIRE) != 0 || !out_ready {
            idle_cycles = 0;
        } else if !(exhausted && cfg_q.is_empty() && job.is_none() && pending.is_empty()) {
            idle_cycles += 1;
            if idle_cycles > WATCHDOG {
                fail(&mut st, cyc, format!("no transfer for {WATCHDOG} cycles with work pending (deadlock): {} results in flight", pending.len()));
                break;
            }
        }
        if opt.stop_on_failure && st.failure_count > 0 {
            break;
        }
    }
    st.cycles = dut.cycles() - start_cycle;
    if let Some(f) = first_beat_cycle {
        st.stream_cycles = last_beat_cycle - f + 1;
    }
    st
}
