//! The Verilated RTL as a safe Rust value: one [`Dut`] is one VerilatedContext
//! plus one `qmac_top` model (built by build.rs from `rtl/`, one model per
//! LANES value in `QMAC_LANES`). Each [`Dut::cycle`] is one clock cycle.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cosim::interface::BatchOut;

#[cxx::bridge(namespace = "qmac")]
mod ffi {
    /// How [`Dut::run_batch`] drives a batch of operations.
    #[derive(Debug, Clone, Copy)]
    struct BatchConfig {
        /// Backpressure seed.
        seed: u64,
        /// Re-seed the C++ generator from `seed` before this batch (the first batch of a run).
        reseed: bool,
        /// Probabilities × 2^32: an input gap before a beat, out_ready low, a long stall starting.
        in_gap: u32,
        out_stall: u32,
        long_stall: u32,
        /// Cycles without any transfer while work is pending that count as a deadlock.
        watchdog: u64,
        /// Keep running after the last op until every dot product's result is out,
        /// then `tail_cycles` more cycles (any output then is an error).
        drain: bool,
        tail_cycles: u64,
        stop_on_violation: bool,
        /// out_ready only while out_valid is high (a lazy consumer).
        ready_after_valid: bool,
        /// Absolute cycle at which the run ends with violation 4 (its cycle
        /// bound, derived from the stimulus and the backpressure model).
        max_cycle: u64,
    }

    /// What one batch did.
    #[derive(Debug, Clone, Copy)]
    struct BatchResult {
        ops_done: usize,
        outputs: usize,
        dots: usize,
        /// Beats transferred (sacrificial ones included: their weights were consumed too).
        beats: u64,
        /// Of those, sacrificial beats (interrupted by a reset, never expected).
        junk_beats: u64,
        cfg_writes: u64,
        /// Backpressure seen by the DUT: input gaps right before a first / a
        /// last beat, cycles with out_ready low while out_valid, long stalls started.
        gap_first: u64,
        gap_last: u64,
        out_stall_cycles: u64,
        long_stalls: u64,
        /// Cycles of the first and the last input beat transferred in this batch.
        first_beat_cycle: u64,
        last_beat_cycle: u64,
        /// Protocol situations the batch created (coverage): a beat transferred
        /// in the cycle right after a cfg write; a cfg write accepted after
        /// waiting for the pipeline to drain (right behind a dot product); a
        /// cfg write presented while an output was held; a cfg write and a
        /// beat presented together while idle; a reset with a dot product
        /// open or a result in flight.
        cfg_then_beat: u64,
        cfg_behind_dot: u64,
        cfg_while_held: u64,
        cfg_with_beat: u64,
        resets_mid_traffic: u64,
        /// The first handshake or progress violation of the batch.
        violation: Violation,
        violation_cycle: u64,
    }

    /// What the C++ driver of a batch saw go wrong (written on the C++ side,
    /// read on the Rust side: one list for both).
    #[derive(Debug)]
    #[repr(u32)]
    enum Violation {
        None = 0,
        /// The output changed while stalled (out_valid && !out_ready).
        OutputChanged = 1,
        /// out_valid dropped before the output was accepted.
        ValidDropped = 2,
        /// No transfer for `watchdog` cycles with work pending and no output held.
        Deadlock = 3,
        /// The run's cycle bound (`max_cycle`) is exhausted.
        CycleBound = 4,
        /// in_ready was high in the cycle a cfg write was accepted (a beat
        /// presented with it was taken: the contract gives cfg priority).
        CfgPriority = 5,
    }

    /// The bits of one encoded operation of `run_batch` ([`op`](super::op)):
    /// a cfg write (bit 63 set: address in bits 47:32, data in 31:0; bit 59:
    /// present the next beat together with it when the DUT is idle), an
    /// input beat (first, last; its LANES in_x bytes and LANES weights come
    /// from the `acts` and `weights` slices, in order; bit 60: a sacrificial beat
    /// whose dot product is never expected), a barrier (bit 61: wait until no
    /// result is in flight) or a reset (bit 62: rst_n low for bits 7:0 cycles).
    #[derive(Debug)]
    #[repr(u32)]
    enum OpBit {
        Last = 8,
        First = 9,
        Overlap = 59,
        Junk = 60,
        Barrier = 61,
        Reset = 62,
        Cfg = 63,
    }

    /// Fixed parameters of the pure C++ baseline driver (sim/qmac_sim.cpp).
    #[derive(Debug, Clone)]
    struct BaselineParams {
        /// The register writes that load the parameters (`Params::cfg_writes`,
        /// the one register map of the Rust side).
        cfg_addr: Vec<u16>,
        cfg_data: Vec<u32>,
        bias: Vec<i32>,
        m0: Vec<i32>,
        shift: Vec<i32>,
        zp_x: i32,
        zp_w: i32,
        zp_out: i32,
        act_min: i32,
        act_max: i32,
        single: bool,
        uint8: bool,
    }

    /// What the baseline measured.
    #[derive(Debug, Clone, Copy, Default)]
    struct BaselineResult {
        beats: u64,
        cycles: u64,
        outputs: u64,
        mismatches: u64,
        seconds: f64,
    }

    unsafe extern "C++" {
        include!("qmac_sim.h");
        type Sim;
        fn lanes(self: &Sim) -> u32;
        /// Hold reset (rst_n low) for `cycles` cycles.
        fn reset(self: Pin<&mut Sim>, cycles: u32);
        #[allow(clippy::too_many_arguments)]
        fn run_batch(
            self: Pin<&mut Sim>,
            cfg: &BatchConfig,
            ops: &[u64],
            acts: &[u8],
            weights: &[u8],
            out_y: &mut [u8],
            out_acc: &mut [i32],
            out_ovf: &mut [u8],
            out_cycle: &mut [u64],
            out_stalls: &mut [u64],
            last_cycle: &mut [u64],
            last_stalls: &mut [u64],
        ) -> BatchResult;
        /// The pure C++ baseline: load `p`, stream `x` (and LANES weights per
        /// beat in `w`) back to back as dot products of `k` taps, no
        /// backpressure, every output checked against a C++ copy of the
        /// MAC/requantization formula.
        fn cpp_baseline(
            self: Pin<&mut Sim>,
            p: &BaselineParams,
            x: &[u8],
            w: &[u8],
            k: u32,
        ) -> Result<BaselineResult>;
        fn trace_open(self: Pin<&mut Sim>, path: &str) -> Result<()>;
        fn trace_close(self: Pin<&mut Sim>);
        fn cycles(self: &Sim) -> u64;
        fn new_sim(lanes: u32, seed: u64, trace: bool) -> Result<UniquePtr<Sim>>;
        fn new_sim_untraced(lanes: u32, seed: u64) -> Result<UniquePtr<Sim>>;
        fn built_lanes() -> Vec<u32>;
        fn built_mult_w() -> u32;
        fn thread_cpu_seconds() -> f64;
    }
}

// SAFETY: a Sim owns its own VerilatedContext and model and shares no mutable
// state with other Sims, so it may move between threads (never shared: all
// mutation goes through &mut Dut).
unsafe impl Send for ffi::Sim {}

/// One Verilated qmac_top.
pub struct Dut {
    sim: cxx::UniquePtr<ffi::Sim>,
    lanes: usize,
}

impl Dut {
    /// A DUT with `lanes` lanes. `seed` randomises the X-initialisation of
    /// every register; `trace` makes waveform dumping possible (off until
    /// [`Dut::trace_open`]).
    pub fn new(lanes: usize, seed: u64, trace: bool) -> Result<Dut> {
        check_lanes(lanes)?;
        let sim =
            ffi::new_sim(lanes as u32, seed, trace).context("creating the Verilated model")?;
        debug_assert_eq!(sim.lanes() as usize, lanes);
        Ok(Dut::wrap(sim, lanes))
    }

    fn wrap(sim: cxx::UniquePtr<ffi::Sim>, lanes: usize) -> Dut {
        Dut { sim, lanes }
    }

    /// A DUT of the model verilated without tracing (LANES = the first
    /// `QMAC_LANES` entry only): the baseline of the tracing-cost benchmark.
    pub fn new_untraced(lanes: usize, seed: u64) -> Result<Dut> {
        let sim = ffi::new_sim_untraced(lanes as u32, seed)
            .context("creating the untraced Verilated model")?;
        Ok(Dut::wrap(sim, lanes))
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Hold reset (rst_n low) for `cycles` cycles.
    pub fn reset(&mut self, cycles: u32) {
        self.sim.pin_mut().reset(cycles);
    }

    /// Start dumping an FST waveform to `path`.
    pub fn trace_open(&mut self, path: &Path) -> Result<()> {
        let p = path.to_str().context("waveform path is not UTF-8")?;
        self.sim
            .pin_mut()
            .trace_open(p)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn trace_close(&mut self) {
        self.sim.pin_mut().trace_close();
    }

    /// Cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.sim.cycles()
    }
}

pub use ffi::{BaselineParams, BaselineResult, BatchConfig, BatchResult, OpBit, Violation};

/// Encoding of one operation of [`Dut::run_batch`].
pub mod op {
    use super::OpBit;
    /// A cfg write of `data` to `addr`.
    pub fn cfg(addr: u16, data: u32) -> u64 {
        (1 << OpBit::Cfg.repr) | ((addr as u64) << 32) | data as u64
    }
    /// A cfg write presented together with the next beat when the DUT is idle.
    pub fn cfg_with_beat(addr: u16, data: u32) -> u64 {
        cfg(addr, data) | (1 << OpBit::Overlap.repr)
    }
    /// An input beat (its LANES in_x bytes and LANES weights go to the acts
    /// and weights slices, in order).
    pub fn beat(first: bool, last: bool) -> u64 {
        ((first as u64) << OpBit::First.repr) | ((last as u64) << OpBit::Last.repr)
    }
    /// A sacrificial beat (weights in the weights slice like any beat): its
    /// dot product is interrupted by a reset and never expected.
    pub fn junk_beat(first: bool, last: bool) -> u64 {
        beat(first, last) | (1 << OpBit::Junk.repr)
    }
    /// Wait until every expected result has been delivered.
    pub fn barrier() -> u64 {
        1 << OpBit::Barrier.repr
    }
    /// rst_n low for `cycles` (1..=255) cycles.
    pub fn reset(cycles: u8) -> u64 {
        (1 << OpBit::Reset.repr) | cycles as u64
    }
}

impl Dut {
    /// Stream `ops` (with the activations and weights of their beats) in one call: the C++
    /// side drives them with AXI-Stream rules and seeded backpressure, and
    /// records outputs and last-beat cycles into `out` (up to its capacity).
    pub fn run_batch(
        &mut self,
        cfg: &BatchConfig,
        ops: &[u64],
        acts: &[u8],
        weights: &[u8],
        out: &mut BatchOut,
    ) -> BatchResult {
        self.sim.pin_mut().run_batch(
            cfg,
            ops,
            acts,
            weights,
            &mut out.y,
            &mut out.acc,
            &mut out.ovf,
            &mut out.cycle,
            &mut out.stalls,
            &mut out.last_cycle,
            &mut out.last_stalls,
        )
    }
}

impl Dut {
    /// Run the pure C++ baseline driver on this DUT's model (see [`ffi::Sim::cpp_baseline`]).
    pub fn cpp_baseline(
        &mut self,
        p: &BaselineParams,
        x: &[u8],
        w: &[u8],
        k: u32,
    ) -> Result<BaselineResult> {
        self.sim
            .pin_mut()
            .cpp_baseline(p, x, w, k)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// An error unless a Verilated model with `lanes` lanes is built into qmac.
pub fn check_lanes(lanes: usize) -> Result<()> {
    if !built_lanes().contains(&lanes) {
        bail!(
            "this qmac build has no Verilated model with LANES={lanes} (built: {:?}); rebuild with QMAC_LANES={lanes} or add it to the list",
            built_lanes()
        );
    }
    Ok(())
}

/// LANES values this binary has Verilated models for.
pub fn built_lanes() -> Vec<usize> {
    ffi::built_lanes().into_iter().map(|l| l as usize).collect()
}

/// CPU time of the calling thread, in seconds.
pub fn thread_cpu_seconds() -> f64 {
    ffi::thread_cpu_seconds()
}

/// MULT_W of the built models.
pub fn built_mult_w() -> u32 {
    ffi::built_mult_w()
}

/// SHA-256 over the RTL files the models were built from.
pub const RTL_SHA256: &str = env!("QMAC_RTL_SHA256");
/// The RTL directory the models were built from.
pub const RTL_DIR: &str = env!("QMAC_RTL_DIR");
