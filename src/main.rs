//! The `qmac` command line. Each subcommand lives in `cmd::*`.
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "qmac",
    version,
    about = "Co-simulation testbench for an int8 MAC / requantization datapath",
    long_about = "qmac checks an int8 MAC/requantization RTL datapath bit-exactly against a Rust golden model \
                  (TFLite/gemmlowp arithmetic), cycle by cycle through Verilator.\n\n\
                  Exit codes: 0 = every check passed, 1 = a check failed, 2 = bad input or the run could not be made."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Derive per-channel M0 / shift from float scales (TFLite QuantizeMultiplier)
    #[command(long_about = cmd::quantize::LONG_ABOUT)]
    Quantize(cmd::quantize::Args),
    /// Run layer cases (qcase JSON files or case directories) through the golden model and/or the RTL
    #[command(long_about = cmd::layer::LONG_ABOUT)]
    Layer(cmd::layer::Args),
    /// Run a whole int8 TFLite model, conv/depthwise/FC on the RTL, every tensor checked against TFLite
    #[command(long_about = cmd::model::LONG_ABOUT)]
    Model(cmd::model::Args),
    /// Write layer cases as C-ready one-value-per-line files, C headers and a reference C program
    #[command(name = "export-c", long_about = cmd::export_c::LONG_ABOUT)]
    ExportC(cmd::export_c::Args),
    /// Run a regression suite on the Verilated RTL, every output checked against the golden model
    #[command(long_about = cmd::regress::LONG_ABOUT)]
    Regress(cmd::regress::Args),
    /// Write (or --check) an FPGA test-vector bundle: $readmemh files + manifest for sim/replay_tb.sv
    #[command(long_about = cmd::vectors::LONG_ABOUT)]
    Vectors(cmd::vectors::Args),
    /// Measure co-simulation speed against a pure C++ Verilator driver, and more (figures only)
    #[command(long_about = cmd::bench::LONG_ABOUT)]
    Bench(cmd::bench::Args),
    /// Constrained-random fuzzing with coverage, shrinking and replayable repros
    #[command(long_about = cmd::fuzz::LONG_ABOUT)]
    Fuzz(cmd::fuzz::Args),
    /// Functional coverage files: merge shards / runs
    Coverage(cmd::coverage::Args),
    /// One self-contained HTML page (charts, tables) over --json reports of regress, layer, model, fuzz
    #[command(long_about = cmd::report::LONG_ABOUT)]
    Report(cmd::report::Args),
    /// Mutation testing of the testbench: rebuild against RTL mutants, each must be caught
    #[command(long_about = cmd::mutants::LONG_ABOUT)]
    Mutants(cmd::mutants::Args),
    /// Formal proofs of the RTL: requantization, MAC and protocol, for all inputs (Yosys SAT)
    #[command(long_about = cmd::prove::LONG_ABOUT)]
    Prove(cmd::prove::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (qmac.1), or write every page (qmac.1, qmac-regress.1, …) into DIR
    Man {
        /// Write the pages of qmac and of every subcommand into DIR
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Write into a DIR that is not empty (replacing the pages)
        #[arg(long, requires = "out")]
        force: bool,
    },
}

/// `qmac man`: the roff man page(s), generated from the same definitions as `--help`.
fn man(out: Option<&std::path::Path>, force: bool) -> anyhow::Result<()> {
    let cmd = Cli::command();
    match out {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
        Some(dir) => {
            let stage = qmac::formats::StagedDir::new(dir, "--out", force)?;
            clap_mangen::generate_to(cmd, stage.path())?;
            stage.commit()?;
            println!("man pages written into {}", dir.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // A closed pipe (`qmac regress | head -1`) ends qmac quietly, as it ends
    // `cat` or `grep`: the default SIGPIPE action instead of Rust's ignore,
    // which turns the next println! into a "Broken pipe" panic (exit 101).
    // SAFETY: called first thing, before any thread exists; restoring a
    // signal's default disposition has no other effect on the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `--version` says what this binary checks: the source revision, the
    // built LANES values, MULT_W and the RTL's hash.
    // (Asked for only: it runs git.)
    let asked = std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V");
    let version: &'static str = if !asked {
        env!("CARGO_PKG_VERSION")
    } else {
        Box::leak(
            format!(
                "{} (git {}, LANES {:?}, MULT_W {}, RTL {} sha256 {})",
                env!("CARGO_PKG_VERSION"),
                qmac::verify::vectors::git_revision(),
                qmac::cosim::dut::built_lanes(),
                qmac::cosim::dut::built_mult_w(),
                qmac::cosim::dut::RTL_DIR,
                qmac::cosim::dut::RTL_SHA256
            )
            .into_boxed_str(),
        )
    };
    let parsed = Cli::command()
        .version(version)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Bad arguments: clap's whole message (the missing argument's
            // name, the possible values, the "similar argument" tip, the
            // usage line), exit 2.
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Quantize(a) => cmd::quantize::run(&a),
        Command::Layer(a) => cmd::layer::run(&a),
        Command::Model(a) => cmd::model::run(&a),
        Command::Regress(a) => cmd::regress::run(&a),
        Command::ExportC(a) => cmd::export_c::run(&a),
        Command::Vectors(a) => cmd::vectors::run(&a),
        Command::Bench(a) => cmd::bench::run(&a),
        Command::Fuzz(a) => cmd::fuzz::run(&a),
        Command::Coverage(a) => cmd::coverage::run(&a),
        Command::Report(a) => cmd::report::run(&a),
        Command::Mutants(a) => cmd::mutants::run(&a),
        Command::Prove(a) => cmd::prove::run(&a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qmac", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out, force } => man(out.as_deref(), force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the outermost context, then the cause chain.
            eprintln!("error: {e:#}");
            ExitCode::from(qmac::error::exit_code(&e))
        }
    }
}
