//! `qmac vectors`: write or check an FPGA test-vector bundle.

use std::path::PathBuf;

use anyhow::Result;

use qmac::cosim::lowering::LayerStimulus;
use qmac::cosim::transaction::Item;
use qmac::error::InputError;
use qmac::formats::qcase::Case;
use qmac::verify::regress::{self, Body};
use qmac::verify::stimulus::{random_stream, rng_for};
use qmac::verify::vectors;

/// The long `--help` text of `qmac vectors`.
pub const LONG_ABOUT: &str = "Writes a bundle of $readmemh files (program.hex, cfg.hex, beats.hex, expected.hex), \
manifest.toml and SHA256SUMS for replaying qmac stimulus outside Rust: in a vendor simulator, as block-RAM \
init files, or with scripts/replay DIR [--sim icarus|verilator], which runs the self-checking testbench \
sim/replay_tb.sv on the real RTL. Expected values come from the golden model. The same command writes \
byte-identical files.\n\nSources (one of): --suite NAME (the stimulus of a regress suite), --case CASE... \
(real layers, lowered as `qmac layer` does), --fuzz-seed S --count N (N constrained-random dot products).\n\n\
--max-words N (or --board ulx3s|icebreaker, the largest N whose ROMs fit that board's block RAM) splits the \
stream into chunk bundles DIR/chunk000, DIR/chunk001, ... of at most N words per file, each starting at a dot-product \
boundary with the full parameter set, listed in DIR/chunks.toml; scripts/fpga sim|build runs one on the on-chip \
player (rtl/fpga/).\n\n\
--check DIR validates a bundle (files, widths, depths, hex syntax, checksums, schedule), or every chunk of a split \
one, and exits 2 on a bad one.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write the bundle into (must not exist or be empty, unless --force)
    #[arg(long, value_name = "DIR", required_unless_present = "check")]
    pub out: Option<PathBuf>,
    /// Validate the bundle in DIR instead of writing one
    #[arg(long, value_name = "DIR", conflicts_with_all = ["out", "suite", "case", "fuzz_seed"])]
    pub check: Option<PathBuf>,
    /// Stimulus of a regress suite: smoke, corners, random, layers, models or all
    #[arg(long, conflicts_with_all = ["case", "fuzz_seed"])]
    pub suite: Option<String>,
    /// Real layer cases (.json or case directories)
    #[arg(long, num_args = 1.., conflicts_with = "fuzz_seed")]
    pub case: Vec<PathBuf>,
    /// Seed of a constrained-random stream (with --count)
    #[arg(long, requires = "count")]
    pub fuzz_seed: Option<u64>,
    /// Number of random dot products (with --fuzz-seed)
    #[arg(long, requires = "fuzz_seed")]
    pub count: Option<usize>,
    /// Seed of the suite's stimulus (--suite)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Datapath width the bundle is for
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=qmac::cosim::interface::MAX_LANES as i64))]
    pub lanes: u32,
    /// Multiplier width MULT_W the expected values are for
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..=32))]
    pub mult_w: u32,
    /// Tests in the random suite (--suite random / all)
    #[arg(long, default_value_t = 2)]
    pub random_tests: usize,
    /// Split into chunk bundles (--out/chunk000, ...) of at most N words per file
    #[arg(long, value_name = "N", conflicts_with = "board")]
    pub max_words: Option<String>,
    /// Split into chunks that fit the block RAM of a board: ulx3s (ECP5 85F) or icebreaker (UP5K)
    #[arg(long, value_name = "NAME")]
    pub board: Option<String>,
    /// Replace the files of an existing bundle in --out
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &Args) -> Result<()> {
    if let Some(dir) = &a.check {
        if dir.join("chunks.toml").exists() {
            let (index, ms) = vectors::check_split(dir)?;
            for (c, m) in index.chunks.iter().zip(&ms) {
                println!(
                    "{}/{}: OK: {} cfg writes, {} beats, {} outputs (from beat {}, output {})",
                    dir.display(),
                    c.dir,
                    m.counts.cfg_writes,
                    m.counts.beats,
                    m.counts.outputs,
                    c.first_beat,
                    c.first_output
                );
            }
            println!(
                "{}: OK: {} chunks of at most {} words; checksums match",
                dir.display(),
                index.chunks.len(),
                index.max_words
            );
            return Ok(());
        }
        let m = vectors::check(dir)?;
        println!(
            "{}: OK: LANES={} MULT_W={}, {} cfg writes, {} beats, {} outputs, latency {}; checksums match",
            dir.display(),
            m.dut.lanes,
            m.dut.mult_w,
            m.counts.cfg_writes,
            m.counts.beats,
            m.counts.outputs,
            m.dut.latency
        );
        return Ok(());
    }
    let out = a.out.as_ref().expect("clap requires --out");
    let lanes = a.lanes as usize;
    // The chunk cap, checked before any stimulus is built.
    let cap: Option<(usize, Option<String>)> = match (&a.max_words, &a.board) {
        (Some(n), _) => match n.parse::<usize>() {
            Ok(v) if v >= 2 => Some((v, None)),
            _ => {
                return Err(InputError::new(
                    "qmac vectors",
                    "--max-words",
                    format!("`{n}` is not a word count >= 2"),
                )
                .into())
            }
        },
        (None, Some(b)) => {
            let Some(board) = vectors::BoardRam::find(b) else {
                return Err(InputError::new(
                    "qmac vectors",
                    "--board",
                    format!("`{b}` is not a board preset (ulx3s, icebreaker)"),
                )
                .into());
            };
            let n = board.max_words(lanes);
            if n < 2 {
                return Err(InputError::new(
                    "qmac vectors",
                    "--board",
                    format!("{b}: a LANES={lanes} bundle does not fit {}", board.part),
                )
                .into());
            }
            Some((n, Some(b.clone())))
        }
        (None, None) => None,
    };
    let (kind, names, seed, command, items): (&str, Vec<String>, u64, String, Vec<Item>) =
        if let Some(s) = &a.suite {
            let tests = regress::tests(s, lanes, a.mult_w, a.seed, a.random_tests)?;
            let mut items = Vec::new();
            for t in &tests {
                match &t.body {
                    Body::Stimulus(v) => items.extend(v.iter().cloned()),
                    Body::Layer(c) => items.extend(LayerStimulus::new(c, lanes, a.mult_w)),
                    Body::Model(m) => {
                        // Each MAC op's input is what the model computes before it
                        // (the golden model, bit-exact with TFLite).
                        let run = m.golden_run()?;
                        for c in &run.cases {
                            items.extend(LayerStimulus::new(c, lanes, a.mult_w));
                        }
                    }
                }
            }
            let cmd = format!(
                "qmac vectors --suite {s} --seed {} --random-tests {}",
                a.seed, a.random_tests
            );
            ("suite", vec![s.clone()], a.seed, cmd, items)
        } else if !a.case.is_empty() {
            let mut items = Vec::new();
            let mut names = Vec::new();
            for p in &a.case {
                let c = Case::read(p)?;
                items.extend(LayerStimulus::new(&c, lanes, a.mult_w));
                names.push(p.display().to_string());
            }
            let cmd = format!("qmac vectors --case {}", names.join(" "));
            ("case", names, 0, cmd, items)
        } else if let (Some(seed), Some(count)) = (a.fuzz_seed, a.count) {
            let mut rng = rng_for(seed, "vectors-fuzz");
            let items = random_stream(&mut rng, lanes, a.mult_w, count);
            (
                "fuzz",
                vec![format!("{count} random dot products")],
                seed,
                format!("qmac vectors --fuzz-seed {seed} --count {count}"),
                items,
            )
        } else {
            return Err(InputError::new(
                "qmac vectors",
                "arguments",
                "give one source: --suite NAME, --case CASE..., or --fuzz-seed S --count N",
            )
            .into());
        };
    let mut command = format!("{command} --lanes {lanes} --mult-w {}", a.mult_w);
    if let Some((n, board)) = &cap {
        match board {
            Some(b) => command += &format!(" --board {b}"),
            None => command += &format!(" --max-words {n}"),
        }
    }
    let generator = vectors::Generator {
        name: "qmac".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: vectors::git_revision(),
        command,
    };
    let source = vectors::Source {
        kind: kind.into(),
        names,
        seed,
    };
    if let Some((n, board)) = cap {
        let index = vectors::write_split(
            out, items, generator, source, lanes, a.mult_w, n, board, a.force,
        )?;
        for c in &index.chunks {
            println!(
                "{}/{}: {} cfg writes, {} beats, {} outputs",
                out.display(),
                c.dir,
                c.cfg_writes,
                c.beats,
                c.outputs
            );
        }
        println!(
            "{}: {} chunks of at most {n} words per file (LANES={lanes} MULT_W={}); replay: scripts/replay {}/{} --sim icarus",
            out.display(),
            index.chunks.len(),
            a.mult_w,
            out.display(),
            vectors::chunk_dir(0)
        );
        return Ok(());
    }
    let streams = vectors::encode(items, lanes, a.mult_w)?;
    let m = vectors::write(out, &streams, generator, source, lanes, a.mult_w, a.force)?;
    println!(
        "{}: {} cfg writes, {} beats, {} outputs (LANES={} MULT_W={}); replay: scripts/replay {} --sim icarus",
        out.display(),
        m.counts.cfg_writes,
        m.counts.beats,
        m.counts.outputs,
        lanes,
        a.mult_w,
        out.display()
    );
    Ok(())
}
