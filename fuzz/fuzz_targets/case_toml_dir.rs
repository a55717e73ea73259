//! `Case::read` on a case directory: the input is written as `case.toml`
//! into a reused scratch directory that also holds fixed array files —
//! the seed-style fixture's (`input.txt`, `weights.txt`, `bias.txt`,
//! `expected_output.txt`, `m0.txt`, `shift.txt`, matching
//! tests/fixtures/seed_style/case.toml) and small ones for a 2-tap
//! fully-connected case (`small_*.txt`, `small_*.npy`, `bad.txt`).
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<PathBuf> = OnceLock::new();

const SEED_STYLE: [(&str, &str); 6] = [
    ("input.txt", include_str!("../../tests/fixtures/seed_style/input.txt")),
    ("weights.txt", include_str!("../../tests/fixtures/seed_style/weights.txt")),
    ("bias.txt", include_str!("../../tests/fixtures/seed_style/bias.txt")),
    (
        "expected_output.txt",
        include_str!("../../tests/fixtures/seed_style/expected_output.txt"),
    ),
    ("m0.txt", include_str!("../../tests/fixtures/seed_style/m0.txt")),
    ("shift.txt", include_str!("../../tests/fixtures/seed_style/shift.txt")),
];

const SMALL: [(&str, &str); 8] = [
    ("small_input.txt", "[3, -4]\n"),
    ("small_filter.txt", "5\n-6\n"),
    ("small_bias.txt", "7  # one per output channel\n"),
    ("small_output.txt", "12\n"),
    ("small_m0.txt", "1073741824\n"),
    ("small_shift.txt", "-1\n"),
    ("small_scales.txt", "0.5\n"),
    ("bad.txt", "1,,2\n"),
];

fn setup() -> PathBuf {
    let dir = common::scratch_dir("case_toml_dir");
    for (name, text) in SEED_STYLE.iter().chain(SMALL.iter()) {
        common::put(&dir.join(name), text.as_bytes());
    }
    let i1 = |v: &[i8]| v.iter().map(|&x| x as u8).collect::<Vec<u8>>();
    common::put(
        &dir.join("small_input.npy"),
        &common::npy_bytes("|i1", &[1, 1, 1, 2], &i1(&[3, -4])),
    );
    let filter: Vec<u8> = [5i64, -6].iter().flat_map(|x| x.to_le_bytes()).collect();
    common::put(
        &dir.join("small_filter.npy"),
        &common::npy_bytes("<i8", &[2], &filter),
    );
    common::put(
        &dir.join("small_scales.npy"),
        &common::npy_bytes("<f8", &[1], &0.5f64.to_le_bytes()),
    );
    dir
}

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(setup);
    common::put(&dir.join(qmac::formats::qcase::CASE_TOML), data);
    let _ = qmac::formats::qcase::Case::read(dir);
});
