//! The requantization and MAC golden model (`qmac::arith::requant`, `qmac::arith::mac`)
//! against an independent i128 reference of docs/contract.md §1–4.
//!
//! The reference in [`reference`] is written from the contract's formulas
//! only (floor divisions with `i128::div_euclid`, rounding half away from
//! zero on magnitudes); it never calls the crate. Every property runs
//! [`CASES`] cases with strategies weighted to the edges (accumulators near
//! 0 and ±2^31, exact ties, the normalised multiplier range, the saturating
//! INT32_MIN pair, e at both ends of [−31, 30]).

use proptest::prelude::*;
use qmac::arith::mac;
use qmac::arith::requant::{self, Activation, DatapathRounding, Requant};
use qmac::arith::DType;

/// Cases per property test.
const CASES: u32 = 20_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Tests may only create files they own: no proptest-regressions/.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const I32_MIN: i64 = i32::MIN as i64;
const I32_MAX: i64 = i32::MAX as i64;

/// Independent reference (docs/contract.md §2 and §4), all in i128.
mod reference {
    pub fn pow2(k: u32) -> i128 {
        1i128 << k
    }

    /// `floor(x / 2^k)`.
    pub fn floor_div_pow2(x: i128, k: u32) -> i128 {
        x.div_euclid(pow2(k))
    }

    /// `x / 2^k` rounded half away from zero.
    pub fn div_pow2_half_away(x: i128, k: u32) -> i128 {
        if k == 0 {
            return x;
        }
        let q = (x.abs() + pow2(k - 1)).div_euclid(pow2(k));
        if x < 0 {
            -q
        } else {
            q
        }
    }

    /// Two's-complement truncation to 32 bits.
    pub fn wrap32(x: i128) -> i128 {
        let m = x.rem_euclid(pow2(32));
        if m >= pow2(31) {
            m - pow2(32)
        } else {
            m
        }
    }

    /// `floor((a·b + 2^(W−2)) / 2^(W−1))`, saturating `a = INT32_MIN, b = −2^(W−1)`.
    pub fn srdhm(a: i128, b: i128, w: u32) -> i128 {
        if a == i32::MIN as i128 && b == -pow2(w - 1) {
            return i32::MAX as i128;
        }
        floor_div_pow2(a * b + pow2(w - 2), w - 1)
    }

    /// Double rounding with a W-bit multiplier.
    pub fn double(acc: i32, m0: i32, e: i32, w: u32) -> i128 {
        let a = wrap32((acc as i128) * pow2(e.max(0) as u32));
        let t = srdhm(a, m0 as i128, w);
        div_pow2_half_away(t, (-e).max(0) as u32)
    }

    /// Single rounding with a W-bit multiplier: n = (W−1) − e.
    pub fn single(acc: i32, m0: i32, e: i32, w: u32) -> i128 {
        let n = (w as i32 - 1) - e;
        let p = acc as i128 * m0 as i128;
        if n >= 1 {
            floor_div_pow2(p + pow2(n as u32 - 1), n as u32)
        } else {
            p * pow2((-n) as u32)
        }
    }

    pub fn scale(acc: i32, m0: i32, e: i32, w: u32, single_rounding: bool) -> i128 {
        if single_rounding {
            single(acc, m0, e, w)
        } else {
            double(acc, m0, e, w)
        }
    }

    /// The single-expression form of double rounding claimed in
    /// docs/contract.md §2 for e ≤ 0 (n = 31 − e):
    /// `(p + 2^(n−1) + (n > 31 ? (p ≥ 0 ? 2^30 : −2^30) : 0)) >> n`.
    pub fn double_single_expression(acc: i32, m0: i32, e: i32) -> i128 {
        assert!(e <= 0);
        let n = (31 - e) as u32;
        let p = acc as i128 * m0 as i128;
        let corr = if n > 31 {
            if p >= 0 {
                pow2(30)
            } else {
                -pow2(30)
            }
        } else {
            0
        };
        floor_div_pow2(p + pow2(n - 1) + corr, n)
    }

    /// `clamp(r + zp_out, act_min, act_max)` without wrap.
    pub fn output(r: i128, zp_out: i32, act_min: i32, act_max: i32) -> i128 {
        (r + zp_out as i128).clamp(act_min as i128, act_max as i128)
    }

    /// docs/contract.md §4: `round_half_away(m0 / 2^(32−W))`, the carry to
    /// `(2^(W−2), e + 1)`, then e > 30 clamped to `(2^(W−1) − 1, 30)`.
    pub fn narrow(m0: i32, e: i32, w: u32) -> (i128, i32) {
        if w == 32 {
            return (m0 as i128, e);
        }
        let mut mw = div_pow2_half_away(m0 as i128, 32 - w);
        let mut e = e;
        if mw == pow2(w - 1) {
            mw = pow2(w - 2);
            e += 1;
        }
        if e > 30 {
            mw = pow2(w - 1) - 1;
            e = 30;
        }
        (mw, e)
    }
}

// ---------------------------------------------------------------- strategies

/// `odd · 2^i`, the shape of every exact tie.
fn odd_times_pow2(v: i64, i: u32, bits: u32) -> i64 {
    // v reduced to a `bits`-bit signed value, then forced to `odd · 2^i`.
    let v = v >> (64 - bits);
    ((v >> i) | 1) << i
}

fn acc_strategy() -> BoxedStrategy<i32> {
    prop_oneof![
        4 => any::<i32>(),
        2 => -4096i32..=4096,
        1 => i32::MIN..=i32::MIN + 4096,
        1 => i32::MAX - 4096..=i32::MAX,
        1 => prop::sample::select(vec![
            0,
            1,
            -1,
            2,
            -2,
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
            1 << 30,
            -(1 << 30),
            (1 << 30) - 1,
            1 << 16,
            -(1 << 16),
        ]),
        2 => (any::<i64>(), 0u32..=30).prop_map(|(v, i)| odd_times_pow2(v, i, 32) as i32),
    ]
    .boxed()
}

/// A W-bit signed multiplier, weighted to the normalised range
/// [2^(W−2), 2^(W−1)) and its ends, 0, and −2^(W−1) (INT32_MIN for W = 32).
fn m0_strategy(w: u32) -> BoxedStrategy<i32> {
    let lo = -(1i64 << (w - 1));
    let hi = (1i64 << (w - 1)) - 1;
    let half = 1i64 << (w - 2);
    prop_oneof![
        3 => lo..=hi,
        3 => half..=hi,
        1 => prop::sample::select(vec![half, half + 1, hi, hi - 1, lo, lo + 1, 0, 1, -1, -half]),
        1 => (any::<i64>(), 0u32..=(w - 2)).prop_map(move |(v, j)| odd_times_pow2(v, j, w)),
    ]
    .prop_map(|m| m as i32)
    .boxed()
}

fn shift_strategy() -> BoxedStrategy<i32> {
    prop_oneof![
        3 => requant::SHIFT_MIN..=requant::SHIFT_MAX,
        1 => prop::sample::select(vec![-31, -30, -2, -1, 0, 1, 2, 29, 30]),
    ]
    .boxed()
}

/// `(acc, m0, e)` whose product is an exact tie: acc = odd·2^i,
/// m0 = odd·2^j and e = (W − 2) − (i + j), so that
/// `acc·m0 ≡ 2^(n−1) (mod 2^n)` for single rounding (n = (W−1) − e) and, for
/// double rounding with e ≤ 0, t = odd·2^(rs−1) is a RoundingDivideByPOT tie
/// (or, with i + j = W − 2, the SRDHM product itself is a tie).
fn tie_strategy(w: u32) -> BoxedStrategy<(i32, i32, i32)> {
    (any::<i64>(), 0u32..=30, any::<i64>(), 0u32..=(w - 2))
        .prop_map(move |(v, i, u, j)| {
            let acc = odd_times_pow2(v, i, 32) as i32;
            let m0 = odd_times_pow2(u, j, w) as i32;
            let e = (w as i32 - 2 - (i + j) as i32).clamp(requant::SHIFT_MIN, requant::SHIFT_MAX);
            (acc, m0, e)
        })
        .boxed()
}

/// `(acc, m0, e)` for a W-bit multiplier: general values, exact ties, and
/// products of the extreme values (the saturating INT32_MIN pair among them).
fn triple_strategy(w: u32) -> BoxedStrategy<(i32, i32, i32)> {
    let lo = -(1i64 << (w - 1)) as i32;
    let hi = ((1i64 << (w - 1)) - 1) as i32;
    let half = 1i32 << (w - 2);
    let acc_edges = vec![
        i32::MIN,
        i32::MIN + 1,
        i32::MAX,
        0,
        1,
        -1,
        1 << 30,
        -(1 << 30),
    ];
    let m0_edges = vec![lo, lo + 1, hi, half, 0, 1, -1];
    prop_oneof![
        6 => (acc_strategy(), m0_strategy(w), shift_strategy()),
        2 => tie_strategy(w),
        1 => (
            prop::sample::select(acc_edges),
            prop::sample::select(m0_edges),
            shift_strategy()
        ),
    ]
    .boxed()
}

fn narrow_width() -> BoxedStrategy<u32> {
    prop::sample::select(vec![16u32, 18, 24]).boxed()
}

fn narrow_triple() -> BoxedStrategy<(u32, (i32, i32, i32))> {
    narrow_width()
        .prop_flat_map(|w| (Just(w), triple_strategy(w)))
        .boxed()
}

/// `(zp_out, act_min, act_max)`, act_min ≤ act_max.
fn output_params() -> BoxedStrategy<(i32, i32, i32)> {
    let sorted = |(a, b): (i32, i32)| (a.min(b), a.max(b));
    prop_oneof![
        2 => (-128i32..=127, Just((-128, 127))).prop_map(|(z, (l, h))| (z, l, h)),
        1 => (0i32..=255, Just((0, 255))).prop_map(|(z, (l, h))| (z, l, h)),
        2 => (-512i32..=511, (-512i32..=511, -512i32..=511).prop_map(sorted))
            .prop_map(|(z, (l, h))| (z, l, h)),
        1 => (any::<i32>(), (any::<i32>(), any::<i32>()).prop_map(sorted))
            .prop_map(|(z, (l, h))| (z, l, h)),
        1 => (any::<i32>(), Just((i32::MIN, i32::MAX))).prop_map(|(z, (l, h))| (z, l, h)),
    ]
    .boxed()
}

/// One dot product: a window of `(x, w, present)` taps; absent taps are
/// padding (skipped by the datapath).
#[derive(Debug, Clone)]
struct DotCase {
    bias: i32,
    zp_x: i32,
    zp_w: i32,
    window: Vec<(i32, i32, bool)>,
}

fn dot_case_strategy() -> BoxedStrategy<DotCase> {
    (
        prop_oneof![
            2 => any::<i32>(),
            2 => -100_000i32..=100_000,
            1 => (i32::MAX - (1 << 23))..=i32::MAX,
            1 => i32::MIN..=(i32::MIN + (1 << 23)),
            2 => (i32::MAX - (1 << 16))..=i32::MAX,
            2 => i32::MIN..=(i32::MIN + (1 << 16)),
        ],
        any::<bool>(),
        0i32..=255,
        prop_oneof![
            2 => Just(0i32),
            1 => -128i32..=127,
            1 => prop::sample::select(vec![-128i32, 127]),
        ],
        prop::collection::vec(
            (
                prop_oneof![3 => 0i32..=255, 1 => prop::sample::select(vec![0i32, 255])],
                prop_oneof![3 => -128i32..=127, 1 => prop::sample::select(vec![-128i32, 127])],
                prop::bool::weighted(0.8),
            ),
            0..=96,
        ),
    )
        .prop_map(|(bias, uint8, zp_x, zp_w, raw)| {
            // Activations and their zero point in the int8 or uint8 range.
            let off = if uint8 { 0 } else { 128 };
            DotCase {
                bias,
                zp_x: zp_x - off,
                zp_w,
                window: raw.into_iter().map(|(x, w, p)| (x - off, w, p)).collect(),
            }
        })
        .boxed()
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config())]

    #[test]
    fn srdhm_matches_reference(
        w in prop::sample::select(vec![16u32, 18, 24, 32]),
        a in acc_strategy(),
        seed in any::<u64>(),
    ) {
        // b from the W-bit strategy would need flat_map; derive it instead
        // from a seed, keeping the edge values in the mix.
        let lo = -(1i64 << (w - 1));
        let span = 1u64 << w;
        let b: i64 = match seed % 8 {
            0 => lo,
            1 => 1i64 << (w - 2),
            2 => (1i64 << (w - 1)) - 1,
            _ => lo + ((seed >> 3) % span) as i64,
        };
        let b = b as i32;
        prop_assert_eq!(
            requant::srdhm(a, b, w) as i128,
            reference::srdhm(a as i128, b as i128, w),
            "srdhm({}, {}, W={})", a, b, w
        );
    }

    #[test]
    fn srdhm_w32_matches_reference(a in acc_strategy(), b in m0_strategy(32)) {
        prop_assert_eq!(
            requant::srdhm(a, b, 32) as i128,
            reference::srdhm(a as i128, b as i128, 32),
            "srdhm({}, {})", a, b
        );
    }

    #[test]
    fn rounding_divide_by_pot_matches_reference(
        x in acc_strategy(),
        exponent in prop_oneof![3 => 0u32..=31, 1 => prop::sample::select(vec![0u32, 1, 30, 31])],
    ) {
        prop_assert_eq!(
            requant::rounding_divide_by_pot(x, exponent) as i128,
            reference::div_pow2_half_away(x as i128, exponent),
            "rdbp({}, {})", x, exponent
        );
    }

    #[test]
    fn rounding_divide_by_pot_exact_ties(v in any::<i32>(), exponent in 1u32..=31) {
        // x = k·2^exp + 2^(exp−1) is a tie (x/2^exp = k + 0.5): half away
        // from zero gives k + 1 for x ≥ 0 and k for x < 0.
        let k = (v as i64) >> exponent;
        let x = (k << exponent) + (1i64 << (exponent - 1));
        let expected = if x >= 0 { k + 1 } else { k };
        let x = i32::try_from(x).unwrap();
        prop_assert_eq!(requant::rounding_divide_by_pot(x, exponent) as i64, expected, "rdbp({}, {})", x, exponent);
        prop_assert_eq!(reference::div_pow2_half_away(x as i128, exponent), expected as i128);
    }

    #[test]
    fn multiply_double_w32_matches_reference((acc, m0, e) in triple_strategy(32)) {
        prop_assert_eq!(
            requant::multiply_double(acc, m0, e, 32) as i128,
            reference::double(acc, m0, e, 32),
            "double({}, {}, {})", acc, m0, e
        );
    }

    #[test]
    fn multiply_single_w32_matches_reference((acc, m0, e) in triple_strategy(32)) {
        prop_assert_eq!(
            requant::multiply_single(acc, m0, e, 32) as i128,
            reference::single(acc, m0, e, 32),
            "single({}, {}, {})", acc, m0, e
        );
    }

    #[test]
    fn multiply_double_narrow_matches_reference((w, (acc, m0, e)) in narrow_triple()) {
        prop_assert_eq!(
            requant::multiply_double(acc, m0, e, w) as i128,
            reference::double(acc, m0, e, w),
            "double({}, {}, {}, W={})", acc, m0, e, w
        );
    }

    #[test]
    fn multiply_single_narrow_matches_reference((w, (acc, m0, e)) in narrow_triple()) {
        prop_assert_eq!(
            requant::multiply_single(acc, m0, e, w) as i128,
            reference::single(acc, m0, e, w),
            "single({}, {}, {}, W={})", acc, m0, e, w
        );
    }

    #[test]
    fn scale_dispatches_on_rounding(
        (w, (acc, m0, e)) in prop::sample::select(vec![16u32, 18, 24, 32])
            .prop_flat_map(|w| (Just(w), triple_strategy(w))),
        single in any::<bool>(),
    ) {
        let rounding = if single { DatapathRounding::Single } else { DatapathRounding::Double };
        prop_assert_eq!(
            requant::scale(acc, m0, e, rounding, w) as i128,
            reference::scale(acc, m0, e, w, single)
        );
    }

    #[test]
    fn requant_apply_w32_matches_reference(
        (acc, m0, e) in triple_strategy(32),
        single in any::<bool>(),
        (zp_out, act_min, act_max) in output_params(),
    ) {
        let rq = Requant {
            m0,
            shift: e,
            zp_out,
            act_min,
            act_max,
            rounding: if single { DatapathRounding::Single } else { DatapathRounding::Double },
            mult_w: 32,
        };
        let r = reference::scale(acc, m0, e, 32, single);
        prop_assert_eq!(
            rq.apply(acc) as i128,
            reference::output(r, zp_out, act_min, act_max),
            "{:?}.apply({})", rq, acc
        );
    }

    #[test]
    fn requant_apply_narrow_matches_reference(
        (w, (acc, m0, e)) in narrow_triple(),
        single in any::<bool>(),
        (zp_out, act_min, act_max) in output_params(),
    ) {
        let rq = Requant {
            m0,
            shift: e,
            zp_out,
            act_min,
            act_max,
            rounding: if single { DatapathRounding::Single } else { DatapathRounding::Double },
            mult_w: w,
        };
        let r = reference::scale(acc, m0, e, w, single);
        prop_assert_eq!(
            rq.apply(acc) as i128,
            reference::output(r, zp_out, act_min, act_max),
            "{:?}.apply({})", rq, acc
        );
    }

    /// docs/contract.md §2's single expression for double rounding, e ≤ 0, on
    /// the normalised multipliers M0 in [2^30, 2^31).
    #[test]
    fn double_single_expression_normalised_m0(
        acc in acc_strategy(),
        m0 in prop_oneof![
            4 => (1i32 << 30)..=i32::MAX,
            1 => prop::sample::select(vec![1i32 << 30, (1 << 30) + 1, i32::MAX]),
        ],
        e in prop_oneof![3 => -31i32..=0, 1 => prop::sample::select(vec![-31i32, -30, -1, 0])],
    ) {
        prop_assert_eq!(
            reference::double_single_expression(acc, m0, e),
            requant::multiply_double(acc, m0, e, 32) as i128,
            "acc={} m0={} e={}", acc, m0, e
        );
    }

    /// The same expression for every M0, negative ones included. It holds
    /// (see `double_single_expression_int32_min_pair` for the one exception):
    /// the sign test is on the product p = acc·M0, not on M0, and the proof
    /// only uses the sign of p. For p ≥ 0, t = floor((p + 2^30)/2^31) ≥ 0 and
    /// half-up division of t by 2^rs nests into one floor:
    /// floor((t + 2^(rs−1))/2^rs) = floor((p + 2^30 + 2^(n−1))/2^n). For
    /// p < 0 with t < 0, half-away division is floor((t + 2^(rs−1) − 1)/2^rs)
    /// = floor((p + 2^30 + 2^(n−1) − 2^31)/2^n) = floor((p + 2^(n−1) − 2^30)/2^n);
    /// with t = 0 (−2^30 ≤ p < 0) both sides are 0.
    #[test]
    fn double_single_expression_any_m0(
        (acc, m0, e) in triple_strategy(32).prop_map(|(a, m, e)| (a, m, e.min(0))),
    ) {
        prop_assume!(!(acc == i32::MIN && m0 == i32::MIN));
        prop_assert_eq!(
            reference::double_single_expression(acc, m0, e),
            requant::multiply_double(acc, m0, e, 32) as i128,
            "acc={} m0={} e={}", acc, m0, e
        );
    }

    #[test]
    fn narrow_multiplier_matches_reference(
        w in prop::sample::select(vec![16u32, 18, 24, 32]),
        m0 in m0_strategy(32),
        e in shift_strategy(),
    ) {
        let (mw, ew) = requant::narrow_multiplier(m0, e, w);
        prop_assert_eq!((mw as i128, ew), reference::narrow(m0, e, w), "narrow({}, {}, W={})", m0, e, w);
        if m0 >= 1 << 30 {
            // Normalised in, normalised out.
            prop_assert!((1i64 << (w - 2)..1i64 << (w - 1)).contains(&(mw as i64)));
        }
    }

    #[test]
    fn dot_and_folded_agree(c in dot_case_strategy()) {
        let DotCase { bias, zp_x, zp_w, ref window } = c;
        let present: Vec<(i32, i32)> = window.iter().filter(|t| t.2).map(|t| (t.0, t.1)).collect();

        // Reference: exact i64 prefix sums.
        let mut s = bias as i64;
        let mut overflow = false;
        for &(x, w) in &present {
            s += (x as i64 - zp_x as i64) * (w as i64 - zp_w as i64);
            overflow |= !(I32_MIN..=I32_MAX).contains(&s);
        }
        let expected = reference::wrap32(s as i128) as i32;

        let d = mac::dot(bias, present.iter().copied(), zp_x, zp_w);
        prop_assert_eq!(d.acc, expected);
        prop_assert_eq!(d.overflow, overflow);

        let fb = mac::folded_bias(bias, present.iter().map(|t| t.1), zp_x, zp_w);
        prop_assert_eq!(mac::dot_folded(fb, present.iter().copied(), zp_w), expected);

        // Zero-point padding streamed through instead of skipped: padded
        // taps read x = zp_x, contribute 0 to the direct form, and the
        // folded form is right again with the full window's Σw and K.
        let padded: Vec<(i32, i32)> =
            window.iter().map(|&(x, w, p)| (if p { x } else { zp_x }, w)).collect();
        prop_assert_eq!(mac::dot(bias, padded.iter().copied(), zp_x, zp_w).acc, expected);
        let fb_full = mac::folded_bias(bias, window.iter().map(|t| t.1), zp_x, zp_w);
        prop_assert_eq!(mac::dot_folded(fb_full, padded.iter().copied(), zp_w), expected);

        // Skipping padded taps but keeping them in Σw is off by exactly
        // −zp_x·Σ_padded (w − zp_w) (mod 2^32): the border bias must differ.
        let err: i64 = window
            .iter()
            .filter(|t| !t.2)
            .map(|t| -(zp_x as i64) * (t.1 as i64 - zp_w as i64))
            .sum();
        let wrong = mac::dot_folded(fb_full, present.iter().copied(), zp_w);
        prop_assert_eq!(wrong, reference::wrap32(s as i128 + err as i128) as i32);
    }
}

// ---------------------------------------------------------------- the INT32_MIN pair

/// The one exception to the single-expression form: acc = M0 = INT32_MIN.
/// SRDHM saturates t to 2^31 − 1 where the exact product gives 2^31. With
/// e = 0 (no second rounding) the expression yields 2^31 but double rounding
/// INT32_MAX; for e < 0 the 1-LSB difference in t vanishes in the second
/// rounding ((2^31 − 1)/2^rs rounds half away to 2^(31−rs), the same as
/// 2^31/2^rs), so the expression holds again.
#[test]
fn double_single_expression_int32_min_pair() {
    let (acc, m0) = (i32::MIN, i32::MIN);
    assert_eq!(reference::double_single_expression(acc, m0, 0), 1i128 << 31);
    assert_eq!(requant::multiply_double(acc, m0, 0, 32), i32::MAX);
    for e in -31..=-1 {
        let expected = 1i128 << (31 + e);
        assert_eq!(
            reference::double_single_expression(acc, m0, e),
            expected,
            "e={e}"
        );
        assert_eq!(
            requant::multiply_double(acc, m0, e, 32) as i128,
            expected,
            "e={e}"
        );
    }
}

/// The single expression exhaustively over small accumulators, every e ≤ 0
/// and a set of multipliers (normalised, negative, tie-making powers of two).
#[test]
fn double_single_expression_exhaustive_small_acc() {
    let mut m0s = vec![
        1 << 30,
        (1 << 30) + 1,
        i32::MAX,
        i32::MAX - 1,
        1518500250,
        1 << 29,
    ];
    m0s.extend((0..31).map(|j| 1i32 << j));
    m0s.extend((0..31).map(|j| -(1i32 << j)));
    m0s.extend([-(1 << 30) - 1, i32::MIN + 1, -1518500250, 3, -3, 0]);
    let mut checked = 0u64;
    for &m0 in &m0s {
        for e in -31..=0 {
            for acc in -2048..=2048 {
                assert_eq!(
                    reference::double_single_expression(acc, m0, e),
                    requant::multiply_double(acc, m0, e, 32) as i128,
                    "acc={acc} m0={m0} e={e}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 9_000_000);
}

// ---------------------------------------------------------------- tie / corner table

#[derive(Debug, Clone, Copy)]
enum Mode {
    Double,
    Single,
}

struct Row {
    acc: i32,
    m0: i32,
    e: i32,
    w: u32,
    mode: Mode,
    r: i64,
}

const fn row(acc: i32, m0: i32, e: i32, w: u32, mode: Mode, r: i64) -> Row {
    Row {
        acc,
        m0,
        e,
        w,
        mode,
        r,
    }
}

const MIN: i32 = i32::MIN;
const MAX: i32 = i32::MAX;
const H: i32 = 1 << 30; // M0 = 2^30: M = 2^(e−1)

use Mode::{Double as D, Single as S};

/// Hand-computed rows. p = acc·M0; double: a = wrap32(acc·2^max(e,0)),
/// t = floor((a·M0 + 2^30)/2^31), r = t/2^rs half away; single:
/// n = 31 − e, r = floor((p + 2^(n−1))/2^n).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // ---- ties at the SRDHM stage (e = 0: M = 0.5) -------------------------
    // p = 2^30: t = floor(2^31/2^31) = 1 (0.5 → +∞).
    row(1, H, 0, 32, D, 1),
    // p = −2^30: t = floor(0/2^31) = 0 (−0.5 → +∞ = 0).
    row(-1, H, 0, 32, D, 0),
    // n = 31: (2^30 + 2^30) >> 31 = 1.
    row(1, H, 0, 32, S, 1),
    // (−2^30 + 2^30) >> 31 = 0.
    row(-1, H, 0, 32, S, 0),
    // ---- ties at the final rounding, e = −1 (M = 0.25) ----------------------
    // exact 0.5: t = floor(3·2^30/2^31) = 1; 1/2 half away → 1.
    row(2, H, -1, 32, D, 1),
    // exact −0.5: t = floor(−2^30/2^31) = −1; −1/2 half away → −1.
    row(-2, H, -1, 32, D, -1),
    // n = 32: (2^31 + 2^31) >> 32 = 1.
    row(2, H, -1, 32, S, 1),
    // (−2^31 + 2^31) >> 32 = 0: single ties go to +∞, double away from 0.
    row(-2, H, -1, 32, S, 0),
    // exact 1.5: t = floor(7·2^30/2^31) = 3; 3/2 → 2.
    row(6, H, -1, 32, D, 2),
    // exact −1.5: t = floor(−5·2^30/2^31) = −3; −3/2 → −2.
    row(-6, H, -1, 32, D, -2),
    // (6·2^30 + 2^31) >> 32 = 8·2^30/2^32 = 2.
    row(6, H, -1, 32, S, 2),
    // (−6·2^30 + 2^31) >> 32 = −4·2^30/2^32 = −1.
    row(-6, H, -1, 32, S, -1),
    // ---- double rounding makes a tie that is not one (e = −2, M = 0.125) ----
    // exact 0.375: t = floor(4·2^30/2^31) = 2 (1.5 rounded up); 2/4 = 0.5 → 1.
    row(3, H, -2, 32, D, 1),
    // n = 33: (3·2^30 + 2^32) >> 33 = floor(7/8) = 0, the correct rounding.
    row(3, H, -2, 32, S, 0),
    // exact −0.375: t = floor(−2·2^30/2^31) = −1; −1/4 → 0.
    row(-3, H, -2, 32, D, 0),
    // (−3·2^30 + 2^32) >> 33 = floor(1/8) = 0.
    row(-3, H, -2, 32, S, 0),
    // ---- the INT32_MIN · INT32_MIN pair --------------------------------------
    // SRDHM saturates: t = INT32_MAX.
    row(MIN, MIN, 0, 32, D, MAX as i64),
    // t = 2^31 − 1; (2^31 − 1)/2 = 2^30 − 0.5 half away → 2^30.
    row(MIN, MIN, -1, 32, D, 1 << 30),
    // p = 2^62, n = 31: (2^62 + 2^30) >> 31 = 2^31, no saturation (i64 result).
    row(MIN, MIN, 0, 32, S, 1 << 31),
    // n = 32: (2^62 + 2^31) >> 32 = 2^30.
    row(MIN, MIN, -1, 32, S, 1 << 30),
    // ---- left shifts that wrap 32 bits (double only; single is exact) -------
    // a = wrap32(2^30·4) = 0 → 0.
    row(H, H, 2, 32, D, 0),
    // n = 29: (2^60 + 2^28) >> 29 = 2^31.
    row(H, H, 2, 32, S, 1 << 31),
    // a = wrap32(2^31) = −2^31; t = floor((−2^61 + 2^30)/2^31) = −2^30.
    row(H, H, 1, 32, D, -(1 << 30)),
    // n = 30: (2^60 + 2^29) >> 30 = 2^30.
    row(H, H, 1, 32, S, 1 << 30),
    // ---- e = 30 --------------------------------------------------------------
    // a = 2^30; t = floor((2^60 + 2^30)/2^31) = 2^29.
    row(1, H, 30, 32, D, 1 << 29),
    // n = 1: (2^30 + 1) >> 1 = 2^29.
    row(1, H, 30, 32, S, 1 << 29),
    // a = wrap32(3·2^30) = −2^30; t = floor((−2^60 + 2^30)/2^31) = −2^29.
    row(3, H, 30, 32, D, -(1 << 29)),
    // n = 1: (3·2^30 + 1) >> 1 = 3·2^29.
    row(3, H, 30, 32, S, 3 << 29),
    // n = 1: ((2^31−1)^2 + 1) >> 1 = (2^62 − 2^32 + 2)/2 = 2^61 − 2^31 + 1.
    row(MAX, MAX, 30, 32, S, (1 << 61) - (1 << 31) + 1),
    // ---- e = −31 -------------------------------------------------------------
    // p = 2^62 − 2^32 + 1; t = 2^31 − 2; (2^31 − 2)/2^31 ≈ 0.99999 → 1.
    row(MAX, MAX, -31, 32, D, 1),
    // n = 62: (2^62 − 2^32 + 1 + 2^61) >> 62 = 1.
    row(MAX, MAX, -31, 32, S, 1),
    // exact −0.5: t = floor((−2^61 + 2^30)/2^31) = −2^30; −2^30/2^31 → −1.
    row(MIN, H, -31, 32, D, -1),
    // n = 62: (−2^61 + 2^61) >> 62 = 0.
    row(MIN, H, -31, 32, S, 0),
    // p = −2^62 + 2^31; t = −2^31 + 1; (−2^31 + 1)/2^31 ≈ −0.99999 → −1.
    row(MIN, MAX, -31, 32, D, -1),
    // (−2^62 + 2^31 + 2^61) >> 62 = floor((−2^61 + 2^31)/2^62) = −1.
    row(MIN, MAX, -31, 32, S, -1),
    // ---- M0 = 0 --------------------------------------------------------------
    // a = wrap32((2^31 − 1)·32) = −32; t = floor(2^30/2^31) = 0.
    row(MAX, 0, 5, 32, D, 0),
    row(MIN, 0, -31, 32, D, 0),
    row(MIN, 0, -31, 32, S, 0),
    row(12345, 0, 30, 32, S, 0),
    // ---- narrow multipliers --------------------------------------------------
    // W = 16, M0 = 2^14, e = 0 (M = 0.5): n = 15, (2^14 + 2^14) >> 15 = 1.
    row(1, 1 << 14, 0, 16, S, 1),
    // (−2^14 + 2^14) >> 15 = 0.
    row(-1, 1 << 14, 0, 16, S, 0),
    // n = 15 − 20 = −5: exact 3·2^14·2^5 = 3·2^19.
    row(3, 1 << 14, 20, 16, S, 3 << 19),
    // n = −15: (2^31 − 1)(2^15 − 1)·2^15 = 2^61 − 2^46 − 2^30 + 2^15.
    row(MAX, (1 << 15) - 1, 30, 16, S, (1 << 61) - (1 << 46) - (1 << 30) + (1 << 15)),
    // W = 16 pair a = INT32_MIN, M0 = −2^15: saturates to INT32_MAX.
    row(MIN, -(1 << 15), 0, 16, D, MAX as i64),
    // n = 15: (2^46 + 2^14) >> 15 = 2^31.
    row(MIN, -(1 << 15), 0, 16, S, 1 << 31),
    // W = 18, M0 = 2^16, e = −1 (M = 0.25), exact −0.5:
    // t = floor((−2^17 + 2^16)/2^17) = −1; −1/2 half away → −1.
    row(-2, 1 << 16, -1, 18, D, -1),
    // n = 18: (−2^17 + 2^17) >> 18 = 0.
    row(-2, 1 << 16, -1, 18, S, 0),
    // W = 24, M0 = 2^22, e = −2 (M = 0.125), exact 0.375:
    // t = floor(4·2^22/2^23) = 2; 2/4 → 1 (the double-rounding error).
    row(3, 1 << 22, -2, 24, D, 1),
    // n = 25: (3·2^22 + 2^24) >> 25 = floor(7/8) = 0.
    row(3, 1 << 22, -2, 24, S, 0),
];

#[test]
fn tie_and_corner_table() {
    for (i, t) in TABLE.iter().enumerate() {
        let (got, want_ref) = match t.mode {
            Mode::Double => (
                requant::multiply_double(t.acc, t.m0, t.e, t.w) as i64,
                reference::double(t.acc, t.m0, t.e, t.w),
            ),
            Mode::Single => (
                requant::multiply_single(t.acc, t.m0, t.e, t.w),
                reference::single(t.acc, t.m0, t.e, t.w),
            ),
        };
        let what = format!(
            "row {i}: acc={} m0={} e={} W={} {:?}",
            t.acc, t.m0, t.e, t.w, t.mode
        );
        assert_eq!(
            want_ref, t.r as i128,
            "reference disagrees with the hand value, {what}"
        );
        assert_eq!(got, t.r, "{what}");
    }
}

#[test]
fn requant_apply_clamps_without_wrap() {
    let rq = |m0, shift, zp_out, act_min, act_max, rounding| Requant {
        m0,
        shift,
        zp_out,
        act_min,
        act_max,
        rounding,
        mult_w: 32,
    };
    // Single: r = 2^31 (row above), + zp −128 → clamp to 127.
    assert_eq!(
        rq(H, 2, -128, -128, 127, DatapathRounding::Single).apply(H),
        127
    );
    // Double: the wrapped left shift gives r = 0, + zp −128 → −128.
    assert_eq!(
        rq(H, 2, -128, -128, 127, DatapathRounding::Double).apply(H),
        -128
    );
    // r = INT32_MAX (saturated pair) + 1 must not wrap to INT32_MIN.
    assert_eq!(
        rq(MIN, 0, 1, MIN, MAX, DatapathRounding::Double).apply(MIN),
        MAX
    );
    // r = 2^31 + 1 with single rounding: clamps to INT32_MAX.
    assert_eq!(
        rq(MIN, 0, 1, MIN, MAX, DatapathRounding::Single).apply(MIN),
        MAX
    );
    // r = −1 (row: MIN·2^30, e = −31, double) + zp 0 in uint8 bounds → 0.
    assert_eq!(
        rq(H, -31, 0, 0, 255, DatapathRounding::Double).apply(MIN),
        0
    );
    // r = −2^29 − 20, act bounds [−20, 127] → −20.
    assert_eq!(
        rq(H, 30, -20, -20, 127, DatapathRounding::Double).apply(3),
        -20
    );
    // M0 = 0: output is zp_out.
    assert_eq!(
        rq(0, 0, 7, -128, 127, DatapathRounding::Double).apply(MAX),
        7
    );
}

// ---------------------------------------------------------------- QuantizeMultiplier

fn p2(k: i32) -> f64 {
    2f64.powi(k)
}

#[test]
fn quantize_multiplier_edges() {
    let q = requant::quantize_multiplier;
    for single in [false, true] {
        // Exact powers of two: frexp(0.5) = (0.5, 0) → 0.5·2^31 = 2^30.
        assert_eq!(q(0.5, single), (1 << 30, 0));
        // frexp(1) = (0.5, 1).
        assert_eq!(q(1.0, single), (1 << 30, 1));
        // frexp(2^−10) = (0.5, −9).
        assert_eq!(q(p2(-10), single), (1 << 30, -9));
        assert_eq!(q(-0.5, single), (-(1 << 30), 0));
        // e = 0: 0.75·2^31 = 1610612736.
        assert_eq!(q(0.75, single), (1610612736, 0));
        // e > 0: frexp(3.7) = (0.925, 2); 0.925·2^31 = 1986422374.4 → 1986422374.
        assert_eq!(q(3.7, single), (1986422374, 2));
        // The 2^31 carry: (1 − 2^−33)·2^31 = 2^31 − 0.25 rounds to 2^31 → (2^30, e + 1).
        assert_eq!(q(1.0 - p2(-33), single), (1 << 30, 1));
        // Round half away at an exact half: (0.5 + 2^−32)·2^31 = 2^30 + 0.5.
        assert_eq!(q(0.5 + p2(-32), single), ((1 << 30) + 1, 0));
        assert_eq!(q(-(0.5 + p2(-32)), single), (-(1 << 30) - 1, 0));
        // 2^30 + 1.5 → 2^30 + 2.
        assert_eq!(q(0.5 + 3.0 * p2(-32), single), ((1 << 30) + 2, 0));
        // Smallest kept: frexp(2^−32) = (0.5, −31).
        assert_eq!(q(p2(-32), single), (1 << 30, -31));
        // The carry happens before the flush: (1 − 2^−33)·2^−32 has e = −32,
        // carries to (2^30, −31) and is kept.
        assert_eq!(q((1.0 - p2(-33)) * p2(-32), single), (1 << 30, -31));
        // Flush: frexp(2^−33) = (0.5, −32), e < −31 → (0, 0).
        assert_eq!(q(p2(-33), single), (0, 0));
        assert_eq!(q(0.75 * p2(-32), single), (0, 0));
        assert_eq!(q(f64::MIN_POSITIVE, single), (0, 0));
        assert_eq!(q(5e-324, single), (0, 0)); // subnormal
                                               // Zero.
        assert_eq!(q(0.0, single), (0, 0));
        assert_eq!(q(-0.0, single), (0, 0));
        // e = 30 is legal in both modes: frexp(2^29) = (0.5, 30).
        assert_eq!(q(p2(29), single), (1 << 30, 30));
    }
    // e > 30: double keeps it, single clamps to (2^31 − 1, 30).
    assert_eq!(q(p2(30), false), (1 << 30, 31));
    assert_eq!(q(p2(30), true), (i32::MAX, 30));
    assert_eq!(q(p2(31), false), (1 << 30, 32));
    assert_eq!(q(p2(31), true), (i32::MAX, 30));
    assert_eq!(q(3.0 * p2(40), false), (1610612736, 42));
    assert_eq!(q(3.0 * p2(40), true), (i32::MAX, 30));
    // The carry into e = 31: (1 − 2^−33)·2^30 has e = 30, carries to 31.
    assert_eq!(q((1.0 - p2(-33)) * p2(30), false), (1 << 30, 31));
    assert_eq!(q((1.0 - p2(-33)) * p2(30), true), (i32::MAX, 30));
}

proptest! {
    #![proptest_config(config())]

    /// QuantizeMultiplier against a reference that rounds with integers:
    /// real = ±mant·2^k with mant a 53-bit integer in [2^52, 2^53), so
    /// frexp gives q·2^31 = mant/2^22 exactly and the rounding is integer.
    #[test]
    fn quantize_multiplier_matches_integer_reference(
        mant in prop_oneof![
            3 => (1i64 << 52)..(1i64 << 53),
            // q just below 1: the 2^31 carry region.
            1 => ((1i64 << 53) - (1 << 23))..(1i64 << 53),
            // q at or just above 0.5.
            1 => (1i64 << 52)..((1i64 << 52) + (1 << 23)),
            // exact halves of the Q31 LSB: low 22 bits = 2^21.
            1 => ((1i64 << 30)..(1i64 << 31)).prop_map(|h| (h << 22) | (1 << 21)),
        ],
        k in prop_oneof![3 => -90i32..=-40, 3 => -40i32..=0, 1 => 0i32..=40],
        negative in prop::bool::weighted(0.1),
        single in any::<bool>(),
    ) {
        let sign = if negative { -1.0 } else { 1.0 };
        let real = sign * mant as f64 * p2(k - 53); // exact: a normal f64
        // frexp: real = (mant/2^53)·2^k, q = mant/2^53 in [0.5, 1), fe = k.
        let mut fe = k;
        let mut qf = reference::div_pow2_half_away(if negative { -mant } else { mant } as i128, 22);
        if qf == 1 << 31 {
            qf = 1 << 30;
            fe += 1;
        }
        let expected = if fe < -31 {
            (0, 0)
        } else if single && fe > 30 {
            (i32::MAX as i128, 30)
        } else {
            (qf, fe)
        };
        let (m0, e) = requant::quantize_multiplier(real, single);
        prop_assert_eq!((m0 as i128, e), expected, "real={:e}", real);
    }
}

// ---------------------------------------------------------------- narrow multipliers

#[test]
fn narrow_multiplier_edges() {
    let nm = requant::narrow_multiplier;
    // W = 32 is the identity.
    assert_eq!(nm(12345, -3, 32), (12345, -3));
    assert_eq!(nm(i32::MIN, 30, 32), (i32::MIN, 30));
    // W = 16 drops 16 bits: 2^30 → 2^14.
    assert_eq!(nm(1 << 30, -5, 16), (1 << 14, -5));
    // (2^31 − 1 + 2^15) >> 16 = 2^15 = 2^(W−1): carry to (2^14, e + 1).
    assert_eq!(nm(i32::MAX, -5, 16), (1 << 14, -4));
    // Exact half: (2^30 + 2^15)/2^16 = 2^14 + 0.5 → 2^14 + 1; just below → 2^14.
    assert_eq!(nm((1 << 30) + (1 << 15), 0, 16), ((1 << 14) + 1, 0));
    assert_eq!(nm((1 << 30) + (1 << 15) - 1, 0, 16), (1 << 14, 0));
    // Half away from zero for negative M0.
    assert_eq!(nm(-(1 << 30) - (1 << 15), 0, 16), (-(1 << 14) - 1, 0));
    assert_eq!(nm(-(1 << 30) - (1 << 15) + 1, 0, 16), (-(1 << 14), 0));
    // INT32_MIN/2^16 = −2^15 exactly, representable in 16 bits: no carry.
    assert_eq!(nm(i32::MIN, 0, 16), (-(1 << 15), 0));
    // W = 18 drops 14: (2^31 − 1 + 2^13) >> 14 = 2^17 → (2^16, e + 1).
    assert_eq!(nm(i32::MAX, 3, 18), (1 << 16, 4));
    // W = 24 drops 8: (2^31 − 128 + 128) >> 8 = 2^23 → carry; 2^31 − 129 → 2^23 − 1.
    assert_eq!(nm(i32::MAX - 127, 0, 24), (1 << 22, 1));
    assert_eq!(nm(i32::MAX - 128, 0, 24), ((1 << 23) - 1, 0));
    // A carry from e = 30 to 31 is clamped like single rounding: (2^(W−1) − 1, 30).
    assert_eq!(nm(i32::MAX, 30, 16), ((1 << 15) - 1, 30));
    assert_eq!(nm(i32::MAX, 29, 16), (1 << 14, 30));
}

// ---------------------------------------------------------------- activation bounds

#[test]
fn activation_bounds_none_relu_relu6() {
    let ab = requant::activation_bounds;
    // none: the type range.
    assert_eq!(ab(Activation::None, -128, 0.05, DType::Int8), (-128, 127));
    assert_eq!(ab(Activation::None, 3, 0.05, DType::Uint8), (0, 255));
    // relu: [max(qmin, zp), qmax].
    assert_eq!(ab(Activation::Relu, -128, 0.05, DType::Int8), (-128, 127));
    assert_eq!(ab(Activation::Relu, 10, 0.05, DType::Int8), (10, 127));
    assert_eq!(ab(Activation::Relu, 3, 0.05, DType::Uint8), (3, 255));
    // relu6: zp + round(6/S) in f32. 6/f32(0.05) = 120 → −128 + 120 = −8.
    assert_eq!(ab(Activation::Relu6, -128, 0.05, DType::Int8), (-128, -8));
    // 6/f32(6/255) = 255 → −128 + 255 = 127.
    assert_eq!(
        ab(Activation::Relu6, -128, 0.023_529_412, DType::Int8),
        (-128, 127)
    );
    // zp = 0: 0 + 255 clipped to qmax 127.
    assert_eq!(
        ab(Activation::Relu6, 0, 0.023_529_412, DType::Int8),
        (0, 127)
    );
    // uint8: 6/f32(0.03) = 200.
    assert_eq!(ab(Activation::Relu6, 0, 0.03, DType::Uint8), (0, 200));
    // 6/f32(0.1) = 60: [5, 65].
    assert_eq!(ab(Activation::Relu6, 5, 0.1, DType::Uint8), (5, 65));
}

// ---------------------------------------------------------------- fixtures

struct FixtureCase {
    path: std::path::PathBuf,
    input_scale: f64,
    filter_scales: Vec<f64>,
    output_scale: f64,
    multiplier: Vec<i64>,
    shift: Vec<i64>,
    rounding: String,
}

fn fixture_paths() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite");
    let mut v = Vec::new();
    for dir in [root.clone(), root.join("fc_float64")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") && !p.ends_with("index.json") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// The raw number text after `"key":` (a scalar or the items of an array),
/// parsed with the correctly rounded `str::parse::<f64>`.
fn raw_numbers(text: &str, key: &str) -> Vec<f64> {
    let at = text.find(&format!("\"{key}\"")).unwrap() + key.len() + 2;
    let rest = text[at..]
        .trim_start()
        .strip_prefix(':')
        .unwrap()
        .trim_start();
    let body = if let Some(r) = rest.strip_prefix('[') {
        &r[..r.find(']').unwrap()]
    } else {
        &rest[..rest.find([',', '}', '\n']).unwrap()]
    };
    body.split(',')
        .map(|s| s.trim().parse::<f64>().unwrap())
        .collect()
}

fn load_fixture(path: &std::path::Path) -> FixtureCase {
    let text = std::fs::read_to_string(path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let f = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{}: {k}", path.display()))
    };
    let ints = |k: &str| -> Vec<i64> {
        v[k].as_array()
            .unwrap_or_else(|| panic!("{}: {k}", path.display()))
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    let case = FixtureCase {
        path: path.to_path_buf(),
        input_scale: f("input_scale"),
        filter_scales: v["filter_scales"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect(),
        output_scale: f("output_scale"),
        multiplier: ints("multiplier"),
        shift: ints("shift"),
        rounding: v["rounding"].as_str().unwrap().to_string(),
    };
    // serde_json must read the scales exactly (its default float parser is
    // only "best effort"; the crate enables `float_roundtrip`).
    assert_eq!(vec![case.input_scale], raw_numbers(&text, "input_scale"));
    assert_eq!(vec![case.output_scale], raw_numbers(&text, "output_scale"));
    assert_eq!(case.filter_scales, raw_numbers(&text, "filter_scales"));
    case
}

/// `per_tensor_filter` of every case in tests/fixtures/tflite/index.json,
/// by file name relative to that directory.
fn per_tensor_index() -> std::collections::HashMap<String, bool> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite/index.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["file"].as_str().unwrap().to_string(),
                c["per_tensor_filter"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Every fixture's `multiplier` / `shift` from its scales.
///
/// Per-channel layers (all conv / depthwise cases and the per-channel FC
/// cases): TFLite's PopulateConvolutionQuantizationParams computes
/// M = double(S_x)·double(S_w[c]) / double(S_y), exactly docs/contract.md §3.
///
/// Per-tensor fully-connected layers (mlp_d_op0, mlp_d_op1,
/// fc_float64/edited_probe_fc_pt): TFLite's FC Prepare calls
/// GetQuantizedConvolutionMultipler, which forms the input product in
/// float32, M = double(f32(S_x·S_w)) / double(S_y). The f64 product of §3
/// does not reproduce those multipliers (e.g. edited_probe_fc_pt channel 0:
/// f64 product → (1900577712, −20), file and TFLite → (1900577664, −20)),
/// so they are checked with the float32 product, and the test also checks
/// that the two derivations really differ there.
#[test]
fn fixtures_multipliers_reproduced_by_quantize_multiplier() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite");
    let index = per_tensor_index();
    let paths = fixture_paths();
    assert!(
        paths.len() >= 23,
        "expected every fixture, found {}",
        paths.len()
    );
    let (mut channels, mut per_tensor_fc) = (0, 0);
    for p in &paths {
        let c = load_fixture(p);
        let name = p.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
        let per_tensor = *index
            .get(&name)
            .unwrap_or_else(|| panic!("{name} not in index.json"));
        let is_fc = name.contains("fully_connected");
        let oc = c.multiplier.len();
        assert_eq!(c.shift.len(), oc, "{}", c.path.display());
        assert!(c.filter_scales.len() == oc || c.filter_scales.len() == 1);
        let single = c.rounding == "single";
        let mut f64_product_differs = false;
        for ch in 0..oc {
            let sw = c.filter_scales[if c.filter_scales.len() == 1 { 0 } else { ch }];
            let real_f64 = c.input_scale * sw / c.output_scale;
            let real_f32 = ((c.input_scale as f32) * (sw as f32)) as f64 / c.output_scale;
            let real = if per_tensor && is_fc {
                real_f32
            } else {
                real_f64
            };
            let (m0, e) = requant::quantize_multiplier(real, single);
            assert_eq!(
                (m0 as i64, e as i64),
                (c.multiplier[ch], c.shift[ch]),
                "{} channel {ch}: M = {real:e}",
                c.path.display()
            );
            let (m0_64, e_64) = requant::quantize_multiplier(real_f64, single);
            f64_product_differs |= (m0_64 as i64, e_64 as i64) != (c.multiplier[ch], c.shift[ch]);
            channels += 1;
        }
        if per_tensor && is_fc {
            per_tensor_fc += 1;
            assert!(
                f64_product_differs,
                "{name}: the f64 product reproduces it too"
            );
        }
    }
    assert!(channels > 200);
    assert_eq!(per_tensor_fc, 3);
}

// ---------------------------------------------------------------- long dot products

#[test]
fn wrap_at_65794_taps_direct_and_folded_agree() {
    // uint8 full scale: (255 − 0)·(−128) = −32640 per tap; K·32640 > 2^31 from K = 65 794.
    for (k, ovf) in [(65_793usize, false), (65_794, true), (200_000, true)] {
        let taps = || std::iter::repeat_n((255, -128), k);
        let exact = -(k as i128) * 32640;
        let d = mac::dot(0, taps(), 0, 0);
        assert_eq!(d.acc as i128, reference::wrap32(exact), "K={k}");
        assert_eq!(d.overflow, ovf, "K={k}");
        let fb = mac::folded_bias(0, taps().map(|t| t.1), 0, 0);
        assert_eq!(mac::dot_folded(fb, taps(), 0), d.acc, "K={k}");
    }
    // int8 activations with zp_x = −128 and zp_w = 0 reach the same bound:
    // (127 + 128)·(−128) = −32640.
    let taps = || std::iter::repeat_n((127, -128), 65_794);
    let d = mac::dot(0, taps(), -128, 0);
    assert!(d.overflow);
    let fb = mac::folded_bias(0, taps().map(|t| t.1), -128, 0);
    assert_eq!(mac::dot_folded(fb, taps(), 0), d.acc);
}

// ---------------------------------------------------------------- strategy coverage

/// The edge weighting really produces the edges: draw [`CASES`] values from
/// the strategies above and count the interesting ones.
#[test]
fn strategies_hit_the_edges() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let n = CASES as usize;

    let triples = triple_strategy(32);
    let (mut single_ties, mut rdbp_ties, mut modes_differ, mut pairs, mut e_min, mut e_max) =
        (0, 0, 0, 0, 0, 0);
    for _ in 0..n {
        let (acc, m0, e) = triples.new_tree(&mut runner).unwrap().current();
        let p = acc as i128 * m0 as i128;
        let nn = (31 - e) as u32;
        if p.rem_euclid(1i128 << nn) == 1i128 << (nn - 1) {
            single_ties += 1;
        }
        if e < 0 {
            let t = reference::srdhm(acc as i128, m0 as i128, 32);
            let rs = (-e) as u32;
            if t.rem_euclid(1i128 << rs) == 1i128 << (rs - 1) {
                rdbp_ties += 1;
            }
        }
        if reference::double(acc, m0, e, 32) != reference::single(acc, m0, e, 32) {
            modes_differ += 1;
        }
        pairs += usize::from(acc == i32::MIN && m0 == i32::MIN);
        e_min += usize::from(e == -31);
        e_max += usize::from(e == 30);
    }
    assert!(
        single_ties > n / 20,
        "single-rounding ties: {single_ties}/{n}"
    );
    assert!(
        rdbp_ties > n / 40,
        "RoundingDivideByPOT ties: {rdbp_ties}/{n}"
    );
    assert!(modes_differ > n / 40, "double ≠ single: {modes_differ}/{n}");
    assert!(pairs >= 1, "INT32_MIN pairs: {pairs}/{n}");
    assert!(
        e_min > n / 100 && e_max > n / 100,
        "e = −31: {e_min}, e = 30: {e_max}"
    );

    let dots = dot_case_strategy();
    let (mut overflows, mut padded, mut zp_w_nonzero) = (0, 0, 0);
    for _ in 0..n {
        let c = dots.new_tree(&mut runner).unwrap().current();
        let mut s = c.bias as i64;
        let mut ovf = false;
        for &(x, w, p) in &c.window {
            if p {
                s += (x - c.zp_x) as i64 * (w - c.zp_w) as i64;
                ovf |= !(I32_MIN..=I32_MAX).contains(&s);
            }
        }
        overflows += usize::from(ovf);
        padded += usize::from(c.window.iter().any(|t| !t.2));
        zp_w_nonzero += usize::from(c.zp_w != 0);
    }
    assert!(
        overflows > n / 50,
        "overflowing dot products: {overflows}/{n}"
    );
    assert!(
        padded > n / 2,
        "dot products with padded taps: {padded}/{n}"
    );
    assert!(zp_w_nonzero > n / 4, "zp_w ≠ 0: {zp_w_nonzero}/{n}");
    eprintln!(
        "coverage over {n}: single ties {single_ties}, rdbp ties {rdbp_ties}, \
         double≠single {modes_differ}, INT32_MIN pairs {pairs}, e=−31 {e_min}, e=30 {e_max}; \
         dot overflow {overflows}, padded {padded}, zp_w≠0 {zp_w_nonzero}"
    );
}
