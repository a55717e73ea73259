//! The `.npy` reader behind directory cases: the input is written as
//! `data.npy` into two reused scratch case directories whose fixed
//! `case.toml` is a tiny fully_connected case (input_shape [1,1,1,2],
//! filter_shape [1,1,1,2], output_shape [1,1,1,1]) that takes
//! * `input = "data.npy"` (integer tensor, shape checked against [1,1,1,2]);
//! * `filter_scales = "data.npy"` (float-capable tensor, no shape check).
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const COMMON: &str = r#"source = "npy fuzz"
op = "fully_connected"
input_shape = [1, 1, 1, 2]
filter_shape = [1, 1, 1, 2]
output_shape = [1, 1, 1, 1]
input_zero_point = 0
output_zero_point = 0
multiplier = [1073741824]
shift = [0]
"#;

const AS_INPUT: &str = r#"filter = [1, -1]
input = "data.npy"
"#;

const AS_SCALES: &str = r#"input_scale = 0.5
output_scale = 0.25
filter_scales = "data.npy"
input = [1, 2]
filter = [1, -1]
"#;

static DIRS: OnceLock<[PathBuf; 2]> = OnceLock::new();

fn setup() -> [PathBuf; 2] {
    [AS_INPUT, AS_SCALES].map(|tail| {
        let d = common::scratch_dir("npy");
        common::put(
            &d.join(qmac::formats::qcase::CASE_TOML),
            format!("{COMMON}{tail}").as_bytes(),
        );
        d
    })
}

fuzz_target!(|data: &[u8]| {
    for dir in DIRS.get_or_init(setup) {
        common::put(&dir.join("data.npy"), data);
        let _ = qmac::formats::qcase::Case::read(dir);
    }
});
