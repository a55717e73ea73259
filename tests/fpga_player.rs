//! The synthesizable vector player (rtl/fpga/, `scripts/fpga sim`): on the
//! committed bundles it gives scripts/replay's verdict and cycle count in
//! Icarus and Verilator (with and without backpressure), its UART line
//! (decoded from the serial pin by sim/player_tb.sv) carries the same
//! numbers as its registers, a flipped expected word is reported with exactly
//! its index and lane mask, and a DUT that never answers ends with TIMEOUT
//! instead of hanging. With the FPGA tools installed (scripts/setup --fpga)
//! `scripts/fpga build` runs for real; without them that test says skipped.
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MBNET: &str = "vectors/mbnet_b_op0_depthwise_conv2d";
const SMOKE: &str = "vectors/smoke";

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sims_present() -> bool {
    for t in ["iverilog", "vvp", "verilator"] {
        if !have(t) {
            eprintln!("skipped: {t} not installed (scripts/setup installs it)");
            return false;
        }
    }
    true
}

fn run(script: &str, args: &[&str]) -> (i32, String) {
    common::run_joined(
        Command::new(format!("{ROOT}/scripts/{script}"))
            .args(args)
            .current_dir(ROOT),
    )
}

/// `key=value` fields of the first line starting with `prefix`.
fn fields(log: &str, prefix: &str) -> Vec<(String, String)> {
    let line = log
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{log}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(f: &[(String, String)], key: &str) -> String {
    f.iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {f:?}"))
        .1
        .clone()
}

/// The verdict of the player's UART line: PASS, FAIL or TIMEOUT.
fn uart_verdict(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.starts_with("UART: "))
        .unwrap_or_else(|| panic!("no UART line in:\n{log}"));
    let w: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(w[1], "QMAC", "{line}");
    w[2].to_string()
}

/// The UART line and the registers agree on every number.
fn uart_matches_registers(log: &str) {
    let u = fields(log, "UART: ");
    let p = fields(log, "PLAYER ");
    for k in [
        "beats",
        "outputs",
        "cfg",
        "cycles",
        "mismatches",
        "first",
        "lanes",
    ] {
        assert_eq!(field(&u, k), field(&p, k), "{k} differs:\n{log}");
    }
}

/// (beats, outputs, cfg writes, cycles) of scripts/replay's PASS line.
fn replay_counts(log: &str) -> (u64, u64, u64, u64) {
    let l = log
        .lines()
        .find(|l| l.starts_with("PASS "))
        .unwrap_or_else(|| panic!("replay did not pass:\n{log}"));
    let n: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (n[0], n[1], n[2], n[3])
}

#[test]
fn player_gives_replays_verdict_and_cycle_count() {
    if !sims_present() {
        return;
    }
    // (bundle, simulator, backpressure %, seed)
    let runs: [(&str, &str, &str, &str); 6] = [
        (MBNET, "icarus", "0", "1"),
        (MBNET, "icarus", "30", "5"),
        (MBNET, "verilator", "30", "5"),
        (SMOKE, "icarus", "0", "1"),
        (SMOKE, "icarus", "20", "3"),
        (SMOKE, "verilator", "0", "1"),
    ];
    for (bundle, sim, bp, seed) in runs {
        let opts = ["--sim", sim, "--bp", bp, "--seed", seed];
        let (rc, rlog) = run("replay", &[&[bundle][..], &opts].concat());
        assert_eq!(rc, 0, "replay {bundle} {opts:?}:\n{rlog}");
        let (beats, outputs, cfg, cycles) = replay_counts(&rlog);
        let (pc, plog) = run("fpga", &[&["sim", bundle][..], &opts].concat());
        assert_eq!(pc, 0, "player {bundle} {opts:?}:\n{plog}");
        assert_eq!(uart_verdict(&plog), "PASS", "{plog}");
        uart_matches_registers(&plog);
        let p = fields(&plog, "PLAYER ");
        assert_eq!(
            (field(&p, "done"), field(&p, "pass"), field(&p, "timeout")),
            ("1".into(), "1".into(), "0".into())
        );
        assert_eq!(
            (
                field(&p, "beats"),
                field(&p, "outputs"),
                field(&p, "cfg"),
                field(&p, "cycles")
            ),
            (
                beats.to_string(),
                outputs.to_string(),
                cfg.to_string(),
                cycles.to_string()
            ),
            "player vs replay on {bundle} {opts:?}:\n{plog}\n{rlog}"
        );
        assert_eq!(
            (
                field(&p, "mismatches"),
                field(&p, "first"),
                field(&p, "lanes")
            ),
            ("0".into(), "-".into(), "-".into())
        );
        eprintln!("{bundle} {sim} bp {bp} seed {seed}: player and replay PASS in {cycles} cycles");
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

/// A copy of MBNET whose expected word `index` has one bit flipped: bit
/// `bit` of the 41*LANES-bit word (y of lane l: bits 8l..8l+7; acc of lane l:
/// 64 + 32l..; ovf of lane l: 320 + l for LANES = 8).
fn flipped(name: &str, index: usize, bit: usize) -> PathBuf {
    let dir = common::scratch("fpga-player", name);
    copy_dir(&Path::new(ROOT).join(MBNET), &dir);
    let p = dir.join("expected.hex");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut k = 0;
    let mut hit = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("//") {
                return l.to_string();
            }
            let mut l = l.to_string();
            if k == index {
                let digits = l.len();
                let pos = digits - 1 - bit / 4;
                let v = u8::from_str_radix(&l[pos..pos + 1], 16).unwrap() ^ (1 << (bit % 4));
                l.replace_range(pos..pos + 1, &format!("{v:x}"));
                hit = true;
            }
            k += 1;
            l
        })
        .collect();
    assert!(hit, "expected.hex has no word {index}");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    dir
}

#[test]
fn a_flipped_expected_word_is_reported_with_its_index_and_lanes() {
    if !sims_present() {
        return;
    }
    // (word, bit, lane mask): y of lane 2 in word 41; ovf of lane 5 and acc
    // bit 31 of lane 7 in the last word (99).
    let cases: [(usize, usize, &str, &[&str]); 3] = [
        (41, 16, "04", &["icarus", "verilator"]),
        (99, 320 + 5, "20", &["icarus"]),
        (99, 64 + 32 * 7 + 31, "80", &["icarus"]),
    ];
    for (index, bit, lanes, sims) in cases {
        let dir = flipped(&format!("flip{index}-{bit}"), index, bit);
        let d = dir.to_str().unwrap();
        for sim in sims {
            let (rc, log) = run("fpga", &["sim", d, "--sim", sim, "--no-checksum"]);
            assert_eq!(rc, 1, "a flipped word must fail ({sim}):\n{log}");
            assert_eq!(uart_verdict(&log), "FAIL", "{log}");
            uart_matches_registers(&log);
            let p = fields(&log, "PLAYER ");
            assert_eq!(field(&p, "mismatches"), "1", "{log}");
            assert_eq!(field(&p, "first"), index.to_string(), "{log}");
            assert_eq!(field(&p, "lanes"), lanes, "{log}");
            assert_eq!(field(&p, "outputs"), "100", "{log}");
            assert_eq!(
                field(&p, "cycles"),
                "839",
                "a mismatch does not stop the run: {log}"
            );
            eprintln!("word {index} bit {bit} ({sim}): player reports first={index} lanes={lanes}");
        }
        // scripts/replay agrees on the place
        let (rc, log) = run("replay", &[d, "--no-checksum"]);
        assert_eq!(rc, 1, "{log}");
        assert!(
            log.contains(&format!("MISMATCH beat {index} lane ")),
            "{log}"
        );
    }
}

#[test]
fn a_dut_that_never_answers_ends_with_timeout() {
    if !sims_present() {
        return;
    }
    // qmac_top with out_valid stuck low: the program is sent, nothing returns.
    let rtl = common::scratch("fpga-player", "deaf-rtl");
    std::fs::create_dir_all(&rtl).unwrap();
    for f in ["qmac_top.v", "qmac_lane.v"] {
        std::fs::copy(Path::new(ROOT).join("rtl").join(f), rtl.join(f)).unwrap();
    }
    let top = std::fs::read_to_string(rtl.join("qmac_top.v")).unwrap();
    assert!(top.contains("out_valid <= r4_valid;"));
    std::fs::write(
        rtl.join("qmac_top.v"),
        top.replace("out_valid <= r4_valid;", "out_valid <= 1'b0;"),
    )
    .unwrap();
    let (rc, log) = run(
        "fpga",
        &[
            "sim",
            MBNET,
            "--rtl",
            rtl.to_str().unwrap(),
            "--watchdog",
            "1000",
        ],
    );
    assert_eq!(rc, 1, "{log}");
    assert_eq!(uart_verdict(&log), "TIMEOUT", "{log}");
    uart_matches_registers(&log);
    let p = fields(&log, "PLAYER ");
    assert_eq!(
        (
            field(&p, "done"),
            field(&p, "pass"),
            field(&p, "timeout"),
            field(&p, "outputs"),
            field(&p, "beats")
        ),
        ("1".into(), "0".into(), "1".into(), "0".into(), "784".into()),
        "{log}"
    );
    // the watchdog fires 1000 cycles after the last handshake (the last beat)
    let cycles: u64 = field(&p, "cycles").parse().unwrap();
    assert!((1000..2000).contains(&cycles), "{log}");
}

#[test]
fn bad_arguments_are_one_line_and_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["sim", MBNET, "--bp", "100"],
            "--bp must be a percentage 0..99",
        ),
        (
            &["sim", MBNET, "--sim", "questa"],
            "--sim must be icarus or verilator",
        ),
        (
            &["sim", "vectors/nope"],
            "vectors/nope/manifest.toml: missing",
        ),
        (
            &["build", MBNET, "--board", "arty"],
            "--board must be ulx3s or icebreaker",
        ),
        (&["build", MBNET], "build needs --board"),
        (&["flash", MBNET], "unknown command 'flash'"),
    ];
    for (args, want) in cases {
        let (rc, log) = run("fpga", args);
        assert_eq!(rc, 2, "{args:?}: {log}");
        assert_eq!(log.trim().lines().count(), 1, "{args:?}: {log}");
        assert!(log.contains(want), "{args:?}: {log}");
    }
    // an existing, non-empty --out is not overwritten without --force
    let out = common::scratch("fpga-player", "occupied");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    let o = out.to_str().unwrap();
    let (rc, log) = run("fpga", &["build", MBNET, "--board", "ulx3s", "--out", o]);
    if log.contains("not found") {
        eprintln!("(the --out check runs after the tool lookup: {log})");
    } else {
        assert_eq!(rc, 2, "{log}");
        assert!(log.contains("refusing to overwrite"), "{log}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "keep"
    );
}

/// The FPGA tools of a board, or why they are missing.
fn fpga_tools(board: &str) -> Result<(), String> {
    let venv = std::env::var("QMAC_FPGA_VENV").unwrap_or_else(|_| format!("{ROOT}/.venv-fpga"));
    let found = |t: &str| {
        have(t)
            || have(&format!("yowasp-{t}"))
            || Path::new(&format!("{venv}/bin/yowasp-{t}")).exists()
    };
    let need: &[&str] = match board {
        "ulx3s" => &["yosys", "nextpnr-ecp5", "ecppack"],
        _ => &["yosys", "nextpnr-ice40", "icepack"],
    };
    match need.iter().find(|t| !found(t)) {
        Some(t) => Err(format!(
            "{t} not installed (scripts/setup --fpga installs it)"
        )),
        None => Ok(()),
    }
}

/// Synthesis, place-and-route and bitstream of a LANES = 1 chunk for the
/// iCEBreaker (UP5K), when the tools are installed: a utilization table that
/// fits the part, an Fmax line whose verdict is the exit code (the UP5K build
/// lands within a few percent of the 12 MHz clock: see the README), and a
/// bitstream of the UP5K's size.
/// (The ECP5 LANES = 8 build takes tens of minutes in yowasp's nextpnr-ecp5;
/// it is measured in the README, not here.)
#[test]
fn fpga_build_for_the_icebreaker_when_the_tools_are_installed() {
    if let Err(why) = fpga_tools("icebreaker") {
        eprintln!("skipped: scripts/fpga build --board icebreaker: {why}");
        return;
    }
    let vec_dir = common::scratch("fpga-player", "ice-vectors");
    let (rc, log) = common::qmac_joined(&[
        "vectors",
        "--out",
        vec_dir.to_str().unwrap(),
        "--suite",
        "smoke",
        "--lanes",
        "1",
        "--board",
        "icebreaker",
    ]);
    assert_eq!(rc, 0, "{log}");
    let chunk = vec_dir.join("chunk000");
    let out = common::scratch("fpga-player", "ice-build");
    let (rc, log) = run(
        "fpga",
        &[
            "build",
            chunk.to_str().unwrap(),
            "--board",
            "icebreaker",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    for want in [
        "LUT4 cells (ICESTORM_LC)",
        "DSP (SB_MAC16)",
        "BRAM (SB_RAM40_4K)",
        "bitstream ",
    ] {
        assert!(log.contains(want), "no {want} in:\n{log}");
    }
    // LUT4 used/available: the design fits the UP5K
    let lut = log.lines().find(|l| l.starts_with("LUT4")).unwrap();
    let ua: Vec<u64> = lut
        .split_whitespace()
        .find(|w| w.contains('/'))
        .unwrap()
        .split('/')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(ua[0] > 0 && ua[0] <= ua[1] && ua[1] == 5280, "{lut}");
    // exit 0 iff Fmax reaches the 12 MHz board clock, and the report says which
    let fmax_line = log
        .lines()
        .find(|l| l.starts_with("Fmax "))
        .expect("an Fmax line");
    let fmax: f64 = fmax_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    if fmax >= 12.0 {
        assert_eq!(rc, 0, "{log}");
        assert!(fmax_line.ends_with("board clock: PASS"), "{log}");
    } else {
        assert_eq!(rc, 1, "{log}");
        assert!(fmax_line.ends_with("board clock: FAIL"), "{log}");
        assert!(
            log.contains(&format!(
                "icebreaker misses timing: Fmax {fmax:.2} MHz < 12 MHz"
            )),
            "{log}"
        );
    }
    // the bitstream is written either way; an UP5K image is 104090 bytes
    let size = std::fs::metadata(out.join("top.bin")).unwrap().len();
    assert_eq!(size, 104090, "{log}");
    eprintln!("{log}");
}

/// The player's RTL is `verilator --lint-only -Wall` clean at its defaults, at
/// a real bundle's parameters with backpressure, and in both board tops; its
/// only `initial` statements are the ROMs' `$readmemh`; it names no vendor
/// primitive (block RAM and DSPs are inferred).
#[test]
fn player_rtl_is_lint_clean_portable_verilog() {
    if !have("verilator") {
        eprintln!("skipped: verilator not installed (scripts/setup installs it)");
        return;
    }
    let fpga = Path::new(ROOT).join("rtl/fpga");
    let mut player: Vec<PathBuf> = std::fs::read_dir(&fpga)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "v"))
        .collect();
    player.sort();
    assert!(player.len() >= 6, "{player:?}");
    let dut = [
        Path::new(ROOT).join("rtl/qmac_top.v"),
        Path::new(ROOT).join("rtl/qmac_lane.v"),
    ];
    let lint = |top: &str, extra: &[PathBuf], params: &[&str]| {
        let out = Command::new("verilator")
            .args(["--lint-only", "-Wall", "--top-module", top])
            .args(params)
            .args(player.iter().chain(extra).chain(dut.iter()))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{top} {params:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    lint("qmac_bringup", &[], &[]);
    lint(
        "qmac_bringup",
        &[],
        &[
            "-GN_PROG=26",
            "-GN_CFG=390",
            "-GN_BEATS=17212",
            "-GN_OUT=4012",
            "-GBP_PERCENT=30",
        ],
    );
    lint(
        "qmac_bringup",
        &[],
        &["-GLANES=1", "-GN_BEATS=509", "-GN_OUT=83"],
    );
    for b in ["ulx3s", "icebreaker"] {
        lint(
            &format!("board_{b}"),
            &[fpga.join(format!("boards/board_{b}.v"))],
            &[],
        );
    }
    let mut sources = player.clone();
    sources.push(fpga.join("boards/board_ulx3s.v"));
    sources.push(fpga.join("boards/board_icebreaker.v"));
    for p in &sources {
        let text = std::fs::read_to_string(p).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if code.contains("initial") {
                assert!(
                    code.trim() == "initial $readmemh(FILE, mem, 0, DEPTH - 1);",
                    "{}:{}: an initial block other than $readmemh: {line}",
                    p.display(),
                    i + 1
                );
            }
            for prim in [
                "SB_",
                "TRELLIS",
                "DP16KD",
                "MULT18X18",
                "RAMB",
                "DSP48",
                "altsyncram",
                "EHXPLL",
            ] {
                assert!(
                    !code.contains(prim),
                    "{}:{}: vendor primitive {prim}: {line}",
                    p.display(),
                    i + 1
                );
            }
        }
    }
}

/// The ULX3S (ECP5 LFE5U-85F) build at LANES = 8 of the committed mbnet
/// bundle: fits, meets 25 MHz, writes the bitstream. Its place-and-route takes
/// 5–10 minutes in yowasp's WebAssembly nextpnr-ecp5, so it runs only when
/// asked (QMAC_FPGA_ECP5=1) and the tools are installed (scripts/setup --fpga).
#[test]
fn fpga_build_for_the_ulx3s_when_asked() {
    if std::env::var("QMAC_FPGA_ECP5").as_deref() != Ok("1") {
        eprintln!("skipped: the ECP5 build takes 5-10 minutes; QMAC_FPGA_ECP5=1 runs it");
        return;
    }
    if let Err(why) = fpga_tools("ulx3s") {
        eprintln!("skipped: scripts/fpga build --board ulx3s: {why}");
        return;
    }
    let out = common::scratch("fpga-player", "ulx3s-build");
    let (rc, log) = run(
        "fpga",
        &[
            "build",
            MBNET,
            "--board",
            "ulx3s",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(rc, 0, "{log}");
    let used = |name: &str| -> (u64, u64) {
        let l = log
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {log}"));
        let v: Vec<u64> = l
            .split_whitespace()
            .find(|w| w.contains('/'))
            .unwrap()
            .split('/')
            .map(|v| v.parse().unwrap())
            .collect();
        (v[0], v[1])
    };
    let lut = used("LUT4 (TRELLIS_COMB)");
    assert!(lut.0 > 0 && lut.0 <= lut.1 && lut.1 == 83640, "{log}");
    // 8 lanes x (4 for the 32x32 M0 multiplier + 1 for the 10x10 MAC)
    assert_eq!(used("DSP (MULT18X18D)"), (40, 156), "{log}");
    let bram = used("BRAM (DP16KD)");
    assert!(bram.0 > 0 && bram.0 <= 208, "{log}");
    assert!(log.contains("MHz at a 25 MHz board clock: PASS"), "{log}");
    assert!(
        std::fs::metadata(out.join("top.bit")).unwrap().len() > 100_000,
        "{log}"
    );
    eprintln!("{log}");
}
