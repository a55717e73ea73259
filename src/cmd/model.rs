//! `qmac model`: run a whole int8 TFLite model, its MAC ops on the RTL.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use qmac::cosim::dut::Dut;
use qmac::cosim::transaction::Backpressure;
use qmac::cosim::{Backend, RunOptions};
use qmac::error::{CheckFailed, InputError};
use qmac::formats::npy::{self, Int8Array};
use qmac::formats::tflite::Model;
use qmac::model::{self, GoldenEngine, MacEngine, ModelRun, ModelRunOptions, Plan, RtlEngine};

/// The long `--help` text of `qmac model`.
pub const LONG_ABOUT: &str = "Runs a whole int8 TFLite model (.tflite) op by op in execution order. The ops \
of the datapath's form run on the Verilated datapath through the same lowering as `qmac layer` (every output beat \
checked against the golden model), or on the golden model: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, \
TRANSPOSE_CONV (as the stride-1 CONV_2D over its zero-point-upsampled input) and MUL (one-tap dot products), with \
padding, per-channel multiplier/shift and activation bounds derived from the model's scales the way TFLite does. \
The other ops run on the golden model with TFLite 2.21's reference integer kernels: ADD, SUB, AVERAGE_POOL_2D, \
MAX_POOL_2D, MEAN, PAD, PADV2, RESHAPE, SOFTMAX, QUANTIZE, CONCATENATION, RELU, RELU6, LEAKY_RELU, PRELU, MAXIMUM, \
MINIMUM, HARD_SWISH, LOGISTIC, TANH, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, TRANSPOSE, SPACE_TO_DEPTH, \
DEPTH_TO_SPACE, STRIDED_SLICE, SPLIT and SPLIT_V, and DEQUANTIZE where it makes a float32 model output (compared bit \
for bit: float(double(scale)·(q − zp)), reference_ops::Dequantize). A model has one input and one or more outputs (--expect and \
--save-output take output 0; every output is compared through --tensors). A model of several inputs takes each sample \
as one .npz with a member t<index>_… per model input (the keying of --tensors, so a sample's --tensors file is also its \
--input).\n\nWith --tensors every intermediate tensor is compared \
with the reference (npz keys `t<index>_<name>`; the npz's model input must be the --input it is paired with), \
with --expect the final output. Prints a per-op table per input, names the first diverging op, and ends with \
`N passed, M failed` (one per input). Exit 0 iff every input passed, 1 if any failed, 2 on an input error (a \
malformed or unsupported model, a bad .npy/.npz, reference tensors of another input).";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model (.tflite FlatBuffer)
    pub model: PathBuf,
    /// Input sample(s): an int8 .npy of the model input's shape, or for a model of several inputs an .npz with a member t<index>_… per input (repeatable: one run per sample)
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Expected final output(s), .npy (int8; float32 when output 0 is a DEQUANTIZE), one per --input
    #[arg(long, num_args = 1..)]
    pub expect: Vec<PathBuf>,
    /// Reference intermediate tensors (.npz keyed `t<index>_<name>`), one per --input
    #[arg(long, num_args = 1..)]
    pub tensors: Vec<PathBuf>,
    /// Write the model's final output (.npy: int8, float32 for a DEQUANTIZE output), one file per --input
    #[arg(long, num_args = 1.., value_name = "OUT.npy")]
    pub save_output: Vec<PathBuf>,
    /// Where the datapath's ops run (conv, depthwise, FC, transpose conv, MUL); the others always run on the golden model
    #[arg(long, value_enum, default_value = "rtl")]
    pub backend: Backend,
    /// Write every MAC op of every input as a qcase JSON into DIR
    #[arg(long, value_name = "DIR")]
    pub dump_cases: Option<PathBuf>,
    /// Replace existing files in --dump-cases, --save-output, --json and --junit
    #[arg(long)]
    pub force: bool,
    /// Write the verdicts as JSON to FILE (`-`: only the JSON on stdout, the report on stderr)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables) to FILE; `qmac report` makes the same page from --json files
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a JUnit XML report to FILE: a testsuite per input, a testcase per op
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write an FST waveform of each input's RTL run into DIR (like cocotb's WAVES=1)
    #[arg(long, value_name = "DIR", env = "QMAC_WAVES")]
    pub waves: Option<PathBuf>,
    /// Colour PASS / FAIL: auto (a terminal, unless NO_COLOR is set), always or never
    #[arg(long, value_enum, default_value = "auto")]
    pub color: crate::cmd::Color,
    /// Inputs run in parallel, each on its own Verilated model; with fewer inputs than N each
    /// input's MAC ops are split across N / inputs models, one per core (1..=256)
    #[arg(long, default_value_t = 1, value_parser = crate::cmd::jobs_parser())]
    pub jobs: usize,
    /// Datapath width of the Verilated model (one of the built LANES values)
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
    /// Seed of the X-initialisation and of the backpressure
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Random valid/ready backpressure on both RTL streams
    #[arg(long)]
    pub backpressure: bool,
}

fn shape(s: &[usize]) -> String {
    if s.is_empty() {
        return "scalar".into();
    }
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map_or_else(|| "model".into(), |f| f.to_string_lossy().into_owned())
}

/// Check that the per-input lists line up with --input.
fn paired<'a>(
    what: &str,
    list: &'a [PathBuf],
    inputs: usize,
) -> Result<Vec<Option<&'a PathBuf>>, InputError> {
    if list.is_empty() {
        return Ok(vec![None; inputs]);
    }
    if list.len() != inputs {
        return Err(InputError::new(
            what,
            "arguments",
            format!(
                "{} file(s) given for {inputs} --input file(s); give one per input",
                list.len()
            ),
        ));
    }
    Ok(list.iter().map(Some).collect())
}

struct Job {
    input: PathBuf,
    /// One array per model input.
    data: Vec<Int8Array>,
    expect: Option<(PathBuf, model::Expected)>,
    tensors: Option<(PathBuf, npy::NpzTensors)>,
}

fn replay(a: &Args, job: &Job) -> String {
    let backend = a.backend.name();
    // Everything the verdict depended on: the replay checks the same references.
    let refs = job.expect.as_ref().map_or(String::new(), |(p, _)| {
        format!(" --expect {}", crate::cmd::sh(p.display()))
    }) + &job.tensors.as_ref().map_or(String::new(), |(p, _)| {
        format!(" --tensors {}", crate::cmd::sh(p.display()))
    });
    // A MAC op split across several DUTs gives each share its own
    // backpressure stream: the replay splits it the same way.
    let split = duts_per_input(a);
    format!(
        "qmac model {} --input {}{refs} --backend {backend} --lanes {} --seed {}{}{}",
        crate::cmd::sh(a.model.display()),
        crate::cmd::sh(job.input.display()),
        a.lanes,
        a.seed,
        if a.backpressure {
            " --backpressure"
        } else {
            ""
        },
        if split > 1 {
            format!(" --jobs {split}")
        } else {
            String::new()
        }
    )
}

/// Progress of a whole-model run over every input at once, in MACs (the
/// RTL reports them as results arrive, so a long op moves while it runs)
/// and ops: a bar on a terminal, else a line on stderr every 5 s.
struct Progress {
    total_macs: u64,
    total_ops: u64,
    ops_done: std::sync::atomic::AtomicU64,
    /// Per input: the MACs of its finished ops, and of its running op so far.
    done: Vec<std::sync::atomic::AtomicU64>,
    live: Vec<std::sync::atomic::AtomicU64>,
}

impl Progress {
    fn new(plan: &Plan, inputs: usize) -> Progress {
        let atomics = || {
            (0..inputs)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect()
        };
        Progress {
            total_macs: plan.macs() * inputs as u64,
            total_ops: (plan.steps.len() * inputs) as u64,
            ops_done: Default::default(),
            done: atomics(),
            live: atomics(),
        }
    }

    fn op_done(&self, input: usize, o: &model::OpReport) {
        use std::sync::atomic::Ordering::Relaxed;
        self.done[input].fetch_add(o.macs, Relaxed);
        self.live[input].store(0, Relaxed);
        self.ops_done.fetch_add(1, Relaxed);
    }

    /// (ops done, MACs done), summed over the inputs.
    fn now(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let macs: u64 = self
            .done
            .iter()
            .zip(&self.live)
            .map(|(d, l)| d.load(Relaxed) + l.load(Relaxed))
            .sum();
        (self.ops_done.load(Relaxed), macs.min(self.total_macs))
    }

    fn line(&self, secs: f64) -> String {
        let (ops, macs) = self.now();
        let pct = if self.total_macs > 0 {
            100.0 * macs as f64 / self.total_macs as f64
        } else {
            100.0 * ops as f64 / self.total_ops.max(1) as f64
        };
        format!(
            "{pct:.0}%: op {ops}/{}, {:.1}/{:.1} M MACs, {secs:.0} s",
            self.total_ops,
            macs as f64 / 1e6,
            self.total_macs as f64 / 1e6
        )
    }

    /// Run `work`, showing the progress until it returns.
    fn show_while<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        use std::io::IsTerminal;
        let stop = std::sync::atomic::AtomicBool::new(false);
        let start = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                let tty = std::io::stderr().is_terminal();
                let pb = indicatif::ProgressBar::new(100);
                pb.set_style(
                    indicatif::ProgressStyle::with_template("{bar:40} {msg}")
                        .expect("valid template"),
                );
                let mut last_line = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    let secs = start.elapsed().as_secs_f64();
                    if tty {
                        let (ops, macs) = self.now();
                        pb.set_position(
                            (100 * macs)
                                .checked_div(self.total_macs)
                                .unwrap_or(100 * ops / self.total_ops.max(1)),
                        );
                        pb.set_message(self.line(secs));
                    } else if last_line.elapsed().as_secs() >= 5 {
                        last_line = Instant::now();
                        eprintln!("qmac model: {}", self.line(secs));
                    }
                }
                pb.finish_and_clear();
            });
            let r = work();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            r
        })
    }
}

/// How many DUTs each input's MAC ops are split across: the cores --jobs
/// gives an input when there are fewer inputs than jobs.
fn duts_per_input(a: &Args) -> usize {
    (a.jobs / a.input.len().max(1)).max(1)
}

/// The per-op table of one run.
fn table(run: &ModelRun) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:>3}  {:<23} {:<27} {:>9}  {:<10} {:>8} {:>8}  mismatches",
        "op", "type", "input -> output", "MACs", "backend", "beats", "cycles"
    );
    for o in &run.ops {
        let io = format!(
            "{} -> {}",
            o.input_shapes
                .iter()
                .map(|s| shape(s))
                .collect::<Vec<_>>()
                .join(","),
            shape(&o.output_shape)
        );
        let (beats, cycles) = if o.beats > 0 {
            (o.beats.to_string(), o.cycles.to_string())
        } else {
            ("-".into(), "-".into())
        };
        let mut mism = match &o.reference {
            Some(v) => {
                let mut m = format!("{}/{}", v.diff.mismatches, v.diff.compared);
                if v.explained > 0 {
                    let _ = write!(m, " ({} explained)", v.explained);
                }
                if o.isolated {
                    m += " on ref inputs";
                }
                m
            }
            None => "(no reference)".into(),
        };
        if let Some(c) = o.chain.filter(|c| c.mismatches > 0) {
            let _ = write!(mism, "  chain {}/{}", c.mismatches, c.compared);
        }
        if let Some(d) = o.rtl_vs_golden {
            let _ = write!(mism, "  rtl-vs-golden {}", d.mismatches);
        }
        if o.beat_failures > 0 {
            let _ = write!(mism, "  beat checks failed {}", o.beat_failures);
        }
        let _ = writeln!(
            s,
            "  {:>3}  {:<23} {:<27} {:>9}  {:<10} {:>8} {:>8}  {}{}",
            o.index,
            o.name,
            io,
            o.macs,
            o.backend,
            beats,
            cycles,
            mism,
            if o.ok() { "" } else { "  <-- FAIL" }
        );
    }
    s
}

pub fn run(a: &Args) -> Result<()> {
    let model = Model::read(&a.model)?;
    let plan = Plan::new(&model)?;
    let expects = paired("--expect", &a.expect, a.input.len())?;
    let tensors = paired("--tensors", &a.tensors, a.input.len())?;
    let saves = paired("--save-output", &a.save_output, a.input.len())?;
    for p in saves.iter().flatten() {
        qmac::formats::check_output_path(p, "--save-output", a.force)?;
    }
    // Read every input file before running anything: bad input is exit 2 up front.
    let mut jobs = Vec::new();
    for (k, input) in a.input.iter().enumerate() {
        let data = model::read_inputs(&plan, input)?;
        let expect = expects[k]
            .map(|p| model::Expected::read(&plan, p).map(|t| (p.clone(), t)))
            .transpose()?;
        let tensors = tensors[k]
            .map(|p| npy::read_npz_tensors(p).map(|t| (p.clone(), t)))
            .transpose()?;
        if let Some((p, t)) = &tensors {
            model::check_reference_tensors(&plan, p, t)?;
            model::check_reference_input(&plan, input, &data, p, &t.0)?;
        }
        jobs.push(Job {
            input: input.clone(),
            data,
            expect,
            tensors,
        });
    }
    crate::cmd::check_report_paths(
        a.json.as_deref(),
        a.junit.as_deref(),
        a.html.as_deref(),
        a.force,
    )?;
    // No two outputs (and no output and an input) may name one file: one
    // would replace the other, --force or not.
    let mut files =
        crate::cmd::report_files(a.json.as_deref(), a.junit.as_deref(), a.html.as_deref());
    files.extend(
        saves
            .iter()
            .map(|p| ("--save-output", p.map(|p| p.as_path()))),
    );
    crate::cmd::distinct_files(&files)?;
    let inputs = a
        .input
        .iter()
        .map(|p| ("--input", p))
        .chain(a.expect.iter().map(|p| ("--expect", p)))
        .chain(a.tensors.iter().map(|p| ("--tensors", p)))
        .chain([("the model", &a.model)]);
    for (flag, p) in inputs {
        for &(out_flag, out) in &files {
            crate::cmd::distinct_files(&[(flag, Some(p.as_path())), (out_flag, out)])?;
        }
    }
    if let Some(dir) = &a.waves {
        if !a.backend.uses_rtl() {
            return Err(InputError::new(
                "--waves",
                "value",
                "needs the RTL (--backend rtl or both)",
            )
            .into());
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| InputError::new(dir, "--waves", format!("cannot create: {e}")))?;
    }
    let out = crate::cmd::Out::new(a.json.as_deref());
    let paint = crate::cmd::Paint::new(a.color);
    let meta =
        qmac::verify::report::RunMeta::now(a.seed, a.lanes, qmac::cosim::dut::built_mult_w());
    let mut records: Vec<serde_json::Value> = Vec::new();
    let mut suites: Vec<qmac::verify::report::JunitSuite> = Vec::new();
    if a.backend != Backend::Golden {
        // Before anything runs or prints.
        qmac::cosim::dut::check_lanes(a.lanes)
            .map_err(|e| InputError::new("--lanes", "value", e))?;
    }
    // All or nothing: cases are written into a staging directory and moved
    // into --dump-cases (with an index.json) only when every input has run.
    let dump = a
        .dump_cases
        .as_deref()
        .map(|d| qmac::formats::StagedDir::new(d, "--dump-cases", a.force))
        .transpose()?;
    let mut dumped: Vec<String> = Vec::new();
    let backend = a.backend;
    // By model op: a SPLIT is one op whatever its number of outputs.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for s in plan.steps.iter().filter(|s| seen.insert(s.index)) {
        *counts.entry(s.name.clone()).or_default() += 1;
    }
    let census: Vec<String> = counts.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    out.line(format_args!(
        "qmac model {}: {} ops ({}), {} MACs on the datapath; backend {}{}; {} input(s)",
        file_name(&a.model),
        seen.len(),
        census.join(", "),
        plan.macs(),
        a.backend.name(),
        if !backend.uses_rtl() {
            String::new()
        } else {
            format!(
                ", LANES={} MULT_W={}, seed {}",
                a.lanes,
                qmac::cosim::dut::built_mult_w(),
                a.seed
            )
        },
        jobs.len()
    ));
    if plan.inputs.len() > 1 {
        out.line(format_args!(
            "{} model inputs ({}): each --input is an .npz with a member t<index>_… for each",
            plan.inputs.len(),
            plan.inputs
                .iter()
                .map(|i| format!("t{} `{}` {:?}", i.tensor, i.name, i.shape))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if plan.outputs.len() > 1 {
        out.line(format_args!(
            "{} model outputs (tensors {}): --expect and --save-output are output 0 (tensor {}); every output is compared through --tensors",
            plan.outputs.len(),
            plan.outputs.iter().map(|o| o.to_string()).collect::<Vec<_>>().join(", "),
            plan.output
        ));
    }

    let progress = Progress::new(&plan, jobs.len());
    let workers = a.jobs.min(jobs.len()).max(1);
    let duts_per_worker = duts_per_input(a);
    let never = std::sync::atomic::AtomicBool::new(false);
    // One input per job, each worker with its own Verilated models: one,
    // or, when there are fewer inputs than --jobs, one per share of the
    // cores, each MAC op split across them.
    let results = progress.show_while(|| {
        qmac::verify::pool::run_indexed(
            jobs.len() as u64,
            workers,
            &never,
            |duts: &mut Option<Vec<Dut>>, k| {
                let job = &jobs[k as usize];
                let on_op = |o: &model::OpReport| progress.op_done(k as usize, o);
                Some((|| -> Result<(ModelRun, f64)> {
                    if backend.uses_rtl() && duts.is_none() {
                        let mut v = Vec::new();
                        for _ in 0..duts_per_worker {
                            v.push(Dut::new(a.lanes, a.seed, a.waves.is_some())?);
                        }
                        *duts = Some(v);
                    }
                    if let (Some(d), Some(dir)) = (duts.as_mut(), &a.waves) {
                        for (i, d) in d.iter_mut().enumerate() {
                            let name = if i == 0 {
                                format!("{}.fst", file_name(&job.input))
                            } else {
                                format!("{}.dut{i}.fst", file_name(&job.input))
                            };
                            d.trace_open(&dir.join(name))?;
                        }
                    }
                    let opt = ModelRunOptions {
                        reference: job.tensors.as_ref().map(|(p, t)| (p.as_path(), &t.0)),
                        expect: job.expect.as_ref().and_then(|(_, t)| t.int8()),
                        reference_f32: job.tensors.as_ref().map(|(_, t)| &t.1),
                        expect_f32: job.expect.as_ref().and_then(|(_, t)| t.float32()),
                        on_op: &on_op,
                        keep_cases: a.dump_cases.is_some(),
                    };
                    let start = Instant::now();
                    let mut golden = GoldenEngine;
                    let mut rtl;
                    let engine: &mut dyn MacEngine = match duts.as_mut() {
                        Some(duts) => {
                            rtl = RtlEngine {
                                duts,
                                cosim: RunOptions {
                                    seed: a.seed,
                                    backpressure: if a.backpressure {
                                        Backpressure::RANDOM
                                    } else {
                                        Backpressure::NONE
                                    },
                                    replay: replay(a, job),
                                    stop_on_failure: false,
                                    coverage: false,
                                },
                                both: backend == Backend::Both,
                                progress: Some(&progress.live[k as usize]),
                            };
                            &mut rtl
                        }
                        None => &mut golden,
                    };
                    let run = model::run(&plan, &job.input, &job.data, engine, &opt);
                    if let Some(d) = duts.as_mut().filter(|_| a.waves.is_some()) {
                        d.iter_mut().for_each(Dut::trace_close);
                    }
                    Ok((run?, start.elapsed().as_secs_f64()))
                })())
            },
        )
    });

    let (mut passed, mut failed) = (0usize, 0usize);
    for (k, (job, (_, r))) in jobs.iter().zip(results).enumerate() {
        let (run, secs) = r?;
        out.line(format_args!("input {}", job.input.display()));
        out.line(table(&run).trim_end());
        if let (Some(stage), Some(dir)) = (&dump, &a.dump_cases) {
            for (case, step) in run
                .cases
                .iter()
                .zip(plan.steps.iter().filter(|s| s.macs() > 0))
            {
                // `mbnet.input0.npy` of `mbnet.tflite` gives `mbnet.input0.op03…`,
                // not `mbnet.mbnet.input0.op03…`.
                let (m, i) = (stem(&a.model), stem(&job.input));
                let input = i.strip_prefix(&format!("{m}.")).unwrap_or(&i);
                let name = format!("{m}.{input}.op{:02}.{}.json", step.index, case.op.name());
                case.write_json(&stage.path().join(&name), false)?;
                dumped.push(name);
            }
            out.line(format_args!(
                "  wrote {} qcase file(s) into {}",
                run.cases.len(),
                dir.display()
            ));
        }
        if let Some(p) = saves[k] {
            match plan.float_output(plan.output) {
                Some(_) => npy::write_npy_f32(
                    p,
                    &run.output.shape,
                    &qmac::golden::ops::dequantize(&run.output),
                    a.force,
                )?,
                None => npy::write_npy_int8(p, &run.output.shape, &run.output.data, a.force)?,
            }
            out.line(format_args!(
                "  wrote the output {:?} to {}",
                run.output.shape,
                p.display()
            ));
        }
        let ok = run.passed();
        let refs = match (&job.tensors, &run.expect) {
            (None, None) => "no reference given".to_string(),
            _ => {
                let differing = run
                    .ops
                    .iter()
                    .filter_map(|o| o.reference.as_ref())
                    .filter(|v| v.diff.mismatches > 0);
                let (mut bad, mut explained) = (0, 0);
                for v in differing {
                    if v.passed() {
                        explained += 1;
                    } else {
                        bad += 1;
                    }
                }
                if let Some(e) = run.expect.as_ref().filter(|e| e.diff.mismatches > 0) {
                    if e.passed() {
                        explained += 1;
                    } else {
                        bad += 1;
                    }
                }
                let values: usize = run
                    .ops
                    .iter()
                    .filter_map(|o| o.reference.as_ref())
                    .map(|v| v.diff.compared)
                    .sum::<usize>()
                    + run.expect.as_ref().map_or(0, |e| e.diff.compared);
                format!(
                    "{} tensor(s){} compared ({values} values), {bad} mismatching{}",
                    run.tensors_compared,
                    if run.expect.is_some() {
                        " + final output"
                    } else {
                        ""
                    },
                    if explained > 0 {
                        format!(", {explained} differing with every difference explained")
                    } else {
                        String::new()
                    }
                )
            }
        };
        let hw = if !backend.uses_rtl() {
            String::new()
        } else {
            format!(
                ", {} beats, {} cycles on the RTL",
                run.beats(),
                run.cycles()
            )
        };
        out.line(format_args!(
            "{} {}: {} ops, {refs}; {} MACs{hw}; {:.2} s",
            if ok {
                paint.pass("PASS")
            } else {
                paint.fail("FAIL")
            },
            file_name(&job.input),
            seen.len(),
            run.macs(),
            secs
        ));
        for n in &run.notes {
            out.line(format_args!("  {n}"));
        }
        if !ok {
            if let Some(o) = run.first_divergence() {
                out.line(format_args!(
                    "  first diverging op: {} ({})",
                    o.index, o.name
                ));
            }
            for m in run.failure_messages.iter().take(20) {
                out.line(format_args!("  {m}"));
            }
            out.line(format_args!("  replay: {}", replay(a, job)));
            failed += 1;
        } else {
            passed += 1;
        }
        let replay_cmd = replay(a, job);
        let op_json = |o: &qmac::model::OpReport| {
            serde_json::json!({
                "index": o.index,
                "op": o.name,
                "output_shape": o.output_shape,
                "macs": o.macs,
                "backend": o.backend,
                "beats": o.beats,
                "cycles": o.cycles,
                "dots": o.dots,
                "ok": o.ok(),
                "rtl_vs_golden_mismatches": o.rtl_vs_golden.map(|d| d.mismatches),
                "beat_failures": o.beat_failures,
                "reference": o.reference.as_ref().map(|v| serde_json::json!({
                    "compared": v.diff.compared,
                    "mismatches": v.diff.mismatches,
                    "explained": v.explained,
                    "cause": v.cause,
                    "max_abs_diff": v.diff.max_abs,
                    "on_reference_inputs": o.isolated,
                })),
                "chain_mismatches": o.chain.map(|d| d.mismatches),
                "input_shapes": o.input_shapes,
                "wall_s": o.wall_s,
            })
        };
        records.push(serde_json::json!({
            "input": job.input.display().to_string(),
            "verdict": if ok { "PASS" } else { "FAIL" },
            "ops": run.ops.iter().map(op_json).collect::<Vec<_>>(),
            "first_diverging_op": run.first_divergence().map(|o| o.index),
            "expect": run.expect.as_ref().map(|e| serde_json::json!({
                "compared": e.diff.compared,
                "mismatches": e.diff.mismatches,
                "max_abs_diff": e.diff.max_abs,
                "explained_by": e.explained_by,
            })),
            "values_compared": run
                .ops
                .iter()
                .filter_map(|o| o.reference.as_ref())
                .map(|v| v.diff.compared)
                .sum::<usize>()
                + run.expect.as_ref().map_or(0, |e| e.diff.compared),
            "notes": run.notes,
            "failures": run.failure_messages,
            "wall_s": secs,
            "replay": replay_cmd,
        }));
        suites.push(qmac::verify::report::JunitSuite {
            name: file_name(&job.input),
            cases: run
                .ops
                .iter()
                .map(|o| qmac::verify::report::JunitCase {
                    classname: format!("qmac.model.{}", file_name(&a.model)),
                    name: format!("op{:02}_{}", o.index, o.name),
                    time: secs / run.ops.len().max(1) as f64,
                    failure: (!o.ok()).then(|| {
                        (
                            "op verdict".to_string(),
                            format!("op {} ({}) differs", o.index, o.name),
                            format!("{}\nreplay: {replay_cmd}", run.failure_messages.join("\n")),
                        )
                    }),
                })
                .chain((!ok && run.ops.iter().all(|o| o.ok())).then(|| {
                    qmac::verify::report::JunitCase {
                        classname: format!("qmac.model.{}", file_name(&a.model)),
                        name: "final_output".into(),
                        time: 0.0,
                        failure: Some((
                            "model verdict".into(),
                            "the final output differs from --expect".into(),
                            format!("{}\nreplay: {replay_cmd}", run.failure_messages.join("\n")),
                        )),
                    }
                }))
                .collect(),
            system_out: format!("replay: {replay_cmd}\n{}", run.notes.join("\n")),
        });
    }
    if let (Some(stage), Some(dir)) = (dump, &a.dump_cases) {
        let index = serde_json::json!({
            "generator": "qmac model --dump-cases",
            "model": a.model.display().to_string(),
            "cases": dumped.iter().map(|f| serde_json::json!({ "file": f })).collect::<Vec<_>>(),
        });
        let mut f = qmac::formats::create_file(&stage.path().join("index.json"), false, "--force")?;
        std::io::Write::write_all(
            &mut f,
            (serde_json::to_string_pretty(&index)? + "\n").as_bytes(),
        )?;
        stage.commit()?;
        out.line(format_args!(
            "dumped {} qcase file(s) and index.json into {} (run them: qmac layer {}/index.json)",
            dumped.len(),
            dir.display(),
            dir.display()
        ));
    }
    let json = meta.json_report(
        "model",
        serde_json::json!({
            "model": a.model.display().to_string(),
            "backend": a.backend.name(),
            "verdict": if failed == 0 { "PASS" } else { "FAIL" },
            "passed": passed,
            "failed": failed,
            "results": records,
        }),
    );
    let xml = qmac::verify::report::junit_xml(&suites, &meta);
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
            summary: format!("{failed} of {} model input(s) failed", passed + failed),
        }
        .into());
    }
    Ok(())
}
