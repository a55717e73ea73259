//! FPGA test-vector bundles: `$readmemh` files, `manifest.toml` and
//! `SHA256SUMS`, replayed by the pure-Verilog testbench `sim/replay_tb.sv`.
//!
//! Files (widths for LANES = L):
//! * `program.hex` (32 bits): the schedule, one word per segment:
//!   bit 31 = 1 → load the next `count` words of cfg.hex, 0 → stream the next
//!   `count` words of beats.hex; bits 30:0 = count;
//! * `cfg.hex` (48 bits): `{addr[15:0], data[31:0]}` parameter writes;
//! * `beats.hex` (2 + 16L bits): `{first, last, x[L-1], …, x[0], w[L-1], …, w[0]}`,
//!   the in_x and in_w bytes of the beat (a broadcast beat's x[0] is its
//!   activation, the other bytes the filler of
//!   [`crate::cosim::interface::push_broadcast_x`]);
//! * `expected.hex` (41L bits): `{ovf[L-1:0], acc[L-1], …, acc[0], y[L-1], …, y[0]}`
//!   one word per dot product, in output order.
//!
//! Expected values come from the golden model. The same command writes
//! byte-identical files; `manifest.toml` records generator version, git
//! revision, seed, sources, DUT parameters, per-file width / depth / sha256,
//! counts and the latency.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cosim::interface::MAX_LANES;
use crate::cosim::scoreboard::expect;
use crate::cosim::transaction::{Item, StreamCheck};
use crate::error::InputError;
use crate::formats::hex::{self, Word};

pub const PROGRAM_BITS: u32 = 32;
pub const CFG_BITS: u32 = 48;
pub fn beat_bits(lanes: usize) -> u32 {
    2 + 16 * lanes as u32
}
pub fn expected_bits(lanes: usize) -> u32 {
    41 * lanes as u32
}

/// The word streams of a bundle.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Streams {
    pub program: Vec<String>,
    pub cfg: Vec<String>,
    pub beats: Vec<String>,
    pub expected: Vec<String>,
    pub rounding: BTreeSet<String>,
    pub input_dtype: BTreeSet<String>,
}

/// Encode a stimulus for a LANES-wide datapath with a `mult_w` multiplier.
pub fn encode(items: impl IntoIterator<Item = Item>, lanes: usize, mult_w: u32) -> Result<Streams> {
    let mut s = Streams::default();
    let mut seg: Option<(bool, u32)> = None;
    let flush = |s: &mut Streams, seg: &mut Option<(bool, u32)>| {
        if let Some((cfg, n)) = seg.take() {
            s.program.push(hex::format_word(
                ((cfg as i64) << 31) | n as i64,
                PROGRAM_BITS,
            ));
        }
    };
    let extend = |s: &mut Streams, seg: &mut Option<(bool, u32)>, cfg: bool, n: u32| match seg {
        Some((c, m)) if *c == cfg && *m as u64 + n as u64 <= 0x7fff_ffff => *m += n,
        _ => {
            flush(s, seg);
            *seg = Some((cfg, n));
        }
    };
    let mut check = StreamCheck::new(lanes);
    for (i, it) in items.into_iter().enumerate() {
        let params = check
            .next(&it)
            .with_context(|| format!("stimulus item {i}"))?;
        match (it, params) {
            (Item::Params(p), _) => {
                let w = p.cfg_writes();
                for &(a, d) in &w {
                    s.cfg
                        .push(Word::new().push(a as i64, 16).push(d as i64, 32).to_hex());
                }
                extend(&mut s, &mut seg, true, w.len() as u32);
                s.rounding.insert(p.rounding.name().to_string());
                s.input_dtype.insert(p.input_dtype.name().to_string());
            }
            (Item::Dot(j), Some(p)) => {
                let k = j.x.len();
                let mut xb = Vec::with_capacity(lanes);
                for t in 0..k {
                    let mut w = Word::new();
                    w.push((t == 0) as i64, 1).push((t + 1 == k) as i64, 1);
                    xb.clear();
                    j.push_in_x(t, lanes, &mut xb);
                    for l in (0..lanes).rev() {
                        w.push(xb[l] as i64, 8);
                    }
                    for l in (0..lanes).rev() {
                        w.push(j.w[t * lanes + l] as i64, 8);
                    }
                    s.beats.push(w.to_hex());
                }
                extend(&mut s, &mut seg, false, k as u32);
                let (y, acc, ovf) = expect(&j, &p, lanes, mult_w);
                let mut w = Word::new();
                for l in (0..lanes).rev() {
                    w.push(ovf[l] as i64, 1);
                }
                for l in (0..lanes).rev() {
                    w.push(acc[l] as i64, 32);
                }
                for l in (0..lanes).rev() {
                    w.push(y[l] as i64, 8);
                }
                s.expected.push(w.to_hex());
            }
            (Item::Dot(_), None) => unreachable!("StreamCheck returns a dot product's parameters"),
        }
    }
    flush(&mut s, &mut seg);
    Ok(s)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    pub name: String,
    pub version: String,
    /// Not part of the canonical bytes compared by the regeneration test.
    pub git_revision: String,
    pub command: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// `suite`, `case` or `fuzz`.
    pub kind: String,
    pub names: Vec<String>,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DutParams {
    pub top: String,
    pub lanes: usize,
    pub mult_w: u32,
    /// Cycles from the edge that takes a dot product's last beat to the edge
    /// from which its result is presented, when nothing stalls.
    pub latency: u64,
    pub rtl_sha256: String,
    pub rounding: Vec<String>,
    pub input_signedness: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub program_segments: usize,
    pub cfg_writes: usize,
    pub beats: usize,
    pub outputs: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub width: u32,
    pub depth: usize,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub generator: Generator,
    pub source: Source,
    pub dut: DutParams,
    pub counts: Counts,
    pub files: Vec<FileEntry>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The git revision of the qmac source tree, or `unknown`.
pub fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Write a bundle into `dir` (which must not exist or be empty, unless `force`).
pub fn write(
    dir: &Path,
    s: &Streams,
    generator: Generator,
    source: Source,
    lanes: usize,
    mult_w: u32,
    force: bool,
) -> Result<Manifest> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
        if non_empty && !force {
            bail!(InputError::new(dir, "--out", "exists and is not empty: refusing to overwrite (pass --force to replace the bundle files)"));
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let gen_line = format!(
        "generator: qmac {} ({})",
        generator.version, generator.command
    );
    let seed_line = format!(
        "seed: {}; sources: {} {}",
        source.seed,
        source.kind,
        source.names.join(" ")
    );
    let specs: [(&str, &str, u32, &Vec<String>); 4] = [
        (
            "program.hex",
            "schedule: bit 31 = 1 load cfg words, 0 stream beats; bits 30:0 = count",
            PROGRAM_BITS,
            &s.program,
        ),
        (
            "cfg.hex",
            "parameter writes {addr[15:0], data[31:0]}",
            CFG_BITS,
            &s.cfg,
        ),
        (
            "beats.hex",
            "input beats {first, last, x[7:0], w[LANES-1] .. w[0]}",
            beat_bits(lanes),
            &s.beats,
        ),
        (
            "expected.hex",
            "expected outputs {ovf[LANES-1:0], acc[LANES-1] .. acc[0], y[LANES-1] .. y[0]}",
            expected_bits(lanes),
            &s.expected,
        ),
    ];
    let mut files = Vec::new();
    let mut sums = String::new();
    for (name, what, bits, words) in specs {
        let header = vec![
            format!("{name}: {what}"),
            format!(
                "width {bits} bits ({} hex digits), depth {}, LANES={lanes} MULT_W={mult_w}",
                hex::digits(bits),
                words.len()
            ),
            gen_line.clone(),
            seed_line.clone(),
        ];
        let text = hex::file_text(&header, words);
        let path = dir.join(name);
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        let sha = sha256_hex(text.as_bytes());
        sums += &format!("{sha}  {name}\n");
        files.push(FileEntry {
            name: name.into(),
            width: bits,
            depth: words.len(),
            sha256: sha,
        });
    }
    let m = Manifest {
        generator,
        source,
        dut: DutParams {
            top: "qmac_top".into(),
            lanes,
            mult_w,
            latency: crate::cosim::interface::LATENCY,
            rtl_sha256: crate::cosim::dut::RTL_SHA256.into(),
            rounding: s.rounding.iter().cloned().collect(),
            input_signedness: s.input_dtype.iter().cloned().collect(),
        },
        counts: Counts {
            program_segments: s.program.len(),
            cfg_writes: s.cfg.len(),
            beats: s.beats.len(),
            outputs: s.expected.len(),
        },
        files,
    };
    let toml_text = toml::to_string(&m).context("serialising the manifest")?;
    std::fs::write(dir.join("manifest.toml"), &toml_text)?;
    sums += &format!("{}  manifest.toml\n", sha256_hex(toml_text.as_bytes()));
    std::fs::write(dir.join("SHA256SUMS"), sums)?;
    Ok(m)
}

/// Validate a bundle: manifest, files present, widths, depths, hex syntax,
/// checksums (manifest and SHA256SUMS) and the schedule's consistency.
pub fn check(dir: &Path) -> Result<Manifest, InputError> {
    let mpath = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&mpath)
        .map_err(|e| InputError::new(&mpath, "file", format!("cannot read: {e}")))?;
    let m: Manifest = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1);
        InputError::new(&mpath, format!("line {line}"), e.message())
    })?;
    let lanes = m.dut.lanes;
    if lanes == 0 || lanes > MAX_LANES {
        return Err(InputError::new(
            &mpath,
            "field `dut.lanes`",
            format!("{lanes} is not in 1..={MAX_LANES}"),
        ));
    }
    let want: [(&str, u32, usize); 4] = [
        ("program.hex", PROGRAM_BITS, m.counts.program_segments),
        ("cfg.hex", CFG_BITS, m.counts.cfg_writes),
        ("beats.hex", beat_bits(lanes), m.counts.beats),
        ("expected.hex", expected_bits(lanes), m.counts.outputs),
    ];
    if m.files.len() != want.len() {
        return Err(InputError::new(
            &mpath,
            "field `files`",
            format!("lists {} files, expected {}", m.files.len(), want.len()),
        ));
    }
    let sums_path = dir.join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path)
        .map_err(|e| InputError::new(&sums_path, "file", format!("cannot read: {e}")))?;
    let mut words: Vec<Vec<String>> = Vec::new();
    for (i, (name, bits, count)) in want.iter().enumerate() {
        let f = &m.files[i];
        let at = format!("field `files[{i}]`");
        if f.name != *name || f.width != *bits || f.depth != *count {
            return Err(InputError::new(
                &mpath,
                at,
                format!("is {} width {} depth {}, expected {name} width {bits} depth {count} for LANES={lanes}", f.name, f.width, f.depth),
            ));
        }
        let path = dir.join(name);
        let bytes = std::fs::read(&path)
            .map_err(|e| InputError::new(&path, "file", format!("missing or unreadable: {e}")))?;
        let w = hex::read_words(&path, *bits)?;
        if w.len() != f.depth {
            return Err(InputError::new(
                &path,
                format!("line {}", bytes.iter().filter(|&&b| b == b'\n').count() + 1),
                format!("holds {} words, manifest says depth {}", w.len(), f.depth),
            ));
        }
        let sha = sha256_hex(&bytes);
        if sha != f.sha256 {
            return Err(InputError::new(
                &path,
                "sha256",
                format!("is {sha}, manifest says {}", f.sha256),
            ));
        }
        if !sums.lines().any(|l| l == format!("{sha}  {name}")) {
            return Err(InputError::new(
                &sums_path,
                name,
                "no matching checksum line",
            ));
        }
        words.push(w);
    }
    let msha = sha256_hex(text.as_bytes());
    if !sums.lines().any(|l| l == format!("{msha}  manifest.toml")) {
        return Err(InputError::new(
            &sums_path,
            "manifest.toml",
            "checksum does not match manifest.toml",
        ));
    }
    // The schedule must consume exactly the cfg and beat words, and every
    // dot product (a beat with `last`) has one expected word.
    let (mut ncfg, mut nbeat) = (0u64, 0u64);
    for (i, w) in words[0].iter().enumerate() {
        let v = hex::parse_word(w, PROGRAM_BITS).expect("checked");
        let n = v & 0x7fff_ffff;
        if n == 0 {
            return Err(InputError::new(
                dir.join("program.hex"),
                format!("word {}", i + 1),
                "segment of zero words",
            ));
        }
        if v >> 31 == 1 {
            ncfg += n;
        } else {
            nbeat += n;
        }
    }
    if ncfg != m.counts.cfg_writes as u64 || nbeat != m.counts.beats as u64 {
        return Err(InputError::new(
            dir.join("program.hex"),
            "schedule",
            format!(
                "consumes {ncfg} cfg words and {nbeat} beats, the bundle holds {} and {}",
                m.counts.cfg_writes, m.counts.beats
            ),
        ));
    }
    let bb = beat_bits(lanes);
    let lasts = words[2]
        .iter()
        .filter(|w| hex::parse_wide(w, bb).expect("checked")[1])
        .count();
    if lasts != m.counts.outputs {
        return Err(InputError::new(
            dir.join("beats.hex"),
            "last bits",
            format!(
                "{lasts} dot products end, expected.hex holds {}",
                m.counts.outputs
            ),
        ));
    }
    if m.dut.latency != crate::cosim::interface::LATENCY {
        return Err(InputError::new(
            &mpath,
            "field `dut.latency`",
            format!(
                "{} differs from qmac_top's {}",
                m.dut.latency,
                crate::cosim::interface::LATENCY
            ),
        ));
    }
    Ok(m)
}
