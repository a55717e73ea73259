//! `$readmemh` word parsing: `hex::parse_word` / `hex::parse_wide` and
//! `hex::read_words` on a scratch file.
//!
//! The first byte picks the widths: `parse_word` gets 1 + b0 % 64 (its
//! documented domain 1..=64); `parse_wide` / `read_words` get 1 + b0
//! (1..=192) for b0 < 192, else the expected.hex width 41·LANES for
//! LANES = b0 − 191 (1..=64). The rest is the word text / file content.
//! Only panics, hangs and memory blow-ups count as findings.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qmac::formats::hex;

static FILE: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&b0, rest)) = data.split_first() else {
        return;
    };
    let word_bits = 1 + u32::from(b0) % 64;
    let wide_bits = if b0 < 192 {
        1 + u32::from(b0)
    } else {
        qmac::verify::vectors::expected_bits(usize::from(b0) - 191)
    };
    if let Ok(s) = std::str::from_utf8(rest) {
        let _ = hex::parse_word(s, word_bits);
        let _ = hex::parse_wide(s, wide_bits);
        for line in s.lines() {
            let _ = hex::parse_word(line, word_bits);
            let _ = hex::parse_wide(line, wide_bits);
        }
    }
    let path = FILE.get_or_init(|| common::scratch_dir("hex_words").join("words.hex"));
    common::put(path, rest);
    let _ = hex::read_words(path, wide_bits);
    let _ = hex::read_words(path, word_bits);
});
