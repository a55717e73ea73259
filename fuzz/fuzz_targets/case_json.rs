//! `Case::from_json_str` on arbitrary UTF-8 text (a JSON layer case, QCASE.md).
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = qmac::formats::qcase::Case::from_json_str(Path::new("fuzz.json"), s);
    }
});
