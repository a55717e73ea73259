//! `qmac regress`: named regression suites on the Verilated RTL.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use qmac::error::{CheckFailed, InputError};
use qmac::verify::regress::{self, Outcome, RunConfig};

/// The long `--help` text of `qmac regress`.
pub const LONG_ABOUT: &str = "Runs named test suites on the Verilated RTL, every output beat checked against the golden \
model (value, accumulator, overflow flag, order, lost / duplicated / input-less outputs, latency, stability \
under backpressure, cfg priority, progress: a watchdog and a cycle bound end every run with a verdict).\n\n\
Suites: smoke (directed dot products and a stall-free throughput run that must reach 1 beat/cycle), corners \
(rounding ties of both signs, double vs single rounding, shift extremes, SRDHM saturation, accumulator wrap \
including a 65 794-tap reduction, operand extremes, clamps, mode switches; with and without random backpressure; \
a lazy consumer; the cfg port as the contract allows: lone register writes right before a beat, writes in any \
order, unmapped addresses, resets mid-traffic, reset values relied on), \
random (long constrained-random runs with backpressure and parameter reloads), layers (the real TFLite layer cases \
built into qmac), models (three whole int8 TFLite models and five op probes with two inputs each, built into qmac, every \
tensor compared with TFLite's), all (every suite; the default). --list shows the tests; --test selects by exact \
name, glob or substring.\n\n\
Each test's stimulus and X-initialisation derive from (--seed, test name), so the outcome does not depend on \
--jobs. A failure prints the cycle, lane, expected and actual values, the dot product's inputs and parameters and \
the command that replays it. Exit 0 iff every test passed, 1 otherwise, 2 on bad input.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Suites to run, comma-separated or repeated: smoke, corners, random, layers, models or all
    #[arg(long, value_delimiter = ',', default_value = "all", env = "QMAC_SUITE")]
    pub suite: Vec<String>,
    /// Seed of every random choice (stimulus, backpressure, X-initialisation)
    #[arg(long, default_value_t = 1, env = "QMAC_SEED")]
    pub seed: u64,
    /// Parallel DUT instances, 1..=256 (default: the number of CPUs)
    #[arg(long, value_parser = crate::cmd::jobs_parser())]
    pub jobs: Option<usize>,
    /// Datapath width of the Verilated model (one of the built LANES values)
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
    /// Tests to run: exact names (`suite/name` or `name`), globs (`corners/tie*`)
    /// or substrings; comma-separated or repeated
    #[arg(long, value_delimiter = ',', env = "QMAC_TEST")]
    pub test: Vec<String>,
    /// List the suites, their tests and the coverage bins, and exit
    #[arg(long)]
    pub list: bool,
    /// Number of tests in the random suite (4000 dot products each)
    #[arg(long, default_value_t = 32)]
    pub random_tests: usize,
    /// Write a JUnit XML report to FILE (Ant JUnit schema: Jenkins, GitLab)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the results as JSON to FILE (`-` for stdout, the only output then)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables) to FILE; `qmac report` makes the same page from --json files
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Run only shard K of N (tests i with i mod N = K-1), for CI matrices / array jobs
    #[arg(long, value_parser = crate::cmd::fuzz::parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Write the run's functional coverage as JSON to FILE (merge shards with `qmac coverage merge`)
    #[arg(long, value_name = "FILE")]
    pub coverage: Option<PathBuf>,
    /// Write an FST waveform of each failing test into DIR
    #[arg(long, value_name = "DIR", conflicts_with = "waves")]
    pub wave_on_fail: Option<PathBuf>,
    /// Write an FST waveform of every test into DIR (like cocotb's WAVES=1)
    #[arg(long, value_name = "DIR", env = "QMAC_WAVES")]
    pub waves: Option<PathBuf>,
    /// Replace existing --junit, --json and --coverage files
    #[arg(long)]
    pub force: bool,
    /// Print the whole coverage table (else the bins hit and any missed)
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only failures and the final line
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour PASS / FAIL: auto (a terminal, unless NO_COLOR is set), always or never
    #[arg(long, value_enum, default_value = "auto")]
    pub color: crate::cmd::Color,
}

#[derive(Default)]
struct Row {
    tests: usize,
    failed: usize,
    dots: u64,
    beats: u64,
    cycles: u64,
    stream_cycles: u64,
    lane_results: u64,
    wall: f64,
}

pub fn run(a: &Args) -> Result<()> {
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mult_w = qmac::cosim::dut::built_mult_w();
    let suite_names = a.suite.join(",");
    let mut tests = Vec::new();
    for s in &a.suite {
        for t in regress::tests(s, a.lanes, mult_w, a.seed, a.random_tests)? {
            // A test named twice (`--suite corners,all`) runs once.
            if !tests
                .iter()
                .any(|u: &regress::Test| u.suite == t.suite && u.name == t.name)
            {
                tests.push(t);
            }
        }
    }
    if a.list {
        for t in &tests {
            println!("{}/{}", t.suite, t.name);
        }
        println!("coverage bins:");
        for b in qmac::cosim::coverage::Bin::ALL {
            println!("  {:<22} {}", b.name(), b.what());
        }
        return Ok(());
    }
    let mut tests =
        regress::select(tests, &a.test).map_err(|e| InputError::new("--test", "value", e))?;
    if let Some((k, n)) = a.shard {
        tests = tests
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % n == k - 1)
            .map(|(_, t)| t)
            .collect();
    }
    if tests.is_empty() {
        // A run that checks nothing is not a PASS; an empty CI shard says so and passes.
        if let Some((k, n)) = a.shard {
            println!("qmac regress: 0 tests in shard {k}/{n} of suite {suite_names} (nothing to run here)");
            return Ok(());
        }
        return Err(CheckFailed {
            summary: format!("nothing checked: suite `{suite_names}` selects 0 tests"),
        }
        .into());
    }
    // Output paths before any work: a typo must not cost a whole run.
    let json_stdout = a.json.as_deref() == Some(std::path::Path::new("-"));
    crate::cmd::check_report_paths(
        a.json.as_deref(),
        a.junit.as_deref(),
        a.html.as_deref(),
        a.force,
    )?;
    if let Some(p) = &a.coverage {
        qmac::formats::check_output_path(p, "--coverage", a.force)?;
    }
    let mut files =
        crate::cmd::report_files(a.json.as_deref(), a.junit.as_deref(), a.html.as_deref());
    files.insert(0, ("--coverage", a.coverage.as_deref()));
    crate::cmd::distinct_files(&files)?;
    let (wave_dir, flag) = match (&a.wave_on_fail, &a.waves) {
        (Some(d), _) => (Some(d), "--wave-on-fail"),
        (None, Some(d)) => (Some(d), "--waves"),
        _ => (None, ""),
    };
    if let Some(d) = wave_dir {
        if d.exists() && !d.is_dir() {
            return Err(InputError::new(d, flag, "exists and is not a directory").into());
        }
    }
    // Fail early on a LANES value this build has no model for.
    qmac::cosim::dut::check_lanes(a.lanes)
        .map_err(|e| qmac::error::InputError::new("--lanes", "value", e))?;
    let paint = crate::cmd::Paint::new(a.color);
    let quiet = a.quiet || json_stdout;
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    say(format!(
        "qmac regress: suite {}{}, {} test{}, LANES={} MULT_W={}, seed {}, jobs {}, RTL {} (sha256 {})",
        suite_names,
        a.shard.map_or(String::new(), |(k, n)| format!(" shard {k}/{n}")),
        tests.len(),
        if tests.len() == 1 { "" } else { "s" },
        a.lanes,
        mult_w,
        a.seed,
        jobs,
        qmac::cosim::dut::RTL_DIR,
        &qmac::cosim::dut::RTL_SHA256[..16]
    ));
    let meta = regress::RunMeta::now(a.seed, a.lanes, mult_w);
    let (lanes, seed) = (a.lanes, a.seed);
    let cfg = RunConfig {
        lanes,
        seed,
        jobs,
        wave_on_fail: wave_dir.cloned(),
        waves_always: a.waves.is_some(),
        replay: Box::new(move |t| {
            format!(
                "qmac regress --suite {} --test '{}' --seed {seed} --lanes {lanes} --jobs 1",
                t.suite, t.name
            )
        }),
    };
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(tests.len() as u64)
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tests {elapsed_precise}")
            .expect("valid template"),
    );
    let start = Instant::now();
    let outcomes = regress::run_tests(&tests, &cfg, &pb)?;
    pb.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    if !quiet {
        print_table(&outcomes, wall);
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    if !json_stdout {
        for o in &failed {
            println!("{} {}/{}", paint.fail("FAIL"), o.suite, o.name);
            for m in o.messages() {
                println!("  {m}");
            }
            if let Some(w) = &o.wave {
                println!("  waveform: {}", w.display());
            }
        }
    }
    let mut cov = qmac::cosim::coverage::Coverage::default();
    for o in &outcomes {
        cov.merge(&o.stats.coverage);
    }
    if a.verbose {
        print!("{}", cov.table());
    } else {
        say(cov.summary());
    }
    if let Some(dir) = &a.waves {
        say(format!(
            "waveforms: {} FST file(s) in {}",
            outcomes.iter().filter(|o| o.wave.is_some()).count(),
            dir.display()
        ));
    }
    let write = |path: &PathBuf, text: &str| -> Result<()> {
        std::io::Write::write_all(
            &mut qmac::formats::create_file(path, a.force, "--force")?,
            text.as_bytes(),
        )
        .with_context(|| format!("writing {}", path.display()))
    };
    cov.sources = vec![qmac::cosim::coverage::Source {
        tool: "qmac regress".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        seed: a.seed,
        shard: a.shard.map(|(k, n)| format!("{k}/{n}")),
        runs: outcomes.len() as u64,
        lanes: a.lanes,
        mult_w,
    }];
    if let Some(path) = &a.coverage {
        write(path, &cov.to_json())?;
        say(format!("coverage JSON: {}", path.display()));
    }
    let junit = a.junit.as_ref().map(|_| regress::junit(&outcomes, &meta));
    crate::cmd::write_reports(
        &regress::json(&outcomes, &meta, &cov, wall),
        a.json.as_deref(),
        a.junit.as_deref().zip(junit.as_deref()),
        a.html.as_deref(),
        a.force,
        &crate::cmd::Out {
            quiet,
            ..crate::cmd::Out::new(a.json.as_deref())
        },
    )?;
    if !json_stdout {
        let line = format!(
            "{} passed, {} failed",
            outcomes.len() - failed.len(),
            failed.len()
        );
        println!(
            "{}",
            if failed.is_empty() {
                paint.pass(&line)
            } else {
                paint.fail(&line)
            }
        );
    }
    if !failed.is_empty() {
        return Err(CheckFailed {
            summary: format!("{} of {} tests failed", failed.len(), outcomes.len()),
        }
        .into());
    }
    Ok(())
}

fn print_table(outcomes: &[Outcome], wall: f64) {
    println!(
        "{:<8} {:>5} {:>6} {:>6} {:>9} {:>10} {:>10} {:>11} {:>11} {:>8}",
        "suite",
        "tests",
        "passed",
        "failed",
        "dots",
        "beats",
        "cycles",
        "beats/cycle",
        "lane checks",
        "cpu s"
    );
    let mut total = Row::default();
    let mut rows: Vec<(&str, Row)> = Vec::new();
    for o in outcomes {
        let idx = match rows.iter().position(|(s, _)| *s == o.suite) {
            Some(i) => i,
            None => {
                rows.push((o.suite, Row::default()));
                rows.len() - 1
            }
        };
        for r in [&mut rows[idx].1, &mut total] {
            r.tests += 1;
            r.failed += usize::from(!o.passed());
            r.dots += o.stats.dots;
            r.beats += o.stats.beats;
            r.cycles += o.stats.cycles;
            r.stream_cycles += o.stats.stream_cycles;
            r.lane_results += o.stats.lane_results;
            r.wall += o.wall.as_secs_f64();
        }
    }
    rows.push(("total", total));
    for (name, r) in &rows {
        println!(
            "{:<8} {:>5} {:>6} {:>6} {:>9} {:>10} {:>10} {:>11.3} {:>11} {:>8.2}",
            name,
            r.tests,
            r.tests - r.failed,
            r.failed,
            r.dots,
            r.beats,
            r.cycles,
            if r.stream_cycles == 0 {
                0.0
            } else {
                r.beats as f64 / r.stream_cycles as f64
            },
            r.lane_results,
            r.wall
        );
    }
    let t = &rows.last().expect("total row").1;
    println!(
        "wall {:.2} s: {:.0} beats/s, {:.0} cycles/s simulated (all DUTs, full checking)",
        wall,
        t.beats as f64 / wall,
        t.cycles as f64 / wall
    );
}
