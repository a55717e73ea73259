//! Error kinds that decide the process exit code.
//!
//! * [`InputError`]: something a user supplied is malformed, out of range or
//!   missing. Always one line naming the file and the position (field, line,
//!   element index). Exit code 2.
//! * [`CheckFailed`]: the check ran and found a mismatch. Exit code 1.
//!
//! Any other error (a simulator that cannot be built, an I/O failure while
//! writing results) is reported with exit code 2 as well: the run could not
//! produce a verdict.

use std::fmt;
use std::path::Path;

/// A user-input error: `file: position: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {position}: {message}")]
pub struct InputError {
    /// The file (or pseudo-file such as `--filter-scale`) the problem is in.
    pub file: String,
    /// Where in it: `field \`input\``, `line 12`, `element 3 of \`bias\``.
    pub position: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl InputError {
    pub fn new(
        file: impl AsRef<Path>,
        position: impl fmt::Display,
        message: impl fmt::Display,
    ) -> Self {
        // One line whatever the user's input held: control characters escaped.
        let one_line = |t: String| t.replace('\n', "\\n").replace('\r', "\\r");
        InputError {
            file: one_line(file.as_ref().display().to_string()),
            position: one_line(position.to_string()),
            message: one_line(message.to_string()),
        }
    }
}

/// The check ran to completion and found `failures` problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{summary}")]
pub struct CheckFailed {
    pub summary: String,
}

/// Exit code for an error chain: 1 for a failed check, 2 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<CheckFailed>().is_some() {
        1
    } else {
        2
    }
}
