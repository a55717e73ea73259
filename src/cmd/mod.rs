//! Subcommand implementations of the `qmac` CLI (argument structs + `run`).
pub mod bench;
pub mod coverage;
pub mod fuzz;
pub mod layer;
pub mod model;
pub mod mutants;
pub mod quantize;
pub mod regress;
pub mod vectors;

/// The one `--jobs` rule of every command: 1 ..= [`MAX_JOBS`] parallel DUTs.
pub const MAX_JOBS: u64 = 256;

/// The value parser of every `--jobs` flag.
pub fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS)
}
