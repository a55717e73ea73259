//! Lowering of a layer case onto the LANES-wide datapath.
//!
//! Output channels are grouped LANES at a time, consecutive channels on
//! lanes 0... Conv / FC channels read the same activations, which the
//! datapath broadcasts (CTRL.xl = 0); depthwise channels each read their own
//! input channel (output channel c reads c / depth_multiplier), so a
//! depthwise group runs with per-lane activations (CTRL.xl = 1) and fills
//! every lane whatever the depth multiplier. A grouped conv runs per-lane
//! too: each lane streams its own filter group's input channels, so lanes
//! stay full when a filter group has fewer than LANES output channels. For each group the parameters are loaded
//! once, then every output position streams its taps: the non-padded window
//! positions in (kh, kw) order, input channels innermost (the order
//! [`crate::golden::layer`] defines). Padded taps are skipped, which is exactly
//! zero-point padding because the datapath subtracts zp_x in the MAC. A
//! window with no tap at all (only padding) streams one beat x = zp_x, which
//! contributes 0, so the result is the bias.
//!
//! The stimulus is generated lazily, one dot product at a time: memory stays
//! a small multiple of the layer's tensors whatever its im2col size.

use std::sync::Arc;

#[cfg(feature = "rtl")]
use anyhow::Result;

use crate::arith::requant::narrow_multiplier;
use crate::arith::DType;
#[cfg(feature = "rtl")]
use crate::cosim::dut::Dut;
use crate::cosim::scoreboard::RunStats;
use crate::cosim::transaction::{DotJob, Item, LaneParams, Params};
#[cfg(feature = "rtl")]
use crate::cosim::{self, RunOptions};
use crate::formats::qcase::{Case, Op};
use crate::golden::layer::{datapath_rounding, window};

/// A channel group: output channels `c0 .. c0 + used` on lanes 0 .. used.
#[derive(Debug, Clone)]
struct Group {
    c0: usize,
    used: usize,
}

fn groups(case: &Case, lanes: usize) -> Vec<Group> {
    let oc = case.out_channels();
    let mut g = Vec::new();
    let mut c = 0;
    while c < oc {
        let used = lanes.min(oc - c);
        g.push(Group { c0: c, used });
        c += used;
    }
    g
}

/// Whether a case's groups stream per-lane activations (depthwise: each
/// output channel reads its own input channel; grouped conv: each reads its
/// filter group's slice, so a lane group may span filter groups).
fn per_lane(case: &Case) -> bool {
    case.op == Op::DepthwiseConv2d || case.groups > 1
}

/// The parameters of a group (unused lanes get zero weight and parameters).
fn group_params(case: &Case, g: &Group, lanes: usize, mult_w: u32) -> Params {
    let lane_params = (0..lanes)
        .map(|l| {
            if l < g.used {
                let c = g.c0 + l;
                let (m0, shift) = case.channel_params(c);
                let (m0, shift) = narrow_multiplier(m0, shift, mult_w);
                LaneParams {
                    bias: case.bias_of(c),
                    m0,
                    shift,
                }
            } else {
                LaneParams::default()
            }
        })
        .collect();
    Params {
        rounding: datapath_rounding(case.rounding, mult_w),
        input_dtype: case.input_dtype,
        zp_x: case.input_zero_point,
        zp_w: case.filter_zero_point,
        zp_out: case.output_zero_point,
        act_min: case.act_min,
        act_max: case.act_max,
        x_per_lane: per_lane(case),
        lanes: lane_params,
    }
}

/// Lazily generated stimulus of a layer: tag = flat output index of lane 0.
pub struct LayerStimulus<'a> {
    case: &'a Case,
    lanes: usize,
    mult_w: u32,
    groups: Vec<Group>,
    gi: usize,
    pos: usize,
    params_sent: bool,
    /// The parameters last loaded: a group that needs the same ones is not
    /// reloaded (they persist in the datapath), so groups of equal
    /// parameters (e.g. a MUL's one-tap dot products) stream back to back.
    loaded: Option<Arc<Params>>,
}

impl<'a> LayerStimulus<'a> {
    pub fn new(case: &'a Case, lanes: usize, mult_w: u32) -> Self {
        Self::of_groups(case, lanes, mult_w, groups(case, lanes))
    }

    fn of_groups(case: &'a Case, lanes: usize, mult_w: u32, groups: Vec<Group>) -> Self {
        LayerStimulus {
            case,
            lanes,
            mult_w,
            groups,
            gi: 0,
            pos: 0,
            params_sent: false,
            loaded: None,
        }
    }

    fn job(&self, g: &Group, pos: usize) -> DotJob {
        let c = self.case;
        let [_, oh_n, ow_n, oc_n] = c.output_shape;
        let [_, h, w, cin] = c.input_shape;
        let [_, kh_n, kw_n, fc] = c.filter_shape;
        let (n, rem) = (pos / (oh_n * ow_n), pos % (oh_n * ow_n));
        let (oh, ow) = (rem / ow_n, rem % ow_n);
        let lanes = self.lanes;
        let xb = |v: i32| match c.input_dtype {
            DType::Int8 => v as i8 as u8,
            DType::Uint8 => v as u8,
        };
        let mut x = Vec::new();
        let mut wv = Vec::new();
        let mut xl = Vec::new();
        let dm = c.depth_multiplier.max(1);
        for (kh, kw, ih, iw) in window(c, oh, ow) {
            let pix = ((n * h + ih) * w + iw) * cin;
            let frow = (kh * kw_n + kw) * fc;
            match c.op {
                Op::Conv2d if c.groups > 1 => {
                    // Lane l: output channel c0 + l reads its filter group's
                    // input channels; an unused lane repeats lane 0 with weight 0.
                    let cstep = kh_n * kw_n * fc;
                    for ic in 0..fc {
                        for l in 0..lanes {
                            let oc = g.c0 + if l < g.used { l } else { 0 };
                            xl.push(xb(c.input[pix + c.group_input_base(oc) + ic]));
                            let wgt = if l < g.used {
                                c.filter[oc * cstep + frow + ic]
                            } else {
                                0
                            };
                            wv.push(wgt as i8 as u8);
                        }
                    }
                }
                Op::Conv2d | Op::FullyConnected => {
                    let cstep = kh_n * kw_n * fc;
                    for ic in 0..cin {
                        x.push(xb(c.input[pix + ic]));
                        for l in 0..lanes {
                            let wgt = if l < g.used {
                                c.filter[(g.c0 + l) * cstep + frow + ic]
                            } else {
                                0
                            };
                            wv.push(wgt as i8 as u8);
                        }
                    }
                }
                Op::DepthwiseConv2d => {
                    // Lane l: output channel c0 + l, its input channel and its
                    // weight; an unused lane repeats lane 0's activation with weight 0.
                    for l in 0..lanes {
                        let oc = g.c0 + if l < g.used { l } else { 0 };
                        xl.push(xb(c.input[pix + oc / dm]));
                        let wgt = if l < g.used { c.filter[frow + oc] } else { 0 };
                        wv.push(wgt as i8 as u8);
                    }
                }
            }
        }
        let tag = (pos * oc_n + g.c0) as u64;
        if wv.is_empty() {
            wv.resize(lanes, 0);
            if per_lane(c) {
                xl.resize(lanes, xb(c.input_zero_point));
            } else {
                x.push(xb(c.input_zero_point));
            }
        }
        if per_lane(c) {
            DotJob::per_lane(xl, wv, lanes, tag)
        } else {
            DotJob::new(x, wv, tag)
        }
    }
}

impl Iterator for LayerStimulus<'_> {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        let positions =
            self.case.output_shape[0] * self.case.output_shape[1] * self.case.output_shape[2];
        let g = self.groups.get(self.gi)?.clone();
        if !self.params_sent {
            self.params_sent = true;
            let p = group_params(self.case, &g, self.lanes, self.mult_w);
            if self.loaded.as_deref() != Some(&p) {
                let p = Arc::new(p);
                self.loaded = Some(p.clone());
                return Some(Item::Params(p));
            }
        }
        let job = self.job(&g, self.pos);
        self.pos += 1;
        if self.pos == positions {
            self.pos = 0;
            self.gi += 1;
            self.params_sent = false;
        }
        Some(Item::Dot(Arc::new(job)))
    }
}

/// The outputs of a layer as the RTL computed them (NHWC flat), and the run's stats.
pub struct RtlLayer {
    pub output: Vec<i32>,
    pub acc: Vec<i32>,
    pub stats: RunStats,
}

/// Run a layer case through the RTL with full per-cycle checking.
#[cfg(feature = "rtl")]
pub fn run_layer(case: &Case, dut: &mut Dut, opt: &RunOptions) -> Result<RtlLayer> {
    run_layer_on(case, std::slice::from_mut(dut), opt, None)
}

/// Run a layer case through the RTL on every DUT of `duts` at once (one
/// thread each): the layer's channel groups are split into `duts.len()`
/// contiguous shares, each streamed to its own DUT with full per-cycle
/// checking, and the outputs merged. A dot product's tag is its global
/// output index, so every result and every failure message names the
/// layer's own output position whichever DUT computed it. The statistics
/// add up (cycles: the DUTs' cycles summed). Share `k` takes the
/// backpressure stream `stream_seed(opt.seed, k)`; with one DUT, `opt.seed`
/// itself. The outputs do not depend on the split. `progress`, when given,
/// grows by the layer's MACs per output for every output as its result
/// arrives (a long layer's progress moves while it runs).
#[cfg(feature = "rtl")]
pub fn run_layer_on(
    case: &Case,
    duts: &mut [Dut],
    opt: &RunOptions,
    progress: Option<&std::sync::atomic::AtomicU64>,
) -> Result<RtlLayer> {
    // Float-reference cases (float64, fbgemm, onednn) run the integer path
    // their multiplier / shift / int32 bias define (double rounding); the
    // caller compares it with the float reference.
    anyhow::ensure!(!duts.is_empty(), "no DUT to run the layer on");
    let lanes = duts[0].lanes();
    anyhow::ensure!(
        duts.iter().all(|d| d.lanes() == lanes),
        "the DUTs of one layer must have one LANES value"
    );
    let mult_w = crate::cosim::dut::built_mult_w();
    let macs_per_output = case.macs() / (case.output_shape.iter().product::<usize>().max(1) as u64);
    let all = groups(case, lanes);
    let k = duts.len().min(all.len()).max(1);
    let mut shares: Vec<Vec<Group>> = Vec::with_capacity(k);
    let mut rest = all.as_slice();
    for i in 0..k {
        let n = rest.len() / (k - i);
        shares.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    let run_share = |dut: &mut Dut, share: Vec<Group>, seed: u64| -> RtlLayer {
        let total: usize = case.output_shape.iter().product();
        let mut output = vec![i32::MIN; total];
        let mut acc = vec![0i32; total];
        let mut used_by_c0 = vec![0usize; case.out_channels()];
        for g in &share {
            used_by_c0[g.c0] = g.used;
        }
        let stim = LayerStimulus::of_groups(case, lanes, mult_w, share);
        let out_signed = case.output_dtype == DType::Int8;
        let opt = RunOptions {
            seed,
            ..opt.clone()
        };
        let stats = cosim::run(dut, stim, &opt, |tag, y, acc_lanes| {
            let base = tag as usize;
            let c0 = base % case.out_channels();
            let used = used_by_c0[c0];
            for l in 0..used {
                output[base + l] = if out_signed {
                    y[l] as i8 as i32
                } else {
                    y[l] as i32
                };
                acc[base + l] = acc_lanes[l];
            }
            if let Some(p) = progress {
                p.fetch_add(
                    used as u64 * macs_per_output,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
        });
        RtlLayer { output, acc, stats }
    };
    let mut parts: Vec<RtlLayer> = if k == 1 {
        vec![run_share(
            &mut duts[0],
            shares.pop().unwrap_or_default(),
            opt.seed,
        )]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = duts
                .iter_mut()
                .zip(shares)
                .enumerate()
                .map(|(i, (dut, share))| {
                    let seed = crate::cosim::transaction::stream_seed(opt.seed, i as u64);
                    let run_share = &run_share;
                    s.spawn(move || run_share(dut, share, seed))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a layer share's thread panicked"))
                .collect()
        })
    };
    let mut merged = parts.remove(0);
    for p in parts {
        for (i, y) in p.output.iter().enumerate() {
            if *y != i32::MIN {
                merged.output[i] = *y;
                merged.acc[i] = p.acc[i];
            }
        }
        merged.stats.merge(&p.stats);
    }
    for f in merged.stats.failures.iter_mut() {
        f.message = name_output_position(&f.message, case.output_shape);
    }
    Ok(merged)
}

/// A scoreboard message about `(tag T), lane L` of a layer run names the
/// output position too: the tag of a layer's dot product is the flat NHWC
/// index of its lane 0, so lane L computes output `T + L`.
pub fn name_output_position(message: &str, shape: [usize; 4]) -> String {
    let parse = || -> Option<(usize, usize)> {
        let at = message.find("(tag ")?;
        let rest = &message[at + 5..];
        let close = rest.find(')')?;
        let tag: usize = rest[..close].parse().ok()?;
        let lane_s = rest[close..].strip_prefix("), lane ")?;
        let digits = lane_s.bytes().take_while(u8::is_ascii_digit).count();
        let lane: usize = lane_s[..digits].parse().ok()?;
        Some((tag + lane, at + 5 + close + 8 + digits))
    };
    let [_, oh, ow, oc] = shape;
    match parse() {
        Some((i, end)) if i < shape.iter().product() => format!(
            "{} (output [{}, {}, {}, {}]){}",
            &message[..end],
            i / (oh * ow * oc),
            i / (ow * oc) % oh,
            i / oc % ow,
            i % oc,
            &message[end..]
        ),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `cin`→`cout` conv case in `groups` groups (3×3, SAME, stride 1,
    /// int8, pseudo-random data from `seed`), or a depthwise one.
    fn case(op: Op, cin: usize, cout: usize, groups: usize, seed: u64) -> Case {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |lo: i32, hi: i32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lo + (state % (hi - lo) as u64) as i32
        };
        let fshape = match op {
            Op::DepthwiseConv2d => [1, 3, 3, cout],
            _ => [cout, 3, 3, cin / groups],
        };
        let c = Case {
            path: "lowering-test".into(),
            source: String::new(),
            op,
            input_shape: [1, 5, 5, cin],
            filter_shape: fshape,
            output_shape: [1, 5, 5, cout],
            stride: [1, 1],
            dilation: [1, 1],
            padding: [1, 1, 1, 1],
            depth_multiplier: if op == Op::DepthwiseConv2d {
                cout / cin
            } else {
                1
            },
            groups,
            input_zero_point: 7,
            filter_zero_point: 0,
            output_zero_point: 0,
            input_scale: None,
            filter_scales: None,
            output_scale: None,
            act_min: -128,
            act_max: 127,
            multiplier: vec![1 << 30; cout],
            shift: vec![-8; cout],
            rounding: crate::formats::qcase::Rounding::Double,
            input_dtype: DType::Int8,
            output_dtype: DType::Int8,
            input: (0..25 * cin).map(|_| next(-128, 128)).collect(),
            filter: (0..fshape.iter().product::<usize>())
                .map(|_| next(-128, 128))
                .collect(),
            bias: Some((0..cout).map(|_| next(-9999, 9999)).collect()),
            bias_float: None,
            output: None,
        };
        c.validate().expect("a valid case");
        c
    }

    /// The lowering's dot products, evaluated lane by lane as the
    /// scoreboard does, give the golden model's accumulators at every
    /// output, for every lane width (lane groups that span filter groups).
    #[test]
    fn every_lowered_dot_product_is_the_golden_accumulator() {
        let shapes = [
            (Op::Conv2d, 6, 10, 1),
            (Op::Conv2d, 8, 16, 4),
            (Op::Conv2d, 16, 8, 8),
            (Op::Conv2d, 6, 12, 3),
            (Op::DepthwiseConv2d, 6, 12, 1),
        ];
        for (k, &(op, cin, cout, groups)) in shapes.iter().enumerate() {
            let c = case(op, cin, cout, groups, k as u64);
            let (golden, _) = crate::golden::layer::accumulate(&c);
            let golden: Vec<i32> = golden.iter().copied().collect();
            for lanes in [1, 3, 8] {
                let mut params = None;
                let mut seen = 0;
                for item in LayerStimulus::new(&c, lanes, 32) {
                    match item {
                        Item::Params(p) => params = Some(p),
                        Item::Dot(j) => {
                            let p = params.as_ref().expect("parameters first");
                            let (_, acc, _) = crate::cosim::scoreboard::expect(&j, p, lanes, 32);
                            let base = j.tag as usize;
                            let used = p.lanes.iter().take_while(|l| l.m0 != 0).count();
                            for l in 0..used.min(c.out_channels() - base % c.out_channels()) {
                                assert_eq!(
                                    acc[l],
                                    golden[base + l],
                                    "{op:?} {cin}->{cout} groups {groups}, lanes {lanes}: output {}",
                                    base + l
                                );
                                seen += 1;
                            }
                        }
                    }
                }
                assert_eq!(seen, golden.len(), "{op:?} groups {groups} lanes {lanes}");
            }
        }
    }

    #[test]
    fn a_beat_failure_names_the_output_position() {
        let m = "cycle 9: dot #3 (tag 168), lane 5: expected y=1, got y=2";
        assert_eq!(
            super::name_output_position(m, [1, 10, 10, 8]),
            "cycle 9: dot #3 (tag 168), lane 5 (output [0, 2, 1, 5]): expected y=1, got y=2"
        );
        let other = "cycle 9: output changed while stalled";
        assert_eq!(super::name_output_position(other, [1, 10, 10, 8]), other);
    }
}
