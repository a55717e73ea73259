//! Helpers shared by the integration tests that drive the `qmac` binary.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `qmac ARGS` in the crate root: (exit code, stdout, stderr).
pub fn qmac_split(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qmac"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Run `qmac ARGS` in the crate root: (exit code, stdout followed by stderr).
pub fn qmac_joined(args: &[&str]) -> (i32, String) {
    let (code, out, err) = qmac_split(args);
    (code, out + &err)
}

/// A fresh (removed if present) scratch path unique to this process.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qmac-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Copy of an npz with `delta` added to element `index` of the member whose
/// name starts with `key_prefix`.
pub fn tampered_npz(src: &str, key_prefix: &str, index: usize, delta: i8, dst: &Path) {
    use ndarray_npy::{NpzReader, NpzWriter};
    let mut r = NpzReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let names = r.names().unwrap();
    let mut w = NpzWriter::new(std::fs::File::create(dst).unwrap());
    let mut hit = false;
    for n in names {
        let mut a: ndarray::ArrayD<i8> = r.by_name(&n).unwrap();
        if n.starts_with(key_prefix) {
            let v = a.as_slice_mut().unwrap();
            v[index] = v[index].wrapping_add(delta);
            hit = true;
        }
        w.add_array(n.trim_end_matches(".npy"), &a).unwrap();
    }
    w.finish().unwrap();
    assert!(hit, "{key_prefix} not in {src}");
}

/// `xmllint --schema` of a JUnit file against the Ant JUnit schema
/// (tests/fixtures/junit/JUnit.xsd): the report must validate.
pub fn validate_junit(path: &Path) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/junit/JUnit.xsd"
        ))
        .arg(path)
        .output()
        .expect("xmllint (libxml2-utils, installed by scripts/setup)");
    assert!(
        out.status.success(),
        "{} does not validate: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
