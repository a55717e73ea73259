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
/// directory exists, the path is not a directory, and it is not an existing
/// file unless `overwrite` (`--force`). Checked before any work, so a typo
/// never costs a whole run; the file is then written with [`create_file`].
pub fn check_output_path(
    path: &std::path::Path,
    flag: &str,
    overwrite: bool,
) -> Result<(), crate::error::InputError> {
    use crate::error::InputError;
    if path.is_file() && !overwrite {
        return Err(InputError::new(
            path,
            flag,
            "exists; refusing to overwrite it (pass --force to replace it)",
        ));
    }
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

/// An output directory written all or nothing: files go into a staging
/// directory beside it, and [`StagedDir::commit`] moves them into place at the
/// end. A run that stops early leaves the target as it was (the staging
/// directory is removed when the value is dropped uncommitted). An existing,
/// non-empty target is refused unless `overwrite` (`--force`), and then only
/// the files written are replaced.
pub struct StagedDir {
    target: std::path::PathBuf,
    staging: std::path::PathBuf,
    committed: bool,
}

impl StagedDir {
    pub fn new(
        target: &std::path::Path,
        flag: &str,
        overwrite: bool,
    ) -> Result<StagedDir, crate::error::InputError> {
        use crate::error::InputError;
        if target.exists() && !target.is_dir() {
            return Err(InputError::new(
                target,
                flag,
                "exists and is not a directory",
            ));
        }
        let non_empty = std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_some());
        if non_empty && !overwrite {
            return Err(InputError::new(
                target,
                flag,
                "exists and is not empty; refusing to write into it (pass --force to replace the files written)",
            ));
        }
        let name = target
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(InputError::new(
                target,
                flag,
                format!("its directory {} does not exist", parent.display()),
            ));
        }
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir(&staging)
            .map_err(|e| InputError::new(&staging, flag, format!("cannot create: {e}")))?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write the files now.
    pub fn path(&self) -> &std::path::Path {
        &self.staging
    }

    /// Move everything written into the target directory.
    pub fn commit(mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        if !self.target.exists() {
            std::fs::rename(&self.staging, &self.target).with_context(|| {
                format!(
                    "moving {} to {}",
                    self.staging.display(),
                    self.target.display()
                )
            })?;
        } else {
            for e in std::fs::read_dir(&self.staging)? {
                let p = e?.path();
                let to = self.target.join(p.file_name().expect("a file"));
                std::fs::rename(&p, &to)
                    .with_context(|| format!("moving {} to {}", p.display(), to.display()))?;
            }
            std::fs::remove_dir(&self.staging)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
