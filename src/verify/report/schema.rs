//! The `--json` reports of `regress`, `layer`, `model` and `fuzz`, read back
//! (by `qmac report`) as types: a report that does not have the shape its
//! command writes is an input error naming the file and the field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::data::{DiffMap, DiffTally, WidthPoint};
use crate::error::InputError;

/// The run header every report starts with ([`super::RunMeta::json_report`]).
#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub qmac: String,
    pub version: String,
    pub timestamp: String,
    pub hostname: String,
    pub seed: u64,
    pub lanes: usize,
    pub mult_w: u32,
    pub rtl_dir: String,
    pub rtl_sha256: String,
    pub verdict: String,
}

/// The coverage part of a regress or fuzz report.
#[derive(Debug, Clone, Deserialize)]
pub struct CoverageSummary {
    pub bins: usize,
    pub hit: usize,
    pub missing: Vec<String>,
    pub counts: BTreeMap<String, u64>,
    /// Fuzz only: the first iteration that hit each bin.
    #[serde(default)]
    pub first_hit: BTreeMap<String, u64>,
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegressTest {
    pub suite: String,
    pub name: String,
    pub verdict: String,
    pub dots: u64,
    pub beats: u64,
    pub cycles: u64,
    pub lane_checks: u64,
    pub mismatches: u64,
    pub failure_count: u64,
    pub failures: Vec<String>,
    pub wall_s: f64,
    pub replay: String,
    pub waveform: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Regress {
    pub tests: usize,
    pub passed: usize,
    pub failed: usize,
    pub lane_checks: u64,
    pub wall_s: f64,
    pub coverage: CoverageSummary,
    pub results: Vec<RegressTest>,
}

/// A layer's reference comparison (which fields are present depends on `kind`).
#[derive(Debug, Clone, Deserialize)]
pub struct LayerReference {
    pub kind: String,
    pub compared: usize,
    #[serde(default)]
    pub mismatches: Option<usize>,
    #[serde(default)]
    pub max_abs_diff: Option<i64>,
    #[serde(default)]
    pub emulation_mismatches: Option<usize>,
    #[serde(default)]
    pub integer_differing: Option<usize>,
    #[serde(default)]
    pub differing: Option<usize>,
    #[serde(default)]
    pub explained: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayerRtl {
    pub output_mismatches: usize,
    pub acc_mismatches: usize,
    pub beat_failures: u64,
    pub beats: u64,
    pub cycles: u64,
    pub dots: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayerRecord {
    pub case: String,
    pub op: String,
    pub verdict: String,
    pub outputs: usize,
    pub reference: Option<LayerReference>,
    pub rtl: Option<LayerRtl>,
    pub details: Vec<String>,
    pub replay: String,
    pub input_shape: [usize; 4],
    pub output_shape: [usize; 4],
    pub macs: u64,
    pub wall_s: f64,
    pub diff_map: Option<DiffMap>,
    pub framework_diffs: Vec<DiffTally>,
    pub width_sweep: Vec<WidthPoint>,
    pub mult_bits: u32,
    /// The first beat-level failures of the RTL run, each with its inputs.
    pub beat_failure_messages: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LayerRun {
    pub backend: String,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<LayerRecord>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OpReference {
    pub compared: usize,
    pub mismatches: usize,
    pub explained: usize,
    pub cause: Option<String>,
    pub max_abs_diff: i64,
    pub on_reference_inputs: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelOp {
    pub index: usize,
    pub op: String,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shape: Vec<usize>,
    pub macs: u64,
    pub backend: String,
    pub beats: u64,
    pub cycles: u64,
    pub dots: u64,
    pub ok: bool,
    pub rtl_vs_golden_mismatches: Option<usize>,
    pub beat_failures: u64,
    pub reference: Option<OpReference>,
    pub chain_mismatches: Option<usize>,
    pub wall_s: f64,
}

/// The final output against `--expect`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpectInfo {
    pub compared: usize,
    pub mismatches: usize,
    pub max_abs_diff: i64,
    pub explained_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelInput {
    pub input: String,
    pub verdict: String,
    pub ops: Vec<ModelOp>,
    pub first_diverging_op: Option<usize>,
    pub expect: Option<ExpectInfo>,
    /// Reference tensor values and final-output values compared.
    pub values_compared: usize,
    pub notes: Vec<String>,
    pub failures: Vec<String>,
    pub wall_s: f64,
    pub replay: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelRun {
    pub model: String,
    pub backend: String,
    pub passed: usize,
    pub failed: usize,
    pub results: Vec<ModelInput>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shrunk {
    pub dots: u64,
    pub taps: u64,
    pub runs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FuzzFailure {
    pub iteration: u64,
    pub message: String,
    pub shrunk: Shrunk,
    pub repro: String,
    pub waveform: String,
    pub replay: String,
    pub replay_failures: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FuzzRun {
    pub shard: Option<String>,
    pub iterations: u64,
    pub dot_products: u64,
    pub beats: u64,
    pub cycles: u64,
    pub wall_s: f64,
    pub coverage: CoverageSummary,
    pub failure: Option<FuzzFailure>,
}

/// What a report holds, by the command that wrote it.
#[derive(Debug, Clone)]
pub enum Body {
    Regress(Regress),
    Layer(LayerRun),
    Model(ModelRun),
    Fuzz(FuzzRun),
}

/// One report: where it came from, its header and its body.
#[derive(Debug, Clone)]
pub struct Report {
    pub source: String,
    pub meta: Meta,
    pub body: Body,
}

/// A report must agree with itself: the counts with the records, the
/// verdict with the counts (a run that checked nothing is not a PASS), and
/// no negative or non-finite time. `Err((field, what is wrong))`.
fn consistent(meta: &Meta, body: &Body) -> Result<(), (String, String)> {
    let time = |field: String, t: f64| {
        if t.is_finite() && t >= 0.0 {
            Ok(())
        } else {
            Err((
                field,
                format!("{t}: a time must be finite and not negative"),
            ))
        }
    };
    // (records, passed, failed, how many records say PASS, anything checked)
    let (n, passed, failed, pass_records, checked) = match body {
        Body::Regress(g) => {
            time("wall_s".into(), g.wall_s)?;
            for (i, t) in g.results.iter().enumerate() {
                time(format!("results[{i}].wall_s"), t.wall_s)?;
            }
            if g.tests != g.results.len() {
                return Err((
                    "tests".into(),
                    format!("{} but {} results", g.tests, g.results.len()),
                ));
            }
            let pass = g.results.iter().filter(|t| t.verdict == "PASS").count();
            // Every test checks something (lane results, or a model test's
            // reference tensors): a run checked nothing only when it ran none.
            (
                g.results.len(),
                g.passed,
                g.failed,
                pass,
                !g.results.is_empty(),
            )
        }
        Body::Layer(g) => {
            for (i, l) in g.results.iter().enumerate() {
                time(format!("results[{i}].wall_s"), l.wall_s)?;
            }
            let pass = g.results.iter().filter(|l| l.verdict == "PASS").count();
            (
                g.results.len(),
                g.passed,
                g.failed,
                pass,
                !g.results.is_empty(),
            )
        }
        Body::Model(g) => {
            for (i, m) in g.results.iter().enumerate() {
                time(format!("results[{i}].wall_s"), m.wall_s)?;
                for (j, o) in m.ops.iter().enumerate() {
                    time(format!("results[{i}].ops[{j}].wall_s"), o.wall_s)?;
                }
            }
            let pass = g.results.iter().filter(|m| m.verdict == "PASS").count();
            (
                g.results.len(),
                g.passed,
                g.failed,
                pass,
                !g.results.is_empty(),
            )
        }
        Body::Fuzz(g) => {
            time("wall_s".into(), g.wall_s)?;
            if meta.verdict == "PASS" && g.failure.is_some() {
                return Err((
                    "verdict".into(),
                    "PASS, but the report holds a failure".into(),
                ));
            }
            let ok = usize::from(meta.verdict == "PASS");
            (1, ok, 1 - ok, ok, g.iterations > 0)
        }
    };
    if passed + failed != n || passed != pass_records {
        return Err((
            "passed".into(),
            format!("{passed} passed and {failed} failed, but {n} records of which {pass_records} say PASS"),
        ));
    }
    let should = if failed == 0 && checked {
        "PASS"
    } else {
        "FAIL"
    };
    if meta.verdict != should && !matches!(body, Body::Fuzz(_)) {
        return Err((
            "verdict".into(),
            format!(
                "{}, but {passed} passed and {failed} failed{}",
                meta.verdict,
                if checked {
                    ""
                } else {
                    " (nothing was checked)"
                }
            ),
        ));
    }
    if matches!(body, Body::Fuzz(_)) && meta.verdict == "PASS" && !checked {
        return Err(("verdict".into(), "PASS, but no iteration ran".into()));
    }
    Ok(())
}

/// Read a typed part of `v`; a wrong field is named by its path.
fn typed<T: DeserializeOwned>(v: &serde_json::Value, source: &Path) -> Result<T, InputError> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        InputError::new(
            source,
            if path == "." {
                "top level".to_string()
            } else {
                format!("field `{path}`")
            },
            e.into_inner(),
        )
    })
}

impl Report {
    /// A report from the JSON value `v` read from `source`.
    pub fn from_value(v: &serde_json::Value, source: &Path) -> Result<Report, InputError> {
        if v.get("qmac").is_none() {
            return Err(InputError::new(
                source,
                "top level",
                "not a --json report of qmac regress, layer, model or fuzz (it has no `qmac` field)",
            ));
        }
        let meta: Meta = typed(v, source)?;
        let body = match meta.qmac.as_str() {
            "regress" => Body::Regress(typed(v, source)?),
            "layer" => Body::Layer(typed(v, source)?),
            "model" => Body::Model(typed(v, source)?),
            "fuzz" => Body::Fuzz(typed(v, source)?),
            other => {
                return Err(InputError::new(
                    source,
                    "field `qmac`",
                    format!(
                    "`{other}` is not a report qmac report reads (regress, layer, model or fuzz)"
                ),
                ))
            }
        };
        if !matches!(meta.verdict.as_str(), "PASS" | "FAIL") {
            return Err(InputError::new(
                source,
                "field `verdict`",
                format!("`{}`: expected PASS or FAIL", meta.verdict),
            ));
        }
        consistent(&meta, &body).map_err(|(field, message)| {
            InputError::new(source, format!("field `{field}`"), message)
        })?;
        Ok(Report {
            source: source.display().to_string(),
            meta,
            body,
        })
    }

    /// Read a `--json` report file.
    pub fn read(path: &Path) -> Result<Report, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            InputError::new(path, format!("line {} column {}", e.line(), e.column()), e)
        })?;
        Report::from_value(&v, path)
    }
}
