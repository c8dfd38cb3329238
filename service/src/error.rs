//! The service's error type: what a use case can refuse, independent of HTTP.

use sea_orm::DbErr;

/// Why a use case failed. The API maps each variant to a status code; nothing here knows HTTP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named entity does not exist (or is soft-deleted, for patients).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Entity type, e.g. `patient`, `merge`, `review_task`.
        entity: &'static str,
        /// Its id as text.
        id: String,
    },
    /// The request conflicts with the current state (already merged, duplicate identifier,
    /// concurrent change, undo no longer possible...). `code` is a stable snake_case reason.
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable reason, e.g. `already_merged`, `duplicate_identifier`.
        code: &'static str,
        /// Human-readable explanation (never PHI).
        message: String,
        /// Optional structured detail (e.g. the surviving patient's id).
        detail: Option<serde_json::Value>,
    },
    /// Optimistic concurrency: the caller's version is stale.
    #[error("version {expected} is stale; the current version is {current}")]
    StaleVersion {
        /// The version the caller sent.
        expected: i32,
        /// The version stored now.
        current: i32,
    },
    /// An input value is invalid.
    #[error("{field}: {message}")]
    Validation {
        /// The offending field, as a path such as `names[0].family` or `birth_date`.
        field: String,
        /// What is wrong with it (never echoes the value).
        message: String,
    },
    /// The caller's role does not allow this action.
    #[error("role {role} may not {action}")]
    Forbidden {
        /// The caller's role.
        role: String,
        /// The action refused.
        action: &'static str,
    },
    /// Authentication failed (missing, unknown or revoked key).
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// A request refused with a stable code of its own (`unknown_domain`, `unknown_identifier`,
    /// `domain_not_authorised`, ...), naming the field when there is one.
    #[error("{code}")]
    Refused {
        /// Which kind of refusal (the API picks the status from it).
        kind: Refusal,
        /// Stable snake_case reason.
        code: &'static str,
        /// The offending field, as a path (`identifier`, `target[1]`, `identifiers[0].system`).
        field: Option<String>,
        /// What is wrong (never echoes the value).
        message: String,
    },
    /// The database failed.
    #[error("database error")]
    Db(#[from] DbErr),
    /// The matcher rejected a model or configuration.
    #[error("matcher error")]
    Matcher(#[from] matcher::Error),
}

impl Error {
    /// A validation error for `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A not-found error.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Error::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// A refusal with its own code, naming `field`.
    pub fn refused(
        kind: Refusal,
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Refused {
            kind,
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A conflict without structured detail.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
            detail: None,
        }
    }
}

/// The kinds of [`Error::Refused`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A value is not acceptable (HTTP 422).
    Invalid,
    /// The caller may not do this with these values (HTTP 403).
    NotAuthorised,
    /// What was asked for is not known (HTTP 404).
    Unknown,
}

/// Result alias for the service.
pub type Result<T> = std::result::Result<T, Error>;
