//! `.npy` files and `.npz` archives: the one hardened `.npy` parser (on
//! ndarray-npy, behind checks of the header text), and int8 tensors (a model's input, its
//! expected output, and reference intermediate tensors keyed `t<index>_<name>`).
//! Every member goes through the same hardened `.npy` parser as qcase arrays
//! ([`parse_int_npy`]); values outside int8 are an error naming the file,
//! member and element.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::InputError;

/// An int8 array and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int8Array {
    pub shape: Vec<usize>,
    pub data: Vec<i8>,
}

/// A float32 array and its shape (a DEQUANTIZE output: the model's float
/// output, or its reference tensor).
#[derive(Debug, Clone, PartialEq)]
pub struct F32Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn to_f32(label: &Path, values: Vec<f64>, shape: Vec<usize>) -> Result<F32Array, InputError> {
    let mut data = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let f = v as f32;
        if f as f64 != v && !v.is_nan() {
            return Err(InputError::new(
                label,
                format!("element {i}"),
                format!("value {v} is not a float32 (a float32 output is compared bit for bit)"),
            ));
        }
        data.push(f);
    }
    Ok(F32Array { shape, data })
}

/// Read a float32 `.npy` file (float64 holding float32 values is accepted).
pub fn read_npy_f32(path: &Path) -> Result<F32Array, InputError> {
    parse_npy_f32(path, &read_bytes(path)?)
}

/// A whole file, or the one-line error naming it.
fn read_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))
}

/// Parse an in-memory float32 `.npy` image (`path` names it in messages).
pub fn parse_npy_f32(path: &Path, bytes: &[u8]) -> Result<F32Array, InputError> {
    match parse_npy(path, bytes, "array", true)? {
        (NpyData::Float(v), shape) => to_f32(path, v, shape),
        (NpyData::Int(_), _) => Err(InputError::new(
            path,
            "array",
            "integer data; this model output is float32 (a DEQUANTIZE), so a float32 array is needed",
        )),
    }
}

/// Write a float32 `.npy` file (refuses to replace an existing file unless `overwrite`).
pub fn write_npy_f32(
    path: &Path,
    shape: &[usize],
    data: &[f32],
    overwrite: bool,
) -> anyhow::Result<()> {
    write_npy(path, shape, data, overwrite)
}

/// Write an `.npy` file of any element type ndarray-npy writes.
fn write_npy<T: ndarray_npy::WritableElement + Clone>(
    path: &Path,
    shape: &[usize],
    data: &[T],
    overwrite: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use ndarray_npy::WriteNpyExt;
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data.to_vec())
        .context("output shape does not match its data")?;
    let f = crate::formats::create_file(path, overwrite, "--force")?;
    a.write_npy(std::io::BufWriter::new(f))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reference tensors of an `.npz` archive: the int8 members and the float32
/// ones (DEQUANTIZE outputs), each keyed by member name without `.npy`.
pub type NpzTensors = (BTreeMap<String, Int8Array>, BTreeMap<String, F32Array>);

/// Parse an in-memory `.npz` image of reference tensors, int8 and float32 members.
pub fn parse_npz_tensors(path: &Path, bytes: &[u8]) -> Result<NpzTensors, InputError> {
    npz_read(path, std::io::Cursor::new(bytes), true)
}

/// Read an `.npz` archive of reference tensors, int8 and float32 members.
pub fn read_npz_tensors(path: &Path) -> Result<NpzTensors, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    npz_read(path, std::io::BufReader::new(file), true)
}

/// Largest npz member qmac will inflate (a guard against zip bombs).
const MAX_MEMBER_BYTES: u64 = 1 << 30;

fn to_int8(label: &Path, values: Vec<i64>, shape: Vec<usize>) -> Result<Int8Array, InputError> {
    let mut data = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let x = i8::try_from(v).map_err(|_| {
            InputError::new(
                label,
                format!("element {i}"),
                format!("value {v} is not int8"),
            )
        })?;
        data.push(x);
    }
    Ok(Int8Array { shape, data })
}

/// Read an int8 `.npy` file.
pub fn read_npy_int8(path: &Path) -> Result<Int8Array, InputError> {
    parse_npy_int8(path, &read_bytes(path)?)
}

/// Parse an in-memory int8 `.npy` image (`path` names it in messages).
pub fn parse_npy_int8(path: &Path, bytes: &[u8]) -> Result<Int8Array, InputError> {
    let (values, shape) = parse_int_npy(path, bytes, "array")?;
    to_int8(path, values, shape)
}

/// Read every member of an `.npz` archive as an int8 array, keyed by the
/// member name without its `.npy` suffix.
pub fn read_npz_int8(path: &Path) -> Result<BTreeMap<String, Int8Array>, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    Ok(npz_read(path, std::io::BufReader::new(file), false)?.0)
}

/// Parse an in-memory `.npz` image (`path` names it in messages).
pub fn parse_npz_int8(
    path: &Path,
    bytes: &[u8],
) -> Result<BTreeMap<String, Int8Array>, InputError> {
    Ok(npz_read(path, std::io::Cursor::new(bytes), false)?.0)
}

/// Every member of an archive: int8 members, and float ones when `floats`
/// (an error otherwise).
fn npz_read<R: Read + std::io::Seek>(
    path: &Path,
    reader: R,
    floats: bool,
) -> Result<NpzTensors, InputError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        InputError::new(path, "file", format!("not a valid .npz (zip) archive: {e}"))
    })?;
    let mut out = BTreeMap::new();
    let mut out_f = BTreeMap::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).map_err(|e| {
            InputError::new(path, format!("member {i}"), format!("cannot read: {e}"))
        })?;
        let name = member.name().to_string();
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let label = std::path::PathBuf::from(format!("{}:{name}", path.display()));
        if member.size() > MAX_MEMBER_BYTES {
            return Err(InputError::new(
                &label,
                "member",
                format!(
                    "{} bytes uncompressed is more than the 1 GiB qmac accepts",
                    member.size()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(member.size() as usize);
        (&mut member)
            .take(MAX_MEMBER_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError::new(&label, "member", format!("cannot inflate: {e}")))?;
        if floats {
            match parse_npy(&label, &bytes, "array", true)? {
                (NpyData::Int(values), shape) => {
                    out.insert(key, to_int8(&label, values, shape)?);
                }
                (NpyData::Float(values), shape) => {
                    out_f.insert(key, to_f32(&label, values, shape)?);
                }
            }
            continue;
        }
        let (values, shape) = parse_int_npy(&label, &bytes, "array")?;
        out.insert(key, to_int8(&label, values, shape)?);
    }
    Ok((out, out_f))
}

/// Write an int8 `.npy` file (refuses to replace an existing file unless `overwrite`).
pub fn write_npy_int8(
    path: &Path,
    shape: &[usize],
    data: &[i8],
    overwrite: bool,
) -> anyhow::Result<()> {
    write_npy(path, shape, data, overwrite)
}

/// The values of a `.npy` file: integers, or floats where a float dtype is allowed.
pub(crate) enum NpyData {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

/// The product of `dims`, `None` on overflow.
pub(crate) fn checked_product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
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
pub(crate) fn read_npy(
    path: &Path,
    field: &str,
    float_ok: bool,
) -> Result<(NpyData, Vec<usize>), InputError> {
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

pub(crate) fn parse_npy(
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
