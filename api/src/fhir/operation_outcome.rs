//! OperationOutcome, and [`FhirError`]: the API's errors answered as an OperationOutcome with
//! the same status (400 malformed, 401, 403, 404, 409, 412, 415, 422 invalid values...).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::fhir_response;
use super::patient::CodeableConcept;
use crate::error::{ApiError, error_chain};

/// One issue of an OperationOutcome.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// `fatal`, `error`, `warning`, `information`.
    pub severity: &'static str,
    /// The FHIR issue-type code.
    pub code: &'static str,
    /// The MPI's own stable error code as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<CodeableConcept>,
    /// Human-readable explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    /// The offending element(s).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// A FHIR OperationOutcome.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    pub resource_type: &'static str,
    /// The issues, most important first.
    pub issue: Vec<Issue>,
}

impl OperationOutcome {
    /// An outcome with these issues.
    pub fn new(issue: Vec<Issue>) -> OperationOutcome {
        OperationOutcome {
            resource_type: "OperationOutcome",
            issue,
        }
    }

    /// One informational issue.
    pub fn information(diagnostics: String) -> OperationOutcome {
        OperationOutcome::new(vec![Issue {
            severity: "information",
            code: "informational",
            details: None,
            diagnostics: Some(diagnostics),
            expression: Vec::new(),
        }])
    }
}

/// An error of a `/fhir` route, answered as an OperationOutcome.
pub enum FhirError {
    /// An API error, with the status `/api/v1` gives it.
    Api(ApiError),
    /// A malformed request (400): bad JSON syntax, query or header.
    Malformed {
        /// What is wrong.
        message: String,
        /// The offending parameter or header, when known.
        field: Option<String>,
    },
    /// An answer whose status and FHIR issue type a profile fixes (IHE PIXm's 400/403
    /// `code-invalid`, 404 `not-found`; PMIR's 405 on an unmerge).
    Profile {
        /// The HTTP status.
        status: StatusCode,
        /// The FHIR issue type.
        issue: &'static str,
        /// The MPI's own stable code.
        code: &'static str,
        /// What is wrong (never echoes a value).
        message: String,
        /// The offending parameter or element.
        field: Option<String>,
    },
    /// The error inside, with an issue of severity `warning` rather than `error` (IHE PDQm
    /// ITI-78 Case 4: an identifier domain the server does not know answers 404 with a warning).
    Warning(Box<FhirError>),
}

impl FhirError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            FhirError::Api(e) => e.status_and_code(),
            FhirError::Malformed { .. } => (StatusCode::BAD_REQUEST, "malformed_request"),
            FhirError::Profile { status, code, .. } => (*status, *code),
            FhirError::Warning(inner) => inner.status_and_code(),
        }
    }

    /// The same error answered with an issue of severity `warning`.
    pub fn warning(self) -> FhirError {
        match self {
            FhirError::Warning(_) => self,
            other => FhirError::Warning(Box::new(other)),
        }
    }

    /// The severity of the outcome's issue: `warning` or `error`.
    pub fn severity(&self) -> &'static str {
        match self {
            FhirError::Warning(_) => "warning",
            _ => "error",
        }
    }

    /// The FHIR issue type of this error.
    pub fn issue_type(&self) -> &'static str {
        match self {
            FhirError::Profile { issue, .. } => issue,
            FhirError::Warning(inner) => inner.issue_type(),
            _ => issue_type(self.status_and_code().0),
        }
    }

    /// The status, the MPI's code, the message and the field, for an entry of a message Bundle.
    pub fn parts(&self) -> (StatusCode, &'static str, String, Option<String>) {
        let (status, code) = self.status_and_code();
        (
            status,
            code,
            self.message(),
            self.field().map(str::to_owned),
        )
    }

    /// This error as an OperationOutcome.
    pub fn outcome(&self) -> OperationOutcome {
        let (_, code) = self.status_and_code();
        let mut diagnostics = self.message();
        let inner = match self {
            FhirError::Warning(inner) => inner.as_ref(),
            other => other,
        };
        if let FhirError::Api(ApiError::ServiceConflict {
            detail: Some(detail),
            ..
        }) = inner
        {
            diagnostics = format!("{diagnostics} ({detail})");
        }
        OperationOutcome::new(vec![Issue {
            severity: self.severity(),
            code: self.issue_type(),
            details: Some(CodeableConcept {
                coding: Vec::new(),
                text: Some(code.to_owned()),
                ..Default::default()
            }),
            diagnostics: Some(diagnostics),
            expression: self.field().map(fhir_expression).into_iter().collect(),
        }])
    }

    fn message(&self) -> String {
        match self {
            FhirError::Api(e) => e.message(),
            FhirError::Malformed { message, .. } | FhirError::Profile { message, .. } => {
                message.clone()
            }
            FhirError::Warning(inner) => inner.message(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            FhirError::Api(e) => e.field(),
            FhirError::Malformed { field, .. } | FhirError::Profile { field, .. } => {
                field.as_deref()
            }
            FhirError::Warning(inner) => inner.field(),
        }
    }
}

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> FhirError {
        FhirError::Api(e)
    }
}

impl From<service::Error> for FhirError {
    fn from(e: service::Error) -> FhirError {
        FhirError::Api(e.into())
    }
}

impl std::fmt::Debug for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FhirError({})", self.status_and_code().1)
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.status_and_code().1)
    }
}

/// The FHIR issue-type for a status.
fn issue_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "structure",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 | 415 => "not-supported",
        408 => "timeout",
        409 => "conflict",
        412 => "conflict",
        413 => "too-costly",
        422 => "invalid",
        503 => "transient",
        _ => "exception",
    }
}

/// A service field path (`names[0].family`, `birth_date`) as a FHIRPath expression.
pub fn fhir_expression(field: &str) -> String {
    if field.starts_with("Patient")
        || field.contains('-')
        || field.starts_with('_')
        || field == "resourceType"
        || field == "query"
    {
        return field.to_owned();
    }
    const RENAMES: [(&str, &str); 10] = [
        ("managing_organization_id", "managingOrganization"),
        ("names", "name"),
        ("identifiers", "identifier"),
        ("addresses", "address"),
        ("telecoms", "telecom"),
        ("lines", "line"),
        ("birth_date", "birthDate"),
        ("postal_code", "postalCode"),
        ("marital_status", "maritalStatus"),
        ("deceased_at", "deceasedDateTime"),
    ];
    let mut out = field.to_owned();
    for (from, to) in RENAMES {
        out = out.replace(from, to);
    }
    format!("Patient.{out}")
}

impl ResponseError for FhirError {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        if let FhirError::Api(ApiError::Internal(cause)) = self {
            tracing::error!(cause = %error_chain(cause.as_ref()), "internal error");
        }
        let (status, _) = self.status_and_code();
        let outcome = self.outcome();
        let mut builder = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            builder.insert_header(("WWW-Authenticate", "Bearer"));
        }
        fhir_response(builder, &outcome)
    }
}
