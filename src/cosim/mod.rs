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
use crate::cosim::scoreboard::{RunStats, Scoreboard};
use crate::cosim::transaction::Backpressure;
#[cfg(feature = "rtl")]
use crate::cosim::transaction::{Item, Params, StreamCheck};

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
    let mut out = BatchOut::new(lanes, BATCH_OUT);
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
            let it = it.borrow();
            let params = match check.next(it) {
                Ok(p) => p,
                Err(e) => {
                    sb.fail(dut.cycles(), format!("stimulus error: {e}"));
                    return sb.stats;
                }
            };
            match (it, params) {
                (Item::Params(p), _) => {
                    let writes = p.cfg_writes();
                    work_ops += writes.len() as u64;
                    ops.extend(writes.into_iter().map(|(a, d)| op::cfg(a, d)));
                    reloaded = true;
                }
                (Item::Dot(j), Some(p)) => {
                    let k = j.x.len();
                    for t in 0..k {
                        ops.push(op::beat(j.x[t], t == 0, t + 1 == k));
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
        let r = dut.run_batch(&cfg, &ops, &weights, &mut out);
        cfg.reseed = false;
        if opt.coverage {
            sb.stats.coverage.sample_batch(&r);
        }
        if r.beats > 0 {
            first_beat.get_or_insert(r.first_beat_cycle);
            last_beat = r.last_beat_cycle;
        }
        sb.stats.beats += r.beats;
        sb.stats.cfg_writes += r.cfg_writes;
        sb.stats.dots += r.dots as u64;
        for d in 0..r.dots {
            sb.last_beat(out.last_cycle[d], out.last_stalls[d]);
        }
        ops.drain(..r.ops_done);
        weights.drain(..r.beats as usize * lanes);
        for k in 0..r.outputs {
            sb.check(&out, k, &mut on_result);
        }
        sb.compact();
        match r.violation {
            Violation::None => {}
            Violation::OutputChanged => sb.fail(
                r.violation_cycle,
                "output changed while stalled (out_valid && !out_ready)".into(),
            ),
            Violation::ValidDropped => sb.fail(
                r.violation_cycle,
                "out_valid dropped before the output was accepted".into(),
            ),
            Violation::Deadlock => {
                let msg = format!(
                    "no progress: no transfer for {WATCHDOG} cycles with work pending and no output held (deadlock): {} dot products without a result, {} operations not yet accepted",
                    sb.in_flight(),
                    ops.len()
                );
                sb.fail(r.violation_cycle, msg);
                break;
            }
            _ => {
                let msg = format!(
                    "timeout: the run's cycle bound ({} cycles for {work_ops} operations and {work_dots} dot products under this backpressure) is exhausted: {} dot products without a result, {} operations not yet accepted",
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
                let msg = format!("{} dot products never produced a result", sb.in_flight());
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
