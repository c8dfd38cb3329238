//! IHE PIXm `$ihe-pix` (ITI-83, Mobile Patient Identifier Cross-reference Query): GET with query
//! parameters or POST with a Parameters body, answered from the service's cross-reference use
//! case (`service::xref`) with PIXm's statuses (404 `not-found`, 400 and 403 `code-invalid`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use service::xref::{self, XrefQuery};

use super::fhir_response;
use super::operation_outcome::FhirError;
use super::parameters::ParametersIn;
use super::routes::{bad_request, parse_body};
use crate::auth::Caller;
use crate::error::ApiError;

type FhirResult = Result<HttpResponse, FhirError>;

/// `SYSTEM|VALUE` as a cross-reference query's identifier (400 when either part is missing).
fn split_token(text: &str) -> Result<(String, String), FhirError> {
    match text.trim().split_once('|') {
        Some((system, value)) if !system.trim().is_empty() && !value.trim().is_empty() => {
            Ok((system.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(bad_request(
            "sourceIdentifier: use SYSTEM|VALUE (both are required)".to_owned(),
            Some("sourceIdentifier"),
        )),
    }
}

/// The query of `GET /fhir/Patient/$ihe-pix?sourceIdentifier=S|V&targetSystem=U...`.
fn query_of_url(req: &HttpRequest) -> Result<XrefQuery, FhirError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("malformed query: {e}"), None))?
        .into_inner();
    let mut source = None;
    let mut targets = Vec::new();
    for (name, value) in &pairs {
        match name.as_str() {
            "sourceIdentifier" => {
                if source.is_some() {
                    return Err(bad_request(
                        "sourceIdentifier: give exactly one".to_owned(),
                        Some("sourceIdentifier"),
                    ));
                }
                source = Some(split_token(value)?);
            }
            "targetSystem" => {
                targets.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                );
            }
            "_format"
                if matches!(
                    value.trim(),
                    "json" | "application/json" | "application/fhir+json"
                ) => {}
            _ => {
                return Err(bad_request(
                    format!(
                        "{name}: unsupported parameter (supported: sourceIdentifier, targetSystem)"
                    ),
                    Some(name),
                ));
            }
        }
    }
    let (system, value) = source.ok_or_else(|| {
        bad_request(
            "sourceIdentifier: is required".to_owned(),
            Some("sourceIdentifier"),
        )
    })?;
    Ok(XrefQuery {
        system,
        value,
        targets,
    })
}

/// The query of a POSTed Parameters resource (`sourceIdentifier` valueIdentifier, once;
/// `targetSystem` valueUri, repeatable).
fn query_of_parameters(params: &ParametersIn) -> Result<XrefQuery, FhirError> {
    if params.resource_type != "Parameters" {
        return Err(bad_request(
            "resourceType: must be Parameters".to_owned(),
            Some("resourceType"),
        ));
    }
    let mut source = None;
    let mut targets = Vec::new();
    for p in &params.parameter {
        match p.name.as_str() {
            "sourceIdentifier" => {
                let id = p.value_identifier.as_ref().ok_or_else(|| {
                    bad_request(
                        "sourceIdentifier: must be a valueIdentifier".to_owned(),
                        Some("sourceIdentifier"),
                    )
                })?;
                if source.is_some() {
                    return Err(bad_request(
                        "sourceIdentifier: give exactly one".to_owned(),
                        Some("sourceIdentifier"),
                    ));
                }
                let system = id.system.as_deref().unwrap_or_default();
                let value = id.value.as_deref().unwrap_or_default();
                source = Some(split_token(&format!("{system}|{value}"))?);
            }
            "targetSystem" => {
                let uri = p.value_uri.as_deref().ok_or_else(|| {
                    bad_request(
                        "targetSystem: must be a valueUri".to_owned(),
                        Some("targetSystem"),
                    )
                })?;
                targets.push(uri.trim().to_owned());
            }
            other => {
                return Err(bad_request(
                    format!(
                        "{other}: unsupported parameter (supported: sourceIdentifier, targetSystem)"
                    ),
                    Some(other),
                ));
            }
        }
    }
    let (system, value) = source.ok_or_else(|| {
        bad_request(
            "sourceIdentifier: is required".to_owned(),
            Some("sourceIdentifier"),
        )
    })?;
    Ok(XrefQuery {
        system,
        value,
        targets,
    })
}

/// The service's refusals in PIXm's terms: an unknown source domain is 400 and an unknown
/// target domain 403 (`code-invalid`), an identifier nobody holds 404 (`not-found`).
fn pixm_error(error: service::Error) -> FhirError {
    match &error {
        service::Error::Refused {
            code: "unknown_domain",
            field,
            message,
            ..
        } => {
            let target = field.as_deref().is_some_and(|f| f.starts_with("target"));
            FhirError::Profile {
                status: if target {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_REQUEST
                },
                issue: "code-invalid",
                code: "unknown_domain",
                message: format!(
                    "{}: {message}",
                    if target {
                        "targetSystem"
                    } else {
                        "sourceIdentifier"
                    }
                ),
                field: Some(
                    if target {
                        "targetSystem"
                    } else {
                        "sourceIdentifier"
                    }
                    .to_owned(),
                ),
            }
        }
        service::Error::Refused {
            code: "unknown_identifier",
            message,
            ..
        } => FhirError::Profile {
            status: StatusCode::NOT_FOUND,
            issue: "not-found",
            code: "unknown_identifier",
            message: format!("sourceIdentifier: {message}"),
            field: Some("sourceIdentifier".to_owned()),
        },
        service::Error::Validation { field, message } => FhirError::Profile {
            status: StatusCode::BAD_REQUEST,
            issue: "invalid",
            code: "invalid_value",
            message: format!("{field}: {message}"),
            field: Some(if field.starts_with("target") {
                "targetSystem".to_owned()
            } else {
                "sourceIdentifier".to_owned()
            }),
        },
        _ => FhirError::Api(ApiError::from(error)),
    }
}

async fn answer(caller: Caller, query: XrefQuery) -> FhirResult {
    let found = xref::xref(&caller.mpi, &caller.ctx, query)
        .await
        .map_err(pixm_error)?;
    let mut parameter: Vec<Value> = found
        .identifiers
        .iter()
        .map(|i| {
            json!({
                "name": "targetIdentifier",
                "valueIdentifier": {"system": i.system, "value": i.value},
            })
        })
        .collect();
    parameter.extend(found.patient_ids.iter().map(|id| {
        json!({
            "name": "targetId",
            "valueReference": {"reference": format!("Patient/{id}")},
        })
    }));
    let mut body = json!({"resourceType": "Parameters"});
    if !parameter.is_empty() {
        body["parameter"] = Value::Array(parameter);
    }
    Ok(fhir_response(HttpResponse::Ok(), &body))
}

/// `GET /fhir/Patient/$ihe-pix?sourceIdentifier=SYSTEM|VALUE[&targetSystem=URI]...`.
pub async fn get(caller: Result<Caller, ApiError>, req: HttpRequest) -> FhirResult {
    let caller = caller?;
    let query = query_of_url(&req)?;
    answer(caller, query).await
}

/// `POST /fhir/Patient/$ihe-pix` with a Parameters body.
pub async fn post(
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> FhirResult {
    let caller = caller?;
    let params: ParametersIn = parse_body(&req, &body)?;
    let query = query_of_parameters(&params)?;
    answer(caller, query).await
}
