//! The qcase layer-case format (see docs/qcase.md): one quantized layer, its
//! integer tensors, quantization parameters and optionally the framework's
//! output. Read from a JSON file or a directory (case.toml + .npy/.txt), written
//! as JSON. Every violation is an [`InputError`] naming the file and field.

use std::path::{Path, PathBuf};

use ndarray::{ArrayView1, ArrayView4};
use serde::{Deserialize, Serialize};

use crate::arith::DType;
use crate::error::InputError;

/// The layer operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Conv2d,
    DepthwiseConv2d,
    FullyConnected,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Conv2d => "conv2d",
            Op::DepthwiseConv2d => "depthwise_conv2d",
            Op::FullyConnected => "fully_connected",
        }
    }
}

/// How the case's `output` was requantized (docs/contract.md §2, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// TFLite / gemmlowp: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT.
    Double,
    /// TFLITE_SINGLE_ROUNDING: one 64-bit rounding shift.
    Single,
    /// round_half_away(double(acc) * M): TFLite 2.21's reference FC kernel.
    Float64,
    /// PyTorch fbgemm float32 requantization.
    Fbgemm,
    /// PyTorch oneDNN float32 requantization.
    Onednn,
}

impl Rounding {
    pub fn name(self) -> &'static str {
        match self {
            Rounding::Double => "double",
            Rounding::Single => "single",
            Rounding::Float64 => "float64",
            Rounding::Fbgemm => "fbgemm",
            Rounding::Onednn => "onednn",
        }
    }
    /// True for the two integer modes an integer datapath implements.
    pub fn is_integer(self) -> bool {
        matches!(self, Rounding::Double | Rounding::Single)
    }
}

/// One validated layer case. Tensors are flat, row-major in the qcase layouts
/// (NHWC activations, `[Cout, KH, KW, Cin]` conv filters, `[1, KH, KW, C·dm]`
/// depthwise filters, `[N,1,1,K]` / `[Cout,1,1,K]` for fully-connected).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Where the case was read from (used in messages); empty when built in memory.
    pub path: PathBuf,
    pub source: String,
    pub op: Op,
    pub input_shape: [usize; 4],
    pub filter_shape: [usize; 4],
    pub output_shape: [usize; 4],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// [top, bottom, left, right]
    pub padding: [usize; 4],
    pub depth_multiplier: usize,
    pub input_zero_point: i32,
    pub filter_zero_point: i32,
    pub output_zero_point: i32,
    pub input_scale: Option<f64>,
    pub filter_scales: Option<Vec<f64>>,
    pub output_scale: Option<f64>,
    pub act_min: i32,
    pub act_max: i32,
    /// One entry per output channel, or one for per-tensor quantization.
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub rounding: Rounding,
    pub input_dtype: DType,
    pub output_dtype: DType,
    pub input: Vec<i32>,
    pub filter: Vec<i32>,
    pub bias: Option<Vec<i32>>,
    /// PyTorch's float bias (fbgemm / onednn cases).
    pub bias_float: Option<Vec<f64>>,
    pub output: Option<Vec<i32>>,
}

/// A case's filter is per-tensor when it has one scale, or one repeated for
/// every channel (the qcase convention; a TFLite model says so by its one scale).
pub fn per_tensor_scales(filter_scales: &[f64]) -> bool {
    filter_scales.iter().all(|&v| v == filter_scales[0])
}

/// THE rule for which real multiplier a framework quantizes (written once;
/// `qcase` derivation, `qmac model`'s Prepare, `regress` coverage and
/// `quantize` all call it): TFLite forms `double(S_x)·double(S_w)/double(S_y)`
/// (PopulateConvolutionQuantizationParams), except that its per-tensor
/// FULLY_CONNECTED (GetQuantizedConvolutionMultipler) forms the product
/// `S_x·S_w` in float32 first. PyTorch cases (fbgemm / onednn) use the f64 ratio.
pub fn framework_real_multiplier(
    op: Op,
    rounding: Rounding,
    per_tensor: bool,
    s_x: f64,
    s_w: f64,
    s_y: f64,
) -> f64 {
    let float32_product = op == Op::FullyConnected
        && per_tensor
        && !matches!(rounding, Rounding::Fbgemm | Rounding::Onednn);
    crate::arith::requant::tflite_real_multiplier(s_x, s_w, s_y, float32_product)
}

impl Case {
    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.output_shape[3]
    }
    /// Multiplier and shift of output channel `c` (per-tensor cases broadcast).
    pub fn channel_params(&self, c: usize) -> (i32, i32) {
        let i = if self.multiplier.len() == 1 { 0 } else { c };
        (self.multiplier[i], self.shift[i])
    }
    pub fn bias_of(&self, c: usize) -> i32 {
        self.bias.as_ref().map_or(0, |b| b[c])
    }
    /// The real multiplier `S_x·S_w[c]/S_y` of output channel `c` exactly as
    /// the case's framework forms it ([`framework_real_multiplier`]); `None`
    /// without scales.
    pub fn real_multiplier(&self, c: usize) -> Option<f64> {
        let (sx, sw, sy) = (
            self.input_scale?,
            self.filter_scales.as_ref()?,
            self.output_scale?,
        );
        let w = *sw.get(if sw.len() == 1 { 0 } else { c })?;
        Some(framework_real_multiplier(
            self.op,
            self.rounding,
            per_tensor_scales(sw),
            sx,
            w,
            sy,
        ))
    }
    pub fn input_view(&self) -> ArrayView4<'_, i32> {
        ArrayView4::from_shape(self.input_shape, &self.input).expect("validated shape")
    }
    pub fn filter_view(&self) -> ArrayView4<'_, i32> {
        ArrayView4::from_shape(self.filter_shape, &self.filter).expect("validated shape")
    }
    pub fn bias_view(&self) -> Option<ArrayView1<'_, i32>> {
        self.bias.as_ref().map(|b| ArrayView1::from(b.as_slice()))
    }
    /// Multiply-accumulate count (non-padded taps are counted as well).
    pub fn macs(&self) -> u64 {
        let [n, oh, ow, oc] = self.output_shape;
        let taps = match self.op {
            Op::Conv2d => self.filter_shape[1] * self.filter_shape[2] * self.filter_shape[3],
            Op::DepthwiseConv2d => self.filter_shape[1] * self.filter_shape[2],
            Op::FullyConnected => self.filter_shape[3],
        };
        (n * oh * ow * oc * taps) as u64
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// The file a directory case keeps its scalar fields in.
pub const CASE_TOML: &str = "case.toml";

const SHIFT_MIN: i64 = -31;
const SHIFT_MAX: i64 = 30;
const INT8: (i64, i64) = (-128, 127);
const INT32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);

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
        match v {
            serde_json::Value::String(name) => {
                let path = self.array_path(field, name)?;
                match self.file_kind(field, &path)? {
                    FileKind::Txt => {
                        let text = crate::formats::textarray::read_text(&path)?;
                        let pairs = crate::formats::textarray::parse_int_array_lines(&path, &text)?;
                        let (vals, lines) = pairs.into_iter().unzip();
                        Ok(Loaded {
                            vals,
                            loc: Loc::Txt(path, lines),
                        })
                    }
                    FileKind::Npy => {
                        let (data, npy_shape) = read_npy(&path, field, false)?;
                        check_npy_shape(&path, field, &npy_shape, shape)?;
                        let vals = match data {
                            NpyData::Int(v) => v,
                            NpyData::Float(_) => float_in_int_tensor(&path, field)?,
                        };
                        Ok(Loaded {
                            vals,
                            loc: Loc::Npy(path),
                        })
                    }
                }
            }
            _ => {
                let leaves = self.flatten(field, v)?;
                let mut vals = Vec::with_capacity(leaves.len());
                for (i, leaf) in leaves.iter().enumerate() {
                    let n = match leaf {
                        serde_json::Value::Number(n) => n,
                        other => {
                            return Err(self.elem_err(
                                &Loc::Inline,
                                field,
                                i,
                                format!("expected an integer, found {}", kind_of(other)),
                            ))
                        }
                    };
                    match n.as_i64() {
                        Some(x) => vals.push(x),
                        None if n.is_u64() => {
                            return Err(self.elem_err(
                                &Loc::Inline,
                                field,
                                i,
                                format!("value {n} is out of range"),
                            ))
                        }
                        None => {
                            return Err(self.elem_err(
                                &Loc::Inline,
                                field,
                                i,
                                format!("`{n}` is not an integer"),
                            ))
                        }
                    }
                }
                Ok(Loaded {
                    vals,
                    loc: Loc::Inline,
                })
            }
        }
    }

    /// Loads a float tensor field (`filter_scales`, `bias_float`).
    fn load_floats(
        &self,
        field: &str,
        v: &serde_json::Value,
        shape: Option<&[usize]>,
    ) -> Result<Loaded<f64>, InputError> {
        match v {
            serde_json::Value::String(name) => {
                let path = self.array_path(field, name)?;
                match self.file_kind(field, &path)? {
                    FileKind::Txt => {
                        let text = crate::formats::textarray::read_text(&path)?;
                        let pairs =
                            crate::formats::textarray::parse_float_array_lines(&path, &text)?;
                        let (vals, lines) = pairs.into_iter().unzip();
                        Ok(Loaded {
                            vals,
                            loc: Loc::Txt(path, lines),
                        })
                    }
                    FileKind::Npy => {
                        let (data, npy_shape) = read_npy(&path, field, true)?;
                        check_npy_shape(&path, field, &npy_shape, shape)?;
                        let vals = match data {
                            NpyData::Float(v) => v,
                            NpyData::Int(v) => v.into_iter().map(|x| x as f64).collect(),
                        };
                        Ok(Loaded {
                            vals,
                            loc: Loc::Npy(path),
                        })
                    }
                }
            }
            _ => {
                let leaves = self.flatten(field, v)?;
                let mut vals = Vec::with_capacity(leaves.len());
                for (i, leaf) in leaves.iter().enumerate() {
                    match leaf.as_f64() {
                        Some(x) => vals.push(x),
                        None => {
                            return Err(self.elem_err(
                                &Loc::Inline,
                                field,
                                i,
                                format!("expected a number, found {}", kind_of(leaf)),
                            ))
                        }
                    }
                }
                Ok(Loaded {
                    vals,
                    loc: Loc::Inline,
                })
            }
        }
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

enum FileKind {
    Npy,
    Txt,
}

enum NpyData {
    Int(Vec<i64>),
    Float(Vec<f64>),
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

fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
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

/// Reject .npy headers the header parser would choke on before it sees them:
/// a declared header length beyond the file (the parser allocates it first,
/// up to 4 GiB), and bracket nesting deeper than a real header's (a flat dict
/// with one shape tuple, depth 2), which makes its parser take exponential time.
fn check_npy_header_text(path: &Path, bytes: &[u8]) -> Result<(), InputError> {
    let len_at = match bytes.get(6) {
        Some(1) => Some((
            8usize,
            u16::from_le_bytes([
                bytes.get(8).copied().unwrap_or(0),
                bytes.get(9).copied().unwrap_or(0),
            ]) as usize,
            10usize,
        )),
        Some(2) | Some(3) if bytes.len() >= 12 => Some((
            8,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )),
        _ => None,
    };
    let Some((_, hlen, start)) = len_at else {
        return Ok(());
    }; // the parser reports bad magic/versions
       // The parser allocates the declared header length before reading it.
    if start.saturating_add(hlen) > bytes.len() {
        return Err(InputError::new(
            path,
            "file",
            format!(
                "not a valid .npy file: header length {hlen} exceeds the file ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let end = start.saturating_add(hlen).min(bytes.len());
    let header = &bytes[start.min(end)..end];
    let mut depth = 0usize;
    for &b in header {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > 3 {
                    return Err(InputError::new(
                        path,
                        "file",
                        "not a valid .npy file: header nests brackets too deeply",
                    ));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads a `.npy` file of any integer dtype (and, if `float_ok`, float32 /
/// float64), flattened row-major, with its shape.
fn read_npy(path: &Path, field: &str, float_ok: bool) -> Result<(NpyData, Vec<usize>), InputError> {
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    parse_npy(path, &bytes, field, float_ok)
}

/// Parses an in-memory `.npy` image of an integer dtype (an npz member, a
/// file already read): the values, flattened row-major, and the shape.
/// `path` names the file (or `archive.npz:member`) in messages.
pub fn parse_int_npy(
    path: &Path,
    bytes: &[u8],
    field: &str,
) -> Result<(Vec<i64>, Vec<usize>), InputError> {
    match parse_npy(path, bytes, field, false)? {
        (NpyData::Int(v), shape) => Ok((v, shape)),
        (NpyData::Float(_), _) => Err(InputError::new(
            path,
            format!("field `{field}`"),
            "float data, an integer dtype is needed",
        )),
    }
}

fn parse_npy(
    path: &Path,
    bytes: &[u8],
    field: &str,
    float_ok: bool,
) -> Result<(NpyData, Vec<usize>), InputError> {
    use ndarray::ArrayD;
    use ndarray_npy::npy::header::Header;
    use ndarray_npy::{ReadNpyExt, ReadableElement};
    check_npy_header_text(path, bytes)?;
    let header = Header::from_reader(&mut &bytes[..])
        .map_err(|e| InputError::new(path, "file", format!("not a valid .npy file: {e}")))?;
    let descr = match header.type_descriptor.as_string() {
        Some(s) => s.clone(),
        None => header.type_descriptor.to_string(),
    };
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    let (kind, size): (char, usize) = match code {
        "b" => ('i', 1),
        "B" => ('u', 1),
        _ => {
            let mut chars = code.chars();
            let k = chars.next().unwrap_or('?');
            (k, chars.as_str().parse().unwrap_or(0))
        }
    };
    // Each axis must fit an array ndarray can index (the non-zero axes'
    // product within isize), even when another axis is 0.
    let nonzero: Vec<usize> = header.shape.iter().copied().filter(|&d| d != 0).collect();
    if checked_product(&nonzero).is_none_or(|n| n > isize::MAX as usize) {
        return Err(InputError::new(
            path,
            "file",
            format!("shape {:?} is too large", header.shape),
        ));
    }
    let count = checked_product(&header.shape).ok_or_else(|| {
        InputError::new(
            path,
            "file",
            format!("shape {:?} is too large", header.shape),
        )
    })?;
    // Also keeps a lying header from making us allocate a huge buffer.
    if size != 0 && count.checked_mul(size).is_none_or(|n| n > bytes.len()) {
        return Err(InputError::new(
            path,
            "file",
            format!(
                "file is too short for its header (shape {:?}, dtype {descr})",
                header.shape
            ),
        ));
    }
    fn get<T: ReadableElement>(path: &Path, bytes: &[u8]) -> Result<Vec<T>, InputError> {
        match ArrayD::<T>::read_npy(bytes) {
            Ok(a) => Ok(a.into_iter().collect()),
            Err(e) => Err(InputError::new(
                path,
                "file",
                format!("cannot read .npy data: {e}"),
            )),
        }
    }
    fn ints<T>(path: &Path, field: &str, bytes: &[u8]) -> Result<NpyData, InputError>
    where
        T: ReadableElement + Copy + std::fmt::Display,
        i64: TryFrom<T>,
    {
        let v = get::<T>(path, bytes)?;
        let mut out = Vec::with_capacity(v.len());
        for (i, x) in v.into_iter().enumerate() {
            out.push(i64::try_from(x).map_err(|_| {
                InputError::new(
                    path,
                    format!("element {i} of `{field}`"),
                    format!("value {x} is out of range"),
                )
            })?);
        }
        Ok(NpyData::Int(out))
    }
    let data = match (kind, size) {
        ('i', 1) => ints::<i8>(path, field, bytes)?,
        ('u', 1) => ints::<u8>(path, field, bytes)?,
        ('i', 2) => ints::<i16>(path, field, bytes)?,
        ('u', 2) => ints::<u16>(path, field, bytes)?,
        ('i', 4) => ints::<i32>(path, field, bytes)?,
        ('u', 4) => ints::<u32>(path, field, bytes)?,
        ('i', 8) => ints::<i64>(path, field, bytes)?,
        ('u', 8) => ints::<u64>(path, field, bytes)?,
        ('f', 4) | ('f', 8) if !float_ok => {
            return Err(InputError::new(
                path,
                format!("field `{field}`"),
                format!("dtype {descr} is a float type; `{field}` needs an integer dtype"),
            ))
        }
        ('f', 4) => NpyData::Float(
            get::<f32>(path, bytes)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
        ('f', 8) => NpyData::Float(get::<f64>(path, bytes)?),
        _ => {
            return Err(InputError::new(
                path,
                format!("field `{field}`"),
                format!(
                    "unsupported dtype {descr} (expected an integer dtype{})",
                    if float_ok {
                        " or float32 / float64"
                    } else {
                        ""
                    }
                ),
            ))
        }
    };
    Ok((data, header.shape))
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

impl Case {
    /// Reads a case: a directory holding `case.toml` (+ `.npy` / `.txt` array
    /// files), a `*.toml` file (same, arrays relative to its directory), or
    /// otherwise a JSON file (any extension). The result is validated.
    pub fn read(path: &Path) -> Result<Case, InputError> {
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
            let raw: RawCase =
                toml::from_str(&text).map_err(|e| toml_error(&toml_path, &text, &e))?;
            let ctx = Ctx {
                case_file: &toml_path,
                dir: Some(&dir),
            };
            Self::from_raw(raw, &ctx)
        } else {
            let text = crate::formats::textarray::read_text(path)?;
            Self::from_json_str(path, &text)
        }
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
        let op = match ctx.required(raw.op, "op")?.as_str() {
            "conv2d" => Op::Conv2d,
            "depthwise_conv2d" => Op::DepthwiseConv2d,
            "fully_connected" => Op::FullyConnected,
            other => {
                return Err(ctx.field_err(
                    "op",
                    format!(
                    "unknown op \"{other}\" (expected conv2d, depthwise_conv2d or fully_connected)"
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

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

impl Case {
    /// Checks every rule of docs/qcase.md (shapes per op, output size from
    /// padding / stride / dilation, array lengths, element and parameter
    /// ranges). Errors name `self.path` and the field or element.
    pub fn validate(&self) -> Result<(), InputError> {
        let file = &self.path;
        let field = |name: &str, msg: String| InputError::new(file, format!("field `{name}`"), msg);
        let elem = |name: &str, i: usize, msg: String| {
            InputError::new(file, format!("element {i} of `{name}`"), msg)
        };

        // Shapes and scalar geometry.
        let shapes = [
            ("input_shape", self.input_shape),
            ("filter_shape", self.filter_shape),
            ("output_shape", self.output_shape),
        ];
        let mut counts = [0usize; 3];
        for (k, (name, s)) in shapes.iter().enumerate() {
            if s.contains(&0) {
                return Err(field(name, format!("dimensions must be >= 1, got {s:?}")));
            }
            counts[k] = checked_product(s)
                .ok_or_else(|| field(name, format!("element count of {s:?} overflows")))?;
        }
        let [n_input, n_filter, n_output] = counts;
        for (name, v) in [("stride", self.stride), ("dilation", self.dilation)] {
            if v.contains(&0) {
                return Err(field(name, format!("entries must be >= 1, got {v:?}")));
            }
        }
        if self.depth_multiplier == 0 {
            return Err(field("depth_multiplier", "must be >= 1, got 0".into()));
        }

        let [n, h, w, cin] = self.input_shape;
        let [fo, kh, kw, fc] = self.filter_shape;
        let [on, oh, ow, oc] = self.output_shape;
        let (is, fs, os) = (self.input_shape, self.filter_shape, self.output_shape);
        match self.op {
            Op::Conv2d | Op::FullyConnected => {
                if self.depth_multiplier != 1 {
                    return Err(field(
                        "depth_multiplier",
                        format!(
                            "must be 1 for {}, got {}",
                            self.op.name(),
                            self.depth_multiplier
                        ),
                    ));
                }
            }
            Op::DepthwiseConv2d => {}
        }
        match self.op {
            Op::Conv2d => {
                if fc != cin {
                    return Err(field(
                        "filter_shape",
                        format!("conv2d filter {fs:?} has {fc} input channels, input_shape {is:?} has {cin}"),
                    ));
                }
                if fo != oc {
                    return Err(field(
                        "output_shape",
                        format!("output_shape {os:?} has {oc} channels, filter_shape {fs:?} has {fo} filters"),
                    ));
                }
            }
            Op::DepthwiseConv2d => {
                if fo != 1 {
                    return Err(field(
                        "filter_shape",
                        format!("depthwise filter must be [1, KH, KW, Cin·depth_multiplier], got {fs:?}"),
                    ));
                }
                let want = cin.checked_mul(self.depth_multiplier);
                if want != Some(fc) {
                    return Err(field(
                        "filter_shape",
                        format!(
                            "depthwise filter {fs:?} has {fc} channels, expected input channels {cin} × depth_multiplier {}",
                            self.depth_multiplier
                        ),
                    ));
                }
                if oc != fc {
                    return Err(field(
                        "output_shape",
                        format!("output_shape {os:?} has {oc} channels, depthwise filter {fs:?} has {fc}"),
                    ));
                }
            }
            Op::FullyConnected => {
                if h != 1 || w != 1 {
                    return Err(field(
                        "input_shape",
                        format!("fully_connected input must be [N, 1, 1, K], got {is:?}"),
                    ));
                }
                if kh != 1 || kw != 1 || fc != cin {
                    return Err(field(
                        "filter_shape",
                        format!("fully_connected filter must be [Cout, 1, 1, K] with K = {cin}, got {fs:?}"),
                    ));
                }
                if oh != 1 || ow != 1 || oc != fo {
                    return Err(field(
                        "output_shape",
                        format!("fully_connected output must be [N, 1, 1, Cout] with Cout = {fo}, got {os:?}"),
                    ));
                }
                if self.padding != [0, 0, 0, 0] {
                    return Err(field(
                        "padding",
                        format!("fully_connected takes no padding, got {:?}", self.padding),
                    ));
                }
            }
        }
        if on != n {
            return Err(field(
                "output_shape",
                format!("output batch {on} differs from input batch {n} (input_shape {is:?})"),
            ));
        }
        let [pt, pb, pl, pr] = self.padding;
        let axes = [
            (
                "height",
                h,
                kh,
                pt,
                pb,
                self.stride[0],
                self.dilation[0],
                oh,
            ),
            ("width", w, kw, pl, pr, self.stride[1], self.dilation[1], ow),
        ];
        for (axis, size, k, pa, pz, s, d, out) in axes {
            let extent = d.checked_mul(k - 1).and_then(|x| x.checked_add(1));
            let padded = size.checked_add(pa).and_then(|x| x.checked_add(pz));
            let (Some(extent), Some(padded)) = (extent, padded) else {
                return Err(field(
                    "output_shape",
                    format!("{axis} arithmetic overflows"),
                ));
            };
            if padded < extent {
                return Err(field(
                    "filter_shape",
                    format!(
                        "dilated kernel {axis} {extent} exceeds the padded input {axis} {padded} \
                         ({size} + padding {pa} + {pz}); the output would be empty"
                    ),
                ));
            }
            let want = (padded - extent) / s + 1;
            if out != want {
                return Err(field(
                    "output_shape",
                    format!(
                        "output {axis} {out} does not match floor(({size} + {pa} + {pz} − {d}·({k} − 1) − 1) / {s}) + 1 = {want} \
                         (input {axis}, padding, dilation, kernel, stride)"
                    ),
                ));
            }
        }

        // Array lengths.
        let len_check = |name: &str, len: usize, want: usize, what: &str| {
            if len == want {
                Ok(())
            } else {
                Err(field(
                    name,
                    format!("has {len} elements, expected {want} ({what})"),
                ))
            }
        };
        len_check(
            "input",
            self.input.len(),
            n_input,
            &format!("product of input_shape {is:?}"),
        )?;
        len_check(
            "filter",
            self.filter.len(),
            n_filter,
            &format!("product of filter_shape {fs:?}"),
        )?;
        if let Some(o) = &self.output {
            len_check(
                "output",
                o.len(),
                n_output,
                &format!("product of output_shape {os:?}"),
            )?;
        }
        if let Some(b) = &self.bias {
            len_check("bias", b.len(), oc, "one per output channel")?;
        }
        if let Some(b) = &self.bias_float {
            len_check("bias_float", b.len(), oc, "one per output channel")?;
        }
        let per_channel = |name: &str, len: usize| {
            if len == 1 || len == oc {
                Ok(())
            } else {
                Err(field(
                    name,
                    format!(
                        "has {len} entries, expected 1 (per tensor) or {oc} (per output channel)"
                    ),
                ))
            }
        };
        per_channel("multiplier", self.multiplier.len())?;
        if self.shift.len() != self.multiplier.len() {
            return Err(field(
                "shift",
                format!(
                    "has {} entries but `multiplier` has {}",
                    self.shift.len(),
                    self.multiplier.len()
                ),
            ));
        }
        if let Some(s) = &self.filter_scales {
            per_channel("filter_scales", s.len())?;
        }

        // Element and parameter ranges.
        let range_check = |name: &str, vals: &[i32], (lo, hi): (i32, i32), what: &str| match vals
            .iter()
            .position(|&x| x < lo || x > hi)
        {
            None => Ok(()),
            Some(i) => Err(elem(
                name,
                i,
                format!("value {} is outside the {what} range [{lo}, {hi}]", vals[i]),
            )),
        };
        let (ir, or) = (self.input_dtype.range(), self.output_dtype.range());
        let (iname, oname) = (self.input_dtype.name(), self.output_dtype.name());
        range_check("input", &self.input, ir, iname)?;
        range_check("filter", &self.filter, (-128, 127), "int8")?;
        if let Some(o) = &self.output {
            range_check("output", o, or, oname)?;
        }
        range_check(
            "multiplier",
            &self.multiplier,
            (0, i32::MAX),
            "non-negative int32",
        )?;
        range_check(
            "shift",
            &self.shift,
            (SHIFT_MIN as i32, SHIFT_MAX as i32),
            "shift",
        )?;
        let scalar = |name: &str, v: i32, (lo, hi): (i32, i32), what: &str| {
            if v < lo || v > hi {
                Err(field(
                    name,
                    format!("value {v} is outside the {what} range [{lo}, {hi}]"),
                ))
            } else {
                Ok(())
            }
        };
        scalar("input_zero_point", self.input_zero_point, ir, iname)?;
        scalar(
            "filter_zero_point",
            self.filter_zero_point,
            (-128, 127),
            "int8",
        )?;
        scalar("output_zero_point", self.output_zero_point, or, oname)?;
        scalar("act_min", self.act_min, or, oname)?;
        scalar("act_max", self.act_max, or, oname)?;
        if self.act_min > self.act_max {
            return Err(field(
                "act_min",
                format!(
                    "act_min {} is greater than act_max {}",
                    self.act_min, self.act_max
                ),
            ));
        }

        // Float parameters.
        for (name, v) in [
            ("input_scale", self.input_scale),
            ("output_scale", self.output_scale),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(field(name, format!("scale {v} must be finite and > 0")));
                }
            }
        }
        if let Some(s) = &self.filter_scales {
            if let Some(i) = s.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(elem(
                    "filter_scales",
                    i,
                    format!("scale {} must be finite and >= 0", s[i]),
                ));
            }
        }
        if let Some(b) = &self.bias_float {
            if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                return Err(elem(
                    "bias_float",
                    i,
                    format!("value {} is not finite", b[i]),
                ));
            }
        }
        if !self.rounding.is_integer() {
            let r = self.rounding.name();
            let need = format!("required with rounding \"{r}\" (the float requantization uses it)");
            if self.input_scale.is_none() {
                return Err(field("input_scale", need));
            }
            if self.filter_scales.is_none() {
                return Err(field("filter_scales", need));
            }
            if self.output_scale.is_none() {
                return Err(field("output_scale", need));
            }
        }
        if matches!(self.rounding, Rounding::Fbgemm | Rounding::Onednn)
            && self.bias.is_some()
            && self.bias_float.is_none()
        {
            return Err(field(
                "bias_float",
                format!(
                    "missing: rounding \"{}\" with a bias needs the float bias (one per output channel)",
                    self.rounding.name()
                ),
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

fn json_f64(v: f64) -> String {
    // serde_json prints the shortest representation that reads back exactly.
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

fn json_list<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

impl Case {
    /// The case as pretty JSON in the docs/qcase.md layout and field order, with
    /// every field spelled out (derived multiplier / shift, dtypes, rounding).
    /// Absent scales, `bias_float` and `output` are omitted; a missing bias is
    /// `null`. Each array is on one line.
    pub fn to_json(&self) -> String {
        let mut fields: Vec<(&str, String)> = vec![
            (
                "source",
                serde_json::to_string(&self.source).unwrap_or_else(|_| "\"\"".into()),
            ),
            ("op", format!("\"{}\"", self.op.name())),
            ("input_shape", json_list(&self.input_shape)),
            ("filter_shape", json_list(&self.filter_shape)),
            ("output_shape", json_list(&self.output_shape)),
            ("stride", json_list(&self.stride)),
            ("dilation", json_list(&self.dilation)),
            ("padding", json_list(&self.padding)),
            ("depth_multiplier", self.depth_multiplier.to_string()),
            ("input_zero_point", self.input_zero_point.to_string()),
            ("filter_zero_point", self.filter_zero_point.to_string()),
            ("output_zero_point", self.output_zero_point.to_string()),
        ];
        if let Some(s) = self.input_scale {
            fields.push(("input_scale", json_f64(s)));
        }
        if let Some(s) = &self.filter_scales {
            let items: Vec<String> = s.iter().map(|&v| json_f64(v)).collect();
            fields.push(("filter_scales", format!("[{}]", items.join(", "))));
        }
        if let Some(s) = self.output_scale {
            fields.push(("output_scale", json_f64(s)));
        }
        fields.extend([
            ("act_min", self.act_min.to_string()),
            ("act_max", self.act_max.to_string()),
            ("multiplier", json_list(&self.multiplier)),
            ("shift", json_list(&self.shift)),
            ("rounding", format!("\"{}\"", self.rounding.name())),
            ("input_dtype", format!("\"{}\"", self.input_dtype.name())),
            ("output_dtype", format!("\"{}\"", self.output_dtype.name())),
            ("input", json_list(&self.input)),
            ("filter", json_list(&self.filter)),
            (
                "bias",
                self.bias
                    .as_deref()
                    .map_or_else(|| "null".into(), json_list),
            ),
        ]);
        if let Some(b) = &self.bias_float {
            let items: Vec<String> = b.iter().map(|&v| json_f64(v)).collect();
            fields.push(("bias_float", format!("[{}]", items.join(", "))));
        }
        if let Some(o) = &self.output {
            fields.push(("output", json_list(o)));
        }
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  \"{k}\": {v}"))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }

    /// Writes [`Case::to_json`] to `path`. An existing file is only replaced
    /// when `overwrite` is true.
    pub fn write_json(&self, path: &Path, overwrite: bool) -> anyhow::Result<()> {
        use anyhow::Context as _;
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        if overwrite {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let mut f = match opts.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                anyhow::bail!(
                    "{}: refusing to overwrite an existing file (allow overwriting to replace it)",
                    path.display()
                )
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("{}: cannot create case file", path.display()))
            }
        };
        f.write_all(self.to_json().as_bytes())
            .and_then(|()| f.flush())
            .with_context(|| format!("{}: cannot write case file", path.display()))
    }
}
