//! `qmac fuzz`: constrained-random fuzzing with coverage, shrinking and replay.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use qmac::cosim::dut::Dut;
use qmac::error::{CheckFailed, InputError};
use qmac::verify::fuzz;

/// The long `--help` text of `qmac fuzz`.
pub const LONG_ABOUT: &str = "Runs constrained-random transactions (parameter sets and dot products aimed at the \
edges: rounding ties of both signs, double vs single rounding, shift and multiplier extremes, QuantizeMultiplier \
carries, SRDHM saturation, accumulators near +-2^31 and 65 794-tap wraps, operand extremes, clamps, mode \
switches and reloads, under random / heavy / stall-on-first-or-last backpressure) through the RTL on J parallel \
DUTs, each checked against the golden model. Iteration i of seed S is a pure function of (S, i), so the same \
seed and iteration count give the same transactions and coverage counts for any --jobs.\n\n\
Prints the coverage table and writes it as JSON. On a mismatch the lowest failing iteration is shrunk \
(no backpressure, fewer dot products and taps, smaller operands, simpler parameters) while it still fails; the \
minimal transaction is written as a repro file with its waveform, with the exact replay command \
(`qmac fuzz --replay FILE`). Repros copied into tests/regressions/ are replayed by `cargo test`.\n\n\
Exit 0 if every iteration passed, 1 on a mismatch (or --until-covered without full coverage), 2 on bad input.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seed (default: derived from the clock, and printed)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Iterations to run (default 3000; with --duration: unlimited, with
    /// --until-covered: at most 1 000 000, unless given); at least 1
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Run for this long instead (e.g. 90s, 10m, 1h); iterations stay a pure function of the seed
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop as soon as every coverage bin is hit (fails if the budget ends first)
    #[arg(long)]
    pub until_covered: bool,
    /// Parallel DUTs, 1..=256 (default: the number of CPUs)
    #[arg(long, value_parser = crate::cmd::jobs_parser())]
    pub jobs: Option<usize>,
    /// Datapath width (one of the built LANES values)
    #[arg(long, default_value_t = 8)]
    pub lanes: usize,
    /// Directory for the coverage JSON, repro files and waveforms
    #[arg(long, default_value = "qmac-fuzz")]
    pub out: PathBuf,
    /// Run only shard K of N (iterations i with i mod N = K-1), for CI matrices / array jobs
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Maximum simulation runs spent shrinking a failure
    #[arg(long, default_value_t = 3000)]
    pub shrink_budget: usize,
    /// Replay a transaction file (a repro) instead of fuzzing
    #[arg(long, value_name = "FILE", conflicts_with_all = ["duration", "until_covered", "shard"])]
    pub replay: Option<PathBuf>,
    /// With --replay: write the waveform of the replay into DIR
    #[arg(long, value_name = "DIR", requires = "replay")]
    pub wave: Option<PathBuf>,
    /// Replace an existing coverage file of this seed (and shard) in --out
    #[arg(long)]
    pub force: bool,
    /// Print the whole coverage table (else the bins hit and any missed; `qmac coverage show` prints it later)
    #[arg(short, long)]
    pub verbose: bool,
    /// Write the campaign's result as JSON to FILE (`-`: only the JSON on stdout, the report on stderr)
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (charts, tables) to FILE; `qmac report` makes the same page from --json files
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: unit must be s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not K/N"))?;
    let k: u64 = k.parse().map_err(|_| format!("`{s}`: K is not a number"))?;
    let n: u64 = n.parse().map_err(|_| format!("`{s}`: N is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("`{s}`: need 1 <= K <= N"));
    }
    Ok((k, n))
}

fn replay(a: &Args, path: &PathBuf) -> Result<()> {
    let tx = fuzz::read(path)?;
    if tx.mult_w != qmac::cosim::dut::built_mult_w() {
        return Err(InputError::new(
            path,
            "field `mult_w`",
            format!(
                "{} but this qmac's model has MULT_W={}",
                tx.mult_w,
                qmac::cosim::dut::built_mult_w()
            ),
        )
        .into());
    }
    let mut dut = Dut::new(tx.lanes, tx.bp_seed, a.wave.is_some())?;
    if let Some(dir) = &a.wave {
        std::fs::create_dir_all(dir)?;
        let w = dir.join(format!(
            "{}.fst",
            path.file_stem()
                .map_or("replay".into(), |s| s.to_string_lossy().to_string())
        ));
        dut.trace_open(&w)?;
        println!("waveform: {}", w.display());
    }
    let st = fuzz::run(
        &mut dut,
        &tx,
        &format!("qmac fuzz --replay {}", crate::cmd::sh(path.display())),
    );
    dut.trace_close();
    println!(
        "replay {}: {} dot products, {} taps, {} beats, {} cycles, LANES={}",
        path.display(),
        tx.dots(),
        tx.taps(),
        st.beats,
        st.cycles,
        tx.lanes
    );
    if !st.passed() {
        for f in &st.failures {
            println!("  {}", f.message);
        }
        println!("0 passed, 1 failed");
        return Err(CheckFailed {
            summary: "the replayed transaction fails".into(),
        }
        .into());
    }
    println!("1 passed, 0 failed");
    Ok(())
}

pub fn run(a: &Args) -> Result<()> {
    if let Some(p) = &a.replay {
        return replay(a, p);
    }
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 & 0xffff_ffff)
    });
    let budget = a.iterations.unwrap_or(if a.duration.is_some() {
        u64::MAX
    } else if a.until_covered {
        1_000_000
    } else {
        3000
    });
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let (shard_k, shard_n) = a.shard.unwrap_or((1, 1));
    let lanes = a.lanes;
    let w = qmac::cosim::dut::built_mult_w();
    qmac::cosim::dut::check_lanes(lanes).map_err(|e| InputError::new("--lanes", "value", e))?;
    // The report paths first: a refused one leaves nothing behind.
    crate::cmd::check_report_paths(a.json.as_deref(), None, a.html.as_deref(), a.force)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // The coverage file is checked before the campaign, not after it.
    let cov_path = a.out.join(format!(
        "coverage-seed{seed}{}.json",
        a.shard
            .map_or(String::new(), |(k, n)| format!("-shard{k}of{n}"))
    ));
    qmac::formats::check_output_path(&cov_path, "--out", a.force)?;
    let out = crate::cmd::Out::new(a.json.as_deref());
    let meta = qmac::verify::report::RunMeta::now(seed, lanes, w);
    let shard_s = a
        .shard
        .map_or(String::new(), |(k, n)| format!(" --shard {k}/{n}"));
    out.line(format_args!(
        "qmac fuzz: seed {seed}, LANES={lanes} MULT_W={w}, jobs {jobs}, budget {} iterations{}{}{}",
        if budget == u64::MAX {
            "unlimited".to_string()
        } else {
            budget.to_string()
        },
        a.duration
            .map_or(String::new(), |d| format!(", duration {}s", d.as_secs())),
        if a.until_covered {
            ", until covered"
        } else {
            ""
        },
        shard_s
    ));
    let pb = if budget == u64::MAX {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} iterations {elapsed_precise}")
                .expect("template"),
        );
        pb
    } else {
        let pb = indicatif::ProgressBar::new(budget);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} iterations {elapsed_precise}",
            )
            .expect("template"),
        );
        pb
    };
    let campaign = fuzz::campaign::Campaign {
        seed,
        budget,
        deadline: a.duration.map(|d| Instant::now() + d),
        until_covered: a.until_covered,
        jobs,
        lanes,
        mult_w: w,
        shard: (shard_k, shard_n),
    };
    let start = Instant::now();
    let outcome = campaign.run(&|| pb.inc(1))?;
    pb.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let cov = outcome.coverage;
    let first_hit = outcome.first_hit;
    let (iters, dots, beats, cycles) = (
        outcome.iterations,
        outcome.dots,
        outcome.beats,
        outcome.cycles,
    );
    if a.verbose {
        out.line(cov.table().trim_end());
    } else {
        out.line(format_args!("{}", cov.summary()));
    }
    let mut cov = cov;
    cov.sources = vec![qmac::cosim::coverage::Source {
        tool: "qmac fuzz".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        seed,
        shard: a.shard.map(|(k, n)| format!("{k}/{n}")),
        runs: iters,
        lanes,
        mult_w: w,
    }];
    std::io::Write::write_all(
        &mut qmac::formats::create_file(&cov_path, a.force, "--force")?,
        cov.to_json().as_bytes(),
    )
    .with_context(|| format!("writing {}", cov_path.display()))?;
    out.line(format_args!("coverage JSON: {}", cov_path.display()));
    out.line(format_args!(
        "seed {seed}: {iters} iterations, {dots} dot products, {beats} beats, {cycles} cycles in {wall:.1} s ({:.0} beats/s)",
        beats as f64 / wall
    ));
    let mut coverage_json = cov.summary_json();
    coverage_json["file"] = cov_path.display().to_string().into();
    coverage_json["first_hit"] = qmac::cosim::coverage::Bin::ALL
        .iter()
        .zip(&first_hit)
        .filter_map(|(b, f)| f.map(|i| (b.name().to_string(), serde_json::Value::from(i))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let write = |report: &serde_json::Value| {
        crate::cmd::write_reports(
            report,
            a.json.as_deref(),
            None,
            a.html.as_deref(),
            a.force,
            &out,
        )
    };
    struct SummaryArgs {
        verdict: &'static str,
        failure: Option<serde_json::Value>,
    }
    let summary = |s: &SummaryArgs| {
        meta.json_report(
            "fuzz",
            serde_json::json!({
                "shard": a.shard.map(|(k, n)| format!("{k}/{n}")),
                "verdict": s.verdict,
                "iterations": iters,
                "dot_products": dots,
                "beats": beats,
                "cycles": cycles,
                "wall_s": wall,
                "coverage": coverage_json,
                "failure": s.failure,
            }),
        )
    };
    if let Some((i, msg)) = outcome.failure {
        out.line(format_args!("FAIL iteration {i} of seed {seed}: {msg}"));
        let (tx, _) = fuzz::generate(seed, i, lanes, w);
        let mut dut = Dut::new(lanes, seed, true)?;
        let (small, runs) = fuzz::shrink(&mut dut, &tx, a.shrink_budget);
        out.line(format_args!(
            "shrunk in {runs} runs: {} dot products / {} taps -> {} dot products / {} taps{}",
            tx.dots(),
            tx.taps(),
            small.dots(),
            small.taps(),
            if small.backpressure.is_none() {
                ", no backpressure"
            } else {
                ""
            }
        ));
        let stem = format!("repro-seed{seed}-iter{i}");
        let repro = a.out.join(format!("{stem}.json"));
        fuzz::write_repro(
            &repro,
            &small,
            &format!("qmac fuzz --seed {seed}: iteration {i}, shrunk in {runs} runs"),
        )?;
        // Run exactly what the replay runs (the repro file read back, on a
        // fresh DUT seeded as `qmac fuzz --replay` seeds it), so the failure
        // printed here is the one the replay prints: same cycle, tag, lane.
        let replayed = fuzz::read(&repro)?;
        let wave = a.out.join(format!("{stem}.fst"));
        let mut dut = Dut::new(replayed.lanes, replayed.bp_seed, true)?;
        dut.trace_open(&wave)?;
        let st = fuzz::run(
            &mut dut,
            &replayed,
            &format!("qmac fuzz --replay {}", crate::cmd::sh(repro.display())),
        );
        dut.trace_close();
        if st.passed() {
            out.line(format_args!(
                "  warning: the shrunk transaction passes when replayed from {}; the unshrunk failure above stands",
                repro.display()
            ));
        }
        for f in st.failures.iter().take(3) {
            out.line(format_args!("  {}", f.message));
        }
        out.line(format_args!("repro: {}", repro.display()));
        out.line(format_args!("waveform: {}", wave.display()));
        out.line(format_args!(
            "replay: qmac fuzz --replay {}",
            crate::cmd::sh(repro.display())
        ));
        let report = summary(&SummaryArgs {
            verdict: "FAIL",
            failure: Some(serde_json::json!({
                "iteration": i,
                "message": msg,
                "shrunk": { "dots": small.dots(), "taps": small.taps(), "runs": runs },
                "repro": repro.display().to_string(),
                "waveform": wave.display().to_string(),
                "replay": format!("qmac fuzz --replay {}", crate::cmd::sh(repro.display())),
                "replay_failures": st.failures.iter().take(3).map(|f| f.message.clone()).collect::<Vec<_>>(),
            })),
        });
        write(&report)?;
        out.line(format_args!("0 passed, 1 failed"));
        return Err(CheckFailed {
            summary: format!("fuzz iteration {i} of seed {seed} failed"),
        }
        .into());
    }
    if a.until_covered && !cov.missing().is_empty() {
        out.line(format_args!(
            "not covered after {iters} iterations: {}",
            cov.missing().join(", ")
        ));
        let report = summary(&SummaryArgs {
            verdict: "FAIL",
            failure: None,
        });
        write(&report)?;
        out.line(format_args!("0 passed, 1 failed"));
        return Err(CheckFailed {
            summary: "coverage incomplete".into(),
        }
        .into());
    }
    let report = summary(&SummaryArgs {
        verdict: "PASS",
        failure: None,
    });
    write(&report)?;
    out.line(format_args!("{iters} passed, 0 failed"));
    Ok(())
}
