//! `qmac::verify::fuzz::read`: a JSON transaction (repro) file, as read by
//! `qmac fuzz --replay`. The input is written to a reused scratch file.
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static FILE: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let path = FILE.get_or_init(|| common::scratch_dir("transaction").join("tx.json"));
    common::put(path, data);
    let _ = qmac::verify::fuzz::read(path);
});
