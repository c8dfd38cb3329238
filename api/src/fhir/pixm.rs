//! IHE PIXm `$ihe-pix` (ITI-83, Mobile Patient Identifier Cross-reference Query): GET with query
//! parameters or POST with a Parameters body, answered from the service's cross-reference use
//! case (`service::xref`) with PIXm's statuses (404 `not-found`, 400 and 403 `code-invalid`).
//! The source may also be one of this server's Patients by its logical id,
//! `sourceIdentifier=BASE|Patient/{id}` with BASE this server's FHIR base URL (2:3.83.4.1.2.1).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use service::xref::{self, XrefQuery};

use super::fhir_response;
use super::operation_outcome::FhirError;
use super::parameters::ParametersIn;
use super::routes::{bad_request, base_url, parse_body};
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

/// Whether `system` is this server's FHIR base URL `base` (a trailing `/` and the case of the
/// scheme and host aside).
fn is_own_base(system: &str, base: &str) -> bool {
    let system = system.trim().trim_end_matches('/');
    let split = |url: &str| -> (String, String) {
        match url.find("://").map(|i| i + 3) {
            Some(start) => {
                let end = url[start..].find('/').map_or(url.len(), |i| start + i);
                (url[..end].to_ascii_lowercase(), url[end..].to_owned())
            }
            None => (url.to_owned(), String::new()),
        }
    };
    split(system) == split(base.trim_end_matches('/'))
}

/// The record a logical id `Patient/{id}` names (`None` when it names none: not a Patient
/// reference, or not an id this server assigns).
fn own_record(value: &str) -> Option<uuid::Uuid> {
    let id = value.trim().strip_prefix("Patient/")?;
    uuid::Uuid::parse_str(id).ok()
}

async fn answer(caller: Caller, req: &HttpRequest, query: XrefQuery) -> FhirResult {
    let found = if is_own_base(&query.system, &base_url(req)) {
        // PIXm 2:3.83.4.1.2.1: a Patient of this server by its logical id.
        match own_record(&query.value) {
            Some(id) => xref::xref_record(&caller.mpi, &caller.ctx, id, query).await,
            None => Err(service::Error::refused(
                service::error::Refusal::Unknown,
                "unknown_identifier",
                "identifier",
                "this server's own identifiers are logical ids Patient/{id}, and this one names no record",
            )),
        }
    } else {
        xref::xref(&caller.mpi, &caller.ctx, query).await
    }
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
    answer(caller, &req, query).await
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
    answer(caller, &req, query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_base_ignores_case_of_host_and_a_trailing_slash() {
        let base = "http://127.0.0.1:8080/fhir";
        assert!(is_own_base("HTTP://127.0.0.1:8080/fhir/", base));
        assert!(!is_own_base("http://127.0.0.1:8080/FHIR", base));
        assert!(!is_own_base("http://other.example/fhir", base));
        assert!(!is_own_base("urn:oid:1.2.3", base));
    }

    #[test]
    fn logical_ids_name_patients_only() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(own_record(&format!("Patient/{id}")), Some(id));
        assert_eq!(own_record(&format!("RelatedPerson/{id}")), None);
        assert_eq!(own_record("Patient/123"), None);
    }
}
