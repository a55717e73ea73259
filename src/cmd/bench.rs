//! `qmac bench`: speed figures of this machine (no pass/fail).

use anyhow::Result;
use serde::Serialize;

use qmac::verify::bench;

/// cocotb 1.8.1 on the same Verilated pipeline, measured on a machine of this
/// kind (see the performance issue / README): cited, not re-measured here.
pub const COCOTB_BEATS_PER_S: f64 = 10_000.0;

/// The long `--help` text of `qmac bench`.
pub const LONG_ABOUT: &str = "Measures, in one run on the same Verilated model and stimulus: qmac's full \
co-simulation path (driver + monitor + scoreboard + golden model checking every output) in beats/s and \
MACs/s for LANES=1 and 8, with and without random backpressure; a minimal pure C++ Verilator driver \
(sim/qmac_sim.cpp, cpp_baseline: pre-generated stimulus, checked against a C++ copy of the requantization) \
as the baseline, and the ratio; the golden model alone on a 3x3 64->64 56x56 conv2d (GMAC/s); --jobs 1 vs 2 \
on the random regression; tracing compiled in but off vs a model verilated without it, and tracing on; \
the cold build time of one model. --json prints only one JSON object on stdout (the table on stderr).\n\n\
With --model M.tflite --input X.npy only the whole-model figure is measured: the model runs once on one \
Verilated DUT (LANES --lanes, every beat checked against the golden model), and the table gives its ops, \
MACs, beats, cycles, lane use, wall and CPU time, MACs/s and beats/s per core, peak RSS, and the pure C++ \
driver's beats/s on the same Verilated model in the same run, with the ratio.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input beats per co-simulation measurement (at least 1 000)
    #[arg(long, default_value_t = 4_000_000, value_parser = clap::value_parser!(u64).range(1000..))]
    pub beats: u64,
    /// Repetitions, C++ and qmac interleaved (the best of each is reported;
    /// times are thread CPU time)
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Tests of the random suite for the --jobs scaling figure
    #[arg(long, default_value_t = 8)]
    pub regress_tests: usize,
    /// Skip the model build-time measurement
    #[arg(long)]
    pub no_build: bool,
    /// Print one JSON object with every figure on stdout, and nothing else there (the table goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// Only the whole-model figure: run this int8 .tflite on the RTL (every beat checked) and
    /// print MACs/s and beats/s per core next to the C++ driver's beats/s in the same run
    #[arg(long, value_name = "MODEL", requires = "input")]
    pub model: Option<std::path::PathBuf>,
    /// The int8 .npy input of --model
    #[arg(long, value_name = "X.npy", requires = "model")]
    pub input: Option<std::path::PathBuf>,
    /// LANES of the --model figure (one of the built LANES values)
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
}

#[derive(Serialize)]
struct Report {
    cosim_beats_per_s: f64,
    cpp_beats_per_s: f64,
    ratio_vs_cpp: f64,
    cosim_beats_per_s_lanes8: f64,
    cpp_beats_per_s_lanes8: f64,
    ratio_vs_cpp_lanes8: f64,
    cosim_macs_per_s_lanes8: f64,
    cosim_bp_beats_per_s: f64,
    cosim_bp_beats_per_s_lanes8: f64,
    ratio_vs_cocotb_cited: f64,
    golden_gmac_per_s: f64,
    jobs1_wall_s: f64,
    jobs2_wall_s: f64,
    jobs2_speedup: f64,
    trace_off_ratio: f64,
    trace_on_ratio: f64,
    verilate_s: Option<f64>,
    model_compile_s: Option<f64>,
}

fn fig(lanes: usize, a: &Args) -> Result<bench::CosimFigure> {
    let beats = (if lanes == 1 { a.beats } else { a.beats / 2 }) as usize;
    bench::cosim_figure(lanes, beats, a.reps)
}

/// `qmac bench --model M --input X`: the whole-model figure alone.
fn model(a: &Args, path: &std::path::Path, input: &std::path::Path) -> Result<()> {
    let m = qmac::formats::tflite::Model::read(path)?;
    let plan = qmac::model::Plan::new(&m)?;
    let x = qmac::model::read_inputs(&plan, input)?;
    qmac::model::check_inputs(&plan, input, &x)?;
    qmac::cosim::dut::check_lanes(a.lanes)
        .map_err(|e| qmac::error::InputError::new("--lanes", "value", e))?;
    let out = crate::cmd::Out {
        json_stdout: a.json,
        quiet: false,
    };
    out.line(format_args!(
        "qmac bench --model {}: input {}, LANES={} MULT_W={}, one DUT, every beat checked",
        path.display(),
        input.display(),
        a.lanes,
        qmac::cosim::dut::built_mult_w()
    ));
    let f = bench::model_figure(
        &plan,
        input,
        &x,
        a.lanes,
        (a.beats as usize).min(2_000_000),
        a.reps,
    )?;
    out.line(format_args!(
        "{} ops, {} MACs, {} beats, {} cycles, {} dot products (lane use {:.0} %)",
        f.ops,
        f.macs,
        f.beats,
        f.cycles,
        f.dots,
        100.0 * f.lane_use
    ));
    out.line(format_args!(
        "wall {:.2} s, CPU {:.2} s: {:.0} MACs/s and {:.0} beats/s per core; peak RSS {:.0} MB",
        f.wall_s, f.cpu_s, f.macs_per_s_per_core, f.beats_per_s_per_core, f.peak_rss_mb
    ));
    out.line(format_args!(
        "pure C++ Verilator driver, same model, same run: {:.0} beats/s; ratio model run / C++ {:.3}",
        f.cpp_beats_per_s, f.ratio_vs_cpp
    ));
    if !f.passed {
        out.line(
            "note: the run's checks failed (qmac model reports which); the figures still stand",
        );
    }
    if a.json {
        println!("{}", serde_json::to_string(&f)?);
    }
    Ok(())
}

pub fn run(a: &Args) -> Result<()> {
    if let (Some(m), Some(x)) = (&a.model, &a.input) {
        return model(a, m, x);
    }
    let built = qmac::cosim::dut::built_lanes();
    anyhow::ensure!(
        built.contains(&1) && built.contains(&8),
        "qmac bench needs models for LANES 1 and 8 (QMAC_LANES=1,8)"
    );
    let out = crate::cmd::Out {
        json_stdout: a.json,
        quiet: false,
    };
    out.line(format_args!(
        "qmac bench: Verilator model of {} (MULT_W={}), {} CPUs",
        qmac::cosim::dut::RTL_DIR,
        qmac::cosim::dut::built_mult_w(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ));
    let f1 = fig(1, a)?;
    let f8 = fig(8, a)?;
    out.line("");
    out.line(format_args!(
        "{:<50} {:>14} {:>14}",
        "co-simulation, one DUT, K = 16 taps", "LANES=1", "LANES=8"
    ));
    let row = |name: &str, x: f64, y: f64| out.line(format_args!("{name:<50} {x:>14.0} {y:>14.0}"));
    row(
        "pure C++ Verilator driver, beats/s",
        f1.cpp_beats_per_s,
        f8.cpp_beats_per_s,
    );
    row(
        "qmac (driver+monitor+scoreboard+golden), beats/s",
        f1.cosim_beats_per_s,
        f8.cosim_beats_per_s,
    );
    row("qmac, MACs/s", f1.cosim_macs_per_s, f8.cosim_macs_per_s);
    out.line(format_args!(
        "{:<50} {:>14.3} {:>14.3}",
        "ratio qmac / C++", f1.ratio_vs_cpp, f8.ratio_vs_cpp
    ));
    row(
        "qmac with random backpressure, beats/s",
        f1.cosim_bp_beats_per_s,
        f8.cosim_bp_beats_per_s,
    );
    row(
        "qmac with random backpressure, cycles/s",
        f1.cosim_bp_cycles_per_s,
        f8.cosim_bp_cycles_per_s,
    );
    out.line(format_args!(
        "{:<50} {:>14.0} {:>14}",
        "ratio qmac / cocotb 1.8.1 (cited 10 k beats/s)",
        f1.cosim_beats_per_s / COCOTB_BEATS_PER_S,
        ""
    ));
    let case = bench::conv_case(64, 56);
    let g = bench::golden_gmacs(&case, a.reps);
    out.line(format_args!(
        "\ngolden model alone, conv2d 3x3 64->64 56x56 ({} MMAC): {g:.3} GMAC/s",
        case.macs() / 1_000_000
    ));
    let j1 = bench::regress_wall(8, a.regress_tests, 1)?;
    let j2 = bench::regress_wall(8, a.regress_tests, 2)?;
    out.line(format_args!("qmac regress --suite random ({} tests, LANES=8): --jobs 1 {j1:.2} s, --jobs 2 {j2:.2} s, speedup {:.2}x", a.regress_tests, j1 / j2));
    let (plain, off, on) = bench::trace_figures(1, a.beats as usize, a.reps)?;
    out.line(format_args!(
        "tracing (LANES=1): no-trace model {plain:.0} beats/s; --trace-fst model, tracing off {off:.0} beats/s ({:.3}x); FST on {on:.0} beats/s ({:.4}x)",
        off / plain,
        on / plain
    ));
    let build = if a.no_build {
        None
    } else {
        let (v, c) = bench::build_time(8)?;
        out.line(format_args!("cold build of one model (LANES=8): verilate {v:.2} s + C++ compile -O3 {c:.2} s; warm (unchanged rtl/ and sim/): build.rs does not rerun, 0 s"));
        Some((v, c))
    };
    if a.json {
        let r = Report {
            cosim_beats_per_s: f1.cosim_beats_per_s,
            cpp_beats_per_s: f1.cpp_beats_per_s,
            ratio_vs_cpp: f1.ratio_vs_cpp,
            cosim_beats_per_s_lanes8: f8.cosim_beats_per_s,
            cpp_beats_per_s_lanes8: f8.cpp_beats_per_s,
            ratio_vs_cpp_lanes8: f8.ratio_vs_cpp,
            cosim_macs_per_s_lanes8: f8.cosim_macs_per_s,
            cosim_bp_beats_per_s: f1.cosim_bp_beats_per_s,
            cosim_bp_beats_per_s_lanes8: f8.cosim_bp_beats_per_s,
            ratio_vs_cocotb_cited: f1.cosim_beats_per_s / COCOTB_BEATS_PER_S,
            golden_gmac_per_s: g,
            jobs1_wall_s: j1,
            jobs2_wall_s: j2,
            jobs2_speedup: j1 / j2,
            trace_off_ratio: off / plain,
            trace_on_ratio: on / plain,
            verilate_s: build.map(|b| b.0),
            model_compile_s: build.map(|b| b.1),
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
