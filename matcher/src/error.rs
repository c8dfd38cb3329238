//! The matcher's error type.

/// Errors the matcher can report (invalid model parameters, malformed model files, bad config).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model or configuration value is out of its valid range.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        name: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A model file could not be parsed.
    #[error("malformed model: {0}")]
    Model(#[from] serde_json::Error),
    /// A birth date could not be accepted (the message never contains the date itself).
    #[error("invalid birth date: {0}")]
    BirthDate(#[from] DateError),
    /// A model file could not be read or written.
    #[error("model file: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a birth date was rejected. Carries no patient data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not in any accepted format (`YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY`, `DD.MM.YYYY`, ...).
    #[error("unrecognised format")]
    Format,
    /// The fields do not form a real calendar date (30 February, month 13, ...).
    #[error("no such calendar date")]
    NoSuchDate,
    /// The date lies after the reference day (today).
    #[error("date in the future")]
    Future,
    /// The year is before the earliest plausible birth year.
    #[error("year too early")]
    TooEarly,
}

/// Result alias for the matcher.
pub type Result<T> = std::result::Result<T, Error>;
