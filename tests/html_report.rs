//! `qmac report` and `--html`: one self-contained page per run, checked in a
//! real browser (headless Chromium; the browser checks say skipped where it
//! is not installed): the page has the sections and figures of its kind,
//! renders to a screenshot, and makes no network request (a control page
//! that does fetch shows the check can see one). Bad report files are exit 2
//! naming the file and the field.
mod common;

use std::path::{Path, PathBuf};

use common::{qmac_joined, scratch};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_network_check_sees_a_page_that_fetches() {
    let Some(chrome) = common::chromium() else {
        eprintln!("skipped: chromium is not installed (scripts/setup installs it)");
        return;
    };
    let dir = scratch("html", "control");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("fetches.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/x.png\"><p>control</p></body></html>",
    )
    .unwrap();
    let r = common::render_in_chromium(&chrome, &page);
    assert!(r.dom.contains("control"));
    assert_eq!(
        r.page_requests,
        vec!["http://127.0.0.1:9/x.png".to_string()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_report_kind_renders_in_chromium() {
    let dir = scratch("html", "kinds");
    std::fs::create_dir_all(&dir).unwrap();
    let f = |n: &str| -> PathBuf { dir.join(n) };

    // A passing regression: --html directly, and the same page from --json.
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "smoke",
        "-q",
        "--json",
        s(&f("regress.json")),
        "--html",
        s(&f("regress.html")),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("HTML report"),
        "-q prints no file lines: {out}"
    );
    common::check_report_page(
        &f("regress.html"),
        &[
            "qmac regress",
            "PASS",
            "3 tests (3 passed, 0 failed)",
            "lane results",
            "Coverage",
            "not hit",
            "throughput",
            "sha256",
        ],
        1,
    );

    // A PyTorch fixture: integer-vs-PyTorch differences by verified cause.
    let (code, out) = qmac_joined(&[
        "layer",
        "tests/fixtures/torch/probe/index.json",
        "--json",
        s(&f("torch.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = qmac_joined(&["report", s(&f("torch.json")), "--out", s(&f("torch.html"))]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 report(s): 1 passed, 0 failed"), "{out}");
    common::check_report_page(
        &f("torch.html"),
        &[
            "qmac layer",
            "integer − framework (LSB)",
            "explained: ",
            "Where ",
            "lane use",
        ],
        2,
    );

    // A failing layer (a tampered reference output): the heatmap and the
    // first differing outputs, and exit 1 from both commands.
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/tflite/mbnet_b_op1_conv2d.json").unwrap(),
    )
    .unwrap();
    let mut bad = case.clone();
    for i in [7usize, 300, 301, 1100] {
        let v = bad["output"][i].as_i64().unwrap();
        bad["output"][i] = (if v < 120 { v + 3 } else { v - 3 }).into();
    }
    std::fs::write(f("tampered.json"), serde_json::to_string(&bad).unwrap()).unwrap();
    let (code, out) = qmac_joined(&[
        "layer",
        s(&f("tampered.json")),
        "--backend",
        "golden",
        "--json",
        s(&f("tampered.out.json")),
        "--html",
        s(&f("tampered.html")),
    ]);
    assert_eq!(code, 1, "{out}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("tampered.out.json")).unwrap()).unwrap();
    let map = &j["results"][0]["diff_map"];
    assert_eq!(map["total"], 4, "{map}");
    assert_eq!(map["cells"][0], serde_json::json!([0, 7, 3, 1]), "{map}");
    // Its replay command is the golden run it was, and fails again.
    let replay = j["results"][0]["replay"].as_str().unwrap();
    assert!(replay.contains("--backend golden"), "{replay}");
    let args: Vec<&str> = replay.split_whitespace().skip(1).collect();
    assert_eq!(qmac_joined(&args).0, 1, "{replay}");
    common::check_report_page(
        &f("tampered.html"),
        &[
            "FAIL",
            "Replay every failure",
            "qmac layer ",
            "Where tampered",
            "4 differing output(s)",
            "[0, 0, 0, 7]:",
        ],
        1,
    );
    let (code, out) = qmac_joined(&[
        "report",
        s(&f("tampered.out.json")),
        "--out",
        s(&f("tampered2.html")),
    ]);
    assert_eq!(code, 1, "a failing report is exit 1: {out}");
    assert!(
        f("tampered2.html").exists(),
        "the page is written either way"
    );

    // A narrow multiplier: error against every width.
    let (code, out) = qmac_joined(&[
        "layer",
        "tests/fixtures/tflite/cnn_a_op0_conv2d.json",
        "--backend",
        "golden",
        "--m0-bits",
        "12",
        "--json",
        s(&f("narrow.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("narrow.json")).unwrap()).unwrap();
    let sweep = j["results"][0]["width_sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 31);
    assert_eq!(sweep[30]["bits"], 32);
    assert_eq!(
        sweep[30]["mismatches"], 0,
        "32 bits is the reference itself"
    );
    assert!(sweep[0]["mismatches"].as_u64().unwrap() > sweep[10]["mismatches"].as_u64().unwrap());
    // The narrow multiplier is reported, not mapped as a difference: the
    // case still equals the 32-bit path.
    assert!(
        j["results"][0]["diff_map"].is_null(),
        "{}",
        j["results"][0]["diff_map"]
    );

    // A whole model: the timeline of beats and time per op.
    let m = "tests/fixtures/models/mbnet";
    let (code, out) = qmac_joined(&[
        "model",
        &format!("{m}.tflite"),
        "--input",
        &format!("{m}.input0.npy"),
        "--tensors",
        &format!("{m}.tensors0.npz"),
        "--expect",
        &format!("{m}.output0.npy"),
        "--json",
        s(&f("model.json")),
        "--html",
        s(&f("model.html")),
    ]);
    assert_eq!(code, 0, "{out}");
    let size = std::fs::metadata(f("model.html")).unwrap().len();
    assert!(size < 2_000_000, "a whole-model report of {size} bytes");
    common::check_report_page(
        &f("model.html"),
        &[
            "qmac model",
            "DEPTHWISE_CONV_2D",
            "wall time (s)",
            "beats",
            "Where ",
        ],
        1,
    );

    // A fuzz campaign: coverage against iterations.
    let (code, out) = qmac_joined(&[
        "fuzz",
        "--iterations",
        "60",
        "--seed",
        "3",
        "--out",
        s(&f("fz")),
        "--json",
        s(&f("fuzz.json")),
        "--html",
        s(&f("fuzz.html")),
    ]);
    assert_eq!(code, 0, "{out}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("fuzz.json")).unwrap()).unwrap();
    let firsts = j["coverage"]["first_hit"].as_object().unwrap();
    assert_eq!(
        firsts.len(),
        j["coverage"]["hit"].as_u64().unwrap() as usize
    );
    assert!(firsts.values().all(|v| v.as_u64().unwrap() < 60));
    common::check_report_page(
        &f("fuzz.html"),
        &[
            "qmac fuzz",
            "60 iterations",
            "Coverage against iterations",
            "bins hit",
        ],
        2,
    );

    // Every kind on one page, in the order given; the width chart shows.
    let (code, out) = qmac_joined(&[
        "report",
        s(&f("regress.json")),
        s(&f("torch.json")),
        s(&f("narrow.json")),
        s(&f("model.json")),
        s(&f("fuzz.json")),
        "--out",
        s(&f("all.html")),
    ]);
    assert_eq!(code, 0, "{out}");
    common::check_report_page(
        &f("all.html"),
        &[
            "5 report(s)",
            "multiplier width (bits)",
            "this run's 12 bits",
        ],
        6,
    );
    let all = std::fs::read_to_string(f("all.html")).unwrap();
    assert!(all.contains("a 12-bit multiplier reported (not judged)"));
    assert!(
        all.contains("final output vs --expect: 0 of 10 differ"),
        "the model's --expect check is shown"
    );
    // Two layer reports on one page: every id is unique.
    let (code, out) = qmac_joined(&[
        "report",
        s(&f("torch.json")),
        s(&f("torch.json")),
        "--out",
        s(&f("twice.html")),
    ]);
    assert_eq!(code, 0, "{out}");
    let twice = std::fs::read_to_string(f("twice.html")).unwrap();
    let ids: Vec<&str> = twice
        .split(" id=\"")
        .skip(1)
        .map(|t| &t[..t.find('"').unwrap()])
        .collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert!(
        ids.len() > 4 && unique.len() == ids.len(),
        "duplicate ids: {ids:?}"
    );
    let all = std::fs::read_to_string(f("all.html")).unwrap();
    let order: Vec<usize> = ["qmac regress:", "qmac layer:", "qmac model:", "qmac fuzz:"]
        .iter()
        .map(|k| all.rfind(k).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "sections out of order"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_report_files_are_input_errors() {
    let dir = scratch("html", "bad");
    std::fs::create_dir_all(&dir).unwrap();
    let f = |n: &str| dir.join(n);
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "smoke",
        "-q",
        "--json",
        s(&f("r.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let good = std::fs::read_to_string(f("r.json")).unwrap();

    std::fs::write(f("trunc.json"), &good[..good.len() / 2]).unwrap();
    let (code, out) = qmac_joined(&["report", s(&f("trunc.json")), "--out", s(&f("o.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("trunc.json") && out.contains("line "), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "one line: {out}");

    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["results"][1]["beats"] = "many".into();
    std::fs::write(f("type.json"), v.to_string()).unwrap();
    let (code, out) = qmac_joined(&["report", s(&f("type.json")), "--out", s(&f("o.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("type.json") && out.contains("field `results[1].beats`"),
        "{out}"
    );

    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["qmac"] = "bench".into();
    std::fs::write(f("kind.json"), v.to_string()).unwrap();
    let (code, out) = qmac_joined(&["report", s(&f("kind.json")), "--out", s(&f("o.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("field `qmac`") && out.contains("`bench`"),
        "{out}"
    );

    let (code, out) = qmac_joined(&["report", s(&f("missing.json")), "--out", s(&f("o.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("missing.json"), "{out}");
    assert!(!f("o.html").exists(), "nothing written on an input error");

    // Nothing a user wrote is overwritten without --force.
    std::fs::write(f("mine.html"), "mine").unwrap();
    let (code, out) = qmac_joined(&["report", s(&f("r.json")), "--out", s(&f("mine.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--force"), "{out}");
    assert_eq!(std::fs::read_to_string(f("mine.html")).unwrap(), "mine");
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "smoke",
        "-q",
        "--html",
        s(&f("mine.html")),
    ]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(std::fs::read_to_string(f("mine.html")).unwrap(), "mine");
    let (code, out) = qmac_joined(&[
        "report",
        s(&f("r.json")),
        "--out",
        s(&f("mine.html")),
        "--force",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(f("mine.html"))
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_that_contradicts_itself_is_an_input_error() {
    let dir = scratch("html", "selfcheck");
    std::fs::create_dir_all(&dir).unwrap();
    let f = |n: &str| dir.join(n);
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "smoke",
        "-q",
        "--json",
        s(&f("r.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f("r.json")).unwrap()).unwrap();
    let bad = |name: &str, edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
        let mut v = good.clone();
        edit(&mut v);
        std::fs::write(f(name), v.to_string()).unwrap();
        let (code, out) = qmac_joined(&["report", s(&f(name)), "--out", s(&f("o.html"))]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(out.contains(name) && out.contains(needle), "{name}: {out}");
        assert!(!f("o.html").exists());
    };
    // A failing test under a PASS.
    bad(
        "failing_test.json",
        &|v| v["results"][0]["verdict"] = "FAIL".into(),
        "field `passed`",
    );
    // Counts that disagree with the verdict.
    bad(
        "verdict.json",
        &|v| {
            v["results"][0]["verdict"] = "FAIL".into();
            v["passed"] = 2.into();
            v["failed"] = 1.into();
        },
        "field `verdict`: PASS, but 2 passed and 1 failed",
    );
    // A run that checked nothing is not a PASS.
    bad(
        "empty.json",
        &|v| {
            v["results"] = serde_json::json!([]);
            v["tests"] = 0.into();
            v["passed"] = 0.into();
            v["lane_checks"] = 0.into();
        },
        "nothing was checked",
    );
    bad(
        "time.json",
        &|v| v["results"][1]["wall_s"] = (-1.0).into(),
        "field `results[1].wall_s`",
    );
    // A regression of model tests only has no lane checks but compared every
    // reference tensor: a PASS, not "nothing checked".
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "models",
        "--test",
        "depth_to_space",
        "-q",
        "--json",
        s(&f("d2s.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = qmac_joined(&["report", s(&f("d2s.json")), "--out", s(&f("d2s.html"))]);
    assert_eq!(code, 0, "{out}");
    // Not a report at all: a coverage file.
    let (code, out) = qmac_joined(&[
        "fuzz",
        "--iterations",
        "2",
        "--out",
        s(&f("fz")),
        "--json",
        s(&f("fuzz.json")),
    ]);
    assert_eq!(code, 0, "{out}");
    let cov = std::fs::read_dir(f("fz"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (code, out) = qmac_joined(&["report", s(&cov), "--out", s(&f("o.html"))]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a --json report of qmac"), "{out}");

    // An output that is also an input, or two outputs in one file: refused
    // even with --force, nothing touched.
    let before = std::fs::read_to_string(f("r.json")).unwrap();
    let (code, out) = qmac_joined(&[
        "report",
        s(&f("r.json")),
        "--out",
        s(&f("r.json")),
        "--force",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is the same file as RESULTS"), "{out}");
    assert_eq!(std::fs::read_to_string(f("r.json")).unwrap(), before);
    let (code, out) = qmac_joined(&[
        "regress",
        "--suite",
        "smoke",
        "-q",
        "--json",
        s(&f("x.json")),
        "--html",
        s(&f("x.json")),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--html: is the same file as --json") && !f("x.json").exists(),
        "{out}"
    );
    // A refused --html leaves no --out directory behind.
    std::fs::write(f("taken.html"), "mine").unwrap();
    let (code, out) = qmac_joined(&[
        "fuzz",
        "--iterations",
        "2",
        "--out",
        s(&f("fz2")),
        "--html",
        s(&f("taken.html")),
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(!f("fz2").exists(), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_commands_survive_paths_a_shell_would_split() {
    let dir = scratch("html", "quote");
    std::fs::create_dir_all(&dir).unwrap();
    let mut case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/tflite/mbnet_b_op3_conv2d.json").unwrap(),
    )
    .unwrap();
    let v = case["output"][0].as_i64().unwrap();
    case["output"][0] = (if v < 100 { v + 1 } else { v - 1 }).into();
    let path = dir.join("my case (v2).json");
    std::fs::write(&path, case.to_string()).unwrap();
    let json = dir.join("out.json");
    let (code, out) = qmac_joined(&["layer", s(&path), "--backend", "golden", "--json", s(&json)]);
    assert_eq!(code, 1, "{out}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let replay = j["results"][0]["replay"].as_str().unwrap();
    assert!(replay.contains("'"), "{replay}");
    // Pasted into bash (with this build's qmac first on PATH), it fails the same way.
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_qmac"))
        .parent()
        .unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(replay)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{replay}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("golden mismatches 1"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
