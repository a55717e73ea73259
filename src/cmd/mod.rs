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

/// `--color`: whether PASS / FAIL are coloured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    Always,
    Never,
}

/// Colours PASS (green) and FAIL (red) when asked to.
pub struct Paint {
    on: bool,
}

impl Paint {
    pub fn new(c: Color) -> Paint {
        use std::io::IsTerminal;
        let on = match c {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Paint { on }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn pass(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn fail(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
}
