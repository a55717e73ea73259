//! Seed-style text arrays (docs/qcase.md §3).
//!
//! Two layouts are accepted, and may even be mixed:
//!
//! * "vertical": one number per line (several per line separated by blanks or
//!   commas are accepted as well);
//! * Python list style: `[1, -2, 3, ...]`, possibly spanning lines and
//!   possibly nested (`[[1, 2], [3, 4]]`), flattened row-major.
//!
//! Blank lines and `#` comments (to the end of the line) are ignored. Every
//! problem is an [`InputError`] at `line N` (1-based) quoting the bad token.

use std::path::Path;

use crate::error::InputError;

/// One number token of a text array: its text and the 1-based line it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: &'a str,
    pub line: usize,
}

/// Splits `text` into number tokens, checking the bracket / comma structure.
pub(crate) fn tokenize<'a>(file: &Path, text: &'a str) -> Result<Vec<Token<'a>>, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut tokens = Vec::new();
    // Lines of the currently open brackets (innermost last).
    let mut open: Vec<usize> = Vec::new();
    // What the previous significant character was, to catch `1,,2` and `[,`.
    #[derive(PartialEq)]
    enum Prev {
        Start,
        Open,
        Close,
        Comma,
        Number,
    }
    let mut prev = Prev::Start;
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        let content = match raw_line.find('#') {
            Some(p) => &raw_line[..p],
            None => raw_line,
        };
        let mut rest = content;
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
                continue;
            }
            match c {
                '[' => {
                    // Juxtaposed lists (`[1 2][3]`, `1 [2]`) are flattened too.
                    open.push(line);
                    prev = Prev::Open;
                    rest = &rest[1..];
                }
                ']' => {
                    if open.pop().is_none() {
                        return Err(InputError::new(
                            file,
                            format!("line {line}"),
                            "unmatched `]`",
                        ));
                    }
                    prev = Prev::Close;
                    rest = &rest[1..];
                }
                ',' => {
                    if matches!(prev, Prev::Start | Prev::Open | Prev::Comma) {
                        return Err(InputError::new(
                            file,
                            format!("line {line}"),
                            "unexpected `,` (empty element)",
                        ));
                    }
                    prev = Prev::Comma;
                    rest = &rest[1..];
                }
                _ => {
                    let end = rest
                        .find(|ch: char| ch.is_whitespace() || matches!(ch, '[' | ']' | ','))
                        .unwrap_or(rest.len());
                    tokens.push(Token {
                        text: &rest[..end],
                        line,
                    });
                    prev = Prev::Number;
                    rest = &rest[end..];
                }
            }
        }
    }
    if let Some(line) = open.last() {
        return Err(InputError::new(
            file,
            format!("line {line}"),
            "`[` is never closed",
        ));
    }
    Ok(tokens)
}

/// Parses one integer token (optional sign, decimal digits).
pub(crate) fn parse_int_token(file: &Path, tok: Token<'_>) -> Result<i64, InputError> {
    let t = tok.text;
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError::new(
            file,
            format!("line {}", tok.line),
            format!("`{t}` is not an integer"),
        ));
    }
    let unsigned = t.strip_prefix('+').unwrap_or(t);
    unsigned.parse::<i64>().map_err(|_| {
        InputError::new(
            file,
            format!("line {}", tok.line),
            format!("`{t}` is outside the 64-bit integer range"),
        )
    })
}

/// Parses one float token (anything Rust's `f64` parser accepts, but finite).
pub(crate) fn parse_float_token(file: &Path, tok: Token<'_>) -> Result<f64, InputError> {
    let t = tok.text;
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(InputError::new(
            file,
            format!("line {}", tok.line),
            format!("`{t}` is not a finite number"),
        )),
        Err(_) => Err(InputError::new(
            file,
            format!("line {}", tok.line),
            format!("`{t}` is not a number"),
        )),
    }
}

/// Integers with the 1-based line each one is on.
pub(crate) fn parse_int_array_lines(
    file: &Path,
    text: &str,
) -> Result<Vec<(i64, usize)>, InputError> {
    tokenize(file, text)?
        .into_iter()
        .map(|t| parse_int_token(file, t).map(|v| (v, t.line)))
        .collect()
}

/// Floats with the 1-based line each one is on.
pub(crate) fn parse_float_array_lines(
    file: &Path,
    text: &str,
) -> Result<Vec<(f64, usize)>, InputError> {
    tokenize(file, text)?
        .into_iter()
        .map(|t| parse_float_token(file, t).map(|v| (v, t.line)))
        .collect()
}

/// Parses a seed-style integer array (vertical or Python list style,
/// flattened). `file` is only used in error messages.
pub fn parse_int_array(file: &Path, text: &str) -> Result<Vec<i64>, InputError> {
    Ok(parse_int_array_lines(file, text)?
        .into_iter()
        .map(|(v, _)| v)
        .collect())
}

/// Parses a seed-style float array (e.g. `filter_scales`, `bias_float`).
pub fn parse_float_array(file: &Path, text: &str) -> Result<Vec<f64>, InputError> {
    Ok(parse_float_array_lines(file, text)?
        .into_iter()
        .map(|(v, _)| v)
        .collect())
}

/// Reads a text file as UTF-8; problems are [`InputError`]s naming the file.
pub(crate) fn read_text(path: &Path) -> Result<String, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        InputError::new(path, format!("line {line}"), "not valid UTF-8 text")
    })
}

/// Reads and parses a seed-style integer array file.
pub fn read_int_array(path: &Path) -> Result<Vec<i64>, InputError> {
    parse_int_array(path, &read_text(path)?)
}

/// Reads and parses a seed-style float array file.
pub fn read_float_array(path: &Path) -> Result<Vec<f64>, InputError> {
    parse_float_array(path, &read_text(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<i64>, InputError> {
        parse_int_array(Path::new("t.txt"), text)
    }

    #[test]
    fn vertical_and_list_styles() {
        assert_eq!(p("1\n-2\n\n+3\n").unwrap(), vec![1, -2, 3]);
        assert_eq!(p("[1, -2,\n 3]\n").unwrap(), vec![1, -2, 3]);
        assert_eq!(p("[[1, 2], [3, 4],]").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(p("# head\n5 # five\n\n6").unwrap(), vec![5, 6]);
        assert_eq!(p("").unwrap(), Vec::<i64>::new());
        assert_eq!(p("1\r\n2\r\n").unwrap(), vec![1, 2]);
    }

    #[test]
    fn errors_name_line_and_token() {
        let e = p("1\n2\n3x\n").unwrap_err();
        assert_eq!(e.position, "line 3");
        assert!(e.message.contains("`3x`"), "{e}");
        assert_eq!(p("[1, 2").unwrap_err().position, "line 1");
        assert_eq!(p("1\n]").unwrap_err().position, "line 2");
        assert_eq!(p("[1,,2]").unwrap_err().position, "line 1");
        assert!(p("1.5").unwrap_err().message.contains("`1.5`"));
        assert!(p("99999999999999999999").is_err());
        assert!(p("-").is_err());
    }

    #[test]
    fn floats() {
        let v = parse_float_array(Path::new("f.txt"), "[0.5, 1e-3]\n2").unwrap();
        assert_eq!(v, vec![0.5, 1e-3, 2.0]);
        assert!(parse_float_array(Path::new("f.txt"), "nan").is_err());
    }
}
