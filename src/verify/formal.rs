//! Formal proofs of the datapath (`qmac prove`): the harnesses of formal/
//! (embedded in the binary) against an RTL directory, each proven by
//! Yosys's SAT prover (`sat`, MiniSat inside Yosys: no external solver).
//!
//! Three proofs, each stating what it covers and assumes (formal/*.sv say
//! it line by line, docs in the README's "Formal proofs"):
//! * `requant e=E`: qmac_lane's R1..R5 against formal/requant_ref.v (the
//!   contract's requantization) for one shift E, every accumulator, M0,
//!   rounding mode, zero point and bounds; the 64-bit product is cut (free
//!   within |P| <= 2^62), so the proof is split at the multiplier.
//!   Complete: after 6 cycles no register depends on the initial state.
//! * `mac`: the multiply-accumulate stage (wrap, sticky overflow, zero
//!   points of int8 and uint8 inputs) by temporal induction (unbounded).
//! * `protocol`: qmac_top's handshake, register map, reset, pipeline order,
//!   stalls and latency against a shadow model, bounded model checking from
//!   reset to a stated depth.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// The harnesses, embedded so that `qmac prove` runs from any directory.
pub const HARNESSES: &[(&str, &str)] = &[
    ("requant_ref.v", include_str!("../../formal/requant_ref.v")),
    (
        "lane_requant.sv",
        include_str!("../../formal/lane_requant.sv"),
    ),
    ("lane_mac.sv", include_str!("../../formal/lane_mac.sv")),
    (
        "top_protocol.sv",
        include_str!("../../formal/top_protocol.sv"),
    ),
];

/// The RTL this binary was built from (the default of `--rtl`).
pub const BUILT_RTL: &[(&str, &str)] = &[
    ("qmac_lane.v", include_str!("../../rtl/qmac_lane.v")),
    ("qmac_top.v", include_str!("../../rtl/qmac_top.v")),
];

/// Every shift the contract allows (TFLite e in [-31, 30]).
pub const ALL_SHIFTS: std::ops::RangeInclusive<i32> = -31..=30;
/// The shifts of `--fast`: both ends, both sides of 0, and a mid right shift.
pub const FAST_SHIFTS: &[i32] = &[-31, -8, -1, 0, 1, 30];
/// Bounded-model-checking depth of the protocol proof (cycles from reset).
pub const PROTOCOL_DEPTH: u32 = 12;
/// The same for `--fast`: enough for a result to travel the pipeline
/// (7 cycles) with a reset cycle and a stall before it.
pub const FAST_PROTOCOL_DEPTH: u32 = 10;

/// One proof: a Yosys script and what a pass of it establishes.
#[derive(Debug, Clone)]
pub struct Proof {
    pub name: String,
    /// "equivalence (case split)", "induction", "BMC depth N"
    pub kind: String,
    pub covers: String,
    pub script: String,
}

/// What Yosys's prover concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No counterexample exists (within the bound for BMC).
    Proven,
    /// A counterexample: the RTL violates the property.
    Refuted,
    /// Timeout or an induction that did not close: neither proven nor refuted.
    Inconclusive(String),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub seconds: f64,
    /// Yosys's log (the counterexample table when refuted).
    pub log: String,
}

/// Which proofs to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub shifts: Vec<i32>,
    pub protocol_depth: u32,
    /// Seconds the SAT solver may spend on one proof.
    pub timeout: u32,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            shifts: ALL_SHIFTS.collect(),
            protocol_depth: PROTOCOL_DEPTH,
            timeout: 900,
        }
    }
    pub fn fast() -> Plan {
        Plan {
            shifts: FAST_SHIFTS.to_vec(),
            protocol_depth: FAST_PROTOCOL_DEPTH,
            timeout: 900,
        }
    }
}

/// Write the harnesses into `dir` (created if missing) and return it.
pub fn write_harnesses(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in HARNESSES {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// The RTL files a proof reads, checked to exist in `rtl`.
pub fn check_rtl(rtl: &Path) -> Result<()> {
    for (name, _) in BUILT_RTL {
        let p = rtl.join(name);
        if !p.is_file() {
            bail!(
                "{}: missing (--rtl needs qmac_lane.v and qmac_top.v)",
                p.display()
            );
        }
    }
    Ok(())
}

fn q(p: &Path) -> String {
    // Yosys script arguments: quote paths that contain spaces.
    let s = p.display().to_string();
    if s.contains(' ') {
        format!("\"{s}\"")
    } else {
        s
    }
}

/// The proofs of `plan` for the RTL in `rtl`, harnesses in `h`.
pub fn proofs(rtl: &Path, h: &Path, plan: &Plan) -> Vec<Proof> {
    let lane = q(&rtl.join("qmac_lane.v"));
    let top = q(&rtl.join("qmac_top.v"));
    let t = plan.timeout;
    let mut v = Vec::new();
    for &e in &plan.shifts {
        v.push(Proof {
            name: format!("requant e={e}"),
            kind: "equivalence (one case of the split over e; complete after the 6-cycle fill)".into(),
            covers: format!(
                "y of qmac_lane (MULT_W = 32) == formal/requant_ref.v for shift {e}: every accumulator, \
                 M0, rounding mode, zp_out in [-256, 255], bounds ordered in [-128, 255]; the product \
                 cut at R2 (free within |P| <= 2^62), R1's operand and R2's saturation flag checked"
            ),
            script: format!(
                "read_verilog -formal {lane}\n\
                 read_verilog -formal {ref}\n\
                 read_verilog -formal -sv -DCUT_PRODUCT -DFIX_E={e} {harness}\n\
                 prep -top lane_requant\n\
                 flatten\n\
                 cutpoint w:dut.r2_prod\n\
                 connect -set probe_op dut.r1_op\n\
                 connect -set probe_sat dut.r2_sat\n\
                 connect -set probe_prod dut.r2_prod\n\
                 opt -fast\n\
                 async2sync\n\
                 sat -seq 7 -prove-asserts -set-assumes -show-inputs -show-outputs -timeout {t}\n",
                ref = q(&h.join("requant_ref.v")),
                harness = q(&h.join("lane_requant.sv")),
            ),
        });
    }
    v.push(Proof {
        name: "mac".into(),
        kind: "temporal induction (unbounded)".into(),
        covers: "qmac_lane's accumulator and sticky overflow flag == the contract's exact sum, wrapped, \
                 for any beat sequence, any first pattern, x in [-128, 255], any 9-bit zero points"
            .into(),
        script: format!(
            "read_verilog -formal {lane}\n\
             read_verilog -formal -sv {harness}\n\
             hierarchy -top lane_mac\n\
             proc\n\
             flatten\n\
             connect -set probe_acc dut.acc\n\
             connect -set probe_ovf dut.ovf\n\
             connect -set probe_dx dut.dx\n\
             connect -set probe_dw dut.dw\n\
             connect -set probe_p dut.p\n\
             opt_clean\n\
             prep -top lane_mac\n\
             async2sync\n\
             sat -tempinduct -prove-asserts -set-assumes -show-inputs -show-outputs -maxsteps 4 -timeout {t}\n",
            harness = q(&h.join("lane_mac.sv")),
        ),
    });
    let d = plan.protocol_depth;
    v.push(Proof {
        name: "protocol".into(),
        kind: format!("BMC depth {d} from reset"),
        covers: "qmac_top (LANES = 2, MULT_W = 8) against the interface contract: in_ready and cfg_ready \
                 exactly, register map and reset values, outputs in order with the owed accumulators and \
                 overflow flags (none lost, duplicated or invented), y = clamp(zp_out) for M0 = 0, \
                 out_* stable while stalled, LATENCY 6, at most 7 in flight"
            .into(),
        script: format!(
            "read_verilog -formal {lane} {top}\n\
             read_verilog -formal -sv {harness}\n\
             prep -top top_protocol\n\
             flatten\n\
             memory\n\
             opt -fast\n\
             async2sync\n\
             sat -seq {d} -prove-asserts -set-assumes -show-inputs -show-outputs -timeout {t}\n",
            harness = q(&h.join("top_protocol.sv")),
        ),
    });
    v
}

/// Read Yosys's verdict from its log.
pub fn verdict_of(log: &str) -> Verdict {
    if log.contains("TIMEOUT!") {
        Verdict::Inconclusive("the SAT solver timed out".into())
    } else if log.contains("FAIL!") && log.contains("model found") {
        if log.contains("Reached maximum number of time steps") {
            Verdict::Inconclusive("induction did not close within its step limit".into())
        } else {
            Verdict::Refuted
        }
    } else if log.contains("no model found: SUCCESS!")
        || log.contains("Induction step proven: SUCCESS!")
    {
        Verdict::Proven
    } else {
        Verdict::Inconclusive("Yosys printed no verdict".into())
    }
}

/// Run one proof in `work` (its script is written there as NAME.ys).
pub fn run(p: &Proof, work: &Path) -> Result<Outcome> {
    let file = work.join(format!("{}.ys", p.name.replace([' ', '='], "_")));
    std::fs::write(&file, &p.script).with_context(|| format!("writing {}", file.display()))?;
    let start = Instant::now();
    let out = Command::new("yosys")
        .arg("-s")
        .arg(&file)
        .output()
        .context("running yosys (install it: scripts/setup)")?;
    let seconds = start.elapsed().as_secs_f64();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict = if !out.status.success() {
        // A syntax error in the RTL, a missing file: Yosys says which.
        let why = log
            .lines()
            .find(|l| l.contains("ERROR"))
            .unwrap_or("yosys failed")
            .trim()
            .to_string();
        Verdict::Inconclusive(why)
    } else {
        verdict_of(&log)
    };
    Ok(Outcome {
        verdict,
        seconds,
        log,
    })
}

/// Worker threads of [`run_all`]: one per core.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Run every proof, [`threads`] at a time, calling `done` for each in plan
/// order as soon as it and every earlier proof have finished. The outcomes
/// in plan order; the first error (Yosys missing, a file not writable).
pub fn run_all(
    proofs: &[Proof],
    work: &Path,
    done: impl Fn(&Proof, &Outcome) + Sync,
) -> Result<Vec<Outcome>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; proofs.len()]);
    let printed = Mutex::new(0usize);
    let first_err = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads().min(proofs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = proofs.get(i) else { break };
                match run(p, work) {
                    Ok(o) => {
                        let mut r = results.lock().unwrap();
                        r[i] = Some(o);
                        let mut n = printed.lock().unwrap();
                        while let Some(Some(o)) = r.get(*n) {
                            done(&proofs[*n], o);
                            *n += 1;
                        }
                    }
                    Err(e) => {
                        first_err.lock().unwrap().get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().unwrap() {
        return Err(e);
    }
    Ok(results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.expect("every proof ran"))
        .collect())
}

/// The counterexample table of a refuted proof (Yosys's `sat` output:
/// one row per signal and cycle, `init` for the initial state).
pub fn counterexample(log: &str) -> String {
    let Some(i) = log.find("model found") else {
        return String::new();
    };
    log[i..]
        .lines()
        .filter(|l| {
            let first = l.split_whitespace().next().unwrap_or("");
            first == "Time" || first == "init" || first.parse::<u32>().is_ok()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
