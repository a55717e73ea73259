//! `qmac bench`: co-simulation speed against a pure C++ Verilator driver on
//! the same model and stimulus, the golden model alone, `--jobs` scaling,
//! the cost of tracing, and the model's build time. Figures, not pass/fail.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use rand::RngExt;
use serde::Serialize;

use crate::arith::DType;
use crate::cosim::dut::{BaselineParams, Dut};
use crate::cosim::transaction::{Backpressure, DotJob, Item};
use crate::cosim::{self, RunOptions};
use crate::formats::qcase::{Case, Op, Rounding};
use crate::verify::stimulus::{random_params, rng_for};

/// One co-simulation measurement.
#[derive(Debug, Clone, Serialize)]
pub struct CosimFigure {
    pub lanes: usize,
    pub beats: u64,
    pub cycles: u64,
    pub cpp_beats_per_s: f64,
    pub cosim_beats_per_s: f64,
    pub cosim_macs_per_s: f64,
    pub ratio_vs_cpp: f64,
    pub cosim_bp_beats_per_s: f64,
    pub cosim_bp_cycles_per_s: f64,
}

/// The fixed stimulus of a co-simulation benchmark: one parameter set, then
/// dot products of `k` taps streamed back to back.
pub struct Workload {
    pub params: Arc<cosim::transaction::Params>,
    pub x: Vec<u8>,
    pub w: Vec<u8>,
    pub k: usize,
}

impl Workload {
    pub fn new(lanes: usize, beats: usize, k: usize, seed: u64) -> Workload {
        let mut rng = rng_for(seed, "bench");
        let mut p = random_params(&mut rng, lanes, 32);
        p.rounding = crate::arith::requant::DatapathRounding::Double;
        // The C++ baseline streams a convolution's broadcast activations.
        p.x_per_lane = false;
        let beats = beats / k * k;
        let x = (0..beats).map(|_| rng.random()).collect();
        let w = (0..beats * lanes).map(|_| rng.random()).collect();
        Workload {
            params: Arc::new(p),
            x,
            w,
            k,
        }
    }

    pub fn items(&self) -> Vec<Item> {
        let lanes = self.params.lanes.len();
        let mut v = vec![Item::Params(self.params.clone())];
        for (i, c) in self.x.chunks(self.k).enumerate() {
            let w = self.w[i * self.k * lanes..(i + 1) * self.k * lanes].to_vec();
            v.push(Item::Dot(Arc::new(DotJob::new(c.to_vec(), w, i as u64))));
        }
        v
    }

    pub fn baseline_params(&self) -> BaselineParams {
        let p = &self.params;
        let writes = p.cfg_writes();
        BaselineParams {
            cfg_addr: writes.iter().map(|w| w.0).collect(),
            cfg_data: writes.iter().map(|w| w.1).collect(),
            bias: p.lanes.iter().map(|l| l.bias).collect(),
            m0: p.lanes.iter().map(|l| l.m0).collect(),
            shift: p.lanes.iter().map(|l| l.shift).collect(),
            zp_x: p.zp_x,
            zp_w: p.zp_w,
            zp_out: p.zp_out,
            act_min: p.act_min,
            act_max: p.act_max,
            single: false,
            uint8: p.input_dtype == DType::Uint8,
        }
    }
}

/// qmac's full path (driver + monitor + scoreboard + golden model) on `dut`.
pub fn cosim_rate(dut: &mut Dut, items: &[Item], bp: Backpressure) -> Result<(f64, f64, u64, u64)> {
    let opt = RunOptions {
        seed: 1,
        backpressure: bp,
        replay: "qmac bench".into(),
        stop_on_failure: true,
        coverage: false,
    };
    let t = crate::cosim::dut::thread_cpu_seconds();
    let st = cosim::run(dut, items.iter(), &opt, |_, _, _| {});
    let s = crate::cosim::dut::thread_cpu_seconds() - t;
    anyhow::ensure!(
        st.passed(),
        "benchmark run failed its checks: {:?}",
        st.failures.first()
    );
    Ok((
        st.beats as f64 / s,
        st.cycles as f64 / s,
        st.beats,
        st.cycles,
    ))
}

/// The pure C++ driver, same model and stimulus; best of `reps`.
pub fn cpp_rate(dut: &mut Dut, w: &Workload, reps: usize) -> Result<f64> {
    let bp = w.baseline_params();
    let mut best: f64 = 0.0;
    for _ in 0..reps {
        let r = dut.cpp_baseline(&bp, &w.x, &w.w, w.k as u32)?;
        anyhow::ensure!(
            r.mismatches == 0 && r.outputs as usize * w.k == w.x.len(),
            "C++ baseline failed: {r:?}"
        );
        best = best.max(r.beats as f64 / r.seconds);
    }
    Ok(best)
}

/// Best of `reps` of qmac's path without backpressure.
pub fn best_cosim(dut: &mut Dut, items: &[Item], reps: usize) -> Result<(f64, u64, u64)> {
    let mut best = (0.0, 0, 0);
    for _ in 0..reps {
        let (b, _, beats, cycles) = cosim_rate(dut, items, Backpressure::NONE)?;
        if b > best.0 {
            best = (b, beats, cycles);
        }
    }
    Ok(best)
}

pub fn cosim_figure(lanes: usize, beats: usize, reps: usize) -> Result<CosimFigure> {
    let w = Workload::new(lanes, beats, 16, 7);
    let items = w.items();
    let mut dut = Dut::new(lanes, 1, false)?;
    // Interleave the two so both see the same machine state.
    let mut cpp: f64 = 0.0;
    let mut cos = (0.0, 0, 0);
    for _ in 0..reps {
        cpp = cpp.max(cpp_rate(&mut dut, &w, 1)?);
        let c = best_cosim(&mut dut, &items, 1)?;
        if c.0 > cos.0 {
            cos = c;
        }
    }
    let (bpb, bpc, _, _) = cosim_rate(&mut dut, &items, Backpressure::RANDOM)?;
    Ok(CosimFigure {
        lanes,
        beats: cos.1,
        cycles: cos.2,
        cpp_beats_per_s: cpp,
        cosim_beats_per_s: cos.0,
        cosim_macs_per_s: cos.0 * lanes as f64,
        ratio_vs_cpp: cos.0 / cpp,
        cosim_bp_beats_per_s: bpb,
        cosim_bp_cycles_per_s: bpc,
    })
}

/// A random conv2d case: 3×3, `c`→`c` channels, `hw`×`hw`, SAME padding.
pub fn conv_case(c: usize, hw: usize) -> Case {
    let mut rng = rng_for(3, "bench-conv");
    let input: Vec<i32> = (0..hw * hw * c)
        .map(|_| rng.random_range(-128..128))
        .collect();
    let filter: Vec<i32> = (0..c * 9 * c)
        .map(|_| rng.random_range(-128..128))
        .collect();
    let bias: Vec<i32> = (0..c).map(|_| rng.random_range(-50_000..50_000)).collect();
    Case {
        path: "bench-conv".into(),
        source: format!("random 3x3 conv {c}->{c} {hw}x{hw}"),
        op: Op::Conv2d,
        input_shape: [1, hw, hw, c],
        filter_shape: [c, 3, 3, c],
        output_shape: [1, hw, hw, c],
        stride: [1, 1],
        dilation: [1, 1],
        padding: [1, 1, 1, 1],
        depth_multiplier: 1,
        groups: 1,
        input_zero_point: -3,
        filter_zero_point: 0,
        output_zero_point: 2,
        input_scale: None,
        filter_scales: None,
        output_scale: None,
        act_min: -128,
        act_max: 127,
        multiplier: (0..c)
            .map(|_| rng.random_range(1 << 30..i32::MAX))
            .collect(),
        shift: (0..c).map(|_| rng.random_range(-12..-6)).collect(),
        rounding: Rounding::Double,
        input_dtype: DType::Int8,
        output_dtype: DType::Int8,
        input,
        filter,
        bias: Some(bias),
        bias_float: None,
        output: None,
    }
}

/// GMAC/s of the golden model (accumulate + requantize) on `case`.
pub fn golden_gmacs(case: &Case, reps: usize) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..reps {
        let t = crate::cosim::dut::thread_cpu_seconds();
        let (acc, _) = crate::golden::layer::accumulate(case);
        let out = crate::golden::layer::requantize_datapath(case, &acc, 32);
        std::hint::black_box(out);
        best = best.max(case.macs() as f64 / (crate::cosim::dut::thread_cpu_seconds() - t) / 1e9);
    }
    best
}

/// Wall time of the random regression suite with `jobs` parallel DUTs.
pub fn regress_wall(lanes: usize, tests: usize, jobs: usize) -> Result<f64> {
    let t = crate::verify::regress::tests(
        "random",
        lanes,
        crate::cosim::dut::built_mult_w(),
        11,
        tests,
    )?;
    let cfg = crate::verify::regress::RunConfig {
        lanes,
        seed: 11,
        jobs,
        wave_on_fail: None,
        waves_always: false,
        replay: Box::new(|_| String::new()),
    };
    let pb = indicatif::ProgressBar::hidden();
    let start = Instant::now();
    let out = crate::verify::regress::run_tests(&t, &cfg, &pb)?;
    anyhow::ensure!(
        out.iter().all(|o| o.passed()),
        "benchmark regression failed"
    );
    Ok(start.elapsed().as_secs_f64())
}

/// Tracing: (no-trace build beats/s, traced build with tracing off, traced build dumping FST).
pub fn trace_figures(lanes: usize, beats: usize, reps: usize) -> Result<(f64, f64, f64)> {
    let w = Workload::new(lanes, beats, 16, 9);
    let items = w.items();
    let mut plain = Dut::new_untraced(lanes, 1)?;
    let mut traced = Dut::new(lanes, 1, true)?;
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..reps {
        a = a.max(best_cosim(&mut plain, &items, 1)?.0);
        b = b.max(best_cosim(&mut traced, &items, 1)?.0);
    }
    let small: Vec<Item> = Workload::new(lanes, beats / 20, 16, 9).items();
    let path = std::env::temp_dir().join(format!("qmac-bench-{}.fst", std::process::id()));
    traced.trace_open(&path)?;
    let (on, _, _, _) = cosim_rate(&mut traced, &small, Backpressure::NONE)?;
    traced.trace_close();
    let _ = std::fs::remove_file(&path);
    Ok((a, b, on))
}

/// Seconds to verilate and compile one model (LANES = `lanes`) from scratch.
pub fn build_time(lanes: usize) -> Result<(f64, f64)> {
    let dir = std::env::temp_dir().join(format!("qmac-bench-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let rtl: Vec<std::path::PathBuf> = std::fs::read_dir(crate::cosim::dut::RTL_DIR)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("v" | "sv")))
        .collect();
    let t = Instant::now();
    // The same executable and flags build.rs builds qmac's own models with.
    let verilator = env!("QMAC_VERILATOR_BIN");
    let st = std::process::Command::new(verilator)
        .args(env!("QMAC_VERILATOR_FLAGS").split_whitespace())
        .args(["--top-module", "qmac_top", "--prefix", "Vb"])
        .arg(format!("-GLANES={lanes}"))
        .arg(format!("-GMULT_W={}", crate::cosim::dut::built_mult_w()))
        .arg("-Mdir")
        .arg(&dir)
        .args(&rtl)
        .status()?;
    anyhow::ensure!(st.success(), "verilator failed");
    let verilate = t.elapsed().as_secs_f64();
    let mut all = String::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "cpp") {
            all += &format!("#include \"{}\"\n", p.display());
        }
    }
    std::fs::write(dir.join("all.cpp"), all)?;
    let inc = String::from_utf8(
        std::process::Command::new(verilator)
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()?
            .stdout,
    )?;
    let inc = format!("{}/include", inc.trim());
    let t = Instant::now();
    let st = std::process::Command::new("g++")
        .args(["-std=c++17", "-O3", "-c", "-o"])
        .arg(dir.join("all.o"))
        .arg(dir.join("all.cpp"))
        .arg(format!("-I{inc}"))
        .arg(format!("-I{inc}/vltstd"))
        .args([
            "-DVM_TRACE=1",
            "-DVM_TRACE_FST=1",
            "-DVM_COVERAGE=0",
            "-DVM_SC=0",
        ])
        .status()?;
    anyhow::ensure!(st.success(), "g++ failed");
    let compile = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((verilate, compile))
}

/// A whole model on the RTL, every beat checked, next to the C++ driver on
/// the same Verilated model in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFigure {
    pub lanes: usize,
    pub ops: usize,
    pub macs: u64,
    pub beats: u64,
    pub cycles: u64,
    pub dots: u64,
    /// Outputs / (dot products × LANES) over the RTL ops.
    pub lane_use: f64,
    pub wall_s: f64,
    /// CPU time of the thread that ran the model (one DUT, one core).
    pub cpu_s: f64,
    pub macs_per_s_per_core: f64,
    pub beats_per_s_per_core: f64,
    pub cpp_beats_per_s: f64,
    pub ratio_vs_cpp: f64,
    /// Peak resident memory of the process so far (VmHWM), MB.
    pub peak_rss_mb: f64,
    pub passed: bool,
}

/// Peak resident set of this process (`VmHWM` of /proc/self/status), MB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Run `plan` on `input` through the RTL (LANES `lanes`), then the C++
/// driver's best of `reps` on a random workload of `cpp_beats` beats.
pub fn model_figure(
    plan: &crate::model::Plan,
    input_path: &std::path::Path,
    input: &[crate::formats::npy::Int8Array],
    lanes: usize,
    cpp_beats: usize,
    reps: usize,
) -> Result<ModelFigure> {
    use crate::model::{ModelRunOptions, RtlEngine};
    let mut dut = Dut::new(lanes, 1, false)?;
    let wall = std::time::Instant::now();
    let cpu = crate::cosim::dut::thread_cpu_seconds();
    let run = {
        let mut engine = RtlEngine {
            duts: std::slice::from_mut(&mut dut),
            cosim: RunOptions {
                seed: 1,
                backpressure: Backpressure::NONE,
                replay: format!("qmac bench --model … --input {}", input_path.display()),
                stop_on_failure: false,
                coverage: false,
            },
            both: false,
            progress: None,
        };
        crate::model::run(
            plan,
            input_path,
            input,
            &mut engine,
            &ModelRunOptions::plain(),
        )?
    };
    let cpu_s = crate::cosim::dut::thread_cpu_seconds() - cpu;
    let wall_s = wall.elapsed().as_secs_f64();
    let (macs, beats, cycles, dots) = run.ops.iter().fold((0, 0, 0, 0), |(m, b, c, d), o| {
        (m + o.macs, b + o.beats, c + o.cycles, d + o.dots)
    });
    let outputs: u64 = run
        .ops
        .iter()
        .filter(|o| o.dots > 0)
        .map(|o| o.output_shape.iter().product::<usize>() as u64)
        .sum();
    let w = Workload::new(lanes, cpp_beats, 16, 7);
    let cpp = cpp_rate(&mut dut, &w, reps)?;
    let beats_per_s = beats as f64 / cpu_s.max(1e-9);
    Ok(ModelFigure {
        lanes,
        ops: run.ops.len(),
        macs,
        beats,
        cycles,
        dots,
        lane_use: outputs as f64 / (dots.max(1) * lanes as u64) as f64,
        wall_s,
        cpu_s,
        macs_per_s_per_core: macs as f64 / cpu_s.max(1e-9),
        beats_per_s_per_core: beats_per_s,
        cpp_beats_per_s: cpp,
        ratio_vs_cpp: beats_per_s / cpp,
        peak_rss_mb: peak_rss_mb(),
        passed: run.passed(),
    })
}
