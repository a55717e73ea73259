//! `qmac mutants`: mutation testing of the testbench (needs the source tree and cargo).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use qmac::cosim::scoreboard::Check;
use qmac::error::CheckFailed;
use qmac::verify::mutants::{apply, first_failure, MUTANTS};

/// The long `--help` text of `qmac mutants`.
pub const LONG_ABOUT: &str = "Builds qmac against each mutant of rtl/ (operator swaps, off-by-one constants, \
dropped rounding and saturation terms, swapped clamp bounds, ignored ready, accumulator not cleared on \
first, sign-extension mistakes, ...) into target/mutants/, runs the corners regression and a fuzz budget \
on it, and reports each mutant as killed or survived (with its diff). Equivalent mutants are explained and \
not counted. Exit 0 iff every non-equivalent mutant is killed.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Fuzz iterations per mutant (after the corners regression)
    #[arg(long, default_value_t = 1000)]
    pub budget: u64,
    /// Run only the mutants whose name contains one of these comma-separated strings
    #[arg(long)]
    pub only: Option<String>,
    /// Seed of the regression and fuzz runs
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn run_bin(bin: &Path, args: &[&str]) -> Result<(i32, String)> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    Ok((
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

pub fn run(a: &Args) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    anyhow::ensure!(
        root.join("Cargo.toml").exists() && root.join("rtl").is_dir(),
        "qmac mutants needs the qmac source tree at {}",
        root.display()
    );
    let work = root.join("target/mutants");
    let target = work.join("build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let seed = a.seed.to_string();
    let budget = a.budget.to_string();
    let (mut killed, mut survived, mut equivalent) = (0, 0, 0);
    let mut survivors = Vec::new();
    let mut no_verdict = Vec::new();
    let mut longest = 0f64;
    let selected: Vec<&qmac::verify::mutants::Mutant> = MUTANTS
        .iter()
        .filter(|m| {
            a.only
                .as_ref()
                .is_none_or(|o| o.split(',').any(|o| !o.is_empty() && m.name.contains(o)))
        })
        .collect();
    if selected.is_empty() {
        return Err(qmac::error::InputError::new(
            "--only",
            "value",
            format!(
                "no mutant name contains `{}` (mutants: {})",
                a.only.as_deref().unwrap_or(""),
                MUTANTS
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into());
    }
    println!(
        "qmac mutants: {} mutants of {}, corners regression + {} fuzz iterations each, seed {}",
        selected.len(),
        root.join("rtl").display(),
        a.budget,
        a.seed
    );
    println!(
        "{:<26} {:<21} {:<10} {:<16} {:<22} {:>8}  what",
        "mutant", "class", "verdict", "killed by", "check", "time"
    );
    for m in selected {
        let dir = work.join(m.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        for e in std::fs::read_dir(root.join("rtl"))? {
            let p = e?.path();
            if p.is_file() {
                std::fs::copy(&p, dir.join(p.file_name().expect("file")))?;
            }
        }
        apply(&dir, m)?;
        let st = Command::new(&cargo)
            .args(["build", "--release", "--locked", "--bin", "qmac"])
            .current_dir(&root)
            .env("QMAC_RTL_DIR", &dir)
            .env("QMAC_LANES", "8")
            .env("CARGO_TARGET_DIR", &target)
            // Only the RTL differs between mutants: incremental builds take
            // ≈ 13 s instead of ≈ 27 s here.
            .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "true")
            .output()?;
        if !st.status.success() {
            println!(
                "{:<26} STILLBORN (does not build): {}",
                m.name,
                String::from_utf8_lossy(&st.stderr)
                    .lines()
                    .rev()
                    .find(|l| l.contains("error"))
                    .unwrap_or("")
            );
            continue;
        }
        let bin = target.join("release/qmac");
        let t = Instant::now();
        let (rc, out) = run_bin(&bin, &["regress", "--suite", "corners", "--seed", &seed])?;
        let (verdict, by, how) = if rc == 1 {
            ("KILLED", "regress corners", first_failure(&out))
        } else if rc != 0 {
            // A crash or an error is not a verdict: qmac itself is at fault.
            (
                "NO-VERDICT",
                "regress corners",
                format!("exit {rc}: {}", first_failure(&out)),
            )
        } else {
            let fz = dir.join("fuzz");
            let (rc2, out2) = run_bin(
                &bin,
                &[
                    "fuzz",
                    "--seed",
                    &seed,
                    "--iterations",
                    &budget,
                    "--out",
                    fz.to_str().unwrap_or("."),
                ],
            )?;
            if rc2 == 1 {
                ("KILLED", "fuzz", first_failure(&out2))
            } else if rc2 != 0 {
                (
                    "NO-VERDICT",
                    "fuzz",
                    format!("exit {rc2}: {}", first_failure(&out2)),
                )
            } else {
                ("SURVIVED", "", String::new())
            }
        };
        let secs = t.elapsed().as_secs_f64();
        longest = longest.max(secs);
        match (verdict, m.equivalent) {
            ("KILLED", _) => killed += 1,
            ("NO-VERDICT", _) => no_verdict.push(m.name),
            (_, Some(_)) => equivalent += 1,
            _ => {
                survived += 1;
                survivors.push(m);
            }
        }
        let check = if verdict == "KILLED" {
            Check::of(&how).map_or("layer/model verdict", Check::name)
        } else {
            "-"
        };
        println!(
            "{:<26} {:<21} {:<10} {:<16} {:<22} {:>6.2} s  {}",
            m.name, m.class, verdict, by, check, secs, m.what
        );
        if !how.is_empty() {
            // The message up to the seed and replay command, at most 200 characters.
            let msg = how.split("; seed ").next().unwrap_or(&how);
            println!("    {}", msg.chars().take(200).collect::<String>());
        }
        if verdict == "SURVIVED" {
            for e in m.edits {
                println!(
                    "    diff {}: - {}\n    diff {}: + {}",
                    e.file, e.find, e.file, e.replace
                );
            }
            if let Some(why) = m.equivalent {
                println!("    equivalent: {why}");
            }
        }
    }
    let counted = killed + survived;
    println!(
        "{killed} killed, {survived} survived, {equivalent} equivalent (not counted): kill rate {:.1}%; longest time to a verdict {longest:.1} s",
        if counted == 0 { 100.0 } else { 100.0 * killed as f64 / counted as f64 }
    );
    if !no_verdict.is_empty() {
        return Err(CheckFailed {
            summary: format!(
                "qmac ended without a verdict (crash or error) on {} mutant(s): {}",
                no_verdict.len(),
                no_verdict.join(", ")
            ),
        }
        .into());
    }
    if survived > 0 {
        return Err(CheckFailed {
            summary: format!(
                "{survived} mutants survived: {}",
                survivors
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
        .into());
    }
    Ok(())
}
