//! `qmac prove`: formal proofs of the datapath (see [`qmac::verify::formal`]).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use qmac::error::{CheckFailed, InputError};
use qmac::verify::formal::{self, Plan, Verdict};

/// The long `--help` text of `qmac prove`.
pub const LONG_ABOUT: &str = "Proves the RTL against the arithmetic and interface contract with Yosys's SAT \
prover, for all inputs rather than sampled ones: the requantization (every accumulator, M0, rounding mode, \
zero point and bounds; one proof per shift e in [-31, 30], split at the multiplier), the multiply-accumulate \
stage (wrap, sticky overflow, zero points; induction) and the handshake, register map, reset, ordering, \
stalls and latency of qmac_top (bounded model checking from reset). Exit 0 iff every proof is proven; 1 if \
one is refuted (its counterexample is printed) or inconclusive.";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// RTL directory with qmac_lane.v and qmac_top.v (default: the RTL this qmac was built from)
    #[arg(long, value_name = "DIR")]
    pub rtl: Option<PathBuf>,
    /// A subset that takes about a minute: shifts -31, -8, -1, 0, 1, 30 and the protocol to depth 10
    #[arg(long)]
    pub fast: bool,
    /// Run only the proofs whose name contains this string (e.g. `mac`, `e=-7`, `protocol`)
    #[arg(long)]
    pub only: Option<String>,
    /// Seconds the SAT solver may spend on one proof
    #[arg(long, default_value_t = 900)]
    pub timeout: u32,
    /// Protocol BMC depth in cycles from reset (default 12, 10 with --fast)
    #[arg(long)]
    pub depth: Option<u32>,
    /// Keep the Yosys scripts and logs in this directory (created; must be empty or absent)
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

pub fn run(a: &Args) -> Result<()> {
    let mut plan = if a.fast { Plan::fast() } else { Plan::full() };
    plan.timeout = a.timeout;
    if let Some(d) = a.depth {
        if !(2..=30).contains(&d) {
            return Err(
                InputError::new("--depth", "value", format!("{d} is not in [2, 30]")).into(),
            );
        }
        plan.protocol_depth = d;
    }
    if let Some(k) = &a.keep {
        if k.exists() && k.read_dir().map(|mut d| d.next().is_some()).unwrap_or(true) {
            return Err(InputError::new(
                k,
                "--keep",
                "exists and is not an empty directory (nothing is overwritten)",
            )
            .into());
        }
    }
    let work = match &a.keep {
        Some(k) => k.clone(),
        None => std::env::temp_dir().join(format!("qmac-prove-{}", std::process::id())),
    };
    let harness = formal::write_harnesses(&work.join("formal"))?;
    let rtl = match &a.rtl {
        Some(r) => {
            formal::check_rtl(r).map_err(|e| InputError::new(r, "--rtl", e.to_string()))?;
            r.clone()
        }
        None => {
            let d = work.join("rtl");
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            for (name, text) in formal::BUILT_RTL {
                std::fs::write(d.join(name), text)?;
            }
            d
        }
    };
    let mut proofs = formal::proofs(&rtl, &harness, &plan);
    if let Some(only) = &a.only {
        proofs.retain(|p| p.name.contains(only.as_str()));
        if proofs.is_empty() {
            return Err(InputError::new(
                "--only",
                "value",
                format!("`{only}` names no proof (requant e=E, mac, protocol)"),
            )
            .into());
        }
    }
    let of = match &a.rtl {
        Some(r) => r.display().to_string(),
        None => "the RTL this qmac was built from".into(),
    };
    eprintln!(
        "qmac prove: {} proof{} of {of} with yosys's SAT prover ({} threads)",
        proofs.len(),
        if proofs.len() == 1 { "" } else { "s" },
        formal::threads()
    );
    let start = Instant::now();
    let results = formal::run_all(&proofs, &work, |p, o| {
        let tag = match &o.verdict {
            Verdict::Proven => "PROVEN ",
            Verdict::Refuted => "REFUTED",
            Verdict::Inconclusive(_) => "UNKNOWN",
        };
        println!("{tag} {:<14} {:>7.1} s  {}", p.name, o.seconds, p.kind);
    })?;
    let (mut proven, mut refuted, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for (p, o) in proofs.iter().zip(&results) {
        match &o.verdict {
            Verdict::Proven => proven.push(p),
            Verdict::Refuted => refuted.push((p, o)),
            Verdict::Inconclusive(why) => unknown.push((p, why.clone())),
        }
    }
    for (p, o) in &refuted {
        println!(
            "\nREFUTED {}: {}\ncounterexample (Yosys sat, one row per signal and cycle):",
            p.name, p.covers
        );
        println!("{}", formal::counterexample(&o.log));
    }
    for (p, why) in &unknown {
        println!("\nUNKNOWN {}: {why}", p.name);
    }
    if a.keep.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let secs = start.elapsed().as_secs_f64();
    let replay = format!(
        "qmac prove{}{}{}",
        a.rtl
            .as_ref()
            .map(|r| format!(" --rtl {}", crate::cmd::sh(r.display())))
            .unwrap_or_default(),
        if a.fast { " --fast" } else { "" },
        a.only
            .as_ref()
            .map(|o| format!(" --only {}", crate::cmd::sh(o)))
            .unwrap_or_default(),
    );
    if refuted.is_empty() && unknown.is_empty() {
        println!(
            "qmac prove: PASS: {} of {} proofs proven in {secs:.1} s",
            proven.len(),
            proofs.len()
        );
        Ok(())
    } else {
        Err(CheckFailed {
            summary: format!(
                "qmac prove: FAIL: {} proven, {} refuted, {} inconclusive of {} in {secs:.1} s (rerun: {replay})",
                proven.len(),
                refuted.len(),
                unknown.len(),
                proofs.len()
            ),
        }
        .into())
    }
}
