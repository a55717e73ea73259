//! The Verilated RTL as a safe Rust value: one [`Dut`] is one VerilatedContext
//! plus one `qmac_top` model (built by build.rs from `rtl/`, one model per
//! LANES value in `QMAC_LANES`). Each [`Dut::cycle`] is one clock cycle.

use std::path::Path;

use anyhow::{bail, Context, Result};

#[cxx::bridge(namespace = "qmac")]
mod ffi {
    unsafe extern "C++" {
        include!("qmac_sim.h");
        type Sim;
        fn lanes(self: &Sim) -> u32;
        #[allow(clippy::too_many_arguments)]
        fn cycle(
            self: Pin<&mut Sim>,
            ctrl: u32,
            x: u8,
            w: &[u8],
            cfg_addr: u16,
            cfg_data: u32,
            y: &mut [u8],
            acc: &mut [i32],
            ovf: &mut [u8],
        ) -> u32;
        fn trace_open(self: Pin<&mut Sim>, path: &str) -> Result<()>;
        fn trace_close(self: Pin<&mut Sim>);
        fn cycles(self: &Sim) -> u64;
        fn new_sim(lanes: u32, seed: u64, trace: bool) -> Result<UniquePtr<Sim>>;
        fn built_lanes() -> Vec<u32>;
        fn built_mult_w() -> u32;
    }
}

// SAFETY: a Sim owns its own VerilatedContext and model and shares no mutable
// state with other Sims, so it may move between threads (never shared: all
// mutation goes through &mut Dut).
unsafe impl Send for ffi::Sim {}

/// Control bits of one cycle (mirror of sim/qmac_sim.h).
pub mod ctrl {
    pub const RESET: u32 = 1 << 0;
    pub const IN_VALID: u32 = 1 << 1;
    pub const IN_FIRST: u32 = 1 << 2;
    pub const IN_LAST: u32 = 1 << 3;
    pub const OUT_READY: u32 = 1 << 4;
    pub const CFG_VALID: u32 = 1 << 5;
}

/// Status bits of one cycle, sampled before the rising edge.
pub mod status {
    pub const IN_FIRE: u32 = 1 << 0;
    pub const CFG_FIRE: u32 = 1 << 1;
    pub const OUT_FIRE: u32 = 1 << 2;
    pub const IN_READY: u32 = 1 << 3;
    pub const CFG_READY: u32 = 1 << 4;
    pub const OUT_VALID: u32 = 1 << 5;
}

/// Parameter-register addresses of qmac_top (see rtl/qmac_top.v).
pub mod reg {
    pub const CTRL: u16 = 0x000;
    pub const ZP_X: u16 = 0x001;
    pub const ZP_W: u16 = 0x002;
    pub const ZP_OUT: u16 = 0x003;
    pub const ACT_MIN: u16 = 0x004;
    pub const ACT_MAX: u16 = 0x005;
    pub const CTRL_SINGLE: u32 = 1 << 0;
    pub const CTRL_U8: u32 = 1 << 1;
    pub fn bias(lane: usize) -> u16 {
        0x100 + 4 * lane as u16
    }
    pub fn m0(lane: usize) -> u16 {
        0x101 + 4 * lane as u16
    }
    pub fn shift(lane: usize) -> u16 {
        0x102 + 4 * lane as u16
    }
}

/// Documented latency of qmac_top: the result of a dot product whose last
/// beat transfers on edge k is presented from edge k + LATENCY.
pub const LATENCY: u64 = 6;

/// What the DUT's inputs are in one cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drive<'a> {
    pub ctrl: u32,
    pub x: u8,
    pub w: &'a [u8],
    pub cfg_addr: u16,
    pub cfg_data: u32,
}

/// What the DUT's outputs were (valid when `status & OUT_VALID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub y: Vec<u8>,
    pub acc: Vec<i32>,
    pub ovf: Vec<u8>,
}

/// One Verilated qmac_top.
pub struct Dut {
    sim: cxx::UniquePtr<ffi::Sim>,
    lanes: usize,
    zeros: Vec<u8>,
    /// Outputs of the last cycle that had out_valid high.
    pub sample: Sample,
}

impl Dut {
    /// A DUT with `lanes` lanes. `seed` randomises the X-initialisation of
    /// every register; `trace` makes waveform dumping possible (off until
    /// [`Dut::trace_open`]).
    pub fn new(lanes: usize, seed: u64, trace: bool) -> Result<Dut> {
        if !built_lanes().contains(&lanes) {
            bail!(
                "this qmac build has no Verilated model with LANES={lanes} (built: {:?}); rebuild with QMAC_LANES={lanes} or add it to the list",
                built_lanes()
            );
        }
        let sim =
            ffi::new_sim(lanes as u32, seed, trace).context("creating the Verilated model")?;
        debug_assert_eq!(sim.lanes() as usize, lanes);
        Ok(Dut {
            sim,
            lanes,
            zeros: vec![0; lanes],
            sample: Sample {
                y: vec![0; lanes],
                acc: vec![0; lanes],
                ovf: vec![0; lanes],
            },
        })
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// One clock cycle; returns the status bits.
    #[inline]
    pub fn cycle(&mut self, d: &Drive<'_>) -> u32 {
        let w = if d.w.len() == self.lanes {
            d.w
        } else {
            &self.zeros
        };
        let s = &mut self.sample;
        self.sim.pin_mut().cycle(
            d.ctrl, d.x, w, d.cfg_addr, d.cfg_data, &mut s.y, &mut s.acc, &mut s.ovf,
        )
    }

    /// Hold reset (rst_n low) for `cycles` cycles.
    pub fn reset(&mut self, cycles: u32) {
        for _ in 0..cycles {
            self.cycle(&Drive {
                ctrl: ctrl::RESET,
                ..Default::default()
            });
        }
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

/// LANES values this binary has Verilated models for.
pub fn built_lanes() -> Vec<usize> {
    ffi::built_lanes().into_iter().map(|l| l as usize).collect()
}

/// MULT_W of the built models.
pub fn built_mult_w() -> u32 {
    ffi::built_mult_w()
}

/// SHA-256 over the RTL files the models were built from.
pub const RTL_SHA256: &str = env!("QMAC_RTL_SHA256");
/// The RTL directory the models were built from.
pub const RTL_DIR: &str = env!("QMAC_RTL_DIR");
