//! The RTL against the tools it must satisfy: Verilator lint -Wall (LANES 1
//! and 8, MULT_W 32/18/16), Icarus Verilog 11 (-g2012) and yosys synthesis.
use std::path::PathBuf;
use std::process::Command;

fn rtl_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/rtl"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("v" | "sv")))
        .collect();
    v.sort();
    v
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("-V").output().is_ok()
        || Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn verilator_lint_wall_is_clean() {
    for (lanes, w) in [(1, 32), (8, 32), (8, 18), (8, 16), (3, 32)] {
        let out = Command::new("verilator")
            .args(["--lint-only", "-Wall", "--top-module", "qmac_top"])
            .arg(format!("-GLANES={lanes}"))
            .arg(format!("-GMULT_W={w}"))
            .args(rtl_files())
            .output()
            .expect("verilator is required (scripts/setup installs it)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("%Warning"),
            "LANES={lanes} MULT_W={w}:\n{err}"
        );
    }
}

#[test]
fn icarus_compiles_the_rtl() {
    if !have("iverilog") {
        eprintln!("skipped: iverilog not installed (scripts/setup installs it)");
        return;
    }
    let out_file = std::env::temp_dir().join(format!("qmac-iv-{}.vvp", std::process::id()));
    let out = Command::new("iverilog")
        .args(["-g2012", "-Wall", "-s", "qmac_top", "-o"])
        .arg(&out_file)
        .args(rtl_files())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&out_file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `yosys synth -top qmac_top` succeeds and maps the datapath to real cells
/// (one 32 × 32 requantization multiplier and one 10 × 10 MAC multiplier per lane).
#[test]
fn yosys_synthesizes_lanes_8() {
    if !have("yosys") {
        eprintln!("skipped: yosys not installed (scripts/setup installs it)");
        return;
    }
    let files: Vec<String> = rtl_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let script = format!(
        "read_verilog {}; chparam -set LANES 8 qmac_top; synth -top qmac_top; stat",
        files.join(" ")
    );
    let out = Command::new("yosys")
        .args(["-p", &script])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells: u64 = log
        .lines()
        .rev()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Number of cells:")
                .map(|n| n.trim().parse().unwrap())
        })
        .expect("stat prints the cell count");
    eprintln!("yosys synth -top qmac_top (LANES=8): {cells} cells");
    // The README states this count; it must be what yosys prints.
    let digits = cells.to_string();
    let grouped: String = digits
        .chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = i > 0 && (digits.len() - i).is_multiple_of(3);
            sep.then_some(' ').into_iter().chain(std::iter::once(c))
        })
        .collect();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("LANES=8: {grouped} generic cells")),
        "README.md should say `LANES=8: {grouped} generic cells` (what yosys prints)"
    );
    assert!(
        cells > 10_000,
        "a LANES=8 datapath with 16 multipliers cannot be {cells} cells: logic was optimised away"
    );
    // Count the multipliers before they are lowered to gates: exactly two per
    // lane (the requantization multiplier and the MAC's), none optimised away
    // or duplicated.
    let script = format!(
        "read_verilog {}; chparam -set LANES 8 qmac_top; hierarchy -top qmac_top; proc; flatten; opt; wreduce; alumacc; opt; stat",
        files.join(" ")
    );
    let out = Command::new("yosys")
        .args(["-p", &script])
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    let count = |cell: &str| -> u64 {
        log.lines()
            .rev()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(cell)).then(|| w.next().and_then(|n| n.parse().ok()))?
            })
            .unwrap_or(0)
    };
    let multipliers = count("$macc") + count("$mul");
    assert_eq!(
        multipliers, 16,
        "LANES=8 needs 2 multipliers per lane, yosys found {multipliers}:\n{log}"
    );
}
