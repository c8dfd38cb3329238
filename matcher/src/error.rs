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
}

/// Result alias for the matcher.
pub type Result<T> = std::result::Result<T, Error>;
