//! HTTP errors: one [`ApiError`] type, one table from variant to status and code, one JSON shape.
//!
//! Every error answer is `{"code": "snake_case", "message": "...", "field": "name" | null}`.
//! `code` is stable and meant for programs; `message` is for people and may echo what the
//! client sent, so it goes into the response body only. `Display` and `Debug` show the code
//! alone, which keeps request logs (they record the error) free of patient data.

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to an HTTP client.
pub enum ApiError {
    /// The request is malformed (bad JSON syntax, a bad path or query parameter).
    BadRequest {
        /// Stable code: `malformed_json`, `invalid_query`, `invalid_path`, `invalid_header` or
        /// `bad_request`.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// The offending field or parameter, when known.
        field: Option<String>,
    },
    /// The request is well formed but a value is not acceptable.
    InvalidValue {
        /// What is wrong.
        message: String,
        /// The offending field, when known.
        field: Option<String>,
    },
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body exceeds the size limit.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Authentication is missing or not valid.
    Unauthorized,
    /// The caller is authenticated but its role does not allow this.
    Forbidden,
    /// No such resource (or route).
    NotFound {
        /// What was not found.
        message: String,
    },
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The request conflicts with the current state (duplicate, already merged, ...).
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// A conflict the service reported, with its own stable code and optional structured
    /// detail (for example the surviving record of a merge).
    ServiceConflict {
        /// Stable snake_case reason, e.g. `already_merged`.
        code: &'static str,
        /// What conflicts (never patient data).
        message: String,
        /// Structured detail, answered as `detail`.
        detail: Option<serde_json::Value>,
    },
    /// A refusal the service reported with its own status and stable code (`unknown_domain`
    /// 422, `unknown_identifier` 404, `domain_not_authorised` 403, ...).
    Refused {
        /// 422, 403 or 404.
        status: StatusCode,
        /// Stable snake_case reason.
        code: &'static str,
        /// What is wrong (never the value).
        message: String,
        /// The offending field, when known.
        field: Option<String>,
    },
    /// The client's version of the resource is stale (optimistic concurrency).
    PreconditionFailed {
        /// Which version was expected.
        message: String,
    },
    /// The client did not send its request head in time (answered by
    /// [`crate::head_deadline`], before any request exists).
    RequestTimeout,
    /// The database does not answer.
    DatabaseUnavailable,
    /// The service has not started yet (its schema is not migrated).
    ServiceStarting,
    /// The database answers but migrations are pending.
    MigrationsPending {
        /// Names of the pending migrations, oldest first.
        pending: Vec<String>,
    },
    /// The database records migrations this binary does not know (it is older than the schema).
    SchemaMismatch,
    /// Anything else. The client sees an opaque message; the cause is logged.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The single table: variant → HTTP status and stable snake_case code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::InvalidValue { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::ServiceConflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Refused { status, code, .. } => (*status, code),
            ApiError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "version_mismatch")
            }
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::DatabaseUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            ApiError::ServiceStarting => (StatusCode::SERVICE_UNAVAILABLE, "service_starting"),
            ApiError::MigrationsPending { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "migrations_pending")
            }
            ApiError::SchemaMismatch => (StatusCode::SERVICE_UNAVAILABLE, "schema_mismatch"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    /// The human-readable message of the response body.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. }
            | ApiError::InvalidValue { message, .. }
            | ApiError::NotFound { message }
            | ApiError::Conflict { message }
            | ApiError::ServiceConflict { message, .. }
            | ApiError::Refused { message, .. }
            | ApiError::PreconditionFailed { message } => message.clone(),
            ApiError::UnsupportedMediaType => "the body must be application/json".to_owned(),
            ApiError::PayloadTooLarge { limit } => {
                format!("the body is larger than the limit of {limit} bytes")
            }
            ApiError::Unauthorized => "a valid bearer key is required".to_owned(),
            ApiError::Forbidden => "this key's role does not allow this request".to_owned(),
            ApiError::MethodNotAllowed => "this route does not accept this method".to_owned(),
            ApiError::RequestTimeout => {
                "the request head was not received in time; the connection is closed".to_owned()
            }
            ApiError::DatabaseUnavailable => "the database does not answer".to_owned(),
            ApiError::ServiceStarting => {
                "the service is not started yet (is the schema migrated?)".to_owned()
            }
            ApiError::MigrationsPending { pending } => format!(
                "{} migration(s) pending: {}; run `mpi migrate up`",
                pending.len(),
                pending.join(", ")
            ),
            ApiError::SchemaMismatch => {
                "the database has migrations this binary does not know; upgrade the binary"
                    .to_owned()
            }
            ApiError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The offending field, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. }
            | ApiError::InvalidValue { field, .. }
            | ApiError::Refused { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Wraps any error as an opaque internal error.
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(error))
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code.
    #[schema(value_type = String, example = "invalid_value")]
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, or null.
    pub field: Option<String>,
    /// Structured detail of a conflict, when there is some.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiError({})", self.code())
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Internal(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Formats an error and all its causes, one per line (for logs).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        out.push_str("\n  caused by: ");
        out.push_str(&cause.to_string());
        current = cause.source();
    }
    out
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            // Database and library errors name tables and constraints, not values.
            tracing::error!(cause = %error_chain(cause.as_ref()), "internal error");
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            code: self.code(),
            message: self.message(),
            field: self.field().map(str::to_owned),
            detail: match self {
                ApiError::ServiceConflict { detail, .. } => detail.clone(),
                _ => None,
            },
        })
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(error: JsonPayloadError) -> ApiError {
        match error {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
            JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::InvalidValue {
                message: e.to_string(),
                field: None,
            },
            JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
                code: "malformed_json",
                message: format!("malformed JSON: {e}"),
                field: None,
            },
            other => ApiError::BadRequest {
                code: "bad_request",
                message: other.to_string(),
                field: None,
            },
        }
    }
}

impl From<service::Error> for ApiError {
    fn from(error: service::Error) -> ApiError {
        use service::Error as E;
        match error {
            E::NotFound { entity, id } => ApiError::NotFound {
                message: format!("{entity} {id} not found"),
            },
            E::Conflict {
                code,
                message,
                detail,
            } => ApiError::ServiceConflict {
                code,
                message,
                detail,
            },
            E::StaleVersion { expected, current } => ApiError::PreconditionFailed {
                message: format!("version {expected} is stale; the current version is {current}"),
            },
            E::Validation { field, message } => ApiError::InvalidValue {
                message: format!("{field}: {message}"),
                field: Some(field),
            },
            E::Forbidden { role, action } => {
                tracing::info!(%role, action, "request refused by role");
                ApiError::Forbidden
            }
            E::Unauthenticated(_) => ApiError::Unauthorized,
            E::Refused {
                kind,
                code,
                field,
                message,
            } => ApiError::Refused {
                status: match kind {
                    service::error::Refusal::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    service::error::Refusal::NotAuthorised => StatusCode::FORBIDDEN,
                    service::error::Refusal::Unknown => StatusCode::NOT_FOUND,
                },
                code,
                message: match &field {
                    Some(field) => format!("{field}: {message}"),
                    None => message,
                },
                field,
            },
            other @ (E::Db(_) | E::Matcher(_)) => ApiError::internal(other),
        }
    }
}

impl From<QueryPayloadError> for ApiError {
    fn from(error: QueryPayloadError) -> ApiError {
        ApiError::BadRequest {
            code: "invalid_query",
            message: error.to_string(),
            field: None,
        }
    }
}

impl From<PathError> for ApiError {
    fn from(error: PathError) -> ApiError {
        ApiError::BadRequest {
            code: "invalid_path",
            message: error.to_string(),
            field: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_split_into_syntax_and_values() {
        let syntax = serde_json::from_str::<serde_json::Value>("{\"a\": ").unwrap_err();
        let value = serde_json::from_str::<u32>("\"seven\"").unwrap_err();
        let a = ApiError::from(JsonPayloadError::Deserialize(syntax));
        let b = ApiError::from(JsonPayloadError::Deserialize(value));
        assert_eq!(
            a.status_and_code(),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
        assert_eq!(
            b.status_and_code(),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value")
        );
        assert_eq!(
            ApiError::from(JsonPayloadError::ContentType).code(),
            "unsupported_media_type"
        );
    }

    #[test]
    fn display_and_debug_show_the_code_only() {
        let e = ApiError::InvalidValue {
            message: "birth date 2999-01-01 is in the future".to_owned(),
            field: Some("birth_date".to_owned()),
        };
        assert_eq!(e.to_string(), "invalid_value");
        assert_eq!(format!("{e:?}"), "ApiError(invalid_value)");
        assert_eq!(e.field(), Some("birth_date"));
    }

    #[test]
    fn internal_errors_are_opaque_to_clients() {
        let e = ApiError::internal(std::io::Error::other("disk on fire"));
        assert_eq!(e.message(), "internal error");
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error_chain(&e).contains("disk on fire"));
    }
}
