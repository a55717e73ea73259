//! The seed-style text-array parsers (vertical and Python-list layouts).
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let file = Path::new("fuzz.txt");
        let _ = qmac::formats::textarray::parse_int_array(file, s);
        let _ = qmac::formats::textarray::parse_float_array(file, s);
    }
});
