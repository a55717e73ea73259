//! A deliberately broken RTL must make `qmac regress` fail with the full
//! report. Builds qmac against a mutated copy of rtl/ (QMAC_RTL_DIR) into its
//! own target directory, runs the corners suite, then the printed replay
//! command, and writes a waveform with --wave-on-fail; then `qmac fuzz`
//! finds the same bug, shrinks it and its replay command reproduces it.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn build_mutant(rtl: &Path) -> PathBuf {
    build_mutant_into(rtl, "mutant")
}

fn build_mutant_into(rtl: &Path, name: &str) -> PathBuf {
    let target = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).join(name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--release", "--locked", "--bin", "qmac"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("QMAC_RTL_DIR", rtl)
        .env("QMAC_LANES", "8")
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(st.success(), "building the mutant failed");
    target.join("release/qmac")
}

fn run(bin: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The first scoreboard failure of a run's output, without the replay
/// command: `cycle N: dot #D (tag T), lane L: expected …, got …; inputs …`.
fn first_beat_failure(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.contains("cycle ") && l.contains(": dot #"))
        .unwrap_or_else(|| panic!("no beat failure in:\n{out}"));
    let at = line.find("cycle ").unwrap();
    let rest = &line[at..];
    rest.split("; seed ").next().unwrap().to_string()
}

/// The printed `replay: qmac …` command after `marker` (the first one when
/// `marker` is empty), as arguments.
fn replay_args(out: &str, marker: &str) -> Vec<String> {
    let line = out
        .lines()
        .find(|l| l.contains("replay: qmac ") && l.contains(marker))
        .unwrap_or_else(|| panic!("no replay command with {marker:?} in:\n{out}"));
    line.split("replay: qmac ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|a| a.trim_matches('\'').to_string())
        .collect()
}

/// Every kind of printed replay command (regress, layer, model, fuzz) run
/// verbatim fails the same way as the run that printed it: same cycle, dot
/// product, tag, lane and values.
fn printed_replays_reproduce(bin: &Path, dir: &Path) {
    let fx = |p: &str| format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"));
    let as_str = |v: &[String]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // regress (jobs 2) -> replay (jobs 1).
    let (code, out) = run(bin, &["regress", "--suite", "corners", "--jobs", "2"]);
    assert_eq!(code, 1, "{out}");
    let args = replay_args(&out, "qmac regress");
    let (code2, out2) = run(bin, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(code2, 1, "{out2}");
    assert_eq!(
        first_beat_failure(&out),
        first_beat_failure(&out2),
        "regress replay {args:?}"
    );
    // layer with backpressure, several cases -> the failing case alone.
    let (code, out) = run(
        bin,
        &[
            "layer",
            "--backpressure",
            &fx("tflite/index.json"),
            &fx("tflite/fc_float64/edited_probe_fc_pc_op0_fully_connected.json"),
        ],
    );
    assert_eq!(code, 1, "{out}");
    let failure = first_beat_failure(&out);
    let args = replay_args(&out, "qmac layer");
    assert_eq!(
        args.iter().filter(|a| a.ends_with(".json")).count(),
        1,
        "{args:?}"
    );
    let (code2, out2) = run(bin, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(code2, 1, "{out2}");
    assert_eq!(failure, first_beat_failure(&out2), "layer replay {args:?}");
    // model, two inputs on two jobs with backpressure -> input 1 alone,
    // with the same references (a replay without them would pass).
    let m = |k: &str| fx(&format!("models/mbnet.{k}"));
    let (code, out) = run(
        bin,
        &[
            "model",
            &m("tflite"),
            "--input",
            &m("input0.npy"),
            &m("input1.npy"),
            "--tensors",
            &m("tensors0.npz"),
            &m("tensors1.npz"),
            "--expect",
            &m("output0.npy"),
            &m("output1.npy"),
            "--jobs",
            "2",
            "--backpressure",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let input1 = &out[out.find("input ").unwrap()..];
    let input1 = &input1[input1.find("mbnet.input1.npy\n").unwrap()..];
    let args = replay_args(input1, "mbnet.input1.npy");
    for flag in ["--tensors", "--expect", "--backpressure"] {
        assert!(
            args.iter().any(|a| a == flag),
            "{flag} missing from {args:?}"
        );
    }
    let (code2, out2) = run(bin, &args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(code2, 1, "{out2}");
    assert_eq!(
        first_beat_failure(input1),
        first_beat_failure(&out2),
        "model replay {args:?}"
    );
    // fuzz: the failure printed after shrinking is the one the replay prints.
    let fz = dir.join("fuzz-replay");
    let (code, out) = run(bin, &["fuzz", "--seed", "7", "--out", fz.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let after_shrink = &out[out.find("shrunk in ").unwrap()..];
    let args = replay_args(after_shrink, "--replay");
    let (code2, out2) = run(
        bin,
        &as_str(&args).iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    );
    assert_eq!(code2, 1, "{out2}");
    assert_eq!(
        first_beat_failure(after_shrink),
        first_beat_failure(&out2),
        "fuzz replay {args:?}"
    );
}

/// A real layer on the mutant RTL: exit 1, and its HTML report shows where
/// the outputs differ (heatmap over position × channel, the first differing
/// outputs with the RTL's values) and renders in Chromium.
fn failing_layer_report(bin: &Path, dir: &Path) {
    let (json, page) = (dir.join("layer.json"), dir.join("layer.html"));
    let (code, out) = run(
        bin,
        &[
            "layer",
            "tests/fixtures/tflite/cnn_a_op0_conv2d.json",
            "--json",
            json.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &v["results"][0];
    let rtl_mismatches = r["rtl"]["output_mismatches"].as_u64().unwrap();
    assert!(rtl_mismatches > 0, "{r}");
    assert_eq!(
        r["diff_map"]["total"].as_u64().unwrap(),
        rtl_mismatches,
        "{r}"
    );
    common::check_report_page(
        &page,
        &[
            "FAIL",
            "Replay every failure",
            "qmac layer tests/fixtures/tflite/cnn_a_op0_conv2d.json --backend rtl",
            "Where cnn_a_op0_conv2d",
            &format!("{rtl_mismatches} differing output(s)"),
            " rtl ",
            "First beat-level failures",
            "inputs: K=",
        ],
        1,
    );
}

#[test]
fn dropped_rounding_term_is_caught_and_replayable() {
    let dir = std::env::temp_dir().join(format!("qmac-mutant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/rtl")).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue; // rtl/fpga/: the on-chip player, not the datapath
        }
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.file_name().unwrap() == "qmac_lane.v" {
            // Mutation: RoundingDivideByPOT loses its round-half-away increment.
            let before = text.clone();
            text = text.replace("(rem > thresh)", "1'b0");
            assert_ne!(before, text, "mutation site not found in qmac_lane.v");
        }
        std::fs::write(dir.join(p.file_name().unwrap()), text).unwrap();
    }
    let bin = build_mutant(&dir);
    printed_replays_reproduce(&bin, &dir);
    failing_layer_report(&bin, &dir);
    let junit = dir.join("failing.xml");
    let (code, out) = run(
        &bin,
        &[
            "regress",
            "--suite",
            "corners",
            "--jobs",
            "2",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    // A failing run's JUnit report validates against the Ant JUnit schema
    // and names the check that failed and the replay command.
    common::validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<failure type=\"value\" message=\"cycle "),
        "{xml}"
    );
    // The README shows this very report (its first FAIL and message line).
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("FAIL ")).unwrap();
    let shown = format!("{}\n{}\n", lines[at], lines[at + 1]);
    assert!(
        readme.contains(&shown),
        "README.md does not show the report of this mutant:\n{shown}"
    );
    assert!(
        xml.contains("replay: qmac regress --suite corners --test "),
        "{xml}"
    );
    for needle in [
        "FAIL corners/",
        "lane ",
        "expected y=",
        ", got y=",
        "inputs: K=",
        "params: rounding=",
        "; seed ",
        "replay: qmac regress",
    ] {
        assert!(out.contains(needle), "report lacks `{needle}`:\n{out}");
    }
    assert!(
        out.contains(" failed") && !out.contains(" 0 failed"),
        "{out}"
    );

    // The printed replay command reproduces the failure.
    let line = out
        .lines()
        .find(|l| l.contains("replay: qmac regress"))
        .unwrap();
    let replay = line.split("replay: qmac ").nth(1).unwrap();
    let args: Vec<String> = replay
        .split_whitespace()
        .map(|a| a.trim_matches('\'').to_string())
        .collect();
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code2, out2) = run(&bin, &args);
    assert_eq!(code2, 1, "replay `{replay}` did not fail:\n{out2}");
    assert!(out2.contains("1 failed"), "{out2}");

    // --wave-on-fail writes an FST waveform of the failing test.
    let waves = dir.join("waves");
    let mut wargs = args.clone();
    wargs.extend(["--wave-on-fail", waves.to_str().unwrap()]);
    let (code3, out3) = run(&bin, &wargs);
    assert_eq!(code3, 1, "{out3}");
    let fst: Vec<_> = std::fs::read_dir(&waves)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(fst.len(), 1, "{out3}");
    assert!(
        std::fs::metadata(&fst[0]).unwrap().len() > 1000,
        "waveform too small"
    );

    // qmac fuzz finds the planted bug, shrinks it to a handful of taps, and
    // the printed replay command reproduces it; the correct RTL passes it.
    let fz = dir.join("fuzz");
    let fzjson = dir.join("fuzz.json");
    let (code, out) = run(
        &bin,
        &[
            "fuzz",
            "--seed",
            "4",
            "--out",
            fz.to_str().unwrap(),
            "--json",
            fzjson.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");
    // The JSON report names the failing iteration, the shrunk size and the replay.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fzjson).unwrap()).unwrap();
    assert_eq!(v["verdict"], "FAIL");
    assert_eq!(v["failure"]["iteration"], 1);
    assert_eq!(v["failure"]["shrunk"]["dots"], 1);
    assert!(v["failure"]["replay"]
        .as_str()
        .unwrap()
        .starts_with("qmac fuzz --replay "));
    let shrunk = out
        .lines()
        .find(|l| l.starts_with("shrunk in "))
        .unwrap_or_else(|| panic!("{out}"));
    let after = shrunk.split("-> ").nth(1).unwrap();
    let taps: usize = after
        .split(" / ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after.starts_with("1 dot products") && taps <= 8, "{shrunk}");
    let replay = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: qmac "))
        .unwrap();
    let args: Vec<&str> = replay.split_whitespace().collect();
    let (code, out2) = run(&bin, &args);
    assert_eq!(code, 1, "{out2}");
    assert!(
        out2.contains("expected y=") && out2.contains("0 passed, 1 failed"),
        "{out2}"
    );
    let (code, out3) = run(Path::new(env!("CARGO_BIN_EXE_qmac")), &args);
    assert_eq!(code, 0, "the correct RTL must pass the repro: {out3}");
    assert!(fz.join("repro-seed4-iter1.fst").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run with a deadline: (exit code, output, seconds). A run past the
/// deadline is killed and fails the test: qmac must end with a verdict.
fn run_bounded(bin: &Path, args: &[&str], deadline_s: u64) -> (i32, String, f64) {
    use std::io::Read;
    let t = std::time::Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let text = reader.join().unwrap();
            return (st.code().unwrap_or(-1), text, t.elapsed().as_secs_f64());
        }
        if t.elapsed().as_secs() > deadline_s {
            let _ = child.kill();
            panic!("qmac {args:?} ran {deadline_s} s without a verdict");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Before: with beats accepted while the pipeline is stalled
/// (`in_ready = adv || !cfg_take`), `qmac regress` ran for more than 9
/// minutes at full CPU with no output, and `qmac fuzz` hung too: the
/// deadlock watchdog excused every cycle with out_ready low. Now only a
/// held output is excused and every run has a cycle bound: both end with a
/// FAIL verdict within seconds.
#[test]
fn a_dut_that_drops_beats_under_stall_ends_with_a_verdict() {
    let dir = std::env::temp_dir().join(format!("qmac-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/rtl")).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue; // rtl/fpga/: the on-chip player, not the datapath
        }
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.file_name().unwrap() == "qmac_top.v" {
            let before = text.clone();
            text = text.replace(
                "assign in_ready = adv && !cfg_take;",
                "assign in_ready = adv || !cfg_take;",
            );
            assert_ne!(before, text, "mutation site not found in qmac_top.v");
        }
        std::fs::write(dir.join(p.file_name().unwrap()), text).unwrap();
    }
    let bin = build_mutant_into(&dir, "mutant-hang");
    let (code, out, secs) = run_bounded(&bin, &["regress", "--jobs", "2"], 120);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL random/") && out.contains(" failed"),
        "{out}"
    );
    eprintln!("regress on the stalled-input mutant: FAIL in {secs:.1} s");
    let fz = dir.join("fuzz");
    let (code, out, secs) = run_bounded(
        &bin,
        &["fuzz", "--seed", "1", "--out", fz.to_str().unwrap()],
        300,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 passed, 1 failed"), "{out}");
    eprintln!("fuzz on the stalled-input mutant: FAIL in {secs:.1} s");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The narrow-multiplier design point is co-simulated, not only linted: a
/// build with `QMAC_MULT_W=16` passes the corners and layer suites against the
/// 16-bit golden model, and `qmac layer` reports how often it differs from the
/// 32-bit TFLite result.
#[test]
fn a_mult_w_16_build_is_cosimulated() {
    let target = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/mult16"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "--release", "--locked", "--bin", "qmac"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("QMAC_MULT_W", "16")
        .env("QMAC_LANES", "8")
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(st.success(), "building the MULT_W=16 model failed");
    let bin = target.join("release/qmac");
    let (code, out) = run(&bin, &["regress", "--suite", "corners", "--jobs", "2"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("LANES=8 MULT_W=16"), "{out}");
    let (code, out) = run(
        &bin,
        &[
            "layer",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/tflite/mbnet_b_op0_depthwise_conv2d.json"
            ),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("[16-bit multiplier: differs from the 32-bit result on "),
        "{out}"
    );
    assert!(
        out.contains("rtl mismatches 0 (acc 0, beat checks 0 failed)"),
        "{out}"
    );
}
