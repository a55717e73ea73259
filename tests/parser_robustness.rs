//! Bounded mutation fuzzing, on stable Rust (cargo-fuzz needs nightly), of
//! every input format qmac parses: qcase JSON, qcase directories (case.toml
//! and seed-style .txt arrays), .npy arrays, seed-style text arrays, hex
//! words and `$readmemh` files, vector bundles, fuzz transaction files and
//! coverage JSON.
//!
//! Each format starts from real seeds (fixtures, files written by qmac
//! itself) and applies random mutations: bit flips, byte inserts / deletes,
//! truncation at every length class, duplicated chunks, numbers replaced by
//! huge / negative / float / garbage tokens, bracket changes, splices, line
//! operations, and structure-aware edits (JSON / TOML values, .npy header
//! fields, hex words, checksums fixed up so the deeper checks are reached),
//! then a deterministic nesting ladder (`[`, `{`, `(` up to 1024 deep).
//! Every call must return `Ok` or `Err` — never panic (each call runs under
//! `catch_unwind`), never hang (a call still running after [`HANG`] is
//! reported with its input) — and every `Err` must display as one line naming
//! the file. The set of inputs is fixed ([`INPUTS`] per format, whatever the
//! machine's speed); call times are printed, never asserted.
//!
//! Everything is drawn from ChaCha8 streams of one printed seed (override
//! with `QMAC_PARSER_FUZZ_SEED`); input #i of a format is the same on every
//! run. A failing input is written to a repro file whose path is printed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use qmac::formats::qcase::Case;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Fixed default seed (printed); `QMAC_PARSER_FUZZ_SEED` overrides it.
const DEFAULT_SEED: u64 = 0x7061_7273_6572_2d31;
/// Mutated inputs per format (then the nesting ladder).
const INPUTS: usize = 4_000;
/// A single call still running after this is reported as a hang (a
/// liveness guard, far above any parse: the slowest is printed).
const HANG: Duration = Duration::from_secs(60);
/// Mutated inputs are cut to this many bytes.
const MAX_LEN: usize = 48 * 1024;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn base_seed() -> u64 {
    std::env::var("QMAC_PARSER_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn pick(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        rng.random_range(0..n)
    }
}

fn choose<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[pick(rng, items.len())]
}

// ---------------------------------------------------------------------------
// Harness: panic capture, timing, message checks, watchdog, report
// ---------------------------------------------------------------------------

thread_local! {
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that records (instead of printing) panics inside checked calls.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURE.with(Cell::get) {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "<unknown location>".into());
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "<non-string payload>".into());
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{loc}\t{msg}")));
            } else {
                prev(info);
            }
        }));
    });
}

/// The input a worker is running, for the watchdog.
struct Running {
    index: usize,
    label: String,
    input: Vec<u8>,
    since: Instant,
}

/// What a worker shares with its watchdog: the running input and the
/// failures so far (so a hang still reports everything found before it).
#[derive(Default)]
struct Shared {
    running: Option<Running>,
    failures: Vec<Failure>,
}

type SharedRef = Arc<Mutex<Shared>>;

struct Failure {
    signature: String,
    detail: String,
    index: usize,
    label: String,
    input: Vec<u8>,
    hits: usize,
}

/// Per entry point: (tried, rejected).
type Counts = BTreeMap<String, (usize, usize)>;

struct Fuzz {
    seed: u64,
    rng: ChaCha8Rng,
    tried: usize,
    rejected: usize,
    per_label: Counts,
    cr_messages: usize,
    cr_example: Option<String>,
    slowest: (Duration, String),
    in_calls: Duration,
    /// Rounds of the format's body run so far.
    round: usize,
    /// The round the nesting ladder starts at (after the random inputs).
    ladder_from: usize,
    shared: SharedRef,
}

enum Outcome<E> {
    Accepted,
    Rejected(E),
    Panicked(String),
}

fn timed<T, E>(f: &impl Fn() -> Result<T, E>) -> (Outcome<E>, Duration) {
    CAPTURE.with(|c| c.set(true));
    let t0 = Instant::now();
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    let dt = t0.elapsed();
    CAPTURE.with(|c| c.set(false));
    let outcome = match r {
        Ok(Ok(_)) => Outcome::Accepted,
        Ok(Err(e)) => Outcome::Rejected(e),
        Err(_) => Outcome::Panicked(
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "<unknown>\tpanic without a message".into()),
        ),
    };
    (outcome, dt)
}

/// A message with its file prefix cut and digits folded, for de-duplication.
fn template(msg: &str) -> String {
    let body = msg.split_once(": ").map_or(msg, |(_, rest)| rest);
    let mut s = String::new();
    for c in body.chars().take(48) {
        match c {
            '0'..='9' => {
                if !s.ends_with('#') {
                    s.push('#')
                }
            }
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

impl Fuzz {
    fn new(name: &'static str, seed: u64, shared: SharedRef) -> Fuzz {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(fnv(name));
        Fuzz {
            seed,
            rng,
            tried: 0,
            rejected: 0,
            per_label: Counts::new(),
            cr_messages: 0,
            cr_example: None,
            slowest: (Duration::ZERO, String::new()),
            in_calls: Duration::ZERO,
            round: 0,
            ladder_from: usize::MAX,
            shared,
        }
    }

    /// The nesting-ladder step of this round, if the ladder is running.
    fn ladder(&self) -> Option<Nesting> {
        let r = self.round.checked_sub(self.ladder_from)?;
        if r >= LADDER_LEN {
            return None;
        }
        let (open, close) = LADDER_BRACKETS[r / (2 * LADDER_DEPTHS.len())];
        let depth = LADDER_DEPTHS[(r / 2) % LADDER_DEPTHS.len()];
        Some(Nesting {
            open,
            close,
            depth,
            balanced: r % 2 == 1,
        })
    }

    /// Runs one parser call on `input` (already in place where `f` reads it).
    /// `names_file(msg)` says whether an error message names the right file.
    fn check<T, E: std::fmt::Display>(
        &mut self,
        label: &str,
        input: &[u8],
        names_file: &dyn Fn(&str) -> bool,
        f: impl Fn() -> Result<T, E>,
    ) {
        let index = self.tried;
        self.tried += 1;
        let entry = self.per_label.entry(label.to_string()).or_default();
        entry.0 += 1;
        self.shared.lock().unwrap().running = Some(Running {
            index,
            label: label.to_string(),
            input: input.to_vec(),
            since: Instant::now(),
        });
        let (outcome, dt) = timed(&f);
        self.shared.lock().unwrap().running = None;
        self.in_calls += dt;
        if dt > self.slowest.0 {
            self.slowest = (dt, format!("input #{index} via {label}"));
        }
        match outcome {
            Outcome::Accepted => {}
            Outcome::Rejected(e) => {
                self.rejected += 1;
                self.per_label.get_mut(label).unwrap().1 += 1;
                let msg = e.to_string();
                if msg.contains('\n') {
                    self.fail(
                        format!("multi-line error: {label}: {}", template(&msg)),
                        format!("error message spans lines: {msg:?}"),
                        index,
                        label,
                        input,
                    );
                }
                if msg.contains('\r') {
                    self.cr_messages += 1;
                    self.cr_example.get_or_insert_with(|| format!("{msg:?}"));
                }
                if !names_file(&msg) {
                    self.fail(
                        format!("error without the file: {label}: {}", template(&msg)),
                        format!("error message does not name the file: {msg:?}"),
                        index,
                        label,
                        input,
                    );
                }
            }
            Outcome::Panicked(p) => {
                let (loc, msg) = p.split_once('\t').unwrap_or(("?", &p));
                self.fail(
                    format!("panic at {loc}"),
                    format!("{label} panicked at {loc}: {msg}"),
                    index,
                    label,
                    input,
                );
            }
        }
    }

    /// Records a failure, keeping the smallest input per distinct signature.
    fn fail(&mut self, signature: String, detail: String, index: usize, label: &str, input: &[u8]) {
        let mut shared = self.shared.lock().unwrap();
        let failures = &mut shared.failures;
        if let Some(f) = failures.iter_mut().find(|f| f.signature == signature) {
            f.hits += 1;
            if input.len() < f.input.len() {
                f.detail = detail;
                f.index = index;
                f.label = label.to_string();
                f.input = input.to_vec();
            }
            return;
        }
        failures.push(Failure {
            signature,
            detail,
            index,
            label: label.to_string(),
            input: input.to_vec(),
            hits: 1,
        });
    }
}

fn escaped(input: &[u8], limit: usize) -> String {
    let shown = &input[..input.len().min(limit)];
    let mut s = shown.escape_ascii().to_string();
    if input.len() > limit {
        let _ = write!(s, "... ({} bytes in all)", input.len());
    }
    s
}

fn save_repro(name: &str, index: usize, input: &[u8]) -> String {
    let dir = std::env::temp_dir().join("qmac-parser-robustness");
    let path = dir.join(format!("{name}-input{index}.bin"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("<not saved: {e}>"),
    }
}

/// The report of a format's failures, each input saved to a repro file.
fn failure_report(name: &str, seed: u64, failures: &[Failure]) -> String {
    let mut report = format!(
        "{name}: {} distinct failure(s) (seed {seed}):\n",
        failures.len()
    );
    for f in failures {
        let path = save_repro(name, f.index, &f.input);
        let _ = writeln!(
            report,
            "  [{}] x{}: {}\n    smallest: input #{} via {}, {} bytes, saved to {path}\n    bytes: {}",
            f.signature,
            f.hits,
            f.detail,
            f.index,
            f.label,
            f.input.len(),
            escaped(&f.input, 400)
        );
    }
    report
}

/// Runs `body` (one or more checked calls per round) in a worker thread until
/// the input budget is spent, then the nesting ladder, watching for hangs;
/// prints the counts and panics with a report if any check failed.
fn run_format(name: &'static str, mut body: impl FnMut(&mut Fuzz) + Send + 'static) {
    install_hook();
    let seed = base_seed();
    eprintln!(
        "parser_robustness[{name}]: seed {seed} (ChaCha8 stream fnv(\"{name}\"); \
         set QMAC_PARSER_FUZZ_SEED={seed} to replay)"
    );
    let shared: SharedRef = Arc::default();
    let sh = shared.clone();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .stack_size(8 << 20) // the main thread's default, as in the qmac binary
        .spawn(move || {
            let mut fz = Fuzz::new(name, seed, sh);
            let start = Instant::now();
            while fz.tried < INPUTS {
                body(&mut fz);
                fz.round += 1;
            }
            fz.ladder_from = fz.round;
            for _ in 0..LADDER_LEN {
                body(&mut fz);
                fz.round += 1;
            }
            (fz, start.elapsed())
        })
        .expect("spawn fuzz worker");
    while !worker.is_finished() {
        let mut sh = shared.lock().unwrap();
        if let Some(r) = sh.running.take_if(|r| r.since.elapsed() > HANG) {
            sh.failures.push(Failure {
                signature: format!("hang: {}", r.label),
                detail: format!(
                    "{} has been running for more than {HANG:?} (stopped the fuzzing of {name})",
                    r.label
                ),
                index: r.index,
                label: r.label,
                input: r.input,
                hits: 1,
            });
            let report = failure_report(name, seed, &sh.failures);
            eprintln!("{report}");
            panic!("{report}");
        }
        drop(sh);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (fz, elapsed) = worker
        .join()
        .expect("fuzz worker panicked outside a checked call");
    let mut text = format!(
        "parser_robustness[{name}]: {} inputs tried, {} rejected (Err), {} accepted in {:.2} s",
        fz.tried,
        fz.rejected,
        fz.tried - fz.rejected,
        elapsed.as_secs_f64()
    );
    let _ = write!(
        text,
        " ({:.2} s in parser calls); slowest call {:.1} ms ({})",
        fz.in_calls.as_secs_f64(),
        fz.slowest.0.as_secs_f64() * 1e3,
        fz.slowest.1
    );
    for (label, (t, r)) in &fz.per_label {
        let _ = write!(text, "\n    {label}: {t} tried, {r} rejected");
    }
    if fz.cr_messages > 0 {
        let _ = write!(
            text,
            "\n    note: {} error messages contain a carriage return, e.g. {}",
            fz.cr_messages,
            fz.cr_example.as_deref().unwrap_or("")
        );
    }
    eprintln!("{text}");
    let failures = std::mem::take(&mut shared.lock().unwrap().failures);
    if failures.is_empty() {
        return;
    }
    let report = failure_report(name, fz.seed, &failures);
    eprintln!("{report}");
    panic!("{report}");
}

/// An error message naming `path` (the `file: position: message` prefix).
fn names(path: &Path) -> impl Fn(&str) -> bool {
    let p = path.display().to_string();
    move |msg: &str| msg.starts_with(&format!("{p}: "))
}

/// An error message naming a file inside `dir`, or one the input itself names.
fn names_in(dir: &Path, input: &[u8]) -> impl Fn(&str) -> bool {
    let d = dir.display().to_string();
    let text = String::from_utf8_lossy(input).into_owned();
    move |msg: &str| {
        let file = msg.split(": ").next().unwrap_or("");
        !file.is_empty() && (file.starts_with(&d) || text.contains(file))
    }
}

fn any_text(_: &str) -> bool {
    true
}

// ---------------------------------------------------------------------------
// Mutators
// ---------------------------------------------------------------------------

/// Bracket nesting depths tried, deterministically, before the random inputs
/// of every bracketed format (deep nesting is the classic parser stressor).
const LADDER_DEPTHS: [usize; 10] = [4, 8, 12, 16, 24, 32, 64, 128, 256, 1024];
const LADDER_BRACKETS: [(u8, u8); 3] = [(b'[', b']'), (b'{', b'}'), (b'(', b')')];
const LADDER_LEN: usize = 2 * LADDER_DEPTHS.len() * LADDER_BRACKETS.len();

#[derive(Clone, Copy)]
struct Nesting {
    open: u8,
    close: u8,
    depth: usize,
    balanced: bool,
}

/// `v` with `depth` opening brackets inserted after its first bracket of the
/// same kind (else its first bracket, else at the start); when balanced,
/// followed by `1`, as many closing brackets and a comma.
fn nest(v: &[u8], n: Nesting) -> Vec<u8> {
    let at = v
        .iter()
        .position(|&b| b == n.open)
        .or_else(|| v.iter().position(|b| b"[{(".contains(b)))
        .map_or(0, |i| i + 1);
    let mut ins = vec![n.open; n.depth];
    if n.balanced {
        ins.push(b'1');
        ins.extend(std::iter::repeat_n(n.close, n.depth));
        ins.push(b',');
    }
    let mut out = v.to_vec();
    out.splice(at..at, ins);
    out
}

/// Bytes worth inserting: control characters, structure, number syntax, UTF-8.
const BYTES: &[u8] = b"\0\x01\x7f\x80\xff\xc3\xa9\n\r\t \"'[]{}(),:=#-+.eE019af@/\\_";

/// Replacement tokens for numbers.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "127",
    "128",
    "-128",
    "-129",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "5e-324",
    "2.2250738585072014e-308",
    "0.5",
    "-0.5",
    "1.0",
    "1e2",
    "1E+2",
    "3.4028236e38",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "0x1f",
    "0o17",
    "0b1",
    "1_0",
    "+1",
    "01",
    "00",
    ".5",
    "5.",
    "1e",
    "1e+",
    "-",
    "+",
    "--1",
    "",
    "garbage",
    "true",
    "null",
    "\"1\"",
    "[]",
    "{}",
    "[1]",
    "1.5.5",
    "1,5",
    "١",
];

fn number_spans(v: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let starts = v[i].is_ascii_digit()
            || (v[i] == b'-' && v.get(i + 1).is_some_and(|b| b.is_ascii_digit()));
        if starts {
            let s = i;
            i += 1;
            while i < v.len() && (v[i].is_ascii_digit() || matches!(v[i], b'.' | b'e' | b'E')) {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

fn number_token(rng: &mut ChaCha8Rng, old: &[u8]) -> Vec<u8> {
    match rng.random_range(0..8) {
        0..=2 => choose(rng, NUMBERS).as_bytes().to_vec(),
        3 => rng.random::<i64>().to_string().into_bytes(),
        4 => (rng.random::<i32>() >> rng.random_range(0..31))
            .to_string()
            .into_bytes(),
        5 => {
            let f = f64::from_bits(rng.random());
            if rng.random_bool(0.5) {
                format!("{f:e}").into_bytes()
            } else {
                format!("{f}").into_bytes()
            }
        }
        6 => {
            let n = rng.random_range(20..400);
            let d = [b'9', b'1', b'0'][pick(rng, 3)];
            let mut t = vec![d; n];
            if rng.random_bool(0.5) {
                t.insert(0, b'-');
            }
            t
        }
        _ => {
            // A neighbour of the old value.
            let old: i128 = std::str::from_utf8(old)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let new = match rng.random_range(0..5) {
                0 => old + 1,
                1 => old - 1,
                2 => -old,
                3 => old.saturating_mul(1i128 << rng.random_range(1..70)),
                _ => old.saturating_mul(10),
            };
            new.to_string().into_bytes()
        }
    }
}

fn line_bounds(v: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    for (i, &b) in v.iter().enumerate() {
        if b == b'\n' {
            out.push((s, i + 1));
            s = i + 1;
        }
    }
    if s < v.len() {
        out.push((s, v.len()));
    }
    out
}

/// One random byte-level mutation of `v`; `other` is a splice partner and
/// `dict` holds format tokens.
fn mutate_once(rng: &mut ChaCha8Rng, v: &mut Vec<u8>, other: &[u8], dict: &[&str]) {
    let len = v.len();
    match rng.random_range(0..14) {
        0 if len > 0 => {
            let i = pick(rng, len);
            v[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = pick(rng, len);
            v[i] = if rng.random_bool(0.7) {
                *choose(rng, BYTES)
            } else {
                rng.random()
            };
        }
        2 => {
            let i = rng.random_range(0..=len);
            for _ in 0..rng.random_range(1..=4) {
                let b = if rng.random_bool(0.7) {
                    *choose(rng, BYTES)
                } else {
                    rng.random()
                };
                v.insert(i, b);
            }
        }
        3 if len > 0 => {
            let a = pick(rng, len);
            let max = if rng.random_bool(0.8) {
                (len - a).min(8)
            } else {
                len - a
            };
            let n = rng.random_range(1..=max);
            v.drain(a..a + n);
        }
        4 => {
            // Truncation, by length class.
            let cut = match rng.random_range(0..7) {
                0 => 0,
                1 => 1.min(len),
                2 => rng.random_range(0..=len.min(8)),
                3 => rng.random_range(0..=len.min(64)),
                4 => rng.random_range(0..=len / 2),
                5 => rng.random_range(len / 2..=len),
                _ => len.saturating_sub(1),
            };
            v.truncate(cut);
        }
        5 if len > 0 => {
            // Duplicate a chunk, possibly many times.
            let a = pick(rng, len);
            let b = a + rng.random_range(1..=(len - a).min(256));
            let chunk = v[a..b].to_vec();
            let reps = if rng.random_bool(0.8) {
                1
            } else {
                rng.random_range(2..64)
            };
            let at = rng.random_range(0..=len);
            let ins: Vec<u8> = chunk
                .iter()
                .copied()
                .cycle()
                .take(chunk.len() * reps)
                .collect();
            v.splice(at..at, ins);
        }
        6 => {
            let spans = number_spans(v);
            if spans.is_empty() {
                let at = rng.random_range(0..=len);
                let t = choose(rng, NUMBERS).as_bytes().to_vec();
                v.splice(at..at, t);
            } else {
                let (a, b) = *choose(rng, &spans);
                let t = number_token(rng, &v[a..b]);
                v.splice(a..b, t);
            }
        }
        7 => {
            const BR: &[u8] = b"[]{}()<>";
            let spots: Vec<usize> = (0..len).filter(|&i| BR.contains(&v[i])).collect();
            if spots.is_empty() || rng.random_bool(0.1) {
                let at = rng.random_range(0..=len);
                let b = *choose(rng, BR);
                let n = if rng.random_bool(0.9) {
                    1
                } else {
                    rng.random_range(2..300)
                };
                v.splice(at..at, std::iter::repeat_n(b, n));
            } else {
                let i = *choose(rng, &spots);
                match rng.random_range(0..3) {
                    0 => v[i] = *choose(rng, BR),
                    1 => {
                        v.remove(i);
                    }
                    _ => v.insert(i, v[i]),
                }
            }
        }
        8 if !dict.is_empty() => {
            let t = choose(rng, dict).as_bytes().to_vec();
            let at = if rng.random_bool(0.5) {
                rng.random_range(0..=len)
            } else {
                // At a line start.
                let lines = line_bounds(v);
                lines.get(pick(rng, lines.len())).map_or(0, |l| l.0)
            };
            v.splice(at..at, t);
        }
        9 => {
            let lines = line_bounds(v);
            if lines.is_empty() {
                return;
            }
            let (a, b) = *choose(rng, &lines);
            match rng.random_range(0..3) {
                0 => {
                    v.drain(a..b);
                }
                1 => {
                    let l = v[a..b].to_vec();
                    v.splice(a..a, l);
                }
                _ => {
                    let (c, d) = *choose(rng, &lines);
                    if (c, d) != (a, b) {
                        let (x, y) = if a < c {
                            ((a, b), (c, d))
                        } else {
                            ((c, d), (a, b))
                        };
                        let first = v[x.0..x.1].to_vec();
                        let second = v[y.0..y.1].to_vec();
                        v.splice(y.0..y.1, first);
                        v.splice(x.0..x.1, second);
                    }
                }
            }
        }
        10 if !other.is_empty() => {
            let a = rng.random_range(0..=len);
            let b = pick(rng, other.len());
            v.truncate(a);
            v.extend_from_slice(&other[b..]);
        }
        11 => {
            // Replace a quoted string's contents.
            let quotes: Vec<usize> = (0..len).filter(|&i| v[i] == b'"').collect();
            if quotes.len() >= 2 {
                let k = pick(rng, quotes.len() - 1);
                let (a, b) = (quotes[k] + 1, quotes[k + 1]);
                let t: Vec<u8> = match rng.random_range(0..4) {
                    0 => Vec::new(),
                    1 if !dict.is_empty() => choose(rng, dict).as_bytes().to_vec(),
                    2 => "x".repeat(rng.random_range(1..2000)).into_bytes(),
                    _ => [
                        "\\n", "\\u0000", "\\ud800", "é", "\\\"", "a\\nb", "../x.txt",
                    ][pick(rng, 7)]
                    .as_bytes()
                    .to_vec(),
                };
                v.splice(a..b, t);
            }
        }
        12 if len > 1 => {
            let a = pick(rng, len);
            let b = pick(rng, len);
            v.swap(a, b);
        }
        _ => {
            let at = rng.random_range(0..=len);
            v.insert(at, rng.random());
        }
    }
}

/// `seed` with 1..~12 byte-level mutations.
fn mutate(rng: &mut ChaCha8Rng, seed: &[u8], other: &[u8], dict: &[&str]) -> Vec<u8> {
    let mut v = seed.to_vec();
    mutate_bytes(rng, &mut v, other, dict);
    v
}

fn mutate_bytes(rng: &mut ChaCha8Rng, v: &mut Vec<u8>, other: &[u8], dict: &[&str]) {
    let rounds = match rng.random_range(0..10) {
        0..=4 => 1,
        5..=7 => 2,
        8 => 3,
        _ => rng.random_range(4..12),
    };
    for _ in 0..rounds {
        mutate_once(rng, v, other, dict);
        v.truncate(MAX_LEN);
    }
}

// --- structure-aware mutation of JSON / TOML values ------------------------

fn json_pointers(v: &Value, prefix: &str, out: &mut Vec<String>) {
    out.push(prefix.to_string());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                json_pointers(x, &format!("{prefix}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                json_pointers(x, &format!("{prefix}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// A value worth substituting; `no_null` for TOML (which has no null).
fn interesting_value(rng: &mut ChaCha8Rng, strings: &[&str], no_null: bool) -> Value {
    const INTS: &[i64] = &[
        0,
        1,
        -1,
        2,
        3,
        4,
        30,
        31,
        -31,
        -32,
        127,
        128,
        -128,
        -129,
        255,
        256,
        65_536,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        u32::MAX as i64,
        1 << 53,
        i64::MAX,
        i64::MIN,
    ];
    const FLOATS: &[f64] = &[
        0.5,
        -0.0,
        1e308,
        -1e308,
        5e-324,
        1e-310,
        3.0,
        -2.5,
        f64::MAX,
        1.0e-45,
        3.4028235e38,
        1e39,
    ];
    match rng.random_range(0..12) {
        0..=3 => Value::from(*choose(rng, INTS)),
        4 => Value::from(u64::MAX - rng.random_range(0..2)),
        5 => Value::from(*choose(rng, FLOATS)),
        6 => Value::from(rng.random::<i64>() >> rng.random_range(0..63)),
        7 if !strings.is_empty() => Value::from(*choose(rng, strings)),
        8 => Value::from(rng.random_bool(0.5)),
        9 if !no_null => Value::Null,
        10 => {
            let n = rng.random_range(0..6);
            Value::Array((0..n).map(|_| Value::from(*choose(rng, INTS))).collect())
        }
        _ => match rng.random_range(0..4) {
            0 => Value::Array(Vec::new()),
            1 => serde_json::json!({}),
            2 => serde_json::json!([[1, 2], [3]]),
            _ => Value::from("x\ny"),
        },
    }
}

/// 1..4 value-level edits of a JSON document: replace, drop or add keys,
/// resize arrays, wrap in arrays, tweak numbers.
fn mutate_value(
    rng: &mut ChaCha8Rng,
    v: &mut Value,
    strings: &[&str],
    keys: &[&str],
    no_null: bool,
) {
    for _ in 0..rng.random_range(1..=4) {
        let mut ptrs = Vec::new();
        json_pointers(v, "", &mut ptrs);
        let p = choose(rng, &ptrs).clone();
        let Some(node) = v.pointer_mut(&p) else {
            continue;
        };
        match rng.random_range(0..8) {
            0..=2 => *node = interesting_value(rng, strings, no_null),
            3 => {
                if let Value::Array(a) = node {
                    match rng.random_range(0..4) {
                        0 => {
                            let n = pick(rng, a.len() + 1);
                            a.truncate(n);
                        }
                        1 if !a.is_empty() => {
                            let x = a[pick(rng, a.len())].clone();
                            for _ in 0..rng.random_range(1..300) {
                                a.push(x.clone());
                            }
                        }
                        2 if !a.is_empty() => {
                            let i = pick(rng, a.len());
                            a.remove(i);
                        }
                        _ => a.clear(),
                    }
                } else {
                    *node = interesting_value(rng, strings, no_null);
                }
            }
            4 => {
                let inner = node.take();
                let depth = if rng.random_bool(0.9) {
                    1
                } else {
                    rng.random_range(2..200)
                };
                let mut w = inner;
                for _ in 0..depth {
                    w = Value::Array(vec![w]);
                }
                *node = w;
            }
            5 => {
                if let Value::Number(n) = node {
                    let x = n.as_i64().unwrap_or(0) as i128;
                    let y = match rng.random_range(0..4) {
                        0 => x + 1,
                        1 => x - 1,
                        2 => -x,
                        _ => x * 2,
                    };
                    *node = i64::try_from(y).map_or_else(|_| Value::from(y as f64), Value::from);
                } else if let Value::String(s) = node {
                    const SUFFIXES: [&str; 5] = [".txt", ".npy", "\n", "x", "\u{0}"];
                    s.push_str(SUFFIXES[pick(rng, SUFFIXES.len())]);
                }
            }
            6 => {
                if let Value::Object(m) = node {
                    if !m.is_empty() && rng.random_bool(0.5) {
                        let k = m.keys().nth(pick(rng, m.len())).unwrap().clone();
                        m.remove(&k);
                    } else {
                        let k = if rng.random_bool(0.8) && !keys.is_empty() {
                            choose(rng, keys).to_string()
                        } else {
                            ["unknown", "x\ny", "", "Op", " op"][pick(rng, 5)].to_string()
                        };
                        m.insert(k, interesting_value(rng, strings, no_null));
                    }
                }
            }
            _ => {
                if let Value::Object(m) = node {
                    if !m.is_empty() {
                        // Rename a key (a typo / unknown field).
                        let k = m.keys().nth(pick(rng, m.len())).unwrap().clone();
                        let x = m.remove(&k).unwrap();
                        m.insert(format!("{k}_"), x);
                    }
                } else if !strings.is_empty() {
                    *node = Value::from(*choose(rng, strings));
                }
            }
        }
    }
}

/// A JSON input: value edits (re-serialised), byte edits, or both.
fn mutate_json(
    rng: &mut ChaCha8Rng,
    seed: &str,
    other: &str,
    strings: &[&str],
    keys: &[&str],
    dict: &[&str],
) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let mut v: Value = serde_json::from_str(seed).expect("JSON seed");
        mutate_value(rng, &mut v, strings, keys, false);
        let mut out = if rng.random_bool(0.5) {
            serde_json::to_vec(&v).unwrap()
        } else {
            serde_json::to_vec_pretty(&v).unwrap()
        };
        if rng.random_bool(0.25) {
            mutate_bytes(rng, &mut out, other.as_bytes(), dict);
        }
        out.truncate(MAX_LEN);
        out
    } else {
        mutate(rng, seed.as_bytes(), other.as_bytes(), dict)
    }
}

/// A TOML input: value edits through serde_json (re-serialised as TOML), or byte edits.
fn mutate_toml(
    rng: &mut ChaCha8Rng,
    seed: &str,
    other: &str,
    strings: &[&str],
    keys: &[&str],
    dict: &[&str],
) -> Vec<u8> {
    if rng.random_bool(0.5) {
        let table: toml::Table = toml::from_str(seed).expect("TOML seed");
        let mut v = serde_json::to_value(&table).expect("TOML as JSON");
        mutate_value(rng, &mut v, strings, keys, true);
        if let Ok(text) = toml::to_string(&v) {
            let mut out = text.into_bytes();
            if rng.random_bool(0.25) {
                mutate_bytes(rng, &mut out, other.as_bytes(), dict);
            }
            out.truncate(MAX_LEN);
            return out;
        }
    }
    mutate(rng, seed.as_bytes(), other.as_bytes(), dict)
}

/// Replaces a file by unlinking it first: rewriting a file in place (truncate
/// to zero) makes ext4 flush it on close, ~3 ms a write.
fn write(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// The first line of a mutated word: the hex callers only pass single lines.
fn first_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.split('\n').next().unwrap_or("").to_string()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn read_string(path: &Path) -> String {
    String::from_utf8(read(path)).expect("UTF-8 seed")
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

const CASE_KEYS: &[&str] = &[
    "source",
    "op",
    "input_shape",
    "filter_shape",
    "output_shape",
    "stride",
    "dilation",
    "padding",
    "depth_multiplier",
    "input_zero_point",
    "filter_zero_point",
    "output_zero_point",
    "input_scale",
    "filter_scales",
    "output_scale",
    "act_min",
    "act_max",
    "multiplier",
    "shift",
    "rounding",
    "input_dtype",
    "output_dtype",
    "input",
    "filter",
    "bias",
    "bias_float",
    "output",
];

const CASE_STRINGS: &[&str] = &[
    "conv2d",
    "depthwise_conv2d",
    "fully_connected",
    "Conv2D",
    "double",
    "single",
    "float64",
    "fbgemm",
    "onednn",
    "int8",
    "uint8",
    "int16",
    "input.txt",
    "weights.txt",
    "bias.txt",
    "m0.txt",
    "shift.txt",
    "expected_output.txt",
    "missing.txt",
    "adir.txt",
    "input.npy",
    "case.toml",
    "INPUT.TXT",
    ".txt",
    "",
    "x\ny",
];

const JSON_DICT: &[&str] = &[
    "\"op\": \"depthwise_conv2d\",",
    "\"rounding\": \"single\",",
    "\"rounding\": \"fbgemm\",",
    "\"rounding\": \"float64\",",
    "\"input_dtype\": \"uint8\",",
    "\"output_dtype\": \"uint8\",",
    "\"bias_float\": [1.5, -2],",
    "\"multiplier\": null,",
    "\"shift\": [30],",
    "\"depth_multiplier\": 2,",
    "\"groups\": 2,",
    "\"groups\": 0,",
    "\"padding\": [1, 1, 1, 1],",
    "\"stride\": [2, 2],",
    "\"dilation\": [3, 3],",
    "\"filter_scales\": [0],",
    "\"unknown\": 1,",
    "\"input\": \"input.txt\",",
    "null",
    "true",
    "\"x\"",
    "[[[[",
    "]]]]",
    "{",
    "}",
    ",",
    ":",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "1e999",
    "-0",
];

fn json_fixture(name: &str) -> String {
    read_string(&Path::new(FIXTURES).join("tflite").join(name))
}

#[test]
fn fuzz_qcase_json() {
    let seeds: Vec<String> = [
        "mlp_d_op1_fully_connected.json",
        "edited_fc_lshift_op0_fully_connected.json",
        "edited_lshift_op0_conv2d.json",
        "edited_probe_dw_op0_depthwise_conv2d.json",
        "edited_probe_conv_op0_conv2d.json",
    ]
    .iter()
    .map(|n| json_fixture(n))
    .collect();
    let virt = PathBuf::from("fuzz-input/qcase.json");
    for s in &seeds {
        Case::from_json_str(&virt, s).expect("JSON seed is a valid case");
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mutated.json");
    run_format("qcase-json", move |fz| {
        let s = &seeds[pick(&mut fz.rng, seeds.len())];
        let o = &seeds[pick(&mut fz.rng, seeds.len())];
        let input = match fz.ladder() {
            Some(n) => nest(s.as_bytes(), n),
            None => mutate_json(&mut fz.rng, s, o, CASE_STRINGS, CASE_KEYS, JSON_DICT),
        };
        if fz.rng.random_bool(0.1) {
            // Raw bytes through the file reader (UTF-8 checks included).
            write(&file, &input);
            fz.check("Case::read(.json)", &input, &names(&file), || {
                Case::read(&file)
            });
        } else {
            let text = String::from_utf8_lossy(&input).into_owned();
            fz.check("Case::from_json_str", &input, &names(&virt), || {
                Case::from_json_str(&virt, &text)
            });
        }
        let _ = &tmp;
    });
}

const TOML_DICT: &[&str] = &[
    "input = \"input.txt\"\n",
    "filter = \"bias.txt\"\n",
    "multiplier = \"shift.txt\"\n",
    "bias_float = \"bias.txt\"\n",
    "rounding = \"fbgemm\"\n",
    "input_dtype = \"uint8\"\n",
    "output = \"adir.txt\"\n",
    "bias = \"missing.txt\"\n",
    "[table]\n",
    "[[arr]]\n",
    "key = ",
    "\"\"\"",
    "'''",
    "= =",
    "1979-05-27T07:32:00Z",
    "inf",
    "nan",
    "0x7fffffff",
    "0o777",
    "1_000",
    "\\u0000",
    "#",
    "\n",
    "\"input.npy\"",
    "[1, [2, [3]]]",
    "{ a = 1 }",
];

const TXT_DICT: &[&str] = &[
    "[",
    "]",
    ",",
    "#",
    "# comment\n",
    "\n",
    " ",
    "\r\n",
    "\u{feff}",
    "+",
    "-",
    ".5",
    "1e3",
    "nan",
    "inf",
    "-inf",
    "9223372036854775808",
    "-9223372036854775809",
    "0x10",
    "[[1, 2], [3]]",
    "[,]",
    "1,,2",
    "é",
    "\t",
    "1 2 3\n",
    "[1][2]",
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let bytes = read(&e.path());
        write(&to.join(e.file_name()), &bytes);
    }
}

#[test]
fn fuzz_qcase_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    copy_dir(&Path::new(FIXTURES).join("seed_style"), &dir);
    std::fs::create_dir(dir.join("adir.txt")).unwrap();
    Case::read(&dir).expect("seed-style case directory reads");
    let toml_seed = read_string(&dir.join("case.toml"));
    let txts = [
        "input.txt",
        "weights.txt",
        "bias.txt",
        "m0.txt",
        "shift.txt",
        "expected_output.txt",
    ];
    let txt_seeds: Vec<Vec<u8>> = txts.iter().map(|n| read(&dir.join(n))).collect();
    run_format("qcase-dir", move |fz| {
        let names_dir = |input: &[u8]| names_in(&dir, input);
        let ladder = fz.ladder();
        if ladder.is_some() || fz.rng.random_bool(0.5) {
            let path = dir.join("case.toml");
            let input = match ladder {
                Some(n) => nest(toml_seed.as_bytes(), n),
                None => mutate_toml(
                    &mut fz.rng,
                    &toml_seed,
                    "",
                    CASE_STRINGS,
                    CASE_KEYS,
                    TOML_DICT,
                ),
            };
            write(&path, &input);
            fz.check("case.toml", &input, &names_dir(&input), || Case::read(&dir));
            write(&path, toml_seed.as_bytes());
        } else {
            let i = pick(&mut fz.rng, txts.len());
            let j = pick(&mut fz.rng, txts.len());
            let path = dir.join(txts[i]);
            let input = mutate(&mut fz.rng, &txt_seeds[i], &txt_seeds[j], TXT_DICT);
            write(&path, &input);
            fz.check(
                &format!("{} (txt array)", txts[i]),
                &input,
                &names_dir(&input),
                || Case::read(&dir),
            );
            write(&path, &txt_seeds[i]);
        }
        let _ = &tmp;
    });
}

#[test]
fn fuzz_text_arrays() {
    let dir = Path::new(FIXTURES).join("seed_style");
    let mut seeds: Vec<Vec<u8>> = [
        "input.txt",
        "weights.txt",
        "bias.txt",
        "m0.txt",
        "shift.txt",
    ]
    .iter()
    .map(|n| read(&dir.join(n)))
    .collect();
    for s in [
        "[[1, 2], [3, 4],]\n",
        "# head\n5 # five\n\n6",
        "1\r\n-2\r\n+3\r\n",
        "[0.5, 1e-3]\n2\n",
        "[0.005894271191209555, 0.001144446898251772,\n 0.0028638350777328014]\n",
        "\u{feff}1, 2, 3\n",
        "[1 2][3]\n4 [5]\n",
        "",
    ] {
        seeds.push(s.as_bytes().to_vec());
    }
    let path = PathBuf::from("fuzz-input/array.txt");
    run_format("textarray", move |fz| {
        let s = &seeds[pick(&mut fz.rng, seeds.len())];
        let o = &seeds[pick(&mut fz.rng, seeds.len())];
        let input = match fz.ladder() {
            Some(n) => nest(s, n),
            None => mutate(&mut fz.rng, s, o, TXT_DICT),
        };
        let text = String::from_utf8_lossy(&input).into_owned();
        fz.check("parse_int_array", &input, &names(&path), || {
            qmac::formats::textarray::parse_int_array(&path, &text)
        });
        fz.check("parse_float_array", &input, &names(&path), || {
            qmac::formats::textarray::parse_float_array(&path, &text)
        });
    });
}

// --- .npy -------------------------------------------------------------------

/// A v1.0 `.npy` file split into its header dictionary and data.
struct Npy {
    dict: String,
    data: Vec<u8>,
}

fn split_npy(bytes: &[u8]) -> Npy {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "v1.0 .npy");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let dict = std::str::from_utf8(&bytes[10..10 + hlen])
        .unwrap()
        .trim_end()
        .to_string();
    Npy {
        dict,
        data: bytes[10 + hlen..].to_vec(),
    }
}

/// Assembles a `.npy` file; `version` 1 uses a u16 header length, 2 / 3 a u32.
fn assemble_npy(dict: &[u8], data: &[u8], version: u8) -> Vec<u8> {
    let wide = version != 1 || dict.len() > 60_000;
    let prefix = if wide { 12 } else { 10 };
    let mut header = dict.to_vec();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.push(if wide && version == 1 { 2 } else { version });
    out.push(0);
    if wide {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

const DESCRS: &[&str] = &[
    "'<i1'",
    "'|i1'",
    "'i1'",
    "'|u1'",
    "'<i2'",
    "'>i2'",
    "'<u2'",
    "'<i4'",
    "'>i4'",
    "'<u4'",
    "'<i8'",
    "'>i8'",
    "'<u8'",
    "'<f4'",
    "'>f4'",
    "'<f8'",
    "'>f8'",
    "'<f2'",
    "'|b1'",
    "'<c8'",
    "'|S4'",
    "'<U1'",
    "'|O'",
    "'|V8'",
    "'<i16'",
    "'<i0'",
    "'<i3'",
    "'<i'",
    "'b'",
    "'B'",
    "''",
    "'<M8[D]'",
    "'=i4'",
    "[('a', '<i4'), ('b', '<f8')]",
    "None",
    "1",
    "'<i99999999999999999999'",
];

const SHAPES: &[&str] = &[
    "()",
    "(0,)",
    "(1,)",
    "(2,)",
    "(4,)",
    "(8,)",
    "(1, 1, 1, 4)",
    "(2, 1, 1, 4)",
    "(1, 1, 1, 2)",
    "(4, 2)",
    "(2, 4)",
    "(2, 2)",
    "(1, 4, 1, 1)",
    "(4, 1, 1, 1)",
    "(0, 4)",
    "(18446744073709551615,)",
    "(18446744073709551616,)",
    "(9223372036854775807,)",
    "(-1,)",
    "(4294967296, 4294967296)",
    "(3037000500, 3037000500)",
    "(0, 18446744073709551615)",
    "(0, 4611686018427387904, 4)",
    "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4)",
    "[4]",
    "4",
    "(4.0,)",
    "('4',)",
    "(True,)",
    "(,)",
    "(4,,)",
    "((4,),)",
];

const NPY_DICT: &[&str] = &[
    // Nesting, the classic parser stressor.
    "{{{{{{{{",
    "((((((((",
    "[[[[[[[[",
    "'descr': '<i4', ",
    "'fortran_order': True, ",
    "'shape': (4,), ",
    "'extra': 1, ",
    "{",
    "}",
    "(",
    ")",
    ",",
    "'",
    "\"",
    "\\x",
    "b'x'",
    "u'x'",
    "0x10",
    "1e5",
    "-",
    "True",
    "None",
];

/// Replaces the value of `key` in an .npy header dict (up to the next `, '` or `}`).
fn replace_npy_value(dict: &str, key: &str, new: &str) -> Option<String> {
    let k = format!("'{key}': ");
    let start = dict.find(&k)? + k.len();
    let rest = &dict[start..];
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)?
    } else if rest.starts_with('[') {
        rest.find(']').map(|i| i + 1)?
    } else {
        rest.find([',', '}'])?
    };
    Some(format!("{}{new}{}", &dict[..start], &rest[end..]))
}

/// The data length an .npy header dict claims (element count × item size),
/// when it is small enough to write.
fn npy_data_len(dict: &str) -> Option<usize> {
    let d = dict.find("'descr': '")? + "'descr': '".len();
    let descr = &dict[d..d + dict[d..].find('\'')?];
    let digits: String = descr.chars().filter(|c| c.is_ascii_digit()).collect();
    let size: usize = if digits.is_empty() {
        1
    } else {
        digits.parse().ok()?
    };
    let s = dict.find("'shape': (")? + "'shape': (".len();
    let shape = &dict[s..s + dict[s..].find(')')?];
    let mut count = 1usize;
    for dim in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        count = count.checked_mul(dim.parse().ok()?)?;
    }
    count.checked_mul(size).filter(|&n| n <= MAX_LEN)
}

fn mutate_npy(rng: &mut ChaCha8Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    if rng.random_bool(0.35) {
        return mutate(rng, seed, other, NPY_DICT);
    }
    let Npy { mut dict, mut data } = split_npy(seed);
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..7) {
            0 => {
                let d = *choose(rng, DESCRS);
                dict = replace_npy_value(&dict, "descr", d).unwrap_or(dict);
            }
            1 => {
                let s = *choose(rng, SHAPES);
                dict = replace_npy_value(&dict, "shape", s).unwrap_or(dict);
                if rng.random_bool(0.6) {
                    // Keep the file consistent: as much data as the header claims.
                    if let Some(n) = npy_data_len(&dict) {
                        let fill = rng.random::<u8>() & 0x3f;
                        data.resize(n, fill);
                    }
                }
            }
            2 => {
                let f = *choose(rng, &["True", "False", "1", "None", "'False'"]);
                dict = replace_npy_value(&dict, "fortran_order", f).unwrap_or(dict);
            }
            3 => {
                let mut b = dict.into_bytes();
                mutate_bytes(rng, &mut b, &[], NPY_DICT);
                dict = String::from_utf8_lossy(&b).into_owned();
            }
            4 => {
                // Data: too short, too long, out-of-range values.
                match rng.random_range(0..4) {
                    0 => {
                        let n = pick(rng, data.len() + 1);
                        data.truncate(n);
                    }
                    1 => {
                        for _ in 0..rng.random_range(1..17) {
                            data.push(rng.random());
                        }
                    }
                    _ => {
                        for _ in 0..rng.random_range(1..4) {
                            if !data.is_empty() {
                                let i = pick(rng, data.len());
                                data[i] = *choose(rng, &[0x80, 0xff, 0x7f, 0x00, 0x01, 0xfe]);
                            }
                        }
                    }
                }
            }
            5 => {
                let version = *choose(rng, &[1u8, 2, 3, 0, 4, 255]);
                let mut out = assemble_npy(dict.as_bytes(), &data, version);
                mutate_once(rng, &mut out, other, NPY_DICT);
                return out;
            }
            _ => {
                // A lying header length.
                let mut out = assemble_npy(dict.as_bytes(), &data, 1);
                let hlen = [0u16, 1, 2, 64, 117, 118, 200, u16::MAX][pick(rng, 8)];
                out[8..10].copy_from_slice(&hlen.to_le_bytes());
                return out;
            }
        }
    }
    let version = if rng.random_bool(0.85) { 1 } else { 2 };
    assemble_npy(dict.as_bytes(), &data, version)
}

fn write_npy<A, D>(path: &Path, a: &ndarray::ArrayBase<A, D>)
where
    A: ndarray::Data,
    A::Elem: ndarray_npy::WritableElement,
    D: ndarray::Dimension,
{
    use ndarray_npy::WriteNpyExt;
    let f = std::fs::File::create(path).unwrap();
    a.write_npy(std::io::BufWriter::new(f)).unwrap();
}

#[test]
fn fuzz_npy_arrays() {
    use ndarray::{arr1, Array, ShapeBuilder};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // Case A: scales-derived multipliers, int8 activations.
    write_npy(
        &dir.join("input.npy"),
        &Array::from_shape_vec((1, 1, 1, 4), vec![1i8, -2, 3, -128]).unwrap(),
    );
    write_npy(
        &dir.join("filter.npy"),
        &Array::from_shape_vec((2, 1, 1, 4).f(), vec![1i16, 2, 3, 4, -5, 6, -7, 127]).unwrap(),
    );
    write_npy(&dir.join("bias.npy"), &arr1(&[100i32, -100]));
    write_npy(
        &dir.join("output.npy"),
        &Array::from_shape_vec((1, 1, 1, 2), vec![3i64, -4]).unwrap(),
    );
    write_npy(&dir.join("filter_scales.npy"), &arr1(&[0.01f32, 0.02]));
    write(
        &dir.join("case.toml"),
        br#"op = "fully_connected"
input_shape = [1, 1, 1, 4]
filter_shape = [2, 1, 1, 4]
output_shape = [1, 1, 1, 2]
input_zero_point = 0
output_zero_point = 0
input_scale = 0.5
filter_scales = "filter_scales.npy"
output_scale = 0.25
input = "input.npy"
filter = "filter.npy"
bias = "bias.npy"
output = "output.npy"
"#,
    );
    // Case B: explicit multiplier / shift, uint8, fbgemm with a float bias.
    write_npy(&dir.join("input_u8.npy"), &arr1(&[0u8, 255, 7, 128]));
    write_npy(
        &dir.join("filter_flat.npy"),
        &arr1(&[1i8, 2, 3, 4, 5, 6, 7, 8]),
    );
    write_npy(&dir.join("bias_i64.npy"), &arr1(&[5i64, -6]));
    write_npy(&dir.join("bias_float.npy"), &arr1(&[5.25f64, -6.5]));
    write_npy(
        &dir.join("multiplier.npy"),
        &arr1(&[1_073_741_824u64, 2_147_483_647]),
    );
    write_npy(&dir.join("shift.npy"), &arr1(&[-3i16, 2]));
    write_npy(&dir.join("filter_scales_f64.npy"), &arr1(&[0.5f64, 0.25]));
    write_npy(
        &dir.join("output_u16.npy"),
        &Array::from_shape_vec((1, 1, 1, 2), vec![0u16, 255]).unwrap(),
    );
    write_npy(&dir.join("scale_u32.npy"), &arr1(&[1u32, 2]));
    write(
        &dir.join("case_b.toml"),
        br#"op = "fully_connected"
input_shape = [1, 1, 1, 4]
filter_shape = [2, 1, 1, 4]
output_shape = [1, 1, 1, 2]
input_zero_point = 3
output_zero_point = 128
input_dtype = "uint8"
output_dtype = "uint8"
rounding = "fbgemm"
input_scale = 0.5
filter_scales = "filter_scales_f64.npy"
output_scale = 0.25
multiplier = "multiplier.npy"
shift = "shift.npy"
input = "input_u8.npy"
filter = "filter_flat.npy"
bias = "bias_i64.npy"
bias_float = "bias_float.npy"
output = "output_u16.npy"
"#,
    );
    // Case C: integer filter scales (int → float conversion path).
    write(
        &dir.join("case_c.toml"),
        br#"op = "fully_connected"
input_shape = [1, 1, 1, 4]
filter_shape = [2, 1, 1, 4]
output_shape = [1, 1, 1, 2]
input_zero_point = 0
output_zero_point = 0
input_scale = 0.001
filter_scales = "scale_u32.npy"
output_scale = 0.5
rounding = "single"
input = "input.npy"
filter = "filter_flat.npy"
"#,
    );
    let case_a = dir.clone();
    let case_b = dir.join("case_b.toml");
    let case_c = dir.join("case_c.toml");
    for c in [&case_a, &case_b, &case_c] {
        Case::read(c).unwrap_or_else(|e| panic!("seed case {} does not read: {e}", c.display()));
    }
    // Which case files read each array.
    let files: Vec<(&str, Vec<PathBuf>)> = vec![
        ("input.npy", vec![case_a.clone(), case_c.clone()]),
        ("filter.npy", vec![case_a.clone()]),
        ("bias.npy", vec![case_a.clone()]),
        ("output.npy", vec![case_a.clone()]),
        ("filter_scales.npy", vec![case_a.clone()]),
        ("input_u8.npy", vec![case_b.clone()]),
        ("filter_flat.npy", vec![case_b.clone(), case_c.clone()]),
        ("bias_i64.npy", vec![case_b.clone()]),
        ("bias_float.npy", vec![case_b.clone()]),
        ("multiplier.npy", vec![case_b.clone()]),
        ("shift.npy", vec![case_b.clone()]),
        ("filter_scales_f64.npy", vec![case_b.clone()]),
        ("output_u16.npy", vec![case_b.clone()]),
        ("scale_u32.npy", vec![case_c.clone()]),
    ];
    let seeds: Vec<Vec<u8>> = files.iter().map(|(n, _)| read(&dir.join(n))).collect();
    run_format("npy", move |fz| {
        let i = pick(&mut fz.rng, files.len());
        let j = pick(&mut fz.rng, files.len());
        let (name, readers) = &files[i];
        let path = dir.join(name);
        let input = match fz.ladder() {
            Some(n) => {
                let npy = split_npy(&seeds[i]);
                assemble_npy(&nest(npy.dict.as_bytes(), n), &npy.data, 1)
            }
            None => mutate_npy(&mut fz.rng, &seeds[i], &seeds[j]),
        };
        write(&path, &input);
        let case = &readers[pick(&mut fz.rng, readers.len())];
        fz.check(name, &input, &names_in(&dir, b""), || Case::read(case));
        write(&path, &seeds[i]);
        let _ = &tmp;
    });
}

// --- hex words, hex files, vector bundles -----------------------------------

/// Writes a vector bundle with the qmac binary.
fn make_bundle(dir: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qmac"))
        .arg("vectors")
        .arg("--out")
        .arg(dir)
        .args(["--fuzz-seed", "1", "--count", "20", "--lanes", "2"])
        .output()
        .expect("run qmac vectors");
    assert!(
        out.status.success(),
        "qmac vectors failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const HEX_FILES: [(&str, u32); 4] = [
    ("program.hex", 32),
    ("cfg.hex", 48),
    ("beats.hex", 2 + 16 * 2),
    ("expected.hex", 41 * 2),
];

const HEX_DICT: &[&str] = &[
    "//",
    "// comment\n",
    "@0\n",
    "@",
    "\r",
    "\n",
    "0",
    "f",
    "F",
    "g",
    "x",
    " ",
    "\t",
    "-1",
    "0x",
    "é",
];

/// A valid `bits`-wide word: ⌈bits/4⌉ lowercase digits, nothing above the width.
fn random_word(rng: &mut ChaCha8Rng, bits: u32) -> String {
    let d = bits.div_ceil(4);
    let top_bits = bits - 4 * (d - 1);
    let mut s = String::new();
    for i in 0..d {
        let lim = if i == 0 { 1u32 << top_bits } else { 16 };
        let _ = write!(s, "{:x}", rng.random_range(0..lim));
    }
    s
}

/// Hex-aware edits: replace / drop / duplicate data lines, change case, CRLF.
fn mutate_hex(rng: &mut ChaCha8Rng, seed: &[u8], other: &[u8], bits: u32) -> Vec<u8> {
    if rng.random_bool(0.5) {
        return mutate(rng, seed, other, HEX_DICT);
    }
    let text = String::from_utf8_lossy(seed);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let data: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].starts_with("//"))
        .collect();
    if let Some(&i) = data.get(pick(rng, data.len())) {
        match rng.random_range(0..6) {
            0 | 1 => {
                lines[i] = if bits == 32 && rng.random_bool(0.4) {
                    ["00000000", "80000000", "7fffffff", "ffffffff", "00000001"][pick(rng, 5)]
                        .to_string()
                } else {
                    random_word(rng, bits)
                }
            }
            2 => {
                lines.remove(i);
            }
            3 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            4 => lines[i] = lines[i].to_uppercase(),
            _ => lines[i] = random_word(rng, bits + 4),
        }
    }
    let mut out = lines.join("\n").into_bytes();
    match rng.random_range(0..8) {
        0 => {}
        1 => out.extend_from_slice(b"\r\n"),
        _ => out.push(b'\n'),
    }
    out
}

#[test]
fn fuzz_hex_words_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    make_bundle(&bundle);
    let files: Vec<(Vec<u8>, u32)> = HEX_FILES
        .iter()
        .map(|&(n, bits)| {
            let p = bundle.join(n);
            qmac::formats::hex::read_words(&p, bits).expect("bundle hex file reads");
            (read(&p), bits)
        })
        .collect();
    // Words of each file, with their width.
    let words: Vec<(String, u32)> = files
        .iter()
        .flat_map(|(bytes, bits)| {
            String::from_utf8_lossy(bytes)
                .lines()
                .filter(|l| !l.starts_with("//"))
                .map(|l| (l.to_string(), *bits))
                .collect::<Vec<_>>()
        })
        .collect();
    let file = tmp.path().join("mutated.hex");
    run_format("hex", move |fz| {
        let rng = &mut fz.rng;
        // parse_word: widths 1..=64.
        let bits = rng.random_range(1..=64u32);
        let seed = if rng.random_bool(0.5) {
            qmac::formats::hex::format_word(rng.random(), bits)
        } else {
            words[pick(rng, words.len())].0.clone()
        };
        let bits = if rng.random_bool(0.7) {
            bits
        } else {
            rng.random_range(1..=64)
        };
        let s = first_line(&mutate(rng, seed.as_bytes(), b"", HEX_DICT));
        fz.check("hex::parse_word", s.as_bytes(), &any_text, || {
            qmac::formats::hex::parse_word(&s, bits)
        });

        // parse_wide: any width.
        let rng = &mut fz.rng;
        let (seed, bits) = if rng.random_bool(0.5) {
            words[pick(rng, words.len())].clone()
        } else {
            let b = rng.random_range(1..=3000u32);
            (random_word(rng, b), b)
        };
        let bits = match rng.random_range(0..10) {
            0..=6 => bits,
            7 => bits + 1,
            8 => bits.saturating_sub(1).max(1),
            _ => rng.random_range(1..=4096),
        };
        let s = first_line(&mutate(rng, seed.as_bytes(), b"", HEX_DICT));
        fz.check("hex::parse_wide", s.as_bytes(), &any_text, || {
            qmac::formats::hex::parse_wide(&s, bits)
        });

        // read_words on a mutated file.
        let rng = &mut fz.rng;
        let i = pick(rng, files.len());
        let j = pick(rng, files.len());
        let (seed, bits) = &files[i];
        let input = mutate_hex(rng, seed, &files[j].0, *bits);
        let bits = match rng.random_range(0..10) {
            0..=7 => *bits,
            8 => bits + 4,
            _ => rng.random_range(1..=3000),
        };
        write(&file, &input);
        fz.check("hex::read_words", &input, &names(&file), || {
            qmac::formats::hex::read_words(&file, bits)
        });
        let _ = &tmp;
    });
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const MANIFEST_KEYS: &[&str] = &[
    "generator",
    "source",
    "dut",
    "counts",
    "files",
    "name",
    "version",
    "git_revision",
    "command",
    "kind",
    "names",
    "seed",
    "top",
    "lanes",
    "mult_w",
    "latency",
    "rtl_sha256",
    "rounding",
    "input_signedness",
    "program_segments",
    "cfg_writes",
    "beats",
    "outputs",
    "width",
    "depth",
    "sha256",
];

const MANIFEST_STRINGS: &[&str] = &[
    "program.hex",
    "cfg.hex",
    "beats.hex",
    "expected.hex",
    "manifest.toml",
    "double",
    "single",
    "qmac_top",
    "",
    "x\ny",
];

#[test]
fn fuzz_vector_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    make_bundle(&dir);
    qmac::verify::vectors::check(&dir).expect("fresh bundle checks");
    let names_list = [
        "manifest.toml",
        "SHA256SUMS",
        "program.hex",
        "cfg.hex",
        "beats.hex",
        "expected.hex",
    ];
    let orig: Vec<Vec<u8>> = names_list.iter().map(|n| read(&dir.join(n))).collect();
    let manifest = String::from_utf8(orig[0].clone()).unwrap();
    let sums = String::from_utf8(orig[1].clone()).unwrap();
    run_format("vectors", move |fz| {
        let ladder = fz.ladder();
        let i = if ladder.is_some() {
            0
        } else {
            pick(&mut fz.rng, names_list.len())
        };
        let j = pick(&mut fz.rng, names_list.len());
        let name = names_list[i];
        let input = match i {
            0 if ladder.is_some() => nest(manifest.as_bytes(), ladder.unwrap()),
            0 => mutate_toml(
                &mut fz.rng,
                &manifest,
                &sums,
                MANIFEST_STRINGS,
                MANIFEST_KEYS,
                TOML_DICT,
            ),
            1 => mutate(&mut fz.rng, &orig[1], &orig[j], HEX_DICT),
            _ => mutate_hex(&mut fz.rng, &orig[i], &orig[j], HEX_FILES[i - 2].1),
        };
        write(&dir.join(name), &input);
        // Half the time, fix the checksums up so the deeper checks run.
        let fixed = i != 1 && fz.rng.random_bool(0.5);
        if fixed {
            let mut m = manifest.clone();
            let mut s = sums.clone();
            if i >= 2 {
                let old = sha256_hex(&orig[i]);
                let new = sha256_hex(&input);
                m = m.replace(&old, &new);
                s = s.replace(&old, &new);
                write(&dir.join("manifest.toml"), m.as_bytes());
            } else {
                m = String::from_utf8_lossy(&input).into_owned();
            }
            s = s.replace(&sha256_hex(manifest.as_bytes()), &sha256_hex(m.as_bytes()));
            write(&dir.join("SHA256SUMS"), s.as_bytes());
        }
        let label = format!("{name}{}", if fixed { " (checksums fixed up)" } else { "" });
        fz.check(&label, &input, &names_in(&dir, b""), || {
            qmac::verify::vectors::check(&dir)
        });
        write(&dir.join(name), &orig[i]);
        if fixed {
            write(&dir.join("manifest.toml"), &orig[0]);
            write(&dir.join("SHA256SUMS"), &orig[1]);
        }
        let _ = &tmp;
    });
}

// --- fuzz transactions, coverage --------------------------------------------

const TX_KEYS: &[&str] = &[
    "qmac_transaction",
    "source",
    "lanes",
    "mult_w",
    "bp_seed",
    "backpressure",
    "in_gap",
    "out_stall",
    "long_stall",
    "items",
    "params",
    "dot",
    "rounding",
    "input_dtype",
    "zp_x",
    "zp_w",
    "zp_out",
    "act_min",
    "act_max",
    "bias",
    "m0",
    "shift",
    "x",
    "w",
];

const TX_STRINGS: &[&str] = &[
    "double", "single", "int8", "uint8", "params", "dot", "", "x\ny",
];

const TX_DICT: &[&str] = &[
    "{\"params\": {}}",
    "{\"dot\": {\"x\": [1], \"w\": [1]}}",
    "\"lanes\": 64,",
    "\"mult_w\": 1,",
    "\"rounding\": \"single\",",
    "\"input_dtype\": \"uint8\",",
    "null",
    "[[[[",
    "]]]]",
    "{",
    "}",
    ",",
    "\"\\ud800\"",
];

#[test]
fn fuzz_transaction_files() {
    let reg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut seeds: Vec<String> = std::fs::read_dir(&reg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| read_string(&p))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", reg.display());
    // Small transactions written by qmac itself.
    for it in 0..60 {
        let lanes = 1 + (it % 3) as usize;
        let w = if it % 2 == 0 { 32 } else { 16 };
        let (tx, _) = qmac::verify::fuzz::generate(7, it, lanes, w);
        let text = qmac::verify::fuzz::to_json(&tx, "parser_robustness seed");
        if text.len() <= 12_000 {
            seeds.push(text);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tx.json");
    for s in &seeds {
        write(&file, s.as_bytes());
        qmac::verify::fuzz::read(&file).expect("transaction seed reads");
    }
    eprintln!("parser_robustness[fuzz-tx]: {} seeds", seeds.len());
    run_format("fuzz-tx", move |fz| {
        let s = &seeds[pick(&mut fz.rng, seeds.len())];
        let o = &seeds[pick(&mut fz.rng, seeds.len())];
        let input = match fz.ladder() {
            Some(n) => nest(s.as_bytes(), n),
            None => mutate_json(&mut fz.rng, s, o, TX_STRINGS, TX_KEYS, TX_DICT),
        };
        write(&file, &input);
        fz.check("fuzz::read", &input, &names(&file), || {
            qmac::verify::fuzz::read(&file)
        });
        let _ = &tmp;
    });
}

#[test]
fn fuzz_coverage_json() {
    let empty = qmac::cosim::coverage::Coverage::default().to_json();
    // A second seed with every bin hit.
    let mut v: Value = serde_json::from_str(&empty).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(base_seed());
    if let Some(Value::Object(bins)) = v.get_mut("bins") {
        for (_, c) in bins.iter_mut() {
            *c = Value::from(rng.random::<u64>() >> rng.random_range(0..64));
        }
    }
    let full = serde_json::to_string_pretty(&v).unwrap();
    let bin_names: Vec<&'static str> = qmac::cosim::coverage::Bin::ALL
        .iter()
        .map(|b| b.name())
        .collect();
    let mut keys = bin_names.clone();
    keys.push("bins");
    let seeds = vec![empty, full];
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("coverage.json");
    for s in &seeds {
        write(&file, s.as_bytes());
        qmac::cosim::coverage::Coverage::read_json(&file).expect("coverage seed reads");
    }
    let mut strings = bin_names;
    strings.push("x\ny");
    run_format("coverage", move |fz| {
        let s = &seeds[pick(&mut fz.rng, seeds.len())];
        let o = &seeds[pick(&mut fz.rng, seeds.len())];
        let input = match fz.ladder() {
            Some(n) => nest(s.as_bytes(), n),
            None => mutate_json(&mut fz.rng, s, o, &strings, &keys, JSON_DICT),
        };
        write(&file, &input);
        fz.check("Coverage::read_json", &input, &names(&file), || {
            qmac::cosim::coverage::Coverage::read_json(&file)
        });
        let _ = &tmp;
    });
}
