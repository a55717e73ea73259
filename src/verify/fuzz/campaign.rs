//! The fuzz campaign: iterations of one seed run on parallel DUTs (the
//! shared worker pool), coverage merged, the lowest failing iteration kept.
//! Iteration `i` is a pure function of (seed, i), so the outcome does not
//! depend on `jobs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;

use super::{generate, run};
use crate::cosim::coverage::Coverage;
use crate::cosim::dut::Dut;

/// What a campaign runs.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub seed: u64,
    /// Iterations to hand out (u64::MAX: until the deadline or a stop).
    pub budget: u64,
    pub deadline: Option<Instant>,
    /// Stop as soon as every coverage bin is hit.
    pub until_covered: bool,
    pub jobs: usize,
    pub lanes: usize,
    pub mult_w: u32,
    /// Run only iterations `i` with `i mod n = k − 1`.
    pub shard: (u64, u64),
}

/// What a campaign found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub coverage: Coverage,
    pub iterations: u64,
    pub dots: u64,
    pub beats: u64,
    pub cycles: u64,
    /// The lowest failing iteration and its first failure message.
    pub failure: Option<(u64, String)>,
    /// Per bin (in `Bin::ALL` order), the lowest iteration that hit it: the
    /// coverage-against-iterations curve, independent of `jobs`.
    pub first_hit: Vec<Option<u64>>,
}

impl Outcome {
    fn record_first_hits(&mut self, c: &Coverage, i: u64) {
        use crate::cosim::coverage::Bin;
        self.first_hit.resize(Bin::ALL.len(), None);
        for (b, f) in Bin::ALL.iter().zip(self.first_hit.iter_mut()) {
            if c.count(*b) > 0 && f.is_none_or(|j| i < j) {
                *f = Some(i);
            }
        }
    }
}

impl Campaign {
    /// The replay command of iteration `i` alone.
    pub fn replay(&self, i: u64) -> String {
        format!(
            "qmac fuzz --seed {} --iterations {} --lanes {}",
            self.seed,
            i + 1,
            self.lanes
        )
    }

    /// Run the campaign; `on_iteration` is called after each iteration (progress).
    pub fn run(&self, on_iteration: &(dyn Fn() + Sync)) -> Result<Outcome> {
        let stop = AtomicBool::new(false);
        let out = Mutex::new(Outcome::default());
        let (shard_k, shard_n) = self.shard;
        let errors = crate::verify::pool::run_indexed(
            self.budget,
            self.jobs,
            &stop,
            |dut: &mut Option<Dut>, i| -> Option<anyhow::Error> {
                if self.deadline.is_some_and(|d| Instant::now() >= d) {
                    stop.store(true, Ordering::SeqCst);
                    return None;
                }
                if i % shard_n != shard_k - 1 {
                    return None;
                }
                if dut.is_none() {
                    match Dut::new(self.lanes, self.seed, false) {
                        Ok(d) => *dut = Some(d),
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            return Some(e);
                        }
                    }
                }
                let dut = dut.as_mut().expect("made above");
                let (tx, gen_cov) = generate(self.seed, i, self.lanes, self.mult_w);
                let st = run(dut, &tx, &self.replay(i));
                let mut o = out.lock().expect("no worker panicked");
                let mut this = st.coverage.clone();
                this.merge(&gen_cov);
                o.record_first_hits(&this, i);
                o.coverage.merge(&this);
                if self.until_covered && o.coverage.missing().is_empty() {
                    stop.store(true, Ordering::SeqCst);
                }
                o.iterations += 1;
                o.dots += st.dots;
                o.beats += st.beats;
                o.cycles += st.cycles;
                if !st.passed() {
                    if o.failure.as_ref().is_none_or(|(j, _)| i < *j) {
                        let msg = st.failures.first().map(|f| f.message.clone());
                        o.failure = Some((i, msg.unwrap_or_default()));
                    }
                    stop.store(true, Ordering::SeqCst);
                }
                drop(o);
                on_iteration();
                None
            },
        );
        if let Some((_, e)) = errors.into_iter().next() {
            return Err(e);
        }
        Ok(out.into_inner().expect("no worker panicked"))
    }
}
