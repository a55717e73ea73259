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
    /// Per-lane activations: lane l takes in_x byte l (0: every lane takes byte 0).
    pub const CTRL_XL: u32 = 1 << 2;
    pub fn bias(lane: usize) -> u16 {
        0x100 + 4 * lane as u16
    }
    pub fn m0(lane: usize) -> u16 {
        0x101 + 4 * lane as u16
    }
    pub fn shift(lane: usize) -> u16 {
        0x102 + 4 * lane as u16
    }
    /// Whether `addr` is a register of a `lanes`-wide datapath; every other
    /// address is accepted and ignored (the contract).
    pub fn is_mapped(addr: u16, lanes: usize) -> bool {
        addr <= ACT_MAX || (addr >= 0x100 && ((addr - 0x100) as usize) < 4 * lanes && addr % 4 != 3)
    }
    /// An unmapped address chosen by `r` (any number): next to the global
    /// registers (0x006, 0x0FF), a lane's unused fourth slot, just past the
    /// last lane, the global registers' and the lanes' addresses with a high
    /// bit set (0x200, 0x201, 0x8000 + …), or anywhere above the lanes: the
    /// addresses a decoder that ignores address bits would alias.
    pub fn unmapped(lanes: usize, r: u64) -> u16 {
        let lane_end = 0x100 + 4 * lanes as u64;
        let pick = (r >> 8) as u16;
        let a = match r % 8 {
            0 => 0x006 + pick % 0xFA,
            1 => 0x103 + 4 * (pick % lanes as u16),
            2 => (lane_end + (r >> 8) % 8) as u16,
            3 => 0x200 + pick % 6,
            4 => 0x8000 | (pick % 6),
            5 => 0x8100 | (pick % (4 * lanes as u16)),
            6 => 0xFFFF,
            _ => (lane_end + (r >> 8) % (0x1_0000 - lane_end)) as u16,
        };
        if is_mapped(a, lanes) {
            0x200
        } else {
            a
        }
    }
}

/// Appends the in_x bytes of a broadcast beat (CTRL.xl = 0) of activation
/// `x`: `x` in lane 0's byte, which every lane takes. The other bytes, which
/// the contract says the DUT ignores, hold `x` XOR a non-zero mask of their
/// lane, so a datapath that reads its own byte in broadcast mode computes with
/// another activation and fails (the driver and the vector bundles both use
/// this one rule).
#[inline]
pub fn push_broadcast_x(out: &mut Vec<u8>, x: u8, lanes: usize) {
    out.push(x);
    out.extend((1..lanes).map(|l| x ^ broadcast_mask(l)));
}

/// The mask of lane `l` (1..64) in [`push_broadcast_x`]: never 0.
#[inline]
fn broadcast_mask(l: usize) -> u8 {
    0x55u8.wrapping_add((l as u8).wrapping_mul(0x3B))
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

#[cfg(test)]
mod tests {
    use super::reg;

    #[test]
    fn the_register_map_is_what_the_rtl_header_says() {
        for lanes in [1usize, 8, 64] {
            for a in 0..=0x005u16 {
                assert!(reg::is_mapped(a, lanes));
            }
            for l in 0..lanes {
                assert!(reg::is_mapped(reg::bias(l), lanes));
                assert!(reg::is_mapped(reg::m0(l), lanes));
                assert!(reg::is_mapped(reg::shift(l), lanes));
                assert!(
                    !reg::is_mapped(reg::shift(l) + 1, lanes),
                    "lane {l}'s fourth slot"
                );
            }
            for a in [0x006u16, 0x0FF, 0x100 + 4 * lanes as u16, 0x8000, 0xFFFF] {
                assert!(!reg::is_mapped(a, lanes), "{a:#x} with {lanes} lanes");
            }
        }
    }

    #[test]
    fn broadcast_beats_put_another_activation_in_every_other_byte() {
        for lanes in [1usize, 2, 8, 64] {
            for x in [0u8, 1, 0x7F, 0x80, 0xFF] {
                let mut v = Vec::new();
                super::push_broadcast_x(&mut v, x, lanes);
                assert_eq!(v.len(), lanes);
                assert_eq!(v[0], x);
                assert!(v[1..].iter().all(|&b| b != x), "{v:?}");
            }
        }
    }

    #[test]
    fn unmapped_probes_are_never_registers_and_reach_every_kind() {
        for lanes in [1usize, 3, 8, 64] {
            let mut seen = std::collections::BTreeSet::new();
            for r in 0..20_000u64 {
                let r = r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let a = reg::unmapped(lanes, r);
                assert!(!reg::is_mapped(a, lanes), "{a:#x} with {lanes} lanes");
                seen.insert(a);
            }
            // next to the globals, a lane's fourth slot, 0x200, 0xFFFF
            for a in [0x200u16, 0xFFFF, 0x103] {
                assert!(seen.contains(&a), "{a:#x} never probed with {lanes} lanes");
            }
            assert!(seen.iter().any(|&a| (0x006..0x100).contains(&a)));
            if lanes < 64 {
                assert!(
                    seen.contains(&(0x100 + 4 * lanes as u16)),
                    "just past the last lane"
                );
            }
        }
    }
}
