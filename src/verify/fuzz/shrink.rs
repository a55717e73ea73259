//! Shrinking a failing transaction while it still fails: no backpressure,
//! fewer dot products, fewer taps, smaller operands, simpler parameters.

use std::sync::Arc;

use super::{run, Transaction};
use crate::arith::DType;
use crate::cosim::dut::Dut;
use crate::cosim::transaction::{Backpressure, DotJob, Item, LaneParams, Params};
use crate::verify::stimulus::items;

fn fails(dut: &mut Dut, tx: &Transaction, runs: &mut usize) -> bool {
    *runs += 1;
    !run(dut, tx, "").passed()
}

/// Rebuild the items from (params, dot) pairs (parameters reloaded where they change).
fn pairs_of(tx: &Transaction) -> Vec<(Params, DotJob)> {
    let mut p: Option<Arc<Params>> = None;
    let mut out = Vec::new();
    for it in &tx.items {
        match it {
            Item::Params(q) => p = Some(q.clone()),
            Item::Dot(j) => {
                out.push(((**p.as_ref().expect("params first")).clone(), (**j).clone()))
            }
        }
    }
    out
}

fn with_pairs(tx: &Transaction, pairs: Vec<(Params, DotJob)>) -> Transaction {
    Transaction {
        items: items(pairs),
        ..tx.clone()
    }
}

/// Shrink a failing transaction while it still fails: no backpressure, fewer
/// dot products, fewer taps, smaller magnitudes, simpler parameters.
/// Returns the minimal transaction and the number of runs it took.
pub fn shrink(dut: &mut Dut, tx: &Transaction, budget: usize) -> (Transaction, usize) {
    let mut runs = 0;
    let mut best = tx.clone();
    if !fails(dut, &best, &mut runs) {
        return (best, runs);
    }
    let try_tx =
        |dut: &mut Dut, cand: Transaction, best: &mut Transaction, runs: &mut usize| -> bool {
            if *runs < budget && fails(dut, &cand, runs) {
                *best = cand;
                true
            } else {
                false
            }
        };
    if !best.backpressure.is_none() {
        let cand = Transaction {
            backpressure: Backpressure::NONE,
            ..best.clone()
        };
        try_tx(dut, cand, &mut best, &mut runs);
    }
    let mut changed = true;
    while changed && runs < budget {
        changed = false;
        // Fewer dot products: drop halves, then single ones.
        let pairs = pairs_of(&best);
        let mut chunk = pairs.len() / 2;
        while chunk >= 1 {
            let pairs = pairs_of(&best);
            let mut i = 0;
            while i < pairs.len() && pairs.len() > 1 {
                let mut cand: Vec<(Params, DotJob)> = pairs.clone();
                let end = (i + chunk).min(cand.len());
                cand.drain(i..end);
                if !cand.is_empty() && try_tx(dut, with_pairs(&best, cand), &mut best, &mut runs) {
                    changed = true;
                    break;
                }
                i += chunk;
            }
            if !changed {
                chunk /= 2;
            } else {
                break;
            }
        }
        if changed {
            continue;
        }
        // Fewer taps, smaller operands, simpler parameters (per dot product).
        let pairs = pairs_of(&best);
        let lanes = best.lanes;
        'outer: for d in 0..pairs.len() {
            let (p, j) = &pairs[d];
            let k = j.x.len();
            let mut cands: Vec<(Params, DotJob)> = Vec::new();
            if k > 1 {
                for (a, b) in [(0, k / 2), (k / 2, k)] {
                    cands.push((p.clone(), j.taps_slice(a, b, lanes)));
                }
                for t in 0..k.min(64) {
                    cands.push((p.clone(), j.without_tap(t, lanes)));
                }
            }
            let zpx_byte = match p.input_dtype {
                DType::Int8 => p.zp_x as i8 as u8,
                DType::Uint8 => p.zp_x as u8,
            };
            for t in 0..k.min(64) {
                if (0..lanes).any(|l| j.x_at(t, l, lanes) != zpx_byte) {
                    cands.push((p.clone(), j.with_x(t, zpx_byte, lanes)));
                }
                for l in 0..lanes {
                    let v = j.w[t * lanes + l];
                    for nv in [0u8, ((v as i8) / 2) as u8] {
                        if v != nv {
                            let mut c = j.clone();
                            c.w[t * lanes + l] = nv;
                            cands.push((p.clone(), c));
                        }
                    }
                }
            }
            let mut simpler = Vec::new();
            // Keep one lane's parameters, all others zero (collapses multi-lane noise fast).
            if lanes > 1 {
                for keep in 0..lanes {
                    let mut q = p.clone();
                    for (l, lp) in q.lanes.iter_mut().enumerate() {
                        if l != keep {
                            *lp = LaneParams::default();
                        }
                    }
                    if q != *p {
                        simpler.push(q);
                    }
                }
            }
            for l in 0..lanes {
                let lp = p.lanes[l];
                for c in [
                    LaneParams { bias: 0, ..lp },
                    LaneParams {
                        bias: lp.bias / 2,
                        ..lp
                    },
                    LaneParams {
                        m0: 1 << (best.mult_w - 2),
                        ..lp
                    },
                    LaneParams { shift: -1, ..lp },
                    LaneParams::default(),
                ] {
                    if c != lp {
                        let mut q = p.clone();
                        q.lanes[l] = c;
                        simpler.push(q);
                    }
                }
            }
            for q in [
                Params {
                    zp_w: 0,
                    ..p.clone()
                },
                Params {
                    zp_out: 0.clamp(p.act_min, p.act_max),
                    ..p.clone()
                },
                Params {
                    // The widest bounds the datapath takes (parenthesised: `-128.min(x)`
                    // would parse as `-(128.min(x))`).
                    act_min: (-128i32).min(p.act_min),
                    act_max: 127i32.max(p.act_max),
                    ..p.clone()
                },
            ] {
                if q != *p {
                    simpler.push(q);
                }
            }
            // Structure first (fewer taps), then operands, then parameters.
            cands.extend(simpler.into_iter().map(|q| (q, j.clone())));
            for c in cands {
                let mut cp = pairs.clone();
                cp[d] = c;
                if try_tx(dut, with_pairs(&best, cp), &mut best, &mut runs) {
                    changed = true;
                    break 'outer;
                }
            }
        }
    }
    (best, runs)
}
