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
    /// Only in a chunk of a split bundle (`qmac vectors --max-words`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<ChunkInfo>,
    pub files: Vec<FileEntry>,
}

/// Where a chunk sits in the stream it was split from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkInfo {
    /// 0-based, of `of` chunks.
    pub index: usize,
    pub of: usize,
    /// The cap on every file's depth the split was made for.
    pub max_words: usize,
    /// Index of the chunk's first beat / expected output in the unsplit stream
    /// (a chunk's output k is the stream's output first_output + k).
    pub first_beat: usize,
    pub first_output: usize,
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
    write_chunk(dir, s, generator, source, lanes, mult_w, None, force)
}

/// [`write`], recording `chunk` in the manifest.
#[allow(clippy::too_many_arguments)]
pub fn write_chunk(
    dir: &Path,
    s: &Streams,
    generator: Generator,
    source: Source,
    lanes: usize,
    mult_w: u32,
    chunk: Option<ChunkInfo>,
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
        chunk,
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

/// Block RAM of an FPGA part, for `qmac vectors --board`: the largest
/// `--max-words` whose four ROMs (program, cfg, beats, expected), each at that
/// depth, fit in `usable` blocks.
#[derive(Debug, Clone, Copy)]
pub struct BoardRam {
    pub board: &'static str,
    pub part: &'static str,
    /// (depth, width) shapes one block can take.
    pub shapes: &'static [(usize, usize)],
    /// Blocks the ROMs may use (the part's, less a margin for the rest).
    pub usable: usize,
    pub total: usize,
}

pub const BOARDS: [BoardRam; 2] = [
    BoardRam {
        board: "ulx3s",
        part: "ECP5 LFE5U-85F (DP16KD, 18 Kbit)",
        shapes: &[
            (16384, 1),
            (8192, 2),
            (4096, 4),
            (2048, 9),
            (1024, 18),
            (512, 36),
        ],
        usable: 180,
        total: 208,
    },
    BoardRam {
        board: "icebreaker",
        part: "iCE40 UP5K (SB_RAM40_4K, 4 Kbit)",
        shapes: &[(2048, 2), (1024, 4), (512, 8), (256, 16)],
        usable: 26,
        total: 30,
    },
];

impl BoardRam {
    pub fn find(name: &str) -> Option<&'static BoardRam> {
        BOARDS.iter().find(|b| b.board == name)
    }

    /// Blocks one ROM of `depth` x `width` bits takes in the best shape.
    pub fn blocks(&self, depth: usize, width: usize) -> usize {
        self.shapes
            .iter()
            .map(|&(d, w)| depth.div_ceil(d) * width.div_ceil(w))
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Blocks of the four ROMs of a LANES-wide bundle, each `depth` deep.
    pub fn bundle_blocks(&self, depth: usize, lanes: usize) -> usize {
        [
            PROGRAM_BITS as usize,
            CFG_BITS as usize,
            beat_bits(lanes) as usize,
            expected_bits(lanes) as usize,
        ]
        .iter()
        .map(|&w| self.blocks(depth, w))
        .sum()
    }

    /// The largest depth (words per file) that fits, or 0.
    pub fn max_words(&self, lanes: usize) -> usize {
        let (mut lo, mut hi) = (0usize, 1 << 20);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.bundle_blocks(mid, lanes) <= self.usable {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

/// Split a stimulus into chunks whose bundles each hold at most `max_words`
/// words in every file (program segments, cfg writes, beats, outputs).
/// A chunk ends only between dot products, and every chunk after the first
/// starts with the full parameter set in force there (a parameter set writes
/// every register), so each chunk replays on its own from reset and the
/// chunks' beats and expected outputs, concatenated, are the unsplit
/// stream's. Returns the chunks with their first beat and output index.
pub fn split(
    items: Vec<Item>,
    max_words: usize,
) -> Result<Vec<(Vec<Item>, usize, usize)>, InputError> {
    let too_small = |what: String| {
        InputError::new(
            "qmac vectors",
            "--max-words",
            format!("{max_words} is too small: {what}"),
        )
    };
    if max_words < 2 {
        return Err(too_small(
            "a chunk needs at least a cfg and a beat segment".into(),
        ));
    }
    #[derive(Default)]
    struct Cur {
        items: Vec<Item>,
        cfg: usize,
        beats: usize,
        outputs: usize,
        segments: usize,
        last_cfg: Option<bool>,
        first_beat: usize,
        first_output: usize,
    }
    impl Cur {
        fn add(&mut self, it: Item) {
            let cfg = matches!(it, Item::Params(_));
            if self.last_cfg != Some(cfg) {
                self.segments += 1;
                self.last_cfg = Some(cfg);
            }
            match &it {
                Item::Params(p) => self.cfg += p.cfg_writes().len(),
                Item::Dot(j) => {
                    self.beats += j.x.len();
                    self.outputs += 1;
                }
            }
            self.items.push(it);
        }
        fn fits(&self, it: &Item, max: usize) -> bool {
            let cfg = matches!(it, Item::Params(_));
            let seg = self.segments + usize::from(self.last_cfg != Some(cfg));
            seg <= max
                && match it {
                    Item::Params(p) => self.cfg + p.cfg_writes().len() <= max,
                    Item::Dot(j) => self.beats + j.x.len() <= max && self.outputs < max,
                }
        }
    }
    let mut out = Vec::new();
    let mut cur = Cur::default();
    let mut params: Option<Item> = None;
    let (mut beat_at, mut out_at) = (0usize, 0usize);
    for it in items {
        match &it {
            Item::Params(p) => {
                let n = p.cfg_writes().len();
                if n > max_words {
                    return Err(too_small(format!("one parameter set is {n} cfg writes")));
                }
                if cur.outputs == 0 {
                    // No dot product yet: an earlier set here is superseded
                    // (every set writes every register).
                    cur.items.retain(|i| !matches!(i, Item::Params(_)));
                    cur.cfg = 0;
                    cur.segments = 0;
                    cur.last_cfg = None;
                } else if !cur.fits(&it, max_words) {
                    out.push((
                        std::mem::take(&mut cur.items),
                        cur.first_beat,
                        cur.first_output,
                    ));
                    cur = Cur {
                        first_beat: beat_at,
                        first_output: out_at,
                        ..Cur::default()
                    };
                }
                cur.add(it.clone());
                params = Some(it);
            }
            Item::Dot(j) => {
                let k = j.x.len();
                if k > max_words {
                    return Err(too_small(format!("dot product {out_at} has {k} beats")));
                }
                if !cur.fits(&it, max_words) {
                    out.push((
                        std::mem::take(&mut cur.items),
                        cur.first_beat,
                        cur.first_output,
                    ));
                    cur = Cur {
                        first_beat: beat_at,
                        first_output: out_at,
                        ..Cur::default()
                    };
                    if let Some(p) = &params {
                        cur.add(p.clone());
                    }
                    if !cur.fits(&it, max_words) {
                        return Err(too_small(format!(
                            "dot product {out_at} ({k} beats) does not fit after its parameter set"
                        )));
                    }
                }
                beat_at += k;
                out_at += 1;
                cur.add(it);
            }
        }
    }
    if !cur.items.is_empty() || out.is_empty() {
        out.push((cur.items, cur.first_beat, cur.first_output));
    }
    Ok(out)
}

/// The top-level index of a split bundle: `chunks.toml` beside `chunk000/` …
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkIndex {
    pub generator: Generator,
    pub source: Source,
    pub max_words: usize,
    /// The board preset the cap came from (`--board`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    pub chunks: Vec<ChunkEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkEntry {
    pub dir: String,
    pub program_segments: usize,
    pub cfg_writes: usize,
    pub beats: usize,
    pub outputs: usize,
    pub first_beat: usize,
    pub first_output: usize,
    pub manifest_sha256: String,
}

/// Name of chunk `i`'s directory.
pub fn chunk_dir(i: usize) -> String {
    format!("chunk{i:03}")
}

/// Write a split bundle: `dir/chunkNNN/` (each a complete bundle whose
/// manifest records its [`ChunkInfo`]) and `dir/chunks.toml`.
#[allow(clippy::too_many_arguments)]
pub fn write_split(
    dir: &Path,
    items: Vec<Item>,
    generator: Generator,
    source: Source,
    lanes: usize,
    mult_w: u32,
    max_words: usize,
    board: Option<String>,
    force: bool,
) -> Result<ChunkIndex> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true);
        if non_empty && !force {
            bail!(InputError::new(dir, "--out", "exists and is not empty: refusing to overwrite (pass --force to replace the bundle files)"));
        }
    }
    let parts = split(items, max_words)?;
    if force {
        // An earlier split into more chunks: its extra chunk bundles go too.
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let ours = name.len() == 8
                && name.starts_with("chunk")
                && name[5..].bytes().all(|b| b.is_ascii_digit())
                && e.path().join("manifest.toml").is_file();
            if ours && name[5..].parse::<usize>().is_ok_and(|i| i >= parts.len()) {
                std::fs::remove_dir_all(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    let of = parts.len();
    let mut chunks = Vec::new();
    for (i, (items, first_beat, first_output)) in parts.into_iter().enumerate() {
        let s = encode(items, lanes, mult_w)?;
        let name = chunk_dir(i);
        let info = ChunkInfo {
            index: i,
            of,
            max_words,
            first_beat,
            first_output,
        };
        let cdir = dir.join(&name);
        let m = write_chunk(
            &cdir,
            &s,
            generator.clone(),
            source.clone(),
            lanes,
            mult_w,
            Some(info),
            force,
        )?;
        let mtext = std::fs::read(cdir.join("manifest.toml"))?;
        chunks.push(ChunkEntry {
            dir: name,
            program_segments: m.counts.program_segments,
            cfg_writes: m.counts.cfg_writes,
            beats: m.counts.beats,
            outputs: m.counts.outputs,
            first_beat,
            first_output,
            manifest_sha256: sha256_hex(&mtext),
        });
    }
    let index = ChunkIndex {
        generator,
        source,
        max_words,
        board,
        chunks,
    };
    let text = toml::to_string(&index).context("serialising chunks.toml")?;
    std::fs::write(dir.join("chunks.toml"), text)?;
    Ok(index)
}

/// Validate a split bundle: `chunks.toml`, and every chunk with [`check`],
/// its manifest's checksum, its cap and its place in the stream.
pub fn check_split(dir: &Path) -> Result<(ChunkIndex, Vec<Manifest>), InputError> {
    let ipath = dir.join("chunks.toml");
    let text = std::fs::read_to_string(&ipath)
        .map_err(|e| InputError::new(&ipath, "file", format!("cannot read: {e}")))?;
    let index: ChunkIndex = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1);
        InputError::new(&ipath, format!("line {line}"), e.message())
    })?;
    let (mut beat_at, mut out_at) = (0usize, 0usize);
    let mut manifests = Vec::new();
    for (i, c) in index.chunks.iter().enumerate() {
        let at = format!("chunk {i} ({})", c.dir);
        if c.dir != chunk_dir(i) {
            return Err(InputError::new(
                &ipath,
                at,
                format!("is named {}, expected {}", c.dir, chunk_dir(i)),
            ));
        }
        let cdir = dir.join(&c.dir);
        let m = check(&cdir)?;
        let mpath = cdir.join("manifest.toml");
        let sha = sha256_hex(
            &std::fs::read(&mpath).map_err(|e| InputError::new(&mpath, "file", e.to_string()))?,
        );
        if sha != c.manifest_sha256 {
            return Err(InputError::new(
                &ipath,
                at,
                format!(
                    "manifest sha256 is {sha}, chunks.toml says {}",
                    c.manifest_sha256
                ),
            ));
        }
        let want = ChunkInfo {
            index: i,
            of: index.chunks.len(),
            max_words: index.max_words,
            first_beat: beat_at,
            first_output: out_at,
        };
        if m.chunk.as_ref() != Some(&want)
            || (
                m.counts.program_segments,
                m.counts.cfg_writes,
                m.counts.beats,
                m.counts.outputs,
            ) != (c.program_segments, c.cfg_writes, c.beats, c.outputs)
        {
            return Err(InputError::new(
                &mpath,
                "[chunk] / [counts]",
                format!("do not match {} entry {i}", ipath.display()),
            ));
        }
        let n = index.max_words;
        if [
            m.counts.program_segments,
            m.counts.cfg_writes,
            m.counts.beats,
            m.counts.outputs,
        ]
        .iter()
        .any(|&d| d > n)
        {
            return Err(InputError::new(
                &mpath,
                "[counts]",
                format!("a file deeper than max_words = {n}"),
            ));
        }
        beat_at += m.counts.beats;
        out_at += m.counts.outputs;
        manifests.push(m);
    }
    Ok((index, manifests))
}
