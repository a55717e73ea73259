//! `qmac coverage merge`: combine coverage JSON files of shards or runs.

use std::path::PathBuf;

use anyhow::{Context, Result};

use qmac::cosim::coverage::Coverage;
use qmac::error::CheckFailed;

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
            for f in files {
                c.merge(&Coverage::read_json(f)?);
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
    if *require_full && !c.missing().is_empty() {
        return Err(CheckFailed {
            summary: format!("bins not hit: {}", c.missing().join(", ")),
        }
        .into());
    }
    Ok(())
}
