//! The repro file: a transaction as JSON (`qmac_transaction: 1`), written
//! after shrinking and read back, every field checked, by `qmac fuzz --replay`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::Transaction;
use crate::arith::requant::DatapathRounding;
use crate::arith::DType;
use crate::cosim::interface::MAX_LANES;
use crate::cosim::transaction::{
    Backpressure, DotJob, HostModel, Item, LaneParams, Params, StreamCheck, StreamError,
};
use crate::error::InputError;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BpFile {
    in_gap: f64,
    out_stall: f64,
    long_stall: f64,
    /// Absent in repros written before it existed.
    #[serde(default)]
    ready_after_valid: bool,
    /// The host's cfg-port behaviour (absent in repros written before it
    /// existed: every register written in map order).
    #[serde(default = "plain_host")]
    host: HostFile,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    delta_load: f64,
    shuffle: f64,
    unmapped: f64,
    reset: f64,
    overlap: f64,
}

fn plain_host() -> HostFile {
    HostFile::from(HostModel::PLAIN)
}

impl From<HostModel> for HostFile {
    fn from(h: HostModel) -> HostFile {
        HostFile {
            delta_load: h.delta_load,
            shuffle: h.shuffle,
            unmapped: h.unmapped,
            reset: h.reset,
            overlap: h.overlap,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LaneFile {
    bias: i32,
    m0: i32,
    shift: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsFile {
    rounding: String,
    input_dtype: String,
    zp_x: i32,
    zp_w: i32,
    zp_out: i32,
    act_min: i32,
    act_max: i32,
    /// Per-lane activations (CTRL.xl): each dot product's `x` then holds
    /// LANES values per tap, tap-major like `w`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x_per_lane: bool,
    lanes: Vec<LaneFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DotFile {
    /// Activations as values of the parameter set's input type: one per
    /// tap, or LANES per tap (x[t·lanes + l]) under per-lane parameters.
    x: Vec<i32>,
    /// int8 weights, tap-major: w[t·lanes + l].
    w: Vec<i32>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ItemFile {
    Params(ParamsFile),
    Dot(DotFile),
}

/// The JSON transaction file written for a repro and read by `qmac fuzz --replay`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxFile {
    qmac_transaction: u32,
    /// Where it came from (seed, iteration, shrinking), free text.
    source: String,
    lanes: usize,
    mult_w: u32,
    bp_seed: u64,
    backpressure: BpFile,
    items: Vec<ItemFile>,
}

pub fn to_json(tx: &Transaction, source: &str) -> String {
    let mut items_f = Vec::new();
    let mut cur: Option<Arc<Params>> = None;
    for it in &tx.items {
        match it {
            Item::Params(p) => {
                items_f.push(ItemFile::Params(ParamsFile {
                    rounding: p.rounding.name().into(),
                    input_dtype: p.input_dtype.name().into(),
                    zp_x: p.zp_x,
                    zp_w: p.zp_w,
                    zp_out: p.zp_out,
                    act_min: p.act_min,
                    act_max: p.act_max,
                    x_per_lane: p.x_per_lane,
                    lanes: p
                        .lanes
                        .iter()
                        .map(|l| LaneFile {
                            bias: l.bias,
                            m0: l.m0,
                            shift: l.shift,
                        })
                        .collect(),
                }));
                cur = Some(p.clone());
            }
            Item::Dot(j) => {
                let p = cur.as_ref().expect("params first");
                items_f.push(ItemFile::Dot(DotFile {
                    x: if j.xl.is_empty() { &j.x } else { &j.xl }
                        .iter()
                        .map(|&b| p.x_value(b))
                        .collect(),
                    w: j.w.iter().map(|&b| b as i8 as i32).collect(),
                }));
            }
        }
    }
    let f = TxFile {
        qmac_transaction: 1,
        source: source.into(),
        lanes: tx.lanes,
        mult_w: tx.mult_w,
        bp_seed: tx.bp_seed,
        backpressure: BpFile {
            in_gap: tx.backpressure.in_gap,
            out_stall: tx.backpressure.out_stall,
            long_stall: tx.backpressure.long_stall,
            ready_after_valid: tx.backpressure.ready_after_valid,
            host: HostFile::from(tx.backpressure.host),
        },
        items: items_f,
    };
    serde_json::to_string_pretty(&f).expect("serialisable") + "\n"
}

/// Read and validate a transaction file.
pub fn read(path: &Path) -> Result<Transaction, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    let f: TxFile = serde_json::from_str(&text)
        .map_err(|e| InputError::new(path, format!("line {}", e.line()), e.to_string()))?;
    if f.qmac_transaction != 1 {
        return Err(InputError::new(
            path,
            "field `qmac_transaction`",
            "unsupported version (expected 1)",
        ));
    }
    if f.lanes == 0 || f.lanes > MAX_LANES {
        return Err(InputError::new(
            path,
            "field `lanes`",
            format!("{} is not in 1..={MAX_LANES}", f.lanes),
        ));
    }
    if !(2..=32).contains(&f.mult_w) {
        return Err(InputError::new(
            path,
            "field `mult_w`",
            format!("{} is not in 2..=32", f.mult_w),
        ));
    }
    let mut out = Vec::new();
    // The stream rules (widths, order, taps) are the driver's own: StreamCheck.
    let mut check = StreamCheck::new(f.lanes);
    let mut per_lane = false;
    let stream_err =
        |i: usize, e: StreamError| InputError::new(path, format!("field `items[{i}]`"), e);
    for (i, it) in f.items.into_iter().enumerate() {
        let at = |field: &str| format!("field `items[{i}].{field}`");
        match it {
            ItemFile::Params(p) => {
                let rounding = match p.rounding.as_str() {
                    "double" => DatapathRounding::Double,
                    "single" => DatapathRounding::Single,
                    o => {
                        return Err(InputError::new(
                            path,
                            at("rounding"),
                            format!("`{o}` is not double or single"),
                        ))
                    }
                };
                let input_dtype = match p.input_dtype.as_str() {
                    "int8" => DType::Int8,
                    "uint8" => DType::Uint8,
                    o => {
                        return Err(InputError::new(
                            path,
                            at("input_dtype"),
                            format!("`{o}` is not int8 or uint8"),
                        ))
                    }
                };
                let (lo, hi) = input_dtype.range();
                if p.zp_x < lo || p.zp_x > hi {
                    return Err(InputError::new(
                        path,
                        at("zp_x"),
                        format!("{} is outside [{lo}, {hi}]", p.zp_x),
                    ));
                }
                if !(-128..=127).contains(&p.zp_w) {
                    return Err(InputError::new(
                        path,
                        at("zp_w"),
                        format!("{} is not int8", p.zp_w),
                    ));
                }
                if p.act_min > p.act_max
                    || p.act_min < -128
                    || p.act_max > 255
                    || !(-256..=255).contains(&p.zp_out)
                {
                    return Err(InputError::new(
                        path,
                        at("act_min"),
                        "act_min <= act_max within [-128, 255] and zp_out in [-256, 255] required",
                    ));
                }
                let wmax = (1i64 << (f.mult_w - 1)) - 1;
                let mut lanes = Vec::new();
                for (l, lp) in p.lanes.iter().enumerate() {
                    if !(-31..=30).contains(&lp.shift)
                        || (lp.m0 as i64) > wmax
                        || (lp.m0 as i64) < -wmax - 1
                    {
                        return Err(InputError::new(
                            path,
                            at(&format!("lanes[{l}]")),
                            format!("shift must be in [-31, 30] and m0 fit {} bits", f.mult_w),
                        ));
                    }
                    lanes.push(LaneParams {
                        bias: lp.bias,
                        m0: lp.m0,
                        shift: lp.shift,
                    });
                }
                let p = Arc::new(Params {
                    rounding,
                    input_dtype,
                    zp_x: p.zp_x,
                    zp_w: p.zp_w,
                    zp_out: p.zp_out,
                    act_min: p.act_min,
                    act_max: p.act_max,
                    x_per_lane: p.x_per_lane,
                    lanes,
                });
                per_lane = p.x_per_lane;
                let item = Item::Params(p);
                check.next(&item).map_err(|e| stream_err(i, e))?;
                out.push(item);
            }
            ItemFile::Dot(d) => {
                let xb: Vec<u8> = d.x.iter().map(|&v| v as u8).collect();
                let wb: Vec<u8> = d.w.iter().map(|&v| v as i8 as u8).collect();
                let item = Item::Dot(Arc::new(if per_lane {
                    DotJob::per_lane(xb, wb, f.lanes, i as u64)
                } else {
                    DotJob::new(xb, wb, i as u64)
                }));
                let p = check
                    .next(&item)
                    .map_err(|e| stream_err(i, e))?
                    .expect("StreamCheck returns a dot product's parameters");
                let (lo, hi) = p.input_dtype.range();
                if let Some(t) = d.x.iter().position(|&x| x < lo || x > hi) {
                    return Err(InputError::new(
                        path,
                        format!("element {t} of `items[{i}].x`"),
                        format!("{} is outside [{lo}, {hi}]", d.x[t]),
                    ));
                }
                if let Some(t) = d.w.iter().position(|&w| !(-128..=127).contains(&w)) {
                    return Err(InputError::new(
                        path,
                        format!("element {t} of `items[{i}].w`"),
                        format!("{} is not int8", d.w[t]),
                    ));
                }
                out.push(item);
            }
        }
    }
    let bp = Backpressure {
        in_gap: f.backpressure.in_gap,
        out_stall: f.backpressure.out_stall,
        long_stall: f.backpressure.long_stall,
        ready_after_valid: f.backpressure.ready_after_valid,
        host: HostModel {
            delta_load: f.backpressure.host.delta_load,
            shuffle: f.backpressure.host.shuffle,
            unmapped: f.backpressure.host.unmapped,
            reset: f.backpressure.host.reset,
            overlap: f.backpressure.host.overlap,
        },
    };
    if !out.iter().any(|i| matches!(i, Item::Dot(_))) {
        return Err(InputError::new(
            path,
            "field `items`",
            "no dot product: a replay of it would check nothing",
        ));
    }
    if let Err((field, why)) = bp.check() {
        return Err(InputError::new(
            path,
            format!("field `backpressure.{field}`"),
            why,
        ));
    }
    Ok(Transaction {
        lanes: f.lanes,
        mult_w: f.mult_w,
        backpressure: bp,
        bp_seed: f.bp_seed,
        items: out,
    })
}

/// Write `tx` as a repro file (refusing to overwrite).
pub fn write_repro(path: &Path, tx: &Transaction, source: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = crate::formats::create_file(path, false, "another --out directory")?;
    f.write_all(to_json(tx, source).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
