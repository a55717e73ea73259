//! Differential self-check of the golden requantization (`qmac::arith::requant`)
//! against an independent exact model written here with rational arithmetic
//! on i128 (a value is `numerator / 2^k`, rounded by exact floor division).
//! Nothing from the crate is used to compute an expected value.
//!
//! * double rounding: `t = floor((2·a·M0 + 2^(W−1)) / 2^W)` (round half up of
//!   `a·M0 / 2^(W−1)`, saturated to INT32_MAX for the one overflowing pair),
//!   `a = wrap32(acc · 2^max(e,0))`, then `t / 2^max(−e,0)` rounded half away
//!   from zero;
//! * single rounding: `n = (W−1) − e`, `floor((acc·M0 + 2^(n−1)) / 2^n)` for
//!   n ≥ 1, the exact `acc·M0·2^(−n)` for n ≤ 0;
//! * `Requant::apply`: `clamp(r + zp_out, act_min, act_max)` without wrap.
//!
//! Inputs: ~3 M ChaCha-seeded random tuples over the legal space (acc full
//! i32, M0 full W-bit signed and the normal range [2^(W−2), 2^(W−1)),
//! e in [−31, 30], W in {32, 24, 18, 16}, targeted exact ties), split over two
//! std threads, plus exhaustive corner grids (acc edges × M0 edges × every e ×
//! every W). The seed is printed; set `QMAC_GOLDEN_SEED` to replay another.

use std::fmt::Write as _;
use std::time::Instant;

use qmac::arith::requant::{multiply_double, multiply_single, rounding_divide_by_pot, srdhm};
use qmac::arith::requant::{DatapathRounding, Requant};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Fixed default seed (printed); `QMAC_GOLDEN_SEED` overrides it.
const DEFAULT_SEED: u64 = 0x6f6c_6465_6e51_4d41;
/// Multiplier widths checked.
const WIDTHS: [u32; 4] = [32, 24, 18, 16];
/// Random tuples per thread (two threads).
const RANDOM_PER_THREAD: u64 = 1_500_000;
const THREADS: u64 = 2;
/// Mismatches kept (per thread / grid) for the report.
const KEEP: usize = 20;

fn seed() -> u64 {
    let s = std::env::var("QMAC_GOLDEN_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("golden_selfcheck: seed {s} (set QMAC_GOLDEN_SEED={s} to replay)");
    s
}

/// The exact model. Values are rationals `num / 2^k` with `num` in i128.
mod exact {
    pub const I32_MIN: i128 = -(1i128 << 31);
    pub const I32_MAX: i128 = (1i128 << 31) - 1;

    pub fn pow2(k: u32) -> i128 {
        1i128 << k
    }

    /// `floor(num / 2^k)`, exact (Euclidean division by a positive divisor).
    pub fn floor(num: i128, k: u32) -> i128 {
        num.div_euclid(pow2(k))
    }

    /// `x mod 2^32`, re-centred to [−2^31, 2^31).
    pub fn wrap32(x: i128) -> i128 {
        let m = x.rem_euclid(pow2(32));
        if m > I32_MAX {
            m - pow2(32)
        } else {
            m
        }
    }

    /// Round half up of `a·b / 2^(w−1)`: `floor((2·a·b + 2^(w−1)) / 2^w)`,
    /// saturated above at INT32_MAX. Returns (value, saturated).
    pub fn srdhm(a: i128, b: i128, w: u32) -> (i128, bool) {
        let r = floor(2 * a * b + pow2(w - 1), w);
        assert!(
            r >= I32_MIN,
            "reference: SRDHM below INT32_MIN ({a}, {b}, {w})"
        );
        if r > I32_MAX {
            (I32_MAX, true)
        } else {
            (r, false)
        }
    }

    /// `x / 2^k` rounded half away from zero: `sign(x)·floor((2|x| + 2^k) / 2^(k+1))`.
    pub fn div_pot_half_away(x: i128, k: u32) -> i128 {
        if k == 0 {
            return x;
        }
        let q = floor(2 * x.abs() + pow2(k), k + 1);
        if x < 0 {
            -q
        } else {
            q
        }
    }

    /// Whether `num / 2^k` lies exactly halfway between two integers.
    pub fn is_half(num: i128, k: u32) -> bool {
        k >= 1 && num.rem_euclid(pow2(k)) == pow2(k - 1)
    }

    /// Facts about one double-rounding evaluation (for the tie counters).
    pub struct Double {
        pub value: i128,
        pub saturated: bool,
        pub first_tie: bool,
        pub second_tie: bool,
    }

    pub fn double(acc: i32, m0: i32, e: i32, w: u32) -> Double {
        let left = e.max(0) as u32;
        let right = (-e).max(0) as u32;
        let a = wrap32(acc as i128 * pow2(left));
        let (t, saturated) = srdhm(a, m0 as i128, w);
        Double {
            value: div_pot_half_away(t, right),
            saturated,
            first_tie: !saturated && is_half(a * m0 as i128, w - 1),
            second_tie: is_half(t, right),
        }
    }

    /// Single rounding; returns (value, tie).
    pub fn single(acc: i32, m0: i32, e: i32, w: u32) -> (i128, bool) {
        let n = (w as i32 - 1) - e;
        let p = acc as i128 * m0 as i128;
        if n >= 1 {
            let n = n as u32;
            (floor(p + pow2(n - 1), n), is_half(p, n))
        } else {
            (p * pow2((-n) as u32), false)
        }
    }

    /// `clamp(r + zp, lo, hi)` in i128 (no wrap), lo <= hi.
    pub fn clamp(r: i128, zp: i32, lo: i32, hi: i32) -> i128 {
        let v = r + zp as i128;
        if v < lo as i128 {
            lo as i128
        } else if v > hi as i128 {
            hi as i128
        } else {
            v
        }
    }
}

/// Counters and the first mismatches of one worker.
#[derive(Default)]
struct Tally {
    tuples: u64,
    comparisons: u64,
    saturations: u64,
    single_ties: [u64; 2],
    first_ties: [u64; 2],
    second_ties: [u64; 2],
    single_ne_double: u64,
    mismatches: u64,
    examples: Vec<String>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.tuples += o.tuples;
        self.comparisons += o.comparisons;
        self.saturations += o.saturations;
        for i in 0..2 {
            self.single_ties[i] += o.single_ties[i];
            self.first_ties[i] += o.first_ties[i];
            self.second_ties[i] += o.second_ties[i];
        }
        self.single_ne_double += o.single_ne_double;
        self.mismatches += o.mismatches;
        for e in o.examples {
            if self.examples.len() < KEEP {
                self.examples.push(e);
            }
        }
    }

    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.comparisons += 1;
        if !ok {
            self.mismatches += 1;
            if self.examples.len() < KEEP {
                self.examples.push(what());
            }
        }
    }
}

/// Output-stage parameters of one check.
#[derive(Clone, Copy)]
struct Stage {
    zp_out: i32,
    act_min: i32,
    act_max: i32,
}

/// Checks `multiply_double`, `multiply_single` and `Requant::apply` (both modes)
/// on one tuple; `stages` are the zero point / clamp settings applied.
fn check_tuple(t: &mut Tally, acc: i32, m0: i32, e: i32, w: u32, stages: &[Stage]) {
    t.tuples += 1;
    let d = exact::double(acc, m0, e, w);
    let (s, s_tie) = exact::single(acc, m0, e, w);
    let sign = usize::from(acc < 0);
    t.saturations += u64::from(d.saturated);
    t.first_ties[sign] += u64::from(d.first_tie);
    t.second_ties[sign] += u64::from(d.second_tie);
    t.single_ties[sign] += u64::from(s_tie);
    t.single_ne_double += u64::from(s != d.value);
    // Sanity of the model itself: saturation only for the documented pair.
    if d.saturated {
        let a = exact::wrap32(acc as i128 * exact::pow2(e.max(0) as u32));
        assert!(
            a == exact::I32_MIN && m0 as i128 == -exact::pow2(w - 1),
            "reference saturated outside INT32_MIN x -2^(W-1): acc={acc} m0={m0} e={e} W={w}"
        );
    }
    assert!(
        (i64::MIN as i128..=i64::MAX as i128).contains(&s),
        "reference single rounding outside i64 for a legal input: acc={acc} m0={m0} e={e} W={w}"
    );

    let got_d = multiply_double(acc, m0, e, w);
    t.expect(got_d as i128 == d.value, || {
        format!(
            "multiply_double(acc={acc}, m0={m0}, shift={e}, mult_w={w}) = {got_d}, exact {}",
            d.value
        )
    });
    let got_s = multiply_single(acc, m0, e, w);
    t.expect(got_s as i128 == s, || {
        format!("multiply_single(acc={acc}, m0={m0}, shift={e}, mult_w={w}) = {got_s}, exact {s}")
    });
    for st in stages {
        for (mode, r) in [
            (DatapathRounding::Double, d.value),
            (DatapathRounding::Single, s),
        ] {
            let rq = Requant {
                m0,
                shift: e,
                zp_out: st.zp_out,
                act_min: st.act_min,
                act_max: st.act_max,
                rounding: mode,
                mult_w: w,
            };
            let got = rq.apply(acc);
            let want = exact::clamp(r, st.zp_out, st.act_min, st.act_max);
            t.expect(got as i128 == want, || {
                format!("{rq:?}.apply({acc}) = {got}, exact {want}")
            });
        }
    }
}

/// Checks `srdhm(a, b, w)` and `rounding_divide_by_pot(x, k)` on their own.
fn check_primitives(t: &mut Tally, a: i32, b: i32, w: u32, x: i32, k: u32) {
    let (want, _) = exact::srdhm(a as i128, b as i128, w);
    let got = srdhm(a, b, w);
    t.expect(got as i128 == want, || {
        format!("srdhm(a={a}, b={b}, mult_w={w}) = {got}, exact {want}")
    });
    let want = exact::div_pot_half_away(x as i128, k);
    let got = rounding_divide_by_pot(x, k);
    t.expect(got as i128 == want, || {
        format!("rounding_divide_by_pot(x={x}, exponent={k}) = {got}, exact {want}")
    });
}

/// The legal multiplier range of width `w`: [−2^(w−1), 2^(w−1) − 1].
fn m0_bounds(w: u32) -> (i64, i64) {
    (-(1i64 << (w - 1)), (1i64 << (w - 1)) - 1)
}

fn m0_edges(w: u32) -> Vec<i32> {
    let h = 1i64 << (w - 2);
    let (lo, hi) = m0_bounds(w);
    let mut v: Vec<i64> = vec![
        0,
        1,
        -1,
        2,
        3,
        h - 1,
        h,
        h + 1,
        h + h / 2,
        hi - 1,
        hi,
        lo,
        lo + 1,
        -h,
        -h - 1,
    ];
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(|x| x as i32).collect()
}

fn acc_edges() -> Vec<i32> {
    let mut v: Vec<i64> = vec![0, i32::MIN as i64, i32::MAX as i64];
    for k in 0..=31u32 {
        let p = 1i64 << k;
        for x in [p - 1, p, p + 1, p + p / 2] {
            v.push(x);
            v.push(-x);
        }
    }
    v.retain(|&x| (i32::MIN as i64..=i32::MAX as i64).contains(&x));
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(|x| x as i32).collect()
}

/// Zero point / clamp settings: int8, uint8, inside-range, wide i32 bounds.
fn grid_stages() -> Vec<Stage> {
    vec![
        Stage {
            zp_out: 0,
            act_min: -128,
            act_max: 127,
        },
        Stage {
            zp_out: -128,
            act_min: -128,
            act_max: 127,
        },
        Stage {
            zp_out: 255,
            act_min: 0,
            act_max: 255,
        },
        Stage {
            zp_out: 3,
            act_min: 3,
            act_max: 50,
        },
        Stage {
            zp_out: i32::MAX,
            act_min: i32::MIN,
            act_max: i32::MAX,
        },
        Stage {
            zp_out: i32::MIN,
            act_min: i32::MIN,
            act_max: i32::MAX,
        },
    ]
}

fn random_stage(rng: &mut ChaCha8Rng) -> Stage {
    match rng.random_range(0..4) {
        0 => {
            let (lo, hi) = if rng.random_bool(0.5) {
                (-128, 127)
            } else {
                (0, 255)
            };
            Stage {
                zp_out: rng.random_range(lo..=hi),
                act_min: lo,
                act_max: hi,
            }
        }
        1 => {
            let a = rng.random_range(-256..=255);
            let b = rng.random_range(-256..=255);
            Stage {
                zp_out: rng.random_range(-256..=255),
                act_min: a.min(b),
                act_max: a.max(b),
            }
        }
        2 => {
            let a: i32 = rng.random();
            let b: i32 = rng.random();
            Stage {
                zp_out: rng.random(),
                act_min: a.min(b),
                act_max: a.max(b),
            }
        }
        _ => Stage {
            zp_out: [i32::MIN, i32::MAX, i32::MIN + 1, i32::MAX - 1][rng.random_range(0..4)],
            act_min: i32::MIN,
            act_max: i32::MAX,
        },
    }
}

fn random_acc(rng: &mut ChaCha8Rng) -> i32 {
    match rng.random_range(0..10) {
        0..=5 => rng.random(),
        6 => rng.random_range(-(1 << 16)..(1 << 16)),
        7 => i32::MAX - rng.random_range(0..(1 << 16)),
        8 => i32::MIN + rng.random_range(0..(1 << 16)),
        _ => {
            let k = rng.random_range(0..31);
            let s = if rng.random_bool(0.5) { 1 } else { -1 };
            s * (1i32 << k) + rng.random_range(-1..=1)
        }
    }
}

fn random_m0(rng: &mut ChaCha8Rng, w: u32) -> i32 {
    let (lo, hi) = m0_bounds(w);
    match rng.random_range(0..10) {
        // Full legal W-bit range (full i32 for W = 32).
        0..=4 => rng.random_range(lo..=hi) as i32,
        // The normal range [2^(W−2), 2^(W−1)).
        5..=8 => rng.random_range((1i64 << (w - 2))..(1i64 << (w - 1))) as i32,
        _ => {
            let e = m0_edges(w);
            e[rng.random_range(0..e.len())]
        }
    }
}

/// An accumulator that makes the rounding of (m0, e, w) an exact tie, when
/// one fits in i32: `acc·m0 = odd · 2^(k−1)` with `k` the rounding shift.
fn tie_acc(rng: &mut ChaCha8Rng, m0: i32, e: i32, w: u32, single: bool) -> Option<i32> {
    if m0 == 0 {
        return None;
    }
    let tz = m0.trailing_zeros() as i32;
    // Power of two the accumulator must carry.
    let s = if single {
        (w as i32 - 1) - e - 1 - tz
    } else {
        // First rounding of a = acc·2^max(e,0): a·m0 = odd·2^(W−2).
        (w as i32 - 2) - tz - e.max(0)
    };
    if !(0..=30).contains(&s) {
        return None;
    }
    let span = 1i64 << (31 - s);
    let v = rng.random_range(-span / 2..span / 2) * 2 + 1; // odd, |v·2^s| <= 2^31
    let acc = v << s;
    i32::try_from(acc).ok()
}

fn random_worker(seed: u64, stream: u64, n: u64) -> Tally {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut t = Tally::default();
    for _ in 0..n {
        let w = WIDTHS[rng.random_range(0..WIDTHS.len())];
        let e = rng.random_range(-31..=30);
        let m0 = random_m0(&mut rng, w);
        let acc = match rng.random_range(0..10) {
            0 => tie_acc(&mut rng, m0, e, w, true),
            1 => tie_acc(&mut rng, m0, e, w, false),
            _ => None,
        }
        .unwrap_or_else(|| random_acc(&mut rng));
        let stage = random_stage(&mut rng);
        check_tuple(&mut t, acc, m0, e, w, &[stage]);
        let a: i32 = if rng.random_bool(0.5) {
            rng.random()
        } else {
            random_acc(&mut rng)
        };
        let k = rng.random_range(0..=31);
        check_primitives(&mut t, a, m0, w, random_acc(&mut rng), k);
    }
    t
}

fn grid_worker(part: usize, parts: usize) -> Tally {
    let accs = acc_edges();
    let stages = grid_stages();
    let mut t = Tally::default();
    for (i, &acc) in accs.iter().enumerate() {
        if i % parts != part {
            continue;
        }
        for w in WIDTHS {
            for m0 in m0_edges(w) {
                for e in -31..=30 {
                    check_tuple(&mut t, acc, m0, e, w, &stages);
                }
                for k in 0..=31 {
                    check_primitives(&mut t, acc, m0, w, acc, k);
                }
            }
        }
    }
    t
}

fn report(name: &str, t: &Tally, secs: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{name}: {} tuples, {} comparisons in {secs:.2} s; {} mismatches",
        t.tuples, t.comparisons, t.mismatches
    );
    let _ = writeln!(
        s,
        "  exact ties hit (acc>0 / acc<0): single {:?}, SRDHM {:?}, RoundingDivideByPOT {:?}; \
         SRDHM saturations {}; double != single on {} tuples",
        t.single_ties, t.first_ties, t.second_ties, t.saturations, t.single_ne_double
    );
    for e in &t.examples {
        let _ = writeln!(s, "  MISMATCH {e}");
    }
    s
}

/// The exact model against hand-worked values (so it cannot agree vacuously).
#[test]
fn exact_model_known_values() {
    // SRDHM: ties up, saturation.
    assert_eq!(exact::srdhm(1 << 15, 1 << 15, 32), (1, false));
    assert_eq!(exact::srdhm(-(1 << 15), 1 << 15, 32), (0, false));
    assert_eq!(
        exact::srdhm(exact::I32_MIN, exact::I32_MIN, 32),
        (exact::I32_MAX, true)
    );
    // RoundingDivideByPOT: half away from zero.
    for (x, k, want) in [
        (3, 1, 2),
        (-3, 1, -2),
        (5, 2, 1),
        (-5, 2, -1),
        (6, 2, 2),
        (-6, 2, -2),
    ] {
        assert_eq!(exact::div_pot_half_away(x, k), want, "{x} / 2^{k}");
    }
    assert_eq!(exact::div_pot_half_away(exact::I32_MIN, 31), -1);
    // M = 1/4 (m0 = 2^30, e = -1): acc = 1 → double 1 (0.5 then 0.5 away), single 0 (0.25).
    assert_eq!(exact::double(1, 1 << 30, -1, 32).value, 1);
    assert_eq!(exact::single(1, 1 << 30, -1, 32), (0, false));
    // acc = -3, M = 1/2: SRDHM rounds the tie -1.5 up to -1; single agrees.
    assert_eq!(exact::double(-3, 1 << 30, 0, 32).value, -1);
    assert_eq!(exact::single(-3, 1 << 30, 0, 32), (-1, true));
    // acc = -6, M = 1/4: SRDHM -3 exactly, then -1.5 rounds away to -2;
    // single rounding gives floor(-1.5 + 0.5) = -1.
    assert_eq!(exact::double(-6, 1 << 30, -1, 32).value, -2);
    assert_eq!(exact::single(-6, 1 << 30, -1, 32), (-1, true));
    // A left shift wraps in 32 bits before the multiply (double only).
    assert_eq!(exact::double(1 << 30, 1 << 30, 2, 32).value, 0);
    assert_eq!(exact::single(1 << 30, 1 << 30, 2, 32).0, 1 << 31);
    // Narrow W: M = m0·2^(e−(W−1)); W = 16, m0 = 2^14, e = 30 → acc·2^29 exactly.
    assert_eq!(exact::single(3, 1 << 14, 30, 16), (3 << 29, false));
    assert_eq!(
        exact::clamp(i32::MAX as i128, i32::MAX, i32::MIN, i32::MAX),
        i32::MAX as i128
    );
    assert_eq!(exact::clamp(-200, 100, -128, 127), -100);
}

#[test]
fn golden_requant_matches_exact_model() {
    let seed = seed();
    let start = Instant::now();

    let handles: Vec<_> = (0..THREADS)
        .map(|i| std::thread::spawn(move || random_worker(seed, i, RANDOM_PER_THREAD)))
        .collect();
    let mut random = Tally::default();
    for h in handles {
        random.merge(h.join().expect("random worker"));
    }
    let t_random = start.elapsed().as_secs_f64();

    let start_grid = Instant::now();
    let parts = THREADS as usize;
    let handles: Vec<_> = (0..parts)
        .map(|p| std::thread::spawn(move || grid_worker(p, parts)))
        .collect();
    let mut grid = Tally::default();
    for h in handles {
        grid.merge(h.join().expect("grid worker"));
    }
    let t_grid = start_grid.elapsed().as_secs_f64();

    let mut text = report("random (legal space)", &random, t_random);
    text += &report(
        &format!(
            "corner grid ({} acc × M0 edges × e in [-31, 30] × W {:?})",
            acc_edges().len(),
            WIDTHS
        ),
        &grid,
        t_grid,
    );
    eprint!("{text}");
    eprintln!(
        "golden_selfcheck: {} tuples / {} comparisons checked in total",
        random.tuples + grid.tuples,
        random.comparisons + grid.comparisons
    );

    // The generators must reach what they aim at.
    for (what, n) in [
        ("single-rounding ties, acc > 0", random.single_ties[0]),
        ("single-rounding ties, acc < 0", random.single_ties[1]),
        ("SRDHM ties, acc > 0", random.first_ties[0]),
        ("SRDHM ties, acc < 0", random.first_ties[1]),
        ("RoundingDivideByPOT ties, acc > 0", random.second_ties[0]),
        ("RoundingDivideByPOT ties, acc < 0", random.second_ties[1]),
        ("SRDHM saturations (grid)", grid.saturations),
    ] {
        assert!(n > 0, "no {what} were generated");
    }
    assert!(random.tuples + grid.tuples >= 3_000_000);
    assert_eq!(
        random.mismatches + grid.mismatches,
        0,
        "golden requantization differs from the exact model (seed {seed}):\n{text}"
    );
}
