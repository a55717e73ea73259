//! The DUT's interface as the testbench sees it, independent of the
//! simulator: the parameter-register map (rtl/qmac_top.v's header), the
//! latency, the widest datapath, and the record buffer of a batch of cycles.

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

/// The widest datapath qmac drives (the C++ driver's per-cycle buffers and
/// the vector bundle formats hold 64 lanes; build.rs enforces it on QMAC_LANES).
pub const MAX_LANES: usize = 64;

/// Documented latency of qmac_top: the result of a dot product whose last
/// beat transfers on edge k is presented from edge k + LATENCY.
pub const LATENCY: u64 = 6;

/// Output records of a batch, struct of arrays with capacity `cap` outputs / dots.
#[derive(Debug, Clone, Default)]
pub struct BatchOut {
    pub y: Vec<u8>,
    pub acc: Vec<i32>,
    pub ovf: Vec<u8>,
    /// Cycle at which each output was first presented, and the stall count then.
    pub cycle: Vec<u64>,
    pub stalls: Vec<u64>,
    /// Cycle at which each dot product's last beat transferred, and the stall count then.
    pub last_cycle: Vec<u64>,
    pub last_stalls: Vec<u64>,
}

impl BatchOut {
    pub fn new(lanes: usize, cap: usize) -> Self {
        BatchOut {
            y: vec![0; lanes * cap],
            acc: vec![0; lanes * cap],
            ovf: vec![0; lanes * cap],
            cycle: vec![0; cap],
            stalls: vec![0; cap],
            last_cycle: vec![0; cap],
            last_stalls: vec![0; cap],
        }
    }
}
