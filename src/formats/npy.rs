//! int8 tensors in `.npy` files and `.npz` archives (a model's input, its
//! expected output, and reference intermediate tensors keyed `t<index>_<name>`).
//! Every member goes through the same hardened `.npy` parser as qcase arrays
//! (`qcase::parse_int_npy`); values outside int8 are an error naming the file,
//! member and element.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::error::InputError;
use crate::formats::qcase::parse_int_npy;

/// An int8 array and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int8Array {
    pub shape: Vec<usize>,
    pub data: Vec<i8>,
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
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(path, "file", format!("cannot read: {e}")))?;
    parse_npy_int8(path, &bytes)
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
    npz_members(path, std::io::BufReader::new(file))
}

/// Parse an in-memory `.npz` image (`path` names it in messages).
pub fn parse_npz_int8(
    path: &Path,
    bytes: &[u8],
) -> Result<BTreeMap<String, Int8Array>, InputError> {
    npz_members(path, std::io::Cursor::new(bytes))
}

fn npz_members<R: Read + std::io::Seek>(
    path: &Path,
    reader: R,
) -> Result<BTreeMap<String, Int8Array>, InputError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        InputError::new(path, "file", format!("not a valid .npz (zip) archive: {e}"))
    })?;
    let mut out = BTreeMap::new();
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
        let (values, shape) = parse_int_npy(&label, &bytes, "array")?;
        out.insert(key, to_int8(&label, values, shape)?);
    }
    Ok(out)
}

/// Write an int8 `.npy` file (refuses to replace an existing file unless `overwrite`).
pub fn write_npy_int8(
    path: &Path,
    shape: &[usize],
    data: &[i8],
    overwrite: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use ndarray_npy::WriteNpyExt;
    if path.exists() && !overwrite {
        anyhow::bail!(InputError::new(
            path,
            "file",
            "exists; pass --force to overwrite it"
        ));
    }
    let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), data.to_vec())
        .context("output shape does not match its data")?;
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    a.write_npy(std::io::BufWriter::new(f))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
