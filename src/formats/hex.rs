//! `$readmemh` word files: one fixed-width word per line (⌈bits/4⌉
//! lowercase hex digits, two's complement masked to the width), LF endings,
//! `//` header comments only, no `@` address lines.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::InputError;

/// Hex digits of a `bits`-wide word.
pub fn digits(bits: u32) -> usize {
    bits.div_ceil(4) as usize
}

/// `value` masked to `bits` (1..=64) in ⌈bits/4⌉ lowercase hex digits.
pub fn format_word(value: i64, bits: u32) -> String {
    assert!((1..=64).contains(&bits));
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    format!("{:0w$x}", value as u64 & mask, w = digits(bits))
}

/// Parse one word of `bits` (1..=64) written by [`format_word`]: exactly
/// ⌈bits/4⌉ hex digits, no bit set above the width. Returns the raw bits.
pub fn parse_word(s: &str, bits: u32) -> Result<u64, String> {
    let d = digits(bits);
    if s.len() != d {
        return Err(format!(
            "word `{s}` has {} hex digits, expected {d}",
            s.len()
        ));
    }
    let v = u64::from_str_radix(s, 16).map_err(|_| format!("`{s}` is not a hex word"))?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("`{s}` is not lowercase hex"));
    }
    if bits < 64 && v >> bits != 0 {
        return Err(format!("`{s}` has bits set above the {bits}-bit width"));
    }
    Ok(v)
}

/// Sign-extend the low `bits` of `raw`.
pub fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

/// A word of any width assembled from fields, most significant first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    /// Bits, most significant first.
    bits: Vec<bool>,
}

impl Word {
    pub fn new() -> Self {
        Word { bits: Vec::new() }
    }
    /// Append the low `width` bits of `value` (two's complement).
    pub fn push(&mut self, value: i64, width: u32) -> &mut Self {
        for i in (0..width).rev() {
            self.bits.push((value >> i.min(63)) & 1 == 1);
        }
        self
    }
    pub fn width(&self) -> u32 {
        self.bits.len() as u32
    }
    /// ⌈width/4⌉ lowercase hex digits.
    pub fn to_hex(&self) -> String {
        let n = self.bits.len();
        let pad = (4 - n % 4) % 4;
        let mut s = String::with_capacity(n.div_ceil(4));
        let mut acc = 0u8;
        for (i, b) in std::iter::repeat_n(false, pad)
            .chain(self.bits.iter().copied())
            .enumerate()
        {
            acc = (acc << 1) | b as u8;
            if i % 4 == 3 {
                let _ = write!(s, "{acc:x}");
                acc = 0;
            }
        }
        s
    }
}

/// Parse a word of `bits` into its bits (most significant first).
pub fn parse_wide(s: &str, bits: u32) -> Result<Vec<bool>, String> {
    let d = digits(bits);
    if s.len() != d {
        return Err(format!("word has {} hex digits, expected {d}", s.len()));
    }
    let mut out = Vec::with_capacity(d * 4);
    for c in s.chars() {
        let v = match c {
            '0'..='9' => c as u8 - b'0',
            'a'..='f' => c as u8 - b'a' + 10,
            _ => return Err(format!("`{c}` is not a lowercase hex digit")),
        };
        for i in (0..4).rev() {
            out.push((v >> i) & 1 == 1);
        }
    }
    let extra = d * 4 - bits as usize;
    if out[..extra].iter().any(|&b| b) {
        return Err(format!("bits set above the {bits}-bit width"));
    }
    Ok(out.split_off(extra))
}

/// Read field `(offset_from_msb, width)` of a parsed wide word as unsigned.
pub fn field(bits: &[bool], from_msb: usize, width: usize) -> u64 {
    bits[from_msb..from_msb + width]
        .iter()
        .fold(0u64, |a, &b| (a << 1) | b as u64)
}

/// The text of a hex file: `//` header lines, then one word per line.
pub fn file_text(header: &[String], words: &[String]) -> String {
    let mut s = String::new();
    for h in header {
        s += "// ";
        s += h;
        s.push('\n');
    }
    for w in words {
        s += w;
        s.push('\n');
    }
    s
}

/// The words of a hex file, checked: only `//` comments before the data, no
/// `@`, every word exactly ⌈bits/4⌉ lowercase digits within the width, LF
/// endings. Errors name `file:line`.
pub fn read_words(path: &Path, bits: u32) -> Result<Vec<String>, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    let mut words = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let pos = format!("line {}", i + 1);
        let Some(l) = line.strip_suffix('\n') else {
            return Err(InputError::new(
                path,
                pos,
                "last line is not terminated by LF (truncated file?)",
            ));
        };
        if l.ends_with('\r') {
            return Err(InputError::new(
                path,
                pos,
                "CR before LF: line endings must be LF only",
            ));
        }
        if l.starts_with("//") {
            if !words.is_empty() {
                return Err(InputError::new(
                    path,
                    pos,
                    "comment after the first data word",
                ));
            }
            continue;
        }
        if l.starts_with('@') {
            return Err(InputError::new(
                path,
                pos,
                "address lines (@) are not allowed",
            ));
        }
        parse_wide(l, bits).map_err(|m| InputError::new(path, pos, m))?;
        words.push(l.to_string());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_words() {
        let mut w = Word::new();
        w.push(1, 1).push(0, 1).push(-1, 8).push(0x1234, 16);
        assert_eq!(w.width(), 26);
        assert_eq!(w.to_hex(), "2ff1234");
        let bits = parse_wide("2ff1234", 26).unwrap();
        assert_eq!(field(&bits, 0, 1), 1);
        assert_eq!(field(&bits, 2, 8), 0xff);
        assert_eq!(field(&bits, 10, 16), 0x1234);
        assert!(parse_wide("4ff1234", 26).is_err());
    }
}
