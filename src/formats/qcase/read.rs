//! Reading a qcase: a JSON file, or a directory with `case.toml` and its
//! `.npy` / `.txt` arrays, into a validated [`Case`].

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::elementwise::{BatchNorm, EltCase, EltOp, Layout, Pool};
use super::{
    framework_real_multiplier, per_tensor_scales, Case, Op, Rounding, INT32, INT8, SHIFT_MAX,
    SHIFT_MIN,
};
use crate::arith::DType;
use crate::error::InputError;
use crate::formats::npy::{checked_product, read_npy, NpyData};

/// The file a directory case keeps its scalar fields in.
pub const CASE_TOML: &str = "case.toml";

/// The case as written, before any checking. Every field is optional so that
/// a missing one is reported by name; tensors stay loose JSON values (inline
/// numbers, nested lists or — in `case.toml` — a file name).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    source: Option<String>,
    op: Option<String>,
    input_shape: Option<Vec<i64>>,
    filter_shape: Option<Vec<i64>>,
    output_shape: Option<Vec<i64>>,
    stride: Option<Vec<i64>>,
    dilation: Option<Vec<i64>>,
    padding: Option<Vec<i64>>,
    depth_multiplier: Option<i64>,
    groups: Option<i64>,
    input_zero_point: Option<i64>,
    filter_zero_point: Option<i64>,
    output_zero_point: Option<i64>,
    input_scale: Option<f64>,
    filter_scales: Option<serde_json::Value>,
    output_scale: Option<f64>,
    act_min: Option<i64>,
    act_max: Option<i64>,
    multiplier: Option<serde_json::Value>,
    shift: Option<serde_json::Value>,
    rounding: Option<String>,
    input_dtype: Option<String>,
    output_dtype: Option<String>,
    input: Option<serde_json::Value>,
    filter: Option<serde_json::Value>,
    bias: Option<serde_json::Value>,
    bias_float: Option<serde_json::Value>,
    output: Option<serde_json::Value>,
    // Elementwise cases (add / mul / cat / batch_norm / hardswish) only.
    input2: Option<serde_json::Value>,
    input2_shape: Option<Vec<i64>>,
    input2_zero_point: Option<i64>,
    input2_scale: Option<f64>,
    torch_vector_bytes: Option<i64>,
    torch_layout: Option<String>,
    // batch_norm only.
    bn_weight: Option<serde_json::Value>,
    bn_bias: Option<serde_json::Value>,
    bn_mean: Option<serde_json::Value>,
    bn_var: Option<serde_json::Value>,
    bn_eps: Option<f64>,
    // avg_pool only.
    pool_kernel: Option<Vec<i64>>,
    pool_stride: Option<Vec<i64>>,
    pool_padding: Option<Vec<i64>>,
    count_include_pad: Option<bool>,
    divisor_override: Option<i64>,
}

/// Where the elements of a loaded array came from (for element messages).
enum Loc {
    /// Inline in the case file.
    Inline,
    /// A `.npy` file.
    Npy(PathBuf),
    /// A `.txt` file, with the line of every element.
    Txt(PathBuf, Vec<usize>),
}

struct Loaded<T> {
    vals: Vec<T>,
    loc: Loc,
}

/// What a case file is being read with.
struct Ctx<'a> {
    /// The file holding the scalar fields (JSON file or case.toml).
    case_file: &'a Path,
    /// The directory array files are relative to (directory cases only).
    dir: Option<&'a Path>,
}

impl Ctx<'_> {
    fn field_err(&self, field: &str, msg: impl std::fmt::Display) -> InputError {
        InputError::new(self.case_file, format!("field `{field}`"), msg)
    }

    fn elem_err(
        &self,
        loc: &Loc,
        field: &str,
        idx: usize,
        msg: impl std::fmt::Display,
    ) -> InputError {
        match loc {
            Loc::Inline => {
                InputError::new(self.case_file, format!("element {idx} of `{field}`"), msg)
            }
            Loc::Npy(p) => InputError::new(p, format!("element {idx} of `{field}`"), msg),
            Loc::Txt(p, lines) => {
                let line = lines.get(idx).copied().unwrap_or(0);
                InputError::new(
                    p,
                    format!("line {line}"),
                    format!("element {idx} of `{field}`: {msg}"),
                )
            }
        }
    }

    fn required<T>(&self, v: Option<T>, field: &str) -> Result<T, InputError> {
        v.ok_or_else(|| self.field_err(field, "missing (required field)"))
    }

    /// Resolves a file-name tensor value to a path in the case directory.
    fn array_path(&self, field: &str, name: &str) -> Result<PathBuf, InputError> {
        match self.dir {
            Some(d) => Ok(d.join(name)),
            None => Err(self.field_err(
                field,
                format!(
                    "names the file \"{name}\", but array files are only allowed in a case directory \
                     ({CASE_TOML}); a JSON case holds its arrays inline"
                ),
            )),
        }
    }

    fn file_kind(&self, field: &str, path: &Path) -> Result<FileKind, InputError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("npy") => Ok(FileKind::Npy),
            Some("txt") => Ok(FileKind::Txt),
            _ => Err(self.field_err(
                field,
                format!("array file \"{}\" must end in .npy or .txt", path.display()),
            )),
        }
    }

    /// Loads an integer tensor field (inline numbers or an array file).
    /// `shape`: the tensor's known shape, checked against `.npy` headers.
    fn load_ints(
        &self,
        field: &str,
        v: &serde_json::Value,
        shape: Option<&[usize]>,
    ) -> Result<Loaded<i64>, InputError> {
        self.load(field, v, shape)
    }

    /// Loads a float tensor field (`filter_scales`, `bias_float`).
    fn load_floats(
        &self,
        field: &str,
        v: &serde_json::Value,
        shape: Option<&[usize]>,
    ) -> Result<Loaded<f64>, InputError> {
        self.load(field, v, shape)
    }

    /// Loads a tensor field of `T`: inline numbers (nested lists), or the
    /// name of a `.txt` / `.npy` array file.
    fn load<T: Element>(
        &self,
        field: &str,
        v: &serde_json::Value,
        shape: Option<&[usize]>,
    ) -> Result<Loaded<T>, InputError> {
        if let serde_json::Value::String(name) = v {
            let path = self.array_path(field, name)?;
            return match self.file_kind(field, &path)? {
                FileKind::Txt => {
                    let text = crate::formats::textarray::read_text(&path)?;
                    let (vals, lines) = T::parse_text(&path, &text)?.into_iter().unzip();
                    Ok(Loaded {
                        vals,
                        loc: Loc::Txt(path, lines),
                    })
                }
                FileKind::Npy => {
                    let (data, npy_shape) = read_npy(&path, field, T::FLOAT)?;
                    check_npy_shape(&path, field, &npy_shape, shape)?;
                    Ok(Loaded {
                        vals: T::from_npy(&path, field, data)?,
                        loc: Loc::Npy(path),
                    })
                }
            };
        }
        let leaves = self.flatten(field, v)?;
        let mut vals = Vec::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            match T::from_json(leaf) {
                Ok(x) => vals.push(x),
                Err(why) => return Err(self.elem_err(&Loc::Inline, field, i, why)),
            }
        }
        Ok(Loaded {
            vals,
            loc: Loc::Inline,
        })
    }

    /// Flattens (possibly nested) inline arrays row-major; a bare number is a
    /// one-element array.
    fn flatten<'v>(
        &self,
        field: &str,
        v: &'v serde_json::Value,
    ) -> Result<Vec<&'v serde_json::Value>, InputError> {
        match v {
            serde_json::Value::Array(_) | serde_json::Value::Number(_) => {}
            other => {
                return Err(self.field_err(
                    field,
                    format!(
                        "expected an array of numbers or an array file name, found {}",
                        kind_of(other)
                    ),
                ))
            }
        }
        let mut out = Vec::new();
        // Explicit stack (reversed children) instead of recursion.
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            match x {
                serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
                leaf => out.push(leaf),
            }
        }
        Ok(out)
    }

    /// Range-checks and narrows an integer array to i32.
    fn narrow(
        &self,
        arr: &Loaded<i64>,
        field: &str,
        (lo, hi): (i64, i64),
        what: &str,
    ) -> Result<Vec<i32>, InputError> {
        let mut out = Vec::with_capacity(arr.vals.len());
        for (i, &x) in arr.vals.iter().enumerate() {
            if x < lo || x > hi {
                return Err(self.elem_err(
                    &arr.loc,
                    field,
                    i,
                    format!("value {x} is outside the {what} range [{lo}, {hi}]"),
                ));
            }
            // In range of i32 by construction (every range used is within i32).
            out.push(i32::try_from(x).map_err(|_| {
                self.elem_err(&arr.loc, field, i, format!("value {x} is out of range"))
            })?);
        }
        Ok(out)
    }

    fn scalar_in(
        &self,
        v: i64,
        field: &str,
        (lo, hi): (i64, i64),
        what: &str,
    ) -> Result<i32, InputError> {
        if v < lo || v > hi {
            return Err(self.field_err(
                field,
                format!("value {v} is outside the {what} range [{lo}, {hi}]"),
            ));
        }
        i32::try_from(v).map_err(|_| self.field_err(field, format!("value {v} is out of range")))
    }

    fn usize_list<const L: usize>(
        &self,
        v: Option<Vec<i64>>,
        field: &str,
        default: Option<[usize; L]>,
        min: i64,
    ) -> Result<[usize; L], InputError> {
        let v = match (v, default) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d),
            (None, None) => return Err(self.field_err(field, "missing (required field)")),
        };
        if v.len() != L {
            return Err(self.field_err(
                field,
                format!("expected {L} entries, found {} ({v:?})", v.len()),
            ));
        }
        let mut out = [0usize; L];
        for (i, &x) in v.iter().enumerate() {
            if x < min {
                return Err(self.field_err(
                    field,
                    format!("entry {i} is {x}; entries must be >= {min} ({v:?})"),
                ));
            }
            out[i] = usize::try_from(x)
                .map_err(|_| self.field_err(field, format!("entry {i} ({x}) is too large")))?;
        }
        Ok(out)
    }

    fn dtype(&self, v: Option<String>, field: &str) -> Result<DType, InputError> {
        match v.as_deref() {
            None | Some("int8") => Ok(DType::Int8),
            Some("uint8") => Ok(DType::Uint8),
            Some(other) => Err(self.field_err(
                field,
                format!("unknown dtype \"{other}\" (expected \"int8\" or \"uint8\")"),
            )),
        }
    }
}

/// An element type of a tensor field: how it is read from each encoding.
trait Element: Sized {
    /// Float `.npy` dtypes are accepted.
    const FLOAT: bool;
    fn parse_text(path: &Path, text: &str) -> Result<Vec<(Self, usize)>, InputError>;
    fn from_npy(path: &Path, field: &str, data: NpyData) -> Result<Vec<Self>, InputError>;
    /// An inline JSON leaf, or why it is not one.
    fn from_json(leaf: &serde_json::Value) -> Result<Self, String>;
}

impl Element for i64 {
    const FLOAT: bool = false;
    fn parse_text(path: &Path, text: &str) -> Result<Vec<(i64, usize)>, InputError> {
        crate::formats::textarray::parse_int_array_lines(path, text)
    }
    fn from_npy(path: &Path, field: &str, data: NpyData) -> Result<Vec<i64>, InputError> {
        match data {
            NpyData::Int(v) => Ok(v),
            NpyData::Float(_) => float_in_int_tensor(path, field),
        }
    }
    fn from_json(leaf: &serde_json::Value) -> Result<i64, String> {
        let serde_json::Value::Number(n) = leaf else {
            return Err(format!("expected an integer, found {}", kind_of(leaf)));
        };
        match n.as_i64() {
            Some(x) => Ok(x),
            None if n.is_u64() => Err(format!("value {n} is out of range")),
            None => Err(format!("`{n}` is not an integer")),
        }
    }
}

impl Element for f64 {
    const FLOAT: bool = true;
    fn parse_text(path: &Path, text: &str) -> Result<Vec<(f64, usize)>, InputError> {
        crate::formats::textarray::parse_float_array_lines(path, text)
    }
    fn from_npy(_: &Path, _: &str, data: NpyData) -> Result<Vec<f64>, InputError> {
        Ok(match data {
            NpyData::Float(v) => v,
            NpyData::Int(v) => v.into_iter().map(|x| x as f64).collect(),
        })
    }
    fn from_json(leaf: &serde_json::Value) -> Result<f64, String> {
        leaf.as_f64()
            .ok_or_else(|| format!("expected a number, found {}", kind_of(leaf)))
    }
}

enum FileKind {
    Npy,
    Txt,
}

fn float_in_int_tensor(path: &Path, field: &str) -> Result<Vec<i64>, InputError> {
    Err(InputError::new(
        path,
        format!("field `{field}`"),
        "float data in an integer tensor",
    ))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A `.npy` shape matches the tensor's when it is equal to it once size-1
/// axes are dropped on both sides (so `[800]`-style flat files are accepted
/// only for tensors whose other axes are 1), or when it is one-dimensional
/// with the right element count.
fn check_npy_shape(
    path: &Path,
    field: &str,
    got: &[usize],
    want: Option<&[usize]>,
) -> Result<(), InputError> {
    let Some(want) = want else { return Ok(()) };
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    let same = squeeze(got) == squeeze(want);
    let flat = got.len() == 1 && checked_product(want) == Some(got[0]);
    if same || flat {
        Ok(())
    } else {
        Err(InputError::new(
            path,
            format!("field `{field}`"),
            format!("array shape {got:?} does not match the expected shape {want:?}"),
        ))
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn json_error(path: &Path, e: &serde_json::Error) -> InputError {
    let (line, col) = (e.line(), e.column());
    let full = e.to_string();
    let suffix = format!(" at line {line} column {col}");
    let msg = full.strip_suffix(&suffix).unwrap_or(&full);
    if line == 0 {
        InputError::new(path, "file", format!("invalid JSON case: {msg}"))
    } else {
        InputError::new(
            path,
            format!("line {line}"),
            format!("invalid JSON case: {msg} (column {col})"),
        )
    }
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> InputError {
    let msg = e.message().trim();
    match e.span() {
        Some(span) => InputError::new(
            path,
            format!("line {}", line_of(text, span.start)),
            format!("invalid TOML case: {msg}"),
        ),
        None => InputError::new(path, "file", format!("invalid TOML case: {msg}")),
    }
}

/// A case of either kind: a MAC layer or an elementwise step.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyCase {
    Layer(Box<Case>),
    Elementwise(Box<EltCase>),
}

/// The elementwise op names (docs/qcase.md §4).
fn elementwise_op(op: Option<&str>) -> Option<EltOp> {
    match op? {
        "add" => Some(EltOp::Add),
        "mul" => Some(EltOp::Mul),
        "cat" => Some(EltOp::Cat),
        "batch_norm" => Some(EltOp::BatchNorm),
        "hardswish" => Some(EltOp::Hardswish),
        "avg_pool" => Some(EltOp::AvgPool),
        "adaptive_avg_pool" => Some(EltOp::AdaptiveAvgPool),
        _ => None,
    }
}

/// Reads the raw fields of a case (see [`Case::read`]) and hands them to `f`.
fn read_with<T>(
    path: &Path,
    f: impl FnOnce(RawCase, &Ctx<'_>) -> Result<T, InputError>,
) -> Result<T, InputError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read case: {e}")))?;
    let is_toml_file = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if meta.is_dir() || is_toml_file {
        let (toml_path, dir) = if meta.is_dir() {
            (path.join(CASE_TOML), path.to_path_buf())
        } else {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (path.to_path_buf(), dir)
        };
        let text = crate::formats::textarray::read_text(&toml_path)?;
        let raw: RawCase = toml::from_str(&text).map_err(|e| toml_error(&toml_path, &text, &e))?;
        let ctx = Ctx {
            case_file: &toml_path,
            dir: Some(&dir),
        };
        f(raw, &ctx)
    } else {
        let text = crate::formats::textarray::read_text(path)?;
        let raw: RawCase = serde_json::from_str(&text).map_err(|e| json_error(path, &e))?;
        let ctx = Ctx {
            case_file: path,
            dir: None,
        };
        f(raw, &ctx)
    }
}

/// Reads a case of either kind (the `op` field decides), validated.
pub fn read_any(path: &Path) -> Result<AnyCase, InputError> {
    read_with(path, |raw, ctx| match elementwise_op(raw.op.as_deref()) {
        Some(op) => EltCase::from_raw(op, raw, ctx).map(|c| AnyCase::Elementwise(Box::new(c))),
        None => Case::from_raw(raw, ctx).map(|c| AnyCase::Layer(Box::new(c))),
    })
}

impl Case {
    /// Reads a case: a directory holding `case.toml` (+ `.npy` / `.txt` array
    /// files), a `*.toml` file (same, arrays relative to its directory), or
    /// otherwise a JSON file (any extension). The result is validated.
    pub fn read(path: &Path) -> Result<Case, InputError> {
        read_with(path, Case::from_raw)
    }

    /// Parses and validates a JSON case held in memory; `path` names it in messages.
    /// (serde_json's `float_roundtrip` feature makes the float scales exact.)
    pub fn from_json_str(path: &Path, text: &str) -> Result<Case, InputError> {
        let raw: RawCase = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
        let ctx = Ctx {
            case_file: path,
            dir: None,
        };
        Self::from_raw(raw, &ctx)
    }

    fn from_raw(raw: RawCase, ctx: &Ctx<'_>) -> Result<Case, InputError> {
        if let Some(op) = elementwise_op(raw.op.as_deref()) {
            return Err(ctx.field_err(
                "op",
                format!(
                    "\"{}\" is an elementwise case (docs/qcase.md §4): `qmac layer` runs it; this command takes MAC layer cases only",
                    op.name()
                ),
            ));
        }
        for (field, present) in [
            ("input2", raw.input2.is_some()),
            ("input2_shape", raw.input2_shape.is_some()),
            ("input2_zero_point", raw.input2_zero_point.is_some()),
            ("input2_scale", raw.input2_scale.is_some()),
            ("torch_vector_bytes", raw.torch_vector_bytes.is_some()),
            ("torch_layout", raw.torch_layout.is_some()),
            ("bn_weight", raw.bn_weight.is_some()),
            ("bn_bias", raw.bn_bias.is_some()),
            ("bn_mean", raw.bn_mean.is_some()),
            ("bn_var", raw.bn_var.is_some()),
            ("bn_eps", raw.bn_eps.is_some()),
            ("pool_kernel", raw.pool_kernel.is_some()),
            ("pool_stride", raw.pool_stride.is_some()),
            ("pool_padding", raw.pool_padding.is_some()),
            ("count_include_pad", raw.count_include_pad.is_some()),
            ("divisor_override", raw.divisor_override.is_some()),
        ] {
            if present {
                return Err(ctx.field_err(
                    field,
                    "only elementwise cases (op add, mul, cat, batch_norm, hardswish, avg_pool or adaptive_avg_pool) take it",
                ));
            }
        }
        let op = match ctx.required(raw.op, "op")?.as_str() {
            "conv2d" => Op::Conv2d,
            "depthwise_conv2d" => Op::DepthwiseConv2d,
            "fully_connected" => Op::FullyConnected,
            other => {
                return Err(ctx.field_err(
                    "op",
                    format!(
                    "unknown op \"{other}\" (expected conv2d, depthwise_conv2d, fully_connected, add, mul, cat, batch_norm, hardswish, avg_pool or adaptive_avg_pool)"
                ),
                ))
            }
        };
        let rounding = match raw.rounding.as_deref() {
            None | Some("double") => Rounding::Double,
            Some("single") => Rounding::Single,
            Some("float64") => Rounding::Float64,
            Some("fbgemm") => Rounding::Fbgemm,
            Some("onednn") => Rounding::Onednn,
            Some(other) => {
                return Err(ctx.field_err(
                    "rounding",
                    format!("unknown rounding \"{other}\" (expected double, single, float64, fbgemm or onednn)"),
                ))
            }
        };
        let input_dtype = ctx.dtype(raw.input_dtype, "input_dtype")?;
        let output_dtype = ctx.dtype(raw.output_dtype, "output_dtype")?;
        let in_range = wide(input_dtype.range());
        let out_range = wide(output_dtype.range());

        let input_shape: [usize; 4] = ctx.usize_list(raw.input_shape, "input_shape", None, 1)?;
        let filter_shape: [usize; 4] = ctx.usize_list(raw.filter_shape, "filter_shape", None, 1)?;
        let output_shape: [usize; 4] = ctx.usize_list(raw.output_shape, "output_shape", None, 1)?;
        let stride: [usize; 2] = ctx.usize_list(raw.stride, "stride", Some([1, 1]), 1)?;
        let dilation: [usize; 2] = ctx.usize_list(raw.dilation, "dilation", Some([1, 1]), 1)?;
        let padding: [usize; 4] = ctx.usize_list(raw.padding, "padding", Some([0, 0, 0, 0]), 0)?;
        let depth_multiplier = match raw.depth_multiplier {
            None => 1,
            Some(d) if d >= 1 => {
                usize::try_from(d).map_err(|_| ctx.field_err("depth_multiplier", "too large"))?
            }
            Some(d) => {
                return Err(ctx.field_err("depth_multiplier", format!("must be >= 1, got {d}")))
            }
        };
        let groups = match raw.groups {
            None => 1,
            Some(g) if g >= 1 => {
                usize::try_from(g).map_err(|_| ctx.field_err("groups", "too large"))?
            }
            Some(g) => return Err(ctx.field_err("groups", format!("must be >= 1, got {g}"))),
        };
        let input_zero_point = ctx.scalar_in(
            ctx.required(raw.input_zero_point, "input_zero_point")?,
            "input_zero_point",
            in_range,
            input_dtype.name(),
        )?;
        let filter_zero_point = ctx.scalar_in(
            raw.filter_zero_point.unwrap_or(0),
            "filter_zero_point",
            INT8,
            "int8",
        )?;
        let output_zero_point = ctx.scalar_in(
            ctx.required(raw.output_zero_point, "output_zero_point")?,
            "output_zero_point",
            out_range,
            output_dtype.name(),
        )?;
        let act_min = ctx.scalar_in(
            raw.act_min.unwrap_or(out_range.0),
            "act_min",
            out_range,
            output_dtype.name(),
        )?;
        let act_max = ctx.scalar_in(
            raw.act_max.unwrap_or(out_range.1),
            "act_max",
            out_range,
            output_dtype.name(),
        )?;

        let cout = [output_shape[3]];
        let not_null = |v: Option<serde_json::Value>| v.filter(|v| !v.is_null());

        let filter_scales = match not_null(raw.filter_scales) {
            Some(v) => Some(ctx.load_floats("filter_scales", &v, None)?.vals),
            None => None,
        };
        let bias_float = match not_null(raw.bias_float) {
            Some(v) => Some(ctx.load_floats("bias_float", &v, Some(&cout))?.vals),
            None => None,
        };

        let input_v = ctx.required(not_null(raw.input), "input")?;
        let input_a = ctx.load_ints("input", &input_v, Some(&input_shape))?;
        let input = ctx.narrow(&input_a, "input", in_range, input_dtype.name())?;
        let filter_v = ctx.required(not_null(raw.filter), "filter")?;
        let filter_a = ctx.load_ints("filter", &filter_v, Some(&filter_shape))?;
        let filter = ctx.narrow(&filter_a, "filter", INT8, "int8")?;
        let bias = match not_null(raw.bias) {
            Some(v) => {
                let a = ctx.load_ints("bias", &v, Some(&cout))?;
                Some(ctx.narrow(&a, "bias", INT32, "int32")?)
            }
            None => None,
        };
        let output = match not_null(raw.output) {
            Some(v) => {
                let a = ctx.load_ints("output", &v, Some(&output_shape))?;
                Some(ctx.narrow(&a, "output", out_range, output_dtype.name())?)
            }
            None => None,
        };

        let (multiplier, shift) = match (not_null(raw.multiplier), not_null(raw.shift)) {
            (Some(m), Some(s)) => {
                let ma = ctx.load_ints("multiplier", &m, None)?;
                let sa = ctx.load_ints("shift", &s, None)?;
                (
                    ctx.narrow(
                        &ma,
                        "multiplier",
                        (0, i32::MAX as i64),
                        "non-negative int32",
                    )?,
                    ctx.narrow(&sa, "shift", (SHIFT_MIN, SHIFT_MAX), "shift")?,
                )
            }
            (Some(_), None) => {
                return Err(ctx.field_err("shift", "missing (required when `multiplier` is given)"))
            }
            (None, Some(_)) => {
                return Err(ctx.field_err("multiplier", "missing (required when `shift` is given)"))
            }
            (None, None) => {
                let why = "missing (needed to derive `multiplier` / `shift`, which are absent)";
                let s_x = ctx
                    .required(raw.input_scale, "input_scale")
                    .map_err(|_| ctx.field_err("input_scale", why))?;
                let s_w = filter_scales
                    .as_ref()
                    .ok_or_else(|| ctx.field_err("filter_scales", why))?;
                let s_y = ctx
                    .required(raw.output_scale, "output_scale")
                    .map_err(|_| ctx.field_err("output_scale", why))?;
                check_scale(ctx, "input_scale", s_x, false)?;
                check_scale(ctx, "output_scale", s_y, false)?;
                let single = rounding == Rounding::Single;
                let mut ms = Vec::with_capacity(s_w.len());
                let mut ss = Vec::with_capacity(s_w.len());
                for (c, &w) in s_w.iter().enumerate() {
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(InputError::new(
                            ctx.case_file,
                            format!("element {c} of `filter_scales`"),
                            format!("scale {w} must be finite and >= 0"),
                        ));
                    }
                    let real = framework_real_multiplier(
                        op,
                        rounding,
                        per_tensor_scales(s_w),
                        s_x,
                        w,
                        s_y,
                    );
                    if !real.is_finite() {
                        return Err(InputError::new(
                            ctx.case_file,
                            format!("element {c} of `filter_scales`"),
                            format!("derived multiplier input_scale·filter_scale/output_scale = {real} is not finite"),
                        ));
                    }
                    let (m, s) = crate::arith::requant::quantize_multiplier(real, single);
                    ms.push(m);
                    ss.push(s);
                }
                (ms, ss)
            }
        };

        let case = Case {
            path: ctx.case_file.to_path_buf(),
            source: raw.source.unwrap_or_default(),
            op,
            input_shape,
            filter_shape,
            output_shape,
            stride,
            dilation,
            padding,
            depth_multiplier,
            groups,
            input_zero_point,
            filter_zero_point,
            output_zero_point,
            input_scale: raw.input_scale,
            filter_scales,
            output_scale: raw.output_scale,
            act_min,
            act_max,
            multiplier,
            shift,
            rounding,
            input_dtype,
            output_dtype,
            input,
            filter,
            bias,
            bias_float,
            output,
        };
        case.validate()?;
        Ok(case)
    }
}

fn wide((lo, hi): (i32, i32)) -> (i64, i64) {
    (i64::from(lo), i64::from(hi))
}

fn check_scale(ctx: &Ctx<'_>, field: &str, v: f64, zero_ok: bool) -> Result<(), InputError> {
    let ok = v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0));
    if ok {
        Ok(())
    } else {
        Err(ctx.field_err(
            field,
            format!(
                "scale {v} must be finite and {}",
                if zero_ok { ">= 0" } else { "> 0" }
            ),
        ))
    }
}

impl EltCase {
    /// Reads an elementwise case (a directory, `*.toml` or JSON file, like
    /// [`Case::read`]), validated.
    pub fn read(path: &Path) -> Result<EltCase, InputError> {
        read_with(path, |raw, ctx| {
            match elementwise_op(raw.op.as_deref()) {
            Some(op) => EltCase::from_raw(op, raw, ctx),
            None => Err(ctx.field_err(
                "op",
                "not an elementwise case (expected add, mul, cat, batch_norm, hardswish, avg_pool or adaptive_avg_pool)",
            )),
        }
        })
    }

    fn from_raw(op: EltOp, raw: RawCase, ctx: &Ctx<'_>) -> Result<EltCase, InputError> {
        for (field, present) in [
            ("filter", raw.filter.is_some()),
            ("filter_shape", raw.filter_shape.is_some()),
            ("filter_scales", raw.filter_scales.is_some()),
            ("filter_zero_point", raw.filter_zero_point.is_some()),
            ("bias", raw.bias.is_some()),
            ("bias_float", raw.bias_float.is_some()),
            ("multiplier", raw.multiplier.is_some()),
            ("shift", raw.shift.is_some()),
            ("stride", raw.stride.is_some()),
            ("dilation", raw.dilation.is_some()),
            ("padding", raw.padding.is_some()),
            ("depth_multiplier", raw.depth_multiplier.is_some()),
            ("groups", raw.groups.is_some()),
        ] {
            if present {
                return Err(ctx.field_err(
                    field,
                    format!("an elementwise case ({}) takes no {field}", op.name()),
                ));
            }
        }
        match raw.rounding.as_deref() {
            None | Some("torch") => {}
            Some(other) => {
                return Err(ctx.field_err(
                    "rounding",
                    format!("\"{other}\": an elementwise case's output is PyTorch's (\"torch\")"),
                ))
            }
        }
        let input_dtype = ctx.dtype(raw.input_dtype, "input_dtype")?;
        let output_dtype = ctx.dtype(raw.output_dtype, "output_dtype")?;
        if input_dtype != output_dtype {
            return Err(ctx.field_err(
                "output_dtype",
                format!(
                    "{} differs from input_dtype {} (PyTorch's {} takes and gives one dtype)",
                    output_dtype.name(),
                    input_dtype.name(),
                    op.name()
                ),
            ));
        }
        let dtype = input_dtype;
        let range = wide(dtype.range());
        let input_shape: [usize; 4] = ctx.usize_list(raw.input_shape, "input_shape", None, 1)?;
        let bn_fields = [
            ("bn_weight", raw.bn_weight.is_some()),
            ("bn_bias", raw.bn_bias.is_some()),
            ("bn_mean", raw.bn_mean.is_some()),
            ("bn_var", raw.bn_var.is_some()),
            ("bn_eps", raw.bn_eps.is_some()),
        ];
        let one_input = [
            ("input2", raw.input2.is_some()),
            ("input2_shape", raw.input2_shape.is_some()),
            ("input2_zero_point", raw.input2_zero_point.is_some()),
            ("input2_scale", raw.input2_scale.is_some()),
        ];
        let pool_fields = [
            ("pool_kernel", raw.pool_kernel.is_some()),
            ("pool_stride", raw.pool_stride.is_some()),
            ("pool_padding", raw.pool_padding.is_some()),
            ("count_include_pad", raw.count_include_pad.is_some()),
            ("divisor_override", raw.divisor_override.is_some()),
        ];
        let misplaced = match op {
            EltOp::BatchNorm => one_input.iter().chain(&pool_fields).find(|f| f.1),
            EltOp::AvgPool => one_input.iter().chain(&bn_fields).find(|f| f.1),
            EltOp::Hardswish | EltOp::AdaptiveAvgPool => one_input
                .iter()
                .chain(&bn_fields)
                .chain(&pool_fields)
                .find(|f| f.1),
            _ => bn_fields.iter().chain(&pool_fields).find(|f| f.1),
        };
        if let Some((field, _)) = misplaced {
            return Err(ctx.field_err(field, format!("op {} takes no {field}", op.name())));
        }
        let input2_shape: [usize; 4] = match (op, raw.input2_shape.clone()) {
            (EltOp::Cat, v) => ctx.usize_list(v, "input2_shape", None, 1)?,
            (_, None) => input_shape,
            (_, v) => ctx.usize_list(v, "input2_shape", None, 1)?,
        };
        let output_shape: [usize; 4] = ctx.usize_list(raw.output_shape, "output_shape", None, 1)?;
        let pool = if op == EltOp::AvgPool {
            let kernel: [usize; 2] =
                ctx.usize_list(raw.pool_kernel.clone(), "pool_kernel", None, 1)?;
            let stride: [usize; 2] =
                ctx.usize_list(raw.pool_stride.clone(), "pool_stride", Some(kernel), 1)?;
            let padding: [usize; 2] =
                ctx.usize_list(raw.pool_padding.clone(), "pool_padding", Some([0, 0]), 0)?;
            if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
                return Err(ctx.field_err(
                    "pool_padding",
                    format!(
                        "{padding:?} is more than half the kernel {kernel:?} (PyTorch refuses it)"
                    ),
                ));
            }
            let divisor_override = match raw.divisor_override {
                None => None,
                Some(d) if d >= 1 => Some(
                    usize::try_from(d)
                        .map_err(|_| ctx.field_err("divisor_override", "too large"))?,
                ),
                Some(d) => {
                    return Err(ctx.field_err("divisor_override", format!("must be >= 1, got {d}")))
                }
            };
            Some(Pool {
                kernel,
                stride,
                padding,
                count_include_pad: raw.count_include_pad.unwrap_or(true),
                divisor_override,
            })
        } else {
            None
        };
        let want = match op {
            EltOp::BatchNorm | EltOp::Hardswish => input_shape,
            EltOp::AdaptiveAvgPool => {
                let [n, _, _, c] = input_shape;
                [n, output_shape[1], output_shape[2], c]
            }
            EltOp::AvgPool => {
                let p = pool.as_ref().expect("an avg_pool has its window");
                let [n, h, w, c] = input_shape;
                let out = |i: usize, k: usize, s: usize, pad: usize| -> Result<usize, InputError> {
                    let span = i + 2 * pad;
                    if span < k {
                        return Err(ctx.field_err(
                            "pool_kernel",
                            format!(
                                "{:?} is larger than the padded input {:?}",
                                p.kernel,
                                [h + 2 * p.padding[0], w + 2 * p.padding[1]]
                            ),
                        ));
                    }
                    Ok((span - k) / s + 1)
                };
                [
                    n,
                    out(h, p.kernel[0], p.stride[0], p.padding[0])?,
                    out(w, p.kernel[1], p.stride[1], p.padding[1])?,
                    c,
                ]
            }
            EltOp::Add | EltOp::Mul => {
                if input2_shape != input_shape {
                    return Err(ctx.field_err(
                        "input2_shape",
                        format!(
                            "{input2_shape:?} differs from input_shape {input_shape:?} ({} of equal shapes only)",
                            op.name()
                        ),
                    ));
                }
                input_shape
            }
            EltOp::Cat => {
                if input2_shape[..3] != input_shape[..3] {
                    return Err(ctx.field_err(
                        "input2_shape",
                        format!("{input2_shape:?} and input_shape {input_shape:?} differ in N, H or W (cat joins channels)"),
                    ));
                }
                let [n, h, w, c1] = input_shape;
                [n, h, w, c1 + input2_shape[3]]
            }
        };
        if output_shape != want {
            return Err(ctx.field_err(
                "output_shape",
                format!("{output_shape:?}, but the inputs give {want:?}"),
            ));
        }
        for s in [input_shape, input2_shape, output_shape] {
            if s.iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .is_none()
            {
                return Err(
                    ctx.field_err("output_shape", format!("element count of {s:?} overflows"))
                );
            }
        }
        let zp = |v: Option<i64>, field: &str| -> Result<i32, InputError> {
            ctx.scalar_in(ctx.required(v, field)?, field, range, dtype.name())
        };
        let input_zero_point = zp(raw.input_zero_point, "input_zero_point")?;
        let input2_zero_point = if op.unary() {
            input_zero_point
        } else {
            zp(raw.input2_zero_point, "input2_zero_point")?
        };
        let output_zero_point = zp(raw.output_zero_point, "output_zero_point")?;
        let scale = |v: Option<f64>, field: &str| -> Result<f32, InputError> {
            let v = ctx.required(v, field)?;
            check_scale(ctx, field, v, false)?;
            let f = v as f32;
            if f as f64 != v || !(f > 0.0 && f.is_finite()) {
                return Err(ctx.field_err(
                    field,
                    format!("scale {v} is not a float32 value (PyTorch's kernels compute in float32; write float(scale))"),
                ));
            }
            Ok(f)
        };
        let input_scale = scale(raw.input_scale, "input_scale")?;
        let input2_scale = if op.unary() {
            input_scale
        } else {
            scale(raw.input2_scale, "input2_scale")?
        };
        let output_scale = scale(raw.output_scale, "output_scale")?;
        let act_min = ctx.scalar_in(
            raw.act_min.unwrap_or(range.0),
            "act_min",
            range,
            dtype.name(),
        )?;
        let act_max = ctx.scalar_in(
            raw.act_max.unwrap_or(range.1),
            "act_max",
            range,
            dtype.name(),
        )?;
        if act_min > act_max {
            return Err(ctx.field_err("act_min", format!("{act_min} is above act_max {act_max}")));
        }
        let torch_vector_bytes = match ctx.required(raw.torch_vector_bytes, "torch_vector_bytes")? {
            v @ (32 | 64) => v as usize,
            v => {
                return Err(ctx.field_err(
                    "torch_vector_bytes",
                    format!("{v}: expected 64 (PyTorch's AVX512 kernels) or 32 (AVX2)"),
                ))
            }
        };
        let torch_layout = match raw.torch_layout.as_deref() {
            None | Some("nhwc") => Layout::Nhwc,
            Some("nchw") if op == EltOp::AdaptiveAvgPool => {
                return Err(ctx.field_err(
                    "torch_layout",
                    "\"nchw\": PyTorch's adaptive average pooling of a contiguous (NCHW) tensor is not emulated (channels-last only)",
                ))
            }
            Some("nchw") => Layout::Nchw,
            Some(other) => {
                return Err(ctx.field_err(
                    "torch_layout",
                    format!("\"{other}\" (expected \"nhwc\", channels_last, or \"nchw\")"),
                ))
            }
        };
        let not_null = |v: Option<serde_json::Value>| v.filter(|v| !v.is_null());
        let tensor = |v: Option<serde_json::Value>, field: &str, shape: &[usize; 4]| {
            let v = ctx.required(not_null(v), field)?;
            let a = ctx.load_ints(field, &v, Some(shape))?;
            let n: usize = shape.iter().product();
            if a.vals.len() != n {
                return Err(ctx.field_err(
                    field,
                    format!(
                        "has {} elements, its shape {shape:?} holds {n}",
                        a.vals.len()
                    ),
                ));
            }
            ctx.narrow(&a, field, range, dtype.name())
        };
        let input = tensor(raw.input, "input", &input_shape)?;
        let input2 = if op.unary() {
            Vec::new()
        } else {
            tensor(raw.input2, "input2", &input2_shape)?
        };
        let bn = if op == EltOp::BatchNorm {
            let c = input_shape[3];
            let floats = |v: Option<serde_json::Value>, field: &str, non_negative: bool| {
                let v = ctx.required(not_null(v), field)?;
                let a = ctx.load_floats(field, &v, Some(&[c]))?;
                if a.vals.len() != c {
                    return Err(ctx.field_err(
                        field,
                        format!("has {} values, the input has {c} channels", a.vals.len()),
                    ));
                }
                a.vals
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        let f = x as f32;
                        if !x.is_finite() || f as f64 != x || (non_negative && x < 0.0) {
                            Err(ctx.elem_err(
                                &a.loc,
                                field,
                                i,
                                format!(
                                    "{x} is not a {}float32 value",
                                    if non_negative { "non-negative " } else { "" }
                                ),
                            ))
                        } else {
                            Ok(f)
                        }
                    })
                    .collect::<Result<Vec<f32>, InputError>>()
            };
            let eps = ctx.required(raw.bn_eps, "bn_eps")?;
            if !(eps.is_finite() && eps >= 0.0) {
                return Err(ctx.field_err("bn_eps", format!("{eps} must be finite and >= 0")));
            }
            Some(BatchNorm {
                weight: floats(raw.bn_weight, "bn_weight", false)?,
                bias: floats(raw.bn_bias, "bn_bias", false)?,
                mean: floats(raw.bn_mean, "bn_mean", false)?,
                var: floats(raw.bn_var, "bn_var", true)?,
                eps,
            })
        } else {
            None
        };
        let output = match not_null(raw.output.clone()) {
            Some(_) => Some(tensor(raw.output, "output", &output_shape)?),
            None => None,
        };
        Ok(EltCase {
            path: ctx.case_file.to_path_buf(),
            source: raw.source.unwrap_or_default(),
            op,
            input_shape,
            input2_shape,
            output_shape,
            input_zero_point,
            input2_zero_point,
            output_zero_point,
            input_scale,
            input2_scale,
            output_scale,
            act_min,
            act_max,
            dtype,
            torch_vector_bytes,
            torch_layout,
            input,
            input2,
            output,
            bn,
            pool,
        })
    }
}
