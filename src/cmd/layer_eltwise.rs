//! `qmac layer` on an elementwise PyTorch case (add / mul / cat /
//! batch_norm, docs/qcase.md §4): the integer path on the golden model and,
//! for mul, cat and batch_norm, on the RTL (as the MAC case
//! [`eltwise::lowered`] gives); compared
//! with PyTorch's output through the emulation of its float32 kernel, every
//! difference explained by a verified cause or the case fails.

use std::path::Path;

use anyhow::Result;

use qmac::cosim::dut::Dut;
use qmac::cosim::RunOptions;
use qmac::formats::qcase::{EltCase, EltOp};
use qmac::golden::eltwise::{self, EltComparison};
use qmac::verdict;

/// What one elementwise case gave.
pub struct EltOutcome {
    pub ok: bool,
    pub line: String,
    pub notes: Vec<String>,
    pub record: serde_json::Value,
    pub comparison: Option<EltComparison>,
    /// (RTL run, RTL = golden integer) when the RTL ran the case.
    pub rtl_exact: Option<bool>,
}

/// Runs one elementwise case; `dut` is the RTL when the backend has one.
pub fn run_case(
    case: &EltCase,
    path: &Path,
    name: &str,
    dut: Option<&mut Dut>,
    opt: &RunOptions,
    explain: bool,
    max_listed: usize,
) -> Result<EltOutcome> {
    let integer = eltwise::integer(case)?;
    let n = integer.len();
    let [_, h, w, c] = case.input_shape;
    let mut line = format!(
        "{name:<40} {:<17} {}x{}x{}x{} -> {}",
        case.op.name(),
        case.input_shape[0],
        h,
        w,
        c,
        case.output_shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x")
    );
    let mut notes = Vec::new();
    let mut rtl_json = serde_json::Value::Null;
    let mut rtl_exact = None;
    let mut rtl_ok = true;
    match (dut, eltwise::lowered(case)) {
        (Some(dut), Some(mac)) => {
            let golden = qmac::golden::layer::run(&mac)?;
            let r = qmac::cosim::lowering::run_layer(&mac, dut, opt)?;
            let v = verdict::rtl_layer(&mac, &golden.acc, &r, qmac::cosim::dut::built_mult_w());
            rtl_ok = v.passed();
            rtl_exact = Some(rtl_ok);
            line += &format!(
                "  rtl mismatches {} (acc {}, beat checks {} failed)  {} beats {} cycles",
                v.outputs.mismatches,
                v.accs.mismatches,
                v.beat_failures,
                r.stats.beats,
                r.stats.cycles
            );
            for f in r.stats.failures.iter().take(max_listed) {
                notes.push(format!("  {}", f.message));
            }
            rtl_json = serde_json::json!({
                "output_mismatches": v.outputs.mismatches,
                "acc_mismatches": v.accs.mismatches,
                "beat_failures": v.beat_failures,
                "beats": r.stats.beats,
                "cycles": r.stats.cycles,
                "dots": r.stats.dots,
            });
        }
        (Some(_), None) => {
            line += &match case.op {
                EltOp::Hardswish => "  [hardswish is not a dot product: its integer path (a 256-entry table) runs on the golden model, not the RTL]".to_string(),
                EltOp::AvgPool | EltOp::AdaptiveAvgPool => format!(
                    "  [{}: the windows' divisors differ, so its integer path (a multiplier per position) runs on the golden model, not the RTL]",
                    case.op.name()
                ),
                _ => format!(
                    "  [{} is not a dot product: its integer path (TFLite's ADD) runs on the golden model, not the RTL]",
                    case.op.name()
                ),
            };
        }
        (None, _) => {}
    }
    let cmp = eltwise::compare(case, &integer);
    match &cmp {
        None => line += "  (no reference output)",
        Some(c) => {
            line += &format!(
                "  outputs {:>6}  [PyTorch {}: integer vs PyTorch differs on {} of {} outputs, max|diff| {}, {} explained{}]",
                c.outputs,
                case.op.name(),
                c.differing,
                c.outputs,
                c.max_abs,
                c.explained,
                if c.passed() {
                    String::new()
                } else {
                    format!(
                        ", {} unexplained; emulation = PyTorch on {} of {}",
                        c.unexplained().count(),
                        c.emulation_matches,
                        c.outputs
                    )
                }
            );
            let bad: Vec<_> = c.unexplained().collect();
            for d in bad.iter().take(max_listed) {
                notes.push(format!("  UNEXPLAINED {}", d.line()));
            }
            if bad.len() > max_listed {
                notes.push(format!(
                    "  … and {} more unexplained outputs",
                    bad.len() - max_listed
                ));
            }
            if explain {
                notes.extend(
                    c.details
                        .iter()
                        .filter(|d| d.integer != d.pytorch && d.explained())
                        .map(|d| format!("  {}", d.line())),
                );
            }
        }
    }
    let checked = cmp.is_some() || rtl_exact.is_some();
    if !checked {
        line += "  (nothing compared: no reference output and no RTL run)";
    }
    let ok = checked && rtl_ok && cmp.as_ref().is_none_or(|c| c.passed());
    let tally = cmp.as_ref().map_or_else(Vec::new, |c| {
        qmac::verify::report::data::tally(c.details.iter().filter(|d| d.integer != d.pytorch).map(
            |d| {
                let cause = match (&d.cause, d.explained()) {
                    (Ok(k), true) => k.label(),
                    _ => "unexplained",
                };
                (d.integer as i64 - d.pytorch as i64, cause, d.explained())
            },
        ))
    });
    let diff_map = qmac::verify::report::data::DiffMap::collect(
        case.output_shape,
        cmp.iter()
            .flat_map(|c| c.details.iter())
            .filter(|d| d.integer != d.pytorch || d.emulated != d.pytorch)
            .map(|d| (d.index, (d.integer as i64 - d.pytorch as i64).abs().max(1))),
    );
    let record = serde_json::json!({
        "case": path.display().to_string(),
        "op": case.op.name(),
        "verdict": if ok { "PASS" } else { "FAIL" },
        "outputs": n,
        "reference": cmp.as_ref().map(|c| serde_json::json!({
            "kind": "pytorch", "compared": c.outputs, "differing": c.differing, "explained": c.explained,
        })),
        "rtl": rtl_json,
        "details": notes.iter().map(|n| n.trim()).collect::<Vec<_>>(),
        "input_shape": case.input_shape,
        "output_shape": case.output_shape,
        "macs": if case.op == EltOp::Mul { n } else { 0 },
        "diff_map": diff_map,
        "framework_diffs": tally,
        "width_sweep": [],
        "mult_bits": 32,
        "beat_failure_messages": [],
    });
    Ok(EltOutcome {
        ok,
        line,
        notes,
        record,
        comparison: cmp,
        rtl_exact,
    })
}
