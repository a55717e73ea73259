//! The co-simulation: stimulus → driver → DUT → monitor → scoreboard,
//! checked every cycle.
//!
//! * [`transaction`]: what a stimulus is made of ([`Item`]s: parameter sets
//!   and dot products) and the backpressure model; [`StreamCheck`] decides
//!   whether a stream is well-formed.
//! * [`dut`]: the Verilated RTL behind its FFI (the C++ side drives AXI-Stream
//!   with seeded backpressure and watches the output handshake).
//! * this module's [`run`]: the driver, encoding items into batches of
//!   operations and handing them to the DUT, with the run's cycle bound.
//! * [`scoreboard`]: the expected result of every dot product (the golden
//!   model, [`crate::arith::mac`], [`crate::arith::requant`]) checked against
//!   every output.
//! * [`coverage`]: functional coverage bins sampled on every checked dot product.
//! * [`lowering`]: a layer case lowered onto the LANES-wide datapath.
//!
//! Every cycle the run checks:
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
#[cfg(feature = "rtl")]
pub mod dut;
pub mod interface;
pub mod lowering;
pub mod scoreboard;
pub mod transaction;

#[cfg(feature = "rtl")]
use std::sync::Arc;

#[cfg(feature = "rtl")]
use crate::cosim::dut::{op, BatchConfig, Dut, Violation};
#[cfg(feature = "rtl")]
use crate::cosim::interface::BatchOut;
use crate::cosim::interface::LATENCY;
#[cfg(feature = "rtl")]
use crate::cosim::scoreboard::{Check, RunStats, Scoreboard};
use crate::cosim::transaction::Backpressure;
#[cfg(feature = "rtl")]
use crate::cosim::transaction::{HostModel, Item, Params, StreamCheck};

/// The cycle bound of a run: every run ends with a verdict. Generous (4× the
/// expected cycles of the stimulus under its backpressure, plus the deadlock
/// watchdog and a fixed margin), so only a DUT that makes no progress, or
/// far too little, reaches it.
pub fn cycle_bound(ops: u64, dots: u64, bp: &Backpressure) -> u64 {
    let expected = (ops + dots * (LATENCY + 2)) as f64 * bp.slowdown();
    (4.0 * expected).min(1e18) as u64 + WATCHDOG + 10_000
}

/// Which model computes the MAC ops of a layer or a model: the one choice
/// `qmac layer` and `qmac model` offer (`--backend`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The Verilated RTL, every output beat checked against the golden model
    Rtl,
    /// The Rust golden model only (no Verilator)
    Golden,
    /// Both, side by side
    Both,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Rtl => "rtl",
            Backend::Golden => "golden",
            Backend::Both => "both",
        }
    }
    /// The RTL runs (rtl or both).
    pub fn uses_rtl(self) -> bool {
        self != Backend::Golden
    }
}

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

/// Operations per batch handed to the C++ side, and result records per batch.
#[cfg(feature = "rtl")]
const BATCH_OPS: usize = 8192;
#[cfg(feature = "rtl")]
const BATCH_OUT: usize = 2048;

#[cfg(feature = "rtl")]
fn prob(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 4_294_967_295.0) as u32
}

/// The host's side of parameter loads under a [`HostModel`]: which registers
/// it writes (all, or only the changed ones given what the DUT holds), in
/// which order, with which ignored writes, whether it resets the DUT first
/// and whether the next beat rides along with the last write.
#[cfg(feature = "rtl")]
struct Host {
    model: HostModel,
    rng: rand_chacha::ChaCha8Rng,
    /// What the DUT's registers hold (every run starts with a reset).
    held: Params,
}

/// What one load did, for coverage and the cycle bound.
#[cfg(feature = "rtl")]
struct LoadHits {
    bins: Vec<crate::cosim::coverage::Bin>,
    /// Cycles a barrier may wait for the pipeline to drain.
    barrier_wait: u64,
}

#[cfg(feature = "rtl")]
impl Host {
    fn new(model: HostModel, seed: u64, lanes: usize) -> Host {
        use rand::SeedableRng;
        Host {
            model,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(crate::cosim::transaction::stream_seed(
                seed,
                u64::from_le_bytes(*b"cfg-host"),
            )),
            held: Params::reset_values(lanes),
        }
    }

    /// Encode the load of `p` into `ops` (and the weights of sacrificial beats).
    fn load(
        &mut self,
        p: &Params,
        lanes: usize,
        ops: &mut Vec<u64>,
        acts: &mut Vec<u8>,
        weights: &mut Vec<u8>,
    ) -> LoadHits {
        use crate::cosim::coverage::Bin;
        use crate::cosim::interface::reg;
        use rand::seq::SliceRandom;
        use rand::{Rng, RngExt};
        let m = self.model;
        let mut hits = LoadHits {
            bins: Vec::new(),
            barrier_wait: 0,
        };
        if m.is_plain() {
            ops.extend(p.cfg_writes().into_iter().map(|(a, d)| op::cfg(a, d)));
            self.held = p.clone();
            return hits;
        }
        let mut after_reset = false;
        if self.rng.random_bool(m.reset) {
            // Once every expected result is out, a sacrificial dot product
            // (left open, or complete with its result in flight), then reset.
            ops.push(op::barrier());
            hits.barrier_wait = 4 * (LATENCY + 2);
            let k = self.rng.random_range(1..=4usize);
            let complete = self.rng.random_bool(0.5);
            for t in 0..k {
                ops.push(op::junk_beat(t == 0, complete && t + 1 == k));
                let x = self.rng.next_u32() as u8;
                crate::cosim::interface::push_broadcast_x(acts, x, lanes);
                weights.extend((0..lanes).map(|_| self.rng.next_u32() as u8));
            }
            ops.push(op::reset(self.rng.random_range(1..=3u8)));
            self.held = Params::reset_values(lanes);
            after_reset = true;
            hits.bins.push(Bin::HostReset);
        }
        let mut writes = if self.rng.random_bool(m.delta_load) {
            let w = p.delta_writes(&self.held);
            if w.len() < p.cfg_writes().len() && after_reset {
                hits.bins.push(Bin::ResetValueUsed);
            }
            if w.len() == 1 {
                hits.bins.push(Bin::SingleWriteLoad);
            }
            w
        } else {
            p.cfg_writes()
        };
        if writes.len() > 1 && self.rng.random_bool(m.shuffle) {
            writes.shuffle(&mut self.rng);
        }
        if self.rng.random_bool(m.unmapped) {
            for _ in 0..self.rng.random_range(1..=3) {
                let at = self.rng.random_range(0..=writes.len());
                writes.insert(
                    at,
                    (
                        reg::unmapped(lanes, self.rng.next_u64()),
                        self.rng.next_u32(),
                    ),
                );
            }
            hits.bins.push(Bin::UnmappedWrite);
        }
        let overlap = self.rng.random_bool(m.overlap);
        let n = writes.len();
        for (i, (a, d)) in writes.into_iter().enumerate() {
            ops.push(if overlap && i + 1 == n {
                op::cfg_with_beat(a, d)
            } else {
                op::cfg(a, d)
            });
        }
        self.held = p.clone();
        hits
    }
}

/// Drive `items` through `dut` and check every cycle. The stimulus is
/// streamed to the C++ side in batches (one FFI call per few thousand
/// cycles); the C++ driver applies AXI-Stream rules and the seeded
/// backpressure, and checks output stability while stalled; the scoreboard
/// here checks every result, its order and its latency. `on_result` sees
/// each checked result (the dot product's tag, the DUT's y and acc lanes) in
/// output order.
#[cfg(feature = "rtl")]
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
    let mult_w = crate::cosim::dut::built_mult_w();
    let bp = opt.backpressure;
    dut.reset(4);
    // Cycles in failure messages count from the end of this run's reset, so
    // a run reports the same cycle on a fresh DUT (a replay) as on a reused one.
    let start_cycle = dut.cycles();
    let mut sb = Scoreboard::new(lanes, mult_w, start_cycle, opt.seed, &opt.replay);
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
        ready_after_valid: bp.ready_after_valid,
    };
    // Work encoded so far (ops and dot products), for the cycle bound.
    let (mut work_ops, mut work_dots) = (0u64, 0u64);
    let mut items = items.into_iter();
    let mut check = StreamCheck::new(lanes);
    let mut prev_params: Option<Arc<Params>> = None;
    let mut reloaded = false;
    let mut ops: Vec<u64> = Vec::with_capacity(BATCH_OPS + 1024);
    let mut weights: Vec<u8> = Vec::with_capacity((BATCH_OPS + 1024) * lanes);
    let mut acts: Vec<u8> = Vec::with_capacity((BATCH_OPS + 1024) * lanes);
    let mut out = BatchOut::new(lanes, BATCH_OUT);
    let mut exhausted = false;
    let mut host = Host::new(bp.host, opt.seed, lanes);
    let mut first_beat: Option<u64> = None;
    let mut last_beat = 0u64;
    loop {
        // Encode stimulus up to a batch.
        while !exhausted && ops.len() < BATCH_OPS {
            let Some(it) = items.next() else {
                exhausted = true;
                break;
            };
            let it = it.borrow();
            let params = match check.next(it) {
                Ok(p) => p,
                Err(e) => {
                    sb.fail(dut.cycles(), format!("{}: {e}", Check::Stimulus.marker()));
                    return sb.stats;
                }
            };
            match (it, params) {
                (Item::Params(p), _) => {
                    let n0 = ops.len();
                    let hits = host.load(p, lanes, &mut ops, &mut acts, &mut weights);
                    work_ops += (ops.len() - n0) as u64 + hits.barrier_wait;
                    if opt.coverage {
                        for b in hits.bins {
                            sb.stats.coverage.hit(b);
                        }
                    }
                    reloaded = true;
                }
                (Item::Dot(j), Some(p)) => {
                    let k = j.x.len();
                    for t in 0..k {
                        ops.push(op::beat(t == 0, t + 1 == k));
                        j.push_in_x(t, lanes, &mut acts);
                    }
                    work_ops += k as u64;
                    work_dots += 1;
                    weights.extend_from_slice(&j.w);
                    sb.expect(j, &p);
                    if opt.coverage {
                        sb.sample_coverage(j, &p, prev_params.as_deref(), reloaded);
                        prev_params = Some(p);
                        reloaded = false;
                    }
                }
                (Item::Dot(_), None) => {
                    unreachable!("StreamCheck returns the parameters of a dot product")
                }
            }
        }
        cfg.drain = exhausted;
        cfg.max_cycle = start_cycle.saturating_add(cycle_bound(work_ops, work_dots, &bp));
        let r = dut.run_batch(&cfg, &ops, &acts, &weights, &mut out);
        cfg.reseed = false;
        if opt.coverage {
            sb.stats.coverage.sample_batch(&r);
        }
        if r.beats > 0 {
            first_beat.get_or_insert(r.first_beat_cycle);
            last_beat = r.last_beat_cycle;
        }
        sb.stats.beats += r.beats - r.junk_beats;
        sb.stats.cfg_writes += r.cfg_writes;
        sb.stats.dots += r.dots as u64;
        for d in 0..r.dots {
            sb.last_beat(out.last_cycle[d], out.last_stalls[d]);
        }
        ops.drain(..r.ops_done);
        weights.drain(..r.beats as usize * lanes);
        acts.drain(..r.beats as usize * lanes);
        for k in 0..r.outputs {
            sb.check(&out, k, &mut on_result);
        }
        sb.compact();
        match r.violation {
            Violation::None => {}
            Violation::OutputChanged => sb.fail(
                r.violation_cycle,
                format!("{} (out_valid && !out_ready)", Check::OutputChanged.marker()),
            ),
            Violation::ValidDropped => sb.fail(r.violation_cycle, Check::ValidDropped.marker().into()),
            Violation::CfgPriority => sb.fail(
                r.violation_cycle,
                format!(
                    "in_ready high in the cycle a cfg write was accepted: the beat presented with it was taken ({})",
                    Check::CfgPriority.marker()
                ),
            ),
            Violation::Deadlock if exhausted && ops.is_empty() && sb.in_flight() > 0 => {
                let msg = format!(
                    "lost output: {} dot products {} (every input accepted, then no output for {WATCHDOG} cycles)",
                    sb.in_flight(),
                    Check::LostOutput.marker()
                );
                sb.fail(r.violation_cycle, msg);
                break;
            }
            Violation::Deadlock => {
                let msg = format!(
                    "no progress: no transfer for {WATCHDOG} cycles with work pending and no output held {}: {} dot products without a result, {} operations not yet accepted",
                    Check::Deadlock.marker(),
                    sb.in_flight(),
                    ops.len()
                );
                sb.fail(r.violation_cycle, msg);
                break;
            }
            _ => {
                let msg = format!(
                    "timeout: the run's {} ({} cycles for {work_ops} operations and {work_dots} dot products under this backpressure) is exhausted: {} dot products without a result, {} operations not yet accepted",
                    Check::Timeout.marker(),
                    cycle_bound(work_ops, work_dots, &bp),
                    sb.in_flight(),
                    ops.len()
                );
                sb.fail(r.violation_cycle, msg);
                break;
            }
        }
        if opt.stop_on_failure && sb.stats.failure_count > 0 {
            break;
        }
        let buffers_full = r.outputs == BATCH_OUT || r.dots == BATCH_OUT;
        if exhausted && ops.is_empty() && !buffers_full {
            if sb.in_flight() > 0 {
                let msg = format!(
                    "{} dot products {}",
                    sb.in_flight(),
                    Check::LostOutput.marker()
                );
                sb.fail(dut.cycles(), msg);
            }
            break;
        }
    }
    let mut st = sb.stats;
    st.cycles = dut.cycles() - start_cycle;
    if let Some(f) = first_beat {
        st.stream_cycles = last_beat - f + 1;
    }
    st
}
