//! The exit codes of `mpi`, in one place, for scripts to rely on.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | runtime error (database unreachable, I/O failure, training failed, ...) |
//! | 2 | usage error (bad flags or arguments; clap's own code) or bad logging settings |
//! | 3 | input data error: a malformed input file (bad header, bad row, duplicate id), reported as `file:line: column c: reason` |
//! | 4 | `mpi audit verify`: the audit chain does not verify (the report says where) |

/// Success.
pub const OK: u8 = 0;
/// Runtime error.
pub const RUNTIME: u8 = 1;
/// Usage error (clap exits with 2 on its own).
pub const USAGE: u8 = 2;
/// Malformed input data.
pub const INPUT_DATA: u8 = 3;
/// The audit chain does not verify.
pub const AUDIT_BROKEN: u8 = 4;

/// An error caused by the content of an input file (exit code [`INPUT_DATA`]). The message names
/// the file, the line and the column, never the offending value (person data is PHI).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputDataError(pub String);

impl From<crate::person_csv::PersonCsvError> for InputDataError {
    fn from(e: crate::person_csv::PersonCsvError) -> Self {
        InputDataError(e.to_string())
    }
}

/// The exit code for an error returned by a command: [`INPUT_DATA`] when an [`InputDataError`] is
/// in its chain, else [`RUNTIME`].
pub fn of(error: &anyhow::Error) -> u8 {
    if error.chain().any(|e| {
        e.downcast_ref::<crate::commands::audit::ChainBroken>()
            .is_some()
    }) {
        return AUDIT_BROKEN;
    }
    if error
        .chain()
        .any(|e| e.downcast_ref::<InputDataError>().is_some())
    {
        INPUT_DATA
    } else {
        RUNTIME
    }
}
