//! `qmac coverage merge`: combine coverage JSON files of shards or runs.

use std::path::PathBuf;

use anyhow::{Context, Result};

use qmac::cosim::coverage::Coverage;
use qmac::error::{CheckFailed, InputError};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Sum the bin counts of coverage JSON files (from `qmac fuzz` / `qmac regress --coverage`)
    Merge {
        /// Coverage JSON files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the merged coverage JSON to FILE
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 1 unless every bin is hit
        #[arg(long)]
        require_full: bool,
        /// Replace an existing --out file
        #[arg(long)]
        force: bool,
    },
    /// Print the bin table of a coverage JSON file
    Show {
        /// Coverage JSON file
        file: PathBuf,
        /// Exit 1 unless every bin is hit
        #[arg(long)]
        require_full: bool,
    },
}

pub fn run(a: &Args) -> Result<()> {
    let (c, require_full) = match &a.action {
        Action::Show { file, require_full } => (Coverage::read_json(file)?, require_full),
        Action::Merge {
            files,
            out,
            require_full,
            force,
        } => {
            if let Some(o) = out {
                qmac::formats::check_output_path(o, "--out", *force)?;
            }
            let mut c = Coverage::default();
            let mut seen: Vec<(PathBuf, &PathBuf)> = Vec::new();
            let mut counted: Vec<(qmac::cosim::coverage::Source, PathBuf)> = Vec::new();
            for f in files {
                // The same file twice, or the same run (tool, seed, shard, …)
                // in two files, would count its hits twice.
                let key = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                    return Err(InputError::new(
                        f,
                        "file",
                        format!(
                            "given twice (also as {}); refusing to count it twice",
                            first.display()
                        ),
                    )
                    .into());
                }
                seen.push((key, f));
                let one = Coverage::read_json(f)?;
                for s in &one.sources {
                    if let Some((_, other)) = counted.iter().find(|(t, _)| t == s) {
                        return Err(InputError::new(
                            f,
                            "sources",
                            format!(
                                "the run `{} --seed {}{}` ({} runs) is already counted from {}; refusing to count it twice",
                                s.tool,
                                s.seed,
                                s.shard.as_ref().map_or(String::new(), |k| format!(" --shard {k}")),
                                s.runs,
                                other.display()
                            ),
                        )
                        .into());
                    }
                    counted.push((s.clone(), f.clone()));
                }
                c.merge(&one);
            }
            if let Some(o) = out {
                std::io::Write::write_all(
                    &mut qmac::formats::create_file(o, *force, "--force")?,
                    c.to_json().as_bytes(),
                )
                .with_context(|| format!("writing {}", o.display()))?;
                println!("merged coverage JSON: {}", o.display());
            }
            (c, require_full)
        }
    };
    print!("{}", c.table());
    for s in &c.sources {
        println!(
            "counted: {} --seed {}{}: {} runs, LANES={} MULT_W={}, qmac {}",
            s.tool,
            s.seed,
            s.shard
                .as_ref()
                .map_or(String::new(), |k| format!(" --shard {k}")),
            s.runs,
            s.lanes,
            s.mult_w,
            s.version
        );
    }
    if *require_full && !c.missing().is_empty() {
        return Err(CheckFailed {
            summary: format!("bins not hit: {}", c.missing().join(", ")),
        }
        .into());
    }
    Ok(())
}
