//! `qmac layer`: run layer cases through the golden model and/or the RTL.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use qmac::cosim::dut::Dut;
use qmac::cosim::transaction::Backpressure;
use qmac::cosim::{Backend, RunOptions};
use qmac::error::{CheckFailed, InputError};
use qmac::formats::qcase::{AnyCase, Case, Rounding};
use qmac::golden::layer;
use qmac::verdict::{self, ReferenceVerdict};
use qmac::verify::report::{
    self,
    data::{DiffMap, WidthPoint},
};

/// The long `--help` text of `qmac layer`.
pub const LONG_ABOUT: &str = "Runs each layer case (a qcase .json file, or a directory with case.toml) and compares \
with the case's `output`. The golden backend computes the layer in the case's rounding mode; the rtl backend \
lowers it onto the LANES-wide datapath (channel groups of LANES, taps of each output position streamed, padded \
taps skipped), checks every output beat against the golden model cycle by cycle, and compares the layer output \
with the golden model and the case. For `float64` cases the line also reports how many outputs TFLite's integer \
(Q31, double rounding) path differs on; the golden float64 mode must match the case on all of them.\n\n\
For PyTorch `fbgemm` / `onednn` cases (scripts/export_torch.py) the RTL must equal the golden integer path bit-exactly, and \
the integer path is compared with PyTorch's output: the line gives the number of differing outputs, the max \
|diff| and how many of them the golden fbgemm / oneDNN emulation (docs/contract.md section 5) explains, i.e. reproduces. A \
difference it does not explain fails the case and is listed by output position; --explain lists every differing \
output with its accumulator, exact real value, both roundings and the cause.\n\n\
Prints one line per case and ends with `N passed, M failed`. Exit 0 iff every case passed, 1 if any failed, \
2 on an input error.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Case files (.json), case directories (case.toml + arrays), case index files (index.json), or export directories (their index.json)
    #[arg(required = true)]
    pub cases: Vec<PathBuf>,
    /// Which model runs the cases
    #[arg(long, value_enum, default_value = "rtl")]
    pub backend: Backend,
    /// Datapath width of the Verilated model (one of the built LANES values)
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
    /// Golden backend: also report how often a W-bit multiplier (docs/contract.md
    /// section 4, single rounding) differs from the 32-bit result
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..=32))]
    pub m0_bits: u32,
    /// Seed of the X-initialisation and of the backpressure
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Random valid/ready backpressure on both RTL streams
    #[arg(long)]
    pub backpressure: bool,
    /// On an RTL failure, re-run that case with an FST waveform written into DIR
    #[arg(long, value_name = "DIR", conflicts_with = "waves")]
    pub wave_on_fail: Option<PathBuf>,
    /// Write an FST waveform of every case's RTL run into DIR (like cocotb's WAVES=1)
    #[arg(long, value_name = "DIR", env = "QMAC_WAVES")]
    pub waves: Option<PathBuf>,
    /// Colour PASS / FAIL: auto (a terminal, unless NO_COLOR is set), always or never
    #[arg(long, value_enum, default_value = "auto")]
    pub color: crate::cmd::Color,
    /// PyTorch (fbgemm / onednn) cases: list each output where the integer path differs
    /// from PyTorch, with its accumulator, exact real value, both roundings and the cause
    #[arg(long)]
    pub explain: bool,
    /// Write the verdicts as JSON to FILE (`-`: only the JSON on stdout, the report on stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables) to FILE; `qmac report` makes the same page from --json files
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a JUnit XML report to FILE, one testcase per case
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Replace existing --json and --junit files
    #[arg(long)]
    pub force: bool,
}

/// Differing output positions listed per failing case (all with --explain).
const MAX_POSITIONS_LISTED: usize = 8;

/// Unexplained PyTorch differences listed per case (the count is always given).
const MAX_UNEXPLAINED_LISTED: usize = 20;

/// Totals over the PyTorch (fbgemm / onednn) cases of one run, for the closing note.
#[derive(Debug, Default)]
struct TorchTotals {
    layers: usize,
    outputs: usize,
    differing: usize,
    explained: usize,
    max_abs: i64,
    emulation_matches: usize,
    rtl_layers: usize,
    rtl_exact: usize,
    /// Elementwise steps (add, mul, cat, batch_norm, hardswish, pooling) with a PyTorch output.
    steps: usize,
    step_outputs: usize,
    step_differing: usize,
    step_explained: usize,
    step_emulation_matches: usize,
    /// Elementwise steps the RTL ran (mul, cat, batch_norm, evenly windowed
    /// pools) and those equal to the golden integer path.
    rtl_steps: usize,
    rtl_steps_exact: usize,
}

fn shape(s: [usize; 4]) -> String {
    format!("{}x{}x{}x{}", s[0], s[1], s[2], s[3])
}

fn case_name(p: &Path) -> String {
    let s = p
        .file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().to_string());
    s.unwrap_or_else(|| p.display().to_string())
}

/// The command that re-runs one case the way this run ran it.
fn replay_cmd(a: &Args, case: &Path) -> String {
    format!(
        "qmac layer {} --backend {} --lanes {} --seed {}{}{}",
        crate::cmd::sh(case.display()),
        a.backend.name(),
        a.lanes,
        a.seed,
        if a.backpressure {
            " --backpressure"
        } else {
            ""
        },
        if a.m0_bits != 32 {
            format!(" --m0-bits {}", a.m0_bits)
        } else {
            String::new()
        }
    )
}

/// If `p` is a case index (a JSON object with a `cases` list of `{"file": …}`,
/// like tests/fixtures/tflite/index.json), the case files it lists.
fn index_entries(p: &Path) -> Option<Vec<PathBuf>> {
    if p.is_dir() {
        // An export directory (its index.json, no case.toml of its own).
        let index = p.join("index.json");
        if !p.join(qmac::formats::qcase::CASE_TOML).exists() && index.is_file() {
            return index_entries(&index);
        }
        return None;
    }
    let text = std::fs::read_to_string(p).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let list = v.get("cases")?.as_array()?;
    let dir = p.parent().unwrap_or(Path::new("."));
    list.iter()
        .map(|e| e.get("file")?.as_str().map(|f| dir.join(f)))
        .collect()
}

/// The case paths to run: index files expanded, each case once (first occurrence).
pub fn expand_inputs(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for p in paths {
        let list = index_entries(p).unwrap_or_else(|| vec![p.clone()]);
        for q in list {
            let key = std::fs::canonicalize(&q).unwrap_or_else(|_| q.clone());
            if seen.insert(key) {
                out.push(q);
            }
        }
    }
    out
}

/// How a case's RTL run streams (seed, backpressure, its replay command).
fn run_options(a: &Args, path: &Path) -> RunOptions {
    RunOptions {
        seed: a.seed,
        backpressure: if a.backpressure {
            Backpressure::RANDOM
        } else {
            Backpressure::NONE
        },
        replay: replay_cmd(a, path),
        stop_on_failure: false,
        coverage: false,
    }
}

pub fn run(a: &Args) -> Result<()> {
    let paths = expand_inputs(&a.cases);
    let mut cases = Vec::new();
    for p in &paths {
        cases.push(qmac::formats::qcase::read_any(p)?);
    }
    let need_rtl = a.backend != Backend::Golden;
    if need_rtl && a.m0_bits != 32 {
        return Err(InputError::new(
            "--m0-bits",
            "value",
            format!(
                "applies to --backend golden only: the RTL's multiplier is the one it was built with (MULT_W={}; rebuild with QMAC_MULT_W to change it)",
                qmac::cosim::dut::built_mult_w()
            ),
        )
        .into());
    }
    if paths.is_empty() {
        return Err(CheckFailed {
            summary: "no case to check (the index lists none)".into(),
        }
        .into());
    }
    crate::cmd::check_report_paths(
        a.json.as_deref(),
        a.junit.as_deref(),
        a.html.as_deref(),
        a.force,
    )?;
    let out = crate::cmd::Out::new(a.json.as_deref());
    let paint = crate::cmd::Paint::new(a.color);
    let meta =
        qmac::verify::report::RunMeta::now(a.seed, a.lanes, qmac::cosim::dut::built_mult_w());
    let mut records: Vec<serde_json::Value> = Vec::new();
    let mut junit_cases: Vec<qmac::verify::report::JunitCase> = Vec::new();
    let mut dut = if need_rtl {
        Some(Dut::new(
            a.lanes,
            a.seed,
            a.wave_on_fail.is_some() || a.waves.is_some(),
        )?)
    } else {
        None
    };
    if need_rtl {
        out.line(format_args!(
            "qmac layer: {} case(s), backend {}, LANES={} MULT_W={}, seed {}",
            cases.len(),
            a.backend.name(),
            a.lanes,
            qmac::cosim::dut::built_mult_w(),
            a.seed
        ));
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut torch = TorchTotals::default();
    for (any, path) in cases.iter().zip(&paths) {
        let started = std::time::Instant::now();
        let case: &Case = match any {
            AnyCase::Layer(c) => c,
            AnyCase::Elementwise(e) => {
                let r = crate::cmd::layer_eltwise::run_case(
                    e,
                    path,
                    &case_name(path),
                    dut.as_mut(),
                    &run_options(a, path),
                    a.explain,
                    MAX_UNEXPLAINED_LISTED,
                )?;
                if let Some(c) = &r.comparison {
                    torch.steps += 1;
                    torch.step_outputs += c.outputs;
                    torch.step_differing += c.differing;
                    torch.step_explained += c.explained;
                    torch.step_emulation_matches += c.emulation_matches;
                }
                if let Some(exact) = r.rtl_exact {
                    torch.rtl_steps += 1;
                    torch.rtl_steps_exact += usize::from(exact);
                }
                out.line(format_args!(
                    "{} {}",
                    if r.ok {
                        paint.pass("PASS")
                    } else {
                        paint.fail("FAIL")
                    },
                    r.line
                ));
                for n in &r.notes {
                    out.line(n);
                }
                let replay = replay_cmd(a, path);
                let mut record = r.record;
                record["replay"] = serde_json::json!(replay);
                record["wall_s"] = serde_json::json!(started.elapsed().as_secs_f64());
                records.push(record);
                junit_cases.push(qmac::verify::report::JunitCase {
                    classname: format!("qmac.layer.{}", e.op.name()),
                    name: case_name(path),
                    time: started.elapsed().as_secs_f64(),
                    failure: (!r.ok).then(|| {
                        (
                            "layer verdict".to_string(),
                            r.line.clone(),
                            format!("{}\n{}\nreplay: {replay}", r.line, r.notes.join("\n")),
                        )
                    }),
                });
                if r.ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
                continue;
            }
        };
        let golden = layer::run(case)?;
        let golden_out = golden.output.as_slice().expect("standard layout");
        let mut line = format!(
            "{:<40} {:<17} {} -> {}  MACs {:>9}",
            case_name(path),
            case.op.name(),
            shape(case.input_shape),
            shape(case.output_shape),
            case.macs()
        );
        let mut notes: Vec<String> = Vec::new();
        // The first beat-level failures of the RTL run (each names its inputs).
        let mut beat_failures: Vec<String> = Vec::new();
        // A narrow-multiplier design point (--m0-bits, or an RTL built with
        // MULT_W < 32) is not bit-exact with TFLite: report how often it differs.
        let narrow = if need_rtl {
            qmac::cosim::dut::built_mult_w()
        } else {
            a.m0_bits
        };
        let mut rtl = None;
        if let Some(dut) = dut.as_mut() {
            let opt = run_options(a, path);
            let r = qmac::cosim::lowering::run_layer(case, dut, &opt)?;
            // The waveform re-run triggers on the same rule as the verdict
            // (--wave-on-fail), or on every case (--waves).
            if a.waves.is_some() || !verdict::rtl_layer(case, &golden.acc, &r, narrow).passed() {
                if let Some(dir) = a.wave_on_fail.as_ref().or(a.waves.as_ref()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    let wave = dir.join(format!("{}.fst", case_name(path)));
                    dut.trace_open(&wave)?;
                    let _ = qmac::cosim::lowering::run_layer(case, dut, &opt)?;
                    dut.trace_close();
                    notes.push(format!("  waveform: {}", wave.display()));
                }
            }
            rtl = Some(r);
        }
        let v = verdict::layer(case, &golden, rtl.as_ref(), narrow)?;
        // The case's reference output.
        match &v.reference {
            None => line += "  (no reference output)",
            Some(ReferenceVerdict::Integer { golden: d }) => {
                line += &format!(
                    "  outputs {:>6}  golden mismatches {} (max|diff| {})",
                    d.compared, d.mismatches, d.max_abs
                )
            }
            Some(ReferenceVerdict::Float64 {
                emulation,
                integer,
                explained,
            }) => {
                line += &format!(
                    "  outputs {:>6}  golden mismatches {} (max|diff| {})  [float64 case: integer Q31 path differs on {} outputs, max|diff| {}, {} explained by TFLite's float64 requantization]",
                    emulation.compared,
                    emulation.mismatches,
                    emulation.max_abs,
                    integer.mismatches,
                    integer.max_abs,
                    explained
                )
            }
            Some(ReferenceVerdict::Torch(c)) => {
                let emu = c.kernel.emulation();
                torch.layers += 1;
                torch.outputs += c.outputs;
                torch.differing += c.differing;
                torch.explained += c.explained;
                torch.max_abs = torch.max_abs.max(c.max_abs);
                torch.emulation_matches += c.emulation_matches;
                line += &format!(
                    "  outputs {:>6}  golden mismatches {} (max|diff| {})",
                    c.outputs,
                    c.outputs - c.emulation_matches,
                    golden_out
                        .iter()
                        .zip(case.output.as_deref().unwrap_or(&[]))
                        .map(|(&x, &y)| (x as i64 - y as i64).abs())
                        .max()
                        .unwrap_or(0)
                );
                line += &format!(
                    "  [{} case ({}): integer vs PyTorch differs on {} of {} outputs, max|diff| {}, {} explained by the {emu} emulation{}]",
                    case.rounding.name(),
                    c.kernel.describe(),
                    c.differing,
                    c.outputs,
                    c.max_abs,
                    c.explained,
                    if c.passed() {
                        String::new()
                    } else {
                        format!(
                            ", {} unexplained; emulation = PyTorch on {} of {}",
                            c.unexplained().count(),
                            c.emulation_matches,
                            c.outputs
                        )
                    }
                );
                for e in &c.parameter_errors {
                    notes.push(format!("  WRONG PARAMETER {e}"));
                }
                let unexplained = c.unexplained().count();
                for d in c.unexplained().take(MAX_UNEXPLAINED_LISTED) {
                    notes.push(format!("  {}", d.unexplained_line()));
                }
                if unexplained > MAX_UNEXPLAINED_LISTED {
                    notes.push(format!(
                        "  … and {} more unexplained outputs",
                        unexplained - MAX_UNEXPLAINED_LISTED
                    ));
                }
                if a.explain {
                    notes.extend(
                        c.details
                            .iter()
                            .filter(|d| d.integer != d.pytorch)
                            .map(|d| format!("  {}", d.explain())),
                    );
                }
            }
        }
        if narrow < 32 {
            // Against the 32-bit integer path (a framework case's golden
            // output is the framework's, not the integer path's).
            let n_out = layer::requantize_datapath(case, &golden.acc, narrow);
            let full = layer::requantize_datapath(case, &golden.acc, 32);
            let d = verdict::diff(
                n_out.as_slice().expect("standard layout"),
                full.as_slice().expect("standard layout"),
            );
            line += &format!(
                "  [{narrow}-bit multiplier: differs from the 32-bit result on {} of {} outputs ({:.3}%), max|diff| {}]",
                d.mismatches,
                d.compared,
                100.0 * d.mismatches as f64 / d.compared.max(1) as f64,
                d.max_abs
            );
        }
        if let (Some(r), Some(rv)) = (&rtl, &v.rtl) {
            if matches!(case.rounding, Rounding::Fbgemm | Rounding::Onednn) {
                torch.rtl_layers += 1;
                torch.rtl_exact += usize::from(rv.passed());
            }
            line += &format!(
                "  rtl mismatches {} (acc {}, beat checks {} failed)  {} beats {} cycles {:.3} beats/cycle",
                rv.outputs.mismatches,
                rv.accs.mismatches,
                rv.beat_failures,
                r.stats.beats,
                r.stats.cycles,
                r.stats.beats_per_cycle()
            );
            if let Some(d) = v.rtl_vs_reference.filter(|d| d.mismatches > 0) {
                line += &format!("  rtl vs the case's output: {} mismatches", d.mismatches);
            }
            for f in &r.stats.failures {
                eprintln!("  {}", f.message);
            }
            beat_failures.extend(
                r.stats
                    .failures
                    .iter()
                    .take(MAX_POSITIONS_LISTED)
                    .map(|f| f.message.clone()),
            );
        }
        // Where the outputs differ: [n, h, w, c], the case's output, the golden
        // model's (and its accumulator), the RTL's. The first few of a failing
        // case; every one with --explain.
        let int_out = layer::requantize_datapath(case, &golden.acc, narrow);
        let int_out = int_out.as_slice().expect("standard layout");
        let acc = golden.acc.as_slice().expect("standard layout");
        let reference = case.output.as_deref();
        let differs = |i: usize| {
            reference.is_some_and(|r| r[i] != golden_out[i] || r[i] != int_out[i])
                || rtl
                    .as_ref()
                    .is_some_and(|r| r.output[i] != int_out[i] || r.acc[i] != acc[i])
        };
        // The report's figures: where outputs differ, the framework
        // differences by cause, a narrow multiplier against every width.
        // The comparisons that are judged: a narrow multiplier (--m0-bits,
        // or an RTL built with MULT_W < 32) is reported against the 32-bit
        // result, not mapped, so the case is compared with the 32-bit
        // integer path; the RTL with the integer path at its own width.
        let int_full = (narrow != 32).then(|| layer::requantize_datapath(case, &golden.acc, 32));
        let int_ref = int_full
            .as_ref()
            .map_or(int_out, |t| t.as_slice().expect("standard layout"));
        let diff_map = DiffMap::collect(
            case.output_shape,
            (0..golden_out.len())
                .map(|i| {
                    let mut d = 0i64;
                    if let Some(r) = reference {
                        d = d
                            .max((r[i] as i64 - golden_out[i] as i64).abs())
                            .max((r[i] as i64 - int_ref[i] as i64).abs());
                    }
                    if let Some(r) = &rtl {
                        d = d.max((r.output[i] as i64 - int_out[i] as i64).abs());
                        if r.acc[i] != acc[i] {
                            d = d.max(1);
                        }
                    }
                    (i, d)
                })
                .filter(|&(_, d)| d > 0),
        );
        let framework_diffs = match &v.reference {
            Some(ReferenceVerdict::Float64 { .. }) => {
                let q31 = layer::requantize(
                    case,
                    &golden.acc,
                    layer::integer_rounding(case.rounding),
                    32,
                );
                let r = reference.expect("a float64 verdict has a reference");
                report::data::tally(
                    q31.iter()
                        .zip(golden_out)
                        .zip(r)
                        .filter(|((&y, _), &r)| y != r)
                        .map(|((&y, &e), &r)| {
                            let ok = verdict::float64_explained(y, e, r);
                            let cause = if ok {
                                "TFLite float64 requantization"
                            } else {
                                "unexplained"
                            };
                            (y as i64 - r as i64, cause, ok)
                        }),
                )
            }
            Some(ReferenceVerdict::Torch(c)) => report::data::tally(
                c.details
                    .iter()
                    .filter(|d| d.integer != d.pytorch)
                    .map(|d| {
                        let ok = d.explained();
                        let cause = if ok { d.cause.label() } else { "unexplained" };
                        (d.integer as i64 - d.pytorch as i64, cause, ok)
                    }),
            ),
            _ => Vec::new(),
        };
        let width_sweep: Vec<WidthPoint> = if narrow < 32 {
            let full = layer::requantize_datapath(case, &golden.acc, 32);
            let full = full.as_slice().expect("standard layout");
            (2..=32)
                .map(|bits| {
                    let o = layer::requantize_datapath(case, &golden.acc, bits);
                    let d = verdict::diff(o.as_slice().expect("standard layout"), full);
                    WidthPoint {
                        bits,
                        compared: d.compared,
                        mismatches: d.mismatches,
                        max_abs: d.max_abs,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let failing = !v.passed();
        if failing || a.explain {
            let limit = if a.explain {
                usize::MAX
            } else {
                MAX_POSITIONS_LISTED
            };
            let [_, oh, ow, oc] = case.output_shape;
            let all: Vec<usize> = (0..golden_out.len()).filter(|&i| differs(i)).collect();
            for &i in all.iter().take(limit) {
                let (n, h, w, c) = (i / (oh * ow * oc), i / (ow * oc) % oh, i / oc % ow, i % oc);
                let mut s = format!("  [{n}, {h}, {w}, {c}]:");
                if let Some(r) = reference {
                    s += &format!(" case {}", r[i]);
                }
                s += &format!(" golden {}", golden_out[i]);
                if int_out[i] != golden_out[i] {
                    s += &format!(" (integer path {})", int_out[i]);
                }
                s += &format!(" acc {}", acc[i]);
                if let Some(r) = &rtl {
                    s += &format!(" rtl {} acc {}", r.output[i], r.acc[i]);
                }
                notes.push(s);
            }
            if all.len() > limit {
                notes.push(format!(
                    "  … and {} more differing outputs (--explain lists every one)",
                    all.len() - limit
                ));
            }
        }
        let ok = v.passed() && v.checked_anything();
        if !v.checked_anything() {
            line += "  (nothing compared: no reference output and no RTL run)";
        }
        out.line(format_args!(
            "{} {line}",
            if ok {
                paint.pass("PASS")
            } else {
                paint.fail("FAIL")
            }
        ));
        for n in &notes {
            out.line(n);
        }
        let replay = replay_cmd(a, path);
        let reference = v.reference.as_ref().map(|r| match r {
            ReferenceVerdict::Integer { golden } => serde_json::json!({
                "kind": "integer", "compared": golden.compared, "mismatches": golden.mismatches, "max_abs_diff": golden.max_abs,
            }),
            ReferenceVerdict::Float64 { emulation, integer, explained } => serde_json::json!({
                "kind": "float64", "compared": emulation.compared, "emulation_mismatches": emulation.mismatches,
                "integer_differing": integer.mismatches, "explained": explained,
            }),
            ReferenceVerdict::Torch(c) => serde_json::json!({
                "kind": "pytorch", "compared": c.outputs, "differing": c.differing, "explained": c.explained,
            }),
        });
        records.push(serde_json::json!({
            "case": path.display().to_string(),
            "op": case.op.name(),
            "verdict": if ok { "PASS" } else { "FAIL" },
            "outputs": golden_out.len(),
            "reference": reference,
            "rtl": v.rtl.as_ref().map(|rv| serde_json::json!({
                "output_mismatches": rv.outputs.mismatches,
                "acc_mismatches": rv.accs.mismatches,
                "beat_failures": rv.beat_failures,
                "beats": rtl.as_ref().map_or(0, |r| r.stats.beats),
                "cycles": rtl.as_ref().map_or(0, |r| r.stats.cycles),
                "dots": rtl.as_ref().map_or(0, |r| r.stats.dots),
            })),
            "details": notes.iter().map(|n| n.trim()).collect::<Vec<_>>(),
            "replay": replay,
            "input_shape": case.input_shape,
            "output_shape": case.output_shape,
            "macs": case.macs(),
            "wall_s": started.elapsed().as_secs_f64(),
            "diff_map": diff_map,
            "framework_diffs": framework_diffs,
            "width_sweep": width_sweep,
            "mult_bits": narrow,
            "beat_failure_messages": beat_failures,
        }));
        junit_cases.push(qmac::verify::report::JunitCase {
            classname: format!("qmac.layer.{}", case.op.name()),
            name: case_name(path),
            time: started.elapsed().as_secs_f64(),
            failure: (!ok).then(|| {
                (
                    "layer verdict".to_string(),
                    line.clone(),
                    format!("{line}\n{}\nreplay: {replay}", notes.join("\n")),
                )
            }),
        });
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    if torch.steps > 0 || torch.rtl_steps > 0 {
        out.line(format_args!(
            "PyTorch elementwise steps (add, mul, cat, batch_norm, hardswish, pooling): {}{} steps, {} outputs: integer vs PyTorch differs on {}, \
             {} of them explained by a verified cause; emulation = PyTorch on {} of {} outputs",
            if torch.rtl_steps > 0 {
                format!(
                    "RTL = golden integer bit-exact on {} of {} steps run on the RTL (mul, cat, batch_norm, pooling); ",
                    torch.rtl_steps_exact, torch.rtl_steps
                )
            } else {
                String::new()
            },
            torch.steps,
            torch.step_outputs,
            torch.step_differing,
            torch.step_explained,
            torch.step_emulation_matches,
            torch.step_outputs
        ));
    }
    if torch.layers > 0 {
        let rtl = if torch.rtl_layers > 0 {
            format!(
                "RTL = golden integer bit-exact on {} of {} layers; ",
                torch.rtl_exact, torch.rtl_layers
            )
        } else {
            String::new()
        };
        out.line(format_args!(
            "PyTorch cases: {}{} layers, {} outputs: integer vs PyTorch differs on {} (max|diff| {}), \
             {} of them explained by the PyTorch (fbgemm / oneDNN) emulation; emulation = PyTorch on {} of {} outputs",
            rtl,
            torch.layers,
            torch.outputs,
            torch.differing,
            torch.max_abs,
            torch.explained,
            torch.emulation_matches,
            torch.outputs
        ));
    }
    let json = meta.json_report(
        "layer",
        serde_json::json!({
            "backend": a.backend.name(),
            "verdict": if failed == 0 { "PASS" } else { "FAIL" },
            "passed": passed,
            "failed": failed,
            "results": records,
        }),
    );
    let xml = qmac::verify::report::junit_xml(
        &[qmac::verify::report::JunitSuite {
            name: "layer".into(),
            cases: junit_cases,
            system_out: String::new(),
        }],
        &meta,
    );
    crate::cmd::write_reports(
        &json,
        a.json.as_deref(),
        a.junit.as_deref().map(|p| (p, xml.as_str())),
        a.html.as_deref(),
        a.force,
        &out,
    )?;
    out.line(format_args!("{passed} passed, {failed} failed"));
    if failed > 0 {
        return Err(CheckFailed {
            summary: format!("{failed} of {} case(s) failed", passed + failed),
        }
        .into());
    }
    Ok(())
}
