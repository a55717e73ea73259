//! Subcommand implementations of the `qmac` CLI (argument structs + `run`).
pub mod bench;
pub mod coverage;
pub mod export_c;
pub mod fuzz;
pub mod layer;
pub mod layer_eltwise;
pub mod model;
pub mod mutants;
pub mod prove;
pub mod quantize;
pub mod regress;
pub mod report;
pub mod vectors;

/// The one `--jobs` rule of every command: 1 ..= [`MAX_JOBS`] parallel DUTs.
pub const MAX_JOBS: u64 = 256;

/// The value parser of every `--jobs` flag.
pub fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS)
}

/// `--color`: whether PASS / FAIL are coloured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set
    Auto,
    Always,
    Never,
}

/// Colours PASS (green) and FAIL (red) when asked to.
pub struct Paint {
    on: bool,
}

impl Paint {
    pub fn new(c: Color) -> Paint {
        use std::io::IsTerminal;
        let on = match c {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Paint { on }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn pass(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn fail(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
}

/// Where a command's report goes: stdout, or stderr when `--json -` takes
/// stdout for the JSON alone.
pub struct Out {
    pub json_stdout: bool,
    /// `-q`: say nothing.
    pub quiet: bool,
}

impl Out {
    pub fn new(json: Option<&std::path::Path>) -> Out {
        Out {
            json_stdout: json == Some(std::path::Path::new("-")),
            quiet: false,
        }
    }
    pub fn line(&self, s: impl std::fmt::Display) {
        if self.quiet {
        } else if self.json_stdout {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }
}

/// Check the report paths (`--json`, `--junit`, `--html`) before any work.
pub fn check_report_paths(
    json: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
    force: bool,
) -> anyhow::Result<()> {
    if let Some(p) = json.filter(|p| *p != std::path::Path::new("-")) {
        qmac::formats::check_output_path(p, "--json", force)?;
    }
    if let Some(p) = junit {
        qmac::formats::check_output_path(p, "--junit", force)?;
    }
    if let Some(p) = html {
        qmac::formats::check_output_path(p, "--html", force)?;
    }
    distinct_files(&report_files(json, junit, html))
}

/// The report files a run writes, by flag (`--json -` is stdout, no file).
pub fn report_files<'a>(
    json: Option<&'a std::path::Path>,
    junit: Option<&'a std::path::Path>,
    html: Option<&'a std::path::Path>,
) -> Vec<(&'static str, Option<&'a std::path::Path>)> {
    vec![
        ("--json", json.filter(|p| *p != std::path::Path::new("-"))),
        ("--junit", junit),
        ("--html", html),
    ]
}

/// Two flags that name the same file would have one report overwrite the
/// other (or an input): refused, whatever `--force` says.
pub fn distinct_files(files: &[(&str, Option<&std::path::Path>)]) -> anyhow::Result<()> {
    let key = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let named: Vec<(&str, &std::path::Path)> = files
        .iter()
        .filter_map(|(f, p)| p.map(|p| (*f, p)))
        .collect();
    for (i, (fa, pa)) in named.iter().enumerate() {
        if let Some((fb, _)) = named[..i].iter().find(|(_, pb)| key(pb) == key(pa)) {
            return Err(
                qmac::error::InputError::new(pa, *fa, format!("is the same file as {fb}")).into(),
            );
        }
    }
    Ok(())
}

/// Write the run's `report` as JSON (`--json`, stdout for `-`), its JUnit
/// XML (`--junit`) and its HTML page (`--html`, the page `qmac report`
/// makes of the same JSON).
pub fn write_reports(
    report: &serde_json::Value,
    json: Option<&std::path::Path>,
    junit: Option<(&std::path::Path, &str)>,
    html: Option<&std::path::Path>,
    force: bool,
    out: &Out,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    if let Some(p) = json {
        let text = serde_json::to_string_pretty(report)? + "\n";
        if p == std::path::Path::new("-") {
            print!("{text}");
        } else {
            qmac::formats::create_file(p, force, "--force")?
                .write_all(text.as_bytes())
                .with_context(|| format!("writing {}", p.display()))?;
            out.line(format_args!("JSON results: {}", p.display()));
        }
    }
    if let Some((p, xml)) = junit {
        qmac::formats::create_file(p, force, "--force")?
            .write_all(xml.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        out.line(format_args!("JUnit report: {}", p.display()));
    }
    if let Some(p) = html {
        // The page names the JSON file it shows when there is one.
        let source = match json.filter(|j| *j != std::path::Path::new("-")) {
            Some(j) => j.display().to_string(),
            None => format!("this run (--html {})", p.display()),
        };
        let r = qmac::verify::report::schema::Report::from_value(
            report,
            std::path::Path::new(&source),
        )?;
        let page = qmac::verify::report::html::render(&[r])?;
        qmac::formats::create_file(p, force, "--force")?
            .write_all(page.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
        out.line(format_args!("HTML report: {}", p.display()));
    }
    Ok(())
}

/// One word of a printed shell command (a replay command): as is when it
/// holds only characters no shell treats specially, else single-quoted, so
/// a path with spaces or parentheses pastes back into bash unchanged.
pub fn sh(word: impl std::fmt::Display) -> String {
    let w = word.to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_quote_only_what_a_shell_would_split_or_expand() {
        assert_eq!(
            super::sh("tests/fixtures/a_b-1.json"),
            "tests/fixtures/a_b-1.json"
        );
        assert_eq!(super::sh("my case (v2).json"), "'my case (v2).json'");
        assert_eq!(super::sh("it's"), r"'it'\''s'");
        assert_eq!(super::sh("corners/ties/*"), "'corners/ties/*'");
        assert_eq!(super::sh(""), "''");
    }
}
