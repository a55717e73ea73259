//! The scoreboard: the golden result of every dot product the driver
//! sends (the reference model, [`expect_into`]), kept in order while it is in
//! flight, and checked against each output the monitor saw: value,
//! accumulator and overflow flag on every lane, order, no output without
//! input, and the latency. Every failure is recorded with the cycle (counted
//! from the run's reset), the seed and the replay command.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::arith::mac::Accumulator;
use crate::arith::DType;
use crate::cosim::interface::{BatchOut, LATENCY};
use crate::cosim::transaction::{DotJob, Params};

/// The expected result of one dot product, kept while it is in flight.
#[derive(Debug, Clone)]
pub struct Expected {
    pub index: u64,
    pub tag: u64,
    pub y: Vec<u8>,
    pub acc: Vec<i32>,
    pub ovf: Vec<u8>,
    pub job: Arc<DotJob>,
    pub params: Arc<Params>,
}

/// The golden result of `job` under `params`, lane by lane, into the slices.
pub fn expect_into(
    job: &DotJob,
    params: &Params,
    mult_w: u32,
    y: &mut [u8],
    acc: &mut [i32],
    ovf: &mut [u8],
) {
    let lanes = y.len();
    for l in 0..lanes {
        let mut a = Accumulator::start(params.lanes[l].bias);
        for t in 0..job.x.len() {
            let w = job.w[t * lanes + l] as i8 as i32;
            a.add(Accumulator::product(
                params.x_value(job.x_at(t, l, lanes)),
                w,
                params.zp_x,
                params.zp_w,
            ));
        }
        acc[l] = a.dot.acc;
        ovf[l] = a.dot.overflow as u8;
        y[l] = params.requant(l, mult_w).apply(a.dot.acc) as u8;
    }
}

/// The golden result of `job` under `params` (lane by lane).
pub fn expect(
    job: &DotJob,
    params: &Params,
    lanes: usize,
    mult_w: u32,
) -> (Vec<u8>, Vec<i32>, Vec<u8>) {
    let (mut y, mut acc, mut ovf) = (vec![0u8; lanes], vec![0i32; lanes], vec![0u8; lanes]);
    expect_into(job, params, mult_w, &mut y, &mut acc, &mut ovf);
    (y, acc, ovf)
}

/// The checks of a run. Each failure message contains its check's
/// [`Check::marker`] (the messages are built with it), so a message can be
/// classified back ([`Check::of`]): `qmac mutants` reports which check
/// killed a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// y, the 32-bit accumulator or the sticky overflow flag of a lane differs.
    Value,
    /// Every lane repeats the previous output (a duplicated or stale output).
    Duplicate,
    /// A result not LATENCY cycles after its last beat, with no stall between.
    Latency,
    /// out_valid with no dot product in flight (none whose last beat was
    /// accepted before the output appeared).
    OutputWithoutInput,
    /// Every input accepted, results still missing, no output for the watchdog's cycles.
    LostOutput,
    /// The output changed while held (out_valid && !out_ready).
    OutputChanged,
    /// out_valid dropped before the output was accepted.
    ValidDropped,
    /// A beat presented together with a cfg write was taken in the write's cycle.
    CfgPriority,
    /// No transfer for the watchdog's cycles with input pending and no output held.
    Deadlock,
    /// The run's cycle bound is exhausted.
    Timeout,
    /// The stimulus itself is malformed.
    Stimulus,
}

impl Check {
    pub const ALL: &'static [Check] = &[
        Check::Duplicate,
        Check::Value,
        Check::Latency,
        Check::OutputWithoutInput,
        Check::LostOutput,
        Check::OutputChanged,
        Check::ValidDropped,
        Check::CfgPriority,
        Check::Deadlock,
        Check::Timeout,
        Check::Stimulus,
    ];
    /// Short name (the `qmac mutants` table).
    pub fn name(self) -> &'static str {
        match self {
            Check::Value => "value",
            Check::Duplicate => "duplicate",
            Check::Latency => "latency",
            Check::OutputWithoutInput => "output without input",
            Check::LostOutput => "lost output",
            Check::OutputChanged => "stalled output changed",
            Check::ValidDropped => "valid dropped",
            Check::CfgPriority => "cfg priority",
            Check::Deadlock => "deadlock watchdog",
            Check::Timeout => "cycle bound",
            Check::Stimulus => "stimulus",
        }
    }
    /// The words every failure message of this check contains.
    pub fn marker(self) -> &'static str {
        match self {
            Check::Value => "expected y=",
            Check::Duplicate => "the previous output repeated",
            Check::Latency => "expected LATENCY",
            Check::OutputWithoutInput => "output without input",
            Check::LostOutput => "never produced a result",
            Check::OutputChanged => "output changed while stalled",
            Check::ValidDropped => "out_valid dropped before the output was accepted",
            Check::CfgPriority => "while idle a cfg write has priority",
            Check::Deadlock => "(deadlock)",
            Check::Timeout => "cycle bound",
            Check::Stimulus => "stimulus error",
        }
    }
    /// The check a failure message comes from.
    pub fn of(message: &str) -> Option<Check> {
        Check::ALL
            .iter()
            .copied()
            .find(|c| message.contains(c.marker()))
    }
}

/// A checker failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub cycle: u64,
    pub message: String,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub cycles: u64,
    pub beats: u64,
    pub dots: u64,
    pub cfg_writes: u64,
    /// Lane results compared (dots × lanes).
    pub lane_results: u64,
    /// Lane results that differed.
    pub mismatches: u64,
    /// Cycles from the first to the last input beat (inclusive).
    pub stream_cycles: u64,
    pub failures: Vec<Failure>,
    pub failure_count: u64,
    /// Functional coverage of the run (when [`RunOptions::coverage`]).
    pub coverage: crate::cosim::coverage::Coverage,
}

impl RunStats {
    pub fn passed(&self) -> bool {
        self.failure_count == 0
    }
    pub fn beats_per_cycle(&self) -> f64 {
        if self.stream_cycles == 0 {
            0.0
        } else {
            self.beats as f64 / self.stream_cycles as f64
        }
    }
    pub fn merge(&mut self, o: &RunStats) {
        self.cycles += o.cycles;
        self.beats += o.beats;
        self.dots += o.dots;
        self.cfg_writes += o.cfg_writes;
        self.lane_results += o.lane_results;
        self.mismatches += o.mismatches;
        self.stream_cycles += o.stream_cycles;
        self.failure_count += o.failure_count;
        self.coverage.merge(&o.coverage);
        let room = MAX_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(o.failures.iter().take(room).cloned());
    }
}

/// Failures kept in detail (all are counted).
pub const MAX_FAILURES: usize = 10;

fn fmt_bytes_i(v: &[u8], signed: bool, max: usize) -> String {
    let mut s = String::from("[");
    for (i, &b) in v.iter().take(max).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}", if signed { b as i8 as i32 } else { b as i32 });
    }
    if v.len() > max {
        let _ = write!(s, ",… ({} total)", v.len());
    }
    s.push(']');
    s
}

fn describe(e: &Expected, lane: usize, lanes: usize) -> String {
    let p = &e.params;
    let lp = p.lanes[lane];
    let w: Vec<u8> = (0..e.job.x.len())
        .map(|t| e.job.w[t * lanes + lane])
        .collect();
    let x: Vec<u8> = (0..e.job.x.len())
        .map(|t| e.job.x_at(t, lane, lanes))
        .collect();
    format!(
        "inputs: K={} x{}={} w[lane {lane}]={}; params: rounding={} input={} zp_x={} zp_w={} zp_out={} act=[{}, {}] bias={} m0={} shift={}",
        e.job.x.len(),
        if e.job.xl.is_empty() { String::new() } else { format!("[lane {lane}]") },
        fmt_bytes_i(&x, p.input_dtype == DType::Int8, 16),
        fmt_bytes_i(&w, true, 16),
        p.rounding.name(),
        p.input_dtype.name(),
        p.zp_x,
        p.zp_w,
        p.zp_out,
        p.act_min,
        p.act_max,
        lp.bias,
        lp.m0,
        lp.shift
    )
}

/// In-order checking of the results of one run.
pub struct Scoreboard {
    lanes: usize,
    mult_w: u32,
    /// The DUT cycle at which the run's reset ended (cycle 0 of messages).
    start_cycle: u64,
    /// Appended to every failure message.
    seed: u64,
    replay: String,
    /// In-flight dot products: (index, job, params).
    pending: VecDeque<(u64, Arc<DotJob>, Arc<Params>)>,
    /// Expected lanes of the in-flight dot products, consumed from `ehead` on.
    ey: Vec<u8>,
    eacc: Vec<i32>,
    eovf: Vec<u8>,
    ehead: usize,
    /// Cycle and stall count of each sent dot product's last beat.
    lasts: VecDeque<(u64, u64)>,
    next_index: u64,
    /// The previous output (to recognise a repeated one).
    prev_out: Option<(Vec<u8>, Vec<i32>, Vec<u8>)>,
    pub stats: RunStats,
}

impl Scoreboard {
    pub fn new(lanes: usize, mult_w: u32, start_cycle: u64, seed: u64, replay: &str) -> Self {
        Scoreboard {
            lanes,
            mult_w,
            start_cycle,
            seed,
            replay: replay.to_string(),
            pending: VecDeque::new(),
            ey: Vec::new(),
            eacc: Vec::new(),
            eovf: Vec::new(),
            ehead: 0,
            lasts: VecDeque::new(),
            next_index: 0,
            prev_out: None,
            stats: RunStats::default(),
        }
    }

    /// Record a failure seen at DUT cycle `abs_cycle`.
    pub fn fail(&mut self, abs_cycle: u64, msg: String) {
        let cycle = abs_cycle.saturating_sub(self.start_cycle);
        let st = &mut self.stats;
        st.failure_count += 1;
        if st.failures.len() < MAX_FAILURES {
            st.failures.push(Failure {
                cycle,
                message: format!(
                    "cycle {cycle}: {msg}; seed {}; replay: {}",
                    self.seed, self.replay
                ),
            });
        }
    }

    /// The driver sent `job` under `params`: compute and keep its expected
    /// result; returns its accumulators and overflow flags (for coverage).
    pub fn expect(&mut self, job: &Arc<DotJob>, params: &Arc<Params>) -> (&[i32], &[u8]) {
        let l = self.lanes;
        let at = self.ey.len();
        self.ey.resize(at + l, 0);
        self.eacc.resize(at + l, 0);
        self.eovf.resize(at + l, 0);
        expect_into(
            job,
            params,
            self.mult_w,
            &mut self.ey[at..],
            &mut self.eacc[at..],
            &mut self.eovf[at..],
        );
        self.pending
            .push_back((self.next_index, job.clone(), params.clone()));
        self.next_index += 1;
        (&self.eacc[at..], &self.eovf[at..])
    }

    /// Sample functional coverage of the dot product last passed to
    /// [`Self::expect`] (its expected accumulators and overflow flags, in
    /// place: no copy on the hot path). `prev`: the previous dot product's
    /// parameters; `reloaded`: whether a load came between.
    pub fn sample_coverage(
        &mut self,
        job: &DotJob,
        params: &Params,
        prev: Option<&Params>,
        reloaded: bool,
    ) {
        let at = self.eacc.len() - self.lanes;
        self.stats.coverage.sample_dot(
            params,
            prev,
            reloaded,
            job,
            &self.eacc[at..],
            &self.eovf[at..],
            self.mult_w,
        );
    }

    /// A dot product's last beat transferred at `cycle` with `stalls` output stalls so far.
    pub fn last_beat(&mut self, cycle: u64, stalls: u64) {
        self.lasts.push_back((cycle, stalls));
    }

    /// Dot products sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Whether the output lanes equal the expected result of the `j`-th dot
    /// product in flight.
    fn matches(&self, j: usize, gy: &[u8], gacc: &[i32], govf: &[u8]) -> bool {
        let sp = self.ehead + j * self.lanes..self.ehead + (j + 1) * self.lanes;
        gy == &self.ey[sp.clone()] && gacc == &self.eacc[sp.clone()] && govf == &self.eovf[sp]
    }

    /// Forget the oldest dot product in flight.
    fn pop(&mut self) -> Option<(u64, Arc<DotJob>, Arc<Params>)> {
        self.lasts.pop_front();
        self.ehead += self.lanes;
        self.pending.pop_front()
    }

    /// Check output `k` of a batch against the oldest dot product in flight;
    /// `on_result` sees it (tag, y, acc lanes) when it belongs to one.
    ///
    /// An output is an extra one (not consumed from the dot products in
    /// flight) when no dot product's last beat was accepted before it
    /// ([`Check::OutputWithoutInput`]) or when it repeats the previous output
    /// instead of the expected one ([`Check::Duplicate`]); when it is, on
    /// time, the result of a later dot product in flight, the ones before
    /// that produced none ([`Check::LostOutput`]). Any other difference is a
    /// [`Check::Value`] failure, lane by lane.
    pub fn check(
        &mut self,
        out: &BatchOut,
        k: usize,
        on_result: &mut impl FnMut(u64, &[u8], &[i32]),
    ) {
        let lanes = self.lanes;
        let cyc = out.cycle[k];
        let span = k * lanes..(k + 1) * lanes;
        let (gy, gacc, govf) = (&out.y[span.clone()], &out.acc[span.clone()], &out.ovf[span]);
        // Dot products whose last beat came before this output (the queue is
        // in cycle order: only its head matters here, the look-ahead below
        // reads at most 16 more).
        let before =
            |lasts: &VecDeque<(u64, u64)>, j: usize| lasts.get(j).is_some_and(|&(lc, _)| lc < cyc);
        if !before(&self.lasts, 0) || self.pending.is_empty() {
            let why = match (self.pending.front(), self.lasts.front()) {
                (Some((i, _, _)), Some((lc, _))) => format!(
                    "; dot #{i}'s last beat was accepted only at cycle {}",
                    lc.saturating_sub(self.start_cycle)
                ),
                (Some((i, _, _)), None) => format!("; dot #{i}'s last beat was not yet accepted"),
                _ => String::new(),
            };
            self.fail(
                cyc,
                format!(
                    "out_valid with no dot product in flight ({}){why}",
                    Check::OutputWithoutInput.marker()
                ),
            );
            self.remember(gy, gacc, govf);
            return;
        }
        if !self.matches(0, gy, gacc, govf) {
            let repeated = self.prev_out.as_ref().is_some_and(|(py, pacc, povf)| {
                py.as_slice() == gy && pacc.as_slice() == gacc && povf.as_slice() == govf
            });
            if repeated {
                let (index, job, params) = self.pending.front().expect("in flight");
                let signed = params.act_min < 0;
                let msg = format!(
                    "dot #{index} (tag {}): {} on every lane (a duplicated or stale output, not consumed): got y={} acc={:?}, {}{} acc={:?}",
                    job.tag,
                    Check::Duplicate.marker(),
                    fmt_bytes_i(gy, signed, 16),
                    gacc,
                    Check::Value.marker(),
                    fmt_bytes_i(&self.ey[self.ehead..self.ehead + lanes], signed, 16),
                    &self.eacc[self.ehead..self.ehead + lanes]
                );
                self.fail(cyc, msg);
                return;
            }
            // The on-time result of a later dot product in flight: the ones
            // before it produced no result.
            let later = (1..self.pending.len().min(16))
                .take_while(|&j| before(&self.lasts, j))
                .find(|&j| {
                    let (lc, ls) = self.lasts[j];
                    self.matches(j, gy, gacc, govf)
                        && (ls != out.stalls[k] || cyc - lc == LATENCY + 1)
                });
            if let Some(j) = later {
                let lost: Vec<String> = self
                    .pending
                    .iter()
                    .take(j)
                    .map(|(i, job, _)| format!("#{i} (tag {})", job.tag))
                    .collect();
                let msg = format!(
                    "lost output: dot {} {} (the output at this cycle is dot #{}'s, on time)",
                    lost.join(", "),
                    Check::LostOutput.marker(),
                    self.pending[j].0
                );
                self.fail(cyc, msg);
                for _ in 0..j {
                    self.pop();
                }
            }
        }
        let espan = self.ehead..self.ehead + lanes;
        let (lc, ls) = self.lasts[0];
        let (index, job, params) = self.pop().expect("in flight");
        if ls == out.stalls[k] && cyc - lc != LATENCY + 1 {
            self.fail(
                cyc,
                format!(
                    "dot #{index}: result appeared {} cycles after its last beat, {} = {LATENCY}",
                    cyc - lc - 1,
                    Check::Latency.marker()
                ),
            );
        }
        self.stats.lane_results += lanes as u64;
        if gy != &self.ey[espan.clone()]
            || gacc != &self.eacc[espan.clone()]
            || govf != &self.eovf[espan.clone()]
        {
            let e = Expected {
                index,
                tag: job.tag,
                y: self.ey[espan.clone()].to_vec(),
                acc: self.eacc[espan.clone()].to_vec(),
                ovf: self.eovf[espan].to_vec(),
                job: job.clone(),
                params,
            };
            for l in 0..lanes {
                if gy[l] != e.y[l] || gacc[l] != e.acc[l] || govf[l] != e.ovf[l] {
                    self.stats.mismatches += 1;
                    let signed = e.params.act_min < 0;
                    let yv = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
                    self.fail(
                        cyc,
                        format!(
                            "dot #{} (tag {}), lane {l}: {}{} acc={} ovf={}, got y={} acc={} ovf={}; {}",
                            e.index,
                            e.tag,
                            Check::Value.marker(),
                            yv(e.y[l]),
                            e.acc[l],
                            e.ovf[l],
                            yv(gy[l]),
                            gacc[l],
                            govf[l],
                            describe(&e, l, lanes)
                        ),
                    );
                }
            }
        }
        on_result(job.tag, gy, gacc);
        self.remember(gy, gacc, govf);
    }

    /// Keep the last output seen (to recognise a repeated one).
    fn remember(&mut self, gy: &[u8], gacc: &[i32], govf: &[u8]) {
        match &mut self.prev_out {
            Some((py, pacc, povf)) => {
                py.copy_from_slice(gy);
                pacc.copy_from_slice(gacc);
                povf.copy_from_slice(govf);
            }
            None => self.prev_out = Some((gy.to_vec(), gacc.to_vec(), govf.to_vec())),
        }
    }

    /// Drop the expected lanes already checked (keeps memory bounded on long runs).
    pub fn compact(&mut self) {
        if self.ehead > 1 << 14 && self.ehead * 2 > self.ey.len() {
            self.ey.drain(..self.ehead);
            self.eacc.drain(..self.ehead);
            self.eovf.drain(..self.ehead);
            self.ehead = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every check of the scoreboard fires on a hand-made output record, and
    //! stays quiet on the right one (the DUT side is a `BatchOut` as the C++
    //! monitor fills it).
    use super::*;
    use crate::arith::requant::DatapathRounding;
    use crate::cosim::transaction::LaneParams;

    fn setup() -> (Scoreboard, Arc<DotJob>, Arc<Params>) {
        let p = Arc::new(Params::int8(
            DatapathRounding::Double,
            vec![LaneParams {
                bias: 100,
                m0: 1 << 30,
                shift: 0,
            }],
        ));
        let j = Arc::new(DotJob::new(vec![3, 4], vec![5, 6], 7));
        (Scoreboard::new(1, 32, 1000, 9, "qmac replay-me"), j, p)
    }

    /// The record of one output presented at `cycle` (stall count `stalls`).
    fn record(y: u8, acc: i32, ovf: u8, cycle: u64, stalls: u64) -> BatchOut {
        let mut out = BatchOut::new(1, 4);
        out.y[0] = y;
        out.acc[0] = acc;
        out.ovf[0] = ovf;
        out.cycle[0] = cycle;
        out.stalls[0] = stalls;
        out
    }

    fn check(sb: &mut Scoreboard, out: &BatchOut) -> Vec<(u64, Vec<u8>)> {
        let mut seen = Vec::new();
        sb.check(out, 0, &mut |tag, y, _| seen.push((tag, y.to_vec())));
        seen
    }

    #[test]
    fn a_correct_result_on_time_passes() {
        let (mut sb, j, p) = setup();
        let (acc, ovf) = sb.expect(&j, &p);
        // acc = 100 + 3*5 + 4*6 = 139; y = round(139 * 2^30 / 2^31) = 70.
        assert_eq!((acc.to_vec(), ovf.to_vec()), (vec![139], vec![0]));
        sb.last_beat(1010, 0);
        let seen = check(&mut sb, &record(70, 139, 0, 1010 + LATENCY + 1, 0));
        assert_eq!(seen, vec![(7, vec![70])]);
        assert!(sb.stats.passed(), "{:?}", sb.stats.failures);
        assert_eq!(sb.in_flight(), 0);
    }

    #[test]
    fn a_wrong_value_names_dot_tag_lane_expected_and_got() {
        let (mut sb, j, p) = setup();
        sb.expect(&j, &p);
        sb.last_beat(1010, 0);
        check(&mut sb, &record(71, 139, 0, 1010 + LATENCY + 1, 0));
        assert_eq!(sb.stats.failure_count, 1);
        let m = &sb.stats.failures[0].message;
        assert!(
            m.starts_with("cycle 17: dot #0 (tag 7), lane 0: expected y=70 acc=139 ovf=0, got y=71 acc=139 ovf=0;"),
            "{m}"
        );
        assert!(m.ends_with("; seed 9; replay: qmac replay-me"), "{m}");
    }

    #[test]
    fn a_repeated_output_is_named_a_duplicate() {
        let (mut sb, j, p) = setup();
        let j2 = Arc::new(DotJob::new(vec![1, 1], vec![1, 1], 8));
        sb.expect(&j, &p);
        sb.expect(&j2, &p);
        sb.last_beat(1010, 0);
        sb.last_beat(1011, 0);
        check(&mut sb, &record(70, 139, 0, 1010 + LATENCY + 1, 0));
        assert!(sb.stats.passed());
        // The second output repeats the first (expected y=51 acc=102).
        check(&mut sb, &record(70, 139, 0, 1011 + LATENCY + 1, 0));
        let m = &sb.stats.failures[0].message;
        assert_eq!(Check::of(m), Some(Check::Duplicate), "{m}");
        assert!(
            m.contains("dot #1 (tag 8): the previous output repeated"),
            "{m}"
        );
        assert!(
            m.contains("got y=[70] acc=[139], expected y=[51] acc=[102]"),
            "{m}"
        );
        // Not consumed: dot #1 is still in flight for its own result.
        assert_eq!(sb.in_flight(), 1);
        assert_eq!(
            check(&mut sb, &record(51, 102, 0, 1011 + LATENCY + 2, 1)).len(),
            1
        );
        assert_eq!(sb.stats.failure_count, 1);
    }

    #[test]
    fn every_failure_message_is_classified_by_its_check() {
        let (mut sb, j, p) = setup();
        sb.expect(&j, &p);
        sb.last_beat(1010, 0);
        check(&mut sb, &record(71, 139, 0, 1010 + LATENCY + 2, 0));
        check(&mut sb, &record(70, 139, 0, 1030, 0));
        let got: Vec<Option<Check>> = sb
            .stats
            .failures
            .iter()
            .map(|f| Check::of(&f.message))
            .collect();
        assert_eq!(
            got,
            vec![
                Some(Check::Latency),
                Some(Check::Value),
                Some(Check::OutputWithoutInput)
            ]
        );
        // Each marker classifies to its own check (none shadows another).
        for &c in Check::ALL {
            assert_eq!(
                Check::of(&format!("cycle 9: {}", c.marker())),
                Some(c),
                "{c:?}"
            );
        }
        assert_eq!(Check::of("cycle 9: all fine"), None);
    }

    #[test]
    fn a_wrong_accumulator_or_overflow_flag_fails_too() {
        for (acc, ovf) in [(140, 0), (139, 1)] {
            let (mut sb, j, p) = setup();
            sb.expect(&j, &p);
            sb.last_beat(1010, 0);
            check(&mut sb, &record(70, acc, ovf, 1010 + LATENCY + 1, 0));
            assert_eq!(sb.stats.mismatches, 1, "acc {acc} ovf {ovf}");
            assert!(sb.stats.failures[0]
                .message
                .contains(&format!("got y=70 acc={acc} ovf={ovf}")));
        }
    }

    #[test]
    fn a_late_result_without_stalls_breaks_the_latency() {
        let (mut sb, j, p) = setup();
        sb.expect(&j, &p);
        sb.last_beat(1010, 0);
        check(&mut sb, &record(70, 139, 0, 1010 + LATENCY + 2, 0));
        let m = &sb.stats.failures[0].message;
        assert!(
            m.contains(
                "dot #0: result appeared 7 cycles after its last beat, expected LATENCY = 6"
            ),
            "{m}"
        );
        // The same delay after an output stall is allowed.
        let (mut sb, j, p) = setup();
        sb.expect(&j, &p);
        sb.last_beat(1010, 0);
        check(&mut sb, &record(70, 139, 0, 1010 + LATENCY + 2, 1));
        assert!(sb.stats.passed());
    }

    #[test]
    fn an_output_without_input_and_a_result_before_its_last_beat_fail() {
        let (mut sb, _, _) = setup();
        let seen = check(&mut sb, &record(0, 0, 0, 1005, 0));
        assert!(seen.is_empty());
        assert!(sb.stats.failures[0]
            .message
            .contains("cycle 5: out_valid with no dot product in flight (output without input)"));
        // A result before its dot product's last beat was accepted (not
        // sent yet, or sent later) is an output without input, and the dot
        // product stays in flight for its own result.
        let (mut sb, j, p) = setup();
        sb.expect(&j, &p);
        check(&mut sb, &record(70, 139, 0, 1005, 0));
        assert!(sb.stats.failures[0]
            .message
            .contains("(output without input); dot #0's last beat was not yet accepted"));
        sb.last_beat(1008, 0);
        check(&mut sb, &record(70, 139, 0, 1008, 0));
        assert!(sb.stats.failures[1]
            .message
            .contains("(output without input); dot #0's last beat was accepted only at cycle 8"));
        assert_eq!(sb.in_flight(), 1);
        assert!(check(&mut sb, &record(70, 139, 0, 1008 + LATENCY + 1, 0)).len() == 1);
        assert_eq!(sb.stats.failure_count, 2);
    }

    #[test]
    fn an_on_time_result_of_a_later_dot_product_means_the_earlier_one_was_lost() {
        let (mut sb, j, p) = setup();
        let j2 = Arc::new(DotJob::new(vec![1, 1], vec![1, 1], 8));
        sb.expect(&j, &p);
        sb.expect(&j2, &p);
        sb.last_beat(1010, 0);
        sb.last_beat(1011, 0);
        // dot #1's result (y=51 acc=102) on time for dot #1: dot #0 was lost.
        let seen = check(&mut sb, &record(51, 102, 0, 1011 + LATENCY + 1, 0));
        assert_eq!(seen, vec![(8, vec![51])]);
        let m = &sb.stats.failures[0].message;
        assert_eq!(Check::of(m), Some(Check::LostOutput), "{m}");
        assert!(m.contains("lost output: dot #0 (tag 7) never produced a result (the output at this cycle is dot #1's, on time)"), "{m}");
        assert_eq!(sb.stats.failure_count, 1);
        assert_eq!(sb.in_flight(), 0);
    }

    #[test]
    fn failures_beyond_the_kept_ones_are_still_counted() {
        let (mut sb, _, _) = setup();
        for _ in 0..MAX_FAILURES + 5 {
            sb.fail(1001, "x".into());
        }
        assert_eq!(sb.stats.failure_count, (MAX_FAILURES + 5) as u64);
        assert_eq!(sb.stats.failures.len(), MAX_FAILURES);
        assert!(sb.stats.failures[0]
            .message
            .starts_with("cycle 1: x; seed 9"));
    }
}
