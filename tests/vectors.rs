//! FPGA vector bundles: canonical bundles regenerate byte-identically,
//! bundles from the corners suite and a real layer replay PASS in Icarus and
//! Verilator, and a flipped or truncated word makes the replay and --check fail.
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use qmac::formats::hex;

mod common;

fn qmac(args: &[&str]) -> (i32, String) {
    common::qmac_joined(args)
}

fn tmp(name: &str) -> PathBuf {
    common::scratch("vectors", name)
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn replay(dir: &Path, sim: &str, extra: &[&str]) -> (i32, String) {
    common::run_joined(
        Command::new(format!("{ROOT}/scripts/replay"))
            .arg(dir)
            .args(["--sim", sim])
            .args(extra),
    )
}

/// Bundle text with the git revision (and the manifest checksum that covers it) blanked.
fn canonical(dir: &Path, file: &str) -> String {
    let t = std::fs::read_to_string(dir.join(file)).unwrap();
    t.lines()
        .filter(|l| !l.starts_with("git_revision = ") && !l.ends_with("  manifest.toml"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn committed_bundles_regenerate_byte_identically() {
    let sets: [(&str, Vec<&str>); 2] = [
        ("smoke", vec!["--suite", "smoke"]),
        (
            "mbnet_b_op0_depthwise_conv2d",
            vec![
                "--case",
                "tests/fixtures/tflite/mbnet_b_op0_depthwise_conv2d.json",
            ],
        ),
    ];
    for (name, src) in sets {
        let out = tmp(name);
        let mut args = vec!["vectors", "--out", out.to_str().unwrap()];
        args.extend(src);
        let (code, log) = qmac(&args);
        assert_eq!(code, 0, "{log}");
        let committed = Path::new(ROOT).join("vectors").join(name);
        for f in ["program.hex", "cfg.hex", "beats.hex", "expected.hex"] {
            let a = std::fs::read(committed.join(f)).unwrap();
            let b = std::fs::read(out.join(f)).unwrap();
            assert!(
                a == b,
                "vectors/{name}/{f} differs from a fresh `qmac vectors` run"
            );
        }
        for f in ["manifest.toml", "SHA256SUMS"] {
            assert_eq!(
                canonical(&committed, f),
                canonical(&out, f),
                "vectors/{name}/{f}"
            );
        }
        let (code, log) = qmac(&["vectors", "--check", committed.to_str().unwrap()]);
        assert_eq!(code, 0, "{log}");
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn corners_and_a_real_layer_replay_in_icarus_and_verilator() {
    let corners = tmp("corners");
    let (code, log) = qmac(&[
        "vectors",
        "--out",
        corners.to_str().unwrap(),
        "--suite",
        "corners",
    ]);
    assert_eq!(code, 0, "{log}");
    let layer = tmp("layer");
    let (code, log) = qmac(&[
        "vectors",
        "--out",
        layer.to_str().unwrap(),
        "--case",
        "tests/fixtures/tflite/odd_c_op0_conv2d.json",
        "--lanes",
        "1",
    ]);
    assert_eq!(code, 0, "{log}");
    for (dir, sim, bp) in [
        (&corners, "icarus", "0"),
        (&corners, "verilator", "25"),
        (&layer, "icarus", "30"),
        (&layer, "verilator", "0"),
    ] {
        let (code, out) = replay(dir, sim, &["--bp", bp]);
        assert_eq!(code, 0, "{} on {sim}:\n{out}", dir.display());
        assert!(
            out.lines()
                .any(|l| l.starts_with("PASS ") && l.contains(" beats")),
            "{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&corners);
    let _ = std::fs::remove_dir_all(&layer);
}

#[test]
fn a_flipped_expected_word_or_truncated_file_fails() {
    let dir = tmp("flip");
    let (code, log) = qmac(&[
        "vectors",
        "--out",
        dir.to_str().unwrap(),
        "--fuzz-seed",
        "9",
        "--count",
        "300",
    ]);
    assert_eq!(code, 0, "{log}");
    let (code, out) = replay(&dir, "icarus", &[]);
    assert_eq!(code, 0, "{out}");

    // Flip one bit of lane 0's y in expected word 7.
    let p = dir.join("expected.hex");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let i = lines.iter().position(|l| !l.starts_with("//")).unwrap() + 7;
    let last = lines[i].pop().unwrap();
    lines[i].push(if last == '0' { '1' } else { '0' });
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    // The checksums catch the edit before any simulation (exit 2) ...
    let (code, out) = replay(&dir, "icarus", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("expected.hex: sha256 does not match SHA256SUMS"),
        "{out}"
    );
    // ... and the testbench catches it when told to replay it anyway.
    let (code, out) = replay(&dir, "icarus", &["--no-checksum"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISMATCH beat 7 lane 0: expected y="), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    let (code, out) = qmac(&["vectors", "--check", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("expected.hex: sha256"), "{out}");

    // Truncate beats.hex mid-line.
    let (code, _) = qmac(&[
        "vectors",
        "--out",
        dir.to_str().unwrap(),
        "--fuzz-seed",
        "9",
        "--count",
        "300",
        "--force",
    ]);
    assert_eq!(code, 0);
    let b = dir.join("beats.hex");
    let bytes = std::fs::read(&b).unwrap();
    std::fs::write(&b, &bytes[..bytes.len() / 2]).unwrap();
    let (code, out) = qmac(&["vectors", "--check", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("beats.hex: line ") && out.contains("not terminated by LF"),
        "{out}"
    );
    // The cut line is caught by the syntax check, before any simulation.
    let (code, out) = replay(&dir, "icarus", &["--no-checksum"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("beats.hex: line ") && out.contains("is not 33 hex digits"),
        "{out}"
    );
    // Whole lines missing: the depth check.
    let text = std::fs::read_to_string(&b).unwrap();
    let keep: Vec<&str> = text.lines().take(text.lines().count() - 1).collect();
    std::fs::write(&b, keep.join("\n") + "\n").unwrap();
    let (code, out) = replay(&dir, "icarus", &["--no-checksum"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("beats.hex:") && out.contains("manifest says depth"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Before: a non-hex character ran the simulation to its cycle timeout
/// (minutes) and exited 1; an extra hex digit passed. Now the syntax of
/// every line is checked first: exit 2 within seconds, naming file and line.
#[test]
fn a_malformed_hex_line_is_exit_2_naming_file_and_line() {
    for (tag, edit) in [("nonhex", "g"), ("extra", "0")] {
        let dir = tmp(tag);
        copy_dir(Path::new(&format!("{ROOT}/vectors/smoke")), &dir);
        let p = dir.join("beats.hex");
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let i = lines.iter().position(|l| !l.starts_with("//")).unwrap() + 2;
        if edit == "g" {
            lines[i].replace_range(0..1, "g");
        } else {
            lines[i].push('0');
        }
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        let (code, out) = replay(&dir, "icarus", &["--no-checksum"]);
        assert_eq!(code, 2, "{tag}: {out}");
        assert!(
            out.contains(&format!("beats.hex: line {}: ", i + 1))
                && out.contains("is not 33 hex digits"),
            "{tag}: {out}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Bad arguments are exit 2 too.
    for (args, msg) in [
        (
            &["--bp", "abc"][..],
            "--bp must be a percentage 0..100, got 'abc'",
        ),
        (
            &["--bp", "101"][..],
            "--bp must be a percentage 0..100, got '101'",
        ),
        (&["--sim"][..], "--sim needs a value"),
        (
            &["--seed", "x"][..],
            "--seed must be a non-negative integer, got 'x'",
        ),
        (&["extra"][..], "one bundle directory only"),
        (&["--frobnicate"][..], "unknown option --frobnicate"),
    ] {
        let (code, out) = replay(Path::new(&format!("{ROOT}/vectors/smoke")), "icarus", args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(msg), "{args:?}: `{msg}` not in {out}");
        assert!(!out.contains("unbound variable"), "{out}");
    }
    // --help: the usage text, not the script's source.
    let out = std::process::Command::new(format!("{ROOT}/scripts/replay"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.starts_with("Replay a qmac vector bundle"), "{help}");
    assert!(!help.contains("set -euo") && !help.contains("# "), "{help}");
}

#[test]
fn output_directory_is_never_overwritten_without_force() {
    let dir = tmp("force");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mine.txt"), "user data").unwrap();
    let (code, out) = qmac(&[
        "vectors",
        "--out",
        dir.to_str().unwrap(),
        "--suite",
        "smoke",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refusing to overwrite"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("mine.txt")).unwrap(),
        "user data"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_rejects_a_bad_manifest() {
    let dir = tmp("manifest");
    let (code, _) = qmac(&[
        "vectors",
        "--out",
        dir.to_str().unwrap(),
        "--fuzz-seed",
        "1",
        "--count",
        "20",
        "--lanes",
        "2",
    ]);
    assert_eq!(code, 0);
    let m = dir.join("manifest.toml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("lanes = 2", "lanes = 3");
    std::fs::write(&m, t).unwrap();
    let (code, out) = qmac(&["vectors", "--check", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("manifest.toml") && out.contains("LANES=3"),
        "{out}"
    );
    std::fs::write(&m, "[generator\n").unwrap();
    let (code, out) = qmac(&["vectors", "--check", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("manifest.toml: line 1"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn hex_words_round_trip_every_width(bits in 1u32..=64, v in any::<i64>()) {
        let s = hex::format_word(v, bits);
        prop_assert_eq!(s.len(), bits.div_ceil(4) as usize);
        prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let raw = hex::parse_word(&s, bits).unwrap();
        let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
        prop_assert_eq!(raw, v as u64 & mask);
        // A value that fits the width (signed) comes back exactly, negatives included.
        let fits = bits == 64 || (v >= -(1i64 << (bits - 1)) && v < (1i64 << (bits - 1)));
        if fits {
            prop_assert_eq!(hex::sign_extend(raw, bits), v);
        }
        // The same bits through the wide-word path.
        let w = hex::Word::new().push(v, bits).to_hex();
        prop_assert_eq!(&w, &s);
        let parsed = hex::parse_wide(&w, bits).unwrap();
        prop_assert_eq!(hex::field(&parsed, 0, bits as usize), raw);
    }

    #[test]
    fn hex_rejects_wrong_digit_counts_and_high_bits(bits in 1u32..=63) {
        let s = hex::format_word(-1, bits);
        let longer = format!("0{}", s);
        prop_assert!(hex::parse_word(&longer, bits).is_err());
        if bits % 4 != 0 {
            let mut t = s.clone();
            t.replace_range(0..1, "f");
            prop_assert!(hex::parse_word(&t, bits).is_err());
        }
    }
}

/// The committed smoke bundle is not only `--check`ed: it replays and passes
/// in Icarus on today's RTL (a change of RTL behaviour shows here).
#[test]
fn committed_smoke_bundle_replays_in_icarus() {
    let (code, out) = replay(Path::new(&format!("{ROOT}/vectors/smoke")), "icarus", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PASS 17212 beats (4012 outputs, 390 cfg writes"),
        "{out}"
    );
}

/// The data words (comment lines dropped) of a bundle file.
fn data_words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn a_split_bundle_fits_its_cap_and_its_chunks_are_the_stream() {
    let out = tmp("split");
    let o = out.to_str().unwrap();
    let (code, log) = qmac(&[
        "vectors",
        "--out",
        o,
        "--suite",
        "smoke",
        "--max-words",
        "4096",
    ]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("chunks of at most 4096 words per file"),
        "{log}"
    );
    let index = std::fs::read_to_string(out.join("chunks.toml")).unwrap();
    assert!(index.contains("max_words = 4096"), "{index}");
    let chunks: Vec<PathBuf> = (0..)
        .map(|i| out.join(format!("chunk{i:03}")))
        .take_while(|d| d.exists())
        .collect();
    assert!(
        chunks.len() >= 5,
        "17212 beats need at least 5 chunks of 4096: {log}"
    );
    // every file of every chunk within the cap
    for c in &chunks {
        for f in ["program.hex", "cfg.hex", "beats.hex", "expected.hex"] {
            let n = data_words(&c.join(f)).len();
            assert!(n <= 4096, "{}/{f}: {n} words", c.display());
        }
        let m = std::fs::read_to_string(c.join("manifest.toml")).unwrap();
        assert!(
            m.contains("[chunk]") && m.contains(&format!("of = {}", chunks.len())),
            "{m}"
        );
    }
    // the chunks' beats and expected outputs, in order, are the unsplit bundle's
    let smoke = Path::new(ROOT).join("vectors/smoke");
    for f in ["beats.hex", "expected.hex"] {
        let joined: Vec<String> = chunks.iter().flat_map(|c| data_words(&c.join(f))).collect();
        assert!(
            joined == data_words(&smoke.join(f)),
            "{f}: the chunks differ from vectors/smoke"
        );
    }
    // every chunk after the first starts with a full parameter set (30 writes at LANES = 8)
    for c in &chunks[1..] {
        let p = data_words(&c.join("program.hex"));
        assert_eq!(p[0], "8000001e", "{}: {p:?}", c.display());
    }
    // each chunk checks and replays on its own, on replay_tb and on the player
    let (code, log) = qmac(&["vectors", "--check", o]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!(
            "OK: {} chunks of at most 4096 words",
            chunks.len()
        )),
        "{log}"
    );
    for c in &chunks {
        let (code, log) = replay(c, "icarus", &[]);
        assert_eq!(code, 0, "{}: {log}", c.display());
        let out = Command::new(format!("{ROOT}/scripts/fpga"))
            .args(["sim", c.to_str().unwrap()])
            .output()
            .unwrap();
        let plog = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {plog}", c.display());
        let cycles = log.lines().find(|l| l.starts_with("PASS ")).unwrap();
        let n = cycles
            .rsplit(", ")
            .next()
            .unwrap()
            .trim_end_matches(" cycles)");
        assert!(
            plog.contains("QMAC PASS ") && plog.contains(&format!(" cycles={n} ")),
            "{plog} vs {log}"
        );
    }
    // a chunk whose manifest no longer matches chunks.toml is a bad bundle
    let m0 = chunks[0].join("manifest.toml");
    let t = std::fs::read_to_string(&m0).unwrap();
    std::fs::write(&m0, t.replace("first_beat = 0", "first_beat = 1")).unwrap();
    let (code, log) = qmac(&["vectors", "--check", o]);
    assert_eq!(code, 2, "{log}");
    assert_eq!(log.trim().lines().count(), 1, "{log}");
}

#[test]
fn a_board_preset_caps_the_chunks_and_a_bad_cap_is_exit_2() {
    let out = tmp("split-board");
    let o = out.to_str().unwrap();
    let (code, log) = qmac(&[
        "vectors", "--out", o, "--suite", "smoke", "--board", "ulx3s",
    ]);
    assert_eq!(code, 0, "{log}");
    let cap = qmac::verify::vectors::BoardRam::find("ulx3s")
        .unwrap()
        .max_words(8);
    assert!(
        log.contains(&format!("chunks of at most {cap} words per file")),
        "{log}"
    );
    let index = std::fs::read_to_string(out.join("chunks.toml")).unwrap();
    assert!(index.contains("board = \"ulx3s\""), "{index}");
    // --force over a split into more chunks leaves no stale chunk behind
    let (code, log) = qmac(&[
        "vectors",
        "--out",
        o,
        "--suite",
        "smoke",
        "--max-words",
        "2048",
        "--force",
    ]);
    assert_eq!(code, 0, "{log}");
    assert!(out.join("chunk008").exists(), "{log}");
    let (code, log) = qmac(&[
        "vectors", "--out", o, "--suite", "smoke", "--board", "ulx3s", "--force",
    ]);
    assert_eq!(code, 0, "{log}");
    assert!(!out.join("chunk004").exists(), "{log}");
    let (code, log) = qmac(&["vectors", "--check", o]);
    assert_eq!(code, 0, "{log}");
    for (args, want) in [
        (
            vec!["--max-words", "0"],
            "--max-words: `0` is not a word count >= 2",
        ),
        (
            vec!["--max-words", "lots"],
            "--max-words: `lots` is not a word count >= 2",
        ),
        (
            vec!["--max-words", "20"],
            "--max-words: 20 is too small: one parameter set is 30 cfg writes",
        ),
        (
            vec!["--board", "arty"],
            "--board: `arty` is not a board preset (ulx3s, icebreaker)",
        ),
    ] {
        let bad = tmp("split-bad");
        let mut a = vec![
            "vectors",
            "--out",
            bad.to_str().unwrap(),
            "--suite",
            "smoke",
        ];
        a.extend(args.iter());
        let (code, log) = qmac(&a);
        assert_eq!(code, 2, "{args:?}: {log}");
        assert_eq!(log.trim().lines().count(), 1, "{args:?}: {log}");
        assert!(log.contains(want), "{args:?}: {log}");
    }
}
