//! Helpers shared by the integration tests that drive the `qmac` binary.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;
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
