//! `qmac::verify::vectors::check` on a bundle whose `manifest.toml` is the input.
//!
//! The rest of the bundle is a copy of fuzz/seed_bundle (generated once with
//! `qmac vectors --out fuzz/seed_bundle --fuzz-seed 1 --count 5 --lanes 1`,
//! embedded at compile time), written once into a reused scratch directory.
//! `SHA256SUMS` is rewritten for every input with the input's own checksum
//! line, so a mutated manifest is not stopped by the manifest-checksum test
//! and the schedule / last-bit / latency checks after it stay reachable.
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const FILES: [(&str, &str); 4] = [
    ("program.hex", include_str!("../seed_bundle/program.hex")),
    ("cfg.hex", include_str!("../seed_bundle/cfg.hex")),
    ("beats.hex", include_str!("../seed_bundle/beats.hex")),
    ("expected.hex", include_str!("../seed_bundle/expected.hex")),
];
const SUMS: &str = include_str!("../seed_bundle/SHA256SUMS");

static DIR: OnceLock<PathBuf> = OnceLock::new();

fn setup() -> PathBuf {
    let dir = common::scratch_dir("vector_manifest");
    for (name, text) in FILES {
        common::put(&dir.join(name), text.as_bytes());
    }
    dir
}

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(setup);
    let sha: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut sums: String = SUMS
        .lines()
        .filter(|l| !l.ends_with("  manifest.toml"))
        .map(|l| format!("{l}\n"))
        .collect();
    sums += &format!("{sha}  manifest.toml\n");
    common::put(&dir.join("SHA256SUMS"), sums.as_bytes());
    common::put(&dir.join("manifest.toml"), data);
    let _ = qmac::verify::vectors::check(dir);
});
