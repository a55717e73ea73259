//! Regression suites on the Verilated RTL and their parallel runner.
//!
//! * `smoke`: a handful of directed dot products and a stall-free throughput
//!   run that must reach exactly one beat per cycle;
//! * `corners`: directed corners of docs/contract.md (rounding ties of both
//!   signs, double vs single, shift extremes, SRDHM saturation, accumulator
//!   wrap incl. a 65 794-tap reduction, operand extremes, clamps, mode
//!   switches and reloads), each with and without random backpressure;
//! * `random`: long constrained-random runs with random backpressure and
//!   parameter reloads;
//! * `layers`: the real TFLite layer cases (embedded in the binary);
//! * `models`: the three whole int8 TFLite models with both sample inputs
//!   (embedded), conv/dw/FC, TRANSPOSE_CONV and MUL on the RTL, every tensor compared with TFLite's;
//! * `all`: every suite.
//!
//! A test's stimulus and its DUT's X-initialisation derive from (seed, test
//! name) only, so results do not depend on `--jobs`.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rand::RngExt;

use crate::arith::requant::DatapathRounding;
use crate::arith::DType;
use crate::cosim::dut::Dut;
use crate::cosim::scoreboard::RunStats;
use crate::cosim::transaction::{Backpressure, Item, Params};
use crate::cosim::{self, RunOptions};
use crate::formats::qcase::Case;
pub use crate::verify::report::RunMeta;
use crate::verify::stimulus::{
    bias_near_wrap, clamp_corner, dot_with_targets, full_scale_reduction, items, m0_normal,
    mode_switch_params, mostly_reset_values, one_register_steps, random_dot, random_params,
    random_stream, rng_for, seed_for, srdhm_saturation, tie_target, SrdhmOperand,
};

/// The real layer cases compiled into the binary (tests/fixtures/tflite).
pub const LAYER_CASES: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/layer_cases.rs"));

/// The whole-model fixtures compiled into the binary (tests/fixtures/models):
/// (name, .tflite, [(input .npy, expected output .npy, reference tensors .npz)]).
#[allow(clippy::type_complexity)]
pub const MODEL_FIXTURES: &[(&str, &[u8], &[(&[u8], &[u8], &[u8])])] =
    &include!(concat!(env!("OUT_DIR"), "/model_fixtures.rs"));

/// One input of a whole model with TFLite's tensors.
pub struct ModelTest {
    pub plan: crate::model::Plan,
    /// One array per model input.
    pub inputs: Vec<crate::formats::npy::Int8Array>,
    /// The expected output: int8, or float32 for a DEQUANTIZE output.
    pub expect: crate::model::Expected,
    pub tensors: crate::formats::npy::NpzTensors,
}

impl ModelTest {
    /// The golden model alone (no DUT).
    pub fn golden_run(&self) -> Result<crate::model::ModelRun> {
        let unused = RunOptions {
            seed: 1,
            backpressure: Backpressure::NONE,
            replay: String::new(),
            stop_on_failure: false,
            coverage: false,
        };
        self.run(None, &unused)
    }

    /// Run on `dut` (the MAC ops) and the golden kernels (the others).
    pub fn run(&self, dut: Option<&mut Dut>, opt: &RunOptions) -> Result<crate::model::ModelRun> {
        let mopt = crate::model::ModelRunOptions {
            reference: Some((std::path::Path::new("tensors.npz"), &self.tensors.0)),
            expect: self.expect.int8(),
            reference_f32: Some(&self.tensors.1),
            expect_f32: self.expect.float32(),
            on_op: &|_| {},
            keep_cases: false,
        };
        let mut golden = crate::model::GoldenEngine;
        let mut rtl;
        let engine: &mut dyn crate::model::MacEngine = match dut {
            Some(dut) => {
                rtl = crate::model::RtlEngine {
                    duts: std::slice::from_mut(dut),
                    cosim: opt.clone(),
                    both: false,
                    progress: None,
                };
                &mut rtl
            }
            None => &mut golden,
        };
        crate::model::run(
            &self.plan,
            std::path::Path::new("input.npy"),
            &self.inputs,
            engine,
            &mopt,
        )
    }
}

/// What a test runs.
pub enum Body {
    Stimulus(Vec<Item>),
    Layer(Box<Case>),
    Model(Box<ModelTest>),
}

/// One named test.
pub struct Test {
    pub suite: &'static str,
    pub name: String,
    pub body: Body,
    pub backpressure: Backpressure,
    /// The run must reach at least this many beats per cycle.
    pub min_beats_per_cycle: Option<f64>,
}

/// Result of one test.
pub struct Outcome {
    pub suite: &'static str,
    pub name: String,
    pub stats: RunStats,
    /// Failures beyond the per-cycle checks (layer output, throughput).
    pub extra_failures: Vec<String>,
    pub wall: Duration,
    pub wave: Option<std::path::PathBuf>,
    /// The command that replays this test alone.
    pub replay: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.stats.passed() && self.extra_failures.is_empty()
    }
    pub fn messages(&self) -> Vec<String> {
        let mut m: Vec<String> = self
            .stats
            .failures
            .iter()
            .map(|f| f.message.clone())
            .collect();
        if self.stats.failure_count > self.stats.failures.len() as u64 {
            m.push(format!("… {} failures in all", self.stats.failure_count));
        }
        m.extend(self.extra_failures.iter().cloned());
        m
    }
}

pub const SUITES: &[&str] = &["smoke", "corners", "random", "layers", "models"];

/// The tests of `suite` (or of every suite for `all`).
pub fn tests(
    suite: &str,
    lanes: usize,
    mult_w: u32,
    seed: u64,
    random_tests: usize,
) -> Result<Vec<Test>> {
    Ok(match suite {
        "smoke" => smoke(lanes, mult_w, seed),
        "corners" => corners(lanes, mult_w, seed),
        "random" => random(lanes, mult_w, seed, random_tests),
        "layers" => layers()?,
        "models" => models()?,
        "all" => {
            let mut v = Vec::new();
            for s in SUITES {
                v.extend(tests(s, lanes, mult_w, seed, random_tests)?);
            }
            v
        }
        other => bail!(crate::error::InputError::new(
            "--suite",
            "value",
            format!("unknown suite `{other}` (smoke, corners, random, layers, models, all)")
        )),
    })
}

/// `*` (any run) and `?` (one character) glob matching.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Edit distance (for "did you mean" suggestions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The tests a `--test` pattern selects, by its name or `suite/name`: a
/// pattern with `*` or `?` is a glob; otherwise an exact name, or, when no
/// name is exactly it, every name containing it. With several patterns, a
/// test selected by any. A pattern that selects nothing is an error naming
/// the closest test names.
pub fn select(tests: Vec<Test>, patterns: &[String]) -> Result<Vec<Test>, String> {
    if patterns.is_empty() {
        return Ok(tests);
    }
    let full = |t: &Test| format!("{}/{}", t.suite, t.name);
    let mut keep = vec![false; tests.len()];
    for pat in patterns {
        let hits: Vec<usize> = if pat.contains(['*', '?']) {
            (0..tests.len())
                .filter(|&i| glob_match(pat, &tests[i].name) || glob_match(pat, &full(&tests[i])))
                .collect()
        } else {
            let exact: Vec<usize> = (0..tests.len())
                .filter(|&i| tests[i].name == *pat || full(&tests[i]) == *pat)
                .collect();
            if exact.is_empty() {
                (0..tests.len())
                    .filter(|&i| full(&tests[i]).contains(pat.as_str()))
                    .collect()
            } else {
                exact
            }
        };
        if hits.is_empty() {
            let mut near: Vec<(usize, String)> = tests
                .iter()
                .map(|t| (distance(pat, &t.name).min(distance(pat, &full(t))), full(t)))
                .collect();
            near.sort();
            let near: Vec<String> = near.into_iter().take(3).map(|(_, n)| n).collect();
            return Err(format!(
                "no test matches `{pat}`{}",
                if near.is_empty() {
                    String::new()
                } else {
                    format!("; closest: {}", near.join(", "))
                }
            ));
        }
        for i in hits {
            keep[i] = true;
        }
    }
    Ok(tests
        .into_iter()
        .zip(keep)
        .filter_map(|(t, k)| k.then_some(t))
        .collect())
}

fn base_params(lanes: usize, mult_w: u32, rounding: DatapathRounding) -> Params {
    let lane = cosim::transaction::LaneParams {
        bias: 0,
        m0: 1 << (mult_w - 2),
        shift: -1,
    };
    Params::int8(rounding, vec![lane; lanes])
}

fn stim(suite: &'static str, name: String, items: Vec<Item>, bp: Backpressure) -> Test {
    Test {
        suite,
        name,
        body: Body::Stimulus(items),
        backpressure: bp,
        min_beats_per_cycle: None,
    }
}

fn smoke(lanes: usize, mult_w: u32, seed: u64) -> Vec<Test> {
    let mut v = Vec::new();
    for rounding in [DatapathRounding::Double, DatapathRounding::Single] {
        let name = format!("directed_{}", rounding.name());
        let mut rng = rng_for(seed, &name);
        let p = base_params(lanes, mult_w, rounding);
        let mut pairs = Vec::new();
        for (i, k) in [1usize, 2, 3, 9, 27, 64].into_iter().enumerate() {
            let targets: Vec<i32> = (0..lanes).map(|_| rng.random_range(-300..300)).collect();
            pairs.push(dot_with_targets(&mut rng, &p, k, &targets, i as u64));
        }
        v.push(stim("smoke", name, items(pairs), Backpressure::NONE));
    }
    // Throughput: one parameter load, then back-to-back dot products.
    let name = "throughput".to_string();
    let mut rng = rng_for(seed, &name);
    let p = std::sync::Arc::new(random_params(&mut rng, lanes, mult_w));
    let mut it = vec![Item::Params(p.clone())];
    for i in 0..4000 {
        let k = [1, 2, 5, 9][i % 4];
        it.push(Item::Dot(std::sync::Arc::new(random_dot(
            &mut rng, &p, k, i as u64,
        ))));
    }
    v.push(Test {
        suite: "smoke",
        name,
        body: Body::Stimulus(it),
        backpressure: Backpressure::NONE,
        min_beats_per_cycle: Some(1.0),
    });
    v
}

fn corners(lanes: usize, mult_w: u32, seed: u64) -> Vec<Test> {
    type Gen =
        fn(&mut rand_chacha::ChaCha8Rng, usize, u32) -> Vec<(Params, cosim::transaction::DotJob)>;
    let gens: Vec<(&str, Gen)> = vec![
        ("ties", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            for i in 0..120u64 {
                let rounding = if i % 2 == 0 {
                    DatapathRounding::Double
                } else {
                    DatapathRounding::Single
                };
                let mut p = base_params(lanes, mult_w, rounding);
                if i % 3 == 0 {
                    p.input_dtype = DType::Uint8;
                    p.zp_x = 128;
                }
                for lp in p.lanes.iter_mut() {
                    lp.m0 = 1 << (mult_w - 2);
                    lp.shift = rng.random_range(-8..=-1);
                }
                let targets: Vec<i32> =
                    p.lanes.iter().map(|lp| tie_target(rng, lp.shift)).collect();
                let k = rng.random_range(1..6);
                out.push(dot_with_targets(rng, &p, k, &targets, i));
            }
            out
        }),
        ("double_vs_single", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            for i in 0..200u64 {
                let rounding = if (i / 2) % 2 == 0 {
                    DatapathRounding::Double
                } else {
                    DatapathRounding::Single
                };
                let mut p = base_params(lanes, mult_w, rounding);
                for lp in p.lanes.iter_mut() {
                    lp.m0 = m0_normal(rng, mult_w);
                    lp.shift = rng.random_range(-6..=-1);
                }
                let targets: Vec<i32> = (0..lanes).map(|_| rng.random_range(-5000..5000)).collect();
                let k = rng.random_range(1..4);
                out.push(dot_with_targets(rng, &p, k, &targets, i));
            }
            out
        }),
        ("shift_extremes", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            let shifts = [-31, -30, -17, -1, 0, 1, 2, 15, 29, 30];
            for i in 0..160u64 {
                let rounding = if i % 2 == 0 {
                    DatapathRounding::Double
                } else {
                    DatapathRounding::Single
                };
                let mut p = base_params(lanes, mult_w, rounding);
                for lp in p.lanes.iter_mut() {
                    lp.shift = shifts[rng.random_range(0..shifts.len())];
                    lp.m0 = match rng.random_range(0..3) {
                        0 => 1 << (mult_w - 2),
                        1 => ((1i64 << (mult_w - 1)) - 1) as i32,
                        _ => m0_normal(rng, mult_w),
                    };
                }
                let targets: Vec<i32> = (0..lanes)
                    .map(|_| match rng.random_range(0..4) {
                        0 => rng.random(),
                        1 => rng.random_range(-4..4),
                        _ => rng.random_range(-1 << 20..1 << 20),
                    })
                    .collect();
                let k = rng.random_range(1..4);
                out.push(dot_with_targets(rng, &p, k, &targets, i));
            }
            out
        }),
        ("srdhm_saturation", |rng, lanes, mult_w| {
            // a = M0 = INT32_MIN (the one SRDHM overflow), directly and via a wrapping left shift.
            let mut out = Vec::new();
            for i in 0..24u64 {
                let rounding = if i % 4 == 3 {
                    DatapathRounding::Single
                } else {
                    DatapathRounding::Double
                };
                let mut p = base_params(lanes, mult_w, rounding);
                let operand = [
                    SrdhmOperand::Min,
                    SrdhmOperand::ViaShift,
                    SrdhmOperand::Small,
                ][i as usize % 3];
                let t = srdhm_saturation(rng, &mut p, mult_w, operand);
                let targets = vec![t; lanes];
                out.push(dot_with_targets(rng, &p, 1, &targets, i));
            }
            out
        }),
        ("accumulator_extremes", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            for i in 0..100u64 {
                let mut p = random_params(rng, lanes, mult_w);
                bias_near_wrap(rng, &mut p);
                let k = rng.random_range(1..8);
                out.push({
                    let j = random_dot(rng, &p, k, i);
                    (p, j)
                });
            }
            out
        }),
        ("operand_extremes", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            let cfgs = [
                (DType::Uint8, 0),
                (DType::Uint8, 255),
                (DType::Int8, -128),
                (DType::Int8, 127),
            ];
            for i in 0..64u64 {
                let mut p = random_params(rng, lanes, mult_w);
                let (dt, zp) = cfgs[i as usize % 4];
                p.input_dtype = dt;
                p.zp_x = zp;
                p.zp_w = [0, -128, 127, 0][(i as usize / 4) % 4];
                let k = rng.random_range(1..20);
                let mut j = random_dot(rng, &p, k, i);
                let (xlo, xhi) = dt.range();
                let far = if zp == xlo { xhi } else { xlo };
                j.map_x(lanes, |_| far as u8);
                for w in j.w.iter_mut() {
                    *w = if rng.random_bool(0.7) { 0x80 } else { 0x7f };
                }
                out.push((p, j));
            }
            out
        }),
        ("clamps", |rng, lanes, mult_w| {
            let mut out = Vec::new();
            for i in 0..120u64 {
                let mut p = random_params(rng, lanes, mult_w);
                clamp_corner(rng, &mut p, i);
                let targets: Vec<i32> = (0..lanes)
                    .map(|_| rng.random_range(-1 << 24..1 << 24))
                    .collect();
                let k = rng.random_range(1..6);
                out.push(dot_with_targets(rng, &p, k, &targets, i));
            }
            out
        }),
        ("mode_switches", |rng, lanes, mult_w| {
            // Rounding mode and activation signedness change between consecutive dot products.
            let mut out = Vec::new();
            for i in 0..120u64 {
                let mut p = mode_switch_params(rng, lanes, mult_w, i);
                for lp in p.lanes.iter_mut() {
                    lp.shift = rng.random_range(-6..=-1);
                }
                let targets: Vec<i32> = (0..lanes).map(|_| rng.random_range(-3000..3000)).collect();
                let k = rng.random_range(1..10);
                out.push(dot_with_targets(rng, &p, k, &targets, i));
            }
            out
        }),
    ];
    let mut v = Vec::new();
    for (name, g) in gens {
        for (suffix, bp) in [("nobp", Backpressure::NONE), ("bp", Backpressure::RANDOM)] {
            let full = format!("{name}/{suffix}");
            let mut rng = rng_for(seed, name);
            v.push(stim("corners", full, items(g(&mut rng, lanes, mult_w)), bp));
        }
    }
    // A full-scale reduction long enough to wrap the accumulator: K = 65 794
    // taps of (255 − 0)·(−128) (uint8, zp_x = 0), and one tap fewer, which does not.
    for (name, k) in [
        ("long_wrap_65794", 65_794usize),
        ("long_nowrap_65793", 65_793),
    ] {
        let mut p = base_params(lanes, mult_w, DatapathRounding::Double);
        p.lanes.iter_mut().for_each(|lp| lp.shift = -20);
        let j = full_scale_reduction(&mut p, true, k, lanes);
        v.push(stim(
            "corners",
            name.to_string(),
            items(vec![(p, j)]),
            Backpressure::NONE,
        ));
    }
    // Heavy stalls: most cycles stalled, long stalls, on every beat position.
    let name = "heavy_stalls".to_string();
    let mut rng = rng_for(seed, &name);
    let mut pairs = Vec::new();
    for i in 0..150u64 {
        let p = random_params(&mut rng, lanes, mult_w);
        let k = rng.random_range(1..5);
        pairs.push({
            let j = random_dot(&mut rng, &p, k, i);
            (p, j)
        });
    }
    let heavy = Backpressure {
        in_gap: 0.7,
        out_stall: 0.8,
        long_stall: 0.01,
        ready_after_valid: false,
        host: cosim::transaction::HostModel::EAGER,
    };
    v.push(stim("corners", name, items(pairs), heavy));
    // A lazy consumer (out_ready only while out_valid): input beats must still
    // be taken while no output is held.
    let name = "lazy_consumer".to_string();
    let mut rng = rng_for(seed, &name);
    let mut pairs = Vec::new();
    for i in 0..150u64 {
        let p = random_params(&mut rng, lanes, mult_w);
        let k = rng.random_range(1..9);
        pairs.push({
            let j = random_dot(&mut rng, &p, k, i);
            (p, j)
        });
    }
    v.push(stim(
        "corners",
        name,
        items(pairs),
        Backpressure::LAZY_CONSUMER,
    ));
    // The cfg port as the contract allows it to be used: one register
    // changed per dot product and written alone right before its first beat
    // (or with it), writes in any order, right behind a dot product, while an
    // output is held, unmapped addresses, resets in the middle of traffic.
    let protocol = Backpressure {
        in_gap: 0.1,
        out_stall: 0.3,
        long_stall: 0.0,
        ready_after_valid: false,
        host: cosim::transaction::HostModel::EAGER,
    };
    let name = "cfg_one_register".to_string();
    let mut rng = rng_for(seed, &name);
    let pairs = one_register_steps(&mut rng, lanes, mult_w, 400);
    v.push(stim("corners", name, items(pairs), protocol));
    // Resets between loads, then loads that write only what differs from
    // the reset values: dot products that rely on them.
    let name = "reset_values".to_string();
    let mut rng = rng_for(seed, &name);
    let pairs: Vec<_> = (0..150u64)
        .map(|i| {
            let p = mostly_reset_values(&mut rng, lanes, mult_w);
            let k = rng.random_range(1..5);
            {
                let j = random_dot(&mut rng, &p, k, i);
                (p, j)
            }
        })
        .collect();
    let resets = Backpressure {
        host: cosim::transaction::HostModel {
            delta_load: 1.0,
            reset: 0.6,
            ..cosim::transaction::HostModel::EAGER
        },
        ..protocol
    };
    v.push(stim("corners", name, items(pairs), resets));
    v
}

fn random(lanes: usize, mult_w: u32, seed: u64, count: usize) -> Vec<Test> {
    (0..count)
        .map(|t| {
            let name = format!("random_{t:03}");
            let mut rng = rng_for(seed, &name);
            let items = random_stream(&mut rng, lanes, mult_w, RANDOM_DOTS);
            let bp = if t % 4 == 0 {
                Backpressure::NONE
            } else {
                Backpressure::RANDOM
            };
            stim("random", name, items, bp)
        })
        .collect()
}

/// Dot products per test of the random suite.
pub const RANDOM_DOTS: usize = 4000;

fn layers() -> Result<Vec<Test>> {
    let mut v = Vec::new();
    for (name, json) in LAYER_CASES {
        let case = Case::from_json_str(std::path::Path::new(name), json)?;
        v.push(Test {
            suite: "layers",
            name: name.trim_end_matches(".json").to_string(),
            body: Body::Layer(Box::new(case)),
            backpressure: Backpressure::RANDOM,
            min_beats_per_cycle: None,
        });
    }
    Ok(v)
}

fn models() -> Result<Vec<Test>> {
    use std::path::PathBuf;
    let mut v = Vec::new();
    for (name, tflite, samples) in MODEL_FIXTURES {
        let model =
            crate::formats::tflite::Model::parse(&PathBuf::from(format!("{name}.tflite")), tflite)?;
        let plan = crate::model::Plan::new(&model)?;
        for (k, (input, output, tensors)) in samples.iter().enumerate() {
            let label = |f: &str| PathBuf::from(format!("{name}.{f}{k}"));
            let tensors = crate::formats::npy::parse_npz_tensors(&label("tensors"), tensors)?;
            crate::model::check_reference_tensors(&plan, &label("tensors"), &tensors)?;
            v.push(Test {
                suite: "models",
                name: format!("{name}.input{k}"),
                body: Body::Model(Box::new(ModelTest {
                    plan: plan.clone(),
                    inputs: crate::model::parse_inputs(&plan, &label("input"), input)?,
                    expect: crate::model::Expected::parse(&plan, &label("output"), output)?,
                    tensors,
                })),
                backpressure: Backpressure::RANDOM,
                min_beats_per_cycle: None,
            });
        }
    }
    Ok(v)
}

/// How to run tests.
pub struct RunConfig {
    pub lanes: usize,
    pub seed: u64,
    pub jobs: usize,
    pub wave_on_fail: Option<std::path::PathBuf>,
    /// Write the waveform of every test into `wave_on_fail`, not only of failing ones.
    pub waves_always: bool,
    /// The replay command of a test (given its name).
    pub replay: Box<dyn Fn(&Test) -> String + Sync>,
}

fn run_one(t: &Test, cfg: &RunConfig, dut: &mut Dut) -> Result<Outcome> {
    let start = Instant::now();
    let opt = RunOptions {
        seed: seed_for(cfg.seed, &t.name),
        backpressure: t.backpressure,
        replay: (cfg.replay)(t),
        stop_on_failure: true,
        coverage: true,
    };
    let mut extra = Vec::new();
    let stats = match &t.body {
        Body::Stimulus(items) => cosim::run(dut, items.iter(), &opt, |_, _, _| {}),
        Body::Layer(case) => {
            let mut r = crate::cosim::lowering::run_layer(case, dut, &opt)?;
            // Channels whose multiplier came from QuantizeMultiplier's 2^31 carry.
            for c in 0..case.out_channels() {
                if case
                    .real_multiplier(c)
                    .is_some_and(crate::arith::requant::takes_carry)
                {
                    r.stats.coverage.hit(crate::cosim::coverage::Bin::M0Carry);
                }
            }
            // The one layer verdict `qmac layer` uses: RTL = golden integer
            // (outputs and accumulators), the case's reference met.
            let golden = crate::golden::layer::run(case)?;
            let v =
                crate::verdict::layer(case, &golden, Some(&r), crate::cosim::dut::built_mult_w())?;
            if let Some(rv) = v.rtl.as_ref().filter(|rv| !rv.passed()) {
                if rv.outputs.mismatches + rv.accs.mismatches > 0 {
                    extra.push(format!(
                        "{} layer outputs and {} accumulators differ from the golden model; replay: {}",
                        rv.outputs.mismatches, rv.accs.mismatches, opt.replay
                    ));
                }
            }
            if !v
                .reference
                .as_ref()
                .is_none_or(crate::verdict::ReferenceVerdict::passed)
            {
                extra.push(format!(
                    "the golden model does not reproduce the case's reference output (see `qmac layer {}`); replay: {}",
                    case.path.display(),
                    opt.replay
                ));
            }
            if let Some(d) = v.rtl_vs_reference.filter(|d| d.mismatches > 0) {
                extra.push(format!(
                    "{} layer outputs differ from the case's TFLite output; replay: {}",
                    d.mismatches, opt.replay
                ));
            }
            r.stats
        }
        Body::Model(m) => {
            let run = m.run(Some(dut), &opt)?;
            if !run.passed() {
                let first = run.first_divergence().map_or_else(String::new, |o| {
                    format!(" (first diverging op {} {})", o.index, o.name)
                });
                extra.push(format!(
                    "the model run differs from TFLite{first}; replay: {}",
                    opt.replay
                ));
                extra.extend(run.failure_messages.iter().take(5).cloned());
            }
            run.rtl_stats
        }
    };
    if let Some(min) = t.min_beats_per_cycle {
        if stats.passed() && stats.beats_per_cycle() < min {
            extra.push(format!(
                "throughput {:.4} beats/cycle < {min} on a stall-free run; replay: {}",
                stats.beats_per_cycle(),
                opt.replay
            ));
        }
    }
    let mut wave = None;
    if cfg.waves_always || !(stats.passed() && extra.is_empty()) {
        if let Some(dir) = &cfg.wave_on_fail {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{}.fst", t.name.replace('/', "_")));
            let mut wdut = Dut::new(cfg.lanes, opt.seed, true)?;
            wdut.trace_open(&path)?;
            match &t.body {
                Body::Stimulus(items) => {
                    cosim::run(&mut wdut, items.iter(), &opt, |_, _, _| {});
                }
                Body::Layer(case) => {
                    crate::cosim::lowering::run_layer(case, &mut wdut, &opt)?;
                }
                Body::Model(m) => {
                    m.run(Some(&mut wdut), &opt)?;
                }
            }
            wdut.trace_close();
            wave = Some(path);
        }
    }
    Ok(Outcome {
        suite: t.suite,
        name: t.name.clone(),
        stats,
        extra_failures: extra,
        wall: start.elapsed(),
        wave,
        replay: opt.replay,
    })
}

/// Run `tests` on `cfg.jobs` parallel DUTs; outcomes in test order.
pub fn run_tests(
    tests: &[Test],
    cfg: &RunConfig,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<Outcome>> {
    let never = std::sync::atomic::AtomicBool::new(false);
    crate::verify::pool::run_indexed(
        tests.len() as u64,
        cfg.jobs,
        &never,
        |_: &mut Option<()>, i| {
            // A fresh DUT per test: its X-initialisation derives from the test's name.
            let t = &tests[i as usize];
            let r = Dut::new(cfg.lanes, seed_for(cfg.seed, &t.name), false)
                .and_then(|mut dut| run_one(t, cfg, &mut dut));
            progress.inc(1);
            Some(r)
        },
    )
    .into_iter()
    .map(|(_, r)| r)
    .collect()
}

/// JUnit XML of the outcomes, one testsuite per suite
/// ([`crate::verify::report::junit_xml`]): each test's replay command (and
/// waveform, if one was written) in the suite's system-out and in its
/// failure text, the failure's type the check that fired.
pub fn junit(outcomes: &[Outcome], meta: &RunMeta) -> String {
    use crate::verify::report::{JunitCase, JunitSuite};
    let mut suites: Vec<JunitSuite> = Vec::new();
    for o in outcomes {
        if !suites.iter().any(|s| s.name == o.suite) {
            suites.push(JunitSuite {
                name: o.suite.to_string(),
                cases: Vec::new(),
                system_out: String::new(),
            });
        }
        let s = suites
            .iter_mut()
            .find(|s| s.name == o.suite)
            .expect("pushed");
        s.system_out += &format!("{}: replay: {}\n", o.name, o.replay);
        if let Some(w) = &o.wave {
            s.system_out += &format!("{}: waveform: {}\n", o.name, w.display());
        }
        let failure = (!o.passed()).then(|| {
            let msgs = o.messages();
            let mut text = msgs.join("\n");
            text += &format!("\nreplay: {}", o.replay);
            if let Some(w) = &o.wave {
                text += &format!("\nwaveform: {}", w.display());
            }
            let check = msgs
                .iter()
                .find_map(|m| crate::cosim::scoreboard::Check::of(m))
                .map_or("verdict", crate::cosim::scoreboard::Check::name);
            (
                check.to_string(),
                msgs.first().cloned().unwrap_or_else(|| "failed".into()),
                text,
            )
        });
        s.cases.push(JunitCase {
            classname: format!("qmac.lanes{}.{}", meta.lanes, o.suite),
            name: o.name.clone(),
            time: o.wall.as_secs_f64(),
            failure,
        });
    }
    crate::verify::report::junit_xml(&suites, meta)
}

/// The run as JSON (`qmac regress --json`): metadata, every test with its
/// verdict, counts, timing, failures and replay command, the totals and the
/// coverage.
pub fn json(
    outcomes: &[Outcome],
    meta: &RunMeta,
    coverage: &crate::cosim::coverage::Coverage,
    wall_s: f64,
) -> serde_json::Value {
    let tests: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "suite": o.suite,
                "name": o.name,
                "verdict": if o.passed() { "PASS" } else { "FAIL" },
                "dots": o.stats.dots,
                "beats": o.stats.beats,
                "cycles": o.stats.cycles,
                "lane_checks": o.stats.lane_results,
                "mismatches": o.stats.mismatches,
                "failure_count": o.stats.failure_count + o.extra_failures.len() as u64,
                "failures": o.messages(),
                "wall_s": o.wall.as_secs_f64(),
                "replay": o.replay,
                "waveform": o.wave.as_ref().map(|w| w.display().to_string()),
            })
        })
        .collect();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    meta.json_report(
        "regress",
        serde_json::json!({
            "verdict": if failed == 0 && !outcomes.is_empty() { "PASS" } else { "FAIL" },
            "tests": outcomes.len(),
            "passed": outcomes.len() - failed,
            "failed": failed,
            "lane_checks": outcomes.iter().map(|o| o.stats.lane_results).sum::<u64>(),
            "wall_s": wall_s,
            "coverage": coverage.summary_json(),
            "results": tests,
        }),
    )
}
