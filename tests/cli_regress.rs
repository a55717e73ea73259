//! `qmac regress` end to end: suites pass on LANES 1 and 8, results do not
//! depend on --jobs, JUnit is written, bad arguments exit 2.

mod common;

fn qmac(args: &[&str]) -> (i32, String, String) {
    common::qmac_split(args)
}

/// The table without the timing columns / lines.
fn counts(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            [
                "smoke ", "corners ", "random ", "layers ", "models ", "total ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| l.split_whitespace().take(9).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn all_suites_pass_on_lanes_1_and_8() {
    for lanes in ["8", "1"] {
        let (code, out, err) = qmac(&[
            "regress",
            "--suite",
            "all",
            "--lanes",
            lanes,
            "--random-tests",
            "8",
        ]);
        assert_eq!(code, 0, "LANES={lanes}\n{out}{err}");
        assert!(out.contains(&format!("LANES={lanes} MULT_W=32")), "{out}");
        assert!(out.trim_end().ends_with("passed, 0 failed"), "{out}");
        // The stall-free throughput test passed, i.e. reached 1 beat/cycle.
        assert!(!out.contains("FAIL"), "{out}");
        // Every suite's row: tests, passed, failed. The whole-model suite is
        // (3 models + 20 op probes) x 2 inputs, each equal to TFLite or every
        // difference explained (wide_fc: TFLite's float64 FC).
        for (suite, n) in [
            ("smoke", "3"),
            ("corners", "22"),
            ("random", "8"),
            ("layers", "23"),
            ("models", "46"),
            ("total", "102"),
        ] {
            let rows: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with(&format!("{suite} ")))
                .collect();
            assert_eq!(rows.len(), 1, "{suite}: {out}");
            assert_eq!(
                rows[0].split_whitespace().take(4).collect::<Vec<_>>(),
                [suite, n, n, "0"],
                "{out}"
            );
        }
    }
}

#[test]
fn outcome_is_independent_of_jobs_and_reproducible() {
    let a = qmac(&[
        "regress", "--suite", "corners", "--seed", "5", "--jobs", "1",
    ]);
    let b = qmac(&[
        "regress", "--suite", "corners", "--seed", "5", "--jobs", "2",
    ]);
    assert_eq!(a.0, 0, "{}{}", a.1, a.2);
    assert_eq!(counts(&a.1), counts(&b.1));
    assert!(!counts(&a.1).is_empty());
    // A different seed gives different stimulus (different beat/cycle counts).
    let c = qmac(&[
        "regress",
        "--suite",
        "random",
        "--seed",
        "6",
        "--random-tests",
        "2",
    ]);
    let d = qmac(&[
        "regress",
        "--suite",
        "random",
        "--seed",
        "5",
        "--random-tests",
        "2",
    ]);
    assert_ne!(counts(&c.1), counts(&d.1));
}

#[test]
fn junit_report_lists_every_test_and_validates_against_the_schema() {
    let path = std::env::temp_dir().join(format!("qmac-junit-{}.xml", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (code, out, err) = qmac(&[
        "regress",
        "--suite",
        "smoke,corners",
        "--seed",
        "4",
        "--junit",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    common::validate_junit(&path);
    let xml = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        xml.contains("<testsuite name=\"smoke\" package=\"qmac.lanes8\" id=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("tests=\"3\" failures=\"0\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 25, "{xml}");
    for p in [
        "seed\" value=\"4\"",
        "lanes\" value=\"8\"",
        "mult_w\" value=\"32\"",
        "rtl_sha256\" value=\"",
    ] {
        assert!(xml.contains(&format!("<property name=\"{p}")), "{p}: {xml}");
    }
    assert!(
        xml.contains("throughput: replay: qmac regress --suite smoke --test 'throughput' --seed 4"),
        "{xml}"
    );
}

/// The conventions of cocotb / Verilator users: --list, exact names, globs,
/// several suites, near matches, seeds and filters from the environment,
/// --quiet, --verbose, --json, --color.
#[test]
fn list_select_env_quiet_json_and_color() {
    let (code, out, _) = qmac(&["regress", "--list", "--suite", "smoke,corners"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("smoke/throughput\n") && out.contains("corners/reset_values\n"),
        "{out}"
    );
    assert!(out.contains("coverage bins:\n  tie_pos"), "{out}");
    // A glob over two suites, an exact name, de-duplicated suites.
    let (code, out, err) = qmac(&[
        "regress",
        "--suite",
        "smoke,corners,smoke",
        "--test",
        "corners/ties/*,throughput",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(", 3 tests,"), "{out}");
    // A typo names the closest tests.
    let (code, _, err) = qmac(&["regress", "--suite", "corners", "--test", "reset_valuez"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no test matches `reset_valuez`; closest: corners/reset_values"),
        "{err}"
    );
    // Seed and test filter from the environment.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(["regress", "--suite", "corners"])
        .env("QMAC_SEED", "77")
        .env("QMAC_TEST", "cfg_one_register")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(", 1 test, LANES=8 MULT_W=32, seed 77,"),
        "{text}"
    );
    // --quiet: only the final line; --verbose: the whole coverage table.
    let (code, out, _) = qmac(&["regress", "--suite", "smoke", "-q"]);
    assert_eq!(code, 0);
    assert_eq!(out, "3 passed, 0 failed\n");
    let (_, out, _) = qmac(&["regress", "--suite", "smoke", "-v"]);
    assert!(out.contains("  x_single_neg_notie"), "{out}");
    let (_, out, _) = qmac(&["regress", "--suite", "smoke"]);
    assert!(
        out.contains("coverage: ")
            && out.contains("; not hit: ")
            && !out.contains("  x_single_neg_notie "),
        "{out}"
    );
    // --json -: only JSON on stdout, with the verdicts and replay commands.
    let (code, out, _) = qmac(&["regress", "--suite", "smoke", "--json", "-"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["tests"], 3);
    assert_eq!(v["seed"], 1);
    assert_eq!(v["lanes"], 8);
    assert_eq!(v["results"][2]["name"], "throughput");
    assert_eq!(v["results"][2]["verdict"], "PASS");
    assert!(v["results"][2]["replay"]
        .as_str()
        .unwrap()
        .starts_with("qmac regress --suite smoke --test 'throughput'"));
    assert!(v["rtl_sha256"].as_str().unwrap().len() == 64);
    // Colour only when asked (or on a terminal without NO_COLOR).
    let (_, out, _) = qmac(&["regress", "--suite", "smoke", "-q", "--color", "always"]);
    assert_eq!(out, "\x1b[32m3 passed, 0 failed\x1b[0m\n");
    let (_, out, _) = qmac(&["regress", "--suite", "smoke", "-q", "--color", "never"]);
    assert_eq!(out, "3 passed, 0 failed\n");
}

/// --waves DIR: a waveform for every test, not only failing ones.
#[test]
fn waves_writes_every_test_s_waveform() {
    let dir = std::env::temp_dir().join(format!("qmac-waves-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = qmac(&[
        "regress",
        "--suite",
        "smoke",
        "--test",
        "directed*",
        "--waves",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("waveforms: 2 FST file(s) in {}", dir.display())),
        "{out}"
    );
    for n in ["directed_double.fst", "directed_single.fst"] {
        let len = std::fs::metadata(dir.join(n)).unwrap().len();
        assert!(len > 1000, "{n}: {len} bytes");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    let (code, _, err) = qmac(&["regress", "--suite", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("--suite") && err.contains("nope"), "{err}");
    let (code, _, err) = qmac(&["regress", "--suite", "smoke", "--test", "no_such_test"]);
    assert_eq!(code, 2);
    assert!(err.contains("no_such_test"), "{err}");
    let (code, _, err) = qmac(&["regress", "--lanes", "5"]);
    assert_eq!(code, 2);
    assert!(err.contains("LANES=5"), "{err}");
}

/// Before: `qmac regress --suite smoke | head -1` panicked with "failed
/// printing to stdout: Broken pipe" (exit 101). A closed pipe now ends qmac
/// quietly, like any Unix filter (killed by SIGPIPE, no message).
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(["regress", "--suite", "smoke"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("qmac regress: suite smoke"), "{first}");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(
        out.status.signal() == Some(libc_sigpipe()) || out.status.success(),
        "{:?} {err}",
        out.status
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

/// Before: argument errors were cut to clap's first line (`qmac layer` said
/// only "the following required arguments were not provided:"). Now clap's
/// whole message, exit 2.
#[test]
fn argument_errors_are_clap_s_whole_message() {
    for (args, needles) in [
        (
            vec!["layer"],
            vec![
                "required arguments were not provided",
                "<CASES>...",
                "Usage: qmac layer",
            ],
        ),
        (
            vec!["layer", "x.json", "--backend", "foo"],
            vec![
                "invalid value 'foo'",
                "[possible values: rtl, golden, both]",
            ],
        ),
        (
            vec!["regress", "--sed", "5"],
            vec![
                "unexpected argument '--sed'",
                "tip: a similar argument exists: '--seed'",
            ],
        ),
        (vec![], vec!["Usage: qmac <COMMAND>", "regress"]),
    ] {
        let (code, out, err) = qmac(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in:\n{err}");
        }
    }
}

/// Before: a bad --junit / --coverage path was found only after the whole
/// regression ran. Now every output path is checked first (exit 2, instantly).
#[test]
fn output_paths_are_checked_before_any_work() {
    let file = common::scratch("regress", "afile");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["regress", "--junit", "/nonexistent/dir/j.xml"],
            "--junit: its directory /nonexistent/dir does not exist",
        ),
        (
            vec!["regress", "--coverage", "/tmp"],
            "/tmp: --coverage: is a directory",
        ),
        (
            vec!["regress", "--wave-on-fail", f],
            "--wave-on-fail: exists and is not a directory",
        ),
    ] {
        let t = std::time::Instant::now();
        let (code, out, err) = qmac(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !out.contains("suite    tests"),
            "{args:?} ran the regression: {out}"
        );
        assert!(t.elapsed().as_secs() < 5);
    }
    let _ = std::fs::remove_file(&file);
}

/// `--version` names what the binary checks: revision, LANES, MULT_W, RTL hash.
#[test]
fn version_names_the_build() {
    let (code, out, err) = qmac(&["--version"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("qmac 0."), "{out}");
    for n in ["(git ", "LANES [1, 8]", "MULT_W 32", "sha256 "] {
        assert!(out.contains(n), "{n:?} not in {out}");
    }
}

/// One validation rule per flag across commands, and no vacuous pass: every
/// `--jobs` is 1..=256, `fuzz --iterations 0` is refused, `--output-zero-point`
/// needs `--activation`, `--m0-bits` is refused on the RTL backend; a run that
/// selects no test fails, an empty CI shard says so and passes.
#[test]
fn one_rule_per_flag_and_no_vacuous_pass() {
    let layer = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tflite/mbnet_b_op0_depthwise_conv2d.json"
    );
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/models/kws.tflite"
    );
    for (args, needle) in [
        (vec!["regress", "--jobs", "0"], "0 is not in 1..=256"),
        (vec!["regress", "--jobs", "1000"], "1000 is not in 1..=256"),
        (vec!["fuzz", "--jobs", "0"], "0 is not in 1..=256"),
        (
            vec!["model", model, "--input", "x.npy", "--jobs", "300"],
            "300 is not in 1..=256",
        ),
        (
            vec!["fuzz", "--iterations", "0"],
            "invalid value '0' for '--iterations",
        ),
        (
            vec![
                "quantize",
                "--input-scale",
                "0.1",
                "--filter-scale",
                "0.2",
                "--output-scale",
                "0.3",
                "--output-zero-point",
                "3",
            ],
            "--activation <ACTIVATION>",
        ),
        (
            vec!["layer", layer, "--m0-bits", "16"],
            "--m0-bits: value: applies to --backend golden only",
        ),
    ] {
        let (code, out, err) = qmac(&args);
        assert_eq!(code, 2, "{args:?}\n{out}{err}");
        assert!(err.contains(needle), "{args:?}: `{needle}` not in\n{err}");
    }
    let (code, out, err) = qmac(&["regress", "--suite", "random", "--random-tests", "0"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("nothing checked: suite `random` selects 0 tests"),
        "{err}"
    );
    assert!(!out.contains("passed"), "{out}");
    let (code, out, err) = qmac(&[
        "regress",
        "--suite",
        "random",
        "--random-tests",
        "1",
        "--shard",
        "2/2",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 tests in shard 2/2 of suite random"),
        "{out}"
    );
}

/// One overwrite policy: --junit, --coverage, `coverage merge --out` and
/// fuzz's coverage file refuse an existing file before any work, naming
/// --force; with --force they replace it.
#[test]
fn existing_reports_are_kept_unless_forced() {
    let dir = std::env::temp_dir().join(format!("qmac-overwrite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (junit, cov) = (dir.join("j.xml"), dir.join("c.json"));
    for (flag, path) in [("--junit", &junit), ("--coverage", &cov)] {
        std::fs::write(path, "mine").unwrap();
        let p = path.to_str().unwrap();
        let (code, out, err) = qmac(&["regress", "--suite", "smoke", flag, p]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!(
                "{p}: {flag}: exists; refusing to overwrite it (pass --force"
            )),
            "{err}"
        );
        assert!(out.is_empty(), "refused before any work: {out}");
        assert_eq!(std::fs::read_to_string(path).unwrap(), "mine");
        let (code, out, err) = qmac(&["regress", "--suite", "smoke", flag, p, "--force"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_ne!(std::fs::read_to_string(path).unwrap(), "mine");
    }
    // coverage merge --out
    let merged = dir.join("m.json");
    std::fs::write(&merged, "mine").unwrap();
    let (code, _, err) = qmac(&[
        "coverage",
        "merge",
        cov.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--out: exists; refusing to overwrite it (pass --force"),
        "{err}"
    );
    let (code, out, err) = qmac(&[
        "coverage",
        "merge",
        cov.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&cov).unwrap()
    );
    // `coverage show` prints the table of a file.
    let (code, out, _) = qmac(&["coverage", "show", cov.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("tie_pos"), "{out}");
    // fuzz: its coverage file of the same seed, before the campaign.
    let fz = dir.join("fz");
    let (code, out, err) = qmac(&[
        "fuzz",
        "--seed",
        "3",
        "--iterations",
        "5",
        "--out",
        fz.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = qmac(&[
        "fuzz",
        "--seed",
        "3",
        "--iterations",
        "5",
        "--out",
        fz.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("coverage-seed3.json: --out: exists; refusing to overwrite it (pass --force"),
        "{err}"
    );
    assert!(!out.contains("passed"), "{out}");
    let (code, out, err) = qmac(&[
        "fuzz",
        "--seed",
        "3",
        "--iterations",
        "5",
        "--out",
        fz.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shell completions and man pages come from the same definitions as --help.
#[test]
fn completions_and_man_pages() {
    for (shell, needle) in [
        ("bash", "_qmac()"),
        ("zsh", "#compdef qmac"),
        ("fish", "complete -c qmac"),
    ] {
        let (code, out, err) = qmac(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(needle), "{shell}: {out}");
        assert!(
            out.contains("regress") && out.contains("wave-on-fail"),
            "{shell}"
        );
    }
    let (code, out, _) = qmac(&["man"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(".TH qmac 1") && out.contains("regress"),
        "{out}"
    );
    let dir = std::env::temp_dir().join(format!("qmac-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = qmac(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let page = std::fs::read_to_string(dir.join("qmac-regress.1")).unwrap();
    assert!(
        page.contains("\\-\\-junit") && page.contains("\\-\\-waves"),
        "{page}"
    );
    // An existing directory with pages is not written into without --force.
    let (code, _, err) = qmac(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("exists and is not empty; refusing to write into it (pass --force"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-h` gives the one-line summary, `--help` the long description of each
/// subcommand (it used to be hidden behind the one-line summary).
#[test]
fn long_help_is_the_long_description() {
    for (sub, short, long) in [
        (
            "regress",
            "Run a regression suite",
            "Runs named test suites on the Verilated RTL",
        ),
        ("layer", "Run layer cases", "Runs each layer case"),
        (
            "model",
            "Run a whole int8 TFLite model",
            "Runs a whole int8 TFLite model (.tflite) op by op",
        ),
        (
            "fuzz",
            "Constrained-random fuzzing",
            "Runs constrained-random transactions",
        ),
    ] {
        let (_, h, _) = qmac(&[sub, "-h"]);
        let (_, help, _) = qmac(&[sub, "--help"]);
        assert!(h.starts_with(short), "{sub} -h: {h}");
        assert!(help.starts_with(long), "{sub} --help: {help}");
    }
}
