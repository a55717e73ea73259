//! Multiply-accumulate with a 32-bit wrapping accumulator (docs/contract.md §1).
//!
//! Two forms that are identical mod 2^32:
//! * direct: `acc = bias + Σ (x − zp_x)·(w − zp_w)`, what the qmac RTL computes
//!   (it subtracts the zero points in the MAC, with 10-bit operands);
//! * folded: `acc = (bias − zp_x·Σw + zp_x·zp_w·K) + Σ x·w − zp_w·Σx`, what
//!   many accelerators compute so that the array multiplies raw int8 values.
//!   At padded borders the skipped taps must be left out of `Σw` and `K`, so a
//!   border output position has its own folded bias.

/// The result of one dot product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dot {
    /// The accumulator, wrapped to 32 bits.
    pub acc: i32,
    /// Sticky: some partial sum (bias + p1, then + p2, …) overflowed int32.
    pub overflow: bool,
}

/// Accumulator state of one MAC lane, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accumulator {
    pub dot: Dot,
}

impl Accumulator {
    /// Start a dot product at `bias` (no overflow yet).
    pub fn start(bias: i32) -> Self {
        Accumulator {
            dot: Dot {
                acc: bias,
                overflow: false,
            },
        }
    }
    /// Add one product with 32-bit wrap; the overflow flag is sticky.
    pub fn add(&mut self, product: i32) {
        let (sum, ovf) = self.dot.acc.overflowing_add(product);
        self.dot.acc = sum;
        self.dot.overflow |= ovf;
    }
    /// `(x − zp_x)·(w − zp_w)`, exact (|·| < 2^19 for 9-bit-signed zero points).
    pub fn product(x: i32, w: i32, zp_x: i32, zp_w: i32) -> i32 {
        (x - zp_x) * (w - zp_w)
    }
}

/// Direct form: `bias + Σ (x − zp_x)·(w − zp_w)` over `taps` in order.
pub fn dot(bias: i32, taps: impl IntoIterator<Item = (i32, i32)>, zp_x: i32, zp_w: i32) -> Dot {
    let mut acc = Accumulator::start(bias);
    for (x, w) in taps {
        acc.add(Accumulator::product(x, w, zp_x, zp_w));
    }
    acc.dot
}

/// The folded bias of one output position: `bias − zp_x·Σw + zp_x·zp_w·K`
/// (mod 2^32), where `weights` are only the taps that are present (not
/// padded) at this position and `K` is their count.
pub fn folded_bias(bias: i32, weights: impl IntoIterator<Item = i32>, zp_x: i32, zp_w: i32) -> i32 {
    let mut sum_w: i32 = 0;
    let mut k: i32 = 0;
    for w in weights {
        sum_w = sum_w.wrapping_add(w);
        k = k.wrapping_add(1);
    }
    bias.wrapping_sub(zp_x.wrapping_mul(sum_w))
        .wrapping_add(zp_x.wrapping_mul(zp_w).wrapping_mul(k))
}

/// Folded form: `folded_bias + Σ x·w − zp_w·Σx` (mod 2^32).
pub fn dot_folded(folded_bias: i32, taps: impl IntoIterator<Item = (i32, i32)>, zp_w: i32) -> i32 {
    let mut acc = folded_bias;
    let mut sum_x: i32 = 0;
    for (x, w) in taps {
        acc = acc.wrapping_add(x * w);
        sum_x = sum_x.wrapping_add(x);
    }
    acc.wrapping_sub(zp_w.wrapping_mul(sum_x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_flags() {
        let d = dot(i32::MAX, [(1, 1)], 0, 0);
        assert_eq!(d.acc, i32::MIN);
        assert!(d.overflow);
        // Wrapping back does not clear the sticky flag.
        let d = dot(i32::MAX, [(1, 1), (-1, 1)], 0, 0);
        assert_eq!(d.acc, i32::MAX);
        assert!(d.overflow);
        let d = dot(5, [(3, -2), (-128, -128)], 0, 0);
        assert_eq!(
            d,
            Dot {
                acc: 5 - 6 + 16384,
                overflow: false
            }
        );
    }

    #[test]
    fn full_scale_wraps_at_65794_taps() {
        // (255 − 0)·(−128) per tap with uint8 activations and zp_x = 0: K·32640 > 2^31.
        let taps = |k: usize| std::iter::repeat_n((255, -128), k);
        assert!(!dot(0, taps(65_793), 0, 0).overflow);
        assert!(dot(0, taps(65_794), 0, 0).overflow);
    }
}
