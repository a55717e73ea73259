//! File formats, each read with errors that name the file and the position.
//!
//! * [`qcase`]: the qcase layer-case format (docs/qcase.md).
//! * [`npy`]: int8 tensors in `.npy` files and `.npz` archives.
//! * [`textarray`]: seed-style one-integer-per-line text arrays.
//! * [`hex`]: `$readmemh` words of FPGA vector bundles.
//! * [`tflite`]: the TFLite FlatBuffer model reader.
pub mod hex;
pub mod npy;
pub mod qcase;
pub mod textarray;
pub mod tflite;

/// An output file named on the command line (`flag`) can be written: its
/// directory exists and the path is not a directory. Checked before any work,
/// so a typo never costs a whole run.
pub fn check_output_path(
    path: &std::path::Path,
    flag: &str,
) -> Result<(), crate::error::InputError> {
    use crate::error::InputError;
    if path.is_dir() {
        return Err(InputError::new(
            path,
            flag,
            "is a directory; give a file name",
        ));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(InputError::new(
            path,
            flag,
            format!("its directory {} does not exist", parent.display()),
        ));
    }
    Ok(())
}

/// THE way qmac creates an output file: with `overwrite` false an existing
/// file is never touched (`create_new`, atomic: no check-then-write race) and
/// the refusal names the file and the flag that allows it (`--force`); with
/// `overwrite` true it is replaced.
pub fn create_file(
    path: &std::path::Path,
    overwrite: bool,
    flag: &str,
) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    match opts.open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(crate::error::InputError::new(
                path,
                "file",
                format!("exists; refusing to overwrite it (pass {flag} to replace it)"),
            )
            .into())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("{}: cannot create", path.display()))),
    }
}
