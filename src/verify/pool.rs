//! One worker pool for every campaign that runs many independent jobs:
//! `qmac regress` (tests), `qmac model` (inputs) and `qmac fuzz`
//! (iterations). Each worker thread keeps its own state, made lazily on first
//! use (its own Verilated DUT: a DUT is never shared between threads); jobs
//! are handed out by index, so which worker runs a job never changes its
//! result, and results come back in index order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Run `work(state, i)` for `i` in `0..count` on `workers` threads. `state`
/// starts as `None` in each thread; `work` fills it when it needs it. Once
/// `stop` is set no new index is handed out (jobs already running finish).
/// Returns the `(i, result)` of every job whose `work` returned `Some`, in
/// index order.
pub fn run_indexed<S, R, F>(count: u64, workers: usize, stop: &AtomicBool, work: F) -> Vec<(u64, R)>
where
    R: Send,
    F: Fn(&mut Option<S>, u64) -> Option<R> + Sync,
{
    let next = AtomicU64::new(0);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                let mut state = None;
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    if let Some(r) = work(&mut state, i) {
                        out.lock().expect("no worker panicked").push((i, r));
                    }
                }
            });
        }
    });
    let mut v = out.into_inner().expect("no worker panicked");
    v.sort_by_key(|(i, _)| *i);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_index_order_with_per_thread_state() {
        let stop = AtomicBool::new(false);
        let r = run_indexed(100, 4, &stop, |state: &mut Option<u64>, i| {
            *state.get_or_insert(0) += 1;
            (i % 3 != 0).then_some(i * 2)
        });
        let want: Vec<(u64, u64)> = (0..100)
            .filter(|i| i % 3 != 0)
            .map(|i| (i, i * 2))
            .collect();
        assert_eq!(r, want);
    }

    #[test]
    fn stop_ends_the_hand_out() {
        let stop = AtomicBool::new(false);
        let r = run_indexed(u64::MAX, 2, &stop, |_: &mut Option<()>, i| {
            if i >= 10 {
                stop.store(true, Ordering::SeqCst);
            }
            Some(i)
        });
        assert!(r.len() >= 11 && r.len() < 100, "{}", r.len());
    }
}
