//! `qmac report`: one self-contained HTML page over `--json` reports.

use std::path::PathBuf;

use anyhow::{Context, Result};

use qmac::verify::report::{html, schema::Report};

/// The long `--help` text of `qmac report`.
pub const LONG_ABOUT: &str = "Reads the --json reports of `qmac regress`, `qmac layer`, `qmac model` and `qmac fuzz` \
and writes one HTML page: per report a summary (verdict, what was compared and how much, seed, LANES, MULT_W, RTL \
hash, qmac version, the replay command of every failure), the coverage bins as a bar chart with the unhit bins \
marked (for fuzz also coverage against iterations), per test / layer / op a sortable table of MACs, beats, cycles, \
lane use, time and verdict; for a layer whose outputs differ a heatmap of |diff| over output position × channel and \
the first differing outputs; for PyTorch and TFLite float64 cases a histogram of integer-vs-framework differences \
coloured by verified cause; for a whole model a timeline of beats and wall time per op; for a narrow multiplier \
(--m0-bits) the error against every width.\n\n\
The page is one file: charts are inline SVG, no network, no external script or font (a Content-Security-Policy \
forbids any), and it works without JavaScript (a few lines sort the tables). `--html FILE` on regress, layer, \
model and fuzz writes the same page for their own run.\n\n\
Exit 0 when every report passed, 1 when any failed (the page is written either way), 2 on a bad report file.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// --json reports of qmac regress, layer, model or fuzz
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// The HTML file to write
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing --out file
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &Args) -> Result<()> {
    qmac::formats::check_output_path(&a.out, "--out", a.force)?;
    // A report named twice is fine (shown twice); --out must not be one of them.
    for p in &a.results {
        crate::cmd::distinct_files(&[("RESULTS", Some(p)), ("--out", Some(&a.out))])?;
    }
    let mut reports = Vec::new();
    for p in &a.results {
        reports.push(Report::read(p)?);
    }
    let page = html::render(&reports)?;
    std::io::Write::write_all(
        &mut qmac::formats::create_file(&a.out, a.force, "--force")?,
        page.as_bytes(),
    )
    .with_context(|| format!("writing {}", a.out.display()))?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| r.meta.verdict != "PASS")
        .map(|r| r.source.as_str())
        .collect();
    println!(
        "HTML report: {} ({} KB, {} report(s): {} passed, {} failed)",
        a.out.display(),
        page.len().div_ceil(1024),
        reports.len(),
        reports.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        return Err(qmac::error::CheckFailed {
            summary: format!(
                "{} of {} report(s) failed: {}",
                failed.len(),
                reports.len(),
                failed.join(", ")
            ),
        }
        .into());
    }
    Ok(())
}
