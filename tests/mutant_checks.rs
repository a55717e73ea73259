//! Every check of the testbench is shown to fire on a real broken RTL:
//! `qmac mutants` builds one mutant per check (value: accumulator only and
//! overflow flag only; latency; lost output; output without input; stalled
//! output changed; valid dropped; cfg priority; deadlock watchdog; cycle
//! bound), runs the corners regression on it, and its table must name the
//! expected check with the expected message for each, every run ending with
//! a verdict.
use std::process::Command;

/// (mutant, check named in the table, text its first failure contains)
const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "latency_short",
        "latency",
        "cycles after its last beat, expected LATENCY = 6",
    ),
    (
        "one_tap_lost",
        "lost output",
        "never produced a result (the output at this cycle is dot #",
    ),
    (
        "out_valid_reset_high",
        "output without input",
        "out_valid with no dot product in flight (output without input)",
    ),
    (
        "acc_out_ignores_stall",
        "stalled output changed",
        "output changed while stalled (out_valid && !out_ready)",
    ),
    (
        "out_valid_drops_on_stall",
        "valid dropped",
        "out_valid dropped before the output was accepted",
    ),
    (
        "cfg_no_priority",
        "cfg priority",
        "in_ready high in the cycle a cfg write was accepted",
    ),
    (
        "open_dot_one_tap",
        "deadlock watchdog",
        "no progress: no transfer for 5000 cycles",
    ),
    (
        "in_ready_slow",
        "cycle bound",
        "timeout: the run's cycle bound (",
    ),
    ("acc_out_stage_off", "value", "expected y="),
    ("ovf_not_sticky", "value", "expected y="),
];

/// `expected y=Y acc=A ovf=O, got y=Y2 acc=A2 ovf=O2` of a value failure.
fn values(msg: &str) -> (String, String) {
    let e = msg.split("expected ").nth(1).unwrap();
    let (exp, got) = e.split_once(", got ").unwrap();
    (exp.to_string(), got.split(';').next().unwrap().to_string())
}

#[test]
fn each_check_fires_on_a_mutant_that_breaks_it() {
    let names: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(["mutants", "--budget", "100", "--only", &names.join(",")])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("{} killed, 0 survived", EXPECTED.len())),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    for (name, check, msg) in EXPECTED {
        let i = lines
            .iter()
            .position(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
        let row = lines[i];
        assert!(row.contains(" KILLED "), "{row}");
        let cols: Vec<&str> = row
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert!(
            cols.contains(check),
            "{name}: expected check `{check}` in {cols:?}"
        );
        let first = lines[i + 1].trim();
        assert!(first.starts_with("cycle "), "{name}: {first}");
        assert!(first.contains(msg), "{name}: `{msg}` not in `{first}`");
        match *name {
            // y right, the accumulator wrong: the accumulator is compared on its own.
            "acc_out_stage_off" => {
                let (e, g) = values(first);
                let (ey, eacc) = e.split_once(" acc=").unwrap();
                let (gy, gacc) = g.split_once(" acc=").unwrap();
                assert_eq!(ey, gy, "{first}");
                assert_ne!(eacc, gacc, "{first}");
            }
            // y and acc right, only the sticky overflow flag wrong.
            "ovf_not_sticky" => {
                let (e, g) = values(first);
                let (eya, eo) = e.split_once(" ovf=").unwrap();
                let (gya, go) = g.split_once(" ovf=").unwrap();
                assert_eq!(eya, gya, "{first}");
                assert_ne!(eo, go, "{first}");
            }
            _ => {}
        }
    }
}
